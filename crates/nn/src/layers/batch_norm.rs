//! `BatchNorm1d`.

use percept_linalg::Matrix;

use crate::{Layer, Mode, Param};

/// Batch normalization over the batch dimension (Ioffe & Szegedy, 2015), as PyTorch's
/// `nn.BatchNorm1d(num_features, eps, momentum, affine=True)` on `[batch, features]` input.
///
/// In [`Mode::Train`] each feature is normalized with the batch's mean and (biased) variance,
/// and the running statistics move towards them:
/// `running = (1 − momentum) · running + momentum · batch` (with the unbiased variance, as
/// PyTorch). In [`Mode::Eval`] the running statistics are used instead. Then
/// `y = weight · x̂ + bias`, with `weight` starting at 1 and `bias` at 0.
#[derive(Clone, Debug)]
pub struct BatchNorm1d {
    weight: Matrix,
    bias: Matrix,
    weight_grad: Matrix,
    bias_grad: Matrix,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    /// Added to the variance (default 1e-5).
    pub eps: f32,
    /// Weight of the new batch in the running statistics (default 0.1).
    pub momentum: f32,
    /// What backward needs from the last forward pass: `1/σ` per feature and the normalized
    /// input, and whether the batch statistics were used.
    inv_std: Vec<f32>,
    normalized: Matrix,
    trained: bool,
}

impl BatchNorm1d {
    /// A layer for `features` features with PyTorch's defaults.
    pub fn new(features: usize) -> Self {
        Self {
            weight: Matrix::filled(1, features, 1.0),
            bias: Matrix::zeros(1, features),
            weight_grad: Matrix::zeros(1, features),
            bias_grad: Matrix::zeros(1, features),
            running_mean: vec![0.0; features],
            running_var: vec![1.0; features],
            eps: 1e-5,
            momentum: 0.1,
            inv_std: vec![0.0; features],
            normalized: Matrix::default(),
            trained: false,
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

    /// The running mean of each feature.
    pub fn running_mean(&self) -> &[f32] {
        &self.running_mean
    }

    /// The running (unbiased) variance of each feature.
    pub fn running_var(&self) -> &[f32] {
        &self.running_var
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
        self.running_mean.len()
    }
}

impl Layer for BatchNorm1d {
    fn name(&self) -> &'static str {
        "BatchNorm1d"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::BatchNorm1d {
            features: self.features(),
            eps: self.eps,
            momentum: self.momentum,
        })
    }

    fn describe(&self) -> String {
        format!("BatchNorm1d({})", self.features())
    }

    fn in_features(&self) -> Option<usize> {
        Some(self.features())
    }

    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`; training needs a batch of at least 2.
    ///
    /// # Panics
    /// If the input has another number of features, or in training a batch of one sample
    /// (PyTorch raises an error there too: a single sample has no variance). A
    /// [`crate::Sequential`] returns [`crate::NnError::TrainBatchTooSmall`] instead.
    #[track_caller]
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode) {
        let (n, d) = (input.rows(), input.cols());
        crate::layer::assert_input_width(self, input.shape(), self.features());
        self.trained = mode == Mode::Train;
        assert!(
            !self.trained || n > 1,
            "{}: training needs more than 1 sample per batch, got input {:?}",
            self.describe(),
            input.shape()
        );
        output.resize(n, d);
        self.normalized.resize(n, d);
        for j in 0..d {
            let (mean, var) = if self.trained {
                let mean = (0..n).map(|i| input.get(i, j) as f64).sum::<f64>() / n as f64;
                let var = (0..n).map(|i| (input.get(i, j) as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                let m = self.momentum as f64;
                self.running_mean[j] = ((1.0 - m) * self.running_mean[j] as f64 + m * mean) as f32;
                let unbiased = var * n as f64 / (n - 1) as f64;
                self.running_var[j] = ((1.0 - m) * self.running_var[j] as f64 + m * unbiased) as f32;
                (mean, var)
            } else {
                (self.running_mean[j] as f64, self.running_var[j] as f64)
            };
            let inv_std = 1.0 / (var + self.eps as f64).sqrt();
            self.inv_std[j] = inv_std as f32;
            let (gamma, beta) = (self.weight.as_slice()[j], self.bias.as_slice()[j]);
            for i in 0..n {
                let x_hat = ((input.get(i, j) as f64 - mean) * inv_std) as f32;
                self.normalized.set(i, j, x_hat);
                output.set(i, j, gamma * x_hat + beta);
            }
        }
    }

    /// With `x̂` the normalized input and `g = ∂L/∂y`: `∂L/∂β = Σ_batch g`,
    /// `∂L/∂γ = Σ_batch g x̂`, and after a training pass
    /// `∂L/∂x = (γ/σ) (g − mean(g) − x̂ · mean(g x̂))` (the batch statistics depend on `x`);
    /// after an evaluation pass `∂L/∂x = γ g / σ`.
    fn backward(
        &mut self,
        _input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let (n, d) = (output_grad.rows(), output_grad.cols());
        let mut input_grad = input_grad;
        if let Some(dx) = input_grad.as_deref_mut() {
            dx.resize(n, d);
        }
        for j in 0..d {
            let mut sum_g = 0.0f64;
            let mut sum_gx = 0.0f64;
            for i in 0..n {
                let g = output_grad.get(i, j) as f64;
                sum_g += g;
                sum_gx += g * self.normalized.get(i, j) as f64;
            }
            self.bias_grad.as_mut_slice()[j] = sum_g as f32;
            self.weight_grad.as_mut_slice()[j] = sum_gx as f32;
            if let Some(dx) = input_grad.as_deref_mut() {
                let scale = self.weight.as_slice()[j] as f64 * self.inv_std[j] as f64;
                let (mean_g, mean_gx) = (sum_g / n as f64, sum_gx / n as f64);
                for i in 0..n {
                    let g = output_grad.get(i, j) as f64;
                    let value = if self.trained {
                        scale * (g - mean_g - self.normalized.get(i, j) as f64 * mean_gx)
                    } else {
                        scale * g
                    };
                    dx.set(i, j, value as f32);
                }
            }
        }
    }

    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        visitor(Param { name: "weight", value: &mut self.weight, grad: &mut self.weight_grad });
        visitor(Param { name: "bias", value: &mut self.bias, grad: &mut self.bias_grad });
    }

    fn min_train_batch(&self) -> usize {
        2
    }

    fn num_parameters(&self) -> usize {
        2 * self.features()
    }

    fn visit_buffers(&mut self, visitor: &mut dyn FnMut(crate::Buffer<'_>)) {
        visitor(crate::Buffer::Values { name: "running_mean", values: &mut self.running_mean });
        visitor(crate::Buffer::Values { name: "running_var", values: &mut self.running_var });
    }
}
