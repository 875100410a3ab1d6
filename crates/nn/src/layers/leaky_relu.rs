//! `LeakyReLU`.

use percept_linalg::Matrix;

use super::activation::{backward_from_input, forward_elementwise};
use crate::{FusedActivation, Layer, Mode};

/// `y = x` for `x > 0`, `slope · x` otherwise (PyTorch's `nn.LeakyReLU(negative_slope)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// Slope for negative inputs (PyTorch's default 0.01).
    pub slope: f32,
}

impl LeakyReLU {
    /// A leaky ReLU with the given negative slope.
    pub fn new(slope: f32) -> Self {
        Self { slope }
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl Layer for LeakyReLU {
    fn name(&self) -> &'static str {
        "LeakyReLU"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::LeakyReLU { slope: self.slope })
    }

    fn describe(&self) -> String {
        format!("LeakyReLU({})", self.slope)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let slope = self.slope;
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            move |x| FusedActivation::LeakyRelu(slope).apply(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · (1 if x > 0 else slope)` (at 0 the slope, as PyTorch).
    fn backward(
        &mut self,
        input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let slope = self.slope;
        backward_from_input(
            input,
            output_grad,
            input_grad,
            #[inline(always)]
            move |x| if x > 0.0 { 1.0 } else { slope },
        );
    }

    /// Runs inside a preceding `Linear` for a slope of 0 or more (its derivative is then 1
    /// where the output is positive, else the slope: the same values as from the input).
    fn fusable_activation(&self) -> Option<FusedActivation> {
        (self.slope >= 0.0).then_some(FusedActivation::LeakyRelu(self.slope))
    }
}
