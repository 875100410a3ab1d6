//! The public sparse products: `x · w_t` (a layer's forward pass, with its bias and activation
//! fused in) and `xᵀ · grad` (its weight gradient, with the bias gradient, a fused
//! activation's derivative and a per-block callback for the optimizer), both as sums of listed
//! rows split over threads by blocks of output rows of equal work. Each element is summed by
//! one thread in a fixed order, so results do not depend on the thread count.

use std::ops::Range;

use super::gather::{Epilogue, gather_rows};
use super::storage::SparseRows;
use crate::elementwise::scale_by_derivative_slices;
use crate::par::MAX_STEALING_PARTS;
use crate::team::SendPtr;
use crate::{FusedActivation, Matrix, Par};

/// Below this many multiply-adds a sparse product runs on one thread whatever `par` says.
///
/// From `cargo bench --bench matmul -- "sparse threads"` (784 → 128 at 20% density, build,
/// forward and weight gradient together; AVX-512 kernels, medians, 2026-11-27): two threads
/// took 39 µs against 53 µs on one at batch 16 (320K multiply-adds per product), 87 against
/// 139 at batch 64, 348 against 543 at batch 256. The threshold sits just under batch 16, the
/// same as for dense products.
pub const SPARSE_PARALLEL_THRESHOLD_MULADDS: usize = 256 * 1024;

/// `dst = x · w_t`, with `x` sparse: each row of `dst` is the sum of the rows of `w_t` picked
/// by the row's non-zeros, weighted by them.
///
/// # Shapes
/// `x`: `[batch, in]`, `w_t`: `[in, out]`, `dst`: `[batch, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_matmul(dst: &mut Matrix, x: &SparseRows, w_t: &Matrix, par: Par) {
    sparse_affine(dst, x, w_t, None, par);
}

/// `dst = x · w_t + bias` (the bias added to every row), with `x` sparse: [`sparse_matmul`]
/// with a layer's bias added as each row is stored, so that no second pass over `dst` (and,
/// on several threads, no second hand-over) is needed. Each element is the product's sum
/// plus the bias, rounded as `sparse_matmul` followed by [`crate::add_row_vector`] rounds.
///
/// # Shapes
/// `x`: `[batch, in]`, `w_t`: `[in, out]`, `bias`: `[out]`, `dst`: `[batch, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_affine(dst: &mut Matrix, x: &SparseRows, w_t: &Matrix, bias: Option<&[f32]>, par: Par) {
    sparse_affine_activated(dst, x, w_t, bias, None, par);
}

/// [`sparse_affine`], then `activation` (if any) on each element as it is stored: a layer and
/// the activation after it in one pass, each element rounded as `sparse_affine` followed by a
/// separate pass of the activation rounds it.
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_affine_activated(
    dst: &mut Matrix,
    x: &SparseRows,
    w_t: &Matrix,
    bias: Option<&[f32]>,
    activation: Option<FusedActivation>,
    par: Par,
) {
    assert!(
        w_t.rows() == x.cols
            && dst.shape() == [x.rows, w_t.cols()]
            && bias.is_none_or(|b| b.len() == w_t.cols()),
        "sparse_affine: x [{}, {}] · w_t {:?} + bias of {:?} values into dst {:?}",
        x.rows,
        x.cols,
        w_t.shape(),
        bias.map(<[f32]>::len),
        dst.shape()
    );
    let shard_rows = x.shard_rows;
    let shards = x.shards();
    // Entries in rows `0..i`: the shards before row i's, then the start of row i in its shard.
    let entries_before = |i: usize| {
        if i >= x.rows {
            return x.nnz();
        }
        let s = i / shard_rows;
        shards[..s].iter().map(|shard| shard.nnz).sum::<usize>()
            + shards[s].row_prefix[i - shards[s].first_row] as usize
    };
    let target = Target { dst, bias, activation, extra_row: None, rows_done: None };
    sum_listed_rows(target, x.nnz(), w_t, par, &entries_before, &|i| {
        let shard = &shards[i / shard_rows];
        std::iter::once(shard.row(i - shard.first_row))
    });
}

/// `dst = xᵀ · grad`, with `x` sparse: row `j` of `dst` is the sum of the rows of `grad`
/// of the samples where feature `j` is non-zero, weighted by it. (The weight gradient of a
/// layer whose input is `x`, in `[in, out]` layout.)
///
/// # Shapes
/// `x`: `[batch, in]`, `grad`: `[batch, out]`, `dst`: `[in, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_transpose_matmul(dst: &mut Matrix, x: &mut SparseRows, grad: &Matrix, par: Par) {
    sparse_transpose_matmul_with_sums(dst, None, x, grad, par);
}

/// [`sparse_transpose_matmul`], and, when `column_sums` is given, `column_sums[j] = Σ_i grad[i, j]`
/// (a layer's bias gradient) in the same pass: the sums are one more row of the product, that
/// of a feature equal to 1 in every sample, summed over the batch's rows in order like
/// [`crate::column_sums`] (and to the same bits: `1 · g` is exact).
///
/// # Shapes
/// `x`: `[batch, in]`, `grad`: `[batch, out]`, `dst`: `[in, out]`, `column_sums`: `[out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_transpose_matmul_with_sums(
    dst: &mut Matrix,
    column_sums: Option<&mut [f32]>,
    x: &mut SparseRows,
    grad: &Matrix,
    par: Par,
) {
    check_transpose_shapes(dst, column_sums.as_deref(), x, grad);
    x.build_columns(par);
    transpose_product(dst, column_sums, x, grad, None, par);
}

/// A callback of [`WeightGradExtras::rows_done`]: a block of finished rows (their range in
/// the destination, and their values).
pub type RowsDone<'a> = dyn Fn(Range<usize>, &[f32]) + Sync + 'a;

/// What [`sparse_weight_grad`] does besides `dst = xᵀ · dz`.
#[derive(Default)]
pub struct WeightGradExtras<'a> {
    /// Receives `Σ_i dz[i, ·]` (a layer's bias gradient), summed in the same pass as
    /// [`sparse_transpose_matmul_with_sums`] sums it.
    pub column_sums: Option<&'a mut [f32]>,
    /// `(activation, output, dz)`: the product is taken of `dz = grad · activation′(output)`
    /// (elementwise, the derivative from the activation's output), written to `dz` (resized)
    /// as the activation layer's own backward pass computes it, to the bit: the weight
    /// gradient of a layer fused with the activation after it. Each thread scales the rows of
    /// the shard of `x` it built in the same hand-over as that shard's by-column copy, which
    /// saves a pass and a hand-over against scaling first.
    pub through_activation: Option<(FusedActivation, &'a Matrix, &'a mut Matrix)>,
    /// Called with each block of finished rows of `dst` (their range and values), on the
    /// thread that summed them, while they are in its cache: for work that may start on a row
    /// as soon as it is final, such as an optimizer's update of the matching weight rows.
    /// Every row is handed over exactly once; blocks may run at the same time on different
    /// threads.
    pub rows_done: Option<&'a RowsDone<'a>>,
}

/// `dst = xᵀ · dz` with `x` sparse, `dz = grad` unless [`WeightGradExtras`] asks for more: the
/// weight gradient of a layer whose input is `x` ([`sparse_transpose_matmul`]) with its bias
/// gradient, a fused activation's derivative and a callback per block of finished rows.
///
/// # Shapes
/// `x`: `[batch, in]`, `grad` (and an activation's `output`): `[batch, out]`, `dst`:
/// `[in, out]`, `column_sums`: `[out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_weight_grad(
    dst: &mut Matrix,
    x: &mut SparseRows,
    grad: &Matrix,
    extras: WeightGradExtras<'_>,
    par: Par,
) {
    let WeightGradExtras { column_sums, through_activation, rows_done } = extras;
    check_transpose_shapes(dst, column_sums.as_deref(), x, grad);
    let Some((activation, output, dz)) = through_activation else {
        x.build_columns(par);
        return transpose_product(dst, column_sums, x, grad, rows_done, par);
    };
    assert!(
        output.shape() == grad.shape(),
        "sparse_weight_grad: the activation's output {:?} and its gradient {:?} differ in shape",
        output.shape(),
        grad.shape()
    );
    dz.resize(grad.rows(), grad.cols());
    let width = grad.cols();
    let (grad_values, output_values) = (grad.as_slice(), output.as_slice());
    let base = SendPtr(dz.as_mut_slice().as_mut_ptr());
    x.build_columns_and(par, &|rows| {
        let range = rows.start * width..rows.end * width;
        // SAFETY: the shards' row ranges are disjoint and within `dz`, resized above and
        // borrowed mutably for this call.
        let dz = unsafe { std::slice::from_raw_parts_mut(base.get().add(range.start), range.len()) };
        scale_by_derivative_slices(dz, &grad_values[range.clone()], &output_values[range], activation);
    });
    transpose_product(dst, column_sums, x, dz, rows_done, par);
}

/// The shape check of the transposed products.
#[track_caller]
fn check_transpose_shapes(dst: &Matrix, column_sums: Option<&[f32]>, x: &SparseRows, grad: &Matrix) {
    assert!(
        grad.rows() == x.rows
            && dst.shape() == [x.cols, grad.cols()]
            && column_sums.is_none_or(|sums| sums.len() == grad.cols()),
        "sparse_transpose_matmul: x [{}, {}]ᵀ · grad {:?} into dst {:?} and column sums of {:?} values",
        x.rows,
        x.cols,
        grad.shape(),
        dst.shape(),
        column_sums.map(<[f32]>::len)
    );
}

/// The product of [`sparse_transpose_matmul_with_sums`] once the by-column copy is built.
fn transpose_product(
    dst: &mut Matrix,
    column_sums: Option<&mut [f32]>,
    x: &SparseRows,
    grad: &Matrix,
    rows_done: Option<&RowsDone<'_>>,
    par: Par,
) {
    let (cols, batch) = (x.cols, x.rows);
    let shards = x.shards();
    // Shards in order, each column's entries in row order: the sum runs over the batch's
    // rows in order, however many shards there are.
    // The row of sums, if any, comes after the `cols` rows of `dst`, with `batch` entries.
    let entries_before = |j: usize| {
        let before: usize = shards.iter().map(|shard| shard.col_starts[j.min(cols)] as usize).sum();
        before + if j > cols { batch } else { 0 }
    };
    let entries = x.nnz() + if column_sums.is_some() { batch } else { 0 };
    let target = Target { dst, bias: None, activation: None, extra_row: column_sums, rows_done };
    sum_listed_rows(target, entries, grad, par, &entries_before, &|j| {
        shards.iter().map(move |shard| shard.column_or_ones(j, cols))
    })
}

/// Where [`sum_listed_rows`] stores its sums: the rows of `dst` (plus `bias` if given, then
/// `activation` if given), then, if given, one more row in `extra_row`; and whom it tells
/// about each block of finished rows of `dst` ([`WeightGradExtras::rows_done`]).
struct Target<'a> {
    dst: &'a mut Matrix,
    bias: Option<&'a [f32]>,
    activation: Option<FusedActivation>,
    extra_row: Option<&'a mut [f32]>,
    rows_done: Option<&'a RowsDone<'a>>,
}

/// `dst[i] = Σ over the entries of lists(i) of value · source[index]`, the entries taken
/// in order: both sparse products, split over blocks of rows of `dst` when the work pays for
/// it. Each element is summed by one thread in list order: results do not depend on the
/// thread count.
///
/// The blocks hold equal numbers of entries, not of rows (`entries_before(i)` counts the
/// entries of rows `0..i`, for `i` up to the row count): the pixels of MNIST digits sit more
/// in the lower half of the image, and an even split of the weight gradient's 784 rows gave
/// one thread 11% more work than the other, which then waited for it. A thread done with its
/// block takes chunks from the end of the others' ([`crate::par::run_ranges_stealing`]).
///
/// Why rows, not blocks of columns as in dense products: each thread then writes one
/// contiguous block of memory. Split by columns, two threads wrote alternate 256-byte halves
/// of each 512-byte row (784 → 128), and the weight gradient took longer on two threads than
/// on one (`cargo bench --bench matmul -- "sparse threads"`; the cores' prefetchers fetch the
/// neighbouring lines the other core is writing). By rows, the thread that built a shard of
/// the input computes the output rows of that shard, and the optimizer's update, which splits
/// a parameter into the same contiguous blocks of rows, finds each block of the weight
/// gradient where it was computed.
fn sum_listed_rows<'a, I>(
    target: Target<'_>,
    entries: usize,
    source: &Matrix,
    par: Par,
    entries_before: &(dyn Fn(usize) -> usize + Sync),
    lists: &(dyn Fn(usize) -> I + Sync),
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let Target { dst, bias, activation, extra_row, rows_done } = target;
    let width = source.cols();
    let dst_rows = dst.rows();
    let has_extra = extra_row.is_some();
    let rows = dst_rows + has_extra as usize;
    let source = source.as_slice();
    let dst_base = SendPtr(dst.as_mut_slice().as_mut_ptr());
    let extra_base = SendPtr(extra_row.map_or(std::ptr::null_mut(), <[f32]>::as_mut_ptr));
    // Sums rows `start..end` (of `dst`, then the extra row).
    let sum_rows = |start: usize, end: usize| {
        for r in start..end {
            // SAFETY: callers hand out disjoint row ranges; `dst` holds `dst_rows` rows of
            // `width` values and the extra row `width` values, both borrowed for this call.
            let (row, epilogue) = unsafe {
                if r < dst_rows {
                    let row = std::slice::from_raw_parts_mut(dst_base.get().add(r * width), width);
                    (row, Epilogue { bias, activation })
                } else {
                    (std::slice::from_raw_parts_mut(extra_base.get(), width), Epilogue::NONE)
                }
            };
            gather_rows(row, lists(r), source, width, epilogue);
        }
        let finished = start.min(dst_rows)..end.min(dst_rows);
        if let Some(rows_done) = rows_done.filter(|_| !finished.is_empty()) {
            // SAFETY: these rows of `dst` were just written by this call, and no other
            // reference to them is alive (callers hand out disjoint row ranges).
            let values = unsafe {
                std::slice::from_raw_parts(dst_base.get().add(finished.start * width), finished.len() * width)
            };
            rows_done(finished, values);
        }
    };
    let parts = match par.above(entries * width, SPARSE_PARALLEL_THRESHOLD_MULADDS) {
        Par::Threads(t) if rows > 1 && width > 0 => t.get().min(rows).min(MAX_STEALING_PARTS),
        _ => return sum_rows(0, rows),
    };
    // Part p starts at the first row with at least p/parts of the entries before it.
    let boundary = |p: usize| {
        if p >= parts {
            return rows;
        }
        let target = (entries * p).div_ceil(parts);
        // `entries_before` never decreases: binary search for the first row reaching `target`.
        let (mut lo, mut hi) = (0, rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if entries_before(mid) < target { lo = mid + 1 } else { hi = mid }
        }
        lo
    };
    let mut bounds = [0; MAX_STEALING_PARTS + 1];
    for (p, bound) in bounds.iter_mut().enumerate().take(parts + 1) {
        *bound = boundary(p);
    }
    // About 16 chunks a part: fine enough for a fast thread to take over a slowed one's tail.
    let chunk = rows.div_ceil(parts * 16);
    // The boundaries never decrease, so ranges are disjoint.
    crate::par::run_ranges_stealing(&bounds[..=parts], chunk, &sum_rows);
}
