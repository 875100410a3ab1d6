//! The fit loop and evaluation.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use percept_data::{BatchOrder, Dataset, Labels, Subset, split_for_validation};
use percept_linalg::{Matrix, Par, SparseRows, argmax, for_each_row_range};
use percept_nn::{Loss, Mode, NnError, Parameters, SPARSE_INPUT_MAX_DENSITY, Sequential, Targets};
use percept_optim::{Optimizer, Schedule, Scheduler, UpdateRule, clip_grad_norm, clip_grad_value};

use crate::{
    BatchRecord, Callback, Checkpoint, Control, EpochRecord, History, SavedEpoch, SavedOrder, TrainError,
    progress::progress_bar, progress_line_labelled,
};

/// Settings of [`Trainer::fit`]. Build with struct-update syntax:
/// `FitConfig { epochs: 5, ..Default::default() }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch.
    pub batch_size: usize,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Reshuffle every epoch (`false` takes batches in order, as the lesson's `train_epoch`).
    pub shuffle: bool,
    /// Print one progress line per epoch.
    pub verbose: bool,
    /// Leave out the last, smaller batch of each epoch.
    pub drop_last: bool,
    /// Fraction of the training set held out for validation when [`Trainer::fit`] is given
    /// no validation set (0, the default, holds out nothing): a seeded split
    /// ([`percept_data::split_for_validation`], by `seed`), stratified by class, made before
    /// the first epoch; the model never trains on the held-out samples, and early stopping
    /// and plateau schedules watch them. Keras' `validation_split`.
    pub validation_split: f64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            shuffle: true,
            verbose: true,
            drop_last: false,
            validation_split: 0.0,
        }
    }
}

/// How far above its start the training loss may rise before [`Trainer::fit`] calls the run
/// diverged ([`Trainer::divergence_factor`]).
pub const DEFAULT_DIVERGENCE_FACTOR: f32 = 1000.0;

/// Loss and accuracy of a model on a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f32,
    /// Fraction classified correctly (classification data only).
    pub accuracy: Option<f32>,
}

/// A function called with each epoch's record.
pub type EpochCallback = Box<dyn FnMut(&EpochRecord)>;

/// Trains a [`Sequential`] with minibatch gradient descent and reports every epoch.
///
/// ```
/// use percept_data::{Classification, make_classification};
/// use percept_nn::{Linear, Sequential, SoftmaxCrossEntropy, Tanh, seeded_rng};
/// use percept_optim::{Optimizer, Sgd};
/// use percept_train::{FitConfig, Trainer};
///
/// let (train, test) = make_classification(&Classification::default()).split(0.8);
/// let mut rng = seeded_rng(0);
/// let mut model = Sequential::new();
/// model.add(Linear::new(2, 10, &mut rng))?.add(Tanh)?.add(Linear::new(10, 2, &mut rng))?;
/// let mut trainer = Trainer::new(FitConfig { epochs: 3, batch_size: 4, verbose: false, ..Default::default() });
/// let history = trainer.fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &train, Some(&test))?;
/// assert_eq!(history.epochs.len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer {
    config: FitConfig,
    on_epoch: Vec<EpochCallback>,
    callbacks: Vec<Box<dyn Callback>>,
    schedule: Option<(Schedule, StepEvery)>,
    checkpoint_path: Option<std::path::PathBuf>,
    resume: Option<Checkpoint>,
    class_names: Option<Vec<String>>,
    metadata: std::collections::BTreeMap<String, String>,
    clip: Clip,
    divergence_factor: Option<f32>,
    validation_label: String,
}

/// Gradient clipping before each step ([`Trainer::clip_grad_norm`], [`Trainer::clip_grad_value`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Clip {
    norm: Option<f32>,
    value: Option<f32>,
}

/// When a learning-rate schedule advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepEvery {
    /// After every epoch (PyTorch's usual `scheduler.step()` placement); a plateau schedule
    /// watches the validation loss, or the training loss without validation data.
    Epoch,
    /// After every batch (warm-up and one-cycle schedules are usually counted in batches); a
    /// plateau schedule watches the batch's loss.
    Batch,
}

impl Trainer {
    /// A trainer with the given settings.
    pub fn new(config: FitConfig) -> Self {
        Self {
            config,
            on_epoch: Vec::new(),
            callbacks: Vec::new(),
            schedule: None,
            checkpoint_path: None,
            resume: None,
            class_names: None,
            metadata: Default::default(),
            clip: Clip::default(),
            divergence_factor: Some(DEFAULT_DIVERGENCE_FACTOR),
            validation_label: "val".into(),
        }
    }

    /// Stops training with [`TrainError::Diverged`] when a batch's loss or an epoch's mean
    /// training loss rises above `factor` times the loss at the start of the run (the first
    /// batch's, or the first saved epoch's when resuming; at least 1), or when a parameter
    /// holds a NaN or an infinity after an epoch. A batch whose loss is NaN or infinite stops
    /// training at once ([`TrainError::NonFiniteLoss`]). Either way, the diverged epoch is
    /// never saved over the last checkpoint. The default factor is
    /// [`DEFAULT_DIVERGENCE_FACTOR`]; `None` keeps only the checks for NaN and infinity.
    pub fn divergence_factor(&mut self, factor: Option<f32>) -> &mut Self {
        self.divergence_factor = factor;
        self
    }

    /// What the progress lines call the data passed to [`Trainer::fit`] as `validation`:
    /// `"val"` (the default) for data held out of the training set, `"test"` for a test set
    /// that is watched as a benchmark, which must then choose nothing (no early stopping, no
    /// plateau schedule).
    pub fn validation_label(&mut self, label: impl Into<String>) -> &mut Self {
        self.validation_label = label.into();
        self
    }

    /// Runs `callback` during every [`Trainer::fit`] (after each batch and epoch, and at the
    /// end); callbacks run in the order they were added, and any can stop training.
    pub fn callback(&mut self, callback: impl Callback + 'static) -> &mut Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Saves a [`Checkpoint`] to `path` after every epoch (written to a temporary file and
    /// renamed, so a crash never destroys the previous one). [`Trainer::fit`] checks that the
    /// path can be written before the first epoch, and never saves an epoch in which
    /// training diverged ([`Trainer::divergence_factor`]).
    pub fn checkpoint_every_epoch(&mut self, path: impl Into<std::path::PathBuf>) -> &mut Self {
        self.checkpoint_path = Some(path.into());
        self
    }

    /// Names the model's output classes (`names[c]` is output `c`), as a CSV file's label
    /// texts name them ([`percept_data::CsvData::class_names`]): every checkpoint stores
    /// them ([`Checkpoint::class_names`]), so that whoever loads the model can report
    /// predictions by name and number a new file's labels as the model numbers them.
    /// Resuming from a checkpoint that names its classes otherwise is an error.
    pub fn class_names(&mut self, names: Vec<String>) -> &mut Self {
        self.class_names = Some(names);
        self
    }

    /// Rescales the gradients before every step so that their global L2 norm is at most
    /// `max_norm` (`torch.nn.utils.clip_grad_norm_`). The step then runs after the whole
    /// backward pass instead of inside it, since the norm needs every gradient first.
    pub fn clip_grad_norm(&mut self, max_norm: f32) -> &mut Self {
        self.clip.norm = Some(max_norm);
        self
    }

    /// Clamps every gradient value to `[-clip_value, clip_value]` before every step
    /// (`torch.nn.utils.clip_grad_value_`).
    pub fn clip_grad_value(&mut self, clip_value: f32) -> &mut Self {
        self.clip.value = Some(clip_value);
        self
    }

    /// Records a fact about the run in every checkpoint ([`Checkpoint::metadata`]): the data
    /// set's name under `"dataset"`, say, so that a server or `percept summary` can show it.
    /// A resumed run keeps the saved entries that are not set again.
    pub fn metadata(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Makes the next [`Trainer::fit`] continue the run saved in `checkpoint`: it loads the
    /// model's parameters and buffers, the optimizer's and the schedule's state, the batch
    /// order and the history, and trains the epochs after the saved one. With the same data,
    /// settings and loss, the result is bit for bit that of the uninterrupted run.
    pub fn resume(&mut self, checkpoint: Checkpoint) -> &mut Self {
        self.resume = Some(checkpoint);
        self
    }

    /// Changes the learning rate during [`Trainer::fit`] by `schedule`, started from the
    /// optimizer's learning rate at the start of the fit and stepped `every` epoch or batch.
    /// Each epoch's record shows the rate its first batch used.
    pub fn schedule(&mut self, schedule: Schedule, every: StepEvery) -> &mut Self {
        self.schedule = Some((schedule, every));
        self
    }

    /// The settings.
    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// Calls `callback` after every epoch, with that epoch's record.
    pub fn on_epoch(&mut self, callback: impl FnMut(&EpochRecord) + 'static) -> &mut Self {
        self.on_epoch.push(Box::new(callback));
        self
    }

    /// Trains `model` on `train` for the configured epochs, evaluating on `validation` after
    /// each (or on the part of `train` that [`FitConfig::validation_split`] holds out), and
    /// returns the history.
    ///
    /// Layers that wait for a run's seed ([`percept_nn::Dropout::new`]) are seeded from
    /// [`FitConfig::seed`] first ([`Sequential::seed_layers`]).
    ///
    /// # Errors
    /// [`TrainError`] when the data does not fit the model, the settings contradict each
    /// other, the checkpoint path cannot be written (found before the first epoch), the run
    /// diverges ([`Trainer::divergence_factor`]) or the progress cannot be printed.
    pub fn fit<R: UpdateRule>(
        &mut self,
        model: &mut Sequential,
        loss: &mut dyn Loss,
        optimizer: &mut Optimizer<R>,
        train: &dyn Dataset,
        validation: Option<&dyn Dataset>,
    ) -> Result<History, TrainError> {
        let config = self.config;
        let fraction = config.validation_split;
        if config.batch_size == 0 {
            return Err(TrainError::Config("FitConfig::batch_size must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&fraction) {
            return Err(TrainError::Config(format!(
                "FitConfig::validation_split is {fraction}; it must be at least 0 and below 1"
            )));
        }
        let held_out;
        let (train, validation): (&dyn Dataset, Option<&dyn Dataset>) = if fraction > 0.0 {
            if validation.is_some() {
                return Err(TrainError::Config(
                    "FitConfig::validation_split holds part of the training set out for validation, and a \
                     validation set was given too: use one or the other"
                        .into(),
                ));
            }
            let (kept, held) = split_for_validation(train, fraction, config.seed);
            if held.is_empty() || kept.is_empty() {
                return Err(TrainError::Config(format!(
                    "FitConfig::validation_split {fraction} of {} samples leaves {} for training and {} for \
                     validation; both need at least one",
                    train.len(),
                    kept.len(),
                    held.len()
                )));
            }
            held_out = (Subset::new(train, kept), Subset::new(train, held));
            (&held_out.0, Some(&held_out.1))
        } else {
            (train, validation)
        };
        check_data(model, train, "training")?;
        if let Some(validation) = validation {
            check_data(model, validation, "validation")?;
        }
        let clip = self.clip;
        if let Some(path) = &self.checkpoint_path {
            Checkpoint::check_writable(path).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        }
        model.seed_layers(config.seed);
        let mut order = if config.shuffle {
            BatchOrder::shuffled(train.len(), config.batch_size, config.seed)
        } else {
            BatchOrder::sequential(train.len(), config.batch_size)
        }
        .drop_last(config.drop_last);
        let mut step = StepBuffers::default();
        let mut history = History::default();
        let mut scheduler =
            self.schedule.clone().map(|(schedule, every)| (Scheduler::start(schedule, optimizer), every));
        let mut first_epoch = 1;
        if let Some(checkpoint) = self.resume.take() {
            let fail = |e: String| TrainError::Checkpoint(e);
            if let (Some(saved), Some(names)) = (&checkpoint.class_names, &self.class_names)
                && saved != names
            {
                return Err(fail(format!(
                    "the checkpoint's classes are {saved:?}, the training data's {names:?}"
                )));
            }
            if self.class_names.is_none() {
                self.class_names.clone_from(&checkpoint.class_names);
            }
            for (key, value) in &checkpoint.metadata {
                self.metadata.entry(key.clone()).or_insert_with(|| value.clone());
            }
            checkpoint.load_into(model).map_err(|e| fail(e.to_string()))?;
            optimizer.load_state(checkpoint.optimizer.clone(), model).map_err(|e| fail(e.to_string()))?;
            scheduler = match (scheduler.take(), checkpoint.scheduler.clone()) {
                (Some((_, every)), Some(saved)) => Some((saved, every)),
                (None, None) => None,
                _ => return Err(fail("the checkpoint's schedule does not match the trainer's".into())),
            };
            if let Some(saved) = &checkpoint.batch_order
                && !order.restore(&saved.to_state())
            {
                return Err(fail("the checkpoint's batch order does not fit this training set".into()));
            }
            history.epochs = checkpoint.history.iter().map(EpochRecord::from).collect();
            first_epoch = checkpoint.epoch + 1;
        }
        let mut stop = false;
        // The loss at the start of the run, against which divergence is measured.
        let mut start_loss = history.epochs.first().map(|e| e.train_loss);
        let divergence_factor = self.divergence_factor;
        // Kept across epochs: see `BatchBuffers::evaluate`.
        let mut validation_buffers = BatchBuffers::new();
        for epoch in first_epoch..=config.epochs {
            let learning_rate = optimizer.learning_rate();
            let started = Instant::now();
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            let batches_in_epoch = order.batches_per_epoch();
            let bar = config
                .verbose
                .then(|| progress_bar(epoch, config.epochs, batches_in_epoch, config.batch_size))
                .flatten();
            let mut batches = order.next_epoch().enumerate().peekable();
            while let Some((batch_index, batch)) = batches.next() {
                step.batch.forward(model, train, batch, Mode::Train)?;
                let sparse_input = model.takes_sparse_input();
                let batch_rate = optimizer.learning_rate();
                // The rest of the step: the loss, then the backward pass and update in one (each
                // parameter is updated as soon as its gradient is final, the same bits as
                // `backward` then `step`); meanwhile the next batch is gathered where the step
                // leaves a thread waiting.
                let output_grad = &mut step.output_grad;
                let mut rest = |labels: &Labels| -> Result<f32, TrainError> {
                    let output = model.output();
                    // The loss counts the correct rows on its way when it can (one pass, and
                    // one hand-over to a second thread, instead of two).
                    let (value, hits) =
                        loss.forward_backward_hits(output, targets_of(labels), output_grad)?;
                    if !value.is_finite() {
                        return Err(TrainError::NonFiniteLoss { epoch, batch: batch_index + 1, loss: value });
                    }
                    if let Some(reason) = exploded(value, start_loss, divergence_factor) {
                        let reason = format!("the loss of batch {} {reason}", batch_index + 1);
                        return Err(TrainError::Diverged { epoch, reason });
                    }
                    correct += hits.unwrap_or_else(|| count_correct(output, labels));
                    if clip == Clip::default() {
                        optimizer.backward_and_step(model, output_grad)?;
                    } else {
                        model.backward(output_grad)?;
                        if let Some(max_norm) = clip.norm {
                            clip_grad_norm(model, max_norm);
                        }
                        if let Some(clip_value) = clip.value {
                            clip_grad_value(model, clip_value);
                        }
                        optimizer.step(model);
                    }
                    Ok(value)
                };
                let value = match batches.peek() {
                    Some(&(_, next)) => step.batch.gather_next_during(sparse_input, train, next, rest),
                    None => rest(step.batch.labels()),
                }?;
                if let Some((scheduler, StepEvery::Batch)) = &mut scheduler {
                    scheduler.step_with_metric(value, optimizer);
                }
                start_loss.get_or_insert(value);
                loss_sum += value as f64 * batch.len() as f64;
                seen += batch.len();
                if let Some(bar) = &bar {
                    bar.inc(1);
                    if batch_index % 16 == 0 {
                        let accuracy = 100.0 * correct as f64 / seen.max(1) as f64;
                        bar.set_message(format!(
                            "loss {:.4}  acc {accuracy:.2}%",
                            loss_sum / seen.max(1) as f64
                        ));
                    }
                }
                if !self.callbacks.is_empty() {
                    let record = BatchRecord {
                        epoch,
                        batch: batch_index + 1,
                        batches: batches_in_epoch,
                        loss: value,
                        samples: batch.len(),
                        learning_rate: batch_rate,
                    };
                    for callback in &mut self.callbacks {
                        stop |= callback.on_step_end(&record, model) == Control::Stop;
                        stop |= callback.on_batch_end(&record) == Control::Stop;
                    }
                    if stop {
                        break;
                    }
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let train_seconds = started.elapsed().as_secs_f64();
            let train_loss = (loss_sum / seen.max(1) as f64) as f32;
            if let Some(reason) = divergence(model, train_loss, start_loss, divergence_factor) {
                return Err(TrainError::Diverged { epoch, reason });
            }
            let evaluation = match validation {
                Some(data) => Some(validation_buffers.evaluate(model, loss, data, 1024)?),
                None => None,
            };
            if let Some((scheduler, StepEvery::Epoch)) = &mut scheduler {
                scheduler.step_with_metric(evaluation.map_or(train_loss, |e| e.loss), optimizer);
            }
            let classification = train.num_classes().is_some();
            let record = EpochRecord {
                epoch,
                train_loss,
                train_accuracy: classification.then(|| correct as f32 / seen.max(1) as f32),
                validation_loss: evaluation.map(|e| e.loss),
                validation_accuracy: evaluation.and_then(|e| e.accuracy),
                train_seconds,
                learning_rate,
            };
            if config.verbose {
                let line = progress_line_labelled(&record, config.epochs, &self.validation_label);
                writeln!(std::io::stdout().lock(), "{line}")
                    .map_err(|e| TrainError::Output(e.to_string()))?;
            }
            for callback in &mut self.on_epoch {
                callback(&record);
            }
            for callback in &mut self.callbacks {
                stop |= callback.on_epoch_end(&record, model) == Control::Stop;
            }
            history.epochs.push(record);
            if let Some(path) = &self.checkpoint_path {
                let mut checkpoint = Checkpoint::of_model(model, optimizer.state())
                    .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
                checkpoint.scheduler = scheduler.as_ref().map(|(s, _)| s.clone());
                checkpoint.epoch = epoch;
                checkpoint.batch_order = Some(SavedOrder::from(&order.state()));
                checkpoint.history = history.epochs.iter().map(SavedEpoch::from).collect();
                checkpoint.class_names = self.class_names.clone();
                checkpoint.metadata = self.metadata.clone();
                checkpoint.save(path).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
            }
            if stop {
                break;
            }
        }
        for callback in &mut self.callbacks {
            callback.on_train_end(model, &history);
        }
        Ok(history)
    }
}

/// Reused per-step buffers: after the first batch, a step allocates nothing.
#[derive(Default)]
struct StepBuffers {
    batch: BatchBuffers,
    output_grad: Matrix,
}

/// Reused buffers for running a model on batches of a data set, as the fit loop and
/// [`evaluate`] do (for a loop of one's own, or inference): each batch is gathered in sparse
/// form when the data set can gather it so ([`Dataset::gather_sparse`], at the density below
/// which a first `Linear` layer would make a sparse copy itself) and the model's first layer
/// takes it, densely otherwise. The output is the same either way (and so is what `backward`
/// computes), without the dense copy of the batch. After the first batch of a given size,
/// nothing is allocated.
#[derive(Debug, Default)]
pub struct BatchBuffers {
    inputs: Matrix,
    sparse_inputs: SparseRows,
    labels: Labels,
    /// The batch [`BatchBuffers::gather_next_during`] gathered into `sparse_inputs` and
    /// `next_labels`, if it did (`next_ready`), and the address of its data set.
    next: Vec<usize>,
    next_data: usize,
    next_ready: bool,
    next_labels: Labels,
}

impl BatchBuffers {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`evaluate`] with these buffers: mean loss and accuracy of `model` on `data`, in
    /// evaluation mode, `batch_size` samples at a time. After a first call with a given batch
    /// size the buffers are allocated, and later calls only allocate the list of indices.
    ///
    /// Why keep them: fresh buffers are fresh memory, and the fit loop's evaluation of the
    /// 10,000 MNIST test images in batches of 1024 after each epoch took 760 page faults
    /// (3 MB touched for the first time) and 7.5 ms on two threads with buffers of its own,
    /// against no faults and 5.5 ms with kept ones (11.3 against 10.3 ms on one thread).
    ///
    /// # Errors
    /// [`TrainError`] when the data does not fit the model or the loss.
    pub fn evaluate(
        &mut self,
        model: &mut Sequential,
        loss: &mut dyn Loss,
        data: &dyn Dataset,
        batch_size: usize,
    ) -> Result<Evaluation, TrainError> {
        check_data(model, data, "evaluation")?;
        let mut order = BatchOrder::sequential(data.len(), batch_size.max(1));
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in order.next_epoch() {
            let output = self.forward(model, data, batch, Mode::Eval)?;
            loss_sum += loss.forward(output, targets_of(self.labels()))? as f64 * batch.len() as f64;
            correct += count_correct(output, self.labels());
        }
        let n = data.len() as f64;
        Ok(Evaluation {
            loss: (loss_sum / n) as f32,
            accuracy: data.num_classes().map(|_| (correct as f64 / n) as f32),
        })
    }

    /// Gathers `batch` (indices into `data`) and runs `model` on it in `mode`.
    ///
    /// # Errors
    /// As [`Sequential::forward`] (an input of the wrong width, a training batch too small).
    pub fn forward<'m>(
        &mut self,
        model: &'m mut Sequential,
        data: &dyn Dataset,
        batch: &[usize],
        mode: Mode,
    ) -> Result<&'m Matrix, NnError> {
        let ready =
            std::mem::take(&mut self.next_ready) && self.next == batch && self.next_data == address(data);
        if ready && model.takes_sparse_input() {
            std::mem::swap(&mut self.labels, &mut self.next_labels);
            return model.forward_sparse_swap(&mut self.sparse_inputs, mode);
        }
        if model.takes_sparse_input()
            && data.gather_sparse(batch, &mut self.sparse_inputs, &mut self.labels, SPARSE_INPUT_MAX_DENSITY)
        {
            return model.forward_sparse_swap(&mut self.sparse_inputs, mode);
        }
        data.gather(batch, &mut self.inputs, &mut self.labels);
        model.forward_swap(&mut self.inputs, mode)
    }

    /// The labels of the last batch.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Runs `main` with the labels of the last batch (the rest of a training step: loss,
    /// backward pass, update) while gathering `next` (the step after's batch) from `data` for
    /// the next [`BatchBuffers::forward`], where the data set can: on two threads, MNIST's
    /// images are compacted whenever one thread waits for the other during the step
    /// ([`Dataset::gather_sparse_during`]); other data sets prefetch `next` instead. Nothing
    /// changes in what `forward` computes; it finds the batch gathered when asked for `next`
    /// of the same `data`.
    ///
    /// `sparse_input` is whether the model takes its input in sparse form
    /// ([`Sequential::takes_sparse_input`]).
    pub fn gather_next_during<R>(
        &mut self,
        sparse_input: bool,
        data: &dyn Dataset,
        next: &[usize],
        main: impl FnOnce(&Labels) -> R,
    ) -> R {
        let Self { sparse_inputs, labels, next: next_batch, next_data, next_ready, next_labels, .. } = self;
        let mut main = Some(main);
        let mut result = None;
        let mut run = || result = main.take().map(|main| main(labels));
        if sparse_input {
            *next_ready = data.gather_sparse_during(
                next,
                sparse_inputs,
                next_labels,
                SPARSE_INPUT_MAX_DENSITY,
                &mut run,
            );
            next_batch.clear();
            next_batch.extend_from_slice(next);
            *next_data = address(data);
        } else {
            data.prefetch(next);
            run();
        }
        result.expect("gather_sparse_during runs `main` once")
    }
}

/// Why the run counts as diverged after an epoch whose mean training loss is `train_loss`,
/// if it does: a parameter that is NaN or infinite, or a loss that [`exploded`].
fn divergence(
    model: &mut Sequential,
    train_loss: f32,
    start_loss: Option<f32>,
    factor: Option<f32>,
) -> Option<String> {
    let mut bad = None;
    let mut index = 0;
    model.visit_parameters(&mut |p| {
        if bad.is_none() && p.value.as_slice().iter().any(|v| !v.is_finite()) {
            bad = Some(format!("parameter {index} ({}) holds NaN or infinite values", p.name));
        }
        index += 1;
    });
    if bad.is_some() {
        return bad;
    }
    if !train_loss.is_finite() {
        return Some(format!("the mean training loss is {train_loss}"));
    }
    exploded(train_loss, start_loss, factor).map(|reason| format!("the mean training loss {reason}"))
}

/// How `loss` exploded, if it is above `factor` times the loss at the start of the run (or
/// times 1, if that was lower: a run starting near 0 is not called diverged for a small rise).
fn exploded(loss: f32, start_loss: Option<f32>, factor: Option<f32>) -> Option<String> {
    let (Some(factor), Some(start)) = (factor, start_loss) else { return None };
    (loss > factor * start.max(1.0))
        .then(|| format!("rose to {loss:.4e}, more than {factor} times the {start:.4} of the start"))
}

/// Where a data set lies: which one a gathered batch came from.
fn address(data: &dyn Dataset) -> usize {
    std::ptr::from_ref(data).cast::<()>() as usize
}

fn check_data(model: &Sequential, data: &dyn Dataset, which: &'static str) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::EmptyDataset { which });
    }
    match model.in_features() {
        Some(expected) if expected != data.num_features() => {
            Err(TrainError::FeatureMismatch { which, features: data.num_features(), expected })
        }
        _ => Ok(()),
    }
}

/// The loss's view of a batch's labels.
pub fn targets_of(labels: &Labels) -> Targets<'_> {
    match labels {
        Labels::Classes(classes) => Targets::Classes(classes),
        Labels::Values(values) => Targets::Values(values),
    }
}

fn count_correct(output: &Matrix, labels: &Labels) -> usize {
    match labels {
        Labels::Classes(classes) => {
            // Split over threads for big batches: an integer count is the same in any order.
            let correct = AtomicUsize::new(0);
            let par = Par::current().above(output.len(), COUNT_PARALLEL_MIN_VALUES);
            for_each_row_range(par, output.rows(), &|rows| {
                let hits = rows.filter(|&i| argmax(output.row(i)) == classes[i]).count();
                correct.fetch_add(hits, Ordering::Relaxed);
            });
            correct.into_inner()
        }
        Labels::Values(_) => 0,
    }
}

/// Below this many outputs [`count_correct`] runs on one thread. A batch of 256 over 10
/// classes took 6.5 µs on one (about 2.5 ns an output), against about 0.3 µs to hand half
/// to a second thread.
const COUNT_PARALLEL_MIN_VALUES: usize = 1024;

/// Mean loss and accuracy of `model` on `data`, in evaluation mode, `batch_size` samples at a
/// time.
///
/// It gathers batches into buffers of its own, allocated afresh on each call; to evaluate
/// repeatedly (after every epoch, say), keep a [`BatchBuffers`] and call
/// [`BatchBuffers::evaluate`], as the fit loop does.
///
/// # Errors
/// [`TrainError`] when the data does not fit the model or the loss.
pub fn evaluate(
    model: &mut Sequential,
    loss: &mut dyn Loss,
    data: &dyn Dataset,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    BatchBuffers::new().evaluate(model, loss, data, batch_size)
}
