//! The layers: one concept per file.

mod activation;
mod linear;
mod relu;
mod sigmoid;
mod softmax;
mod tanh;

pub use linear::{Linear, SPARSE_INPUT_MAX_DENSITY};
pub use relu::ReLU;
pub use sigmoid::Sigmoid;
pub use softmax::Softmax;
pub use tanh::Tanh;
