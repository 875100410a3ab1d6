//! Binary cross-entropy, on probabilities and on logits.

use percept_linalg::Matrix;

use super::{Loss, Targets};
use crate::NnError;

/// Calls `f(index, prediction, target)` for every element, with targets given as values of
/// the prediction's shape, or as classes 0 or 1 for a one-column prediction.
fn for_each_binary(
    loss: &'static str,
    prediction: &Matrix,
    targets: Targets<'_>,
    mut f: impl FnMut(usize, f32, f32),
) -> Result<(), NnError> {
    match targets {
        Targets::Classes(classes) if prediction.cols() == 1 => {
            if classes.len() != prediction.rows() {
                return Err(NnError::TargetShape {
                    loss,
                    prediction: prediction.shape(),
                    targets: [classes.len(), 1],
                });
            }
            if let Some((sample, &class)) = classes.iter().enumerate().find(|&(_, &c)| c > 1) {
                return Err(NnError::ClassOutOfRange { loss, sample, class, classes: 2 });
            }
            for (i, (&p, &c)) in prediction.as_slice().iter().zip(classes).enumerate() {
                f(i, p, c as f32);
            }
            Ok(())
        }
        Targets::Classes(_) => {
            Err(NnError::TargetKind { loss, needs: "values (or classes 0/1 with one output column)" })
        }
        Targets::Values(values) => {
            if values.shape() != prediction.shape() {
                return Err(NnError::TargetShape {
                    loss,
                    prediction: prediction.shape(),
                    targets: values.shape(),
                });
            }
            for (i, (&p, &t)) in prediction.as_slice().iter().zip(values.as_slice()).enumerate() {
                f(i, p, t);
            }
            Ok(())
        }
    }
}

/// Binary cross-entropy on probabilities (after a `Sigmoid`), like PyTorch's `nn.BCELoss`:
/// `−(t ln p + (1 − t) ln(1 − p))` per element, each logarithm clamped at −100 as PyTorch
/// does, averaged over every element. Targets are values in `[0, 1]` shaped like the
/// prediction, or classes 0/1 for a one-column prediction. Prefer
/// [`BinaryCrossEntropyWithLogits`] for training: it is stable where `p` rounds to 0 or 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossEntropy;

impl Loss for BinaryCrossEntropy {
    fn name(&self) -> &'static str {
        "BinaryCrossEntropy"
    }

    fn averaged_over(&self, prediction: &Matrix, _targets: Targets<'_>) -> f32 {
        prediction.len() as f32
    }

    /// # Shapes
    /// `prediction`: `[batch, outputs]` probabilities
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let mut total = 0.0f64;
        for_each_binary(self.name(), prediction, targets, |_, p, t| {
            let (p, t) = (p as f64, t as f64);
            total -= t * p.ln().max(-100.0) + (1.0 - t) * (1.0 - p).ln().max(-100.0);
        })?;
        Ok((total / prediction.len().max(1) as f64) as f32)
    }

    /// `∂L/∂p = (p − t) / max(p (1 − p), 1e-12) / (n·d)` (PyTorch's clamp of the denominator).
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let scale = 1.0 / prediction.len() as f32;
        let grad = prediction_grad.as_mut_slice();
        for_each_binary(self.name(), prediction, targets, |i, p, t| {
            grad[i] = scale * (p - t) / (p * (1.0 - p)).max(1e-12);
        })
    }
}

/// Binary cross-entropy on logits, with the sigmoid fused in, like PyTorch's
/// `nn.BCEWithLogitsLoss`: the lesson's logistic loss. Per element, computed without
/// overflow as `max(z, 0) − z t + ln(1 + e^(−|z|))`, averaged over every element.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryCrossEntropyWithLogits;

impl Loss for BinaryCrossEntropyWithLogits {
    fn name(&self) -> &'static str {
        "BinaryCrossEntropyWithLogits"
    }

    fn averaged_over(&self, prediction: &Matrix, _targets: Targets<'_>) -> f32 {
        prediction.len() as f32
    }

    /// # Shapes
    /// `prediction`: `[batch, outputs]` logits
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let mut total = 0.0f64;
        for_each_binary(self.name(), prediction, targets, |_, z, t| {
            let (z, t) = (z as f64, t as f64);
            total += z.max(0.0) - z * t + (-z.abs()).exp().ln_1p();
        })?;
        Ok((total / prediction.len().max(1) as f64) as f32)
    }

    /// `∂L/∂z = (σ(z) − t) / (n·d)`.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let scale = 1.0 / prediction.len() as f32;
        let grad = prediction_grad.as_mut_slice();
        for_each_binary(self.name(), prediction, targets, |i, z, t| {
            let sigmoid = 1.0 / (1.0 + (-(z as f64)).exp());
            grad[i] = scale * (sigmoid as f32 - t);
        })
    }
}
