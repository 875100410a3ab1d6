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

    /// Every epoch as CSV: a header line, then one line per epoch; absent figures are empty.
    ///
    /// ```
    /// use percept_train::{EpochRecord, History};
    /// let record = EpochRecord { epoch: 1, train_loss: 0.5, train_accuracy: Some(0.75), validation_loss: None,
    ///     validation_accuracy: None, train_seconds: 1.25, learning_rate: 0.1 };
    /// let csv = History { epochs: vec![record] }.to_csv();
    /// assert_eq!(csv, "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,train_seconds,learning_rate\n1,0.5,0.75,,,1.25,0.1\n");
    /// ```
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,train_seconds,learning_rate\n",
        );
        let opt = |v: Option<f32>| v.map_or_else(String::new, |v| v.to_string());
        for e in &self.epochs {
            out += &format!(
                "{},{},{},{},{},{},{}\n",
                e.epoch,
                e.train_loss,
                opt(e.train_accuracy),
                opt(e.validation_loss),
                opt(e.validation_accuracy),
                e.train_seconds,
                e.learning_rate
            );
        }
        out
    }

    /// Every epoch as a JSON array of objects with the same keys as [`History::to_csv`]'s
    /// columns; absent figures are `null` (as are non-finite ones, which JSON cannot hold).
    pub fn to_json(&self) -> String {
        let num = |v: f64| if v.is_finite() { v.to_string() } else { "null".to_string() };
        let opt = |v: Option<f32>| v.map_or_else(|| "null".to_string(), |v| num(v as f64));
        let items: Vec<String> = self
            .epochs
            .iter()
            .map(|e| {
                format!(
                    "{{\"epoch\": {}, \"train_loss\": {}, \"train_accuracy\": {}, \"validation_loss\": {}, \
                     \"validation_accuracy\": {}, \"train_seconds\": {}, \"learning_rate\": {}}}",
                    e.epoch,
                    num(e.train_loss as f64),
                    opt(e.train_accuracy),
                    opt(e.validation_loss),
                    opt(e.validation_accuracy),
                    num(e.train_seconds),
                    num(e.learning_rate as f64)
                )
            })
            .collect();
        format!("[{}]", items.join(", "))
    }
}

fn percent(value: Option<f32>) -> String {
    value.map_or_else(String::new, |v| format!("{:.2}%", 100.0 * v))
}

/// One line: `epoch 3/10  loss 0.1234  acc 96.10%  val_loss 0.1100  val_acc 96.70%  2.31 s`.
pub fn progress_line(record: &EpochRecord, epochs: usize) -> String {
    progress_line_labelled(record, epochs, "val")
}

/// [`progress_line`] with the evaluated data called `label` instead of `val`: `"test"` for
/// a test set watched as a benchmark (`test_loss 0.1100  test_acc 96.70%`).
///
/// ```
/// use percept_train::{EpochRecord, progress_line_labelled};
/// let record = EpochRecord { epoch: 3, train_loss: 0.1234, train_accuracy: Some(0.961),
///     validation_loss: Some(0.11), validation_accuracy: Some(0.967), train_seconds: 2.31, learning_rate: 0.1 };
/// assert_eq!(progress_line_labelled(&record, 10, "test"),
///     "epoch   3/10  loss 0.1234  acc  96.10%  test_loss 0.1100  test_acc  96.70%  2.31 s");
/// ```
pub fn progress_line_labelled(record: &EpochRecord, epochs: usize, label: &str) -> String {
    let mut line = format!("epoch {:>3}/{epochs}  loss {:.4}", record.epoch, record.train_loss);
    if record.train_accuracy.is_some() {
        line += &format!("  acc {:>7}", percent(record.train_accuracy));
    }
    if let Some(loss) = record.validation_loss {
        line += &format!("  {label}_loss {loss:.4}");
    }
    if record.validation_accuracy.is_some() {
        line += &format!("  {label}_acc {:>7}", percent(record.validation_accuracy));
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
