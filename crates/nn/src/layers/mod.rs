//! The layers: one concept per file.

mod activation;
mod linear;
mod relu;
mod sigmoid;
mod softmax;
mod tanh;

pub use linear::Linear;
pub use relu::ReLU;
pub use sigmoid::Sigmoid;
pub use softmax::Softmax;
pub use tanh::Tanh;
