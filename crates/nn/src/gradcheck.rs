//! Finite-difference gradient checking for any layer, loss or model.
//!
//! Every backward pass in percept is written by hand, so every one is checked against the
//! definition of the derivative: `∂f/∂x ≈ (f(x + ε) − f(x − ε)) / 2ε` (central differences,
//! error O(ε²)). Point it at your own layer while you write its backward pass:
//!
//! ```
//! use percept_nn::{Linear, gradcheck, seeded_rng};
//! use percept_linalg::Matrix;
//! let mut rng = seeded_rng(0);
//! let mut layer = Linear::new(3, 2, &mut rng);
//! let input = Matrix::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]);
//! let report = gradcheck::check_layer(&mut layer, &input, &gradcheck::Options::default());
//! assert!(report.passed(), "{report}");
//! ```
//!
//! For a layer, the scalar checked is `f = Σ output ⊙ R` for a fixed random `R`, whose gradient
//! with respect to the output is exactly `R`; so the check exercises every output element.

use std::fmt;

use percept_linalg::Matrix;
use rand::RngExt;

use crate::{Layer, Loss, Mode, NnError, Sequential, Targets, seeded_rng};

/// Settings of a gradient check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Step of the central difference. In `f32`, 1e-2 balances truncation error (∝ ε²)
    /// against rounding error (∝ 1/ε); keep inputs further than ε from kinks such as ReLU's 0.
    pub epsilon: f32,
    /// An element passes when `|analytic − numeric| ≤ absolute + relative · max(|analytic|, |numeric|)`.
    pub relative: f32,
    /// See `relative`.
    pub absolute: f32,
    /// Seed of the random output weights `R`.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self { epsilon: 1e-2, relative: 1e-2, absolute: 1e-3, seed: 0 }
    }
}

/// The comparison for one tensor (the input, or one parameter).
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// `"input"`, `"prediction"` or `"layer 0 (Linear) weight"`.
    pub name: String,
    /// Largest `|analytic − numeric|`.
    pub max_abs_error: f32,
    /// Index of the worst element (the one furthest outside its tolerance).
    pub worst_index: usize,
    /// Analytic value at the worst element.
    pub worst_analytic: f32,
    /// Numeric value at the worst element.
    pub worst_numeric: f32,
    /// Whether every element is within tolerance.
    pub passed: bool,
}

/// The result of a gradient check: one [`Comparison`] per tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// One entry per checked tensor.
    pub comparisons: Vec<Comparison>,
}

impl Report {
    /// True when every tensor passed.
    pub fn passed(&self) -> bool {
        self.comparisons.iter().all(|c| c.passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.comparisons {
            writeln!(
                f,
                "{} {}: max |error| {:.3e}, worst element {}: analytic {} vs numeric {}",
                if c.passed { "ok  " } else { "FAIL" },
                c.name,
                c.max_abs_error,
                c.worst_index,
                c.worst_analytic,
                c.worst_numeric
            )?;
        }
        Ok(())
    }
}

fn compare(name: String, analytic: &[f32], numeric: &[f64], options: &Options) -> Comparison {
    let mut out = Comparison {
        name,
        max_abs_error: 0.0,
        worst_index: 0,
        worst_analytic: analytic.first().copied().unwrap_or(0.0),
        worst_numeric: numeric.first().map_or(0.0, |&v| v as f32),
        passed: true,
    };
    let mut worst_excess = f64::NEG_INFINITY;
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let error = (a as f64 - n).abs();
        let allowed = options.absolute as f64 + options.relative as f64 * (a as f64).abs().max(n.abs());
        out.max_abs_error = out.max_abs_error.max(error as f32);
        // NaN errors count as failures.
        if error.is_nan() || error > allowed {
            out.passed = false;
        }
        let excess = if error.is_nan() { f64::INFINITY } else { error - allowed };
        if excess > worst_excess {
            worst_excess = excess;
            out.worst_index = i;
            out.worst_analytic = a;
            out.worst_numeric = n as f32;
        }
    }
    out
}

/// Central difference of `f` with respect to every element of `values`, restoring each.
fn numeric_gradient(values: &mut [f32], epsilon: f32, mut f: impl FnMut(&[f32]) -> f64) -> Vec<f64> {
    let mut grad = vec![0.0; values.len()];
    for i in 0..values.len() {
        let original = values[i];
        values[i] = original + epsilon;
        let plus = f(values);
        values[i] = original - epsilon;
        let minus = f(values);
        values[i] = original;
        // Divide by the step actually taken in f32, not the nominal one.
        let step = (original + epsilon) as f64 - (original - epsilon) as f64;
        grad[i] = (plus - minus) / step;
    }
    grad
}

/// `Σ output ⊙ weights`, accumulated in f64.
fn weighted_sum(output: &Matrix, weights: &Matrix) -> f64 {
    output.as_slice().iter().zip(weights.as_slice()).map(|(&o, &w)| o as f64 * w as f64).sum()
}

/// Snapshot of every parameter of a layer: (name, values, gradients).
fn parameters_of(layer: &mut dyn Layer) -> Vec<(&'static str, Matrix, Matrix)> {
    let mut out = Vec::new();
    layer.visit_parameters(&mut |p| out.push((p.name, p.value.clone(), p.grad.clone())));
    out
}

/// Sets element `element` of parameter number `index` of `layer` to `value`.
fn set_parameter(layer: &mut dyn Layer, index: usize, element: usize, value: f32) {
    let mut seen = 0;
    layer.visit_parameters(&mut |p| {
        if seen == index {
            p.value.as_mut_slice()[element] = value;
        }
        seen += 1;
    });
}

/// Checks `layer`'s input gradient and every parameter gradient at `input` (training mode).
pub fn check_layer(layer: &mut dyn Layer, input: &Matrix, options: &Options) -> Report {
    let mut output = Matrix::default();
    layer.forward(input, &mut output, Mode::Train);
    let mut rng = seeded_rng(options.seed);
    let weights = Matrix::from_fn(output.rows(), output.cols(), |_, _| rng.random_range(-1.0f32..1.0));

    let mut input_grad = Matrix::default();
    layer.backward(input, &output, &weights, Some(&mut input_grad));
    let analytic_params = parameters_of(layer);

    let mut scratch = Matrix::default();
    let mut probe = input.clone();
    let numeric = numeric_gradient(probe.as_mut_slice(), options.epsilon, |values| {
        let perturbed = Matrix::from_vec(input.rows(), input.cols(), values.to_vec());
        layer.forward(&perturbed, &mut scratch, Mode::Train);
        weighted_sum(&scratch, &weights)
    });
    let mut comparisons = vec![compare("input".into(), input_grad.as_slice(), &numeric, options)];

    for (index, (name, value, grad)) in analytic_params.iter().enumerate() {
        let mut values = value.as_slice().to_vec();
        let mut element = 0;
        let numeric = numeric_gradient(&mut values, options.epsilon, |values| {
            // numeric_gradient perturbs one element at a time, in order; mirror it in the layer.
            let position = element / 2;
            if position > 0 {
                // The previous element is back at its original value in `values`.
                set_parameter(layer, index, position - 1, values[position - 1]);
            }
            set_parameter(layer, index, position, values[position]);
            layer.forward(input, &mut scratch, Mode::Train);
            element += 1;
            weighted_sum(&scratch, &weights)
        });
        // Restore every element (the last one touched is still perturbed).
        for (position, &v) in value.as_slice().iter().enumerate() {
            set_parameter(layer, index, position, v);
        }
        let label = format!("{} {name}", layer.describe());
        comparisons.push(compare(label, grad.as_slice(), &numeric, options));
    }
    Report { comparisons }
}

/// Checks `loss`'s gradient with respect to `prediction`.
///
/// # Errors
/// The loss's own error if `targets` do not fit `prediction`.
pub fn check_loss(
    loss: &mut dyn Loss,
    prediction: &Matrix,
    targets: Targets<'_>,
    options: &Options,
) -> Result<Report, NnError> {
    let mut analytic = Matrix::default();
    loss.backward(prediction, targets, &mut analytic)?;
    let mut probe = prediction.clone();
    let mut failure = None;
    let numeric = numeric_gradient(probe.as_mut_slice(), options.epsilon, |values| {
        let perturbed = Matrix::from_vec(prediction.rows(), prediction.cols(), values.to_vec());
        loss.forward(&perturbed, targets).unwrap_or_else(|e| {
            failure = Some(e);
            f32::NAN
        }) as f64
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Report {
        comparisons: vec![compare(
            format!("{} prediction", loss.name()),
            analytic.as_slice(),
            &numeric,
            options,
        )],
    })
}

/// Checks a whole model under a loss: the gradient of `loss(model(input), targets)` with
/// respect to the input and to every parameter of every layer.
///
/// # Errors
/// The model's or the loss's error if the shapes do not fit.
pub fn check_model(
    model: &mut Sequential,
    loss: &mut dyn Loss,
    input: &Matrix,
    targets: Targets<'_>,
    options: &Options,
) -> Result<Report, NnError> {
    let output = model.forward(input, Mode::Train)?.clone();
    let mut output_grad = Matrix::default();
    loss.backward(&output, targets, &mut output_grad)?;
    let input_grad = model.backward_with_input_grad(&output_grad)?.clone();

    let mut analytic: Vec<(String, Matrix, Matrix)> = Vec::new();
    for (i, layer) in model.layers_mut().iter_mut().enumerate() {
        let label = format!("layer {i} ({})", layer.describe());
        layer.visit_parameters(&mut |p| {
            analytic.push((format!("{label} {}", p.name), p.value.clone(), p.grad.clone()));
        });
    }

    let mut failure: Option<NnError> = None;
    let mut evaluate = |model: &mut Sequential, input: &Matrix| -> f64 {
        let result = model.forward(input, Mode::Train).and_then(|out| {
            let out = out.clone();
            loss.forward(&out, targets)
        });
        result.unwrap_or_else(|e| {
            failure = Some(e);
            f32::NAN
        }) as f64
    };

    let mut probe = input.clone();
    let numeric = numeric_gradient(probe.as_mut_slice(), options.epsilon, |values| {
        let perturbed = Matrix::from_vec(input.rows(), input.cols(), values.to_vec());
        evaluate(model, &perturbed)
    });
    let mut comparisons = vec![compare("input".into(), input_grad.as_slice(), &numeric, options)];

    for (index, (name, value, grad)) in analytic.iter().enumerate() {
        let mut values = value.as_slice().to_vec();
        let mut call = 0;
        let numeric = numeric_gradient(&mut values, options.epsilon, |values| {
            let position = call / 2;
            if position > 0 {
                set_model_parameter(model, index, position - 1, values[position - 1]);
            }
            set_model_parameter(model, index, position, values[position]);
            call += 1;
            evaluate(model, input)
        });
        for (position, &v) in value.as_slice().iter().enumerate() {
            set_model_parameter(model, index, position, v);
        }
        comparisons.push(compare(name.clone(), grad.as_slice(), &numeric, options));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Report { comparisons })
}

fn set_model_parameter(model: &mut Sequential, index: usize, element: usize, value: f32) {
    let mut seen = 0;
    crate::Parameters::visit_parameters(model, &mut |p| {
        if seen == index {
            p.value.as_mut_slice()[element] = value;
        }
        seen += 1;
    });
}
