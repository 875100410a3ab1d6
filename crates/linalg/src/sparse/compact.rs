//! The per-row kernels of a build: append a row's non-zeros (column numbers and values) to a
//! shard's buffers. Most of a build's time is here, so each comes three times: AVX-512
//! (`vcompressps`), AVX2 (a permutation table, as AVX2 has no compress) and a portable loop,
//! chosen at run time and tested to store the same entries to the bit.

/// Extra room at the end of the compaction buffers: a vector compaction stores 16 lanes
/// whatever the count of non-zeros.
pub(super) const COMPACT_SLACK: usize = 16;

/// [`compact_row`] for a row of bytes, each byte `b` stored as `b / 255`.
pub(super) fn compact_byte_row(row: &[u8], indices: &mut [u32], values: &mut [f32], n: usize) -> usize {
    assert!(indices.len() >= n + row.len() + COMPACT_SLACK && values.len() >= n + row.len() + COMPACT_SLACK);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        // SAFETY: the CPU has the features (checked above); room checked by the assert.
        return unsafe { compact_byte_row_avx512(row, indices, values, n) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU has the features (checked above); room checked by the assert.
        return unsafe { compact_byte_row_avx2(row, indices, values, n) };
    }
    compact_byte_row_portable_from(row, 0, indices, values, n)
}

/// For each mask of 8 lanes, the lanes it selects in order, then the others: the
/// `vpermps` indices that pack the selected lanes to the front (AVX2 has no compress
/// instruction). 8 KB.
#[cfg(target_arch = "x86_64")]
static PACK8: [[u32; 8]; 256] = {
    let mut table = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut k = 0;
        let mut lane = 0;
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                table[mask][k] = lane as u32;
                k += 1;
            }
            lane += 1;
        }
        // The lanes past the count are overwritten by the next store: any index will do.
        mask += 1;
    }
    table
};

/// Packs the lanes of `v` selected by `mask` (columns `c..c + 8`), and their column numbers,
/// to positions `n..` of `values` and `indices` with full 8-lane stores, and returns the new
/// count: [`pack16`] for AVX2, with a permutation from [`PACK8`] instead of a compress.
///
/// # Safety
/// The CPU has AVX2, and both buffers have room for 8 values at `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn pack8(
    mask: u32,
    v: std::arch::x86_64::__m256,
    c: usize,
    indices: &mut [u32],
    values: &mut [f32],
    n: usize,
) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(mask < 256 && indices.len() >= n + 8 && values.len() >= n + 8);
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let columns = _mm256_add_epi32(iota, _mm256_set1_epi32(c as i32));
    // SAFETY: `mask` < 256 indexes the table; room for 8 values at n (the caller's promise).
    unsafe {
        let order = _mm256_loadu_si256(PACK8.get_unchecked(mask as usize).as_ptr().cast());
        _mm256_storeu_ps(values.as_mut_ptr().add(n), _mm256_permutevar8x32_ps(v, order));
        _mm256_storeu_si256(indices.as_mut_ptr().add(n).cast(), _mm256_permutevar8x32_epi32(columns, order));
    }
    n + mask.count_ones() as usize
}

/// [`compact_byte_row_avx512`] for AVX2: sixteen bytes at a time, skipped at once when all
/// are zero (most blocks of an image are blank, and packing costs more here than with a
/// compress instruction), otherwise two packs of eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn compact_byte_row_avx2(row: &[u8], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let inv = _mm256_set1_ps(1.0 / 255.0);
    let d = _mm256_set1_ps(255.0);
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let bytes = _mm_loadu_si128(row.as_ptr().add(c).cast());
            let zeros = _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_setzero_si128())) as u32;
            let mask = !zeros & 0xffff;
            if mask != 0 {
                for (half, eight) in [bytes, _mm_srli_si128::<8>(bytes)].into_iter().enumerate() {
                    let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(eight));
                    // x / 255 by the corrected multiply of `crate::bytes::div255_corrected`.
                    let q = _mm256_mul_ps(x, inv);
                    let remainder = _mm256_fnmadd_ps(q, d, x);
                    let v = _mm256_fmadd_ps(remainder, inv, q);
                    n = pack8((mask >> (8 * half)) & 0xff, v, c + 8 * half, indices, values, n);
                }
            }
        }
        c += 16;
    }
    compact_byte_row_portable_from(row, full, indices, values, n)
}

/// Sixteen bytes at a time: a mask of the non-zero bytes, and the bytes widened to `f32`,
/// scaled, and packed with their column numbers as in [`compact_row_avx512`]. Without a
/// branch on the mask: whether a block of an image holds ink is unpredictable, and the
/// mispredictions cost more than packing an empty block (49 µs for a batch of 256 MNIST
/// images with the branch, on one thread).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn compact_byte_row_avx512(
    row: &[u8],
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let inv = _mm512_set1_ps(1.0 / 255.0);
    let d = _mm512_set1_ps(255.0);
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let bytes = _mm_loadu_si128(row.as_ptr().add(c).cast());
            let mask = _mm_test_epi8_mask(bytes, bytes);
            let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
            // x / 255 by the corrected multiply of `crate::bytes::div255_corrected`.
            let q = _mm512_mul_ps(x, inv);
            let remainder = _mm512_fnmadd_ps(q, d, x);
            let v = _mm512_fmadd_ps(remainder, inv, q);
            n = pack16(mask, v, c, indices, values, n);
        }
        c += 16;
    }
    compact_byte_row_portable_from(row, full, indices, values, n)
}

/// The portable loop over `row[start..]`, appending at `n`.
fn compact_byte_row_portable_from(
    row: &[u8],
    start: usize,
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    for (c, &b) in row.iter().enumerate().skip(start) {
        indices[n] = c as u32;
        values[n] = crate::scale_byte(b);
        n += (b != 0) as usize;
    }
    n
}

/// Appends the non-zeros of `row` (column index and value) at position `n` of `indices` and
/// `values`, and returns the new count. `-0.0` counts as zero (it adds nothing to a product);
/// NaN counts as non-zero (it must reach the output). The buffers have room for
/// `n + row.len() + COMPACT_SLACK` entries.
pub(super) fn compact_row(row: &[f32], indices: &mut [u32], values: &mut [f32], n: usize) -> usize {
    assert!(indices.len() >= n + row.len() + COMPACT_SLACK && values.len() >= n + row.len() + COMPACT_SLACK);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above); room checked by the assert.
        return unsafe { compact_row_avx512(row, indices, values, n) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 (checked above); room checked by the assert.
        return unsafe { compact_row_avx2(row, indices, values, n) };
    }
    compact_row_portable(row, indices, values, n)
}

/// [`compact_row_avx512`] for AVX2: eight lanes at a time, packed by [`pack8`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn compact_row_avx2(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 8 * 8;
    let zero = _mm256_setzero_ps();
    let mut c = 0;
    while c < full {
        // SAFETY: c + 8 <= row.len(); stores at n..n + 8 fit (n + remaining row + slack).
        unsafe {
            let v = _mm256_loadu_ps(row.as_ptr().add(c));
            let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(v, zero)) as u32;
            if mask != 0 {
                n = pack8(mask, v, c, indices, values, n);
            }
        }
        c += 8;
    }
    compact_row_tail(row, full, indices, values, n)
}

fn compact_row_portable(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    // Skip all-zero runs of 16 with one vectorizable test (images have long blank stretches),
    // then compact without branches: write every candidate, advance only past non-zeros.
    // `bits << 1` drops the sign, so -0.0 counts as zero.
    const CHUNK: usize = 16;
    for (c, chunk) in row.chunks(CHUNK).enumerate() {
        let bits = chunk.iter().fold(0u32, |bits, v| bits | v.to_bits());
        if bits << 1 != 0 {
            for (k, &v) in chunk.iter().enumerate() {
                indices[n] = (c * CHUNK + k) as u32;
                values[n] = v;
                n += (v != 0.0) as usize;
            }
        }
    }
    n
}

/// The scalar end of the vector compactions: `row[start..]`, appended at `n`.
fn compact_row_tail(
    row: &[f32],
    start: usize,
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    for (c, &v) in row.iter().enumerate().skip(start) {
        indices[n] = c as u32;
        values[n] = v;
        n += (v != 0.0) as usize;
    }
    n
}

/// Packs the lanes of `v` selected by `mask` (columns `c..c + 16`), and their column numbers,
/// to positions `n..` of `values` and `indices` with full 16-lane stores, and returns the
/// new count; the lanes stored past it are overwritten by the next pack.
///
/// # Safety
/// The CPU has AVX-512F, and both buffers have room for 16 values at `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pack16(
    mask: u16,
    v: std::arch::x86_64::__m512,
    c: usize,
    indices: &mut [u32],
    values: &mut [f32],
    n: usize,
) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(indices.len() >= n + 16 && values.len() >= n + 16);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let columns = _mm512_add_epi32(iota, _mm512_set1_epi32(c as i32));
    // SAFETY: room for 16 values at n (the caller's promise).
    unsafe {
        _mm512_storeu_ps(values.as_mut_ptr().add(n), _mm512_maskz_compress_ps(mask, v));
        _mm512_storeu_si512(indices.as_mut_ptr().add(n).cast(), _mm512_maskz_compress_epi32(mask, columns));
    }
    n + mask.count_ones() as usize
}

/// Sixteen lanes at a time: a mask of the non-zeros, `vcompressps` packs them (and their column
/// numbers) to the front of a register, and a full 16-lane store writes them out; the lanes past
/// the count are overwritten by the next store. (Register compress and a plain store: on
/// AMD Zen 4, compressing straight to memory is much slower.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn compact_row_avx512(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let zero = _mm512_setzero_ps();
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let v = _mm512_loadu_ps(row.as_ptr().add(c));
            let mask = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(v, zero);
            if mask != 0 {
                n = pack16(mask, v, c, indices, values, n);
            }
        }
        c += 16;
    }
    compact_row_tail(row, full, indices, values, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compaction kernel this CPU can run (AVX-512, AVX2, portable) stores the same
    /// entries: bytes at widths around the 8- and 16-lane blocks, and `f32` rows with `-0.0`
    /// (left out) and NaN (kept), appended after existing entries.
    #[test]
    fn compaction_kernels_agree() {
        let mut state = 12345u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for width in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 784] {
            let bytes: Vec<u8> =
                (0..width).map(|_| if next() % 4 == 0 { (next() % 255) as u8 + 1 } else { 0 }).collect();
            let floats: Vec<f32> = (0..width)
                .map(|_| match next() % 8 {
                    0 => -0.0,
                    1 => f32::NAN,
                    2 | 3 => (next() % 1000) as f32 / 7.0 - 70.0,
                    _ => 0.0,
                })
                .collect();
            let room = 3 + width + COMPACT_SLACK;
            type Kernel<T> = fn(&[T], &mut [u32], &mut [f32], usize) -> usize;
            let mut byte_kernels: Vec<(&str, Kernel<u8>)> =
                vec![("portable", |r, i, v, n| compact_byte_row_portable_from(r, 0, i, v, n))];
            let mut float_kernels: Vec<(&str, Kernel<f32>)> = vec![("portable", compact_row_portable)];
            #[cfg(target_arch = "x86_64")]
            {
                if crate::has_avx2_fma() {
                    // SAFETY: the CPU has the features (checked above); `room` leaves the slack.
                    byte_kernels.push(("avx2", |r, i, v, n| unsafe { compact_byte_row_avx2(r, i, v, n) }));
                    float_kernels.push(("avx2", |r, i, v, n| unsafe { compact_row_avx2(r, i, v, n) }));
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: as above.
                    byte_kernels
                        .push(("avx512", |r, i, v, n| unsafe { compact_byte_row_avx512(r, i, v, n) }));
                    float_kernels.push(("avx512", |r, i, v, n| unsafe { compact_row_avx512(r, i, v, n) }));
                }
            }
            let run = |kernel: &dyn Fn(&mut [u32], &mut [f32]) -> usize| {
                let (mut indices, mut values) = (vec![7u32; room], vec![0.5f32; room]);
                let n = kernel(&mut indices, &mut values);
                (indices[..n].to_vec(), bits(&values[..n]))
            };
            let want_bytes = run(&|i, v| byte_kernels[0].1(&bytes, i, v, 3));
            assert_eq!(want_bytes.0.len(), 3 + bytes.iter().filter(|&&b| b != 0).count());
            for (name, kernel) in &byte_kernels {
                assert_eq!(run(&|i, v| kernel(&bytes, i, v, 3)), want_bytes, "bytes, width {width}, {name}");
            }
            let want_floats = run(&|i, v| float_kernels[0].1(&floats, i, v, 3));
            assert_eq!(want_floats.0.len(), 3 + floats.iter().filter(|x| x.is_nan() || **x != 0.0).count());
            for (name, kernel) in &float_kernels {
                assert_eq!(
                    run(&|i, v| kernel(&floats, i, v, 3)),
                    want_floats,
                    "floats, width {width}, {name}"
                );
            }
        }
    }

    /// The vector compaction gives exactly what the portable one gives, at every row length
    /// around the 16-lane width, with -0.0 (dropped) and NaN (kept).
    #[test]
    fn compactions_agree() {
        let specials = [0.0f32, -0.0, 1.5, f32::NAN, 0.0, 0.0, -2.0, 0.0];
        for len in 0..50 {
            let row: Vec<f32> = (0..len).map(|i| specials[(i * 7 + len) % specials.len()]).collect();
            let room = len + COMPACT_SLACK;
            let (mut pi, mut pv) = (vec![0u32; room], vec![0f32; room]);
            let n = compact_row_portable(&row, &mut pi, &mut pv, 0);
            let want: Vec<usize> = (0..len).filter(|&i| row[i] != 0.0).collect();
            assert_eq!(n, want.len(), "len {len}");
            assert_eq!(pi[..n].iter().map(|&i| i as usize).collect::<Vec<_>>(), want);
            let (mut ci, mut cv) = (vec![0u32; room], vec![0f32; room]);
            let m = compact_row(&row, &mut ci, &mut cv, 0);
            assert_eq!((m, &ci[..m]), (n, &pi[..n]), "len {len}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&cv[..m]), bits(&pv[..n]), "len {len}");
        }
    }
}
