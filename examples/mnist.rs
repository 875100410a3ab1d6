//! The lab: a multi-layer perceptron on MNIST's handwritten digits.
//!
//! ```text
//! cargo run --release --example mnist                       # the default recipe, ≥ 98% test accuracy
//! cargo run --release --example mnist -- --hidden 128 --epochs 2 --threads 1 --json
//! cargo run --release --example mnist -- --hidden 100,100 --activation tanh   # the lab's comparisons
//! cargo run --release --example mnist -- --epochs 5 --plot plots   # curves and weights as SVG
//! ```
//!
//! Flags and JSON keys match `benches/peers/torch_mlp.py`, so runs compare line by line.

use std::process::ExitCode;
use std::time::Instant;

use clap::builder::TypedValueParser;
use clap::{Parser, ValueEnum};
use percept::optim::OptimizerKind;
use percept::prelude::*;

#[derive(Parser, Debug)]
#[command(about = "Train a multi-layer perceptron on MNIST (or any IDX directory of the same layout)")]
struct Args {
    /// Directory with the four MNIST IDX files (gzip'd or raw).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist"))]
    data: std::path::PathBuf,
    /// Passes over the 60,000 training images.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Hidden layer sizes, comma-separated (e.g. 512,256); empty for a linear classifier.
    #[arg(long, default_value = "512,256")]
    hidden: String,
    /// Activation after each hidden layer.
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    activation: Activation,
    /// Optimizer (PyTorch's formulas and defaults; see percept-optim).
    #[arg(long, default_value = "sgd", value_parser = clap::builder::PossibleValuesParser::new(OptimizerKind::NAMES).map(|s| s.parse::<OptimizerKind>().expect("a listed name")))]
    optimizer: OptimizerKind,
    /// Learning rate (Adam and AdamW usually want about 0.001).
    #[arg(long, default_value_t = 0.1)]
    lr: f32,
    /// Momentum factor for momentum and nesterov (default 0.9), and for rmsprop (default
    /// none).
    #[arg(long)]
    momentum: Option<f32>,
    /// Weight decay (an L2 penalty; decoupled for adamw).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Learning-rate schedule, stepped once per epoch: cosine annealing to 0 over the run, or
    /// a tenfold decay every third of the run.
    #[arg(long, value_enum, default_value_t = ScheduleKind::None)]
    schedule: ScheduleKind,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed for initialization and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object per epoch and a final summary instead of text.
    #[arg(long)]
    json: bool,
    /// No per-epoch lines or progress bar: only the final result.
    #[arg(long)]
    quiet: bool,
    /// Write plots into this directory (created if needed): the training curves
    /// (`curves.svg`) and the largest absolute weight of each layer per epoch (`weights.svg`,
    /// the lab's "watch the weights").
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Activation {
    Relu,
    Tanh,
    Sigmoid,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScheduleKind {
    None,
    Cosine,
    Step,
}

/// The optimizer the flags ask for, with its description for the log.
fn build_optimizer(args: &Args) -> (Optimizer, String) {
    let rule = args.optimizer.rule(args.lr, args.momentum, args.weight_decay);
    (Optimizer::new(rule), rule_settings(args))
}

/// The optimizer's settings as the log prints them.
fn rule_settings(args: &Args) -> String {
    let mut text = format!("{:?}, learning rate {}", args.optimizer, args.lr);
    if matches!(args.optimizer, OptimizerKind::Momentum | OptimizerKind::Nesterov) || args.momentum.is_some()
    {
        text += &format!(", momentum {}", args.momentum.unwrap_or(0.9));
    }
    if args.weight_decay != 0.0 {
        text += &format!(", weight decay {}", args.weight_decay);
    }
    if !matches!(args.schedule, ScheduleKind::None) {
        text += &format!(", {:?} schedule", args.schedule);
    }
    text
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_hidden(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--hidden: '{s}' is not a positive layer size (expected e.g. 512,256)")),
        })
        .collect()
}

fn build_model(
    features: usize,
    hidden: &[usize],
    classes: usize,
    activation: Activation,
    seed: u64,
) -> Result<Sequential, NnError> {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    let mut width = features;
    for &size in hidden {
        model.add(Linear::new(width, size, &mut rng))?;
        match activation {
            Activation::Relu => model.add(ReLU)?,
            Activation::Tanh => model.add(Tanh)?,
            Activation::Sigmoid => model.add(Sigmoid)?,
        };
        width = size;
    }
    model.add(Linear::new(width, classes, &mut rng))?;
    Ok(model)
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(threads) = args.threads {
        percept::set_threads(threads)?;
    }
    if args.batch == 0 || args.epochs == 0 {
        return Err("--batch and --epochs must be at least 1".into());
    }
    let hidden = parse_hidden(&args.hidden)?;

    let started = Instant::now();
    let mnist = Mnist::load(&args.data)?;
    let data_load_seconds = started.elapsed().as_secs_f64();

    let classes = mnist.train.num_classes().expect("MNIST has classes");
    let mut model = build_model(mnist.train.num_features(), &hidden, classes, args.activation, args.seed)?;
    let (mut optimizer, optimizer_text) = build_optimizer(args);
    if !args.json {
        println!(
            "MNIST: {} training and {} test images from {} ({:.2} s)",
            mnist.train.len(),
            mnist.test.len(),
            args.data.display(),
            data_load_seconds
        );
        println!("{model}");
        println!(
            "{}, batch {}, {} epochs, {} threads, seed {}",
            optimizer_text,
            args.batch,
            args.epochs,
            percept::linalg::num_threads(),
            args.seed
        );
    }

    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        seed: args.seed,
        verbose: !args.json && !args.quiet,
        ..Default::default()
    };
    let mut trainer = Trainer::new(config);
    // The test set is watched after every epoch as a benchmark (the peers' scripts print it
    // the same way): it chooses nothing (no early stopping, no plateau schedule), and the
    // progress lines call it what it is.
    trainer.validation_label("test");
    match args.schedule {
        ScheduleKind::None => {}
        ScheduleKind::Cosine => {
            trainer.schedule(Schedule::Cosine { t_max: args.epochs as u64, eta_min: 0.0 }, StepEvery::Epoch);
        }
        ScheduleKind::Step => {
            let step_size = (args.epochs as u64 / 3).max(1);
            trainer.schedule(Schedule::Step { step_size, gamma: 0.1 }, StepEvery::Epoch);
        }
    }
    if args.json {
        trainer.on_epoch(|r| {
            println!(
                "{{\"epoch\": {}, \"train_seconds\": {:.4}, \"loss\": {:.5}, \"test_acc\": {:.4}}}",
                r.epoch,
                r.train_seconds,
                r.train_loss,
                r.validation_accuracy.unwrap_or(f32::NAN)
            );
        });
    }
    let watch = WeightWatch::new();
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        watch.observe(0, &mut model);
        trainer.callback(watch.clone());
    }
    let history = trainer.fit(
        &mut model,
        &mut SoftmaxCrossEntropy::new(),
        &mut optimizer,
        &mnist.train,
        Some(&mnist.test),
    )?;
    if let Some(dir) = &args.plot {
        let (curves, weights) = (dir.join("curves.svg"), dir.join("weights.svg"));
        percept::train::plot_history_labelled(&history, &curves, "test")?;
        watch.plot(&weights)?;
        if !args.json {
            println!("plots: {} and {}", curves.display(), weights.display());
        }
    }

    let infer_images_per_s = inference_throughput(&mut model, &mnist.test)?;
    let mut epoch_seconds: Vec<f64> = history.epochs.iter().map(|e| e.train_seconds).collect();
    let median_epoch_seconds = median(&mut epoch_seconds);
    let final_test_acc = history.last().and_then(|r| r.validation_accuracy).unwrap_or(f32::NAN);
    let total_train_seconds = history.train_seconds();
    let peak_rss_mib = peak_rss_mib();
    if args.json {
        println!(
            "{{\"final\": true, \"impl\": \"percept\", \"threads\": {}, \"batch\": {}, \"hidden\": {:?}, \
             \"activation\": \"{:?}\", \"optimizer\": \"{:?}\", \"lr\": {}, \"epochs\": {}, \
             \"total_train_seconds\": {:.4}, \"median_epoch_seconds\": {:.4}, \"final_test_acc\": {:.4}, \
             \"data_load_seconds\": {:.3}, \"infer_images_per_s\": {:.1}, \"peak_rss_mib\": {:.1}}}",
            percept::linalg::num_threads(),
            args.batch,
            hidden,
            args.activation,
            args.optimizer,
            args.lr,
            args.epochs,
            total_train_seconds,
            median_epoch_seconds,
            final_test_acc,
            data_load_seconds,
            infer_images_per_s,
            peak_rss_mib.unwrap_or(f64::NAN)
        );
    } else {
        println!(
            "final test accuracy {:.2}% after {} epochs: {:.2} s of training ({:.2} s median per epoch)",
            100.0 * final_test_acc,
            args.epochs,
            total_train_seconds,
            median_epoch_seconds
        );
        print!("inference {:.0} images/s", infer_images_per_s);
        match peak_rss_mib {
            Some(mib) => println!(", peak memory {mib:.0} MiB"),
            None => println!(),
        }
    }
    Ok(())
}

/// Images per second for predicting the whole test set (gathering the pixels from bytes,
/// forward pass, argmax), median of 5 runs after a warm-up, as torch_mlp.py measures. The
/// images go through in blocks of 1,000 rather than one 31 MB matrix: the same work, and the
/// run's memory stays at the size of the data set.
///
/// Each block is gathered straight into sparse form when it is sparse enough for the first
/// layer's sparse path, densely otherwise, as the fit loop does (`percept::train::BatchBuffers`).
fn inference_throughput(model: &mut Sequential, test: &ImageDataset) -> Result<f64, NnError> {
    const BLOCK: usize = 1000;
    let mut buffers = percept::train::BatchBuffers::new();
    let mut predictions = vec![0usize; BLOCK];
    let indices: Vec<usize> = (0..test.len()).collect();
    let mut times = Vec::new();
    for run in 0..6 {
        let started = Instant::now();
        for block in indices.chunks(BLOCK) {
            let output = buffers.forward(model, test, block, Mode::Eval)?;
            percept::linalg::argmax_rows(output, &mut predictions[..block.len()]);
        }
        if run > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    Ok(test.len() as f64 / median(&mut times))
}

/// The median, the mean of the middle two for an even count: as Python's `statistics.median`
/// computes it in the peers' scripts (`benches/peers/*.py`), so that both sides report the
/// same statistic. (The upper middle value, used before, gave the slower epoch of a 2-epoch
/// run.)
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Peak resident memory of this process (Linux: VmHWM in /proc/self/status).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
