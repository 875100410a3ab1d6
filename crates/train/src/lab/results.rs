//! The lab's results: everything the report says, and results.json holds.

use serde::{Deserialize, Serialize};

use super::{Configuration, LayerEpoch};

/// The settings a run used, as the report states them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabSettings {
    /// The data directory.
    pub data: String,
    /// Images in the training split.
    pub train_images: usize,
    /// Images in the validation split (held-out training images).
    pub validation_images: usize,
    /// Test images measured.
    pub test_images: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per minibatch.
    pub batch_size: usize,
    /// The optimizer, e.g. `"SGD"`.
    pub optimizer: String,
    /// Its learning rate.
    pub learning_rate: f32,
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// The seed.
    pub seed: u64,
    /// Threads used.
    pub threads: usize,
}

/// One epoch of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochResult {
    /// From 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (cross-entropy; for one-vs-all the sum
    /// of the ten binary cross-entropies).
    pub train_loss: f32,
    /// Training accuracy over the epoch's batches, as the weights changed during it.
    pub train_accuracy: f32,
    /// Validation loss after the epoch.
    pub validation_loss: f32,
    /// Validation accuracy after the epoch.
    pub validation_accuracy: f32,
    /// Seconds of training (no evaluation).
    pub seconds: f64,
    /// One entry per `Linear` layer, input first.
    pub layers: Vec<LayerEpoch>,
}

/// A (true class, predicted class) pair and how many test images it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// The digit.
    pub truth: usize,
    /// What the model said.
    pub predicted: usize,
    /// Test images.
    pub count: u64,
}

/// A misclassified test image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misclassified {
    /// Index into the test files.
    pub index: usize,
    /// The digit.
    pub truth: usize,
    /// What the model said.
    pub predicted: usize,
}

/// One configuration, trained and measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// What was trained.
    pub configuration: Configuration,
    /// Its name, e.g. `"2 layers, ReLU"`.
    pub name: String,
    /// Its `Linear` layers, e.g. `"Linear(784 → 256)"`.
    pub layers: Vec<String>,
    /// Trainable parameters.
    pub parameters: usize,
    /// Every epoch.
    pub epochs: Vec<EpochResult>,
    /// The largest absolute weight of each `Linear` layer before training.
    pub initial_max_abs_weight: Vec<f32>,
    /// The epoch with the highest validation accuracy (the earliest on a tie): the chosen
    /// weights.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_validation_accuracy: f32,
    /// Test accuracy of the chosen epoch's weights, measured once after training.
    pub test_accuracy: f32,
    /// `confusion[truth][predicted]` over the test images, same weights.
    pub confusion: Vec<Vec<u64>>,
    /// Misclassified test images (the first ones, in file order).
    pub misclassified: Vec<Misclassified>,
    /// Seconds of training, all epochs.
    pub train_seconds: f64,
}

impl RunResult {
    /// The record of epoch `epoch` (from 1).
    pub fn epoch(&self, epoch: usize) -> Option<&EpochResult> {
        self.epochs.iter().find(|e| e.epoch == epoch)
    }

    /// The most frequent off-diagonal pairs of the confusion matrix, largest first (ties:
    /// by true class, then predicted), at most `count`, none of zero.
    pub fn most_confused(&self, count: usize) -> Vec<Confusion> {
        let mut pairs: Vec<Confusion> = self
            .confusion
            .iter()
            .enumerate()
            .flat_map(|(truth, row)| {
                row.iter()
                    .enumerate()
                    .filter(move |&(predicted, &n)| predicted != truth && n > 0)
                    .map(move |(predicted, &count)| Confusion { truth, predicted, count })
            })
            .collect();
        pairs.sort_by(|a, b| {
            b.count.cmp(&a.count).then(a.truth.cmp(&b.truth)).then(a.predicted.cmp(&b.predicted))
        });
        pairs.truncate(count);
        pairs
    }
}

/// Everything the lab measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabResults {
    /// The settings.
    pub settings: LabSettings,
    /// Every configuration, in the order trained.
    pub runs: Vec<RunResult>,
    /// Index into `runs` of the best configuration: the highest best validation accuracy
    /// ([`LabResults::best_by_validation`]). Chosen on validation only.
    pub best: usize,
    /// Wall-clock seconds of the whole lab (loading, training, evaluation, report).
    pub wall_seconds: f64,
}

impl LabResults {
    /// Index of the run with the highest best validation accuracy as the report prints it
    /// (to a hundredth of a percent), the first on a tie: the grid lists smaller models
    /// first, so a tie goes to the smaller one.
    pub fn best_by_validation(runs: &[RunResult]) -> usize {
        let printed = |run: &RunResult| (run.best_validation_accuracy as f64 * 10_000.0).round() as i64;
        let mut best = 0;
        for (i, run) in runs.iter().enumerate() {
            if printed(run) > printed(&runs[best]) {
                best = i;
            }
        }
        best
    }

    /// The best run.
    pub fn best_run(&self) -> Option<&RunResult> {
        self.runs.get(self.best)
    }
}
