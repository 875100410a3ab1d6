//! # percept-linalg
//!
//! The numeric floor of percept: [`Matrix`], a row-major `f32` matrix with one row per sample,
//! and the kernels the layers are built from. Products go through faer's
//! [`matmul`](faer::linalg::matmul::matmul), with either operand transposed in place;
//! elementwise work and row reductions are plain loops, split over blocks of rows on percept's worker
//! threads when a matrix is large enough for a second thread to pay. Every kernel writes into a
//! destination the caller owns (`dst` first), says whether it replaces or adds ([`Accum`]),
//! and takes its parallelism as an argument ([`Par`]); [`set_num_threads`] sets what layers
//! pass as [`Par::current`].
//!
//! faer appears in no public signature, so a faer upgrade touches this crate only.
//!
//! ```
//! use percept_linalg::{Accum, Matrix, Par, add_row_vector, matmul, softmax_rows};
//!
//! // A linear layer and softmax by hand: output = softmax(input · weightᵀ + bias).
//! let input = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]); // [batch 2, in 2]
//! let weight = Matrix::from_rows(&[[0.5, -0.5], [1.0, 1.0], [0.0, 2.0]]); // [out 3, in 2]
//! let bias = [0.1, 0.2, 0.3];
//! let mut logits = Matrix::zeros(2, 3);
//! matmul(&mut logits, Accum::Replace, &input, weight.t(), 1.0, Par::Seq);
//! add_row_vector(&mut logits, &bias, Par::Seq);
//! assert_eq!(logits.row(0), &[-0.4, 3.2, 4.3]);
//!
//! let mut probabilities = Matrix::zeros(2, 3);
//! softmax_rows(&mut probabilities, &logits, Par::Seq);
//! let total: f32 = probabilities.row(1).iter().sum();
//! assert!((total - 1.0).abs() < 1e-6);
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

/// Whether the CPU has AVX2 and FMA, for the kernels built a second time for them (std caches
/// the detection: a load and a test after the first call).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

mod bytes;
mod elementwise;
pub mod fastmath;
mod matmul;
mod matrix;
mod par;
mod rows;
mod sparse;
mod team;

pub use bytes::{CacheLevel, prefetch_bytes, prefetch_for_write, scale_byte, scale_bytes};
pub use elementwise::{
    ELEMENTWISE_PARALLEL_THRESHOLD, FusedActivation, add_row_vector, add_row_vector_activated, axpy,
    column_moments, column_sums, for_each_row_block, for_each_row_range, map, map_inplace,
    scale_by_derivative, zip_map,
};
pub use matmul::{Accum, PARALLEL_THRESHOLD_MULADDS, matmul, matmul_unthresholded};
pub use matrix::{Matrix, MatrixRef};
pub use par::{MAX_THREADS, Par, ThreadsError, num_threads, set_num_threads};
pub use rows::{
    argmax, argmax_rows, exp_shifted, log_softmax_rows, max_rows, softmax_row, softmax_rows, sum_in_order,
};
pub use sparse::{
    RowsDone, SPARSE_BUILD_PARALLEL_THRESHOLD, SPARSE_PARALLEL_THRESHOLD_MULADDS, SparseRows,
    WeightGradExtras, sparse_affine, sparse_affine_activated, sparse_matmul, sparse_transpose_matmul,
    sparse_transpose_matmul_with_sums, sparse_weight_grad,
};
