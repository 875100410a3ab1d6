//! Matrix products through faer.

use std::cell::Cell;

use crate::team::SendPtr;
use crate::{Matrix, MatrixRef, Par};

/// Whether a kernel overwrites its destination or adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accum {
    /// `dst = result` (the old contents are not read).
    Replace,
    /// `dst = dst + result`.
    Add,
}

/// Below this many multiply-adds (`m·n·k`) a product runs on one thread whatever `par` says.
///
/// Chosen with `cargo bench --bench matmul` on the 2-core AMD EPYC (AVX-512) development
/// machine, with parts handed to percept's spinning workers: a 48³ product (110K
/// multiply-adds) took 1.8x as long on two threads, 64³ (262K) 0.61x, and the MLP shapes
/// (6.4M for 64×784 · 784×128) 0.52-0.56x.
pub const PARALLEL_THRESHOLD_MULADDS: usize = 256 * 1024;

/// `dst = alpha · lhs · rhs` (or `dst += …` with [`Accum::Add`]).
///
/// Either operand may be a transposed view (`weight.t()`); nothing is copied.
///
/// # Shapes
/// - `lhs`: `[m, k]`, `rhs`: `[k, n]`, `dst`: `[m, n]` (logical shapes, after any transpose)
///
/// # Panics
/// If the shapes do not chain; the message names all three.
///
/// # Example
/// ```
/// use percept_linalg::{Accum, Matrix, Par, matmul};
/// let input = Matrix::from_rows(&[[1.0, 2.0]]);
/// let weight = Matrix::from_rows(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); // [out, in]
/// let mut out = Matrix::zeros(1, 3);
/// matmul(&mut out, Accum::Replace, &input, weight.t(), 1.0, Par::Seq);
/// assert_eq!(out.as_slice(), &[1.0, 2.0, 3.0]);
/// ```
#[track_caller]
pub fn matmul<'l, 'r>(
    dst: &mut Matrix,
    accum: Accum,
    lhs: impl Into<MatrixRef<'l>>,
    rhs: impl Into<MatrixRef<'r>>,
    alpha: f32,
    par: Par,
) {
    let (lhs, rhs) = (lhs.into(), rhs.into());
    let par = par.above(lhs.rows * lhs.cols * rhs.cols, PARALLEL_THRESHOLD_MULADDS);
    matmul_unthresholded(dst, accum, lhs, rhs, alpha, par);
}

/// [`matmul`] without the [`PARALLEL_THRESHOLD_MULADDS`] cut-off: `par` is used as given,
/// however small the product. For the benchmark that chooses that threshold.
///
/// # Panics
/// As [`matmul`].
#[track_caller]
pub fn matmul_unthresholded<'l, 'r>(
    dst: &mut Matrix,
    accum: Accum,
    lhs: impl Into<MatrixRef<'l>>,
    rhs: impl Into<MatrixRef<'r>>,
    alpha: f32,
    par: Par,
) {
    let (lhs, rhs) = (lhs.into(), rhs.into());
    check_shapes(dst, lhs, rhs);
    product(dst, accum, lhs, rhs, alpha, par);
}

#[track_caller]
fn check_shapes(dst: &Matrix, lhs: MatrixRef<'_>, rhs: MatrixRef<'_>) {
    assert!(
        rhs.rows == lhs.cols && dst.rows() == lhs.rows && dst.cols() == rhs.cols,
        "matmul: shapes do not chain: lhs [{}, {}] · rhs [{}, {}] into dst [{}, {}]",
        lhs.rows,
        lhs.cols,
        rhs.rows,
        rhs.cols,
        dst.rows(),
        dst.cols()
    );
}

fn product(dst: &mut Matrix, accum: Accum, lhs: MatrixRef<'_>, rhs: MatrixRef<'_>, alpha: f32, par: Par) {
    let (m, n) = (lhs.rows, rhs.cols);
    let accum = match accum {
        Accum::Replace => faer::Accum::Replace,
        Accum::Add => faer::Accum::Add,
    };
    let dst = faer::MatMut::from_row_major_slice_mut(dst.as_mut_slice(), m, n);
    let run = |lhs: faer::MatRef<'_, f32>| match par {
        Par::Seq => faer_matmul(dst, accum, lhs, as_faer(rhs), alpha),
        Par::Threads(threads) => split_product(dst, accum, lhs, as_faer(rhs), alpha, threads.get()),
    };
    if needs_padded_rows(lhs, rhs) {
        with_padded_rows(lhs, run);
    } else {
        run(as_faer(lhs));
    }
}

/// A transposed left operand (`inputᵀ` in a weight gradient `inputᵀ · output_grad`) whose
/// stored rows are a multiple of this many values (2 KiB) is read from a copy with padded
/// rows ([`with_padded_rows`]) when it has at least [`ALIASING_MIN_ROWS`] of them.
///
/// Why: faer reads such an operand down its stored columns, one value per stored row, and
/// rows a multiple of 2 KiB apart all fall into the same few sets of the 8-way level-1 cache,
/// which then holds only a few of them. `cargo run --release -p percept-linalg --example
/// padded_rows` (AMD EPYC Zen 2, AVX2; CPU time, best of 10, both ways alternating in one
/// process; 2026-12-04, machine busy): input `[256, 1024]` and output gradient `[256, 1024]`
/// took 9.6 ms as is (55% of the FMA peak) and 6.2 ms (85%) from the padded copy, copy
/// included; `[256, 1024]` · `[256, 10]` 215 against 174 µs; `[1024, 512]` · `[1024, 256]`
/// 4.8 against 3.6 ms. At batch 32 and 64 the two were within noise (0.99-1.05), as were rows
/// of 256 and 784 values, which are not copied. The same bits either way: faer's order of
/// operations does not depend on the strides.
const ALIASING_ROW_VALUES: usize = 512;

/// Stored rows from which [`ALIASING_ROW_VALUES`] applies (the batch of a weight gradient).
const ALIASING_MIN_ROWS: usize = 128;

/// Values added to each row of the padded copy: one cache line.
const ROW_PADDING: usize = 16;

thread_local! {
    /// The padded copy of [`with_padded_rows`], kept per thread so that steps after the first
    /// allocate nothing.
    static PADDED_ROWS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Whether `lhs` is read from a padded copy: see [`ALIASING_ROW_VALUES`]. Only when the copy
/// (`rows · cols` values) is small against the product (`rhs.cols` times more multiply-adds).
fn needs_padded_rows(lhs: MatrixRef<'_>, rhs: MatrixRef<'_>) -> bool {
    lhs.transposed
        && lhs.rows.is_multiple_of(ALIASING_ROW_VALUES)
        && lhs.cols >= ALIASING_MIN_ROWS
        && rhs.cols >= 8
}

/// Calls `f` with `lhs` (transposed: stored as `[lhs.cols, lhs.rows]`) read from a copy whose
/// stored rows lie [`ROW_PADDING`] values further apart than their length.
fn with_padded_rows<R>(lhs: MatrixRef<'_>, f: impl FnOnce(faer::MatRef<'_, f32>) -> R) -> R {
    debug_assert!(lhs.transposed);
    let (stored_rows, width) = (lhs.cols, lhs.rows);
    let stride = width + ROW_PADDING;
    let mut padded = PADDED_ROWS.take();
    if padded.len() < stored_rows * stride {
        padded.resize(stored_rows * stride, 0.0);
    }
    for (row, source) in padded.chunks_exact_mut(stride).zip(lhs.data.chunks_exact(width)) {
        row[..width].copy_from_slice(source);
    }
    let len = (stored_rows - 1) * stride + width;
    let view = faer::MatRef::from_row_major_slice_with_stride(&padded[..len], stored_rows, width, stride);
    let result = f(view.transpose());
    PADDED_ROWS.set(padded);
    result
}

/// faer's sequential product, then `vzeroupper`.
///
/// Why: faer's AVX-512 kernels return with the upper halves of the vector registers still
/// set. Code compiled for the x86-64 baseline (SSE, as most of percept is) that runs after
/// them then pays for merging with those stale upper halves on every instruction: converting
/// a batch of MNIST bytes to `f32` took 0.95 µs per image after a forward pass against
/// 0.17 µs alone. Clearing the state costs one instruction.
fn faer_matmul(
    dst: faer::MatMut<'_, f32>,
    accum: faer::Accum,
    lhs: faer::MatRef<'_, f32>,
    rhs: faer::MatRef<'_, f32>,
    alpha: f32,
) {
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, faer::Par::Seq);
    clear_upper_vector_state();
}

/// `vzeroupper` where the CPU has AVX (a no-op elsewhere).
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        #[target_feature(enable = "avx")]
        fn zero_upper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        // SAFETY: the CPU has AVX (checked above).
        unsafe { zero_upper() };
    }
}

/// Columns (or rows) of a block handed to one thread are a multiple of this: one AVX-512
/// register of `f32`, so no thread gets a ragged micro-kernel edge it could have avoided.
const SPLIT_ALIGN: usize = 16;

/// Splits `dst` into up to `threads` blocks along its longer side and multiplies each block
/// on its own thread, with faer's sequential kernel.
///
/// Why not `faer::Par::Rayon`: at MLP shapes (a batch of 64 rows) faer's own split measured
/// 2-3x *slower* than one thread (`cargo bench --bench matmul`). Each output element is
/// computed by one thread with the same sequence of operations over `k`, so results do not
/// depend on the thread count.
fn split_product(
    dst: faer::MatMut<'_, f32>,
    accum: faer::Accum,
    lhs: faer::MatRef<'_, f32>,
    rhs: faer::MatRef<'_, f32>,
    alpha: f32,
    threads: usize,
) {
    let (m, n) = (dst.nrows(), dst.ncols());
    let along_cols = n >= m;
    let len = if along_cols { n } else { m };
    let step = (len.div_ceil(threads.max(1)).div_ceil(SPLIT_ALIGN) * SPLIT_ALIGN).max(1);
    let parts = len.div_ceil(step);
    if parts <= 1 {
        faer_matmul(dst, accum, lhs, rhs, alpha);
        return;
    }
    let (row_stride, col_stride) = (dst.row_stride(), dst.col_stride());
    let base = SendPtr(dst.as_ptr_mut());
    crate::par::run_parts(parts, &|part| {
        let start = part * step;
        let size = step.min(len - start);
        // SAFETY: parts are disjoint column (or row) ranges of `dst`, which outlives the run;
        // strides are those of `dst`.
        unsafe {
            if along_cols {
                let ptr = base.get().offset(start as isize * col_stride);
                let block = faer::MatMut::from_raw_parts_mut(ptr, m, size, row_stride, col_stride);
                let rhs = rhs.subcols(start, size);
                faer_matmul(block, accum, lhs, rhs, alpha);
            } else {
                let ptr = base.get().offset(start as isize * row_stride);
                let block = faer::MatMut::from_raw_parts_mut(ptr, size, n, row_stride, col_stride);
                let lhs = lhs.subrows(start, size);
                faer_matmul(block, accum, lhs, rhs, alpha);
            }
        }
    });
}

fn as_faer(view: MatrixRef<'_>) -> faer::MatRef<'_, f32> {
    if view.transposed {
        faer::MatRef::from_row_major_slice(view.data, view.cols, view.rows).transpose()
    } else {
        faer::MatRef::from_row_major_slice(view.data, view.rows, view.cols)
    }
}
