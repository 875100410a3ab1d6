//! # percept-data
//!
//! Getting samples into batches: the [`Dataset`] trait, MNIST's IDX files ([`Mnist`], gzip'd
//! or raw, with errors that name the file), the lesson's synthetic 2-D set
//! ([`make_classification`]) and a seeded, per-epoch shuffled batch order ([`BatchOrder`]).
//! Images stay bytes in memory and are scaled to `[0, 1]` as a batch is gathered into a
//! reused buffer.
//!
//! This crate depends on `percept-linalg` only, never on the layers.
//!
//! ```
//! use percept_data::{BatchOrder, Classification, Dataset, Labels, make_classification};
//! use percept_linalg::Matrix;
//!
//! let data = make_classification(&Classification { samples: 100, seed: 0, ..Default::default() });
//! let (train, test) = data.split(0.8); // first 80, last 20, as in the lesson
//! assert_eq!((train.len(), test.len()), (80, 20));
//!
//! let mut order = BatchOrder::shuffled(train.len(), 16, 42);
//! let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
//! for batch in order.next_epoch() {
//!     train.gather(batch, &mut inputs, &mut labels);
//!     assert_eq!(inputs.shape(), [16, 2]);
//! }
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod batches;
mod dataset;
mod error;
pub mod idx;
mod mnist;
mod synthetic;

pub use batches::BatchOrder;
pub use dataset::{Dataset, ImageDataset, InMemoryDataset, Labels};
pub use error::DataError;
pub use mnist::{MNIST_CLASSES, Mnist, find_idx_file};
pub use synthetic::{Classification, make_classification};
