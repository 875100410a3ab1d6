//! `Sigmoid`.

use percept_linalg::Matrix;

use super::activation::{backward_from_output, forward_elementwise};
use crate::{FusedActivation, Layer, Mode};

/// Logistic sigmoid: `y = 1 / (1 + e^(−x))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl Layer for Sigmoid {
    fn name(&self) -> &'static str {
        "Sigmoid"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Sigmoid)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            |x| FusedActivation::Sigmoid.apply(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · y (1 − y)`.
    fn backward(
        &mut self,
        _input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let sigmoid = FusedActivation::Sigmoid;
        backward_from_output(
            output,
            output_grad,
            input_grad,
            #[inline(always)]
            |y| sigmoid.derivative_from_output(y),
        );
    }

    fn fusable_activation(&self) -> Option<FusedActivation> {
        Some(FusedActivation::Sigmoid)
    }
}
