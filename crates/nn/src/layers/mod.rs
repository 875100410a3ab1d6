//! The layers: one concept per file.

mod activation;
mod batch_norm;
mod dropout;
mod elu;
mod gelu;
mod layer_norm;
mod leaky_relu;
mod linear;
mod log_softmax;
mod normalization;
mod relu;
mod sigmoid;
mod silu;
mod softmax;
mod softplus;
mod tanh;

pub use batch_norm::BatchNorm1d;
pub use dropout::Dropout;
pub use elu::ELU;
pub use gelu::{GELU, GeluApproximation};
pub use layer_norm::LayerNorm;
pub use leaky_relu::LeakyReLU;
pub use log_softmax::LogSoftmax;
pub use normalization::Normalization;
pub use silu::SiLU;
pub use softplus::Softplus;

pub use linear::{Linear, SPARSE_INPUT_MAX_DENSITY};
pub use relu::ReLU;
pub use sigmoid::Sigmoid;
pub use softmax::Softmax;
pub use tanh::Tanh;
