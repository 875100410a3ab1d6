//! # percept-nn
//!
//! Layers, models and losses, each with a hand-written backward pass you can read: the
//! lesson's `Linear`, `Tanh`, `Softmax`, cross-entropy and `Net` (here [`Sequential`]), plus
//! [`ReLU`], [`Sigmoid`], the fused [`SoftmaxCrossEntropy`] that training uses by default, and
//! the regression losses [`Mse`] and [`Mae`]. [`gradcheck`] checks any backward pass against
//! finite differences.
//!
//! A training step by hand, as the lesson writes it:
//!
//! ```
//! use percept_nn::{Layer, Linear, Loss, Mode, Parameters, ReLU, Sequential, SoftmaxCrossEntropy, Targets, seeded_rng};
//! use percept_linalg::{Matrix, axpy};
//!
//! let mut rng = seeded_rng(42);
//! let mut model = Sequential::new();
//! model.add(Linear::new(2, 8, &mut rng))?.add(ReLU)?.add(Linear::new(8, 2, &mut rng))?;
//! let input = Matrix::from_rows(&[[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]);
//! let labels = [1, 1, 0, 0];
//! let mut loss = SoftmaxCrossEntropy::new();
//! let mut grad = Matrix::default();
//!
//! let mut first = None;
//! for _ in 0..200 {
//!     let logits = model.forward(&input, Mode::Train)?;
//!     let value = loss.forward(logits, Targets::Classes(&labels))?;
//!     first.get_or_insert(value);
//!     loss.backward(logits, Targets::Classes(&labels), &mut grad)?;
//!     model.backward(&grad)?;
//!     // w ← w − learning_rate · ∂L/∂w
//!     model.visit_parameters(&mut |p| axpy(p.value.as_mut_slice(), -0.5, p.grad.as_slice()));
//! }
//! let logits = model.forward(&input, Mode::Eval)?.clone();
//! assert!(loss.forward(&logits, Targets::Classes(&labels))? < first.unwrap() / 4.0);
//! # Ok::<(), percept_nn::NnError>(())
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod error;
pub mod gradcheck;
mod init;
mod layer;
mod layers;
mod loss;
mod predict;
mod sequential;
mod spec;

pub use error::NnError;
pub use init::{Init, Nonlinearity, Rng, gain, seeded_rng};
pub use layer::{Buffer, Layer, Mode, Param, ParamUpdate, Parameters};
pub use layers::{
    BatchNorm1d, Dropout, ELU, GELU, GeluApproximation, LayerNorm, LeakyReLU, Linear, LogSoftmax,
    Normalization, ReLU, SPARSE_INPUT_MAX_DENSITY, SiLU, Sigmoid, Softmax, Softplus, Tanh,
};
pub use loss::{
    BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropy, Hinge, Huber, Loss, Mae, Mse, NllLoss,
    SoftmaxCrossEntropy, Sum, Targets, zero_one_loss,
};
pub use percept_linalg::FusedActivation;
pub use sequential::{Sequential, group_thousands};
pub use spec::LayerSpec;
