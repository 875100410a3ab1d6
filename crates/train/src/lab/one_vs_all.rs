//! One-vs-all classification: one binary logistic classifier per class.

use percept_linalg::Matrix;
use percept_nn::{BinaryCrossEntropyWithLogits, Loss, NnError, Targets};

/// The loss of `k` one-vs-all classifiers trained side by side: output `c` of the model is
/// the logit of "the sample is of class `c`", and its loss is the binary cross-entropy
/// with logits of that output against 1 for samples of class `c` and 0 for the others
/// (PyTorch's `BCEWithLogitsLoss`, the lesson's logistic loss), averaged over the batch.
/// The loss is the sum of the `k` classifiers' losses, so each classifier's gradient is
/// exactly what training it alone would give:
///
/// `L = Σ_c mean_i [max(z_ic, 0) − z_ic t_ic + ln(1 + e^(−|z_ic|))]`, `∂L/∂z_ic = (σ(z_ic) − t_ic) / n`
///
/// with `t_ic = 1` if sample `i` is of class `c`, else 0. On a `Linear` layer, the `k`
/// classifiers share no parameter (column `c` of the weight and bias belongs to classifier
/// `c` alone), so this trains `k` separate logistic regressions in one pass. They are
/// combined by taking the class whose classifier is the most confident (the largest logit,
/// so the largest `σ(z)`): the argmax the fit loop and [`crate::accuracy`] already take.
///
/// ```
/// use percept_linalg::Matrix;
/// use percept_nn::{Loss, Targets};
/// use percept_train::lab::OneVsAll;
/// let logits = Matrix::from_rows(&[[0.0, 0.0, 0.0]]);
/// let loss = OneVsAll::new().forward(&logits, Targets::Classes(&[1]))?;
/// assert!((loss - 3.0 * 2f32.ln()).abs() < 1e-6); // three classifiers, each at ln 2
/// # Ok::<(), percept_nn::NnError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OneVsAll {
    /// The one-hot targets of the last batch (reused).
    one_hot: Matrix,
}

impl OneVsAll {
    /// The loss.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills `one_hot` from the class targets (checked against the prediction).
    fn targets(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<(), NnError> {
        let Targets::Classes(classes) = targets else {
            return Err(NnError::TargetKind { loss: "OneVsAll", needs: "class labels" });
        };
        if classes.len() != prediction.rows() {
            return Err(NnError::TargetShape {
                loss: "OneVsAll",
                prediction: prediction.shape(),
                targets: [classes.len(), 1],
            });
        }
        if let Some((sample, &class)) = classes.iter().enumerate().find(|&(_, &c)| c >= prediction.cols()) {
            return Err(NnError::ClassOutOfRange {
                loss: "OneVsAll",
                sample,
                class,
                classes: prediction.cols(),
            });
        }
        self.one_hot.resize(prediction.rows(), prediction.cols());
        self.one_hot.fill(0.0);
        for (i, &class) in classes.iter().enumerate() {
            self.one_hot.set(i, class, 1.0);
        }
        Ok(())
    }
}

impl Loss for OneVsAll {
    fn name(&self) -> &'static str {
        "OneVsAll"
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` logits, one per classifier
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        self.targets(prediction, targets)?;
        // BinaryCrossEntropyWithLogits averages over all batch · classes elements; the sum
        // of the per-classifier means is `classes` times that.
        let mean = BinaryCrossEntropyWithLogits.forward(prediction, Targets::Values(&self.one_hot))?;
        Ok(mean * prediction.cols() as f32)
    }

    fn backward(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(), NnError> {
        self.targets(prediction, targets)?;
        BinaryCrossEntropyWithLogits.backward(prediction, Targets::Values(&self.one_hot), prediction_grad)?;
        let classes = prediction.cols() as f32;
        prediction_grad.as_mut_slice().iter_mut().for_each(|g| *g *= classes);
        Ok(())
    }
}
