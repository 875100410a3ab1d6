//! Elementwise kernels and column reductions, parallel over blocks of rows.

use crate::team::SendPtr;
use crate::{Accum, Matrix, Par};

/// Below this many elements an elementwise kernel runs on one thread whatever `par` says.
///
/// Alone, a `map` over 64K elements took 4.0 µs on two threads against 4.5 µs on one. But in
/// a training step the data of an elementwise layer was just written by the kernel before it,
/// half by each thread: run on one thread, half of it crosses between cores. MNIST
/// 784-128-10 at batch 256 (a ReLU over 32K values): with this at 64K, the ReLU's forward
/// and backward took 24 µs per step on two threads against 9.5 on one; split over both
/// threads in the same row blocks as the product before them, 11.5 µs (per-layer timings of
/// three interleaved runs of `--epochs 5`).
pub const ELEMENTWISE_PARALLEL_THRESHOLD: usize = 16 * 1024;

/// Runs `f(first_row, block)` over contiguous blocks of whole rows of `data` (`cols` values a
/// row), one block per thread when `par` allows it. Each element is visited once, by one thread,
/// so results do not depend on the thread count.
pub(crate) fn for_row_blocks<F>(par: Par, data: &mut [f32], cols: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    split_rows(par.above(data.len(), ELEMENTWISE_PARALLEL_THRESHOLD), data, cols, f);
}

/// [`for_row_blocks`] without the size threshold: for kernels whose work per element is not
/// one operation, which decide for themselves whether a split pays.
pub(crate) fn split_rows<F>(par: Par, data: &mut [f32], cols: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let rows = data.len().checked_div(cols).unwrap_or(0);
    match par {
        Par::Threads(t) if rows > 1 => {
            let rows_per_part = rows.div_ceil(t.get().min(rows));
            let parts = rows.div_ceil(rows_per_part);
            let (base, len) = (SendPtr(data.as_mut_ptr()), data.len());
            crate::par::run_parts(parts, &|part| {
                let start = part * rows_per_part * cols;
                let end = (start + rows_per_part * cols).min(len);
                // SAFETY: parts cover disjoint row ranges of `data`, which outlives the run.
                let block = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
                f(part * rows_per_part, block);
            });
        }
        _ => f(0, data),
    }
}

/// Calls `f(first_row, rows)` on blocks of whole rows of `dst`, one block per thread that
/// `par` allows (no size threshold: pass `par.above(…)` to set one): for filling a matrix
/// row by row, as a data loader does when it gathers a batch.
///
/// The blocks are those of [`crate::SparseRows::try_from_dense`] on the same `par`, so a
/// sparse copy of a gathered batch is built by the threads that gathered each row, from their
/// own caches.
pub fn for_each_row_block(dst: &mut Matrix, par: Par, f: impl Fn(usize, &mut [f32]) + Sync) {
    let cols = dst.cols();
    split_rows(par, dst.as_mut_slice(), cols, f);
}

/// Calls `f(rows)` for the same blocks of the rows `0..rows` that [`for_each_row_block`]
/// would give each thread on `par`: for work tied to a batch's rows that fills no matrix,
/// such as prefetching the samples each thread is about to gather.
pub fn for_each_row_range(par: Par, rows: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    match par {
        Par::Threads(t) if rows > 1 => {
            let rows_per_part = rows.div_ceil(t.get().min(rows));
            let parts = rows.div_ceil(rows_per_part);
            crate::par::run_parts(parts, &|part| {
                let start = part * rows_per_part;
                f(start..(start + rows_per_part).min(rows));
            });
        }
        _ => f(0..rows),
    }
}

/// Calls `$avx2(args)` when the CPU has AVX2 and FMA (checked once, then a cached flag),
/// else `$baseline(args)`: the same loop, compiled 8 lanes wide instead of the baseline's 4.
/// The activations' polynomials (`crate::fastmath`) vectorize either way; this doubles their
/// width. Results are the same bits: the same IEEE operations, only wider (nothing here fuses
/// a multiply and an add that the code does not write as `mul_add`).
macro_rules! with_avx2_if_present {
    ($avx2:ident, $baseline:ident, $($arg:expr),*) => {{
        #[cfg(target_arch = "x86_64")]
        if $crate::has_avx2_fma() {
            // SAFETY: the CPU has the features just checked.
            unsafe { $avx2($($arg),*) }
        } else {
            $baseline($($arg),*)
        }
        #[cfg(not(target_arch = "x86_64"))]
        $baseline($($arg),*)
    }};
}
pub(crate) use with_avx2_if_present;

/// The loop of [`map`]. The slices are parameters (not captured by a closure), so the
/// compiler knows `dst` overlaps neither input and vectorizes without run-time checks.
#[inline(always)]
fn map_loop(dst: &mut [f32], src: &[f32], f: &impl Fn(f32) -> f32) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f(s);
    }
}

/// The loop of [`map_inplace`].
#[inline(always)]
fn map_inplace_loop(dst: &mut [f32], f: &impl Fn(f32) -> f32) {
    for d in dst.iter_mut() {
        *d = f(*d);
    }
}

/// The loop of [`zip_map`].
#[inline(always)]
fn zip_map_loop(dst: &mut [f32], a: &[f32], b: &[f32], f: &impl Fn(f32, f32) -> f32) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = f(x, y);
    }
}

/// [`map_loop`] compiled for AVX2 and FMA (`f` is inlined into it).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_loop_avx2(dst: &mut [f32], src: &[f32], f: &impl Fn(f32) -> f32) {
    map_loop(dst, src, f);
}

/// [`map_inplace_loop`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_inplace_loop_avx2(dst: &mut [f32], f: &impl Fn(f32) -> f32) {
    map_inplace_loop(dst, f);
}

/// [`zip_map_loop`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_map_loop_avx2(dst: &mut [f32], a: &[f32], b: &[f32], f: &impl Fn(f32, f32) -> f32) {
    zip_map_loop(dst, a, b, f);
}

#[track_caller]
fn assert_same_shape(kernel: &str, dst: &Matrix, src: &Matrix) {
    assert!(dst.shape() == src.shape(), "{kernel}: dst is {:?} but src is {:?}", dst.shape(), src.shape());
}

/// `dst[i, j] = f(src[i, j])`.
///
/// # Shapes
/// `src`, `dst`: `[rows, cols]`
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn map(dst: &mut Matrix, src: &Matrix, par: Par, f: impl Fn(f32) -> f32 + Sync) {
    assert_same_shape("map", dst, src);
    let cols = src.cols();
    let src = src.as_slice();
    for_row_blocks(par, dst.as_mut_slice(), cols, |first_row, block| {
        let src = &src[first_row * cols..first_row * cols + block.len()];
        with_avx2_if_present!(map_loop_avx2, map_loop, block, src, &f);
    });
}

/// `x = f(x)` for every element of `dst`.
pub fn map_inplace(dst: &mut Matrix, par: Par, f: impl Fn(f32) -> f32 + Sync) {
    let cols = dst.cols();
    for_row_blocks(par, dst.as_mut_slice(), cols, |_, block| {
        with_avx2_if_present!(map_inplace_loop_avx2, map_inplace_loop, block, &f);
    });
}

/// `dst[i, j] = f(a[i, j], b[i, j])`.
///
/// # Shapes
/// `a`, `b`, `dst`: `[rows, cols]`
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn zip_map(dst: &mut Matrix, a: &Matrix, b: &Matrix, par: Par, f: impl Fn(f32, f32) -> f32 + Sync) {
    assert_same_shape("zip_map", dst, a);
    assert_same_shape("zip_map", dst, b);
    let cols = a.cols();
    let (a, b) = (a.as_slice(), b.as_slice());
    for_row_blocks(par, dst.as_mut_slice(), cols, |first_row, block| {
        let range = first_row * cols..first_row * cols + block.len();
        with_avx2_if_present!(zip_map_loop_avx2, zip_map_loop, block, &a[range.clone()], &b[range], &f);
    });
}

/// An elementwise activation that a kernel applies to each output as it stores it, so that a
/// layer and the activation after it take one pass over the batch instead of two (and, on
/// several threads, one hand-over instead of two).
///
/// Each is one whose derivative is a function of its output (the fused layer keeps only the
/// activation's output, not what went in).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FusedActivation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// The logistic sigmoid `1 / (1 + e^(−x))`.
    Sigmoid,
    /// `x` for `x > 0`, `slope · x` otherwise, with `slope ≥ 0` (for a negative slope the
    /// output's sign no longer tells the input's).
    LeakyRelu(f32),
    /// `x` for `x > 0`, `alpha · (eˣ − 1)` otherwise, with `alpha > 0`.
    Elu(f32),
}

impl FusedActivation {
    /// The activation of one value. (The activation layers compute theirs with this, so a
    /// fused layer and a separate one give the same bits.) Tanh and the sigmoid are computed
    /// without a library call, so that loops over a batch vectorize: within 1 and 2 units in
    /// the last place of the exact values.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            FusedActivation::Relu => x.max(0.0),
            FusedActivation::Tanh => crate::fastmath::tanh(x),
            FusedActivation::Sigmoid => crate::fastmath::sigmoid(x),
            FusedActivation::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            FusedActivation::Elu(alpha) => {
                // Computed for every x and picked without a branch, so loops vectorize.
                let negative = alpha * crate::fastmath::exp_m1(x.min(0.0));
                if x > 0.0 { x } else { negative }
            }
        }
    }

    /// Its derivative, from the activation's output `y`: for ReLU 1 where `y > 0`, else 0 (as
    /// PyTorch takes it at 0); `1 − y²` for tanh; `y (1 − y)` for the sigmoid; for the leaky
    /// ReLU 1 where `y > 0`, else the slope (at 0 too, as PyTorch); for ELU 1 where `y > 0`,
    /// else `y + alpha` (which is `alpha · eˣ`, as PyTorch's ELU computes it from its result).
    #[inline(always)]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            FusedActivation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            FusedActivation::Tanh => 1.0 - y * y,
            FusedActivation::Sigmoid => y * (1.0 - y),
            FusedActivation::LeakyRelu(slope) => {
                if y > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            FusedActivation::Elu(alpha) => {
                if y > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
        }
    }
}

/// Runs `$body` with `$f` bound to a closure for the activation `$activation` (an
/// `Option<FusedActivation>`; the identity for `None`): the body is compiled once per
/// activation, with the match outside its loops, so that each loop vectorizes.
macro_rules! with_activation {
    ($activation:expr, |$f:ident| $body:block) => {
        match $activation {
            None => {
                let $f = |x: f32| x;
                $body
            }
            Some($crate::FusedActivation::Relu) => {
                let $f = |x: f32| $crate::FusedActivation::Relu.apply(x);
                $body
            }
            Some($crate::FusedActivation::Tanh) => {
                let $f = |x: f32| $crate::FusedActivation::Tanh.apply(x);
                $body
            }
            Some($crate::FusedActivation::Sigmoid) => {
                let $f = |x: f32| $crate::FusedActivation::Sigmoid.apply(x);
                $body
            }
            Some($crate::FusedActivation::LeakyRelu(slope)) => {
                let $f = |x: f32| $crate::FusedActivation::LeakyRelu(slope).apply(x);
                $body
            }
            Some($crate::FusedActivation::Elu(alpha)) => {
                let $f = |x: f32| $crate::FusedActivation::Elu(alpha).apply(x);
                $body
            }
        }
    };
}
pub(crate) use with_activation;

/// `dz[k] = grad[k] · activation′(output[k])` over slices: the scaling of a fused layer's
/// backward pass, compiled once per activation (the match outside the loop).
pub(crate) fn scale_by_derivative_slices(
    dz: &mut [f32],
    grad: &[f32],
    output: &[f32],
    activation: FusedActivation,
) {
    with_avx2_if_present!(
        scale_by_derivative_loop_avx2,
        scale_by_derivative_loop,
        dz,
        grad,
        output,
        activation
    );
}

/// [`scale_by_derivative_loop`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scale_by_derivative_loop_avx2(
    dz: &mut [f32],
    grad: &[f32],
    output: &[f32],
    activation: FusedActivation,
) {
    scale_by_derivative_loop(dz, grad, output, activation);
}

/// The loop of [`scale_by_derivative_slices`].
#[inline(always)]
fn scale_by_derivative_loop(dz: &mut [f32], grad: &[f32], output: &[f32], activation: FusedActivation) {
    #[inline(always)]
    fn run(dz: &mut [f32], grad: &[f32], output: &[f32], derivative: impl Fn(f32) -> f32) {
        for ((d, &g), &y) in dz.iter_mut().zip(grad).zip(output) {
            *d = g * derivative(y);
        }
    }
    match activation {
        FusedActivation::Relu => run(dz, grad, output, |y| FusedActivation::Relu.derivative_from_output(y)),
        FusedActivation::Tanh => run(dz, grad, output, |y| FusedActivation::Tanh.derivative_from_output(y)),
        FusedActivation::Sigmoid => {
            run(dz, grad, output, |y| FusedActivation::Sigmoid.derivative_from_output(y))
        }
        FusedActivation::LeakyRelu(slope) => {
            run(dz, grad, output, |y| FusedActivation::LeakyRelu(slope).derivative_from_output(y))
        }
        FusedActivation::Elu(alpha) => {
            run(dz, grad, output, |y| FusedActivation::Elu(alpha).derivative_from_output(y))
        }
    }
}

/// `dz = grad · activation′(output)`, elementwise (resizing `dz`): the gradient with respect
/// to a fused layer's output before its activation, computed as the activation layer's own
/// backward pass computes it, to the bit.
///
/// # Panics
/// If `grad` and `output` differ in shape.
#[track_caller]
pub fn scale_by_derivative(
    dz: &mut Matrix,
    grad: &Matrix,
    output: &Matrix,
    activation: FusedActivation,
    par: Par,
) {
    assert_same_shape("scale_by_derivative", grad, output);
    dz.resize(grad.rows(), grad.cols());
    let cols = grad.cols();
    let (grad, output) = (grad.as_slice(), output.as_slice());
    for_row_blocks(par, dz.as_mut_slice(), cols, |first_row, block| {
        let range = first_row * cols..first_row * cols + block.len();
        scale_by_derivative_slices(block, &grad[range.clone()], &output[range], activation);
    });
}

/// `dst[i, j] += row[j]` for every row `i`: adds a bias to every sample.
///
/// # Shapes
/// `dst`: `[rows, cols]`, `row`: `[cols]`
///
/// # Panics
/// If `row.len() != dst.cols()`.
#[track_caller]
pub fn add_row_vector(dst: &mut Matrix, row: &[f32], par: Par) {
    add_row_vector_activated(dst, row, None, par);
}

/// [`add_row_vector`], then `activation` (if any) on every element, in the same pass: a
/// layer's bias and the activation after it.
///
/// # Panics
/// If `row.len() != dst.cols()`.
#[track_caller]
pub fn add_row_vector_activated(
    dst: &mut Matrix,
    row: &[f32],
    activation: Option<FusedActivation>,
    par: Par,
) {
    assert!(
        row.len() == dst.cols(),
        "add_row_vector: dst is {:?} but the row has {} values",
        dst.shape(),
        row.len()
    );
    let cols = dst.cols();
    for_row_blocks(par, dst.as_mut_slice(), cols, |_, block| {
        with_avx2_if_present!(bias_activation_loop_avx2, bias_activation_loop, block, row, activation);
    });
}

/// The loop of [`add_row_vector_activated`] over whole rows of `block`.
#[inline(always)]
fn bias_activation_loop(block: &mut [f32], row: &[f32], activation: Option<FusedActivation>) {
    with_activation!(activation, |f| {
        for dst_row in block.chunks_exact_mut(row.len()) {
            dst_row.iter_mut().zip(row).for_each(|(d, &b)| *d = f(*d + b));
        }
    })
}

/// [`bias_activation_loop`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bias_activation_loop_avx2(block: &mut [f32], row: &[f32], activation: Option<FusedActivation>) {
    bias_activation_loop(block, row, activation);
}

/// Each column's mean and population variance (divided by the row count), summed in `f64`
/// in row order: what a feature standardizer is fitted to (zeros for a matrix without rows).
pub fn column_moments(src: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n = src.rows().max(1) as f64;
    let mut mean = vec![0.0f64; src.cols()];
    for row in src.row_iter() {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut variance = vec![0.0f64; src.cols()];
    for row in src.row_iter() {
        variance.iter_mut().zip(row).zip(&mean).for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2));
    }
    variance.iter_mut().for_each(|s| *s /= n);
    (mean, variance)
}

/// `dst[j] = Σ_i src[i, j]` (or `dst[j] += …`): the bias gradient is the column sum of the
/// output gradient.
///
/// Rows are added in order, so the result does not depend on the thread count.
///
/// # Shapes
/// `src`: `[rows, cols]`, `dst`: `[cols]`
///
/// # Panics
/// If `dst.len() != src.cols()`.
#[track_caller]
pub fn column_sums(dst: &mut [f32], accum: Accum, src: &Matrix) {
    assert!(
        dst.len() == src.cols(),
        "column_sums: src is {:?} but dst has {} values",
        src.shape(),
        dst.len()
    );
    if accum == Accum::Replace {
        dst.fill(0.0);
    }
    for row in src.row_iter() {
        for (d, &s) in dst.iter_mut().zip(row) {
            *d += s;
        }
    }
}

/// `dst += alpha · src`, elementwise over equally long slices (an SGD step is
/// `axpy(weights, -learning_rate, gradient)`).
///
/// # Panics
/// If the lengths differ.
#[track_caller]
pub fn axpy(dst: &mut [f32], alpha: f32, src: &[f32]) {
    assert!(dst.len() == src.len(), "axpy: dst has {} values but src has {}", dst.len(), src.len());
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}
