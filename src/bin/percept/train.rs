//! `percept train`: the flags (or a recipe file with flags over it) become a
//! `percept::train::Recipe`, which does the run.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;
use clap::builder::TypedValueParser;
use percept::optim::OptimizerKind;
use percept::prelude::*;
use percept::train::recipe::{
    DataRecipe, LayerRecipe, LossRecipe, ModelRecipe, NormalizationKind, OptimizerRecipe, OutputRecipe,
    ScheduleRecipe, StepEveryKind, TrainingRecipe,
};
use percept::train::{Recipe, RunOptions};
use serde::{Deserialize, Deserializer};

use crate::Error;

/// Training settings. A recipe (`--recipe`, see `recipes/reference.toml`) describes a whole
/// run; the flags below override its values, or describe a plain MLP without one. The flags
/// can also come from a TOML file of their own names (`--config`; `early_stopping` or
/// `early-stopping`; `hidden = "128,64"` or `[128, 64]`); flags given on the command line win.
#[derive(Args, Deserialize, Default, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct TrainArgs {
    /// A recipe file: data, layers, loss, optimizer, schedule, training and outputs in one
    /// TOML file (recipes/reference.toml documents every key). Flags override its values.
    #[arg(long)]
    #[serde(skip)]
    recipe: Option<PathBuf>,
    /// Set any recipe key, e.g. `--set training.batch_size=256` or
    /// `--set model.layers[2].p=0.3` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    #[serde(skip)]
    set: Vec<String>,
    /// Also measure the test set after every epoch, as a benchmark of how soon the run
    /// reaches an accuracy (it chooses nothing; reported as "test").
    #[arg(long)]
    #[serde(skip)]
    test_every_epoch: bool,
    /// TOML file with any of these flags (not a recipe: see --recipe).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// An IDX directory with MNIST's four file names, or a CSV file (or "mnist",
    /// "fashion-mnist", "lesson").
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
    /// Hidden layer sizes, e.g. 128,64 (empty for none; default 128). With a recipe, replaces
    /// its layers by this MLP.
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
    /// Checkpoint written after every epoch (default model.ckpt; a recipe's default is
    /// runs/<name>/model.ckpt).
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
    /// --early-stopping or --schedule plateau, which choose on it, and in recipes; none
    /// otherwise). The weights kept are those of the best epoch on it. An IDX directory's
    /// test files are read only after training, and measured once.
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
        ($($field:ident),*) => { TrainArgs { config: cli.config.clone(), recipe: cli.recipe.clone(), set: cli.set.clone(), test_every_epoch: cli.test_every_epoch, $($field: cli.$field.clone().or(file.$field.clone()),)* } };
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

/// The widest hidden layer `percept train` builds: wider ones are refused up front rather
/// than allocated (a batch of 64 through a layer of 2²⁰ units is already 256 MB per buffer).
const MAX_LAYER_SIZE: usize = 1 << 20;

fn parse_hidden(text: &str) -> Result<Vec<usize>, Error> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n > MAX_LAYER_SIZE => Err(format!(
                "--hidden: a layer of {n} units is wider than percept train builds ({} at most)",
                percept::nn::group_thousands(MAX_LAYER_SIZE)
            )
            .into()),
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--hidden: {s:?} is not a positive layer size (expected e.g. 128,64)").into()),
        })
        .collect()
}

/// The layers of an MLP with `hidden` layers and `activation` after each, ending in a
/// linear layer of `outputs` outputs.
fn mlp(hidden: &[usize], activation: ActivationKind, outputs: usize) -> Vec<LayerRecipe> {
    let mut layers = Vec::new();
    for &size in hidden {
        layers.push(LayerRecipe::Linear { size, inputs: None, init: Default::default() });
        layers.push(match activation {
            ActivationKind::Relu => LayerRecipe::Relu,
            ActivationKind::Tanh => LayerRecipe::Tanh,
            ActivationKind::Sigmoid => LayerRecipe::Sigmoid,
            ActivationKind::Gelu => LayerRecipe::Gelu { tanh: false },
            ActivationKind::Silu => LayerRecipe::Silu,
        });
    }
    layers.push(LayerRecipe::Linear { size: outputs, inputs: None, init: Default::default() });
    layers
}

/// The number of classes (or regression targets) of the data a flag names, which the last
/// layer of an MLP built from flags must give.
fn outputs_of(recipe: &Recipe) -> Result<usize, Error> {
    let data = &recipe.data;
    Ok(match data.dataset.as_str() {
        "mnist" | "fashion-mnist" => 10,
        "lesson" => 2,
        path if std::path::Path::new(path).is_dir() => 10,
        path => {
            let file =
                percept::data::read_csv(path, &crate::csv_options(data.label.as_deref(), data.regression))?;
            match file.dataset.labels() {
                Labels::Classes(_) => file.dataset.num_classes().unwrap_or(1),
                Labels::Values(values) => values.cols(),
            }
        }
    })
}

/// A recipe of the flags alone: a plain MLP, written where `--checkpoint` says.
fn recipe_of_flags(args: &TrainArgs) -> Result<Recipe, Error> {
    let data = args.data.clone().ok_or("train needs --data (an IDX directory or a CSV file) or --recipe")?;
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| PathBuf::from("model.ckpt"));
    let dir = checkpoint
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    Ok(Recipe {
        name: None,
        description: None,
        data: DataRecipe {
            dataset: data.display().to_string(),
            label: None,
            regression: false,
            test: None,
            validation_split: 0.0,
            normalization: NormalizationKind::None,
            augmentation: None,
        },
        // Replaced below, once the data's outputs are known.
        model: ModelRecipe { layers: Vec::new() },
        loss: None,
        optimizer: recipe_of_flags_optimizer(),
        schedule: None,
        training: TrainingRecipe {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            threads: None,
            clip_grad_norm: None,
            clip_grad_value: None,
            monitor: Default::default(),
            early_stopping: None,
        },
        output: OutputRecipe {
            dir: Some(dir),
            checkpoint: Some(checkpoint),
            plots: Some(false),
            history: Some(false),
        },
        source: None,
    })
}

/// The recipe the command asks for: the file's (or one of the flags alone), then each flag
/// given over it.
fn recipe_of(args: &TrainArgs) -> Result<Recipe, Error> {
    let from_file = args.recipe.is_some();
    let mut recipe = match &args.recipe {
        Some(path) => Recipe::from_file(path)?,
        None => recipe_of_flags(args)?,
    };
    if let Some(data) = &args.data {
        recipe.data.dataset = data.display().to_string();
    }
    if args.label.is_some() {
        recipe.data.label.clone_from(&args.label);
    }
    if let Some(regression) = args.regression {
        recipe.data.regression = regression;
    }
    if let Some(standardize) = args.standardize {
        recipe.data.normalization =
            if standardize { NormalizationKind::Standardize } else { NormalizationKind::None };
    }
    if !from_file || args.hidden.is_some() || args.activation.is_some() {
        let hidden = parse_hidden(args.hidden.as_deref().unwrap_or("128"))?;
        let activation = args.activation.unwrap_or(ActivationKind::Relu);
        recipe.model.layers = mlp(&hidden, activation, outputs_of(&recipe)?);
    }
    if let Some(loss) = args.loss {
        recipe.loss = Some(match loss {
            LossKind::CrossEntropy => LossRecipe::CrossEntropy { label_smoothing: 0.0, class_weights: None },
            LossKind::Mse => LossRecipe::Mse,
            LossKind::Mae => LossRecipe::Mae,
            LossKind::Huber => LossRecipe::Huber { delta: 1.0 },
        });
    }
    if let Some(kind) = args.optimizer {
        // Another optimizer starts from its own defaults: the file's settings may not apply.
        recipe.optimizer = OptimizerRecipe { kind: kind.name().to_string(), ..recipe_of_flags_optimizer() };
    }
    if let Some(rate) = args.lr {
        recipe.optimizer.learning_rate = Some(rate);
    }
    if let Some(momentum) = args.momentum {
        recipe.optimizer.momentum = Some(momentum);
    }
    if let Some(decay) = args.weight_decay {
        recipe.optimizer.weight_decay = Some(decay);
    }
    if let Some(schedule) = args.schedule {
        let epochs = args.epochs.unwrap_or(recipe.training.epochs) as u64;
        recipe.schedule = schedule_recipe(schedule, epochs);
    }
    if let Some(epochs) = args.epochs {
        recipe.training.epochs = epochs;
    }
    if let Some(batch) = args.batch {
        recipe.training.batch_size = batch;
    }
    if let Some(seed) = args.seed {
        recipe.training.seed = seed;
    }
    if args.threads.is_some() {
        recipe.training.threads = args.threads;
    }
    if let Some(checkpoint) = &args.checkpoint {
        recipe.output.checkpoint = Some(checkpoint.clone());
    }
    if args.early_stopping.is_some() {
        recipe.training.early_stopping = args.early_stopping;
    }
    // Early stopping and a plateau schedule choose on validation data: held out of the
    // training data, never the test set.
    let chooses = recipe.training.early_stopping.is_some()
        || recipe.schedule.as_ref().is_some_and(|s| s.kind == "plateau");
    if let Some(split) = args.validation_split {
        recipe.data.validation_split = split;
    } else if chooses && recipe.data.validation_split == 0.0 {
        recipe.data.validation_split = 0.1;
    }
    for assignment in &args.set {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set {assignment:?}: expected KEY=VALUE, e.g. training.epochs=5"))?;
        recipe.set(key.trim(), value.trim())?;
    }
    recipe.check().map_err(|e| match &recipe.source {
        Some(path) => format!("{} (with the command line's flags): {e}", path.display()),
        None => e.to_string(),
    })?;
    Ok(recipe)
}

fn recipe_of_flags_optimizer() -> OptimizerRecipe {
    OptimizerRecipe {
        kind: "sgd".into(),
        learning_rate: None,
        momentum: None,
        dampening: None,
        weight_decay: None,
        betas: None,
        eps: None,
        amsgrad: None,
        alpha: None,
        centered: None,
        lr_decay: None,
    }
}

/// The command line's schedules, stepped per epoch.
fn schedule_recipe(kind: ScheduleKind, epochs: u64) -> Option<ScheduleRecipe> {
    let base = ScheduleRecipe {
        kind: String::new(),
        every: StepEveryKind::Epoch,
        warmup_epochs: 0,
        warmup_start_factor: None,
        t_max: None,
        eta_min: None,
        step_size: None,
        gamma: None,
        milestones: None,
        max_lr: None,
        pct_start: None,
        factor: None,
        patience: None,
        min_lr: None,
    };
    match kind {
        ScheduleKind::None => None,
        ScheduleKind::Cosine => Some(ScheduleRecipe { kind: "cosine".into(), ..base }),
        // A tenfold decay every third of the run.
        ScheduleKind::Step => Some(ScheduleRecipe {
            kind: "step".into(),
            step_size: Some((epochs / 3).max(1)),
            gamma: Some(0.1),
            ..base
        }),
        // A tenfold cut after 2 epochs without a better validation loss.
        ScheduleKind::Plateau => Some(ScheduleRecipe { kind: "plateau".into(), patience: Some(2), ..base }),
    }
}

pub fn train(args: TrainArgs) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let args = merged(args)?;
    let recipe = recipe_of(&args)?;
    let options = RunOptions {
        verbose: !args.quiet.unwrap_or(false),
        test_every_epoch: args.test_every_epoch,
        started: Some(started),
        resume: args.resume.unwrap_or(false),
    };
    let outcome = recipe.run(&options)?;
    if let Some(path) = &args.plot {
        plot_history(&outcome.history, path)?;
        out!("curves {}", path.display());
    }
    if !options.verbose {
        out!("{}", outcome.summary());
    }
    Ok(())
}
