//! # percept-train
//!
//! The loop around the step: [`Trainer::fit`] runs epochs of seeded, shuffled minibatches
//! (forward, loss, backward, optimizer step), evaluates on a validation set after each epoch,
//! prints one progress line per epoch and returns a [`History`] to read afterwards;
//! [`evaluate`] measures loss and accuracy. With the `lab` feature (on by default), the
//! `lab` module runs the lesson's MNIST lab and writes its report.
//!
//! ```
//! use percept_data::{Classification, make_classification};
//! use percept_nn::{Linear, Sequential, SoftmaxCrossEntropy, seeded_rng};
//! use percept_optim::{Optimizer, Sgd};
//! use percept_train::{FitConfig, Trainer, evaluate};
//!
//! let data = make_classification(&Classification { samples: 400, flip_y: 0.0, ..Default::default() });
//! let (train, test) = data.split(0.8);
//! let mut model = Sequential::new();
//! model.add(Linear::new(2, 2, &mut seeded_rng(1)))?;
//! let config = FitConfig { epochs: 5, batch_size: 8, verbose: false, ..Default::default() };
//! Trainer::new(config).fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &train, None)?;
//! let result = evaluate(&mut model, &mut SoftmaxCrossEntropy::new(), &test, 64)?;
//! assert!(result.accuracy.unwrap() > 0.6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod callbacks;
mod checkpoint;
mod error;
mod fit;
mod history;
mod interop;
#[cfg(feature = "lab")]
pub mod lab;
mod metrics;
#[cfg(feature = "plot")]
pub mod plot;
mod progress;
pub mod recipe;
mod save_load;

pub use callbacks::{BatchRecord, Callback, Control, EarlyStopping, Monitor};
pub use checkpoint::{
    CHECKPOINT_MAGIC, CHECKPOINT_VERSION, Checkpoint, CheckpointError, SavedBuffer, SavedEpoch, SavedOrder,
    SavedTensor,
};
pub use error::TrainError;
pub use fit::{
    BatchBuffers, DEFAULT_DIVERGENCE_FACTOR, EpochCallback, Evaluation, FitConfig, StepEvery, Trainer,
    evaluate, targets_of,
};
pub use history::{EpochRecord, History, progress_line, progress_line_labelled};
pub use interop::{InteropError, export_safetensors, import_safetensors, state_dict_names};
pub use metrics::{ConfusionMatrix, accuracy, mean_absolute_error, mean_squared_error, top_k_accuracy};
#[cfg(feature = "plot")]
pub use plot::{
    PlotError, WeightLog, WeightWatch, plot_decision_boundary, plot_history, plot_history_labelled,
};
pub use recipe::{Recipe, RecipeError, RecipeOutcome, RunOptions};
pub use save_load::SaveLoad;
