//! `ELU`.

use percept_linalg::{Matrix, fastmath};

use super::activation::{backward_from_input, backward_from_output, forward_elementwise};
use crate::{FusedActivation, Layer, Mode};

/// Exponential linear unit (Clevert et al., 2016): `y = x` for `x > 0`,
/// `alpha · (eˣ − 1)` otherwise (PyTorch's `nn.ELU(alpha)`). `eˣ − 1` and `eˣ` come from
/// [`percept_linalg::fastmath`] (within 2 units in the last place), which vectorizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ELU {
    /// Value approached for very negative inputs is `−alpha` (default 1).
    pub alpha: f32,
}

impl ELU {
    /// An ELU with the given `alpha`.
    pub fn new(alpha: f32) -> Self {
        Self { alpha }
    }
}

impl Default for ELU {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl Layer for ELU {
    fn name(&self) -> &'static str {
        "ELU"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::ELU { alpha: self.alpha })
    }

    fn describe(&self) -> String {
        format!("ELU({})", self.alpha)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let alpha = self.alpha;
        forward_elementwise(
            input,
            output,
            #[inline(always)]
            move |x| FusedActivation::Elu(alpha).apply(x),
        );
    }

    /// `∂L/∂x = ∂L/∂y · (1 if x > 0 else alpha · eˣ)`, with `alpha · eˣ` as `y + alpha` from
    /// the output for `alpha > 0` (as PyTorch computes it from its result; the same bits as
    /// the layer fused into a `Linear`), from the input otherwise.
    fn backward(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let alpha = self.alpha;
        if let Some(fused) = self.fusable_activation() {
            return backward_from_output(
                output,
                output_grad,
                input_grad,
                #[inline(always)]
                move |y| fused.derivative_from_output(y),
            );
        }
        backward_from_input(
            input,
            output_grad,
            input_grad,
            #[inline(always)]
            move |x| {
                let negative = alpha * fastmath::exp(x.min(0.0));
                if x > 0.0 { 1.0 } else { negative }
            },
        );
    }

    /// Runs inside a preceding `Linear` for `alpha > 0` (the output's sign then tells the
    /// input's).
    fn fusable_activation(&self) -> Option<FusedActivation> {
        (self.alpha > 0.0).then_some(FusedActivation::Elu(self.alpha))
    }
}
