//! `Softmax` as a layer, with its own backward pass (the lesson's form).

use percept_linalg::{Matrix, Par, softmax_rows};

use crate::{Layer, Mode};

/// Softmax over each row: `p_ij = exp(x_ij) / Σ_k exp(x_ik)`, turning scores into class
/// probabilities.
///
/// Use it with [`crate::CrossEntropy`] to follow the lesson; for training, the fused
/// [`crate::SoftmaxCrossEntropy`] on raw logits is faster and more accurate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Softmax;

impl Layer for Softmax {
    fn name(&self) -> &'static str {
        "Softmax"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Softmax)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, classes]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        output.resize(input.rows(), input.cols());
        softmax_rows(output, input, Par::current());
    }

    /// With `p = output` and `dp = output_grad`, per row:
    /// `∂L/∂x = p ⊙ dp − p · Σ_j p_j dp_j` (the Jacobian `diag(p) − p pᵀ` applied to `dp`;
    /// the lesson's `p*dp - p*(p*dp).sum(axis=1)`).
    fn backward(
        &mut self,
        _input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let Some(input_grad) = input_grad else { return };
        input_grad.resize(output.rows(), output.cols());
        let rows = output.row_iter().zip(output_grad.row_iter());
        for (r, (p, dp)) in rows.enumerate() {
            let dot: f32 = p.iter().zip(dp).map(|(p, dp)| p * dp).sum();
            for ((dx, &p), &dp) in input_grad.row_mut(r).iter_mut().zip(p).zip(dp) {
                *dx = p * (dp - dot);
            }
        }
    }
}
