//! The inner kernel of both sparse products: an output row is the sum of source rows scaled by
//! the entries of some lists, accumulated in blocks held in vector registers (128 outputs with
//! AVX-512, 64 with AVX2) and finished by a fused bias and activation. Which source rows come
//! next is data, so the kernel prefetches them a few entries ahead.

use crate::FusedActivation;
use crate::elementwise::with_activation;

/// What [`gather_rows`] does to each sum as it stores it: adds `bias[j]` (if given), then
/// applies `activation` (if given).
#[derive(Clone, Copy)]
pub(super) struct Epilogue<'a> {
    pub(super) bias: Option<&'a [f32]>,
    pub(super) activation: Option<FusedActivation>,
}

impl Epilogue<'_> {
    /// The sums as they are.
    pub(super) const NONE: Self = Epilogue { bias: None, activation: None };

    /// Finishes the sums held in `dst` itself.
    #[inline(always)]
    fn finish_in_place(self, dst: &mut [f32]) {
        match (self.bias, self.activation) {
            (None, None) => {}
            (None, activation) => with_activation!(activation, |f| {
                for d in dst.iter_mut() {
                    *d = f(*d);
                }
            }),
            (Some(bias), activation) => with_activation!(activation, |f| {
                for (d, &b) in dst.iter_mut().zip(bias) {
                    *d = f(*d + b);
                }
            }),
        }
    }

    /// Finishes the sums `acc` of outputs `start..start + acc.len()` into `dst`.
    #[inline(always)]
    fn store(self, dst: &mut [f32], acc: &[f32], start: usize) {
        let dst = &mut dst[start..start + acc.len()];
        match (self.bias, self.activation) {
            (None, None) => dst.copy_from_slice(acc),
            (None, activation) => with_activation!(activation, |f| {
                for (d, &a) in dst.iter_mut().zip(acc) {
                    *d = f(a);
                }
            }),
            (Some(bias), activation) => with_activation!(activation, |f| {
                for ((d, &a), &b) in dst.iter_mut().zip(acc).zip(&bias[start..]) {
                    *d = f(a + b);
                }
            }),
        }
    }
}

/// `dst = Σ over the entries (k, v) of lists of v · source[k]`, finished by `epilogue` (a
/// bias, an activation), where `source` holds rows of `width = dst.len()` values.
pub(super) fn gather_rows<'a, I>(
    dst: &mut [f32],
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    #[cfg(target_arch = "x86_64")]
    if width >= STREAM_MIN_WIDTH && crate::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { stream_rows_fma(dst, lists, source, width, epilogue) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { gather_rows_avx512(dst, lists, source, width, epilogue) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { gather_rows_fma(dst, lists, source, width, epilogue) };
        return;
    }
    gather_rows_generic::<false, 64, I>(dst, lists, source, width, epilogue);
}

/// With 32 vector registers of 16 values, a block of 128 outputs (8 registers) stays in
/// registers: each non-zero's source row is then read in one pass instead of two blocks of 64
/// (`cargo bench --bench matmul -- "sparse threads"`: forward 784 → 128 at batch 256, 253 µs
/// with blocks of 64 on AVX2, 213 µs here; weight gradient 249 against 208 µs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn gather_rows_avx512<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    gather_rows_generic::<true, 128, I>(dst, lists, source, width, epilogue);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gather_rows_fma<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    gather_rows_generic::<true, 64, I>(dst, lists, source, width, epilogue);
}

/// From this many outputs per row on, [`gather_rows`] streams whole source rows
/// ([`stream_rows`]) instead of holding blocks of outputs in registers.
///
/// Why: a block pass reads 256 bytes of each listed source row, and wide rows lie 2 or 4 KiB
/// apart, so the blocks of the rows in flight share a few sets of the level-1 cache and the
/// source (784 × 1024 values, 3.2 MB) comes from the level-3 cache once per block. Streamed
/// whole, four rows at a time, each source row is read once and in order, at the cost of
/// loading and storing the output row (in the level-1 cache) once per four entries. `cargo run
/// --release -p percept-linalg --example sparse_rows` (784 inputs at 19% density, batch 256, AMD
/// EPYC Zen 2, AVX2, CPU time, best of 15; 2026-12-04, machine busy): 784 → 1024 forward
/// 6.2 ms in blocks against 3.9 ms streamed, weight gradient 5.3 against 3.8 ms; 784 → 512
/// 2.34 against 2.36 and 1.97 against 1.70 ms; at 128 and 256 outputs blocks were as fast or
/// faster.
const STREAM_MIN_WIDTH: usize = 512;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn stream_rows_fma<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    stream_rows::<true, I>(dst, lists, source, width, epilogue);
}

/// `dst` as [`gather_rows_generic`] sums it, to the same bits, streaming whole source rows
/// (see [`STREAM_MIN_WIDTH`]): four entries at a time (then two, then one), each `dst[j]` is
/// loaded, takes the entries' products in list order (`acc = v·w + acc`) and is stored back.
#[inline(always)]
fn stream_rows<'a, const FMA: bool, I>(
    dst: &mut [f32],
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let madd = |acc: f32, v: f32, w: f32| if FMA { v.mul_add(w, acc) } else { acc + v * w };
    let row = |i: u32| &source[i as usize * width..(i as usize + 1) * width];
    // The first group of entries starts from 0 instead of reading `dst` (which a pass of
    // zeros would otherwise have to clear first).
    let mut fresh = true;
    for (indices, values) in lists {
        let mut k = 0;
        while k + 4 <= indices.len() {
            let (r0, r1, r2, r3) =
                (row(indices[k]), row(indices[k + 1]), row(indices[k + 2]), row(indices[k + 3]));
            let (v0, v1, v2, v3) = (values[k], values[k + 1], values[k + 2], values[k + 3]);
            let quads = dst.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3);
            if fresh {
                for ((((d, &w0), &w1), &w2), &w3) in quads {
                    *d = madd(madd(madd(madd(0.0, v0, w0), v1, w1), v2, w2), v3, w3);
                }
            } else {
                for ((((d, &w0), &w1), &w2), &w3) in quads {
                    *d = madd(madd(madd(madd(*d, v0, w0), v1, w1), v2, w2), v3, w3);
                }
            }
            fresh = false;
            k += 4;
        }
        if k + 2 <= indices.len() {
            let (r0, r1) = (row(indices[k]), row(indices[k + 1]));
            let (v0, v1) = (values[k], values[k + 1]);
            for ((d, &w0), &w1) in dst.iter_mut().zip(r0).zip(r1) {
                *d = madd(madd(if fresh { 0.0 } else { *d }, v0, w0), v1, w1);
            }
            fresh = false;
            k += 2;
        }
        if let (Some(&i), Some(&v)) = (indices.get(k), values.get(k)) {
            for (d, &w) in dst.iter_mut().zip(row(i)) {
                *d = madd(if fresh { 0.0 } else { *d }, v, w);
            }
            fresh = false;
        }
    }
    if fresh {
        dst.fill(0.0);
    }
    epilogue.finish_in_place(dst);
}

/// How many entries ahead [`gather_rows_generic`] asks for the source rows it will read:
/// which rows come next is data (the non-zero features), so the CPU's prefetchers cannot
/// guess them, and a row last written by the other core's half of the optimizer's update
/// arrives from that core's cache.
const PREFETCH_AHEAD: usize = 8;

/// Asks the CPU to bring `source[at..at + len]` into its cache without waiting (no-op off
/// x86-64, or past the end).
#[inline(always)]
fn prefetch_block(source: &[f32], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(block) = source.get(at..at + len) {
        for line in block.chunks(16) {
            // SAFETY: a prefetch is a hint that never faults; the address is in bounds anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (source, at, len);
}

/// Accumulates in blocks of `BLOCK` outputs held in registers (a fixed-size local array the
/// compiler keeps in vector registers), so each non-zero costs loads of one source block and
/// as many fused multiply-adds, with no load or store of the partial sums. Blocks of 64 take
/// what is left when `BLOCK` is larger, then a tail. Every output is summed over the same
/// entries in the same order whatever the blocks: results do not depend on `BLOCK`.
#[inline(always)]
fn gather_rows_generic<'a, const FMA: bool, const BLOCK: usize, I>(
    dst: &mut [f32],
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let start = gather_row_blocks::<FMA, BLOCK, I>(dst, 0, lists.clone(), source, width, epilogue);
    let start = gather_row_blocks::<FMA, 64, I>(dst, start, lists.clone(), source, width, epilogue);
    let len = dst.len();
    let madd = |acc: f32, v: f32, w: f32| if FMA { v.mul_add(w, acc) } else { acc + v * w };
    if start < len {
        // Fewer than 64 outputs left: sums on the stack, at most 63 of them.
        let mut acc = [0.0f32; 64];
        let tail = &mut acc[..len - start];
        for (indices, values) in lists {
            for (&i, &v) in indices.iter().zip(values) {
                let at = i as usize * width + start;
                let row = &source[at..at + tail.len()];
                for (a, &w) in tail.iter_mut().zip(row) {
                    *a = madd(*a, v, w);
                }
            }
        }
        epilogue.store(dst, tail, start);
    }
}

/// The blocks of `BLOCK` outputs of [`gather_rows_generic`] from `start` on, as many as fit;
/// returns where they end.
#[inline(always)]
fn gather_row_blocks<'a, const FMA: bool, const BLOCK: usize, I>(
    dst: &mut [f32],
    mut start: usize,
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) -> usize
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let madd = |acc: f32, v: f32, w: f32| if FMA { v.mul_add(w, acc) } else { acc + v * w };
    while start + BLOCK <= dst.len() {
        let mut acc = [0.0f32; BLOCK];
        for (indices, values) in lists.clone() {
            for (k, (&i, &v)) in indices.iter().zip(values).enumerate() {
                if let Some(&ahead) = indices.get(k + PREFETCH_AHEAD) {
                    prefetch_block(source, ahead as usize * width + start, BLOCK);
                }
                let at = i as usize * width + start;
                // A fixed-size view: no bounds checks inside, so the loop becomes vector FMAs.
                let row: &[f32; BLOCK] = source[at..at + BLOCK].try_into().expect("BLOCK values");
                for j in 0..BLOCK {
                    acc[j] = madd(acc[j], v, row[j]);
                }
            }
        }
        // The sums leave through a copy: were `acc` itself borrowed by the epilogue (a match
        // over every activation, ELU's `exp_m1` among them), the compiler kept it in memory
        // and stored all 8 registers to the stack after every entry (the forward product
        // took 2.5 times as long).
        let sums = acc;
        epilogue.store(dst, &sums, start);
        start += BLOCK;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming whole rows gives the bits of summing blocks in registers: lists of 0 to 11
    /// entries (groups of four, a pair, a single), several lists per row, widths around the
    /// vector width, with and without a bias and a ReLU.
    #[test]
    fn streamed_rows_agree_with_blocks() {
        let rows = 13;
        for width in [1, 7, 64, 100, 512, 515] {
            let source: Vec<f32> = (0..rows * width).map(|k| ((k * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let bias: Vec<f32> = (0..width).map(|k| (k as f32 - 3.0) / 9.0).collect();
            for entries in 0..12 {
                let indices: Vec<u32> = (0..entries).map(|k| (k * 5 % rows) as u32).collect();
                let values: Vec<f32> = (0..entries).map(|k| (k as f32 - 4.5) / 3.0).collect();
                let second = [3u32, 1, 12];
                let second_values = [0.25f32, -7.0, 1.5];
                let lists = || [(&indices[..], &values[..]), (&second[..], &second_values[..])].into_iter();
                for (bias, activation) in [None, Some(&bias[..])]
                    .into_iter()
                    .flat_map(|b| [(b, None), (b, Some(FusedActivation::Relu))])
                {
                    let epilogue = Epilogue { bias, activation };
                    let (mut blocks, mut streamed) = (vec![f32::NAN; width], vec![f32::NAN; width]);
                    gather_rows_generic::<true, 64, _>(&mut blocks, lists(), &source, width, epilogue);
                    stream_rows::<true, _>(&mut streamed, lists(), &source, width, epilogue);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let what =
                        format!("width {width}, {entries} entries, bias {}, {activation:?}", bias.is_some());
                    assert_eq!(bits(&streamed), bits(&blocks), "{what}");
                }
            }
        }
    }

    /// Blocks of 128 outputs (the AVX-512 path) and of 64 (the AVX2 path) give the same bits,
    /// at widths that use whole blocks, a mix, and a tail, with and without a bias and a ReLU.
    #[test]
    fn block_sizes_agree() {
        let rows = 7;
        for width in [1, 63, 64, 100, 128, 192, 200, 256, 300] {
            let source: Vec<f32> = (0..rows * width).map(|k| ((k * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let bias: Vec<f32> = (0..width).map(|k| (k as f32 - 3.0) / 9.0).collect();
            let indices = [0u32, 2, 3, 6];
            let values = [0.5f32, -1.25, 3.0e-3, 7.5];
            for (bias, activation) in [None, Some(&bias[..])]
                .into_iter()
                .flat_map(|b| [(b, None), (b, Some(FusedActivation::Relu))])
            {
                let lists = || std::iter::once((&indices[..], &values[..]));
                let (mut wide, mut narrow) = (vec![f32::NAN; width], vec![f32::NAN; width]);
                let epilogue = Epilogue { bias, activation };
                gather_rows_generic::<true, 128, _>(&mut wide, lists(), &source, width, epilogue);
                gather_rows_generic::<true, 64, _>(&mut narrow, lists(), &source, width, epilogue);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let what = format!("width {width}, bias {}, {activation:?}", bias.is_some());
                assert_eq!(bits(&wide), bits(&narrow), "{what}");
                // And both are the sums themselves, entry by entry in order.
                for (j, &got) in wide.iter().enumerate() {
                    let mut want = 0.0f32;
                    for (&i, &v) in indices.iter().zip(&values) {
                        want = v.mul_add(source[i as usize * width + j], want);
                    }
                    if let Some(bias) = bias {
                        want += bias[j];
                    }
                    if activation.is_some() {
                        want = want.max(0.0);
                    }
                    assert_eq!(got.to_bits(), want.to_bits(), "{what}, output {j}");
                }
            }
        }
    }
}
