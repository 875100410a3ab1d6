//! `percept predict`: classify images (prepared as MNIST's digits were) or predict the rows of
//! a CSV file.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use percept::data::{
    DigitOptions, ImageLimits, Inversion, prepare_digit, read_csv_features, read_idx, read_image,
};
use percept::linalg::{Matrix, softmax_row};
use percept::prelude::*;

use crate::{Error, csv_field, csv_options, output_names};

#[derive(Args)]
pub struct PredictArgs {
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

pub fn predict(args: &PredictArgs) -> Result<(), Error> {
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
