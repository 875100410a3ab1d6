//! `Softplus`.

use percept_linalg::{Matrix, fastmath};

use super::activation::{backward_from_input, forward_elementwise, logistic};
use crate::{Layer, Mode};

/// `y = (1/β) · ln(1 + e^(βx))`, a smooth ReLU, linear where `βx > threshold` (PyTorch's
/// `nn.Softplus(beta, threshold)`). `ln(1 + e^z)` comes from [`percept_linalg::fastmath`]
/// (within 3 units in the last place), which vectorizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softplus {
    /// Sharpness (default 1).
    pub beta: f32,
    /// Above `βx > threshold` the output is `x` (default 20).
    pub threshold: f32,
}

impl Default for Softplus {
    fn default() -> Self {
        Self { beta: 1.0, threshold: 20.0 }
    }
}

impl Layer for Softplus {
    fn name(&self) -> &'static str {
        "Softplus"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Softplus { beta: self.beta, threshold: self.threshold })
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let Self { beta, threshold } = *self;
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            move |x| {
                let bx = beta * x;
                // Computed for every x and picked without a branch, so the loop vectorizes.
                let smooth = fastmath::softplus(bx) / beta;
                if bx > threshold { x } else { smooth }
            },
        );
    }

    /// `∂L/∂x = ∂L/∂y · σ(βx)` (1 in the linear region).
    fn backward(
        &mut self,
        input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let Self { beta, threshold } = *self;
        backward_from_input(
            input,
            output_grad,
            input_grad,
            #[inline(always)]
            move |x| {
                let bx = beta * x;
                if bx > threshold { 1.0 } else { logistic(bx) }
            },
        );
    }
}
