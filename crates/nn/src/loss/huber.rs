//! `Huber`: squared error near zero, absolute error beyond `delta`.

use percept_linalg::Matrix;

use super::{Loss, Targets, for_each_pair};
use crate::NnError;

/// Huber loss, like PyTorch's `nn.HuberLoss(delta)`: per element, with `e = p − t`,
/// `½ e²` where `|e| < delta` and `delta · (|e| − ½ delta)` elsewhere; the mean over every
/// element. Robust to outliers like `Mae`, smooth near 0 like `Mse`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Huber {
    /// Where the quadratic part turns linear (PyTorch's default 1).
    pub delta: f32,
}

impl Huber {
    /// A Huber loss with the given `delta`.
    pub fn new(delta: f32) -> Self {
        Self { delta }
    }
}

impl Default for Huber {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl Loss for Huber {
    fn name(&self) -> &'static str {
        "Huber"
    }

    fn averaged_over(&self, prediction: &Matrix, _targets: Targets<'_>) -> f32 {
        prediction.len() as f32
    }

    /// # Shapes
    /// `prediction`, value targets: `[batch, outputs]`
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let delta = self.delta as f64;
        let mut total = 0.0f64;
        for_each_pair(self.name(), prediction, targets, |_, p, t| {
            let e = (p - t) as f64;
            total += if e.abs() < delta { 0.5 * e * e } else { delta * (e.abs() - 0.5 * delta) };
        })?;
        Ok((total / prediction.len().max(1) as f64) as f32)
    }

    /// `∂L/∂p = clamp(p − t, −delta, delta) / (n·d)`.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let scale = 1.0 / prediction.len() as f32;
        let delta = self.delta;
        let grad = prediction_grad.as_mut_slice();
        for_each_pair(self.name(), prediction, targets, |i, p, t| {
            grad[i] = scale * (p - t).clamp(-delta, delta)
        })
    }
}
