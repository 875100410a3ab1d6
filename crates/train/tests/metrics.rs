//! Metrics against values computed by hand, and the history's exports.

use percept_linalg::Matrix;
use percept_train::*;

#[test]
fn accuracy_and_top_k_by_hand() {
    // Row 0: class 2 is highest. Row 1: class 0 second. Row 2: class 1 third (last).
    let scores = Matrix::from_rows(&[[0.1, 0.2, 0.7], [0.3, 0.6, 0.1], [0.5, 0.1, 0.4]]);
    let classes = [2, 0, 1];
    assert_eq!(accuracy(&scores, &classes), 1.0 / 3.0);
    assert_eq!(top_k_accuracy(&scores, &classes, 2), 2.0 / 3.0);
    assert_eq!(top_k_accuracy(&scores, &classes, 3), 1.0);
    // A tie goes to the earlier column, as argmax does.
    let tied = Matrix::from_rows(&[[0.5, 0.5]]);
    assert_eq!((accuracy(&tied, &[0]), accuracy(&tied, &[1])), (1.0, 0.0));
}

#[test]
fn regression_errors_by_hand() {
    let prediction = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let target = Matrix::from_rows(&[[1.5, 2.0], [1.0, 5.0]]);
    // Differences 0.5, 0, -2, 1 (signs aside).
    assert_eq!(mean_squared_error(&prediction, &target), (0.25 + 0.0 + 4.0 + 1.0) / 4.0);
    assert_eq!(mean_absolute_error(&prediction, &target), (0.5 + 0.0 + 2.0 + 1.0) / 4.0);
}

#[test]
fn confusion_matrix_precision_recall_f1_by_hand() {
    // truth:     0 0 0 1 1 2
    // predicted: 0 0 1 1 2 2
    let mut matrix = ConfusionMatrix::new(3);
    for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2)] {
        matrix.add(t, p);
    }
    assert_eq!(matrix.total(), 6);
    assert_eq!(matrix.accuracy(), 4.0 / 6.0);
    assert_eq!((matrix.precision(0), matrix.recall(0)), (Some(1.0), Some(2.0 / 3.0)));
    assert_eq!((matrix.precision(1), matrix.recall(1)), (Some(0.5), Some(0.5)));
    assert_eq!((matrix.precision(2), matrix.recall(2)), (Some(0.5), Some(1.0)));
    assert_eq!(matrix.f1(0), Some(0.8)); // 2 · 1 · ⅔ / (1 + ⅔)
    assert!((matrix.f1(2).unwrap() - 2.0 / 3.0).abs() < 1e-6);
    let empty = ConfusionMatrix::new(2);
    assert_eq!((empty.precision(0), empty.recall(1), empty.f1(0)), (None, None, None));

    let mut from_scores = ConfusionMatrix::new(3);
    from_scores.add_scores(&Matrix::from_rows(&[[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]]), &[0, 1]);
    assert_eq!((from_scores.count(0, 0), from_scores.count(1, 2)), (1, 1));

    let table = matrix.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].contains("precision") && lines[0].contains("support"), "{table}");
    assert!(lines[1].trim_start().starts_with("0    2    1    0"), "{table}");
    assert!(
        lines[1].contains("1.0000") && lines[1].contains("0.6667") && lines[1].contains("0.8000"),
        "{table}"
    );
    assert_eq!(lines[4], "accuracy 0.6667 of 6 samples");
}

#[test]
fn history_exports_csv_and_json() {
    let record = |epoch, loss, validation: Option<f32>| EpochRecord {
        epoch,
        train_loss: loss,
        train_accuracy: Some(0.5),
        validation_loss: validation,
        validation_accuracy: None,
        train_seconds: 0.25,
        learning_rate: 0.1,
    };
    let history = History { epochs: vec![record(1, 1.5, Some(1.25)), record(2, f32::NAN, None)] };
    let csv = history.to_csv();
    assert_eq!(csv.lines().count(), 3);
    assert_eq!(csv.lines().nth(1), Some("1,1.5,0.5,1.25,,0.25,0.1"));
    let json = history.to_json();
    assert!(
        json.starts_with(
            "[{\"epoch\": 1, \"train_loss\": 1.5, \"train_accuracy\": 0.5, \"validation_loss\": 1.25"
        ),
        "{json}"
    );
    assert!(json.contains("\"epoch\": 2, \"train_loss\": null"), "NaN is not JSON: {json}");
    assert!(json.contains("\"validation_accuracy\": null"), "{json}");
}
