//! The lesson's lab, answered: MNIST with 1-, 2- and 3-layer perceptrons and four activations,
//! plus one-vs-all against softmax, chosen on a validation split and written up as a report.
//!
//! ```text
//! cargo run --release --example lab                      # the full lab: lab-report/REPORT.md
//! cargo run --release --example lab -- --quick           # a small grid in seconds
//! cargo run --release --example lab -- --epochs 5 --hidden 128,64 --activations relu,tanh --out my-lab
//! ```
//!
//! The same as `percept lab`; the work is in `percept::train::lab`.

use std::process::ExitCode;

use clap::Parser;
use percept::train::lab::{Activation, LabConfig, run_lab};

#[derive(Parser, Debug)]
#[command(about = "Run the lesson's MNIST lab (depth × activation, one-vs-all) and write a report")]
struct Args {
    /// Directory with the four MNIST IDX files (gzip'd or raw).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist"))]
    data: std::path::PathBuf,
    /// Folder for REPORT.md, results.json and the figures (created if needed).
    #[arg(long, default_value = "lab-report")]
    out: std::path::PathBuf,
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
    activations: Option<Vec<Activation>>,
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

fn main() -> ExitCode {
    let args = Args::parse();
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
    match run_lab(&config) {
        Ok(outcome) => {
            println!("report: {}", outcome.report.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
