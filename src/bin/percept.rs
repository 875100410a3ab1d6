//! `percept`: train, evaluate, predict, export and inspect models without writing a program.
//!
//! ```text
//! percept train --data datasets/mnist --hidden 128 --epochs 3 --checkpoint mnist.ckpt
//! percept eval --model mnist.ckpt --data datasets/mnist
//! percept predict --model mnist.ckpt digit.png
//! percept predict --model moons.ckpt new_points.csv --out predictions.csv
//! percept export --model mnist.ckpt --out mnist.safetensors
//! percept summary --model mnist.ckpt
//! percept serve --checkpoint mnist.ckpt --addr 127.0.0.1:8080
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use percept::data::{
    CsvData, CsvOptions, DigitOptions, ImageLimits, InMemoryDataset, Inversion, LabelColumn, Mnist, Subset,
    Task, prepare_digit, read_csv, read_csv_features, read_idx, read_image, split_indices,
};
use percept::linalg::{Matrix, softmax_row};
use percept::optim::OptimizerKind;
use percept::prelude::*;
use percept::train::{
    Checkpoint, ConfusionMatrix, EarlyStopping, Monitor, export_safetensors, mean_absolute_error,
    mean_squared_error,
};
use serde::Deserialize;

type Error = Box<dyn std::error::Error>;

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
    /// Serve a trained classifier over HTTP, with a page to draw a digit on (Ctrl-C stops).
    Serve(ServeArgs),
}

/// Training settings: every flag can also come from a TOML file (`--config`) with the same
/// names (underscores for dashes); flags given on the command line win.
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
    /// Learning rate (default 0.1 for SGD variants, 0.001 for the adaptive ones).
    #[arg(long)]
    lr: Option<f32>,
    /// Momentum for momentum and nesterov (default 0.9), and for rmsprop (default none).
    #[arg(long)]
    momentum: Option<f32>,
    /// Weight decay.
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Learning-rate schedule, stepped per epoch.
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
    early_stopping: Option<usize>,
    /// Fraction of a CSV file held out for validation (default 0.2; IDX directories use
    /// their test files).
    #[arg(long)]
    validation: Option<f64>,
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
    /// A PNG or PGM image (grey or colour, any bit depth PNG decodes to 8 bits; of any size:
    /// one that is not the model's is cropped, fitted and centred as MNIST's digits were), an
    /// IDX file of images, or a CSV file with a header and one sample per row (with or without its
    /// label column).
    input: PathBuf,
    /// Invert the grey levels (for dark digits on a light background; MNIST is light on
    /// dark). Without it, a PNG or PGM image that looks dark on light is inverted anyway,
    /// and says so.
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

#[derive(Args)]
struct ServeArgs {
    /// The checkpoint.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Predictions run at once, each on a copy of the model (default: every core).
    #[arg(long)]
    workers: Option<usize>,
    /// Largest request body in bytes (default 2 MiB).
    #[arg(long)]
    max_body: Option<usize>,
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
        Command::Serve(args) => serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
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
        validation,
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

fn parse_hidden(text: &str) -> Result<Vec<usize>, Error> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--hidden: {s:?} is not a positive layer size (expected e.g. 128,64)").into()),
        })
        .collect()
}

fn train(args: TrainArgs) -> Result<(), Error> {
    let args = merged(args)?;
    if let Some(threads) = args.threads {
        percept::set_threads(threads)?;
    }
    let data = args.data.clone().ok_or("train needs --data (an IDX directory or a CSV file)")?;
    let regression = args.regression.unwrap_or(false);
    let seed = args.seed.unwrap_or(0);
    let quiet = args.quiet.unwrap_or(false);
    // Training and validation sets, borrowed from whatever was loaded.
    let mnist;
    let csv;
    let mut class_names = None;
    // Recorded in the checkpoint for whoever serves or inspects the model.
    let mut dataset_name = data.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (train_set, validation_set): (Box<dyn Dataset + '_>, Box<dyn Dataset + '_>) = if data.is_dir() {
        mnist = Mnist::load(&data)?;
        if let Some(name) = mnist.known_name() {
            dataset_name = name.to_string();
            class_names = mnist.class_names();
        }
        (Box::new(&mnist.train), Box::new(&mnist.test))
    } else {
        let file = read_csv(&data, &csv_options(args.label.as_deref(), regression))?;
        class_names = file.class_names;
        csv = file.dataset;
        let stratify = match csv.labels() {
            Labels::Classes(c) => Some(c.as_slice()),
            Labels::Values(_) => None,
        };
        let (train_idx, validation_idx) =
            split_indices(csv.len(), args.validation.unwrap_or(0.2), seed, stratify);
        (Box::new(Subset::new(&csv, train_idx)), Box::new(Subset::new(&csv, validation_idx)))
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
    let hidden = parse_hidden(args.hidden.as_deref().unwrap_or("128"))?;
    let checkpoint_path = args.checkpoint.clone().unwrap_or_else(|| PathBuf::from("model.ckpt"));
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
    let epochs = args.epochs.unwrap_or(10);
    let config = FitConfig {
        epochs,
        batch_size: args.batch.unwrap_or(64),
        seed,
        shuffle: true,
        verbose: !quiet,
        drop_last: false,
    };
    if config.batch_size == 0 || epochs == 0 {
        return Err("--batch and --epochs must be at least 1".into());
    }
    let mut trainer = Trainer::new(config);
    trainer.checkpoint_every_epoch(&checkpoint_path);
    trainer.metadata("dataset", dataset_name);
    if let Some(names) = class_names {
        // Stored in the checkpoint: predict reports classes by name, and eval numbers another
        // file's labels as this one numbered them.
        trainer.class_names(names);
    }
    match args.schedule.unwrap_or(ScheduleKind::None) {
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
    }
    if let Some(patience) = args.early_stopping {
        trainer.callback(EarlyStopping::new(Monitor::ValidationLoss, patience));
    }
    if args.resume.unwrap_or(false) && checkpoint_path.exists() {
        trainer.resume(Checkpoint::load(&checkpoint_path)?);
    }
    let loss_kind = args.loss.unwrap_or(if train_set.num_classes().is_some() {
        LossKind::CrossEntropy
    } else {
        LossKind::Mse
    });
    let mut loss = make_loss(loss_kind);
    if !quiet {
        println!("{model}");
    }
    let history = trainer.fit(
        &mut model,
        loss.as_mut(),
        &mut optimizer,
        train_set.as_ref(),
        Some(validation_set.as_ref()),
    )?;
    if let Some(path) = &args.plot {
        plot_history(&history, path)?;
    }
    if let Some(last) = history.last() {
        let accuracy = last
            .validation_accuracy
            .map_or_else(String::new, |a| format!(", validation accuracy {:.2}%", 100.0 * a));
        let plot = args.plot.as_ref().map_or_else(String::new, |p| format!("; curves {}", p.display()));
        println!(
            "trained {} epochs: validation loss {:.4}{accuracy}; checkpoint {}{plot}",
            last.epoch,
            last.validation_loss.unwrap_or(f32::NAN),
            checkpoint_path.display()
        );
    }
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
    let mnist;
    let csv;
    let data: &dyn Dataset = if args.data.is_dir() {
        mnist = Mnist::load(&args.data)?;
        &mnist.test
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
            println!("{} samples from {}", data.len(), args.data.display());
            if let Some(names) = &names {
                let listed: Vec<String> =
                    names.iter().enumerate().map(|(c, n)| format!("{c} {}", csv_field(n))).collect();
                println!("classes: {}", listed.join(", "));
            }
            println!("{matrix}");
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
            println!("{} samples from {}", data.len(), args.data.display());
            println!(
                "MSE {:.6}  MAE {:.6}",
                mean_squared_error(&output, targets),
                mean_absolute_error(&output, targets)
            );
        }
    }
    Ok(())
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
        eprintln!("{}: column {} ({name}) left out as the label", args.input.display(), index + 1);
    }
    Ok(samples.features)
}

/// Images scaled to `[0, 1]`, one per row, and their width: every image of an IDX file, or
/// one PNG or PGM image prepared for a model of `inputs` inputs as MNIST's digits were made
/// (`percept::data::prepare_digit`).
fn read_images(args: &PredictArgs, inputs: Option<usize>) -> Result<(Matrix, usize), Error> {
    let name = args.input.display().to_string();
    if name.ends_with("ubyte") || name.ends_with(".idx") || name.ends_with("ubyte.gz") {
        let array = read_idx(&args.input)?;
        let m = array.to_matrix();
        let invert = args.invert;
        let scaled = Matrix::from_fn(m.rows(), m.cols(), |r, c| {
            let grey = m.get(r, c) / 255.0;
            if invert { 1.0 - grey } else { grey }
        });
        return Ok((scaled, array.dims.get(2).copied().unwrap_or(0)));
    }
    let image = read_image(&args.input, &ImageLimits::default())?;
    // A square model input of `size` pixels a side (28 for MNIST), its digit fitted to
    // 20/28 of the side as MNIST's were.
    let size = inputs.map(|n| n.isqrt()).filter(|size| inputs == Some(size * size));
    let Some(size) = size else {
        let inputs = inputs.map_or_else(|| "any number of".to_string(), |n| n.to_string());
        return Err(format!("{name}: the model takes {inputs} inputs, not a square image").into());
    };
    let options = DigitOptions {
        size,
        fit: (size * 20).div_ceil(28),
        inversion: if args.invert { Inversion::Always } else { Inversion::Auto },
        ..Default::default()
    };
    let digit = prepare_digit(&image, &options)
        .ok_or_else(|| format!("{name}: the image is blank (no ink stands out from its background)"))?;
    if digit.inverted && !args.invert {
        eprintln!(
            "{name}: looks like dark ink on a light background; inverted it (MNIST digits are light on black)"
        );
    }
    if digit.resized {
        eprintln!(
            "{name}: {}x{} image cropped to its ink, fitted to {}x{} and centred in {size}x{size} as MNIST's digits were",
            image.width, image.height, options.fit, options.fit
        );
    }
    Ok((Matrix::from_vec(1, size * size, digit.pixels), size))
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
        let (images, width) = read_images(args, model.in_features())?;
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
                println!("{what} {i}: {}", listed.join(", "));
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
                println!(
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
        println!("… {} more {what}s", output.rows() - 20);
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
        println!("{} predictions written to {}", output.rows(), path.display());
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
    println!("wrote {} tensors to {}: {}", names.len(), args.out.display(), names.join(", "));
    Ok(())
}

fn summary(args: &SummaryArgs) -> Result<(), Error> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let model = checkpoint.model()?;
    println!(
        "{}: trained {} epochs, {} optimizer steps ({})",
        args.model.display(),
        checkpoint.epoch,
        checkpoint.optimizer.steps,
        checkpoint.optimizer.rule
    );
    if let Some(names) = &checkpoint.class_names {
        let listed: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
        println!("classes: {}", listed.join(", "));
    }
    println!("{model}");
    if let Some(path) = &args.plot {
        let history = History { epochs: checkpoint.history.iter().map(EpochRecord::from).collect() };
        plot_history(&history, path)?;
        println!("curves of {} epochs: {}", history.epochs.len(), path.display());
    }
    Ok(())
}

fn serve(args: &ServeArgs) -> Result<(), Error> {
    use percept::serve::{ServeConfig, Server};
    let checkpoint = Checkpoint::load(&args.checkpoint)?;
    let defaults = ServeConfig::default();
    let body_limit = args.max_body.unwrap_or(defaults.body_limit);
    let config = ServeConfig {
        workers: args.workers.unwrap_or(defaults.workers),
        body_limit,
        image_limits: percept::data::ImageLimits {
            max_file_bytes: body_limit as u64,
            ..defaults.image_limits
        },
        ..defaults
    };
    // Requests run in parallel, each on its own copy of the model; a forward pass of one
    // image is too small to split between threads.
    percept::set_threads(1)?;
    let server =
        Server::new(checkpoint, config).map_err(|e| format!("{}: {e}", args.checkpoint.display()))?;
    let running = server.spawn(&args.addr).map_err(|e| format!("{}: {e}", args.addr))?;
    println!("serving {} on {} (Ctrl-C to stop)", args.checkpoint.display(), running.url());
    std::io::Write::flush(&mut std::io::stdout())?;
    running.run_until_ctrl_c()?;
    println!("stopped");
    Ok(())
}
