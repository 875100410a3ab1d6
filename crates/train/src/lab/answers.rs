//! The answers to the lab's questions, written from a run's numbers.
//!
//! Every number in the text is taken from [`LabResults`], and every comparison word
//! ("higher", "lower", "the same", "grew", "smaller") is chosen by comparing those numbers as
//! they are printed (accuracies to a hundredth of a percent), so that another seed or grid
//! gives a text that is still true. Verdicts that need a threshold state it.

use std::cmp::Ordering;

use super::results::{LabResults, RunResult};
use super::{Activation, Classifier};

/// One question of the lab and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The question, as a heading.
    pub question: String,
    /// One short paragraph (Markdown).
    pub text: String,
}

/// A spread of accuracy this large or more (in percentage points) counts as mattering.
const MATTERS_POINTS: f64 = 1.0;
/// A spread or gain below this (in percentage points) counts as hardly mattering.
const HARDLY_POINTS: f64 = 0.3;
/// A first layer's gradient at most this fraction of the output layer's counts as vanishing.
const VANISHING_RATIO: f64 = 0.25;

/// The answers to the lab's questions (does the activation matter, are 2 or 3 layers
/// needed, what goes wrong as layers are added, how do the weights behave) and the
/// perceptron lab's (one-vs-all against softmax, which digits are confused), from `results`.
pub fn answers(results: &LabResults) -> Vec<Answer> {
    let answer = |question: &str, text: String| Answer { question: question.to_string(), text };
    vec![
        answer("Does the activation matter?", activation_matters(results)),
        answer("Are 2 or 3 layers needed?", layers_needed(results)),
        answer("What goes wrong as layers are added?", what_goes_wrong(results)),
        answer("How do the weights behave?", weights_behave(results)),
        answer("One-vs-all or softmax?", one_vs_all(results)),
        answer("Which digits are confused?", confused_digits(results)),
    ]
}

/// An accuracy as printed: `97.85%`.
pub(crate) fn percent(value: f32) -> String {
    format!("{:.2}%", 100.0 * value)
}

/// An accuracy in hundredths of a percent, as printed: comparisons use this, so that two
/// numbers printed alike are never called different.
fn hundredths(value: f32) -> i64 {
    (value as f64 * 10_000.0).round() as i64
}

/// `a − b` in percentage points, from the printed values.
fn points_between(a: f32, b: f32) -> f64 {
    (hundredths(a) - hundredths(b)) as f64 / 100.0
}

/// `"1.23 points"`, `"1 point"`.
fn points(value: f64) -> String {
    let value = value.abs();
    if (value - 1.0).abs() < 0.005 { "1 point".into() } else { format!("{value:.2} points") }
}

/// How `a` compares with `b` as printed: `"2.10 points higher than"`, `"the same as"`.
fn compared(a: f32, b: f32) -> String {
    let difference = points_between(a, b);
    match difference.partial_cmp(&0.0) {
        Some(Ordering::Greater) => format!("{} higher than", points(difference)),
        Some(Ordering::Less) => format!("{} lower than", points(difference)),
        _ => "the same as".into(),
    }
}

/// A positive number to three significant digits: `0.0123`, `1.57`, `245`.
pub(crate) fn significant(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = (2 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.digits$}")
}

/// A factor as printed: `3.4`, `12`.
fn factor(value: f64) -> String {
    if value >= 10.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// `"1 layer"`, `"3 layers"`.
fn layers(depth: usize) -> String {
    if depth == 1 { "1 layer".into() } else { format!("{depth} layers") }
}

/// The softmax runs (the grid, without one-vs-all).
fn softmax_runs(results: &LabResults) -> impl Iterator<Item = &RunResult> {
    results.runs.iter().filter(|r| r.configuration.classifier == Classifier::Softmax)
}

/// The first of `runs` with the highest best validation accuracy.
fn best_of<'a>(runs: impl Iterator<Item = &'a RunResult>) -> Option<&'a RunResult> {
    runs.fold(None, |best: Option<&RunResult>, run| match best {
        Some(b) if hundredths(run.best_validation_accuracy) <= hundredths(b.best_validation_accuracy) => {
            Some(b)
        }
        _ => Some(run),
    })
}

/// The depths of the grid's softmax runs, ascending, without repeats.
fn depths(results: &LabResults) -> Vec<usize> {
    let mut depths: Vec<usize> = softmax_runs(results).map(|r| r.configuration.depth).collect();
    depths.sort_unstable();
    depths.dedup();
    depths
}

fn activation_name(run: &RunResult) -> &'static str {
    run.configuration.activation.map_or("no activation", Activation::name)
}

/// `"3-layer Sigmoid net"`, `"softmax regression model"`, `"one-vs-all model"`.
fn net(run: &RunResult) -> String {
    match (run.configuration.classifier, run.configuration.activation) {
        (Classifier::OneVsAll, _) => "one-vs-all model".into(),
        (Classifier::Softmax, None) if run.configuration.depth == 1 => "softmax regression model".into(),
        (Classifier::Softmax, None) => format!("{}-layer linear net", run.configuration.depth),
        (Classifier::Softmax, Some(a)) => format!("{}-layer {a} net", run.configuration.depth),
    }
}

fn first_epoch_accuracy(run: &RunResult) -> Option<f32> {
    run.epochs.first().map(|e| e.validation_accuracy)
}

fn activation_matters(results: &LabResults) -> String {
    let mut sentences = Vec::new();
    let mut widest: Option<(f64, usize, &RunResult, &RunResult)> = None;
    let mut deepest_runs: Vec<&RunResult> = Vec::new();
    for depth in depths(results).into_iter().filter(|&d| d > 1) {
        let mut runs: Vec<&RunResult> =
            softmax_runs(results).filter(|r| r.configuration.depth == depth).collect();
        if runs.len() < 2 {
            if let Some(run) = runs.first() {
                sentences.push(format!(
                    "With {} only {} was tried ({} validation accuracy), so this depth cannot compare activations.",
                    layers(depth),
                    activation_name(run),
                    percent(run.best_validation_accuracy)
                ));
            }
            continue;
        }
        // Highest first; equal printed values keep the grid's order.
        runs.sort_by_key(|r| std::cmp::Reverse(hundredths(r.best_validation_accuracy)));
        let (best, worst) = (runs[0], runs[runs.len() - 1]);
        let spread = points_between(best.best_validation_accuracy, worst.best_validation_accuracy);
        let order: Vec<String> = runs
            .windows(2)
            .map(|pair| {
                let sign = if hundredths(pair[0].best_validation_accuracy)
                    == hundredths(pair[1].best_validation_accuracy)
                {
                    "="
                } else {
                    ">"
                };
                format!("{} {sign} ", activation_name(pair[0]))
            })
            .chain(std::iter::once(activation_name(worst).to_string()))
            .collect();
        if spread == 0.0 {
            sentences.push(format!(
                "With {}, every activation reached the same best validation accuracy, {}.",
                layers(depth),
                percent(best.best_validation_accuracy)
            ));
        } else {
            sentences.push(format!(
                "With {}, {} reached the highest best validation accuracy ({}) and {} the lowest ({}), {} apart (order: {}).",
                layers(depth),
                activation_name(best),
                percent(best.best_validation_accuracy),
                activation_name(worst),
                percent(worst.best_validation_accuracy),
                points(spread),
                order.concat()
            ));
        }
        if widest.is_none_or(|(w, ..)| spread > w) {
            widest = Some((spread, depth, best, worst));
        }
        deepest_runs = runs;
    }
    let Some((spread, depth, best, worst)) = widest else {
        return "This run compared no activations (it trained no net with a hidden layer and two activations)."
            .into();
    };
    let verdict = if spread >= MATTERS_POINTS {
        format!(
            "So the activation matters here: at {}, {} instead of {} costs {} of validation accuracy.",
            layers(depth),
            activation_name(worst),
            activation_name(best),
            points(spread)
        )
    } else if spread >= HARDLY_POINTS {
        format!(
            "The activation matters a little here: at most {} between activations at one depth.",
            points(spread)
        )
    } else {
        format!(
            "The activation hardly matters here: at every depth the activations are within {} of each other.",
            points(spread)
        )
    };
    sentences.push(format!(
        "{verdict} (This report calls a spread of {} or more mattering and one under {HARDLY_POINTS:.1} points hardly mattering.)",
        points(MATTERS_POINTS)
    ));
    // How fast they start: the deepest compared depth, after one epoch.
    let starts: Vec<(&RunResult, f32)> =
        deepest_runs.iter().filter_map(|r| first_epoch_accuracy(r).map(|a| (*r, a))).collect();
    let slow = starts.iter().min_by_key(|(_, a)| hundredths(*a));
    let fast = starts.iter().max_by_key(|(_, a)| hundredths(*a));
    if let (Some(&(slow, slow_accuracy)), Some(&(fast, fast_accuracy))) = (slow, fast)
        && slow.configuration.depth > 1
    {
        let early = points_between(fast_accuracy, slow_accuracy);
        let final_spread = points_between(
            deepest_runs[0].best_validation_accuracy,
            deepest_runs[deepest_runs.len() - 1].best_validation_accuracy,
        );
        let wider = match early.partial_cmp(&final_spread) {
            Some(Ordering::Greater) => "wider than",
            Some(Ordering::Less) => "narrower than",
            _ => "the same as",
        };
        sentences.push(format!(
            "After the first epoch the {}-layer nets ranged from {} ({}) to {} ({}), a spread of {}, {wider} the spread of their best epochs.",
            slow.configuration.depth,
            percent(slow_accuracy),
            activation_name(slow),
            percent(fast_accuracy),
            activation_name(fast),
            points(early)
        ));
    }
    sentences.join(" ")
}

fn layers_needed(results: &LabResults) -> String {
    let by_depth: Vec<(usize, &RunResult)> = depths(results)
        .into_iter()
        .filter_map(|d| best_of(softmax_runs(results).filter(|r| r.configuration.depth == d)).map(|r| (d, r)))
        .collect();
    if by_depth.is_empty() {
        return "This run trained no softmax model.".into();
    }
    let mut sentences = Vec::new();
    for (k, &(depth, run)) in by_depth.iter().enumerate() {
        let what = if depth == 1 {
            format!("Softmax regression (1 layer, {} parameters)", thousands(run.parameters))
        } else {
            format!(
                "The best {}-layer net ({}, {} parameters)",
                depth,
                activation_name(run),
                thousands(run.parameters)
            )
        };
        let against = match k.checked_sub(1).map(|j| by_depth[j]) {
            Some((previous_depth, previous)) => format!(
                ", {} the best with {}",
                compared(run.best_validation_accuracy, previous.best_validation_accuracy),
                layers(previous_depth)
            ),
            None => String::new(),
        };
        sentences.push(format!(
            "{what} reached {} validation accuracy{against}.",
            percent(run.best_validation_accuracy)
        ));
    }
    let (winner_depth, winner) = *by_depth.iter().fold(&by_depth[0], |best, item| {
        if hundredths(item.1.best_validation_accuracy) > hundredths(best.1.best_validation_accuracy) {
            item
        } else {
            best
        }
    });
    let shallowest = by_depth[0];
    let verdict = if by_depth.len() == 1 {
        format!("Only {} was trained, so this run cannot say whether more layers help.", layers(winner_depth))
    } else if winner_depth == shallowest.0 {
        format!(
            "No: in this run no deeper net beat {} on validation accuracy.",
            if winner_depth == 1 { "softmax regression".to_string() } else { layers(winner_depth) }
        )
    } else {
        let gain = points_between(winner.best_validation_accuracy, shallowest.1.best_validation_accuracy);
        let deeper: Vec<&(usize, &RunResult)> = by_depth.iter().filter(|(d, _)| *d > winner_depth).collect();
        let mut text = format!(
            "Yes: {} did best, {} above {}",
            layers(winner_depth),
            points(gain),
            if shallowest.0 == 1 { "softmax regression".to_string() } else { layers(shallowest.0) }
        );
        // The gain of the winner over the depth just below it.
        if let Some(&(below_depth, below)) = by_depth.iter().rev().find(|(d, _)| *d < winner_depth)
            && below_depth != shallowest.0
        {
            let step = points_between(winner.best_validation_accuracy, below.best_validation_accuracy);
            let size = if step < HARDLY_POINTS { " (a small gain, under 0.3 points)" } else { "" };
            text += &format!(", and {} above {}{size}", points(step), layers(below_depth));
        }
        text += ".";
        for (depth, run) in deeper {
            text += &format!(
                " More layers did not help: the best {}-layer net is {} the best {}-layer net.",
                depth,
                compared(run.best_validation_accuracy, winner.best_validation_accuracy),
                winner_depth
            );
        }
        text
    };
    sentences.push(verdict);
    // The test set, for the record: measured once for each, it chose nothing.
    let tests: Vec<String> = by_depth
        .iter()
        .map(|(depth, run)| format!("{} with {}", percent(run.test_accuracy), layers(*depth)))
        .collect();
    if by_depth.len() > 1 {
        let validation_order = order_of(&by_depth, |r| r.best_validation_accuracy);
        let test_order = order_of(&by_depth, |r| r.test_accuracy);
        let agreement =
            if validation_order == test_order { "the same order as" } else { "a different order from" };
        sentences.push(format!(
            "On the test set (measured once per model, choosing nothing) these score {}: {agreement} validation.",
            list(&tests)
        ));
    }
    sentences.join(" ")
}

/// The ranks of `runs` by `value` as printed (highest first, ties by position).
fn order_of(runs: &[(usize, &RunResult)], value: impl Fn(&RunResult) -> f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(hundredths(value(runs[i].1))), i));
    order
}

/// `"a"`, `"a and b"`, `"a, b and c"`.
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `"an"` before 8, 11, 18 and 80-89 (as spoken), `"a"` otherwise.
fn article(n: usize) -> &'static str {
    let text = n.to_string();
    if text.starts_with('8') || text == "11" || text == "18" { "an" } else { "a" }
}

pub(crate) use percept_nn::group_thousands as thousands;

/// The first layer's mean weight-gradient norm over the output layer's, in `epoch` (from 1).
fn gradient_ratio(run: &RunResult, epoch: usize) -> Option<(f64, f32, f32)> {
    let record = run.epoch(epoch)?;
    let (first, last) = (record.layers.first()?, record.layers.last()?);
    if record.layers.len() < 2 || last.mean_weight_grad_norm.partial_cmp(&0.0) != Some(Ordering::Greater) {
        return None;
    }
    let ratio = first.mean_weight_grad_norm as f64 / last.mean_weight_grad_norm as f64;
    ratio.is_finite().then_some((ratio, first.mean_weight_grad_norm, last.mean_weight_grad_norm))
}

/// `"3.4 times smaller than"`, `"about as large as"`, `"2.0 times larger than"`, from the ratio
/// as printed.
fn ratio_words(ratio: f64) -> String {
    if ratio < 1.0 && factor(1.0 / ratio) != "1.0" {
        format!("{} times smaller than", factor(1.0 / ratio))
    } else if ratio > 1.0 && factor(ratio) != "1.0" {
        format!("{} times larger than", factor(ratio))
    } else {
        "about as large as".into()
    }
}

fn what_goes_wrong(results: &LabResults) -> String {
    let mut sentences = Vec::new();
    let deep: Vec<&RunResult> = softmax_runs(results).filter(|r| r.configuration.depth > 1).collect();
    if deep.is_empty() {
        return "This run trained no net with a hidden layer, so it shows nothing about adding layers."
            .into();
    }
    let deepest = deep.iter().map(|r| r.configuration.depth).max().unwrap_or(2);
    // Vanishing gradients: the first layer's gradient against the output layer's, epoch 1.
    let ratios: Vec<(&RunResult, (f64, f32, f32))> =
        deep.iter().filter_map(|r| gradient_ratio(r, 1).map(|g| (*r, g))).collect();
    let smallest = ratios
        .iter()
        .filter(|(r, _)| r.configuration.depth == deepest)
        .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
        .copied();
    if let Some((run, (ratio, first, last))) = smallest {
        let mut text = format!(
            "In the first epoch of the {}, the first layer's weight gradient had a mean norm of {} per step, {} the output layer's ({}).",
            net(run),
            significant(first as f64),
            ratio_words(ratio),
            significant(last as f64)
        );
        if ratio <= VANISHING_RATIO {
            text += &format!(
                " The gradient shrinks on its way back through the {} layers: vanishing gradients (this report calls a first layer's gradient at most a quarter of the output layer's vanishing).",
                activation_name(run)
            );
        }
        let largest = ratios
            .iter()
            .filter(|(r, _)| r.configuration.depth == deepest)
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0));
        if let Some((other, (other_ratio, ..))) = largest
            && other.name != run.name
        {
            text += &format!(
                " In the {} the first layer's gradient was {} the output layer's.",
                net(other),
                ratio_words(*other_ratio)
            );
        }
        // The same activation one layer shallower.
        if let Some((shallower, (shallower_ratio, ..))) = ratios.iter().find(|(r, _)| {
            r.configuration.activation == run.configuration.activation && r.configuration.depth + 1 == deepest
        }) {
            let trend = match ratio.partial_cmp(shallower_ratio) {
                Some(Ordering::Less) if factor(1.0 / ratio) != factor(1.0 / shallower_ratio) => {
                    "the extra layer made it smaller"
                }
                Some(Ordering::Greater) if factor(1.0 / ratio) != factor(1.0 / shallower_ratio) => {
                    "the extra layer made it larger"
                }
                _ => "the extra layer changed it little",
            };
            text += &format!(
                " In the {} it was {} the output layer's: {trend}.",
                net(shallower),
                ratio_words(*shallower_ratio)
            );
            if let (Some(deep_start), Some(shallow_start)) =
                (first_epoch_accuracy(run), first_epoch_accuracy(shallower))
            {
                let pace = match hundredths(deep_start).cmp(&hundredths(shallow_start)) {
                    Ordering::Less => "slower",
                    Ordering::Greater => "faster",
                    Ordering::Equal => "as fast",
                };
                text += &format!(
                    " The {}-layer net also started {pace}: {} validation accuracy after one epoch, against {} with {}.",
                    deepest,
                    percent(deep_start),
                    percent(shallow_start),
                    layers(shallower.configuration.depth)
                );
            }
        }
        sentences.push(text);
    }
    // Overfitting: the gap between training and validation accuracy in the last epoch.
    let gaps: Vec<(usize, f64)> = depths(results)
        .into_iter()
        .filter_map(|depth| {
            let runs: Vec<&RunResult> =
                softmax_runs(results).filter(|r| r.configuration.depth == depth).collect();
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.epochs.last())
                .map(|e| points_between(e.train_accuracy, e.validation_accuracy))
                .collect();
            (!values.is_empty()).then(|| (depth, values.iter().sum::<f64>() / values.len() as f64))
        })
        .collect();
    if gaps.len() > 1 {
        let rounded: Vec<i64> = gaps.iter().map(|(_, g)| (g * 100.0).round() as i64).collect();
        let trend = if rounded.windows(2).all(|w| w[1] > w[0]) {
            "grows with every layer added"
        } else if rounded.windows(2).all(|w| w[1] < w[0]) {
            "shrinks with every layer added"
        } else {
            "does not change steadily with depth"
        };
        let values: Vec<String> =
            gaps.iter().map(|(depth, gap)| format!("{:.2} with {}", gap, layers(*depth))).collect();
        sentences.push(format!(
            "The gap between training and validation accuracy in the last epoch (mean over activations, in points) {trend}: {}.",
            list(&values)
        ));
    }
    let peaked: Vec<&&RunResult> = deep
        .iter()
        .filter(|r| {
            let (Some(last), Some(best)) = (r.epochs.last(), r.epoch(r.best_epoch)) else { return false };
            r.best_epoch < last.epoch && hundredths(last.train_accuracy) > hundredths(best.train_accuracy)
        })
        .collect();
    sentences.push(format!(
        "{} of the {} nets with hidden layers had their best validation epoch before the last while their training accuracy went on rising{}",
        peaked.len(),
        deep.len(),
        if peaked.is_empty() {
            ": no sign of overfitting within these epochs."
        } else {
            ", a first sign of overfitting, which choosing the epoch on validation guards against."
        }
    ));
    // What each layer costs.
    let best_by_depth: Vec<&RunResult> = depths(results)
        .into_iter()
        .filter_map(|d| best_of(softmax_runs(results).filter(|r| r.configuration.depth == d)))
        .collect();
    if let (Some(first), Some(last)) = (best_by_depth.first(), best_by_depth.last())
        && best_by_depth.len() > 1
    {
        let time = match last.train_seconds.partial_cmp(&first.train_seconds) {
            Some(Ordering::Greater) => format!(
                "{} times as long to train",
                factor(last.train_seconds / first.train_seconds.max(1e-9))
            ),
            Some(Ordering::Less) => "less time to train".to_string(),
            _ => "as long to train".to_string(),
        };
        sentences.push(format!(
            "And each layer costs: the best {}-layer net has {} parameters against {} for the best {}-layer one, and took {time} ({:.1} s against {:.1} s).",
            last.configuration.depth,
            thousands(last.parameters),
            thousands(first.parameters),
            first.configuration.depth,
            last.train_seconds,
            first.train_seconds
        ));
    }
    sentences.join(" ")
}

fn weights_behave(results: &LabResults) -> String {
    struct LayerGrowth<'a> {
        run: &'a RunResult,
        layer: usize,
        initial: f32,
        last: f32,
        grew_last_epoch: bool,
        never_fell: bool,
    }
    let mut growth = Vec::new();
    for run in &results.runs {
        for (layer, &initial) in run.initial_max_abs_weight.iter().enumerate() {
            let values: Vec<f32> = std::iter::once(initial)
                .chain(run.epochs.iter().filter_map(|e| e.layers.get(layer).map(|l| l.max_abs_weight)))
                .collect();
            let Some(&last) = values.last() else { continue };
            let grew_last_epoch = values.len() >= 2 && values[values.len() - 1] > values[values.len() - 2];
            let never_fell = values.windows(2).all(|w| w[1] >= w[0]);
            growth.push(LayerGrowth { run, layer, initial, last, grew_last_epoch, never_fell });
        }
    }
    if growth.is_empty() {
        return "No weights were recorded.".into();
    }
    let total = growth.len();
    let grew = growth.iter().filter(|g| g.last > g.initial).count();
    let mut sentences = vec![format!(
        "The largest absolute weight grew during training in {grew} of the {total} layers of all configurations{}.",
        if grew == total { "" } else { " (in the others it fell or stayed)" }
    )];
    if let Some(most) = growth
        .iter()
        .filter(|g| g.initial > 0.0)
        .max_by(|a, b| (a.last / a.initial).total_cmp(&(b.last / b.initial)))
    {
        let count = most.run.layers.len();
        let which = if most.layer + 1 == count {
            "output layer".to_string()
        } else {
            format!("layer {}", most.layer + 1)
        };
        sentences.push(format!(
            "It grew most in the {which} of the {}: from {} at initialization to {} ({} times).",
            net(most.run),
            significant(most.initial as f64),
            significant(most.last as f64),
            factor((most.last / most.initial) as f64)
        ));
    }
    // Which layer grows most, in the nets with hidden layers.
    let deep: Vec<&RunResult> = results.runs.iter().filter(|r| r.layers.len() > 1).collect();
    if !deep.is_empty() {
        let output_most = deep
            .iter()
            .filter(|run| {
                let factors: Vec<f32> = growth
                    .iter()
                    .filter(|g| std::ptr::eq(g.run, **run) && g.initial > 0.0)
                    .map(|g| g.last / g.initial)
                    .collect();
                factors.last().is_some_and(|&f| factors.iter().all(|&other| f >= other))
            })
            .count();
        sentences.push(format!(
            "The output layer's largest weight grew by the largest factor in {output_most} of the {} nets with hidden layers.",
            deep.len()
        ));
    }
    let still = growth.iter().filter(|g| g.grew_last_epoch).count();
    let steady = growth.iter().filter(|g| g.never_fell).count();
    sentences.push(format!(
        "In the last epoch {still} of the {total} layers were still growing, and {steady} never shrank from one epoch to the next{}",
        if still * 2 > total {
            ": with plain SGD and no weight decay, nothing holds them back."
        } else {
            "."
        }
    ));
    sentences.join(" ")
}

fn one_vs_all(results: &LabResults) -> String {
    let ova = results.runs.iter().find(|r| r.configuration.classifier == Classifier::OneVsAll);
    let softmax = softmax_runs(results).find(|r| {
        r.configuration.depth == ova.map_or(1, |o| o.configuration.depth)
            && r.configuration.activation == ova.and_then(|o| o.configuration.activation)
    });
    let (Some(ova), Some(softmax)) = (ova, softmax) else {
        return "This run did not train one-vs-all classifiers next to a softmax model of the same size."
            .into();
    };
    let size = if ova.parameters == softmax.parameters { "as many as" } else { "against" };
    let verdict =
        match hundredths(softmax.best_validation_accuracy).cmp(&hundredths(ova.best_validation_accuracy)) {
            Ordering::Greater => "Softmax, trained on all ten classes at once, does better here",
            Ordering::Less => "One-vs-all does better here",
            Ordering::Equal => "The two do equally well here",
        };
    let softmax_net = net(softmax);
    format!(
        "Ten one-vs-all logistic classifiers ({} parameters, {size} the softmax model's {}), each trained with binary cross-entropy and combined by taking the most confident, reached {} validation accuracy, {} the {softmax_net} ({}). {verdict}. On the test set, measured once, one-vs-all scores {} and the {softmax_net} {}.",
        thousands(ova.parameters),
        thousands(softmax.parameters),
        percent(ova.best_validation_accuracy),
        compared(ova.best_validation_accuracy, softmax.best_validation_accuracy),
        percent(softmax.best_validation_accuracy),
        percent(ova.test_accuracy),
        percent(softmax.test_accuracy)
    )
}

fn confused_digits(results: &LabResults) -> String {
    let Some(best) = results.best_run() else { return "No configuration was trained.".into() };
    let total: u64 = best.confusion.iter().flatten().sum();
    let mut text = format!(
        "The best configuration on validation, {}, classified {} of the {} test images correctly.",
        best.name,
        percent(best.test_accuracy),
        thousands(total as usize)
    );
    let pairs = best.most_confused(3);
    if pairs.is_empty() {
        text += " It confused no pair of digits.";
        return text;
    }
    let described: Vec<String> = pairs
        .iter()
        .map(|p| {
            format!(
                "{} {} taken for {} {} ({} time{})",
                article(p.truth),
                p.truth,
                article(p.predicted),
                p.predicted,
                p.count,
                if p.count == 1 { "" } else { "s" }
            )
        })
        .collect();
    text += &format!(" Its most frequent mistakes: {}.", list(&described));
    let recalls: Vec<(usize, f64)> = best
        .confusion
        .iter()
        .enumerate()
        .filter_map(|(digit, row)| {
            let count: u64 = row.iter().sum();
            (count > 0).then(|| (digit, row[digit] as f64 / count as f64))
        })
        .collect();
    let hardest = recalls.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let easiest = recalls.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(&(hard, hard_recall)), Some(&(easy, easy_recall))) = (hardest, easiest)
        && hard != easy
    {
        text += &format!(
            " The hardest digit was {hard} ({} of its test images recognized), the easiest {easy} ({}).",
            percent(hard_recall as f32),
            percent(easy_recall as f32)
        );
    }
    text
}
