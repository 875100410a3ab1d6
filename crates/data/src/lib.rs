//! # percept-data
//!
//! Getting samples into batches: the [`Dataset`] trait; IDX files of every element type
//! ([`read_idx`]) and MNIST-style directories ([`Mnist`]: MNIST, Fashion-MNIST, KMNIST,
//! EMNIST digits), gzip'd or raw; CSV files ([`read_csv`], [`read_csv_features`] for
//! data to predict, and [`write_csv`]); seeded synthetic sets (the lesson's [`make_classification`], blobs,
//! moons, circles, spirals, XOR, linear and 1-D regression); transforms ([`MinMaxScaler`], [`Standardizer`], [`one_hot`], digit
//! [`Augmentation`]); seeded, optionally stratified splits ([`split_indices`], [`Subset`]);
//! and a seeded, per-epoch shuffled batch order ([`BatchOrder`]). Files come from outside:
//! a bad one gives a [`DataError`] naming the file (and line and column for CSV), never a
//! panic or an allocation of what a header merely declares. Images stay bytes in memory
//! and are scaled to `[0, 1]` as a batch is gathered into a reused buffer.
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
mod csv_data;
mod dataset;
mod digit;
mod error;
pub mod idx;
mod image;
mod mnist;
mod synthetic;
mod transforms;

pub use batches::{BatchOrder, BatchOrderState};
pub use csv_data::{
    CsvData, CsvFeatures, CsvOptions, LabelColumn, Task, parse_csv, read_csv, read_csv_features, write_csv,
};
pub use dataset::{Dataset, ImageDataset, InMemoryDataset, Labels};
pub use digit::{Digit, DigitOptions, Inversion, looks_inverted, prepare_digit};
pub use error::DataError;
pub use idx::{IdxArray, IdxData, IdxType, parse_idx, read_idx};
pub use image::{GrayImage, ImageLimits, decode_image, read_image};
pub use mnist::{FASHION_MNIST_CLASSES, FASHION_MNIST_DEBIAN_DIR, MNIST_CLASSES, Mnist, find_idx_file};
pub use synthetic::{
    Classification, make_blobs, make_circles, make_classification, make_function, make_linear_regression,
    make_moons, make_spirals, make_xor,
};
pub use transforms::{
    Augmentation, Augmented, MinMaxScaler, Standardizer, Subset, one_hot, split_for_validation, split_indices,
};
