//! `SiLU` (swish).

use percept_linalg::Matrix;

use super::activation::{backward_from_input, forward_elementwise, logistic};
use crate::{Layer, Mode};

/// Sigmoid linear unit, also called swish: `y = x · σ(x)` (PyTorch's `nn.SiLU`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SiLU;

impl Layer for SiLU {
    fn name(&self) -> &'static str {
        "SiLU"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::SiLU)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            |x| x * logistic(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · σ(x) (1 + x (1 − σ(x)))`.
    fn backward(
        &mut self,
        input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        backward_from_input(
            input,
            output_grad,
            input_grad,
            #[inline(always)]
            |x| {
                let s = logistic(x);
                s * (1.0 + x * (1.0 - s))
            },
        );
    }
}
