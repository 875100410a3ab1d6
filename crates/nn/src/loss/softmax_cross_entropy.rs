//! `SoftmaxCrossEntropy`: softmax and cross-entropy fused, on logits.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use percept_linalg::{Matrix, Par, argmax, for_each_row_block};

use super::{Loss, Targets, class_targets};
use crate::NnError;

/// Softmax followed by cross-entropy, on raw scores (logits), like PyTorch's
/// `nn.CrossEntropyLoss`: `L = (1/n) Σ_i (ln Σ_j e^(z_ij) − z_{i,y_i})`.
///
/// Fusing the two gives a simple, stable gradient, `(softmax(z) − onehot(y)) / n`, and never
/// takes the logarithm of a probability that rounded to zero. This is the default loss for
/// classification: end the model with a `Linear` layer, not a `Softmax`.
///
/// `SoftmaxCrossEntropy::new()` (or `default()`) is the plain loss; PyTorch's two options are
/// builder methods:
///
/// - [`SoftmaxCrossEntropy::label_smoothing`]`(ε)`: the target is `1 − ε` on the class plus
///   `ε / classes` everywhere (Szegedy et al., 2016);
/// - [`SoftmaxCrossEntropy::class_weights`]`(w)`: sample `i` counts `w[y_i]` times, and the
///   mean divides by `Σ_i w[y_i]` (PyTorch's `weight=`).
///
/// ```
/// use percept_nn::SoftmaxCrossEntropy;
/// let plain = SoftmaxCrossEntropy::new();
/// let smoothed = SoftmaxCrossEntropy::new().label_smoothing(0.1).class_weights(vec![1.0, 2.0, 0.5]);
/// assert_eq!(plain, SoftmaxCrossEntropy::default());
/// assert_ne!(plain, smoothed);
/// ```
#[derive(Clone, Default)]
pub struct SoftmaxCrossEntropy {
    smoothing: f32,
    weights: Option<Vec<f32>>,
    /// Scratch: each row's loss in the last `forward_backward`, as `f32` bits.
    row_losses: RowLosses,
}

/// Below this many logits `forward_backward` runs on one thread. Each logit costs an
/// exponential (about 4 ns), so a batch of 256 over 10 classes is about 10 µs of work,
/// against about 0.3 µs to hand half of it to a second thread.
const PARALLEL_MIN_LOGITS: usize = 1024;

/// Per-row losses, written by whichever thread computed the row and then added up in row
/// order, so that the total does not depend on the thread count.
#[derive(Default)]
struct RowLosses(Vec<AtomicU32>);

impl Clone for RowLosses {
    /// Scratch is not copied: the copy makes its own.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for SoftmaxCrossEntropy {
    /// Equal settings (the scratch buffer does not count).
    fn eq(&self, other: &Self) -> bool {
        self.smoothing == other.smoothing && self.weights == other.weights
    }
}

impl fmt::Debug for SoftmaxCrossEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftmaxCrossEntropy")
            .field("smoothing", &self.smoothing)
            .field("weights", &self.weights)
            .finish_non_exhaustive()
    }
}

impl SoftmaxCrossEntropy {
    /// The plain loss: no label smoothing, every class weighing 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same loss with label smoothing `epsilon` (in `[0, 1]`).
    pub fn label_smoothing(self, epsilon: f32) -> Self {
        Self { smoothing: epsilon, ..self }
    }

    /// The same loss with a weight per class.
    pub fn class_weights(self, weights: Vec<f32>) -> Self {
        Self { weights: Some(weights), ..self }
    }

    fn is_plain(&self) -> bool {
        self.smoothing == 0.0 && self.weights.is_none()
    }

    /// Checks the class weights against the prediction's width.
    fn check_weights(&self, prediction: &Matrix) -> Result<(), NnError> {
        match &self.weights {
            Some(w) if w.len() != prediction.cols() => Err(NnError::TargetShape {
                loss: "SoftmaxCrossEntropy (class weights)",
                prediction: prediction.shape(),
                targets: [1, w.len()],
            }),
            _ => Ok(()),
        }
    }

    fn weight(&self, class: usize) -> f32 {
        self.weights.as_ref().map_or(1.0, |w| w[class])
    }

    /// The general path (smoothing or weights): loss and, if asked, gradient.
    fn general(&self, prediction: &Matrix, classes: &[usize], mut grad: Option<&mut Matrix>) -> f32 {
        let width = prediction.cols();
        let eps = self.smoothing as f64;
        let total_weight: f64 = classes.iter().map(|&c| self.weight(c) as f64).sum();
        let class_weight_sum: f64 = (0..width).map(|j| self.weight(j) as f64).sum();
        let mut total = 0.0f64;
        for (i, &c) in classes.iter().enumerate() {
            let row = prediction.row(i);
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = row.iter().map(|&z| (z as f64 - max).exp()).sum();
            let lse = max + sum.ln();
            let wc = self.weight(c) as f64;
            let smooth: f64 =
                row.iter().enumerate().map(|(j, &z)| self.weight(j) as f64 * (lse - z as f64)).sum();
            total += (1.0 - eps) * wc * (lse - row[c] as f64) + eps / width as f64 * smooth;
            if let Some(grad) = grad.as_deref_mut() {
                for (j, (g, &z)) in grad.row_mut(i).iter_mut().zip(row).enumerate() {
                    let p = (z as f64 - lse).exp();
                    let hit = if j == c { 1.0 } else { 0.0 };
                    let value = (1.0 - eps) * wc * (p - hit)
                        + eps / width as f64 * (p * class_weight_sum - self.weight(j) as f64);
                    *g = (value / total_weight) as f32;
                }
            }
        }
        (total / total_weight) as f32
    }
}

impl Loss for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "SoftmaxCrossEntropy"
    }

    fn averaged_over(&self, prediction: &Matrix, targets: Targets<'_>) -> f32 {
        match (&self.weights, targets) {
            (Some(_), Targets::Classes(classes)) => classes.iter().map(|&c| self.weight(c)).sum(),
            _ => prediction.rows() as f32,
        }
    }

    /// # Shapes
    /// `prediction`: `[batch, classes]` logits; targets: `batch` class labels
    fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        self.check_weights(prediction)?;
        if !self.is_plain() {
            return Ok(self.general(prediction, classes, None));
        }
        let mut total = 0.0f64;
        for (row, &y) in prediction.row_iter().zip(classes) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // The exponentials of `fused`, a piece of the row at a time, added in the same order.
            let mut sum = 0.0f32;
            let mut exps = [0.0f32; 32];
            for piece in row.chunks(exps.len()) {
                let exps = &mut exps[..piece.len()];
                percept_linalg::exp_shifted(exps, piece, max);
                sum = exps.iter().fold(sum, |sum, &e| sum + e);
            }
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
        self.check_weights(prediction)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        if !self.is_plain() {
            self.general(prediction, classes, Some(prediction_grad));
            return Ok(());
        }
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
        Ok(self.fused(prediction, targets, prediction_grad, false)?.0)
    }

    /// The same pass, counting the rows whose largest logit is their class (without label
    /// smoothing or class weights; `None` with them).
    fn forward_backward_hits(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
    ) -> Result<(f32, Option<usize>), NnError> {
        self.fused(prediction, targets, prediction_grad, true)
    }
}

impl SoftmaxCrossEntropy {
    /// [`Loss::forward_backward`], and with `count_hits` the count of
    /// [`Loss::forward_backward_hits`].
    fn fused(
        &mut self,
        prediction: &Matrix,
        targets: Targets<'_>,
        prediction_grad: &mut Matrix,
        count_hits: bool,
    ) -> Result<(f32, Option<usize>), NnError> {
        let classes = class_targets(self.name(), prediction, targets)?;
        self.check_weights(prediction)?;
        prediction_grad.resize(prediction.rows(), prediction.cols());
        if !self.is_plain() {
            return Ok((self.general(prediction, classes, Some(prediction_grad)), None));
        }
        let hits = AtomicUsize::new(0);
        let inv_n = 1.0 / classes.len() as f32;
        let rows = prediction.rows();
        let row_losses = &mut self.row_losses.0;
        if row_losses.len() < rows {
            row_losses.resize_with(rows, AtomicU32::default);
        }
        let row_losses = &row_losses[..rows];
        let width = prediction.cols().max(1);
        // Rows are independent: split them over threads, each row computed as on one thread.
        let par = Par::current().above(prediction.len(), PARALLEL_MIN_LOGITS);
        for_each_row_block(prediction_grad, par, |first_row, block| {
            let mut block_hits = 0;
            for (r, grad) in block.chunks_exact_mut(width).enumerate() {
                let i = first_row + r;
                let (row, y) = (prediction.row(i), classes[i]);
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                percept_linalg::exp_shifted(grad, row, max);
                let sum = percept_linalg::sum_in_order(grad);
                row_losses[i].store((max + sum.ln() - row[y]).to_bits(), Ordering::Relaxed);
                let inv = 1.0 / sum;
                for g in grad.iter_mut() {
                    *g *= inv;
                }
                grad[y] -= 1.0;
                for g in grad.iter_mut() {
                    *g *= inv_n;
                }
                if count_hits {
                    block_hits += usize::from(argmax(row) == y);
                }
            }
            hits.fetch_add(block_hits, Ordering::Relaxed);
        });
        // In row order, in f64, as `forward` adds them.
        let total: f64 = row_losses.iter().map(|l| f32::from_bits(l.load(Ordering::Relaxed)) as f64).sum();
        let mean = (total / classes.len().max(1) as f64) as f32;
        Ok((mean, count_hits.then(|| hits.into_inner())))
    }
}
