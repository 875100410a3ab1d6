//! `Tanh`.

use percept_linalg::Matrix;

use super::activation::{backward_from_output, forward_elementwise};
use crate::{FusedActivation, Layer, Mode};

/// Hyperbolic tangent: `y = tanh x` (the lesson's `Tanh`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl Layer for Tanh {
    fn name(&self) -> &'static str {
        "Tanh"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Tanh)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            |x| FusedActivation::Tanh.apply(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · (1 − y²)`.
    fn backward(
        &mut self,
        _input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let tanh = FusedActivation::Tanh;
        backward_from_output(
            output,
            output_grad,
            input_grad,
            #[inline(always)]
            |y| tanh.derivative_from_output(y),
        );
    }

    fn fusable_activation(&self) -> Option<FusedActivation> {
        Some(FusedActivation::Tanh)
    }
}
