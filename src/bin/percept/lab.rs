//! `percept lab`: the lesson's MNIST lab, run by `percept::train::lab`.

use std::path::PathBuf;

use clap::Args;

use crate::Error;

/// `percept lab`: the settings of `percept::train::lab::LabConfig`.
#[derive(Args)]
pub struct LabArgs {
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

pub fn lab(args: LabArgs) -> Result<(), Error> {
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
