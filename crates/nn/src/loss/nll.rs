//! `NllLoss`: negative log-likelihood of log-probabilities.

use percept_linalg::Matrix;

use super::{Loss, Targets, class_targets};
use crate::NnError;

/// Negative log-likelihood, like PyTorch's `nn.NLLLoss`: `L = −(1/n) Σ_i y_{i, c_i}` for
/// log-probabilities `y` (the output of [`crate::LogSoftmax`]) and classes `c`.
/// `LogSoftmax` followed by `NllLoss` is cross-entropy in two steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct NllLoss;

impl Loss for NllLoss {
    fn name(&self) -> &'static str {
        "NllLoss"
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` log-probabilities; targets: `batch` class labels
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        let total: f64 = classes.iter().enumerate().map(|(i, &c)| -prediction.get(i, c) as f64).sum();
        Ok((total / classes.len().max(1) as f64) as f32)
    }

    /// `∂L/∂y_ij = −[j = c_i] / n`.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        prediction_grad.fill(0.0);
        let inv_n = 1.0 / classes.len() as f32;
        for (i, &c) in classes.iter().enumerate() {
            prediction_grad.set(i, c, -inv_n);
        }
        Ok(())
    }
}
