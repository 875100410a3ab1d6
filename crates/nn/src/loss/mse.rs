//! `Mse`: mean squared error.

use percept_linalg::Matrix;

use super::{Loss, Targets, for_each_pair};
use crate::NnError;

/// Mean squared error over every element, like PyTorch's `nn.MSELoss()`:
/// `L = (1/(n·d)) Σ (p − t)²` for a `[n, d]` prediction. Class labels count as one-hot rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mse;

impl Loss for Mse {
    fn name(&self) -> &'static str {
        "Mse"
    }

    fn averaged_over(&self, prediction: &Matrix, _targets: Targets<'_>) -> f32 {
        prediction.len() as f32
    }

    /// # Shapes
    /// `prediction`, value targets: `[batch, outputs]`
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let mut total = 0.0f64;
        for_each_pair(self.name(), prediction, targets, |_, p, t| {
            total += ((p - t) as f64).powi(2);
        })?;
        Ok((total / prediction.len().max(1) as f64) as f32)
    }

    /// `∂L/∂p = 2 (p − t) / (n·d)`.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let scale = 2.0 / prediction.len() as f32;
        let grad = prediction_grad.as_mut_slice();
        for_each_pair(self.name(), prediction, targets, |i, p, t| grad[i] = scale * (p - t))
    }
}
