//! The errors of percept-train.

use percept_nn::NnError;

/// Why training or evaluation stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The model or loss refused the data (a shape or label mismatch).
    #[error(transparent)]
    Nn(#[from] NnError),
    /// The loss became NaN or infinite: the learning rate is probably too high.
    #[error(
        "the loss became {loss} in epoch {epoch}, batch {batch}; training stopped (try a lower learning rate)"
    )]
    NonFiniteLoss {
        /// Epoch, from 1.
        epoch: usize,
        /// Batch within the epoch, from 1.
        batch: usize,
        /// The value.
        loss: f32,
    },
    /// A checkpoint could not be written, read or applied (the message names the file or the
    /// part that does not fit).
    #[error("{0}")]
    Checkpoint(String),
    /// Training diverged: the loss exploded or a parameter became NaN or infinite
    /// ([`crate::Trainer::divergence_factor`]). The epoch was not saved.
    #[error(
        "training diverged in epoch {epoch}: {reason}; the epoch was not saved (try a lower learning rate)"
    )]
    Diverged {
        /// Epoch, from 1.
        epoch: usize,
        /// What was seen.
        reason: String,
    },
    /// The settings contradict each other or are out of range (the message names them).
    #[error("{0}")]
    Config(String),
    /// Printing the progress to standard output failed (a full disk, a closed pipe).
    #[error("writing the progress to standard output failed: {0}")]
    Output(String),
    /// A data set had no sample.
    #[error("the {which} set is empty")]
    EmptyDataset {
        /// `"training"` or `"validation"`.
        which: &'static str,
    },
    /// The data has a different number of features than the model's input.
    #[error("the {which} set has {features} features per sample, but the model expects {expected}")]
    FeatureMismatch {
        /// `"training"` or `"validation"`.
        which: &'static str,
        /// Features in the data.
        features: usize,
        /// Features the model takes.
        expected: usize,
    },
}
