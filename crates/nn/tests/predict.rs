//! `Sequential::predict` and `predict_proba`: classes and probabilities in evaluation mode,
//! whatever the model's last layer.

use percept_linalg::Matrix;
use percept_nn::*;

fn input() -> Matrix {
    Matrix::from_fn(7, 4, |r, c| ((r * 5 + c * 3) % 11) as f32 / 5.0 - 1.0)
}

/// Softmax of each row, computed here in f64 as the reference.
fn softmax(m: &Matrix) -> Vec<Vec<f64>> {
    m.row_iter()
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let exps: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.iter().map(|e| e / sum).collect()
        })
        .collect()
}

fn close(got: &Matrix, want: &[Vec<f64>]) {
    for (r, row) in want.iter().enumerate() {
        for (c, &w) in row.iter().enumerate() {
            assert!((got.get(r, c) as f64 - w).abs() < 1e-6, "[{r}, {c}]: {} against {w}", got.get(r, c));
        }
    }
}

#[test]
fn logits_are_softmaxed_and_predict_takes_the_highest() {
    let mut rng = seeded_rng(3);
    let mut model = Sequential::new();
    model.add(Linear::new(4, 8, &mut rng)).and_then(|m| m.add(Tanh)).expect("chains");
    model.add(Dropout::new(0.5)).and_then(|m| m.add(Linear::new(8, 3, &mut rng))).expect("chains");
    let x = input();
    let logits = model.forward(&x, Mode::Eval).expect("fits").clone();
    let probabilities = model.predict_proba(&x).expect("fits");
    assert_eq!(probabilities.shape(), [7, 3]);
    close(&probabilities, &softmax(&logits));
    // Evaluation mode: dropout is off, so a second call gives the same numbers.
    assert_eq!(model.predict_proba(&x).expect("fits"), probabilities);
    let classes = model.predict(&x).expect("fits");
    let expected: Vec<usize> = logits.row_iter().map(percept_linalg::argmax).collect();
    assert_eq!(classes, expected);
    assert!(expected.iter().any(|&c| c != expected[0]), "the test data reaches more than one class");
}

#[test]
fn a_model_ending_in_softmax_or_log_softmax_is_not_softmaxed_twice() {
    let x = input();
    for last in ["Softmax", "LogSoftmax"] {
        let mut model = Sequential::new();
        model.add(Linear::new(4, 3, &mut seeded_rng(1))).expect("layer");
        let mut logits_model = Sequential::new();
        logits_model.add(Linear::new(4, 3, &mut seeded_rng(1))).expect("layer");
        match last {
            "Softmax" => model.add(Softmax),
            _ => model.add(LogSoftmax),
        }
        .expect("chains");
        let logits = logits_model.forward(&x, Mode::Eval).expect("fits").clone();
        close(&model.predict_proba(&x).expect("fits"), &softmax(&logits));
        assert_eq!(model.predict(&x).expect("fits"), logits_model.predict(&x).expect("fits"), "{last}");
    }
}

#[test]
fn one_output_is_a_binary_classifier() {
    let mut model = Sequential::new();
    model.add(Linear::new(4, 1, &mut seeded_rng(2))).expect("layer");
    let x = input();
    let logits = model.forward(&x, Mode::Eval).expect("fits").clone();
    let probabilities = model.predict_proba(&x).expect("fits");
    assert_eq!(probabilities.shape(), [7, 2]);
    let classes = model.predict(&x).expect("fits");
    for (r, &logit) in logits.as_slice().iter().enumerate() {
        let p = 1.0 / (1.0 + (-logit as f64).exp());
        assert!(
            (probabilities.get(r, 1) as f64 - p).abs() < 1e-6
                && (probabilities.get(r, 0) as f64 - (1.0 - p)).abs() < 1e-6
        );
        assert_eq!(classes[r], usize::from(logit > 0.0));
    }
    // After a Sigmoid the output already is the probability.
    model.add(Sigmoid).expect("chains");
    assert_eq!(model.predict(&x).expect("fits"), classes);
    let again = model.predict_proba(&x).expect("fits");
    for r in 0..7 {
        assert!((again.get(r, 1) - probabilities.get(r, 1)).abs() < 1e-6);
    }
}

#[test]
fn the_wrong_width_is_an_error() {
    let mut model = Sequential::new();
    model.add(Linear::new(4, 3, &mut seeded_rng(0))).expect("layer");
    let err = model.predict(&Matrix::zeros(2, 5)).unwrap_err();
    assert!(matches!(err, NnError::InputShape { expected: 4, cols: 5, .. }), "{err:?}");
    assert!(model.predict_proba(&Matrix::zeros(2, 5)).is_err());
}
