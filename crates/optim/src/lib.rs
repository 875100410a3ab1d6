//! # percept-optim
//!
//! Optimizers: what turns gradients into better weights. An optimizer is two parts:
//!
//! - an [`UpdateRule`], the per-parameter formula (plain [`Sgd`] is
//!   `w ← w − learning_rate · ∂L/∂w`), written once per optimizer in its own file;
//! - the [`Optimizer`] driver, the same for every rule: it walks the model's parameters, creates
//!   each parameter's state (momentum buffers and the like) on the first step, and counts steps.
//!
//! ```
//! use percept_nn::{Linear, Loss, Mode, Mse, Sequential, Targets, seeded_rng};
//! use percept_linalg::Matrix;
//! use percept_optim::{Optimizer, Sgd};
//!
//! let mut model = Sequential::new();
//! model.add(Linear::new(1, 1, &mut seeded_rng(0)))?;
//! let input = Matrix::from_rows(&[[1.0], [2.0], [3.0]]);
//! let target = Matrix::from_rows(&[[2.0], [4.0], [6.0]]); // y = 2x
//! let mut optimizer = Optimizer::new(Sgd::new(0.1));
//! let mut grad = Matrix::default();
//! for _ in 0..200 {
//!     let prediction = model.forward(&input, Mode::Train)?;
//!     Mse.backward(prediction, Targets::Values(&target), &mut grad)?;
//!     model.backward(&grad)?;
//!     optimizer.step(&mut model);
//! }
//! let prediction = model.forward(&input, Mode::Eval)?.clone();
//! assert!(Mse.forward(&prediction, Targets::Values(&target))? < 1e-4);
//! assert_eq!(optimizer.steps(), 200);
//! # Ok::<(), percept_nn::NnError>(())
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod optimizer;
mod sgd;

pub use optimizer::{MAX_STATE_BUFFERS, Optimizer, UPDATE_PARALLEL_THRESHOLD, UpdateRule};
pub use sgd::Sgd;
