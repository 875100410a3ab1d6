//! The lesson's point that depth separates what a line cannot: the same small MLP trained on
//! two moons, two circles and three spirals, with and without a hidden layer.
//!
//! ```text
//! cargo run --release --example toy_sets
//! cargo run --release --example toy_sets -- --plot plots   # and each model's decision map as SVG
//! cargo run --release --example toy_sets -- --csv data      # and each data set as CSV (two-moons.csv, …)
//! ```

use std::path::PathBuf;

use clap::Parser;
use percept::data::{
    InMemoryDataset, make_circles, make_moons, make_spirals, make_xor, split_indices, write_csv,
};
use percept::prelude::*;

/// The same small MLP on two moons, two circles, three spirals and XOR, with and without a
/// hidden layer: depth bends the decision boundary.
#[derive(Parser)]
struct Args {
    /// Also draw each model's decision map as SVG into this folder (created if needed).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Also write each data set as CSV into this folder (two-moons.csv, …; columns x, y,
    /// class).
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// Test accuracy and the trained model.
fn train_and_test(
    data: &InMemoryDataset,
    hidden: Option<usize>,
    seed: u64,
) -> Result<(f32, Sequential), Box<dyn std::error::Error>> {
    let (train_idx, test_idx) = split_indices(data.len(), 0.2, seed, None);
    let (train, test) = (data.subset(&train_idx), data.subset(&test_idx));
    let classes = data.num_classes().expect("classification");
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    match hidden {
        Some(width) => {
            model
                .add(Linear::new(2, width, &mut rng))?
                .add(Tanh)?
                .add(Linear::new(width, classes, &mut rng))?;
        }
        None => {
            model.add(Linear::new(2, classes, &mut rng))?;
        }
    }
    let config = FitConfig { epochs: 300, batch_size: 32, seed, verbose: false, ..Default::default() };
    let mut optimizer = Optimizer::new(Adam::new(0.01));
    Trainer::new(config).fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &train, None)?;
    let accuracy = evaluate(&mut model, &mut SoftmaxCrossEntropy::new(), &test, 1024)?.accuracy;
    Ok((accuracy.unwrap_or(f32::NAN), model))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args { plot: plot_dir, csv: csv_dir } = Args::parse();
    for dir in plot_dir.iter().chain(&csv_dir) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let sets = [
        ("two moons", make_moons(1000, 0.1, 1)),
        ("two circles", make_circles(1000, 0.5, 0.05, 2)),
        ("three spirals", make_spirals(1500, 3, 0.1, 3)),
        ("XOR", make_xor(1000, 0.05, 4)),
    ];
    println!("test accuracy (20% held out), Adam 0.01, 300 epochs, batch 32");
    println!("{:<15} {:>22} {:>26}", "data set", "no hidden layer", "one hidden layer (32 tanh)");
    for (name, data) in &sets {
        let (linear, mut linear_model) = train_and_test(data, None, 0)?;
        let (deep, mut deep_model) = train_and_test(data, Some(32), 0)?;
        println!("{name:<15} {:>21.1}% {:>25.1}%", 100.0 * linear, 100.0 * deep);
        let slug = name.replace(' ', "-").to_lowercase();
        if let Some(dir) = &csv_dir {
            write_csv(dir.join(format!("{slug}.csv")), data, Some(&["x", "y"]))?;
        }
        if let Some(dir) = &plot_dir {
            plot_decision_boundary(&mut linear_model, data, dir.join(format!("{slug}-linear.svg")))?;
            plot_decision_boundary(&mut deep_model, data, dir.join(format!("{slug}-hidden.svg")))?;
        }
    }
    println!("A linear classifier draws straight boundaries; one hidden layer bends them.");
    if let Some(dir) = &plot_dir {
        println!("decision maps: {}/*-linear.svg and *-hidden.svg", dir.display());
    }
    if let Some(dir) = &csv_dir {
        println!("data sets: {}/*.csv (columns x, y, class)", dir.display());
    }
    Ok(())
}
