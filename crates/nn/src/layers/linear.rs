//! `Linear`: the fully connected layer.

use percept_linalg::{Accum, Matrix, Par, add_row_vector, column_sums, matmul};

use crate::{Init, Layer, Mode, Param, Rng};

/// A fully connected layer: `output = input · weightᵀ + bias`.
///
/// `weight` has shape `[out_features, in_features]`, as in PyTorch and the lesson, and `bias`
/// has shape `[1, out_features]`.
///
/// ```
/// use percept_nn::{Layer, Linear, Mode, seeded_rng};
/// use percept_linalg::Matrix;
/// let mut layer = Linear::new(3, 2, &mut seeded_rng(0));
/// let mut output = Matrix::default();
/// layer.forward(&Matrix::zeros(4, 3), &mut output, Mode::Eval);
/// assert_eq!(output.shape(), [4, 2]);
/// assert_eq!(layer.num_parameters(), 3 * 2 + 2);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Matrix,
    bias: Matrix,
    weight_grad: Matrix,
    bias_grad: Matrix,
}

impl Linear {
    /// A layer initialised like PyTorch's `nn.Linear` ([`Init::PytorchDefault`]).
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        Self::with_init(in_features, out_features, Init::PytorchDefault, Init::PytorchDefault, rng)
    }

    /// A layer initialised as the lesson does: weights from `N(0, 1/√in_features)`, zero bias.
    pub fn lesson(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        Self::with_init(in_features, out_features, Init::LessonNormal, Init::Zeros, rng)
    }

    /// A layer with the given initializers for weight and bias (weight drawn first).
    pub fn with_init(
        in_features: usize,
        out_features: usize,
        weight_init: Init,
        bias_init: Init,
        rng: &mut Rng,
    ) -> Self {
        let mut weight = Matrix::zeros(out_features, in_features);
        let mut bias = Matrix::zeros(1, out_features);
        weight_init.fill(&mut weight, in_features, rng);
        bias_init.fill(&mut bias, in_features, rng);
        Self::from_parameters(weight, bias)
    }

    /// A layer with the given `weight` (`[out, in]`) and `bias` (`[1, out]`).
    ///
    /// # Panics
    /// If `bias` is not `[1, weight.rows()]`.
    #[track_caller]
    pub fn from_parameters(weight: Matrix, bias: Matrix) -> Self {
        assert!(
            bias.shape() == [1, weight.rows()],
            "Linear: bias has shape {:?} but weight {:?} needs [1, {}]",
            bias.shape(),
            weight.shape(),
            weight.rows()
        );
        Self {
            weight_grad: Matrix::zeros(weight.rows(), weight.cols()),
            bias_grad: Matrix::zeros(1, weight.rows()),
            weight,
            bias,
        }
    }

    /// `[out_features, in_features]`.
    pub fn weight(&self) -> &Matrix {
        &self.weight
    }

    /// `[1, out_features]`.
    pub fn bias(&self) -> &Matrix {
        &self.bias
    }

    /// `∂loss/∂weight` from the last backward pass.
    pub fn weight_grad(&self) -> &Matrix {
        &self.weight_grad
    }

    /// `∂loss/∂bias` from the last backward pass.
    pub fn bias_grad(&self) -> &Matrix {
        &self.bias_grad
    }
}

impl Layer for Linear {
    fn name(&self) -> &'static str {
        "Linear"
    }

    fn describe(&self) -> String {
        format!("Linear({} → {})", self.weight.cols(), self.weight.rows())
    }

    fn in_features(&self) -> Option<usize> {
        Some(self.weight.cols())
    }

    fn out_features(&self, _in_features: usize) -> usize {
        self.weight.rows()
    }

    /// # Shapes
    /// `input`: `[batch, in_features]`, `output`: `[batch, out_features]`
    ///
    /// `output = input · weightᵀ + bias`
    #[track_caller]
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        assert!(
            input.cols() == self.weight.cols(),
            "{}: input has shape {:?}, expected [batch, {}]",
            self.describe(),
            input.shape(),
            self.weight.cols()
        );
        output.resize(input.rows(), self.weight.rows());
        let par = Par::current();
        matmul(output, Accum::Replace, input, self.weight.t(), 1.0, par);
        add_row_vector(output, self.bias.as_slice(), par);
    }

    /// # Shapes
    /// `output_grad`: `[batch, out_features]`, `input_grad`: `[batch, in_features]`
    ///
    /// With `dz = output_grad`: `∂L/∂weight = dzᵀ · input`, `∂L/∂bias = Σ_batch dz`,
    /// `∂L/∂input = dz · weight` (the lesson's `dW = dz.T @ x`, `db = dz.sum(0)`,
    /// `dx = dz @ W`). Sums over the batch: any averaging belongs to the loss.
    #[track_caller]
    fn backward(
        &mut self,
        input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        assert!(
            output_grad.shape() == [input.rows(), self.weight.rows()],
            "{}: output gradient has shape {:?}, expected [{}, {}]",
            self.describe(),
            output_grad.shape(),
            input.rows(),
            self.weight.rows()
        );
        let par = Par::current();
        matmul(&mut self.weight_grad, Accum::Replace, output_grad.t(), input, 1.0, par);
        column_sums(self.bias_grad.as_mut_slice(), Accum::Replace, output_grad);
        if let Some(input_grad) = input_grad {
            input_grad.resize(input.rows(), input.cols());
            matmul(input_grad, Accum::Replace, output_grad, &self.weight, 1.0, par);
        }
    }

    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        visitor(Param { name: "weight", value: &mut self.weight, grad: &self.weight_grad });
        visitor(Param { name: "bias", value: &mut self.bias, grad: &self.bias_grad });
    }

    fn num_parameters(&self) -> usize {
        self.weight.len() + self.bias.len()
    }
}
