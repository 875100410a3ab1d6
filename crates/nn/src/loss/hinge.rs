//! `Hinge`: the multi-class margin loss.

use percept_linalg::Matrix;

use super::{Loss, Targets, class_targets};
use crate::NnError;

/// Multi-class hinge loss (Crammer–Singer style, summed over wrong classes), like PyTorch's
/// `nn.MultiMarginLoss(p=1, margin)`: per sample with scores `z` and class `c`,
/// `Σ_{j ≠ c} max(0, margin − z_c + z_j) / classes`, averaged over the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hinge {
    /// The margin by which the right class should win (default 1).
    pub margin: f32,
}

impl Hinge {
    /// A hinge loss with the given margin.
    pub fn new(margin: f32) -> Self {
        Self { margin }
    }
}

impl Default for Hinge {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl Loss for Hinge {
    fn name(&self) -> &'static str {
        "Hinge"
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` scores; targets: `batch` class labels
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        let width = prediction.cols() as f64;
        let mut total = 0.0f64;
        for (row, &c) in prediction.row_iter().zip(classes) {
            let right = row[c] as f64;
            let sample: f64 = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != c)
                .map(|(_, &z)| (self.margin as f64 - right + z as f64).max(0.0))
                .sum();
            total += sample / width;
        }
        Ok((total / classes.len().max(1) as f64) as f32)
    }

    /// Per sample, each wrong class `j` with a positive term gets `+1/(classes·n)`, and the
    /// right class `−1/(classes·n)` for each of them.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        let unit = 1.0 / (prediction.cols() as f32 * classes.len() as f32);
        for (i, &c) in classes.iter().enumerate() {
            let row = prediction.row(i);
            let right = row[c];
            let grad = prediction_grad.row_mut(i);
            let mut active = 0.0;
            for (j, (g, &z)) in grad.iter_mut().zip(row).enumerate() {
                *g = if j != c && self.margin - right + z > 0.0 {
                    active += 1.0;
                    unit
                } else {
                    0.0
                };
            }
            grad[c] = -active * unit;
        }
        Ok(())
    }
}
