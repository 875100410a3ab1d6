//! Running a recipe: load the training data (and only it), hold out validation data, train,
//! keep the epoch the validation data chose, then measure the test set once and write the
//! checkpoint, history and plots.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use percept_data::{
    Augmentation, Augmented, Classification, CsvOptions, Dataset, FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEBIAN_DIR, ImageDataset, InMemoryDataset, LabelColumn, Labels, Mnist, Subset, Task,
    make_classification, read_csv, split_for_validation,
};
use percept_linalg::Matrix;
use percept_nn::{Normalization, Sequential, group_thousands};

use super::{LayerRecipe, MonitorKind, NormalizationKind, Recipe, RecipeError};
use crate::{
    BatchBuffers, Callback, Checkpoint, Control, EarlyStopping, EpochRecord, Evaluation, FitConfig, History,
    Monitor, SavedEpoch, TrainError, Trainer,
};

/// How [`Recipe::run`] reports, beyond what the recipe says.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Print the model, a progress line per epoch and the result.
    pub verbose: bool,
    /// A benchmark, not a choice: also measure the test set after every epoch
    /// ([`RecipeOutcome::test_curve`], printed as `test` when verbose), to time how soon a
    /// run reaches an accuracy. Nothing is chosen on it.
    pub test_every_epoch: bool,
    /// When the clock of [`TestPoint::seconds`] started (default: when `run` was called);
    /// a command passes its own start to count loading too.
    pub started: Option<Instant>,
    /// Continue the run saved in the recipe's checkpoint, if the file exists (its learning
    /// rate and schedule win over the recipe's, so that it goes on exactly as it was).
    pub resume: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { verbose: true, test_every_epoch: false, started: None, resume: false }
    }
}

/// The test set's figures after one epoch, in a run with [`RunOptions::test_every_epoch`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestPoint {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Seconds since [`RunOptions::started`] when the epoch's test evaluation ended.
    pub seconds: f64,
    /// Test accuracy (classification).
    pub accuracy: Option<f32>,
    /// Mean test loss.
    pub loss: f32,
}

/// What a recipe's run produced.
#[derive(Debug)]
pub struct RecipeOutcome {
    /// Every epoch trained.
    pub history: History,
    /// The epoch whose weights were kept: the best on validation data by the recipe's
    /// `monitor`, or the last without validation data.
    pub chosen_epoch: usize,
    /// Validation figures of the chosen epoch.
    pub validation: Option<Evaluation>,
    /// The test set's figures for the kept weights, measured once after training (none for a
    /// CSV file without `data.test`).
    pub test: Option<Evaluation>,
    /// Test figures after every epoch, when [`RunOptions::test_every_epoch`] asked for them.
    pub test_curve: Vec<TestPoint>,
    /// The trained model, with the chosen epoch's weights.
    pub model: Sequential,
    /// Where the checkpoint is.
    pub checkpoint: PathBuf,
    /// Every file written.
    pub outputs: Vec<PathBuf>,
    /// Wall time of the whole run, loading included.
    pub seconds: f64,
    /// Samples in the test set (0 without one).
    pub test_samples: usize,
    /// What the samples are: `"images"` or `"samples"`.
    pub test_noun: &'static str,
}

/// The training data a recipe names, and how to get its test set later.
enum Source {
    Images { train: ImageDataset, dir: PathBuf, name: String, class_names: Option<Vec<String>> },
    Table { train: InMemoryDataset, test: TestTable, name: String, class_names: Option<Vec<String>> },
}

/// A table's test set: already split off (the lesson's last 20 points), a file to read at the
/// end, or none.
enum TestTable {
    Ready(InMemoryDataset),
    File(PathBuf, CsvOptions),
    None,
}

impl Recipe {
    /// Trains as the recipe says and writes its outputs; see the module's documentation.
    ///
    /// # Errors
    /// [`RecipeError`]: the data is missing or bad, the model does not fit the data, training
    /// diverged, or an output could not be written. Nothing is written before the data has
    /// loaded and the model has been built.
    pub fn run(&self, options: &RunOptions) -> Result<RecipeOutcome, RecipeError> {
        self.run_unlocated(options).map_err(|error| self.located(error))
    }

    fn run_unlocated(&self, options: &RunOptions) -> Result<RecipeOutcome, RecipeError> {
        let started = options.started.unwrap_or_else(Instant::now);
        self.check()?;
        if let Some(threads) = self.training.threads {
            percept_linalg::set_num_threads(threads)
                .map_err(|e| RecipeError::invalid("training.threads", e.to_string()))?;
        }
        let source = self.load()?;
        let (train_all, dataset_name, class_names): (&dyn Dataset, &str, _) = match &source {
            Source::Images { train, name, class_names, .. } => (train, name, class_names.clone()),
            Source::Table { train, name, class_names, .. } => (train, name, class_names.clone()),
        };
        let classification = train_all.num_classes().is_some();
        let (train_indices, validation_indices) =
            split_for_validation(train_all, self.data.validation_split, self.training.seed);
        if train_indices.is_empty() {
            return Err(RecipeError::invalid("data.validation_split", "leaves no training sample"));
        }
        let train = Subset::new(train_all, train_indices);
        let validation = (!validation_indices.is_empty()).then(|| Subset::new(train_all, validation_indices));
        let outputs = output_count(train_all);

        let mut model = Sequential::new();
        if self.data.normalization == NormalizationKind::Standardize {
            let (features, _) = gather_all(&train);
            model.add(Normalization::adapted(&features)?)?;
        }
        self.add_layers(&mut model, train.num_features(), outputs)?;
        let augmentation = self.augmentation(train.num_features())?;

        let paths = self.output_paths();
        std::fs::create_dir_all(&paths.dir)
            .map_err(|source| RecipeError::Io { path: paths.dir.clone(), source })?;
        if options.verbose {
            say(&format!("{model}"))?;
            say(&match &validation {
                Some(held) => format!(
                    "{dataset_name}: training on {} samples, validation on {} held out of the training data",
                    train.len(),
                    held.len()
                ),
                None => format!("{dataset_name}: training on {} samples (no validation split)", train.len()),
            })?;
        }

        let mut loss = self.build_loss(classification);
        let mut optimizer = self.build_optimizer();
        let has_batch_norm = self.model.layers.iter().any(|l| matches!(l, LayerRecipe::BatchNorm { .. }));
        let config = FitConfig {
            epochs: self.training.epochs,
            batch_size: self.training.batch_size,
            seed: self.training.seed,
            shuffle: true,
            verbose: options.verbose,
            // Held out above, so that augmentation distorts the training part only.
            validation_split: 0.0,
            // A batch norm layer cannot train on a last batch of one sample.
            drop_last: has_batch_norm,
        };
        let mut trainer = Trainer::new(config);
        trainer.checkpoint_every_epoch(&paths.checkpoint);
        trainer.metadata("dataset", dataset_name).metadata("recipe", self.to_toml());
        if let Some(names) = &class_names {
            trainer.class_names(names.clone());
        }
        if options.resume && paths.checkpoint.exists() {
            let saved = Checkpoint::load(&paths.checkpoint)?;
            let rate = saved.optimizer.learning_rate;
            if options.verbose {
                say(&format!(
                    "resuming {} after epoch {}: learning rate {rate}, as saved",
                    paths.checkpoint.display(),
                    saved.epoch
                ))?;
            }
            let asked = optimizer.learning_rate();
            if asked != rate && saved.epoch > 0 {
                // Not an error: the saved run wins, so that it continues exactly as it was.
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "note: learning rate {asked} is not used: a resumed run goes on with the learning rate (and \
                     schedule) saved in {} ({rate}); start a new run to change it",
                    paths.checkpoint.display()
                );
            }
            trainer.resume(saved);
        }
        let batches = train.len().div_ceil(self.training.batch_size);
        if let Some((schedule, every)) = self.build_schedule(batches) {
            trainer.schedule(schedule, every);
        }
        if let Some(norm) = self.training.clip_grad_norm {
            trainer.clip_grad_norm(norm);
        }
        if let Some(value) = self.training.clip_grad_value {
            trainer.clip_grad_value(value);
        }
        let monitor = match self.training.monitor {
            MonitorKind::ValidationLoss => Monitor::ValidationLoss,
            MonitorKind::ValidationAccuracy => Monitor::ValidationAccuracy,
        };
        if validation.is_some() {
            // Keeps the best epoch's weights; stops early only when the recipe asks.
            let patience = self.training.early_stopping.unwrap_or(usize::MAX);
            trainer.callback(EarlyStopping::new(monitor, patience));
        }
        #[cfg(feature = "plot")]
        let watch = crate::WeightWatch::new();
        #[cfg(feature = "plot")]
        if self.output.plots.unwrap_or(true) {
            watch.observe(0, &mut model);
            trainer.callback(watch.clone());
        }
        let test_curve = Rc::new(RefCell::new(Vec::new()));
        if options.test_every_epoch {
            let test = self.load_test(&source)?;
            trainer.callback(TestEachEpoch {
                test,
                loss: self.build_loss(classification),
                buffers: BatchBuffers::new(),
                started,
                verbose: options.verbose,
                points: Rc::clone(&test_curve),
            });
        }

        let fitted = match augmentation {
            Some(augmentation) => {
                let augmented = Augmented::new(&train, augmentation, self.training.seed);
                trainer.fit(
                    &mut model,
                    loss.as_mut(),
                    &mut optimizer,
                    &augmented,
                    validation.as_ref().map(|v| v as &dyn Dataset),
                )
            }
            None => trainer.fit(
                &mut model,
                loss.as_mut(),
                &mut optimizer,
                &train,
                validation.as_ref().map(|v| v as &dyn Dataset),
            ),
        };
        let history = match fitted {
            Ok(history) => history,
            Err(error @ (TrainError::Diverged { .. } | TrainError::NonFiniteLoss { .. })) => {
                let kept = match Checkpoint::load(&paths.checkpoint) {
                    Ok(saved) => format!(
                        "{} was not overwritten: it holds the model after epoch {} of its run",
                        paths.checkpoint.display(),
                        saved.epoch
                    ),
                    Err(_) => format!("no checkpoint was written to {}", paths.checkpoint.display()),
                };
                return Err(RecipeError::Diverged {
                    source: error,
                    kept,
                    learning_rate: optimizer.learning_rate(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        if history.epochs.is_empty() {
            return Err(RecipeError::invalid(
                "training.epochs",
                format!(
                    "nothing to train: {} already holds {} epochs",
                    paths.checkpoint.display(),
                    self.training.epochs
                ),
            ));
        }
        let chosen_epoch = chosen_epoch(&history, monitor, validation.is_some());
        let chosen = history.epochs.iter().find(|e| e.epoch == chosen_epoch);
        let validation_figures = chosen
            .and_then(|e| e.validation_loss.map(|loss| Evaluation { loss, accuracy: e.validation_accuracy }));

        // The test set, read and measured once, with the kept weights.
        let mut test_samples = 0;
        let test = match self.load_test(&source)? {
            Some(test) => {
                test_samples = test.len();
                Some(BatchBuffers::new().evaluate(&mut model, loss.as_mut(), test.as_ref(), 1024)?)
            }
            None => None,
        };
        // The last epoch's checkpoint keeps the run's state (optimizer, schedule, batch order)
        // for `--resume`; its weights become the kept epoch's, which the test measured.
        let mut checkpoint = Checkpoint::load(&paths.checkpoint)?;
        let kept = Checkpoint::of_model(&mut model, checkpoint.optimizer.clone())?;
        checkpoint.parameters = kept.parameters;
        checkpoint.buffers = kept.buffers;
        checkpoint.history = history.epochs.iter().map(SavedEpoch::from).collect();
        checkpoint.class_names = class_names;
        let metadata = &mut checkpoint.metadata;
        metadata.insert("dataset".into(), dataset_name.to_string());
        metadata.insert("recipe".into(), self.to_toml());
        metadata.insert("chosen_epoch".into(), chosen_epoch.to_string());
        metadata.insert("weights".into(), format!("epoch {chosen_epoch}, chosen on validation data"));
        if let Some(accuracy) = validation_figures.and_then(|v| v.accuracy) {
            metadata.insert("validation_accuracy".into(), accuracy.to_string());
        }
        if let Some(test) = &test {
            metadata.insert("test_loss".into(), test.loss.to_string());
            if let Some(accuracy) = test.accuracy {
                metadata.insert("test_accuracy".into(), accuracy.to_string());
            }
        }
        checkpoint.save(&paths.checkpoint)?;
        let mut written = vec![paths.checkpoint.clone()];
        if self.output.history.unwrap_or(true) {
            for (name, text) in [("history.csv", history.to_csv()), ("history.json", history.to_json())] {
                let path = paths.dir.join(name);
                std::fs::write(&path, text)
                    .map_err(|source| RecipeError::Io { path: path.clone(), source })?;
                written.push(path);
            }
        }
        #[cfg(feature = "plot")]
        if self.output.plots.unwrap_or(true) {
            let (curves, weights) = (paths.dir.join("curves.svg"), paths.dir.join("weights.svg"));
            crate::plot_history(&history, &curves)?;
            watch.plot(&weights)?;
            written.extend([curves, weights]);
        }
        let outcome = RecipeOutcome {
            history,
            chosen_epoch,
            validation: validation_figures,
            test,
            test_curve: test_curve.take(),
            model,
            checkpoint: paths.checkpoint,
            outputs: written,
            seconds: started.elapsed().as_secs_f64(),
            test_samples,
            test_noun: if matches!(source, Source::Images { .. }) { "images" } else { "samples" },
        };
        if options.verbose {
            say(&outcome.summary())?;
        }
        Ok(outcome)
    }

    fn load(&self) -> Result<Source, RecipeError> {
        let dataset = self.data.dataset.trim();
        let missing = |message: String| RecipeError::invalid("data.dataset", message);
        match dataset {
            "mnist" => {
                let dir = bundled_mnist().ok_or_else(|| {
                    missing("no datasets/mnist here: run from percept's repository root, or give the folder's path".into())
                })?;
                let names = Some((0..10).map(|d| d.to_string()).collect());
                Ok(Source::Images {
                    train: Mnist::load_train(&dir)?,
                    dir,
                    name: "mnist".into(),
                    class_names: names,
                })
            }
            "fashion-mnist" => {
                let dir = PathBuf::from(FASHION_MNIST_DEBIAN_DIR);
                if !dir.is_dir() {
                    return Err(missing(format!(
                        "Fashion-MNIST is not installed: `apt-get install dataset-fashion-mnist` puts it in \
                         {FASHION_MNIST_DEBIAN_DIR}, or give the path of a folder with its four IDX files"
                    )));
                }
                let names = Some(FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect());
                Ok(Source::Images {
                    train: Mnist::load_train(&dir)?,
                    dir,
                    name: "fashion-mnist".into(),
                    class_names: names,
                })
            }
            "lesson" => {
                let (train, test) = make_classification(&Classification::default()).split(0.8);
                Ok(Source::Table {
                    train,
                    test: TestTable::Ready(test),
                    name: "lesson".into(),
                    class_names: None,
                })
            }
            path => {
                let path = PathBuf::from(path);
                if path.is_dir() {
                    // MNIST and Fashion-MNIST are recognised by their first labels, wherever
                    // they are; other sets are named by their folder.
                    let train = Mnist::load_train(&path)?;
                    let known = Mnist::recognise(&train);
                    let name = known.map_or_else(|| path.display().to_string(), str::to_string);
                    let class_names = known.and_then(Mnist::class_names_of);
                    return Ok(Source::Images { train, dir: path, name, class_names });
                }
                if !path.is_file() {
                    return Err(missing(format!(
                        "{}: no such file or folder (name \"mnist\", \"fashion-mnist\", \"lesson\", an IDX folder or a CSV file)",
                        path.display()
                    )));
                }
                let options = CsvOptions {
                    label: self
                        .data
                        .label
                        .as_deref()
                        .map_or(LabelColumn::Last, LabelColumn::from_name_or_index),
                    task: if self.data.regression { Task::Regression } else { Task::Classification },
                    ..Default::default()
                };
                let file = read_csv(&path, &options)?;
                let test = match &self.data.test {
                    Some(test) if !test.is_file() => {
                        return Err(RecipeError::invalid(
                            "data.test",
                            format!("{}: no such file", test.display()),
                        ));
                    }
                    Some(test) => TestTable::File(test.clone(), options),
                    None => TestTable::None,
                };
                Ok(Source::Table {
                    train: file.dataset,
                    test,
                    name: path
                        .file_name()
                        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into()),
                    class_names: file.class_names,
                })
            }
        }
    }

    /// The test set of `source`, read now.
    fn load_test(&self, source: &Source) -> Result<Option<Box<dyn Dataset>>, RecipeError> {
        Ok(match source {
            Source::Images { dir, .. } => Some(Box::new(Mnist::load_test(dir)?)),
            Source::Table { test: TestTable::Ready(test), .. } => Some(Box::new(test.clone())),
            Source::Table { test: TestTable::File(path, options), class_names, .. } => {
                let file = read_csv(path, options)?;
                Some(Box::new(match class_names {
                    Some(names) => file.numbered_as(names, path)?,
                    None => file.dataset,
                }))
            }
            Source::Table { test: TestTable::None, .. } => None,
        })
    }

    fn augmentation(&self, features: usize) -> Result<Option<Augmentation>, RecipeError> {
        let Some(recipe) = &self.data.augmentation else { return Ok(None) };
        let side = (features as f64).sqrt().round() as usize;
        if side * side != features {
            return Err(RecipeError::invalid(
                "data.augmentation",
                format!("distorts square images, but the samples have {features} features"),
            ));
        }
        Ok(Some(Augmentation {
            side,
            max_shift: recipe.max_shift,
            max_degrees: recipe.max_degrees,
            elastic: recipe.elastic.map(|e| (e.alpha, e.sigma)),
        }))
    }

    fn output_paths(&self) -> OutputPaths {
        let dir = self.output.dir.clone().unwrap_or_else(|| Path::new("runs").join(self.title()));
        let checkpoint = self.output.checkpoint.clone().unwrap_or_else(|| dir.join("model.ckpt"));
        OutputPaths { dir, checkpoint }
    }
}

impl RecipeOutcome {
    /// What a run reports at its end: the last epoch's figures, the kept epoch, the test
    /// figures (measured once) and the checkpoint.
    pub fn summary(&self) -> String {
        let Some(last) = self.history.last() else {
            return format!("checkpoint {}", self.checkpoint.display());
        };
        let mut text = format!("trained {} epochs: training loss {:.4}", last.epoch, last.train_loss);
        if let Some(accuracy) = last.train_accuracy {
            text += &format!(", accuracy {:.2}%", 100.0 * accuracy);
        }
        if let Some(loss) = last.validation_loss {
            text += &format!("; validation loss {loss:.4}");
        }
        if let Some(accuracy) = last.validation_accuracy {
            text += &format!(", validation accuracy {:.2}%", 100.0 * accuracy);
        }
        if self.validation.is_some() {
            text += &format!("; kept epoch {}, the best on validation", self.chosen_epoch);
        }
        if let Some(test) = &self.test {
            text += &format!("\ntest: loss {:.4}", test.loss);
            if let Some(accuracy) = test.accuracy {
                text += &format!(", accuracy {:.2}%", 100.0 * accuracy);
            }
            text += &format!(
                " on the {} test {} (measured once, after training)",
                group_thousands(self.test_samples),
                self.test_noun
            );
        }
        text + &format!("\n{:.1} s; checkpoint {}", self.seconds, self.checkpoint.display())
    }
}

/// Writes a line to standard output; a closed or full output is an error, not a panic.
fn say(line: &str) -> Result<(), RecipeError> {
    writeln!(std::io::stdout().lock(), "{line}")
        .map_err(|e| RecipeError::Train(TrainError::Output(e.to_string())))
}

struct OutputPaths {
    dir: PathBuf,
    checkpoint: PathBuf,
}

/// The bundled MNIST: `datasets/mnist` below the current folder, or in the repository this
/// crate was built from.
fn bundled_mnist() -> Option<PathBuf> {
    let here = PathBuf::from("datasets/mnist");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    [here, repository].into_iter().find(|dir| dir.is_dir())
}

/// The epoch whose weights [`EarlyStopping`] keeps: the first with the best monitored figure.
fn chosen_epoch(history: &History, monitor: Monitor, validation: bool) -> usize {
    let last = history.last().map_or(0, |e| e.epoch);
    if !validation {
        return last;
    }
    let figure = |e: &EpochRecord| match monitor {
        Monitor::ValidationAccuracy => e.validation_accuracy.map(|a| -a),
        _ => e.validation_loss,
    };
    let mut best: Option<(usize, f32)> = None;
    for epoch in &history.epochs {
        if let Some(value) = figure(epoch).filter(|v| v.is_finite())
            && best.is_none_or(|(_, b)| value < b)
        {
            best = Some((epoch.epoch, value));
        }
    }
    best.map_or(last, |(epoch, _)| epoch)
}

fn gather_all(data: &dyn Dataset) -> (Matrix, Labels) {
    let all: Vec<usize> = (0..data.len()).collect();
    let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
    data.gather(&all, &mut inputs, &mut labels);
    (inputs, labels)
}

/// Classes, or the number of regression targets.
fn output_count(data: &dyn Dataset) -> usize {
    data.num_classes().unwrap_or_else(|| {
        let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
        data.gather(&[0], &mut inputs, &mut labels);
        match labels {
            Labels::Values(values) => values.cols(),
            Labels::Classes(_) => 1,
        }
    })
}

/// Measures the test set after every epoch, for [`RunOptions::test_every_epoch`]; chooses
/// nothing.
struct TestEachEpoch {
    test: Option<Box<dyn Dataset>>,
    loss: Box<dyn percept_nn::Loss>,
    buffers: BatchBuffers,
    started: Instant,
    verbose: bool,
    points: Rc<RefCell<Vec<TestPoint>>>,
}

impl Callback for TestEachEpoch {
    fn on_epoch_end(&mut self, record: &EpochRecord, model: &mut Sequential) -> Control {
        let Some(test) = &self.test else { return Control::Continue };
        if let Ok(evaluation) = self.buffers.evaluate(model, self.loss.as_mut(), test.as_ref(), 1024) {
            let seconds = self.started.elapsed().as_secs_f64();
            if self.verbose {
                let accuracy = evaluation
                    .accuracy
                    .map_or_else(String::new, |a| format!("  test_acc {:6.2}%", 100.0 * a));
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "epoch {:>3}  test_loss {:.4}{accuracy}  ({seconds:.1} s since start; chooses nothing)",
                    record.epoch,
                    evaluation.loss
                );
            }
            self.points.borrow_mut().push(TestPoint {
                epoch: record.epoch,
                seconds,
                accuracy: evaluation.accuracy,
                loss: evaluation.loss,
            });
        }
        Control::Continue
    }
}
