//! Callbacks: user code run during [`crate::Trainer::fit`], and early stopping.

use percept_nn::{Buffer, Parameters, Sequential};

use crate::{EpochRecord, History};

/// Whether training goes on after a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after this batch or epoch (the history keeps what was done).
    Stop,
}

/// The figures of one training batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchRecord {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Batch within the epoch, from 1.
    pub batch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// The batch's mean loss.
    pub loss: f32,
    /// Samples in the batch.
    pub samples: usize,
    /// The learning rate the batch used.
    pub learning_rate: f32,
}

/// Code run by [`crate::Trainer::fit`] after every batch and epoch; every method has a
/// default that does nothing. Return [`Control::Stop`] to end training early.
pub trait Callback {
    /// After each training batch (its optimizer step done).
    fn on_batch_end(&mut self, batch: &BatchRecord) -> Control {
        let _ = batch;
        Control::Continue
    }

    /// After each training batch, before [`Callback::on_batch_end`], with the model: its
    /// parameters updated by the step, and each parameter's `grad` still holding the gradient
    /// the step used (the fused backward pass and update leaves it there, the first layer's
    /// included). For statistics of the gradients, such as the lab's norm of each layer's
    /// weight gradient per step; anything done here runs every batch, so keep it cheap.
    fn on_step_end(&mut self, batch: &BatchRecord, model: &mut Sequential) -> Control {
        let _ = (batch, model);
        Control::Continue
    }

    /// After each epoch and its evaluation, with the model as it is then.
    fn on_epoch_end(&mut self, record: &EpochRecord, model: &mut Sequential) -> Control {
        let _ = (record, model);
        Control::Continue
    }

    /// Once, when training ends (normally, or stopped by a callback).
    fn on_train_end(&mut self, model: &mut Sequential, history: &History) {
        let _ = (model, history);
    }
}

/// The figure [`EarlyStopping`] watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Validation loss (lower is better); the training loss when there is no validation set.
    ValidationLoss,
    /// Validation accuracy (higher is better).
    ValidationAccuracy,
    /// Training loss (lower is better).
    TrainLoss,
}

/// Stops training when the monitored figure has not improved by more than `min_delta` for
/// `patience` epochs, and, with `restore_best`, puts back the parameters of the best epoch
/// (Keras' `EarlyStopping(restore_best_weights=True)`), with the layers' non-trainable values
/// of that epoch (a `BatchNorm1d`'s running statistics, which Keras restores too; random
/// generators, such as a `Dropout`'s, go on from where they are).
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    /// What to watch.
    pub monitor: Monitor,
    /// Epochs without improvement tolerated.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f32,
    /// Restore the best epoch's parameters at the end.
    pub restore_best: bool,
    best: Option<(usize, f32)>,
    waited: usize,
    best_parameters: Vec<Vec<f32>>,
    best_buffers: Vec<Vec<f32>>,
}

impl EarlyStopping {
    /// Watches `monitor` with the given patience, no minimum improvement, restoring the best
    /// parameters.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        Self {
            monitor,
            patience,
            min_delta: 0.0,
            restore_best: true,
            best: None,
            waited: 0,
            best_parameters: Vec::new(),
            best_buffers: Vec::new(),
        }
    }

    /// The best epoch and its figure so far.
    pub fn best(&self) -> Option<(usize, f32)> {
        self.best
    }

    fn figure(&self, record: &EpochRecord) -> Option<(f32, bool)> {
        match self.monitor {
            Monitor::ValidationLoss => Some((record.validation_loss.unwrap_or(record.train_loss), false)),
            Monitor::ValidationAccuracy => record.validation_accuracy.map(|a| (a, true)),
            Monitor::TrainLoss => Some((record.train_loss, false)),
        }
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, record: &EpochRecord, model: &mut Sequential) -> Control {
        let Some((value, higher_is_better)) = self.figure(record) else { return Control::Continue };
        let improved = match self.best {
            None => value.is_finite(),
            Some((_, best)) if higher_is_better => value > best + self.min_delta,
            Some((_, best)) => value < best - self.min_delta,
        };
        if improved {
            self.best = Some((record.epoch, value));
            self.waited = 0;
            if self.restore_best {
                let mut copies = std::mem::take(&mut self.best_parameters).into_iter();
                let mut saved = Vec::new();
                model.visit_parameters(&mut |p| {
                    let mut copy = copies.next().unwrap_or_default();
                    copy.clear();
                    copy.extend_from_slice(p.value.as_slice());
                    saved.push(copy);
                });
                self.best_parameters = saved;
                let mut copies = std::mem::take(&mut self.best_buffers).into_iter();
                let mut saved = Vec::new();
                model.visit_buffers(&mut |buffer| {
                    if let Buffer::Values { values, .. } = buffer {
                        let mut copy = copies.next().unwrap_or_default();
                        copy.clone_from(values);
                        saved.push(copy);
                    }
                });
                self.best_buffers = saved;
            }
            return Control::Continue;
        }
        self.waited += 1;
        if self.waited >= self.patience { Control::Stop } else { Control::Continue }
    }

    fn on_train_end(&mut self, model: &mut Sequential, _history: &History) {
        if !self.restore_best || self.best_parameters.is_empty() {
            return;
        }
        let mut saved = self.best_parameters.iter();
        model.visit_parameters(&mut |p| {
            if let Some(values) = saved.next()
                && values.len() == p.value.len()
            {
                p.value.as_mut_slice().copy_from_slice(values);
            }
        });
        let mut saved = self.best_buffers.iter();
        model.visit_buffers(&mut |buffer| {
            if let Buffer::Values { values, .. } = buffer
                && let Some(best) = saved.next()
                && best.len() == values.len()
            {
                values.copy_from_slice(best);
            }
        });
    }
}
