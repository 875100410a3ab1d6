//! `Mae`: mean absolute error.

use percept_linalg::Matrix;

use super::{Loss, Targets, for_each_pair};
use crate::NnError;

/// Mean absolute error (L1) over every element, like PyTorch's `nn.L1Loss()`:
/// `L = (1/(n·d)) Σ |p − t|`. Class labels count as one-hot rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mae;

impl Loss for Mae {
    fn name(&self) -> &'static str {
        "Mae"
    }

    fn averaged_over(&self, prediction: &Matrix, _targets: Targets<'_>) -> f32 {
        prediction.len() as f32
    }

    /// # Shapes
    /// `prediction`, value targets: `[batch, outputs]`
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let mut total = 0.0f64;
        for_each_pair(self.name(), prediction, targets, |_, p, t| total += ((p - t) as f64).abs())?;
        Ok((total / prediction.len().max(1) as f64) as f32)
    }

    /// `∂L/∂p = sign(p − t) / (n·d)`, with `sign(0) = 0` as in PyTorch.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let scale = 1.0 / prediction.len() as f32;
        let grad = prediction_grad.as_mut_slice();
        for_each_pair(self.name(), prediction, targets, |i, p, t| {
            let diff = p - t;
            grad[i] = if diff > 0.0 {
                scale
            } else if diff < 0.0 {
                -scale
            } else {
                0.0
            };
        })
    }
}
