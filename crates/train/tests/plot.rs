//! SVG plots: training curves from a history, the lab's weight watch during a real fit, and
//! errors that name the file.

mod common;
use common::scratch;

use percept_data::{Classification, InMemoryDataset, make_classification};
use percept_linalg::Matrix;
use percept_nn::{Linear, Parameters, ReLU, Sequential, SoftmaxCrossEntropy, seeded_rng};
use percept_optim::{Optimizer, Sgd};
use percept_train::*;

fn record(
    epoch: usize,
    loss: f32,
    accuracy: Option<f32>,
    validation: Option<(f32, Option<f32>)>,
) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: loss,
        train_accuracy: accuracy,
        validation_loss: validation.map(|v| v.0),
        validation_accuracy: validation.and_then(|v| v.1),
        train_seconds: 0.5,
        learning_rate: 0.1,
    }
}

fn count(svg: &str, what: &str) -> usize {
    svg.matches(what).count()
}

#[test]
fn training_curves_have_a_loss_and_an_accuracy_panel() {
    let dir = scratch("plot_curves");
    let history = History {
        epochs: (1..=4)
            .map(|e| {
                let f = e as f32;
                record(e, 1.0 / f, Some(0.5 + 0.1 * f), Some((1.2 / f, Some(0.45 + 0.1 * f))))
            })
            .collect(),
    };
    let path = dir.join("curves.svg");
    plot_history(&history, &path).expect("writes");
    assert!(!dir.join("curves.svg.tmp").exists(), "the temporary file is renamed");
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg width=\"960\" height=\"360\""), "{}", &svg[..80]);
    for text in ["loss", "accuracy (%)", "training", "validation", "epoch"] {
        assert!(svg.contains(text), "no {text:?} in the plot");
    }
    // Four lines of four epochs: one marker per point.
    assert_eq!(count(&svg, "<circle"), 16);
    assert!(count(&svg, "<polyline") >= 4);
    // A test set watched as a benchmark is called what it is.
    let test_path = dir.join("test-curves.svg");
    plot_history_labelled(&history, &test_path, "test").expect("writes");
    let labelled = std::fs::read_to_string(&test_path).unwrap();
    assert!(labelled.contains("\ntest\n") && !labelled.contains("validation"), "{labelled}");

    // Regression: no accuracy, so one panel; a non-finite loss is left out, not drawn.
    let history = History {
        epochs: vec![record(1, 2.0, None, None), record(2, f32::NAN, None, None), record(3, 0.5, None, None)],
    };
    plot_history(&history, &path).expect("writes");
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg width=\"480\" height=\"360\""), "{}", &svg[..80]);
    assert!(!svg.contains("accuracy"));
    assert_eq!(count(&svg, "<circle"), 2);
}

#[test]
fn plot_errors_name_the_file() {
    let dir = scratch("plot_errors");
    let path = dir.join("empty.svg");
    let err = plot_history(&History::default(), &path).unwrap_err();
    assert!(matches!(err, PlotError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.svg") && err.to_string().contains("no epochs"), "{err}");
    assert!(!path.exists());

    let history = History { epochs: vec![record(1, 0.5, None, None)] };
    let missing = dir.join("no such dir").join("curves.svg");
    let err = plot_history(&history, &missing).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no such dir"), "{err}");

    let err = WeightWatch::new().plot(dir.join("w.svg")).unwrap_err();
    assert!(matches!(err, PlotError::Empty { .. }) && err.to_string().contains("w.svg"), "{err}");
}

#[test]
fn the_weight_watch_records_every_epoch_of_a_fit() {
    let dir = scratch("plot_weights");
    let (train, validation) =
        make_classification(&Classification { samples: 200, classes: 3, ..Default::default() }).split(0.8);
    let mut rng = seeded_rng(4);
    let mut model = Sequential::new();
    model
        .add(Linear::new(2, 8, &mut rng))
        .unwrap()
        .add(ReLU)
        .unwrap()
        .add(Linear::new(8, 3, &mut rng))
        .unwrap();

    let watch = WeightWatch::new();
    watch.observe(0, &mut model);
    let mut trainer =
        Trainer::new(FitConfig { epochs: 3, batch_size: 16, verbose: false, ..Default::default() });
    trainer.callback(watch.clone());
    trainer
        .fit(
            &mut model,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(0.5)),
            &train,
            Some(&validation),
        )
        .expect("trains");

    let log = watch.log();
    assert_eq!(log.layers, ["0 Linear(2 → 8)", "2 Linear(8 → 3)"]);
    assert_eq!(log.epochs.iter().map(|(e, _)| *e).collect::<Vec<_>>(), [0, 1, 2, 3]);
    // The last entry is the trained model's own largest weights.
    let mut largest = Vec::new();
    model.visit_parameters(&mut |p| {
        if p.name == "weight" {
            largest.push(p.value.max_abs());
        }
    });
    assert_eq!(log.epochs[3].1, largest);
    assert_ne!(log.epochs[0].1, largest, "training moved the weights");

    let path = dir.join("weights.svg");
    watch.plot(&path).expect("writes");
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("0 Linear(2 → 8)") && svg.contains("largest absolute weight"));
    assert_eq!(count(&svg, "<circle"), 8);
}

#[test]
fn a_decision_map_shades_each_predicted_region() {
    let dir = scratch("plot_boundary");
    // Logits (x₀, −x₀): class 0 right of x₀ = 0, class 1 left of it.
    let weight = Matrix::from_rows(&[[1.0, -1.0], [0.0, 0.0]]);
    let mut model = Sequential::new();
    model.add(Linear::from_parameters(weight, Matrix::zeros(1, 2))).unwrap();
    let points = Matrix::from_rows(&[[-1.0, -1.0], [-0.5, 1.0], [0.5, 0.0], [1.0, 0.5]]);
    let data = InMemoryDataset::classification(points, vec![1, 1, 0, 0], 2);
    let path = dir.join("boundary.svg");
    plot_decision_boundary(&mut model, &data, &path).expect("writes");
    let svg = std::fs::read_to_string(&path).unwrap();
    // Every one of the 150 grid rows is two runs, one per class, plus the background.
    assert_eq!(count(&svg, "<rect"), 2 * 150 + 1);
    assert_eq!(count(&svg, "<circle"), 4);

    // What cannot be drawn is refused, naming the file.
    let three = InMemoryDataset::classification(Matrix::zeros(2, 3), vec![0, 1], 2);
    let err = plot_decision_boundary(&mut model, &three, &path).unwrap_err();
    assert!(
        matches!(err, PlotError::Unsupported { .. }) && err.to_string().contains("2 samples of 3"),
        "{err}"
    );
    let values = InMemoryDataset::regression(Matrix::zeros(2, 2), Matrix::zeros(2, 1));
    let err = plot_decision_boundary(&mut model, &values, &path).unwrap_err();
    assert!(err.to_string().contains("class labels") && err.to_string().contains("boundary.svg"), "{err}");
    let mut one_output = Sequential::new();
    one_output.add(Linear::new(2, 1, &mut seeded_rng(0))).unwrap();
    let err = plot_decision_boundary(&mut one_output, &data, &path).unwrap_err();
    assert!(err.to_string().contains("one output per class"), "{err}");
}
