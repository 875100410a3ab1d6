//! The lab: its split, its records, its one-vs-all loss, the text of its answers (fed
//! made-up results), and the quick lab end to end on the bundled MNIST.

use std::path::PathBuf;

use percept_data::{Classification, InMemoryDataset, Mnist, make_classification};
use percept_linalg::Matrix;
use percept_nn::{
    Linear, Loss, Mode, Parameters, Sequential, Sigmoid, SoftmaxCrossEntropy, Targets, gradcheck, seeded_rng,
};
use percept_optim::{Optimizer, Sgd};
use percept_train::lab::*;
use percept_train::{FitConfig, Trainer};

mod common;

fn mnist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist")
}

fn classes_of(labels: &[u8]) -> Vec<usize> {
    labels.iter().map(|&c| c as usize).collect()
}

#[test]
fn the_split_is_disjoint_stratified_and_reproducible() {
    let mnist = Mnist::load(mnist_dir()).expect("the bundled MNIST");
    let (train_classes, test_classes) = (classes_of(mnist.train.labels()), classes_of(mnist.test.labels()));
    let split = LabSplit::new(&train_classes, &test_classes, 0.2, 0, None, None);
    assert_eq!((split.train.len(), split.validation.len(), split.test.len()), (48_000, 12_000, 10_000));
    // Disjoint, and together every training image once.
    let mut all: Vec<usize> = split.train.iter().chain(&split.validation).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..60_000).collect::<Vec<_>>());
    // Stratified: each digit's share of the validation split is 20% of its images, to one image.
    for digit in 0..10 {
        let total = train_classes.iter().filter(|&&c| c == digit).count() as f64;
        let held = split.validation.iter().filter(|&&i| train_classes[i] == digit).count() as f64;
        assert!((held - 0.2 * total).abs() <= 1.0, "digit {digit}: {held} of {total} held out");
    }
    // Reproducible from the seed, and another seed gives another split.
    assert_eq!(split, LabSplit::new(&train_classes, &test_classes, 0.2, 0, None, None));
    let other = LabSplit::new(&train_classes, &test_classes, 0.2, 1, None, None);
    assert_ne!(split.validation, other.validation);
    // The quick lab's samples: the asked sizes, disjoint, stratified.
    let quick = LabSplit::new(&train_classes, &test_classes, 0.2, 0, Some(3000), Some(1000));
    assert!((quick.train.len() + quick.validation.len()).abs_diff(3000) <= 5);
    assert!(quick.test.len().abs_diff(1000) <= 5);
    assert!(quick.train.iter().all(|i| quick.validation.binary_search(i).is_err()));
    for digit in 0..10 {
        let share = quick.validation.iter().filter(|&&i| train_classes[i] == digit).count() as f64
            / quick.validation.len() as f64;
        let overall = train_classes.iter().filter(|&&c| c == digit).count() as f64 / 60_000.0;
        assert!(
            (share - overall).abs() < 0.01,
            "digit {digit}: {share} of the validation sample, {overall} overall"
        );
    }
}

/// One step on one batch: the recorded gradient norm of each layer is that of the gradient
/// a plain backward pass computes, and the largest weight is the updated weight's.
#[test]
fn the_layer_watch_records_gradient_norms_and_largest_weights() {
    let data = make_classification(&Classification { samples: 32, ..Default::default() });
    let build = || {
        let mut rng = seeded_rng(3);
        let mut model = Sequential::new();
        model.add(Linear::new(2, 5, &mut rng)).expect("layer");
        model.add(Sigmoid).expect("layer");
        model.add(Linear::new(5, 2, &mut rng)).expect("layer");
        model
    };
    let watch = LayerWatch::new();
    let mut model = build();
    watch.observe_initial(&mut model);
    let mut trainer = Trainer::new(FitConfig {
        epochs: 1,
        batch_size: 32,
        shuffle: false,
        verbose: false,
        ..Default::default()
    });
    trainer.callback(watch.clone());
    trainer
        .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.5)), &data, None)
        .expect("trains");
    let log = watch.log();
    assert_eq!(log.layers, ["Linear(2 → 5)", "Linear(5 → 2)"]);
    assert_eq!(log.epochs.len(), 1);

    let mut reference = build();
    let mut weights_before = Vec::new();
    reference.visit_parameters(&mut |p| {
        if p.name == "weight" {
            weights_before.push(p.value.max_abs());
        }
    });
    assert_eq!(log.initial_max_abs_weight, weights_before);
    let (features, classes) = (data.features().clone(), data_classes(&data));
    let mut grad = Matrix::default();
    let output = reference.forward(&features, Mode::Train).expect("fits");
    SoftmaxCrossEntropy::new().forward_backward(output, Targets::Classes(&classes), &mut grad).expect("fits");
    reference.backward(&grad).expect("fits");
    let mut norms = Vec::new();
    reference.visit_parameters(&mut |p| {
        if p.name == "weight" {
            norms.push(p.grad.as_slice().iter().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt());
        }
    });
    let mut weights_after = Vec::new();
    model.visit_parameters(&mut |p| {
        if p.name == "weight" {
            weights_after.push(p.value.max_abs());
        }
    });
    for (k, layer) in log.epochs[0].iter().enumerate() {
        let norm = layer.mean_weight_grad_norm as f64;
        assert!(
            (norm - norms[k]).abs() <= 1e-5 * norms[k],
            "layer {k}: recorded {norm}, backward gives {}",
            norms[k]
        );
        assert_eq!(layer.max_abs_weight, weights_after[k], "layer {k}");
        assert!(norm > 0.0);
    }
}

fn data_classes(data: &InMemoryDataset) -> Vec<usize> {
    match data.labels() {
        percept_data::Labels::Classes(classes) => classes.clone(),
        percept_data::Labels::Values(_) => panic!("classification data"),
    }
}

/// The one-vs-all loss: the sum of ten logistic losses (checked by hand for a row), with the
/// gradient of finite differences.
#[test]
fn one_vs_all_sums_binary_logistic_losses() {
    let logits = Matrix::from_rows(&[[1.5, -0.5, 0.25], [-2.0, 0.75, 3.0]]);
    let classes = [0usize, 2];
    let value = OneVsAll::new().forward(&logits, Targets::Classes(&classes)).expect("fits");
    // Per classifier, the mean over the two samples of −ln σ(z) for its class, −ln(1 − σ(z)) otherwise.
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let mut expected = 0.0;
    for (i, &class) in classes.iter().enumerate() {
        for c in 0..3 {
            let p = sigmoid(logits.get(i, c) as f64);
            expected -= if c == class { p.ln() } else { (1.0 - p).ln() } / 2.0;
        }
    }
    assert!((value as f64 - expected).abs() < 1e-5, "{value} against {expected}");
    let report =
        gradcheck::check_loss(&mut OneVsAll::new(), &logits, Targets::Classes(&classes), &Default::default())
            .expect("fits");
    assert!(report.passed(), "{report}");
    assert!(OneVsAll::new().forward(&logits, Targets::Classes(&[0, 3])).is_err(), "class 3 of 3 outputs");
}

// ---- The answers, fed made-up results ----

fn epoch(epoch: usize, train: f32, validation: f32, grads: &[f32], weights: &[f32]) -> EpochResult {
    EpochResult {
        epoch,
        train_loss: 1.0 / epoch as f32,
        train_accuracy: train,
        validation_loss: 1.0 - validation,
        validation_accuracy: validation,
        seconds: 1.0,
        layers: grads
            .iter()
            .zip(weights)
            .map(|(&g, &w)| LayerEpoch { max_abs_weight: w, mean_weight_grad_norm: g })
            .collect(),
    }
}

/// A run whose validation accuracy per epoch is `validation` (training accuracy 1 point
/// above), with gradient norms `grads` per layer in every epoch and weights growing.
fn run(
    depth: usize,
    activation: Option<Activation>,
    classifier: Classifier,
    validation: &[f32],
    grads: &[f32],
    test: f32,
) -> RunResult {
    let configuration = Configuration { depth, activation, classifier };
    let weights: Vec<f32> = (0..depth).map(|k| 0.1 * (k + 1) as f32).collect();
    let epochs: Vec<EpochResult> = validation
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let grown: Vec<f32> = weights.iter().map(|w| w * (2 + e) as f32).collect();
            epoch(e + 1, (v + 0.01 * (e + 1) as f32).min(1.0), v, grads, &grown)
        })
        .collect();
    let best = (0..validation.len()).fold(0, |b, e| if validation[e] > validation[b] { e } else { b });
    RunResult {
        configuration,
        name: configuration.name(),
        layers: (0..depth).map(|k| format!("Linear({} → {})", 100 + k, 99 + k)).collect(),
        parameters: 1000 * depth * depth,
        epochs,
        initial_max_abs_weight: weights,
        best_epoch: best + 1,
        best_validation_accuracy: validation[best],
        test_accuracy: test,
        confusion: vec![vec![50, 3, 0], vec![1, 40, 9], vec![0, 2, 45]],
        misclassified: vec![],
        train_seconds: depth as f64,
    }
}

fn results(runs: Vec<RunResult>) -> LabResults {
    let best = LabResults::best_by_validation(&runs);
    LabResults {
        settings: LabSettings {
            data: "made up".into(),
            train_images: 800,
            validation_images: 200,
            test_images: 147,
            epochs: 3,
            batch_size: 10,
            optimizer: "SGD".into(),
            learning_rate: 0.1,
            hidden: vec![10, 10],
            seed: 0,
            threads: 1,
        },
        runs,
        best,
        wall_seconds: 1.0,
    }
}

fn answer(results: &LabResults, question: &str) -> String {
    answers(results).into_iter().find(|a| a.question.starts_with(question)).expect("the question").text
}

use Activation::{ReLU, Sigmoid as SigmoidActivation};
use Classifier::{OneVsAll as Ova, Softmax};

/// Softmax regression best, Sigmoid above ReLU, no vanishing gradient, one-vs-all ahead.
fn one_layer_wins() -> LabResults {
    results(vec![
        run(1, None, Softmax, &[0.90, 0.95, 0.94], &[1.0], 0.93),
        run(2, Some(SigmoidActivation), Softmax, &[0.80, 0.92, 0.93], &[0.9, 1.0], 0.925),
        run(2, Some(ReLU), Softmax, &[0.85, 0.90, 0.91], &[1.2, 1.0], 0.905),
        run(3, Some(SigmoidActivation), Softmax, &[0.70, 0.88, 0.89], &[0.8, 0.9, 1.0], 0.885),
        run(3, Some(ReLU), Softmax, &[0.75, 0.86, 0.87], &[1.0, 1.0, 1.0], 0.865),
        run(1, None, Ova, &[0.93, 0.96, 0.955], &[1.0], 0.94),
    ])
}

/// Three layers best, ReLU above Sigmoid, vanishing gradients in the 3-layer Sigmoid net.
fn three_layers_win() -> LabResults {
    results(vec![
        run(1, None, Softmax, &[0.88, 0.90, 0.91], &[1.0], 0.905),
        run(2, Some(SigmoidActivation), Softmax, &[0.80, 0.93, 0.94], &[0.3, 0.6], 0.935),
        run(2, Some(ReLU), Softmax, &[0.92, 0.96, 0.97], &[1.0, 0.8], 0.965),
        run(3, Some(SigmoidActivation), Softmax, &[0.40, 0.85, 0.92], &[0.02, 0.1, 0.5], 0.915),
        run(3, Some(ReLU), Softmax, &[0.93, 0.97, 0.98], &[0.9, 0.8, 0.7], 0.975),
        run(1, None, Ova, &[0.85, 0.88, 0.89], &[1.0], 0.885),
    ])
}

#[test]
fn the_answers_follow_the_data_when_one_layer_wins_and_sigmoid_beats_relu() {
    let results = one_layer_wins();
    assert_eq!(results.best_run().map(|r| r.name.as_str()), Some("1 layer, one-vs-all"));
    let layers = answer(&results, "Are 2 or 3 layers");
    assert!(layers.contains("No: in this run no deeper net beat softmax regression"), "{layers}");
    assert!(layers.contains("95.00%"), "{layers}");
    assert!(layers.contains("2.00 points lower than the best with 1 layer"), "{layers}");
    let activation = answer(&results, "Does the activation matter");
    assert!(activation.contains("With 2 layers, Sigmoid reached the highest best validation accuracy (93.00%) and ReLU the lowest (91.00%), 2.00 points apart"), "{activation}");
    assert!(activation.contains("So the activation matters here"), "{activation}");
    let wrong = answer(&results, "What goes wrong");
    assert!(!wrong.contains("vanishing"), "no gradient shrank 4 times: {wrong}");
    assert!(wrong.contains("about as large as the output layer's"), "{wrong}");
    let ova = answer(&results, "One-vs-all");
    assert!(ova.contains("One-vs-all does better here"), "{ova}");
    assert!(ova.contains("1 point higher than"), "{ova}");
}

#[test]
fn the_answers_follow_the_data_when_three_layers_win_with_vanishing_sigmoid_gradients() {
    let results = three_layers_win();
    let layers = answer(&results, "Are 2 or 3 layers");
    assert!(layers.starts_with("Softmax regression (1 layer, 1,000 parameters) reached 91.00%"), "{layers}");
    assert!(
        layers.contains(
            "Yes: 3 layers did best, 7.00 points above softmax regression, and 1 point above 2 layers."
        ),
        "{layers}"
    );
    assert!(layers.contains("the same order as validation"), "{layers}");
    let activation = answer(&results, "Does the activation matter");
    assert!(activation.contains("With 3 layers, ReLU reached the highest best validation accuracy (98.00%) and Sigmoid the lowest (92.00%), 6.00 points apart"), "{activation}");
    let wrong = answer(&results, "What goes wrong");
    assert!(wrong.contains("3-layer Sigmoid net, the first layer's weight gradient had a mean norm of 0.0200 per step, 25 times smaller than the output layer's (0.500)"), "{wrong}");
    assert!(wrong.contains("vanishing gradients"), "{wrong}");
    assert!(wrong.contains("In the 2-layer Sigmoid net it was 2.0 times smaller than the output layer's: the extra layer made it smaller"), "{wrong}");
    assert!(
        wrong.contains("started slower: 40.00% validation accuracy after one epoch, against 80.00%"),
        "{wrong}"
    );
    let ova = answer(&results, "One-vs-all");
    assert!(ova.contains("Softmax, trained on all ten classes at once, does better here"), "{ova}");
    let confused = answer(&results, "Which digits");
    assert!(confused.contains("3 layers, ReLU"), "{confused}");
    assert!(confused.contains("a 1 taken for a 2 (9 times)"), "{confused}");
}

#[test]
fn equal_printed_numbers_are_called_the_same() {
    let results = results(vec![
        run(1, None, Softmax, &[0.9000], &[1.0], 0.9),
        run(2, Some(SigmoidActivation), Softmax, &[0.90001], &[1.0, 1.0], 0.9),
        run(2, Some(ReLU), Softmax, &[0.89999], &[1.0, 1.0], 0.9),
    ]);
    let activation = answer(&results, "Does the activation matter");
    assert!(
        activation.contains("every activation reached the same best validation accuracy, 90.00%"),
        "{activation}"
    );
    assert!(activation.contains("hardly matters"), "{activation}");
    let layers = answer(&results, "Are 2 or 3 layers");
    assert!(layers.contains("the same as the best with 1 layer"), "{layers}");
    assert!(layers.starts_with("Softmax regression"), "{layers}");
    assert!(layers.contains("No: in this run no deeper net beat softmax regression"), "{layers}");
}

// ---- The quick lab, end to end ----

#[test]
fn the_quick_lab_writes_a_report_with_every_field() {
    let out = common::scratch("quick-lab");
    let config = LabConfig { data: mnist_dir(), out: out.clone(), progress: false, ..LabConfig::quick() };
    let outcome = run_lab(&config).expect("the quick lab runs");
    let results = &outcome.results;
    assert_eq!(results.runs.len(), config.grid().len());
    assert_eq!(results.runs.len(), 6, "1 + 2 depths x 2 activations + one-vs-all");
    let settings = &results.settings;
    assert!((settings.train_images + settings.validation_images).abs_diff(3000) <= 5);
    assert!(settings.validation_images.abs_diff(600) <= 5);
    assert!(settings.test_images.abs_diff(1000) <= 5);
    for run in &results.runs {
        let depth = run.configuration.depth;
        assert_eq!(run.epochs.len(), config.epochs, "{}", run.name);
        assert_eq!(run.layers.len(), depth, "{}", run.name);
        assert_eq!(run.initial_max_abs_weight.len(), depth);
        for epoch in &run.epochs {
            assert_eq!(epoch.layers.len(), depth);
            for layer in &epoch.layers {
                assert!(
                    layer.mean_weight_grad_norm.is_finite() && layer.mean_weight_grad_norm > 0.0,
                    "{}",
                    run.name
                );
                assert!(layer.max_abs_weight > 0.0 && layer.max_abs_weight < 100.0, "{}", run.name);
            }
            for value in [epoch.train_accuracy, epoch.validation_accuracy] {
                assert!((0.0..=1.0).contains(&value), "{}", run.name);
            }
        }
        // The chosen epoch is the first of highest validation accuracy.
        let best = run.epochs.iter().map(|e| e.validation_accuracy).fold(f32::MIN, f32::max);
        assert_eq!(run.best_validation_accuracy, best);
        assert_eq!(
            run.epochs.iter().find(|e| e.validation_accuracy == best).map(|e| e.epoch),
            Some(run.best_epoch)
        );
        // The test accuracy is the confusion matrix's.
        let total: u64 = run.confusion.iter().flatten().sum();
        let correct: u64 = (0..10).map(|d| run.confusion[d][d]).sum();
        assert_eq!(total as usize, settings.test_images);
        assert!((run.test_accuracy - correct as f32 / total as f32).abs() < 1e-6);
        assert!(run.misclassified.iter().all(|m| m.truth != m.predicted));
    }
    let softmax = &results.runs[0];
    assert!(
        softmax.best_validation_accuracy > 0.8,
        "softmax regression: {}",
        softmax.best_validation_accuracy
    );
    let best = results.best_run().expect("a best run");
    assert!(
        best.best_validation_accuracy > 0.85 && best.test_accuracy > 0.8,
        "{}: {}",
        best.name,
        best.test_accuracy
    );
    // Above chance (10%) by far, but for the 3-layer Sigmoid net, whose vanishing gradients
    // may leave it near chance after three short epochs.
    for run in results
        .runs
        .iter()
        .filter(|r| !(r.configuration.depth == 3 && r.configuration.activation == Some(SigmoidActivation)))
    {
        assert!(
            run.best_validation_accuracy > 0.5 && run.test_accuracy > 0.5,
            "{}: {}",
            run.name,
            run.test_accuracy
        );
    }
    // The files.
    for file in &outcome.files {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 100, "{} is missing or empty", file.display());
    }
    for svg in ["curves.svg", "validation.svg", "weights.svg", "gradients.svg", "confusion.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).expect(svg);
        assert!(text.starts_with("<svg"), "{svg}");
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out.join("misclassified.png")).expect("png"),
    ));
    let reader = decoder.read_info().expect("a PNG");
    assert_eq!(reader.info().width, 10 * (56 + 12));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("json"))
            .expect("valid JSON");
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(6));
    assert_eq!(json["runs"][2]["epochs"][0]["layers"].as_array().map(Vec::len), Some(2));
    let parsed: LabResults = serde_json::from_value(json).expect("results.json reads back");
    assert_eq!(parsed.runs.len(), results.runs.len());
    let report = std::fs::read_to_string(&outcome.report).expect("REPORT.md");
    for heading in [
        "## Results",
        "## Answers",
        "### Does the activation matter?",
        "### Are 2 or 3 layers needed?",
        "### What goes wrong as layers are added?",
        "### How do the weights behave?",
        "### One-vs-all or softmax?",
        "### Which digits are confused?",
        "## Figures",
    ] {
        assert!(report.contains(heading), "REPORT.md lacks {heading}");
    }
    for run in &results.runs {
        assert!(
            report.contains(&format!("| {} |", run.name)) || report.contains(&format!("**{}**", run.name)),
            "{}",
            run.name
        );
    }
    for name in
        ["curves.svg", "validation.svg", "weights.svg", "gradients.svg", "confusion.svg", "misclassified.png"]
    {
        assert!(report.contains(&format!("]({name})")), "REPORT.md does not show {name}");
    }
}
