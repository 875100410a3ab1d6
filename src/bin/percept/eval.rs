//! `percept eval`: a checkpoint's accuracy and confusion matrix (or MSE and MAE) on a data set.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use percept::data::{Dataset, Labels, Mnist, read_csv};
use percept::linalg::Matrix;
use percept::prelude::*;
use percept::train::{ConfusionMatrix, mean_absolute_error, mean_squared_error};

use crate::{Error, csv_field, csv_options, output_names};

#[derive(Args)]
pub struct EvalArgs {
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

pub fn eval(args: &EvalArgs) -> Result<(), Error> {
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
            Some(names) => file.numbered_as(names, &args.data)?,
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
