//! Feature standardization as the model's first layer (Keras' `Normalization`).

use percept_linalg::Matrix;

use crate::{Layer, Mode, NnError};

/// Below this standard deviation (Keras' `backend.epsilon()`) a feature counts as constant.
const MIN_STD: f32 = 1e-7;

/// `output = (input − mean) / √variance`, per feature, with the mean and variance fitted on
/// training data by [`Normalization::adapt`]: Keras' `Normalization` layer, or scikit-learn's
/// `StandardScaler` kept inside the model.
///
/// A feature whose standard deviation is below 1e-7 (constant in the training data) is only
/// centred, as scikit-learn does it; Keras divides it by 1e-7 instead, which turns any other
/// value met later into a huge input.
///
/// The statistics are buffers, not parameters: no optimizer changes them, and a checkpoint
/// saves them with the model, so evaluation and prediction on raw features from a saved model
/// standardize them as training did.
#[derive(Clone, Debug)]
pub struct Normalization {
    mean: Vec<f32>,
    variance: Vec<f32>,
    /// What each feature is divided by (`√variance`, or 1 for a constant feature), refreshed
    /// from `variance` by every forward pass (a checkpoint may have replaced the buffers).
    std: Vec<f32>,
}

impl Normalization {
    /// A layer for `features` features with mean 0 and variance 1 (the identity until
    /// [`Normalization::adapt`] or a checkpoint sets the statistics).
    pub fn new(features: usize) -> Self {
        Self { mean: vec![0.0; features], variance: vec![1.0; features], std: vec![1.0; features] }
    }

    /// A layer with the given per-feature statistics.
    ///
    /// # Panics
    /// If `mean` and `variance` differ in length, or a variance is negative or NaN.
    #[track_caller]
    pub fn with_statistics(mean: Vec<f32>, variance: Vec<f32>) -> Self {
        assert!(
            mean.len() == variance.len(),
            "Normalization: {} means but {} variances",
            mean.len(),
            variance.len()
        );
        if let Some((j, v)) = variance.iter().enumerate().find(|(_, v)| v.is_nan() || **v < 0.0) {
            panic!("Normalization: the variance of feature {j} is {v}");
        }
        let std = vec![1.0; mean.len()];
        Self { mean, variance, std }
    }

    /// A layer fitted to the rows of `data`: each feature's mean and (population) variance,
    /// summed in `f64` (Keras' `adapt`).
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `data` has no rows.
    pub fn adapted(data: &Matrix) -> Result<Self, NnError> {
        let mut layer = Self::new(data.cols());
        layer.adapt(data)?;
        Ok(layer)
    }

    /// Fits the mean and variance to the rows of `data` (see [`Normalization::adapted`]).
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `data` has no rows or another number of features than the
    /// layer.
    pub fn adapt(&mut self, data: &Matrix) -> Result<(), NnError> {
        let [rows, cols] = data.shape();
        if rows == 0 || cols != self.features() {
            return Err(NnError::InputShape {
                index: 0,
                layer: self.describe(),
                expected: self.features(),
                rows,
                cols,
            });
        }
        let (mean, variance) = percept_linalg::column_moments(data);
        self.mean = mean.iter().map(|&m| m as f32).collect();
        self.variance = variance.iter().map(|&v| v as f32).collect();
        Ok(())
    }

    /// The per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The per-feature (population) variances.
    pub fn variance(&self) -> &[f32] {
        &self.variance
    }

    fn features(&self) -> usize {
        self.mean.len()
    }
}

impl Layer for Normalization {
    fn name(&self) -> &'static str {
        "Normalization"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Normalization { features: self.features() })
    }

    fn describe(&self) -> String {
        format!("Normalization({})", self.features())
    }

    fn in_features(&self) -> Option<usize> {
        Some(self.features())
    }

    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }

    #[track_caller]
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        let d = self.features();
        assert!(
            input.cols() == d,
            "{}: input has shape {:?}, expected [batch, {d}]",
            self.describe(),
            input.shape()
        );
        // A checkpoint may have loaded other buffers since the last pass (or resized them).
        self.std.resize(d, 1.0);
        for (std, &var) in self.std.iter_mut().zip(&self.variance) {
            let sd = var.sqrt();
            *std = if sd >= MIN_STD { sd } else { 1.0 };
        }
        output.resize(input.rows(), d);
        for (out, row) in output.as_mut_slice().chunks_exact_mut(d.max(1)).zip(input.row_iter()) {
            for (((o, &x), &m), &std) in out.iter_mut().zip(row).zip(&self.mean).zip(&self.std) {
                *o = (x - m) / std;
            }
        }
    }

    /// `∂L/∂x = ∂L/∂y / √variance` (1 for a constant feature): the statistics are constants.
    fn backward(
        &mut self,
        _input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let Some(input_grad) = input_grad else { return };
        let d = self.features();
        input_grad.resize(output_grad.rows(), d);
        for (dx, g) in input_grad.as_mut_slice().chunks_exact_mut(d.max(1)).zip(output_grad.row_iter()) {
            for ((dx, &g), &std) in dx.iter_mut().zip(g).zip(&self.std) {
                *dx = g / std;
            }
        }
    }

    fn visit_buffers(&mut self, visitor: &mut dyn FnMut(crate::Buffer<'_>)) {
        visitor(crate::Buffer::Values { name: "mean", values: &mut self.mean });
        visitor(crate::Buffer::Values { name: "variance", values: &mut self.variance });
    }
}
