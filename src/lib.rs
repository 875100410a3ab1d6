//! # percept
//!
//! A small, fast CPU neural-network framework that follows the classic "build your own
//! framework" lesson: layers with `forward` and `backward` you can read, a `Sequential`
//! container, losses, minibatch SGD with backpropagation, and MNIST as the lab.
//!
//! This crate is the facade: it re-exports the workspace's crates and a [`prelude`].
//!
//! | module | crate | what |
//! | --- | --- | --- |
//! | [`linalg`] | `percept-linalg` | `Matrix` and the kernels (faer matmul, sparse products, worker threads) |
//! | [`nn`] | `percept-nn` | layers, `Sequential`, losses, initializers, gradient checking |
//! | [`optim`] | `percept-optim` | `Optimizer` and its update rules |
//! | [`data`] | `percept-data` | data sets, MNIST's IDX files, batching |
//! | [`train`] | `percept-train` | the fit loop and evaluation |
//! | `serve` | (feature `serve`) | a trained classifier behind an HTTP API and a draw-a-digit page |
//!
//! ```
//! use percept::prelude::*;
//!
//! percept::set_threads(1)?;
//! let (train, test) = make_classification(&Classification::default()).split(0.8);
//! let mut rng = seeded_rng(0);
//! let mut model = Sequential::new();
//! model.add(Linear::new(2, 10, &mut rng))?.add(Tanh)?.add(Linear::new(10, 2, &mut rng))?;
//! println!("{model}");
//! let config = FitConfig { epochs: 30, batch_size: 4, verbose: false, ..Default::default() };
//! let mut optimizer = Optimizer::new(Sgd::new(0.01));
//! let history = Trainer::new(config).fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &train, Some(&test))?;
//! assert!(history.last().unwrap().validation_accuracy.unwrap() > 0.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

/// The README's Rust code, compiled and run by `cargo test` (a README example that no
/// longer compiles fails the test suite).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use percept_data as data;
pub use percept_linalg as linalg;
pub use percept_nn as nn;
pub use percept_optim as optim;
pub use percept_train as train;

#[cfg(feature = "serve")]
pub mod serve;

/// Sets how many threads percept uses (1 runs everything on the calling thread).
///
/// Call it once at start-up, before any training: the first call also starts percept's worker
/// threads (`threads - 1` of them; the calling thread is the first).
///
/// # Errors
/// [`linalg::ThreadsError`] for 0, or for more threads than the already started team has.
pub fn set_threads(threads: usize) -> Result<(), linalg::ThreadsError> {
    linalg::set_num_threads(threads)
}

/// The types most programs need: `use percept::prelude::*;`.
pub mod prelude {
    pub use percept_data::{
        Augmentation, Augmented, BatchOrder, Classification, CsvOptions, DataError, Dataset, ImageDataset,
        InMemoryDataset, LabelColumn, Labels, MinMaxScaler, Mnist, Standardizer, Subset, Task,
        make_classification, read_csv, split_for_validation, split_indices,
    };
    pub use percept_linalg::{Matrix, Par};
    pub use percept_nn::{
        BatchNorm1d, BinaryCrossEntropy, BinaryCrossEntropyWithLogits, CrossEntropy, Dropout, ELU, GELU,
        Hinge, Huber, Init, Layer, LayerNorm, LeakyReLU, Linear, LogSoftmax, Loss, Mae, Mode, Mse, NllLoss,
        NnError, Nonlinearity, Normalization, Parameters, ReLU, Sequential, SiLU, Sigmoid, Softmax,
        SoftmaxCrossEntropy, Softplus, Sum, Tanh, Targets, gain, gradcheck, seeded_rng, zero_one_loss,
    };
    pub use percept_optim::{
        Adagrad, Adam, AdamW, Optimizer, RmsProp, Schedule, Scheduler, Sgd, UpdateRule, clip_grad_norm,
        clip_grad_value,
    };
    pub use percept_train::{
        Checkpoint, EpochRecord, Evaluation, FitConfig, History, SaveLoad, StepEvery, TrainError, Trainer,
        evaluate,
    };
    #[cfg(feature = "plot")]
    pub use percept_train::{PlotError, WeightWatch, plot_decision_boundary, plot_history};
}
