//! Bytes to `f32` in `[0, 1]`: how images stored as bytes become a network's input.

/// `b / 255`: a pixel byte scaled to `[0, 1]`, as PyTorch's `ToTensor` and the lesson's
/// numpy code scale it (by dividing; multiplying by `1/255` alone rounds 126 of the 256
/// values differently).
#[inline]
pub fn scale_byte(b: u8) -> f32 {
    b as f32 / 255.0
}

/// Which cache [`prefetch_bytes`] asks the CPU to bring bytes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLevel {
    /// The innermost cache: for bytes about to be read.
    Inner,
    /// An outer cache: for bytes read a while later (a data loader's next batch), which would
    /// only crowd the innermost cache until then.
    Outer,
}

/// Asks the CPU to bring `bytes` into the cache `level` without waiting for them, one request
/// per 64-byte line (a no-op off x86-64). A hint: it never faults and changes no result.
#[inline]
pub fn prefetch_bytes(bytes: &[u8], level: CacheLevel) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
        for line in bytes.chunks(64) {
            let at = line.as_ptr().cast();
            // SAFETY: a prefetch is a hint that never faults; the pointer is in bounds anyway.
            unsafe {
                match level {
                    CacheLevel::Inner => _mm_prefetch::<_MM_HINT_T0>(at),
                    CacheLevel::Outer => _mm_prefetch::<_MM_HINT_T1>(at),
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, level);
}

/// Asks the CPU to bring the 64-byte lines of `values` into its innermost cache ready to be
/// written, without waiting for them (x86-64's `prefetchw`, on CPUs that have it; a no-op
/// elsewhere): where another core holds copies of the lines (it read them last), they are
/// invalidated now, while other work goes on, rather than when the writes come and wait. A
/// hint: it never faults and changes no result.
#[inline]
pub fn prefetch_for_write(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        for line in values.chunks(16) {
            // SAFETY: `prefetchw` is a hint that never faults (the address is in bounds
            // anyway), the CPU has it (checked above), and it changes no register or flag.
            unsafe {
                std::arch::asm!(
                    "prefetchw [{}]",
                    in(reg) line.as_ptr(),
                    options(nostack, preserves_flags, readonly)
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

/// Whether the CPU has `prefetchw` (CPUID leaf 0x8000_0001, ECX bit 8: AMD's
/// 3DNowPrefetch, Intel's PRFCHW), looked up once. (`is_x86_feature_detected!` does not
/// know the feature on stable Rust.)
#[cfg(target_arch = "x86_64")]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0: not looked up yet, 1: no, 2: yes.
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            // The extended leaf only if the CPU reports it.
            let has = std::arch::x86_64::__cpuid(0x8000_0000).eax >= 0x8000_0001
                && std::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0;
            KNOWN.store(1 + u8::from(has), Ordering::Relaxed);
            has
        }
    }
}

/// `dst[i] = scale_byte(src[i])` over the shorter of the two.
///
/// With FMA this multiplies by `1/255` and corrects the quotient with its exact remainder
/// instead of dividing (Markstein's correction step): the division was most of the cost of
/// gathering a batch of images (about 0.25 ns a pixel with SSE's 4-lane `divps`). A test
/// checks all 256 bytes against the division, bit for bit.
pub fn scale_bytes(dst: &mut [f32], src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        unsafe { scale_bytes_fma(dst, src) };
        return;
    }
    for (d, &b) in dst.iter_mut().zip(src) {
        *d = scale_byte(b);
    }
}

/// `b / 255` without a division: `q = x · (1/255)` is within an ulp of the quotient, the
/// remainder `x − 255·q` is exact in one fused multiply-add, and `q + remainder · (1/255)`
/// rounds to the correctly rounded quotient (Markstein's correction step). Fast only where
/// `mul_add` is an instruction.
#[inline(always)]
pub(crate) fn div255_corrected(b: u8) -> f32 {
    const INV: f32 = 1.0 / 255.0;
    let x = b as f32;
    let q = x * INV;
    let remainder = (-q).mul_add(255.0, x);
    remainder.mul_add(INV, q)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scale_bytes_fma(dst: &mut [f32], src: &[u8]) {
    for (d, &b) in dst.iter_mut().zip(src) {
        *d = div255_corrected(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte scales to exactly the bits of the division, on the path this CPU takes and
    /// by the correction formula itself (`mul_add` is fused on every platform); a plain
    /// multiplication by 1/255 would not.
    #[test]
    fn scaling_bytes_rounds_as_dividing_by_255() {
        let bytes: Vec<u8> = (0..=255).collect();
        let divided: Vec<u32> = bytes.iter().map(|&b| (b as f32 / 255.0).to_bits()).collect();
        let mut scaled = vec![f32::NAN; 256];
        scale_bytes(&mut scaled, &bytes);
        assert_eq!(scaled.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), divided);
        let corrected: Vec<u32> = bytes.iter().map(|&b| div255_corrected(b).to_bits()).collect();
        assert_eq!(corrected, divided);
        let multiplied =
            bytes.iter().filter(|&&b| (b as f32 * (1.0 / 255.0)).to_bits() != divided[b as usize]);
        assert_eq!(multiplied.count(), 126, "bytes that a plain multiplication rounds differently");
    }

    /// A write prefetch is a hint: the values stay as they were, whatever the length.
    #[test]
    fn prefetching_for_write_changes_no_value() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let mut values: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let before = values.clone();
            prefetch_for_write(&mut values);
            prefetch_for_write(&mut values[len / 2..]);
            assert_eq!(values, before);
        }
    }
}
