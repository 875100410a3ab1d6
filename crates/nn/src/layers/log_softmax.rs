//! `LogSoftmax`.

use percept_linalg::{Matrix, Par, exp_shifted, log_softmax_rows, sum_in_order};

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
            let total = sum_in_order(dy);
            let dx = input_grad.row_mut(r);
            // `p = e^y` from the exponential the forward pass used (vectorized), into `dx`.
            exp_shifted(dx, y, 0.0);
            for (dx, &dy) in dx.iter_mut().zip(dy) {
                *dx = dy - *dx * total;
            }
        }
    }
}
