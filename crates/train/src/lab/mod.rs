//! The lesson's lab, run and answered: MNIST with 1-, 2- and 3-layer perceptrons and
//! different activations, watched epoch by epoch, and one-vs-all against softmax.
//!
//! [`run_lab`] trains a grid of configurations (depth × activation, the same optimizer,
//! learning rate, batch, epochs and seed for all) on 80% of MNIST's training images, chooses
//! each one's epoch and ranks them on the held-out 20% (validation), measures each chosen
//! model once on the test set, and writes into its output folder:
//!
//! - `REPORT.md`: the results table, the figures, and answers to the lab's questions whose
//!   every number and comparison is computed from the run ([`answers`]);
//! - `results.json`: every number ([`LabResults`]);
//! - `curves.svg`, `validation.svg`, `weights.svg`, `gradients.svg`, `confusion.svg`: the
//!   training and validation accuracy per configuration, every validation curve in one
//!   chart, the largest absolute weight and the weight-gradient norm of each layer per
//!   epoch, the best configuration's confusion matrix;
//! - `misclassified.png`: test digits the best configuration got wrong, with their labels.
//!
//! ```no_run
//! use percept_train::lab::{LabConfig, run_lab};
//! let outcome = run_lab(&LabConfig { epochs: 5, ..LabConfig::default() })?;
//! println!("report: {}", outcome.report.display());
//! # Ok::<(), percept_train::lab::LabError>(())
//! ```

mod answers;
mod config;
mod data;
mod digits;
mod figures;
mod one_vs_all;
mod records;
mod report;
mod results;
mod run;

use std::path::{Path, PathBuf};

pub use answers::{Answer, answers};
pub use config::{Activation, Classifier, Configuration, LabConfig};
pub use data::{LabData, LabSplit};
pub use figures::Figures;
pub use one_vs_all::OneVsAll;
pub use records::{LayerEpoch, LayerLog, LayerWatch};
pub use report::report_markdown;
pub use results::{Confusion, EpochResult, LabResults, LabSettings, Misclassified, RunResult};
pub use run::{LabOutcome, RunProgress, run_lab, train_configuration};

use crate::{PlotError, TrainError};

/// Why the lab could not run or write its report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A setting that cannot work (the message names it).
    #[error("lab: {0}")]
    Config(String),
    /// The data could not be read (the message names the file).
    #[error(transparent)]
    Data(#[from] percept_data::DataError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The thread count was refused.
    #[error(transparent)]
    Threads(#[from] percept_linalg::ThreadsError),
    /// A figure could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path.tmp`, then renames it to `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    let io = |source| LabError::Io { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}
