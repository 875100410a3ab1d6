//! `SoftmaxCrossEntropy`: softmax and cross-entropy fused, on logits.

use percept_linalg::Matrix;

use super::{Loss, Targets, class_targets};
use crate::NnError;

/// Softmax followed by cross-entropy, on raw scores (logits), like PyTorch's
/// `nn.CrossEntropyLoss`: `L = (1/n) Σ_i (ln Σ_j e^(z_ij) − z_{i,y_i})`.
///
/// Fusing the two gives a simple, stable gradient, `(softmax(z) − onehot(y)) / n`, and never
/// takes the logarithm of a probability that rounded to zero. This is the default loss for
/// classification: end the model with a `Linear` layer, not a `Softmax`.
#[derive(Clone, Debug, Default)]
pub struct SoftmaxCrossEntropy;

impl Loss for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "SoftmaxCrossEntropy"
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` logits; targets: `batch` class labels
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        let mut total = 0.0f64;
        for (row, &y) in prediction.row_iter().zip(classes) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&z| (z - max).exp()).sum();
            total += (max + sum.ln() - row[y]) as f64;
        }
        Ok((total / classes.len().max(1) as f64) as f32)
    }

    /// `∂L/∂z_ij = (softmax(z_i)_j − [j = y_i]) / n`.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let inv_n = 1.0 / classes.len() as f32;
        for (i, &y) in classes.iter().enumerate() {
            let grad = prediction_grad.row_mut(i);
            percept_linalg::softmax_row(grad, prediction.row(i));
            grad[y] -= 1.0;
            for g in grad.iter_mut() {
                *g *= inv_n;
            }
        }
        Ok(())
    }

    /// One pass per row: the exponentials computed for the loss become the softmax of the
    /// gradient. Bit-for-bit the same loss and gradient as `forward` and `backward`.
    fn forward_backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let inv_n = 1.0 / classes.len() as f32;
        let mut total = 0.0f64;
        for (i, &y) in classes.iter().enumerate() {
            let row = prediction.row(i);
            let grad = prediction_grad.row_mut(i);
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (g, &z) in grad.iter_mut().zip(row) {
                *g = (z - max).exp();
                sum += *g;
            }
            total += (max + sum.ln() - row[y]) as f64;
            let inv = 1.0 / sum;
            for g in grad.iter_mut() {
                *g *= inv;
            }
            grad[y] -= 1.0;
            for g in grad.iter_mut() {
                *g *= inv_n;
            }
        }
        Ok((total / classes.len().max(1) as f64) as f32)
    }
}
