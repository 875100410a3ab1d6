//! What training reports: one record per epoch.

use std::fmt;

/// The figures of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// Fraction of training samples classified correctly during the epoch (classification).
    pub train_accuracy: Option<f32>,
    /// Loss on the validation set after the epoch.
    pub validation_loss: Option<f32>,
    /// Accuracy on the validation set after the epoch (classification).
    pub validation_accuracy: Option<f32>,
    /// Seconds spent training (forward, backward, update and batch gathering; no evaluation).
    pub train_seconds: f64,
    /// Learning rate used in the epoch.
    pub learning_rate: f32,
}

/// Every epoch of a run, readable after training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One record per epoch, in order.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// Total training seconds.
    pub fn train_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.train_seconds).sum()
    }
}

fn percent(value: Option<f32>) -> String {
    value.map_or_else(String::new, |v| format!("{:.2}%", 100.0 * v))
}

/// One line: `epoch 3/10  loss 0.1234  acc 96.10%  val_loss 0.1100  val_acc 96.70%  2.31 s`.
pub fn progress_line(record: &EpochRecord, epochs: usize) -> String {
    let mut line = format!("epoch {:>3}/{epochs}  loss {:.4}", record.epoch, record.train_loss);
    if record.train_accuracy.is_some() {
        line += &format!("  acc {:>7}", percent(record.train_accuracy));
    }
    if let Some(loss) = record.validation_loss {
        line += &format!("  val_loss {loss:.4}");
    }
    if record.validation_accuracy.is_some() {
        line += &format!("  val_acc {:>7}", percent(record.validation_accuracy));
    }
    line + &format!("  {:.2} s", record.train_seconds)
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epochs = self.epochs.len();
        for record in &self.epochs {
            writeln!(f, "{}", progress_line(record, epochs))?;
        }
        Ok(())
    }
}
