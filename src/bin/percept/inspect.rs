//! `percept export` and `percept summary`: a checkpoint as safetensors, or printed.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use percept::prelude::*;
use percept::train::export_safetensors;

use crate::{Error, csv_field};

#[derive(Args)]
pub struct ExportArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct SummaryArgs {
    /// The checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Also draw the saved run's training curves (loss and accuracy per epoch) to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub fn export(args: &ExportArgs) -> Result<(), Error> {
    let mut model = Sequential::load(&args.model)?;
    export_safetensors(&mut model, &args.out)?;
    let names = percept::train::state_dict_names(&mut model)?;
    out!("wrote {} tensors to {}: {}", names.len(), args.out.display(), names.join(", "));
    Ok(())
}

pub fn summary(args: &SummaryArgs) -> Result<(), Error> {
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
