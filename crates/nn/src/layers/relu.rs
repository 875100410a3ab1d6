//! `ReLU`.

use percept_linalg::Matrix;

use super::activation::{backward_from_output, forward_elementwise};
use crate::{FusedActivation, Layer, Mode};

/// Rectified linear unit: `y = max(0, x)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl Layer for ReLU {
    fn name(&self) -> &'static str {
        "ReLU"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::ReLU)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            |x| FusedActivation::Relu.apply(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · [y > 0]` (the derivative at 0 is taken as 0, as PyTorch does).
    fn backward(
        &mut self,
        _input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let relu = FusedActivation::Relu;
        backward_from_output(
            output,
            output_grad,
            input_grad,
            #[inline(always)]
            |y| relu.derivative_from_output(y),
        );
    }

    fn fusable_activation(&self) -> Option<FusedActivation> {
        Some(FusedActivation::Relu)
    }
}
