//! `LayerNorm`.

use percept_linalg::Matrix;

use crate::{Layer, Mode, Param};

/// Layer normalization (Ba, Kiros & Hinton, 2016), as PyTorch's
/// `nn.LayerNorm(features, eps=1e-5)` on `[batch, features]` input (Keras'
/// `LayerNormalization()`, burn's `LayerNorm`).
///
/// Each sample (row) is normalized over its own features, with its mean and biased variance:
/// `x̂ = (x − mean) / √(var + eps)`, then `y = weight · x̂ + bias`, with `weight` starting at 1
/// and `bias` at 0. Unlike [`crate::BatchNorm1d`] nothing depends on the rest of the batch,
/// so training and evaluation compute the same thing, and a batch of one sample is fine.
///
/// ```
/// use percept_linalg::Matrix;
/// use percept_nn::{Layer, LayerNorm, Mode};
///
/// let mut norm = LayerNorm::new(4);
/// let mut out = Matrix::default();
/// norm.forward(&Matrix::from_rows(&[[1.0, 2.0, 3.0, 4.0]]), &mut out, Mode::Eval);
/// let mean: f32 = out.as_slice().iter().sum::<f32>() / 4.0;
/// assert!(mean.abs() < 1e-6 && (out.get(0, 3) - 1.3416355).abs() < 1e-5);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Matrix,
    bias: Matrix,
    weight_grad: Matrix,
    bias_grad: Matrix,
    /// Added to the variance (default 1e-5).
    pub eps: f32,
    /// What backward needs from the last forward pass: `1/σ` per sample and the normalized
    /// input.
    inv_std: Vec<f32>,
    normalized: Matrix,
}

impl LayerNorm {
    /// A layer for `features` features with PyTorch's defaults.
    pub fn new(features: usize) -> Self {
        Self {
            weight: Matrix::filled(1, features, 1.0),
            bias: Matrix::zeros(1, features),
            weight_grad: Matrix::zeros(1, features),
            bias_grad: Matrix::zeros(1, features),
            eps: 1e-5,
            inv_std: Vec::new(),
            normalized: Matrix::default(),
        }
    }

    /// The scale `γ`, `[1, features]`.
    pub fn weight(&self) -> &Matrix {
        &self.weight
    }

    /// The shift `β`, `[1, features]`.
    pub fn bias(&self) -> &Matrix {
        &self.bias
    }

    /// Sets `γ` and `β` (each `features` values).
    ///
    /// # Panics
    /// If a length differs from the number of features.
    #[track_caller]
    pub fn set_affine(&mut self, weight: &[f32], bias: &[f32]) {
        self.weight.as_mut_slice().copy_from_slice(weight);
        self.bias.as_mut_slice().copy_from_slice(bias);
    }

    /// `∂L/∂γ` from the last backward pass.
    pub fn weight_grad(&self) -> &Matrix {
        &self.weight_grad
    }

    /// `∂L/∂β` from the last backward pass.
    pub fn bias_grad(&self) -> &Matrix {
        &self.bias_grad
    }

    fn features(&self) -> usize {
        self.weight.cols()
    }
}

impl Layer for LayerNorm {
    fn name(&self) -> &'static str {
        "LayerNorm"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::LayerNorm { features: self.features(), eps: self.eps })
    }

    fn describe(&self) -> String {
        format!("LayerNorm({})", self.features())
    }

    fn in_features(&self) -> Option<usize> {
        Some(self.features())
    }

    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    ///
    /// # Panics
    /// If the input has another number of features.
    #[track_caller]
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let (n, d) = (input.rows(), input.cols());
        crate::layer::assert_input_width(self, input.shape(), self.features());
        output.resize(n, d);
        self.normalized.resize(n, d);
        self.inv_std.resize(n, 0.0);
        let (gamma, beta) = (self.weight.as_slice(), self.bias.as_slice());
        for (i, ((x, x_hat), y)) in input
            .row_iter()
            .zip(self.normalized.as_mut_slice().chunks_exact_mut(d.max(1)))
            .zip(output.as_mut_slice().chunks_exact_mut(d.max(1)))
            .enumerate()
        {
            // Sums in f64, as BatchNorm1d: a row's values may be large with a small spread.
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let inv_std = 1.0 / (var + self.eps as f64).sqrt();
            self.inv_std[i] = inv_std as f32;
            for ((((h, y), &v), &g), &b) in x_hat.iter_mut().zip(y.iter_mut()).zip(x).zip(gamma).zip(beta) {
                *h = ((v as f64 - mean) * inv_std) as f32;
                *y = g * *h + b;
            }
        }
    }

    /// With `x̂` the normalized input, `g = ∂L/∂y` and `ĝ = γ g` (per sample, over its
    /// features): `∂L/∂β = Σ_batch g`, `∂L/∂γ = Σ_batch g x̂`, and
    /// `∂L/∂x = (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂)) / σ` (the row's statistics depend on each of its
    /// values).
    ///
    /// # Panics
    /// If `output_grad` is not the shape of the last forward pass's output.
    #[track_caller]
    fn backward(
        &mut self,
        _input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        assert!(
            output_grad.shape() == self.normalized.shape(),
            "{}: output gradient has shape {:?}, the last output {:?}",
            self.describe(),
            output_grad.shape(),
            self.normalized.shape()
        );
        let (n, d) = (output_grad.rows(), output_grad.cols());
        let mut sum_g = vec![0.0f64; d];
        let mut sum_gx = vec![0.0f64; d];
        for (g, x_hat) in output_grad.row_iter().zip(self.normalized.row_iter()) {
            for (j, (&g, &h)) in g.iter().zip(x_hat).enumerate() {
                sum_g[j] += g as f64;
                sum_gx[j] += g as f64 * h as f64;
            }
        }
        for (dst, sum) in self.bias_grad.as_mut_slice().iter_mut().zip(&sum_g) {
            *dst = *sum as f32;
        }
        for (dst, sum) in self.weight_grad.as_mut_slice().iter_mut().zip(&sum_gx) {
            *dst = *sum as f32;
        }
        let Some(dx) = input_grad else { return };
        dx.resize(n, d);
        let gamma = self.weight.as_slice();
        for (i, ((g, x_hat), dx)) in output_grad
            .row_iter()
            .zip(self.normalized.row_iter())
            .zip(dx.as_mut_slice().chunks_exact_mut(d.max(1)))
            .enumerate()
        {
            let (mut mean_g, mut mean_gx) = (0.0f64, 0.0f64);
            for ((&g, &h), &w) in g.iter().zip(x_hat).zip(gamma) {
                let scaled = g as f64 * w as f64;
                mean_g += scaled;
                mean_gx += scaled * h as f64;
            }
            (mean_g, mean_gx) = (mean_g / d as f64, mean_gx / d as f64);
            let inv_std = self.inv_std[i] as f64;
            for (((dx, &g), &h), &w) in dx.iter_mut().zip(g).zip(x_hat).zip(gamma) {
                *dx = (inv_std * (g as f64 * w as f64 - mean_g - h as f64 * mean_gx)) as f32;
            }
        }
    }

    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        visitor(Param { name: "weight", value: &mut self.weight, grad: &mut self.weight_grad });
        visitor(Param { name: "bias", value: &mut self.bias, grad: &mut self.bias_grad });
    }

    fn num_parameters(&self) -> usize {
        2 * self.features()
    }
}
