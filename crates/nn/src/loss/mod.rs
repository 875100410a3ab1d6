//! Losses: a scalar to minimise, and its gradient with respect to the prediction.

mod binary_cross_entropy;
mod cross_entropy;
mod hinge;
mod huber;
mod mae;
mod mse;
mod nll;
mod softmax_cross_entropy;
mod sum;

pub use binary_cross_entropy::{BinaryCrossEntropy, BinaryCrossEntropyWithLogits};
pub use cross_entropy::CrossEntropy;
pub use hinge::Hinge;
pub use huber::Huber;
pub use mae::Mae;
pub use mse::Mse;
pub use nll::NllLoss;
pub use softmax_cross_entropy::SoftmaxCrossEntropy;
pub use sum::Sum;

/// The 0-1 loss: the fraction of samples whose highest score is not their class (1 −
/// accuracy), the lesson's classification error. A metric, not a training loss: it has no
/// useful gradient.
///
/// # Errors
/// [`NnError`] when the classes do not fit the prediction.
pub fn zero_one_loss(prediction: &Matrix, classes: &[usize]) -> Result<f32, NnError> {
    let classes = class_targets("zero_one_loss", prediction, Targets::Classes(classes))?;
    let wrong =
        prediction.row_iter().zip(classes).filter(|&(row, &c)| percept_linalg::argmax(row) != c).count();
    Ok(wrong as f32 / classes.len().max(1) as f32)
}

use percept_linalg::Matrix;

use crate::NnError;

/// What a prediction is compared with.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per sample (classification).
    Classes(&'a [usize]),
    /// One row of values per sample (regression), shaped like the prediction.
    Values(&'a Matrix),
}

impl Targets<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(classes) => classes.len(),
            Targets::Values(values) => values.rows(),
        }
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loss function. `forward` returns the mean over the batch; `backward` writes
/// `∂loss/∂prediction` (including that `1/batch`, as the lesson's loss does).
pub trait Loss: Send {
    /// The loss's name, e.g. `"CrossEntropy"`.
    fn name(&self) -> &'static str;

    /// The loss of `prediction` (`[batch, outputs]`) against `targets`, averaged over the batch.
    ///
    /// # Errors
    /// [`NnError`] when the targets do not fit the prediction.
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError>;

    /// Writes `∂loss/∂prediction` into `prediction_grad` (resized to the prediction's shape).
    ///
    /// # Errors
    /// [`NnError`] when the targets do not fit the prediction.
    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError>;

    /// What the loss's mean divides by for this batch: the number of samples for per-sample
    /// losses (the default), of elements for elementwise ones (`Mse`, `Mae`, `Huber`, the
    /// binary cross-entropies), the sum of the targets' class weights for a weighted
    /// cross-entropy. [`Sum`] multiplies by it to turn the mean into a sum.
    fn averaged_over(&self, prediction: &Matrix, targets: Targets<'_>) -> f32 {
        let _ = targets;
        prediction.rows() as f32
    }

    /// The loss and its gradient in one call, which is what a training step needs. The default
    /// runs [`Loss::forward`] then [`Loss::backward`]; losses that can share work between the
    /// two (the fused softmax cross-entropy computes one softmax instead of two) override it,
    /// with results identical to the two calls.
    ///
    /// # Errors
    /// [`NnError`] when the targets do not fit the prediction.
    fn forward_backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<f32, NnError> {
        let value = self.forward(prediction, targets)?;
        self.backward(prediction, targets, prediction_grad)?;
        Ok(value)
    }

    /// [`Loss::forward_backward`], and, when the loss can find it on the way, how many rows'
    /// largest prediction is their target class ([`percept_linalg::argmax`]: the first on
    /// ties, never NaN): a training loop's accuracy without a second pass over the
    /// predictions, and on several threads without a second hand-over. The default returns
    /// `None`, and the caller counts.
    ///
    /// # Errors
    /// As [`Loss::forward_backward`].
    fn forward_backward_hits(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(f32, Option<usize>), NnError> {
        Ok((self.forward_backward(prediction, targets, prediction_grad)?, None))
    }
}

/// Checks that `targets` are class labels, one per row of `prediction`, each a valid column.
pub(crate) fn class_targets<'a>(
    loss: &'static str,
    prediction: &Matrix,
    targets: Targets<'a>,
) -> Result<&'a [usize], NnError> {
    let Targets::Classes(classes) = targets else {
        return Err(NnError::TargetKind { loss, needs: "class labels" });
    };
    if classes.len() != prediction.rows() {
        return Err(NnError::TargetShape {
            loss,
            prediction: prediction.shape(),
            targets: [classes.len(), 1],
        });
    }
    if let Some((sample, &class)) = classes.iter().enumerate().find(|&(_, &c)| c >= prediction.cols()) {
        return Err(NnError::ClassOutOfRange { loss, sample, class, classes: prediction.cols() });
    }
    Ok(classes)
}

/// Calls `f(prediction, target)` for every element, where class labels count as one-hot rows
/// (so `Mse` on classes is the squared error against one-hot vectors, as in LeCun's MNIST
/// table). Checks the shapes first.
pub(crate) fn for_each_pair(
    loss: &'static str,
    prediction: &Matrix,
    targets: Targets<'_>,
    mut f: impl FnMut(usize, f32, f32),
) -> Result<(), NnError> {
    match targets {
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
        }
        Targets::Classes(_) => {
            let classes = class_targets(loss, prediction, targets)?;
            let cols = prediction.cols();
            for (i, &p) in prediction.as_slice().iter().enumerate() {
                let target = if classes[i / cols] == i % cols { 1.0 } else { 0.0 };
                f(i, p, target);
            }
        }
    }
    Ok(())
}
