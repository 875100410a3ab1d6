//! `Normalization`: Keras' documented outputs, the constant-feature rule, the gradient, errors,
//! and its statistics surviving a rebuild from the layer's spec.

use percept_linalg::Matrix;
use percept_nn::*;

fn bits(m: &Matrix) -> Vec<u32> {
    m.as_slice().iter().map(|v| v.to_bits()).collect()
}

fn forward(layer: &mut Normalization, input: &Matrix) -> Matrix {
    let mut out = Matrix::default();
    layer.forward(input, &mut out, Mode::Eval);
    out
}

/// The examples of Keras' `Normalization` docstring, recomputed in float32 with numpy:
///
/// ```python
/// import numpy as np
/// a = np.array([1, 2, 3, 4, 5], np.float32); x = np.array([1, 2, 3], np.float32)
/// print((x - a.mean()) / np.sqrt(a.var()))          # [-1.4142135 -0.70710677  0.]
/// b = np.array([[0, 7, 4], [2, 9, 6], [0, 7, 4], [2, 9, 6]], np.float32)
/// print((b[:1] - b.mean(0)) / np.sqrt(b.var(0)))     # [[-1. -1. -1.]]
/// ```
#[test]
#[allow(clippy::approx_constant)] // numpy's printed values, kept as printed (they are ±√2, ±1/√2)
fn adapt_matches_keras_documented_examples() {
    let adapt = Matrix::from_rows(&[&[1.0], &[2.0], &[3.0], &[4.0], &[5.0]]);
    let mut layer = Normalization::adapted(&adapt).unwrap();
    assert_eq!((layer.mean(), layer.variance()), (&[3.0f32][..], &[2.0f32][..]));
    let out = forward(&mut layer, &Matrix::from_rows(&[&[1.0], &[2.0], &[3.0]]));
    assert_eq!(bits(&out), bits(&Matrix::from_rows(&[&[-1.4142135], &[-0.70710677], &[0.0]])));

    let adapt = Matrix::from_rows(&[&[0.0, 7.0, 4.0], &[2.0, 9.0, 6.0], &[0.0, 7.0, 4.0], &[2.0, 9.0, 6.0]]);
    let mut layer = Normalization::adapted(&adapt).unwrap();
    let out = forward(&mut layer, &Matrix::from_rows(&[&[0.0, 7.0, 4.0]]));
    assert_eq!(out.as_slice(), &[-1.0, -1.0, -1.0]);

    // Statistics given directly (Keras' `Normalization(mean=3., variance=2.)`) give the same.
    let mut given = Normalization::with_statistics(vec![3.0], vec![2.0]);
    let out = forward(&mut given, &Matrix::from_rows(&[&[1.0], &[2.0], &[3.0]]));
    assert_eq!(out.get(0, 0), -1.4142135);
}

#[test]
fn a_constant_feature_is_only_centred_and_the_gradient_is_scaled() {
    let adapt = Matrix::from_rows(&[&[5.0, 1.0], &[5.0, 3.0]]);
    let mut layer = Normalization::adapted(&adapt).unwrap();
    assert_eq!(layer.variance(), &[0.0, 1.0]);
    let input = Matrix::from_rows(&[&[7.0, 4.0]]);
    let out = forward(&mut layer, &input);
    // Feature 0 was constant: 7 − 5, not (7 − 5) / 1e-7 as in Keras.
    assert_eq!(out.as_slice(), &[2.0, 2.0]);
    let mut input_grad = Matrix::default();
    let grad = Matrix::from_rows(&[&[1.0, 1.0]]);
    let mut wide = Normalization::with_statistics(vec![0.0, 0.0], vec![0.0, 16.0]);
    let _ = forward(&mut wide, &input);
    wide.backward(&input, &out, &grad, Some(&mut input_grad));
    assert_eq!(input_grad.as_slice(), &[1.0, 0.25]);
    // No trainable parameters: an optimizer never moves the statistics.
    assert_eq!(layer.num_parameters(), 0);
}

#[test]
fn bad_data_is_an_error_naming_the_layer_and_shapes() {
    let empty = Matrix::zeros(0, 3);
    let err = Normalization::adapted(&empty).unwrap_err().to_string();
    assert!(err.contains("[0, 3]") && err.contains("Normalization(3)"), "{err}");
    let mut layer = Normalization::new(4);
    let err = layer.adapt(&Matrix::zeros(2, 3)).unwrap_err().to_string();
    assert!(err.contains("[2, 3]") && err.contains("Normalization(4)") && err.contains("4"), "{err}");
    // In a model, an input of the wrong width is refused before any layer runs.
    let mut model = Sequential::new();
    model.add(Normalization::new(4)).unwrap();
    assert!(matches!(model.forward(&Matrix::zeros(2, 3), Mode::Eval), Err(NnError::InputShape { .. })));
}

#[test]
fn the_statistics_are_buffers_a_rebuilt_model_takes_back() {
    let adapt = Matrix::from_rows(&[&[1.0, 10.0], &[3.0, 30.0], &[8.0, 20.0]]);
    let mut rng = seeded_rng(1);
    let mut model = Sequential::new();
    model.add(Normalization::adapted(&adapt).unwrap()).unwrap().add(Linear::new(2, 2, &mut rng)).unwrap();
    let want = model.forward(&adapt, Mode::Eval).unwrap().clone();

    let mut rebuilt = Sequential::from_specs(&model.specs().unwrap()).unwrap();
    assert_eq!(rebuilt.layers()[0].describe(), "Normalization(2)");
    let mut buffers = Vec::new();
    model.visit_buffers(&mut |b| {
        if let Buffer::Values { name, values } = b {
            buffers.push((name, values.clone()));
        }
    });
    assert_eq!(buffers.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["mean", "variance"]);
    let mut saved = buffers.into_iter();
    rebuilt.visit_buffers(&mut |b| {
        if let Buffer::Values { values, .. } = b {
            *values = saved.next().unwrap().1;
        }
    });
    let mut params = Vec::new();
    model.visit_parameters(&mut |p| params.push(p.value.clone()));
    let mut params = params.into_iter();
    rebuilt.visit_parameters(&mut |p| *p.value = params.next().unwrap());
    let got = rebuilt.forward(&adapt, Mode::Eval).unwrap();
    assert_eq!(bits(got), bits(&want));
}

#[test]
#[should_panic(expected = "Normalization: the variance of feature 1 is -1")]
fn a_negative_variance_is_refused() {
    let _ = Normalization::with_statistics(vec![0.0, 0.0], vec![1.0, -1.0]);
}

#[test]
#[should_panic(expected = "Normalization: 2 means but 1 variances")]
fn statistics_of_different_lengths_are_refused() {
    let _ = Normalization::with_statistics(vec![0.0, 0.0], vec![1.0]);
}
