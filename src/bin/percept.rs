//! `percept`: train, evaluate, predict, export and inspect models without writing a program.
//!
//! ```text
//! percept train --data datasets/mnist --hidden 128 --epochs 3 --checkpoint mnist.ckpt
//! percept eval --model mnist.ckpt --data datasets/mnist
//! percept predict --model mnist.ckpt digit.png
//! percept predict --model moons.ckpt new_points.csv --out predictions.csv
//! percept export --model mnist.ckpt --out mnist.safetensors
//! percept summary --model mnist.ckpt
//! percept lab --quick          # the lesson's MNIST lab, answered in lab-report/REPORT.md
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use percept::data::{
    CsvData, CsvOptions, InMemoryDataset, LabelColumn, Mnist, Subset, Task, read_csv, read_csv_features,
    read_idx, split_for_validation,
};
use percept::linalg::{Matrix, softmax_row};
use percept::optim::{OptimizerKind, Plateau};
use percept::prelude::*;
use percept::train::{
    Checkpoint, ConfusionMatrix, EarlyStopping, Monitor, export_safetensors, mean_absolute_error,
    mean_squared_error,
};
use serde::{Deserialize, Deserializer};

type Error = Box<dyn std::error::Error>;

/// Prints a line to standard output; a line that cannot be written (`> /dev/full`) is an
/// error of the command (`println!` would panic). A closed pipe (`| head`) ends the process
/// quietly through SIGPIPE (see `main`).
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(|e| format!("writing to standard output: {e}"))?
    };
}

/// Prints a note to standard error (which nothing can stop: a note that cannot be written
/// is dropped).
macro_rules! note {
    ($($arg:tt)*) => {
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    };
}

#[derive(Parser)]
#[command(name = "percept", version, about = "Train and use feed-forward networks from the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on an IDX directory (MNIST-style) or a CSV file; saves a checkpoint.
    Train(TrainArgs),
    /// Accuracy and confusion matrix (or MSE and MAE) of a checkpoint on a data set.
    Eval(EvalArgs),
    /// Classify a PNG or PGM image of a digit or every image of an IDX file, or predict every
    /// row of a CSV file.
    Predict(PredictArgs),
    /// Write a checkpoint's weights as safetensors with PyTorch's state_dict names.
    Export(ExportArgs),
    /// Print a checkpoint's layers, shapes and parameter counts.
    Summary(SummaryArgs),
    /// Run the lesson's MNIST lab (depth × activation, one-vs-all) and write a report.
    Lab(LabArgs),
}

/// Training settings: every flag can also come from a TOML file (`--config`) with the same
/// names (`early_stopping` or `early-stopping`; `hidden = "128,64"` or `[128, 64]`); flags
/// given on the command line win.
#[derive(Args, Deserialize, Default, Clone)]
#[serde(default, deny_unknown_fields)]
struct TrainArgs {
    /// TOML file with any of these settings.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// An IDX directory with MNIST's four file names, or a CSV file.
    #[arg(long)]
    data: Option<PathBuf>,
    /// CSV label column: a header name or a 0-based index (default: the last column).
    #[arg(long)]
    label: Option<String>,
    /// CSV only: the label is a number to predict (regression) instead of a class.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    regression: Option<bool>,
    /// Standardize the features: a first `Normalization` layer, fitted to the training set's
    /// mean and variance, saved with the model (so eval and predict apply it too).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    standardize: Option<bool>,
    /// Hidden layer sizes, e.g. 128,64 (empty for none).
    #[arg(long)]
    #[serde(deserialize_with = "hidden_sizes")]
    hidden: Option<String>,
    /// Activation after each hidden layer.
    #[arg(long, value_enum)]
    activation: Option<ActivationKind>,
    /// Loss (default: cross-entropy for classes, mse for regression).
    #[arg(long, value_enum)]
    loss: Option<LossKind>,
    /// Optimizer: sgd (default), momentum, nesterov, adam, adamw, rmsprop, adagrad.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(OptimizerKind::NAMES).map(|s| s.parse::<OptimizerKind>().expect("a listed name")))]
    optimizer: Option<OptimizerKind>,
    /// Learning rate (default 0.1 for SGD variants, 0.001 for the adaptive ones). A resumed
    /// run keeps the rate (and schedule) saved in its checkpoint.
    #[arg(long, value_parser = positive_number)]
    #[serde(deserialize_with = "positive")]
    lr: Option<f32>,
    /// Momentum for momentum and nesterov (default 0.9), and for rmsprop (default none).
    #[arg(long, value_parser = non_negative_number)]
    #[serde(deserialize_with = "non_negative")]
    momentum: Option<f32>,
    /// Weight decay.
    #[arg(long, value_parser = non_negative_number)]
    #[serde(alias = "weight-decay", deserialize_with = "non_negative")]
    weight_decay: Option<f32>,
    /// Learning-rate schedule, stepped per epoch: cosine annealing to 0, a tenfold decay
    /// every third of the run, or plateau (a tenfold cut when the validation loss has not
    /// improved for 2 epochs, as PyTorch's ReduceLROnPlateau).
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    /// Epochs (default 10).
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size (default 64).
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of initialization, shuffling and the validation split (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Checkpoint written after every epoch (default model.ckpt).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint file if it exists.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    resume: Option<bool>,
    /// Stop after this many epochs without a better validation loss, keeping the best.
    #[arg(long)]
    #[serde(alias = "early-stopping")]
    early_stopping: Option<usize>,
    /// Fraction of the training data held out for validation (default 0.1 with
    /// --early-stopping or --schedule plateau, which choose on it; none otherwise). An IDX
    /// directory's test files are read only after training, and measured once.
    #[arg(long, alias = "validation", value_parser = fraction)]
    #[serde(alias = "validation-split", alias = "validation", deserialize_with = "fraction_setting")]
    validation_split: Option<f64>,
    /// Only the final result.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    quiet: Option<bool>,
    /// Write the training curves (loss and accuracy per epoch) to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum ActivationKind {
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
    Silu,
}

#[derive(Clone, Copy, Debug, ValueEnum, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum LossKind {
    CrossEntropy,
    Mse,
    Mae,
    Huber,
}

#[derive(Clone, Copy, Debug, ValueEnum, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum ScheduleKind {
    None,
    Cosine,
    Step,
    Plateau,
}

#[derive(Args)]
struct EvalArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// An IDX directory (its test files are used) or a CSV file.
    #[arg(long)]
    data: PathBuf,
    /// CSV label column (name or 0-based index; default the last).
    #[arg(long)]
    label: Option<String>,
    /// CSV only: regression targets.
    #[arg(long)]
    regression: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// A PNG or PGM image (grey or colour, any bit depth PNG decodes to 8 bits), an IDX file
    /// of images, or a CSV file with a header and one sample per row (with or without its
    /// label column).
    input: PathBuf,
    /// Invert the grey levels (for dark digits on a light background; MNIST is light on
    /// dark).
    #[arg(long)]
    invert: bool,
    /// CSV only: the label column to leave out (name or 0-based index). Without it, a file
    /// with one column more than the model's inputs has its last column left out.
    #[arg(long)]
    label: Option<String>,
    /// Print the model's outputs as values (regression) instead of class probabilities
    /// (implied for a model with one output).
    #[arg(long)]
    regression: bool,
    /// Also write every prediction to this CSV file: the class and each class's probability,
    /// or the outputs.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct SummaryArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Also draw the saved run's training curves (loss and accuracy per epoch) to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`percept predict … | head`) fails,
    // and `println!` panics. Like other Unix tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let result = match Cli::parse().command {
        Command::Train(args) => train(args),
        Command::Eval(args) => eval(&args),
        Command::Predict(args) => predict(&args),
        Command::Export(args) => export(&args),
        Command::Summary(args) => summary(&args),
        Command::Lab(args) => lab(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A learning rate: a number above 0 (NaN and infinities are refused here, not reported
/// later as a diverged run).
fn positive_number(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    check_positive(value)
}

fn check_positive(value: f32) -> Result<f32, String> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a finite number above 0"))
    }
}

/// A momentum or weight decay: a finite number, 0 or more.
fn non_negative_number(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    check_non_negative(value)
}

fn check_non_negative(value: f32) -> Result<f32, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a finite number of 0 or more"))
    }
}

/// A fraction of the data: at least 0, below 1.
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    check_fraction(value)
}

fn check_fraction(value: f64) -> Result<f64, String> {
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a fraction of at least 0 and below 1"))
    }
}

/// `lr` in a config file, checked as `--lr` is.
fn positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    let value = f32::deserialize(deserializer)?;
    check_positive(value).map(Some).map_err(serde::de::Error::custom)
}

/// `momentum` and `weight_decay` in a config file, checked as the flags are.
fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    let value = f32::deserialize(deserializer)?;
    check_non_negative(value).map(Some).map_err(serde::de::Error::custom)
}

/// `validation_split` in a config file, checked as the flag is.
fn fraction_setting<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = f64::deserialize(deserializer)?;
    check_fraction(value).map(Some).map_err(serde::de::Error::custom)
}

/// `hidden` in a config file: `"512,256"` as on the command line, or `[512, 256]`.
fn hidden_sizes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sizes {
        Text(String),
        List(Vec<u64>),
    }
    Ok(Some(match Sizes::deserialize(deserializer) {
        Ok(Sizes::Text(text)) => text,
        Ok(Sizes::List(sizes)) => sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        Err(_) => {
            return Err(serde::de::Error::custom(
                "hidden takes layer sizes as a list, [512, 256], or as text, \"512,256\"",
            ));
        }
    }))
}

/// Settings from the command line over those of the config file.
fn merged(cli: TrainArgs) -> Result<TrainArgs, Error> {
    let Some(path) = &cli.config else { return Ok(cli) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: TrainArgs = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    macro_rules! pick {
        ($($field:ident),*) => { TrainArgs { config: cli.config.clone(), $($field: cli.$field.clone().or(file.$field.clone()),)* } };
    }
    Ok(pick!(
        data,
        label,
        regression,
        standardize,
        hidden,
        activation,
        loss,
        optimizer,
        lr,
        momentum,
        weight_decay,
        schedule,
        epochs,
        batch,
        seed,
        threads,
        checkpoint,
        resume,
        early_stopping,
        validation_split,
        quiet,
        plot
    ))
}

fn csv_options(label: Option<&str>, regression: bool) -> CsvOptions {
    let label = match label {
        None => LabelColumn::Last,
        Some(text) => text.parse().map_or_else(|_| LabelColumn::Name(text.to_string()), LabelColumn::Index),
    };
    CsvOptions {
        label,
        task: if regression { Task::Regression } else { Task::Classification },
        ..Default::default()
    }
}

/// The widest hidden layer `percept train` builds: wider ones are refused up front rather
/// than allocated (a batch of 64 through a layer of 2²⁰ units is already 256 MB per buffer).
const MAX_LAYER_SIZE: usize = 1 << 20;

/// The most parameters `percept train` builds: 400 MB of weights, and several times that to
/// train (gradients, the optimizer's state).
const MAX_PARAMETERS: usize = 100_000_000;

fn parse_hidden(text: &str) -> Result<Vec<usize>, Error> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n > MAX_LAYER_SIZE => Err(format!(
                "--hidden: a layer of {n} units is wider than percept train builds ({} at most)",
                group_thousands(MAX_LAYER_SIZE)
            )
            .into()),
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--hidden: {s:?} is not a positive layer size (expected e.g. 128,64)").into()),
        })
        .collect()
}

/// Refuses a network of more than [`MAX_PARAMETERS`] before anything is allocated.
fn check_model_size(inputs: usize, hidden: &[usize], outputs: usize) -> Result<(), Error> {
    let mut parameters = Some(0usize);
    let mut width = inputs;
    for &size in hidden.iter().chain([&outputs]) {
        parameters = parameters
            .zip(width.checked_mul(size).and_then(|w| w.checked_add(size)))
            .and_then(|(total, layer)| total.checked_add(layer));
        width = size;
    }
    match parameters {
        Some(count) if count <= MAX_PARAMETERS => Ok(()),
        _ => Err(format!(
            "--hidden: a network of {inputs} inputs, hidden layers {hidden:?} and {outputs} outputs would \
             have {} parameters; percept train builds at most {} ({} MB of weights, several times that to \
             train)",
            parameters.map_or_else(|| "more".to_string(), group_thousands),
            group_thousands(MAX_PARAMETERS),
            MAX_PARAMETERS * 4 / 1_000_000
        )
        .into()),
    }
}

/// `1234567` → `"1,234,567"`.
fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn train(args: TrainArgs) -> Result<(), Error> {
    let args = merged(args)?;
    if let Some(threads) = args.threads {
        percept::set_threads(threads).map_err(|e| format!("--threads: {e}"))?;
    }
    let data = args.data.clone().ok_or("train needs --data (an IDX directory or a CSV file)")?;
    let regression = args.regression.unwrap_or(false);
    let seed = args.seed.unwrap_or(0);
    let quiet = args.quiet.unwrap_or(false);
    let epochs = args.epochs.unwrap_or(10);
    let batch_size = args.batch.unwrap_or(64);
    if batch_size == 0 || epochs == 0 {
        return Err("--batch and --epochs must be at least 1".into());
    }
    let schedule = args.schedule.unwrap_or(ScheduleKind::None);
    // Early stopping and a plateau schedule choose on validation data: held out of the
    // training data, never the test set.
    let chooses = args.early_stopping.is_some() || schedule == ScheduleKind::Plateau;
    let validation_split = args.validation_split.unwrap_or(if chooses { 0.1 } else { 0.0 });
    let hidden = parse_hidden(args.hidden.as_deref().unwrap_or("128"))?;
    let checkpoint_path = args.checkpoint.clone().unwrap_or_else(|| PathBuf::from("model.ckpt"));
    // The training data. An IDX directory's test files wait until training is done.
    let images;
    let csv;
    let mut class_names = None;
    let all: &dyn Dataset = if data.is_dir() {
        images = Mnist::load_train(&data)?;
        &images
    } else {
        let file = read_csv(&data, &csv_options(args.label.as_deref(), regression))?;
        class_names = file.class_names;
        csv = file.dataset;
        &csv
    };
    let split;
    let (train_set, validation_set): (&dyn Dataset, Option<&dyn Dataset>) = if validation_split > 0.0 {
        let (kept, held) = split_for_validation(all, validation_split, seed);
        if kept.is_empty() || held.is_empty() {
            return Err(format!(
                "--validation-split {validation_split} of {} samples leaves {} for training and {} for \
                 validation; both need at least one",
                all.len(),
                kept.len(),
                held.len()
            )
            .into());
        }
        split = (Subset::new(all, kept), Subset::new(all, held));
        (&split.0, Some(&split.1))
    } else {
        (all, None)
    };
    let outputs = match train_set.num_classes() {
        Some(classes) => classes,
        None => {
            let (mut x, mut y) = (Matrix::default(), Labels::default());
            train_set.gather(&[0], &mut x, &mut y);
            match y {
                Labels::Values(v) => v.cols(),
                Labels::Classes(_) => 1,
            }
        }
    };
    check_model_size(train_set.num_features(), &hidden, outputs)?;
    let normalization = if args.standardize.unwrap_or(false) {
        let all: Vec<usize> = (0..train_set.len()).collect();
        let (mut features, mut labels) = (Matrix::default(), Labels::default());
        train_set.gather(&all, &mut features, &mut labels);
        Some(Normalization::adapted(&features)?)
    } else {
        None
    };
    let mut model = build(
        train_set.num_features(),
        normalization,
        &hidden,
        outputs,
        args.activation.unwrap_or(ActivationKind::Relu),
        seed,
    )?;
    let optimizer_kind = args.optimizer.unwrap_or(OptimizerKind::Sgd);
    let lr = args.lr.unwrap_or(if optimizer_kind.is_adaptive() { 0.001 } else { 0.1 });
    let rule = optimizer_kind.rule(lr, args.momentum, args.weight_decay.unwrap_or(0.0));
    let mut optimizer = Optimizer::new(rule);
    let config = FitConfig { epochs, batch_size, seed, shuffle: true, verbose: !quiet, ..Default::default() };
    let mut trainer = Trainer::new(config);
    trainer.checkpoint_every_epoch(&checkpoint_path);
    if let Some(names) = class_names {
        // Stored in the checkpoint: predict reports classes by name, and eval numbers another
        // file's labels as this one numbered them.
        trainer.class_names(names);
    }
    match schedule {
        ScheduleKind::None => {}
        ScheduleKind::Cosine => {
            trainer.schedule(Schedule::Cosine { t_max: epochs as u64, eta_min: 0.0 }, StepEvery::Epoch);
        }
        ScheduleKind::Step => {
            trainer.schedule(
                Schedule::Step { step_size: (epochs as u64 / 3).max(1), gamma: 0.1 },
                StepEvery::Epoch,
            );
        }
        ScheduleKind::Plateau => {
            // The fit loop steps it with the validation loss after each epoch.
            let plateau = Plateau { patience: 2, ..Default::default() };
            trainer.schedule(Schedule::ReduceOnPlateau(plateau), StepEvery::Epoch);
        }
    }
    if let Some(patience) = args.early_stopping {
        trainer.callback(EarlyStopping::new(Monitor::ValidationLoss, patience));
    }
    if args.resume.unwrap_or(false) && checkpoint_path.exists() {
        let checkpoint = Checkpoint::load(&checkpoint_path)?;
        let saved = checkpoint.optimizer.learning_rate;
        if !quiet {
            out!(
                "resuming {} after epoch {}: learning rate {saved}, as saved",
                checkpoint_path.display(),
                checkpoint.epoch
            );
        }
        if let Some(asked) = args.lr
            && asked != saved
        {
            note!(
                "note: --lr {asked} is not used: a resumed run goes on with the learning rate (and schedule) \
                 saved in {} ({saved}); start a new run to change it",
                checkpoint_path.display()
            );
        }
        trainer.resume(checkpoint);
    }
    let loss_kind = args.loss.unwrap_or(if train_set.num_classes().is_some() {
        LossKind::CrossEntropy
    } else {
        LossKind::Mse
    });
    let mut loss = make_loss(loss_kind);
    if !quiet {
        out!("{model}");
        match validation_set {
            Some(held) => out!(
                "training on {} samples, validation on {} held out of the training data",
                train_set.len(),
                held.len()
            ),
            None => out!("training on {} samples (no validation split)", train_set.len()),
        }
    }
    let fitted = trainer.fit(&mut model, loss.as_mut(), &mut optimizer, train_set, validation_set);
    let history = match fitted {
        Ok(history) => history,
        Err(error @ (TrainError::Diverged { .. } | TrainError::NonFiniteLoss { .. })) => {
            let path = checkpoint_path.display();
            let kept = match Checkpoint::load(&checkpoint_path) {
                Ok(saved) => {
                    format!(
                        "{path} was not overwritten: it holds the model after epoch {} of its run",
                        saved.epoch
                    )
                }
                Err(_) => format!("no checkpoint was written to {path}"),
            };
            return Err(format!("{error}\n{kept} (learning rate {lr})").into());
        }
        Err(error) => return Err(error.into()),
    };
    let Some(last) = history.last() else {
        out!("nothing to train: {} already holds {epochs} epochs", checkpoint_path.display());
        return Ok(());
    };
    let mut summary = format!("trained {} epochs: training loss {:.4}", last.epoch, last.train_loss);
    if let Some(accuracy) = last.train_accuracy {
        summary += &format!(", accuracy {:.2}%", 100.0 * accuracy);
    }
    if let Some(loss) = last.validation_loss {
        summary += &format!("; validation loss {loss:.4}");
    }
    if let Some(accuracy) = last.validation_accuracy {
        summary += &format!(", validation accuracy {:.2}%", 100.0 * accuracy);
    }
    let mut metadata = Vec::new();
    if args.early_stopping.is_some() {
        // The best epoch's weights, which early stopping has put back: what the checkpoint
        // keeps and the test measures.
        let best = history
            .epochs
            .iter()
            .min_by(|a, b| {
                let figure = |r: &EpochRecord| r.validation_loss.unwrap_or(r.train_loss);
                figure(a).total_cmp(&figure(b))
            })
            .map_or(last.epoch, |r| r.epoch);
        summary += &format!("; kept epoch {best}, the best on validation");
        metadata.push(("best_epoch".to_string(), best.to_string()));
    }
    if data.is_dir() {
        let test = Mnist::load_test(&data)?;
        let result = evaluate(&mut model, loss.as_mut(), &test, 1024)?;
        let accuracy = result.accuracy.unwrap_or(f32::NAN);
        summary += &format!(
            "\ntest: loss {:.4}, accuracy {:.2}% on the {} test images (measured once, after training)",
            result.loss,
            100.0 * accuracy,
            group_thousands(test.len())
        );
        metadata.push(("test_accuracy".to_string(), accuracy.to_string()));
    }
    if !metadata.is_empty() {
        let mut checkpoint = Checkpoint::load(&checkpoint_path)?;
        let chosen = Checkpoint::of_model(&mut model, checkpoint.optimizer.clone())?;
        checkpoint.parameters = chosen.parameters;
        checkpoint.buffers = chosen.buffers;
        checkpoint.metadata.extend(metadata);
        checkpoint.save(&checkpoint_path)?;
    }
    if let Some(path) = &args.plot {
        plot_history(&history, path)?;
        summary += &format!("\ncurves {}", path.display());
    }
    out!("{summary}\ncheckpoint {}", checkpoint_path.display());
    Ok(())
}

fn make_loss(kind: LossKind) -> Box<dyn Loss> {
    match kind {
        LossKind::CrossEntropy => Box::new(SoftmaxCrossEntropy::new()),
        LossKind::Mse => Box::new(Mse),
        LossKind::Mae => Box::new(Mae),
        LossKind::Huber => Box::new(Huber::default()),
    }
}

fn build(
    inputs: usize,
    normalization: Option<Normalization>,
    hidden: &[usize],
    outputs: usize,
    activation: ActivationKind,
    seed: u64,
) -> Result<Sequential, NnError> {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    if let Some(normalization) = normalization {
        model.add(normalization)?;
    }
    let mut width = inputs;
    for &size in hidden {
        model.add(Linear::new(width, size, &mut rng))?;
        match activation {
            ActivationKind::Relu => model.add(ReLU)?,
            ActivationKind::Tanh => model.add(Tanh)?,
            ActivationKind::Sigmoid => model.add(Sigmoid)?,
            ActivationKind::Gelu => model.add(GELU::new())?,
            ActivationKind::Silu => model.add(SiLU)?,
        };
        width = size;
    }
    model.add(Linear::new(width, outputs, &mut rng))?;
    Ok(model)
}

fn load_model(path: &Path) -> Result<Sequential, Error> {
    Ok(Checkpoint::load(path)?.model()?)
}

/// The model's class names, when its checkpoint has one per output.
fn output_names(checkpoint: &Checkpoint, model: &Sequential) -> Option<Vec<String>> {
    checkpoint.class_names.clone().filter(|names| Some(names.len()) == model.out_features())
}

/// `file`'s samples with their classes numbered as the model numbers them (`names[c]` is
/// output `c`): a file's label texts are numbered in sorted order, so a file that lacks a
/// class, or has another, numbers the rest differently from the training file.
fn renumbered(file: CsvData, names: &[String], path: &Path) -> Result<InMemoryDataset, Error> {
    let (Some(file_names), Labels::Classes(classes)) = (&file.class_names, file.dataset.labels()) else {
        return Ok(file.dataset);
    };
    let model_class: Vec<Option<usize>> =
        file_names.iter().map(|name| names.iter().position(|n| n == name)).collect();
    let mut renumbered = Vec::with_capacity(classes.len());
    for &c in classes {
        let Some(number) = model_class[c] else {
            return Err(format!(
                "{}: label {:?} is not one of the model's classes ({})",
                path.display(),
                file_names[c],
                names.join(", ")
            )
            .into());
        };
        renumbered.push(number);
    }
    Ok(InMemoryDataset::classification(file.dataset.features().clone(), renumbered, names.len()))
}

fn eval(args: &EvalArgs) -> Result<(), Error> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let mut model = checkpoint.model()?;
    let names = output_names(&checkpoint, &model);
    let test;
    let csv;
    let data: &dyn Dataset = if args.data.is_dir() {
        test = Mnist::load_test(&args.data)?;
        &test
    } else {
        let file = read_csv(&args.data, &csv_options(args.label.as_deref(), args.regression))?;
        csv = match &names {
            Some(names) => renumbered(file, names, &args.data)?,
            None => file.dataset,
        };
        &csv
    };
    if let Some(inputs) = model.in_features()
        && inputs != data.num_features()
    {
        return Err(format!(
            "{}: samples have {} features but the model in {} takes {inputs}",
            args.data.display(),
            data.num_features(),
            args.model.display(),
        )
        .into());
    }
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut x, mut y) = (Matrix::default(), Labels::default());
    match data.num_classes() {
        Some(classes) => {
            let mut matrix = ConfusionMatrix::new(classes.max(model.out_features().unwrap_or(0)));
            for block in indices.chunks(1000) {
                data.gather(block, &mut x, &mut y);
                let output = model.forward(&x, Mode::Eval)?;
                if let Labels::Classes(c) = &y {
                    matrix.add_scores(output, c);
                }
            }
            out!("{} samples from {}", data.len(), args.data.display());
            if let Some(names) = &names {
                let listed: Vec<String> =
                    names.iter().enumerate().map(|(c, n)| format!("{c} {}", csv_field(n))).collect();
                out!("classes: {}", listed.join(", "));
            }
            out!("{matrix}");
        }
        None => {
            data.gather(&indices, &mut x, &mut y);
            let output = model.forward(&x, Mode::Eval)?.clone();
            let Labels::Values(targets) = &y else { unreachable!("regression data has values") };
            if targets.shape() != output.shape() {
                return Err(format!(
                    "targets {:?} do not match the model's outputs {:?}",
                    targets.shape(),
                    output.shape()
                )
                .into());
            }
            out!("{} samples from {}", data.len(), args.data.display());
            out!(
                "MSE {:.6}  MAE {:.6}",
                mean_squared_error(&output, targets),
                mean_absolute_error(&output, targets)
            );
        }
    }
    Ok(())
}

/// The grey levels of a PNG or PGM file, scaled to [0, 1], with its width and height.
fn read_image(path: &Path) -> Result<(Vec<f32>, usize, usize), Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.starts_with(b"\x89PNG") {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| format!("{}: {e}", path.display()))?;
        let mut buffer = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
        let info = reader.next_frame(&mut buffer).map_err(|e| format!("{}: {e}", path.display()))?;
        let channels = info.color_type.samples();
        let grey = buffer[..info.buffer_size()]
            .chunks(channels)
            .map(|px| {
                let colour = &px[..channels.min(3)];
                colour.iter().map(|&c| c as f32).sum::<f32>() / colour.len() as f32 / 255.0
            })
            .collect();
        return Ok((grey, info.width as usize, info.height as usize));
    }
    if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        return read_pgm(&bytes).map_err(|e| format!("{}: {e}", path.display()).into());
    }
    Err(format!("{}: not a PNG or PGM image", path.display()).into())
}

/// A binary (P5) or text (P2) PGM file.
fn read_pgm(bytes: &[u8]) -> Result<(Vec<f32>, usize, usize), String> {
    let binary = bytes.starts_with(b"P5");
    let mut fields = Vec::new();
    let mut position = 2;
    while fields.len() < 3 {
        while position < bytes.len() && (bytes[position].is_ascii_whitespace() || bytes[position] == b'#') {
            if bytes[position] == b'#' {
                while position < bytes.len() && bytes[position] != b'\n' {
                    position += 1;
                }
            } else {
                position += 1;
            }
        }
        let start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        let text = std::str::from_utf8(&bytes[start..position]).unwrap_or("");
        fields.push(text.parse::<usize>().map_err(|_| "bad PGM header".to_string())?);
    }
    let (width, height, max) = (fields[0], fields[1], fields[2].max(1));
    let count = width.checked_mul(height).ok_or("PGM too large")?;
    let values: Vec<usize> = if binary {
        let data = bytes.get(position + 1..).unwrap_or(&[]);
        if max > 255 {
            data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as usize).collect()
        } else {
            data.iter().map(|&b| b as usize).collect()
        }
    } else {
        std::str::from_utf8(&bytes[position..])
            .map_err(|_| "bad PGM data")?
            .split_ascii_whitespace()
            .map(|t| t.parse().unwrap_or(0))
            .collect()
    };
    if values.len() < count {
        return Err(format!("PGM data ends after {} of {count} pixels", values.len()));
    }
    Ok((values[..count].iter().map(|&v| v as f32 / max as f32).collect(), width, height))
}

/// The samples of a CSV file for `model`: every column, or every column but the label one
/// when `--label` names it or the file has one column more than the model's inputs.
fn read_samples_csv(args: &PredictArgs, inputs: Option<usize>) -> Result<Matrix, Error> {
    let options = csv_options(args.label.as_deref(), false);
    let all = if args.label.is_some() { None } else { Some(read_csv_features(&args.input, &options, false)) };
    let samples = match all {
        Some(Ok(all)) if Some(all.features.cols()) != inputs.map(|n| n + 1) => all,
        // A label column is left out: the last of a file one column too wide (from what was
        // read), the last when it is not a number, or the named one.
        Some(Ok(mut all)) => {
            let (rows, kept) = (all.features.rows(), all.features.cols() - 1);
            all.features = Matrix::from_fn(rows, kept, |r, c| all.features.get(r, c));
            let name = all.feature_names.pop().unwrap_or_default();
            all.label_column = Some((kept, name));
            all
        }
        Some(Err(error)) => match read_csv_features(&args.input, &options, true) {
            Ok(without) if Some(without.features.cols()) == inputs => without,
            _ => return Err(error.into()),
        },
        None => read_csv_features(&args.input, &options, true)?,
    };
    if let Some((index, name)) = &samples.label_column {
        note!("{}: column {} ({name}) left out as the label", args.input.display(), index + 1);
    }
    Ok(samples.features)
}

/// Images scaled to `[0, 1]`, one per row, and their width.
fn read_images(args: &PredictArgs) -> Result<(Matrix, usize), Error> {
    let name = args.input.display().to_string();
    let (images, width) = if name.ends_with("ubyte") || name.ends_with(".idx") || name.ends_with("ubyte.gz") {
        let array = read_idx(&args.input)?;
        let m = array.to_matrix();
        let scaled = Matrix::from_fn(m.rows(), m.cols(), |r, c| m.get(r, c) / 255.0);
        (scaled, array.dims.get(2).copied().unwrap_or(0))
    } else {
        let (pixels, width, height) = read_image(&args.input)?;
        (Matrix::from_vec(1, width * height, pixels), width)
    };
    let images = if args.invert {
        Matrix::from_fn(images.rows(), images.cols(), |r, c| 1.0 - images.get(r, c))
    } else {
        images
    };
    Ok((images, width))
}

fn predict(args: &PredictArgs) -> Result<(), Error> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let mut model = checkpoint.model()?;
    // Classes by name when the training data named them, by number otherwise.
    let names = output_names(&checkpoint, &model)
        .unwrap_or_else(|| (0..model.out_features().unwrap_or(0)).map(|c| c.to_string()).collect());
    let name = args.input.display().to_string();
    let csv = name.to_ascii_lowercase().ends_with(".csv");
    let (samples, what) = if csv {
        (read_samples_csv(args, model.in_features())?, "row")
    } else {
        let (images, width) = read_images(args)?;
        if let Some(inputs) = model.in_features()
            && inputs != images.cols()
        {
            return Err(format!(
                "{name}: an image of {} pixels ({width} wide), but the model takes {inputs} inputs",
                images.cols(),
            )
            .into());
        }
        (images, "image")
    };
    if let Some(inputs) = model.in_features()
        && inputs != samples.cols()
    {
        return Err(format!(
            "{name}: samples of {} features, but the model in {} takes {inputs} inputs",
            samples.cols(),
            args.model.display(),
        )
        .into());
    }
    let output = model.forward(&samples, Mode::Eval)?.clone();
    let values = args.regression || output.cols() == 1;
    let mut table = String::new();
    let mut probabilities = vec![0.0; output.cols()];
    for (i, row) in output.row_iter().enumerate() {
        let line = if values {
            let listed: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            if i < 20 {
                out!("{what} {i}: {}", listed.join(", "));
            }
            listed.join(",")
        } else {
            softmax_row(&mut probabilities, row);
            let class = percept::linalg::argmax(&probabilities);
            let name = names.get(class).map_or_else(|| class.to_string(), Clone::clone);
            if i < 20 {
                let listed: Vec<String> = probabilities
                    .iter()
                    .enumerate()
                    .map(|(c, p)| {
                        format!("{}: {p:.3}", names.get(c).map_or_else(|| c.to_string(), Clone::clone))
                    })
                    .collect();
                out!(
                    "{what} {i}: class {name} ({:.1}%)  [{}]",
                    100.0 * probabilities[class],
                    listed.join(", ")
                );
            }
            let listed: Vec<String> = probabilities.iter().map(|p| p.to_string()).collect();
            format!("{},{}", csv_field(&name), listed.join(","))
        };
        if args.out.is_some() {
            table += &line;
            table.push('\n');
        }
    }
    if output.rows() > 20 {
        out!("… {} more {what}s", output.rows() - 20);
    }
    if let Some(path) = &args.out {
        let header: Vec<String> = match (values, output.cols()) {
            (true, 1) => vec!["output".into()],
            (true, n) => (0..n).map(|c| format!("output_{c}")).collect(),
            (false, n) => std::iter::once("class".into())
                .chain((0..n).map(|c| {
                    csv_field(&format!("p_{}", names.get(c).map_or_else(|| c.to_string(), Clone::clone)))
                }))
                .collect(),
        };
        std::fs::write(path, format!("{}\n{table}", header.join(",")))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out!("{} predictions written to {}", output.rows(), path.display());
    }
    Ok(())
}

/// `text` as one CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line
/// break, as it is otherwise.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn export(args: &ExportArgs) -> Result<(), Error> {
    let mut model = load_model(&args.model)?;
    export_safetensors(&mut model, &args.out)?;
    let names = percept::train::state_dict_names(&mut model)?;
    out!("wrote {} tensors to {}: {}", names.len(), args.out.display(), names.join(", "));
    Ok(())
}

fn summary(args: &SummaryArgs) -> Result<(), Error> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let model = checkpoint.model()?;
    if checkpoint.optimizer.rule.is_empty() {
        // Written by `model.save(path)`: the model alone.
        out!("{}: a model saved without training state", args.model.display());
    } else {
        out!(
            "{}: trained {} epochs, {} optimizer steps ({})",
            args.model.display(),
            checkpoint.epoch,
            checkpoint.optimizer.steps,
            checkpoint.optimizer.rule
        );
    }
    for (key, value) in &checkpoint.metadata {
        out!("{key}: {value}");
    }
    if let Some(names) = &checkpoint.class_names {
        let listed: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
        out!("classes: {}", listed.join(", "));
    }
    out!("{model}");
    if let Some(path) = &args.plot {
        let history = History { epochs: checkpoint.history.iter().map(EpochRecord::from).collect() };
        plot_history(&history, path)?;
        out!("curves of {} epochs: {}", history.epochs.len(), path.display());
    }
    Ok(())
}

/// `percept lab`: the settings of `percept::train::lab::LabConfig`.
#[derive(Args)]
struct LabArgs {
    /// Directory with the four MNIST IDX files (gzip'd or raw).
    #[arg(long, default_value = "datasets/mnist")]
    data: PathBuf,
    /// Folder for REPORT.md, results.json and the figures (created if needed).
    #[arg(long, default_value = "lab-report")]
    out: PathBuf,
    /// A small grid on 3,000 training and 1,000 test images, in seconds.
    #[arg(long)]
    quick: bool,
    /// Epochs per configuration (default 15; 3 with --quick).
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden layer sizes: a 2-layer net uses the first, a 3-layer net both (default 256,128).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Activations to compare (default sigmoid,tanh,relu,gelu).
    #[arg(long, value_delimiter = ',')]
    activations: Option<Vec<percept::train::lab::Activation>>,
    /// SGD's learning rate, the same for every configuration (default 0.1).
    #[arg(long)]
    lr: Option<f32>,
    /// Minibatch size (default 64).
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of the split, initialization and batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

fn lab(args: LabArgs) -> Result<(), Error> {
    use percept::train::lab::{LabConfig, run_lab};
    let base = if args.quick { LabConfig::quick() } else { LabConfig::default() };
    let config = LabConfig {
        data: args.data,
        out: args.out,
        epochs: args.epochs.unwrap_or(base.epochs),
        hidden: args.hidden.unwrap_or(base.hidden.clone()),
        activations: args.activations.unwrap_or(base.activations.clone()),
        learning_rate: args.lr.unwrap_or(base.learning_rate),
        batch_size: args.batch.unwrap_or(base.batch_size),
        seed: args.seed,
        threads: args.threads,
        progress: !args.quiet,
        ..base
    };
    let outcome = run_lab(&config)?;
    println!("report: {}", outcome.report.display());
    Ok(())
}
