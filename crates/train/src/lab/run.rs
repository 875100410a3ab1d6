//! Training one configuration and measuring it, and the whole lab.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use percept_data::{Dataset, Labels};
use percept_linalg::argmax;
use percept_nn::{Loss, Mode, Sequential, SoftmaxCrossEntropy};
use percept_optim::{Optimizer, Sgd};

use super::records::Shared;
use super::results::{EpochResult, LabResults, LabSettings, Misclassified, RunResult};
use super::{Classifier, Configuration, LabConfig, LabData, LabError, LayerWatch, OneVsAll};
use crate::{BatchBuffers, ConfusionMatrix, EarlyStopping, FitConfig, Monitor, Trainer};

/// What [`run_lab`] wrote and measured.
#[derive(Clone, Debug)]
pub struct LabOutcome {
    /// Every number.
    pub results: LabResults,
    /// `REPORT.md` in the output folder.
    pub report: PathBuf,
    /// Every file written, the report first.
    pub files: Vec<PathBuf>,
}

/// Runs the lab as `config` asks: loads MNIST, splits its training images into training and
/// validation sets, trains every configuration of the grid (same optimizer, learning rate,
/// batch, epochs and seed), keeps each one's epoch of highest validation accuracy, measures
/// those weights once on the test set, and writes REPORT.md, results.json and the figures
/// into `config.out`.
///
/// # Errors
/// [`LabError`]: bad settings, data that cannot be read, training that fails (a loss that
/// turns NaN names its epoch and batch), a file that cannot be written.
pub fn run_lab(config: &LabConfig) -> Result<LabOutcome, LabError> {
    config.check()?;
    let started = Instant::now();
    if let Some(threads) = config.threads {
        percept_linalg::set_num_threads(threads)?;
    }
    let data = LabData::load(config)?;
    let grid = config.grid();
    let progress = Progress::new(config.progress, grid.len(), config.epochs);
    let mut runs = Vec::new();
    for (k, configuration) in grid.iter().enumerate() {
        let run = train_configuration(config, configuration, &data, &progress.for_run(k, configuration))?;
        progress.finished(k, &run);
        runs.push(run);
    }
    progress.clear();
    let best = LabResults::best_by_validation(&runs);
    let settings = LabSettings {
        data: config.data.display().to_string(),
        train_images: data.split.train.len(),
        validation_images: data.split.validation.len(),
        test_images: data.split.test.len(),
        epochs: config.epochs,
        batch_size: config.batch_size,
        optimizer: "SGD".into(),
        learning_rate: config.learning_rate,
        hidden: config.hidden.clone(),
        seed: config.seed,
        threads: percept_linalg::num_threads(),
    };
    let mut results = LabResults { settings, runs, best, wall_seconds: 0.0 };
    std::fs::create_dir_all(&config.out)
        .map_err(|source| LabError::Io { path: config.out.clone(), source })?;
    let figures =
        super::figures::write_figures(&results, &data.mnist.test, &config.out, config.misclassified_shown)?;
    results.wall_seconds = started.elapsed().as_secs_f64();
    let report = config.out.join("REPORT.md");
    let json = config.out.join("results.json");
    let text =
        serde_json::to_string_pretty(&results).map_err(|e| LabError::Config(format!("results.json: {e}")))?;
    super::write_atomically(&json, text.as_bytes())?;
    super::write_atomically(&report, super::report::report_markdown(&results, &figures).as_bytes())?;
    let mut files = vec![report.clone(), json];
    files.extend(figures.paths(&config.out));
    Ok(LabOutcome { results, report, files })
}

/// Trains `configuration` on the lab's training split, choosing its epoch on the validation
/// split, and measures the chosen weights once on the test images.
///
/// # Errors
/// As [`run_lab`].
pub fn train_configuration(
    config: &LabConfig,
    configuration: &Configuration,
    data: &LabData,
    progress: &RunProgress,
) -> Result<RunResult, LabError> {
    let (train, validation, test) = (data.train(), data.validation(), data.test());
    let classes = data.classes();
    let mut model = configuration.build(train.num_features(), &config.hidden, classes, config.seed)?;
    let watch = LayerWatch::new();
    watch.observe_initial(&mut model);
    // Keeps the weights of the epoch of highest validation accuracy and puts them back at
    // the end; with unbounded patience it never stops training early.
    let best = Rc::new(RefCell::new(EarlyStopping::new(Monitor::ValidationAccuracy, usize::MAX)));
    let mut trainer = Trainer::new(FitConfig {
        epochs: config.epochs,
        batch_size: config.batch_size,
        seed: config.seed,
        shuffle: true,
        verbose: false,
        // A last batch of one sample (2,401 images in batches of 32) takes a step as large
        // as a whole batch's on that one sample: in the quick lab, at learning rate 0.1, it
        // threw a 2-layer net from 88% to 54% training accuracy right before each
        // evaluation. Whole batches only (48,000 / 64 leaves none out).
        drop_last: true,
        // The lab holds its 48,000 / 12,000 split out itself (`LabSplit`).
        validation_split: 0.0,
    });
    trainer.callback(watch.clone()).callback(Shared(best.clone()));
    let epoch_progress = progress.clone();
    trainer.on_epoch(move |record| epoch_progress.epoch_done(record.epoch, record.validation_accuracy));
    let mut loss: Box<dyn Loss> = match configuration.classifier {
        Classifier::Softmax => Box::new(SoftmaxCrossEntropy::new()),
        Classifier::OneVsAll => Box::new(OneVsAll::new()),
    };
    let mut optimizer = Optimizer::new(Sgd::new(config.learning_rate));
    let history = trainer.fit(&mut model, loss.as_mut(), &mut optimizer, &train, Some(&validation))?;
    let (best_epoch, best_validation_accuracy) = best.borrow().best().ok_or_else(|| {
        LabError::Config(format!("{}: no epoch had a finite validation accuracy", configuration.name()))
    })?;
    // The model now holds the weights of `best_epoch`: measured once on the test set.
    let (confusion, misclassified) =
        measure_test(&mut model, &test, &data.split.test, classes, config.misclassified_shown)?;
    let log = watch.log();
    let epochs = history
        .epochs
        .iter()
        .zip(&log.epochs)
        .map(|(record, layers)| EpochResult {
            epoch: record.epoch,
            train_loss: record.train_loss,
            train_accuracy: record.train_accuracy.unwrap_or(f32::NAN),
            validation_loss: record.validation_loss.unwrap_or(f32::NAN),
            validation_accuracy: record.validation_accuracy.unwrap_or(f32::NAN),
            seconds: record.train_seconds,
            layers: layers.clone(),
        })
        .collect();
    Ok(RunResult {
        configuration: *configuration,
        name: configuration.name(),
        layers: log.layers,
        parameters: model.num_parameters(),
        epochs,
        initial_max_abs_weight: log.initial_max_abs_weight,
        best_epoch,
        best_validation_accuracy,
        test_accuracy: confusion.accuracy(),
        confusion: (0..classes).map(|t| (0..classes).map(|p| confusion.count(t, p)).collect()).collect(),
        misclassified,
        train_seconds: history.train_seconds(),
    })
}

/// The confusion matrix of `model` on `test`, and its first `keep` mistakes (`indices` maps
/// `test`'s samples to the test files).
fn measure_test(
    model: &mut Sequential,
    test: &dyn Dataset,
    indices: &[usize],
    classes: usize,
    keep: usize,
) -> Result<(ConfusionMatrix, Vec<Misclassified>), LabError> {
    let mut confusion = ConfusionMatrix::new(classes);
    let mut misclassified = Vec::new();
    let mut buffers = BatchBuffers::new();
    let all: Vec<usize> = (0..test.len()).collect();
    for block in all.chunks(1000) {
        let output = buffers.forward(model, test, block, Mode::Eval).map_err(crate::TrainError::from)?;
        let Labels::Classes(labels) = buffers.labels() else {
            return Err(LabError::Config("the test set has no classes".into()));
        };
        for (row, (&sample, &truth)) in block.iter().zip(labels).enumerate() {
            let predicted = argmax(output.row(row));
            confusion.add(truth, predicted);
            if predicted != truth && misclassified.len() < keep {
                misclassified.push(Misclassified { index: indices[sample], truth, predicted });
            }
        }
    }
    Ok((confusion, misclassified))
}

/// The lab's progress: a bar over every epoch of every configuration on a terminal, one
/// line per configuration elsewhere (logs, CI).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: bool,
    runs: usize,
}

impl Progress {
    fn new(show: bool, runs: usize, epochs: usize) -> Self {
        let terminal = show && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new((runs * epochs) as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "[{elapsed_precise}] [{bar:30}] {pos}/{len} epochs (eta {eta})  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self { bar, lines: show, runs }
    }

    fn for_run(&self, index: usize, configuration: &Configuration) -> RunProgress {
        RunProgress {
            bar: self.bar.clone(),
            label: format!("[{}/{}] {}", index + 1, self.runs, configuration.name()),
        }
    }

    fn finished(&self, index: usize, run: &RunResult) {
        if !self.lines {
            return;
        }
        let line = format!(
            "[{}/{}] {}: best validation accuracy {:.2}% at epoch {}, test {:.2}%, {:.1} s",
            index + 1,
            self.runs,
            run.name,
            100.0 * run.best_validation_accuracy,
            run.best_epoch,
            100.0 * run.test_accuracy,
            run.train_seconds
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The progress of one configuration's training (a handle on the lab's bar).
#[derive(Clone, Debug)]
pub struct RunProgress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl RunProgress {
    /// No progress display.
    pub fn hidden() -> Self {
        Self { bar: None, label: String::new() }
    }

    fn epoch_done(&self, epoch: usize, validation_accuracy: Option<f32>) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            let accuracy =
                validation_accuracy.map_or(String::new(), |a| format!(", validation {:.2}%", 100.0 * a));
            bar.set_message(format!("{}: epoch {epoch}{accuracy}", self.label));
        }
    }
}
