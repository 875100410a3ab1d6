//! `LogSoftmax`.

use percept_linalg::{Matrix, Par, log_softmax_rows};

use crate::{Layer, Mode};

/// The logarithm of the softmax over each row, computed stably:
/// `y_ij = x_ij − ln Σ_k e^(x_ik)` (PyTorch's `nn.LogSoftmax(dim=1)`). Pair it with
/// [`crate::NllLoss`] for cross-entropy in two steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSoftmax;

impl Layer for LogSoftmax {
    fn name(&self) -> &'static str {
        "LogSoftmax"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::LogSoftmax)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, classes]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        output.resize(input.rows(), input.cols());
        log_softmax_rows(output, input, Par::current());
    }

    /// Per row, with `p = e^y` the softmax: `∂L/∂x = dy − p · Σ_j dy_j`.
    fn backward(
        &mut self,
        _input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let Some(input_grad) = input_grad else { return };
        input_grad.resize(output.rows(), output.cols());
        for (r, (y, dy)) in output.row_iter().zip(output_grad.row_iter()).enumerate() {
            let total: f32 = dy.iter().sum();
            for ((dx, &y), &dy) in input_grad.row_mut(r).iter_mut().zip(y).zip(dy) {
                *dx = dy - y.exp() * total;
            }
        }
    }
}
