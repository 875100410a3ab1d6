//! Products with a mostly-zero left operand, such as MNIST images (81% of pixels are 0).
//!
//! A dense product spends most of its time multiplying by those zeros. Stored by rows (CSR),
//! a sample's product with a weight matrix kept as `[in, out]` is a sum of the weight rows of
//! its non-zero features, and the weight gradient `inputᵀ · output_grad` is, per feature, a sum
//! of the output-gradient rows of the samples where that feature is non-zero (the same idea as
//! the "efficiently updatable" first layer of NNUE chess evaluators). Work scales with the
//! non-zeros instead of the matrix size.
//!
//! One file per concern, in the order a batch meets them:
//!
//! - `storage`: [`SparseRows`] and its shards, the layout every other file reads;
//! - `build`: filling it from a batch on one or two threads (budget, early stop, rows taken
//!   over by the faster thread, a build in the gaps of other work);
//! - `compact`: the per-row kernels that pick out a row's non-zeros (AVX-512, AVX2, portable);
//! - `columns`: the by-column copy (CSC) that the transposed products read;
//! - `products`: the public products and their split over threads by blocks of rows;
//! - `gather`: the inner kernel of both products, sums of scaled source rows held in registers.

mod build;
mod columns;
mod compact;
mod gather;
mod products;
mod storage;

pub use build::SPARSE_BUILD_PARALLEL_THRESHOLD;
pub use products::{
    RowsDone, SPARSE_PARALLEL_THRESHOLD_MULADDS, WeightGradExtras, sparse_affine, sparse_affine_activated,
    sparse_matmul, sparse_transpose_matmul, sparse_transpose_matmul_with_sums, sparse_weight_grad,
};
pub use storage::SparseRows;
