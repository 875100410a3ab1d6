//! PyTorch interop through safetensors: trains a small model, exports it with PyTorch's
//! `state_dict` names, and imports a file PyTorch wrote. `scripts/check_safetensors.py`
//! drives it and compares the outputs on both sides.
//!
//! ```text
//! cargo run --release --example interop -- DIR
//! ```
//!
//! Writes `DIR/percept.safetensors`, `DIR/input.json` and `DIR/percept_output.json`; if
//! `DIR/torch.safetensors` exists, also loads it into the same architecture and writes
//! `DIR/percept_from_torch.json`.

use std::path::PathBuf;

use clap::Parser;
use percept::data::make_blobs;
use percept::linalg::Matrix;
use percept::prelude::*;
use percept::train::{export_safetensors, import_safetensors};

/// 2 → 16 → BatchNorm1d → ReLU → LayerNorm → 3, the architecture of the script's `nn.Sequential`.
fn architecture(seed: u64) -> Result<Sequential, NnError> {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    model
        .add(Linear::new(2, 16, &mut rng))?
        .add(BatchNorm1d::new(16))?
        .add(ReLU)?
        .add(LayerNorm::new(16))?
        .add(Linear::new(16, 3, &mut rng))?;
    Ok(model)
}

fn json_rows(m: &Matrix) -> String {
    let rows: Vec<String> = m
        .row_iter()
        .map(|r| format!("[{}]", r.iter().map(|v| format!("{v:e}")).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", rows.join(", "))
}

/// Train a small model, export it as safetensors with PyTorch's names, and import a file
/// PyTorch wrote (scripts/check_safetensors.py compares both sides).
#[derive(Parser)]
struct Args {
    /// Folder for percept.safetensors, input.json and percept_output.json (created if
    /// needed); if it holds torch.safetensors, that is loaded too.
    dir: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Args::parse().dir;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let data = make_blobs(600, &[[0.0, 0.0], [3.0, 3.0], [-3.0, 3.0]], 1.0, 1);
    let mut model = architecture(0)?;
    let config =
        FitConfig { epochs: 5, batch_size: 32, verbose: false, drop_last: true, ..Default::default() };
    Trainer::new(config).fit(
        &mut model,
        &mut SoftmaxCrossEntropy::new(),
        &mut Optimizer::new(Adam::new(0.01)),
        &data,
        None,
    )?;

    let input = Matrix::from_rows(&[[0.5, -1.0], [2.0, 3.5], [-2.5, 2.0], [0.0, 0.0]]);
    let output = model.forward(&input, Mode::Eval)?.clone();
    export_safetensors(&mut model, dir.join("percept.safetensors"))?;
    std::fs::write(dir.join("input.json"), json_rows(&input))?;
    std::fs::write(dir.join("percept_output.json"), json_rows(&output))?;
    println!("wrote {}", dir.join("percept.safetensors").display());

    let torch_file = dir.join("torch.safetensors");
    if torch_file.exists() {
        let mut imported = architecture(7)?;
        import_safetensors(&mut imported, &torch_file)?;
        let output = imported.forward(&input, Mode::Eval)?.clone();
        std::fs::write(dir.join("percept_from_torch.json"), json_rows(&output))?;
        println!("read {}", torch_file.display());
    }
    Ok(())
}
