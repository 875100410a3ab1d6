//! `CrossEntropy` on probabilities: the lesson's loss, after a `Softmax` layer.

use percept_linalg::Matrix;

use super::{Loss, Targets, class_targets};
use crate::NnError;

/// Cross-entropy on class probabilities: `L = −(1/n) Σ_i ln p[i, y_i]` (the lesson's
/// `CrossEntropyLoss`, used after a [`crate::Softmax`] layer).
///
/// For training, prefer [`crate::SoftmaxCrossEntropy`] on logits: it is the same loss,
/// computed stably in one step.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropy;

impl Loss for CrossEntropy {
    fn name(&self) -> &'static str {
        "CrossEntropy"
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` probabilities; targets: `batch` class labels
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        let total: f64 = classes.iter().enumerate().map(|(i, &y)| -(prediction.get(i, y) as f64).ln()).sum();
        Ok((total / classes.len().max(1) as f64) as f32)
    }

    /// `∂L/∂p[i, j] = −1 / (n · p[i, y_i])` where `j = y_i`, and 0 elsewhere (the lesson's
    /// `CrossEntropyLoss.backward`).
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        prediction_grad.fill(0.0);
        let n = classes.len() as f32;
        for (i, &y) in classes.iter().enumerate() {
            prediction_grad.set(i, y, -1.0 / (n * prediction.get(i, y)));
        }
        Ok(())
    }
}
