//! `percept`: train, evaluate, predict, export, inspect and serve models without writing a
//! program. Each subcommand parses its flags and hands them to the library (`Recipe`,
//! `Checkpoint`, `lab::run_lab`, `serve::Server`), which does the work.
//!
//! ```text
//! percept train --data datasets/mnist --hidden 128 --epochs 3 --checkpoint mnist.ckpt
//! percept train --recipe recipes/mnist-mlp.toml --epochs 5
//! percept eval --model mnist.ckpt --data datasets/mnist
//! percept predict --model mnist.ckpt digit.png
//! percept predict --model moons.ckpt new_points.csv --out predictions.csv
//! percept export --model mnist.ckpt --out mnist.safetensors
//! percept summary --model mnist.ckpt
//! percept lab --quick          # the lesson's MNIST lab, answered in lab-report/REPORT.md
//! percept serve --checkpoint mnist.ckpt --addr 127.0.0.1:8080
//! ```

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use percept::data::{CsvOptions, LabelColumn, Task};
use percept::prelude::*;

/// Prints a line to standard output, returning a write error (a full disk) as an error of
/// the command (`println!` would panic). A closed pipe (`| head`) ends the process quietly
/// through SIGPIPE (see `main`).
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

mod eval;
mod inspect;
mod lab;
mod predict;
mod serve;
mod train;

type Error = Box<dyn std::error::Error>;

#[derive(Parser)]
#[command(name = "percept", version, about = "Train and use feed-forward networks from the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model described by a recipe file or by flags, on an IDX directory (MNIST-style)
    /// or a CSV file; saves a checkpoint.
    Train(train::TrainArgs),
    /// Accuracy and confusion matrix (or MSE and MAE) of a checkpoint on a data set.
    Eval(eval::EvalArgs),
    /// Classify a PNG or PGM image of a digit or every image of an IDX file, or predict every
    /// row of a CSV file.
    Predict(predict::PredictArgs),
    /// Write a checkpoint's weights as safetensors with PyTorch's state_dict names.
    Export(inspect::ExportArgs),
    /// Print a checkpoint's layers, shapes and parameter counts.
    Summary(inspect::SummaryArgs),
    /// Run the lesson's MNIST lab (depth × activation, one-vs-all) and write a report.
    Lab(lab::LabArgs),
    /// Serve a trained classifier over HTTP, with a page to draw a digit on (Ctrl-C stops).
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`percept predict … | head`) fails,
    // and `println!` panics. Like other Unix tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` print to standard output: a failed write is an error there
        // too (clap's own exit would report success).
        Err(e) if !e.use_stderr() => {
            return match e.print().and_then(|()| std::io::stdout().flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    note!("error: writing to standard output: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Train(args) => train::train(args),
        Command::Eval(args) => eval::eval(&args),
        Command::Predict(args) => predict::predict(&args),
        Command::Export(args) => inspect::export(&args),
        Command::Summary(args) => inspect::summary(&args),
        Command::Lab(args) => lab::lab(args),
        Command::Serve(args) => serve::serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The model's class names, when its checkpoint has one per output.
fn output_names(checkpoint: &Checkpoint, model: &Sequential) -> Option<Vec<String>> {
    checkpoint.class_names.clone().filter(|names| Some(names.len()) == model.out_features())
}

/// How a CSV file is read: the label column by name or 0-based index (the last without one).
fn csv_options(label: Option<&str>, regression: bool) -> CsvOptions {
    CsvOptions {
        label: label.map_or(LabelColumn::Last, LabelColumn::from_name_or_index),
        task: if regression { Task::Regression } else { Task::Classification },
        ..Default::default()
    }
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
