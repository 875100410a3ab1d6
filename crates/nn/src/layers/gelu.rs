//! `GELU`, exact and tanh-approximated.

use percept_linalg::Matrix;

use super::activation::{backward_from_input, forward_elementwise};
use crate::{Layer, Mode};

/// Gaussian error linear unit (Hendrycks & Gimpel, 2016): `y = x · Φ(x)`, with `Φ` the
/// standard normal CDF, as PyTorch's `nn.GELU(approximate=...)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GELU {
    /// The exact erf form (default) or the tanh approximation.
    pub approximate: GeluApproximation,
}

/// Which form of [`GELU`] to compute (PyTorch's `approximate='none'` or `'tanh'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GeluApproximation {
    /// `x · ½ (1 + erf(x / √2))`.
    #[default]
    None,
    /// `x · ½ (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    Tanh,
}

impl GELU {
    /// The exact GELU.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tanh approximation (as in GPT-2 and BERT).
    pub fn tanh() -> Self {
        Self { approximate: GeluApproximation::Tanh }
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const TANH_CUBIC: f64 = 0.044715;

/// `(y, ∂y/∂x)` at `x`, computed in f64 and rounded once.
fn gelu(x: f32, approximate: GeluApproximation) -> (f32, f32) {
    let x = x as f64;
    let (y, dy) = match approximate {
        GeluApproximation::None => {
            let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * cdf, cdf + x * pdf)
        }
        GeluApproximation::Tanh => {
            let inner = SQRT_2_OVER_PI * (x + TANH_CUBIC * x * x * x);
            let t = inner.tanh();
            let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * x * x);
            (0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner)
        }
    };
    (y as f32, dy as f32)
}

impl Layer for GELU {
    fn name(&self) -> &'static str {
        "GELU"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::GELU { tanh: self.approximate == GeluApproximation::Tanh })
    }

    fn describe(&self) -> String {
        match self.approximate {
            GeluApproximation::None => "GELU".to_string(),
            GeluApproximation::Tanh => "GELU(tanh)".to_string(),
        }
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let approximate = self.approximate;
        forward_elementwise(input, output, move |x| gelu(x, approximate).0);
    }

    /// `∂L/∂x = ∂L/∂y · (Φ(x) + x φ(x))` (or the derivative of the tanh form).
    fn backward(
        &mut self,
        input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let approximate = self.approximate;
        backward_from_input(input, output_grad, input_grad, move |x| gelu(x, approximate).1);
    }
}
