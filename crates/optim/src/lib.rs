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

mod adagrad;
mod adam;
mod adamw;
mod by_name;
mod clip;
mod optimizer;
mod rmsprop;
mod schedule;
mod sgd;

/// Runs `f` compiled for AVX2 and FMA when the CPU has them: the update rules' loops are
/// written once and run 8 lanes wide where possible (the crate itself targets baseline
/// x86-64, 4 lanes). `f` is a closure called once, which the compiler inlines into the
/// AVX2 function.
#[inline]
pub(crate) fn vectorized(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn run(f: impl FnOnce()) {
            f();
        }
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { run(f) };
        return;
    }
    f();
}

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamw::AdamW;
pub use by_name::OptimizerKind;
pub use clip::{clip_grad_norm, clip_grad_value};
pub use rmsprop::RmsProp;
pub use schedule::{Plateau, PlateauMode, Schedule, Scheduler};

pub use optimizer::{
    MAX_STATE_BUFFERS, OptimError, Optimizer, OptimizerState, UPDATE_PARALLEL_THRESHOLD, UpdateRule,
};
pub use sgd::Sgd;
