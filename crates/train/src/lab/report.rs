//! REPORT.md: the settings, the results table, the answers and the figures, as Markdown
//! that renders on GitHub.

use super::answers::{answers, percent, significant, thousands};
use super::digits::{PREDICTED_INK, TRUE_INK};
use super::{Figures, LabResults};

/// The report of `results`, whose figures were written under the names in `figures` (in the
/// same folder as the report).
pub fn report_markdown(results: &LabResults, figures: &Figures) -> String {
    let settings = &results.settings;
    let mut out = String::new();
    out += "# The lab: MNIST with 1, 2 and 3 layers\n\n";
    out += &format!(
        "Written by `percept lab`. Data: `{}`; {} training and {} validation images (MNIST's training \
         files split {:.0}/{:.0}, seeded and stratified by digit), {} test images. Every configuration: \
         {}, learning rate {}, batch {}, {} epochs, seed {}, PyTorch's initialization; {} threads; \
         the whole lab took {:.1} s.\n\n",
        settings.data,
        thousands(settings.train_images),
        thousands(settings.validation_images),
        100.0 * settings.train_images as f64
            / (settings.train_images + settings.validation_images).max(1) as f64,
        100.0 * settings.validation_images as f64
            / (settings.train_images + settings.validation_images).max(1) as f64,
        thousands(settings.test_images),
        settings.optimizer,
        settings.learning_rate,
        settings.batch_size,
        settings.epochs,
        settings.seed,
        settings.threads,
        results.wall_seconds
    );
    out += "Each configuration keeps the weights of its epoch of highest validation accuracy, and the \
            configurations are ranked by it: every choice is made on validation. The test images are \
            measured once per configuration, with those weights, and choose nothing.\n\n";
    out += "## Results\n\n";
    out += "| configuration | layers | parameters | best validation accuracy | its epoch | test accuracy | training time |\n";
    out += "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";
    for (k, run) in results.runs.iter().enumerate() {
        let name = if k == results.best { format!("**{}** (best)", run.name) } else { run.name.clone() };
        let widths = layer_widths(&run.layers);
        out += &format!(
            "| {name} | {widths} | {} | {} | {} | {} | {:.1} s |\n",
            thousands(run.parameters),
            percent(run.best_validation_accuracy),
            run.best_epoch,
            percent(run.test_accuracy),
            run.train_seconds
        );
    }
    out += "\nTraining time counts the epochs' training steps (forward, backward, update), not the \
            evaluations. All numbers are in `results.json`.\n\n";
    out += "## Answers\n\n";
    out += "Every number and comparison below is computed from this run's results.\n\n";
    for answer in answers(results) {
        out += &format!("### {}\n\n{}\n\n", answer.question, answer.text);
    }
    out += "## Figures\n\n";
    out += &format!(
        "### Training and validation accuracy\n\nPer configuration, per epoch (training accuracy is \
         counted during the epoch, as the weights change).\n\n![Training and validation accuracy per \
         epoch, one panel per configuration]({})\n\n",
        figures.curves
    );
    out += &format!(
        "### Validation accuracy of every configuration\n\n![Validation accuracy per epoch of every \
         configuration]({})\n\n",
        figures.validation
    );
    out += &format!(
        "### The weights\n\nThe largest absolute weight of each `Linear` layer after each epoch (epoch \
         0: the initialization).\n\n![Largest absolute weight per layer and epoch]({})\n\n",
        figures.weights
    );
    out += &format!(
        "### The gradients\n\nThe L2 norm of each `Linear` layer's weight gradient, averaged over the \
         epoch's steps, on a log scale shared by all panels: a first layer far below the output layer \
         is a vanishing gradient.\n\n![Mean weight-gradient norm per layer and epoch]({})\n\n",
        figures.gradients
    );
    if let Some(best) = results.best_run() {
        out += &format!(
            "### Confusion matrix of the best configuration ({})\n\nTest images, true digit down, \
             prediction across; correct counts in blue, mistakes in red.\n\n![Confusion matrix]({})\n\n",
            best.name, figures.confusion
        );
        let pairs = best.most_confused(5);
        if !pairs.is_empty() {
            out +=
                "Most confused pairs:\n\n| true digit | predicted | test images |\n| ---: | ---: | ---: |\n";
            for pair in pairs {
                out += &format!("| {} | {} | {} |\n", pair.truth, pair.predicted, pair.count);
            }
            out += "\n";
        }
        if let Some(png) = &figures.misclassified {
            let shown = best.misclassified.len();
            out += &format!(
                "### Misclassified test digits\n\nThe first {shown} test images (in file order) that \
                 {} got wrong. Under each: the prediction on the left in red (rgb{:?}), the true digit on \
                 the right in green (rgb{:?}).\n\n![Misclassified test digits with predicted and true \
                 labels]({png})\n\n",
                best.name, PREDICTED_INK, TRUE_INK
            );
            out += "<details><summary>The same digits as a table</summary>\n\n| test image | true digit | predicted |\n| ---: | ---: | ---: |\n";
            for mistake in best.misclassified.iter().take(shown) {
                out += &format!("| {} | {} | {} |\n", mistake.index, mistake.truth, mistake.predicted);
            }
            out += "\n</details>\n\n";
        }
    }
    out += &format!("### Gradient norms in the first epoch\n\n{}\n", gradient_table(results));
    out
}

/// `784-256-128-10` from the layers' descriptions `Linear(784 → 256)`, ….
fn layer_widths(layers: &[String]) -> String {
    let sizes: Vec<Vec<String>> = layers
        .iter()
        .map(|l| {
            l.trim_start_matches("Linear(")
                .trim_end_matches(')')
                .split('→')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .collect();
    let mut widths: Vec<String> = sizes.first().and_then(|s| s.first()).cloned().into_iter().collect();
    widths.extend(sizes.iter().filter_map(|s| s.last().cloned()));
    widths.join("-")
}

/// Each configuration's mean weight-gradient norm per layer in epoch 1, as a table.
fn gradient_table(results: &LabResults) -> String {
    let deepest = results.runs.iter().map(|r| r.layers.len()).max().unwrap_or(0);
    let mut out = String::from("| configuration |");
    for k in 0..deepest {
        out += &format!(" layer {} |", k + 1);
    }
    out += "\n| --- |";
    out += &" ---: |".repeat(deepest);
    out += "\n";
    for run in &results.runs {
        out += &format!("| {} |", run.name);
        let layers = run.epochs.first().map(|e| e.layers.as_slice()).unwrap_or(&[]);
        for k in 0..deepest {
            match layers.get(k) {
                Some(layer) => out += &format!(" {} |", significant(layer.mean_weight_grad_norm as f64)),
                None => out += " |",
            }
        }
        out += "\n";
    }
    out + "\nMean L2 norm of each `Linear` layer's weight gradient per step (layer 1 takes the pixels; the last is the output layer).\n"
}
