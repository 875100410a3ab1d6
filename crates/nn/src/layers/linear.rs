//! `Linear`: the fully connected layer.

use percept_linalg::{
    Accum, FusedActivation, Matrix, Par, RowsDone, SparseRows, WeightGradExtras, add_row_vector_activated,
    column_sums, matmul, scale_by_derivative, sparse_affine_activated, sparse_weight_grad,
};

use std::ops::Range;

use crate::{Init, Layer, Mode, Param, ParamUpdate, Rng};

/// A fully connected layer: `output = input · weight + bias`.
///
/// `weight` has shape `[in_features, out_features]` and `bias` has shape `[1, out_features]`.
/// That is the layout of Keras' `Dense` kernel and Flax's `Dense`, and the transpose of
/// PyTorch's `nn.Linear.weight` and the lesson's `W` (`(nout, nin)`, used as `x Wᵀ`): the same
/// numbers, stored so that a sample's output is a sum of weight *rows*, one per input feature.
/// That layout is what lets sparse inputs skip their zeros (below) without copying the weight.
///
/// When at most [`SPARSE_INPUT_MAX_DENSITY`] of a batch's input values are non-zero (MNIST
/// images: about 19%), both products skip the zeros: each output row sums the weight rows of
/// the sample's non-zero features, and each weight-gradient row sums the output-gradient rows
/// of the samples where that feature is non-zero (the trick of NNUE chess evaluators' first
/// layer). Same mathematics, a fraction of the work; results agree with the dense path to
/// rounding.
///
/// ```
/// use percept_nn::{Layer, Linear, Mode, seeded_rng};
/// use percept_linalg::Matrix;
/// let mut layer = Linear::new(3, 2, &mut seeded_rng(0));
/// assert_eq!(layer.weight().shape(), [3, 2]);
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
    sparse: SparseInput,
    /// The activation applied to the output, while a [`crate::Sequential`] fuses one.
    activation: Option<FusedActivation>,
    /// While fused: the gradient with respect to the output before the activation (reused).
    pre_activation_grad: Matrix,
}

/// Inputs with at most this fraction of non-zero values take the sparse path.
///
/// Chosen with `cargo bench --bench matmul -- "sparse vs dense"` (batch 64, 784 → 128,
/// forward and weight gradient, one thread, randomly placed non-zeros): the sparse path took
/// 103 µs at 10% density, 173 µs at 20%, 229 µs at 30% and 287 µs at 40%, against a flat
/// 235 µs dense. 25% keeps to the side where it wins; MNIST images (19%, in blank-heavy
/// rows that the scan skips in blocks) gain more than random data of the same density.
pub const SPARSE_INPUT_MAX_DENSITY: f32 = 0.25;

/// The input of the last forward pass by rows, when it took the sparse path.
#[derive(Clone, Debug, Default)]
struct SparseInput {
    rows: SparseRows,
    /// What `rows` holds.
    source: SparseSource,
}

/// Where the sparse copy of the last input came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SparseSource {
    /// Nothing usable (the last input was dense, or there was none).
    #[default]
    Nothing,
    /// Made by `forward` from the dense input at this address, of this shape: backward
    /// reuses it only for that same input.
    Dense(usize, [usize; 2]),
    /// Handed over by `forward_sparse`: the input itself.
    Given,
}

fn identity(input: &Matrix) -> (usize, [usize; 2]) {
    (input.as_slice().as_ptr() as usize, input.shape())
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
        let mut weight = Matrix::zeros(in_features, out_features);
        let mut bias = Matrix::zeros(1, out_features);
        weight_init.fill(&mut weight, in_features, out_features, rng);
        bias_init.fill(&mut bias, in_features, out_features, rng);
        Self::from_parameters(weight, bias)
    }

    /// A layer with the given `weight` (`[in, out]`) and `bias` (`[1, out]`). For PyTorch's
    /// `[out, in]` weight, pass its transpose.
    ///
    /// # Panics
    /// If `bias` is not `[1, weight.cols()]`.
    #[track_caller]
    pub fn from_parameters(weight: Matrix, bias: Matrix) -> Self {
        assert!(
            bias.shape() == [1, weight.cols()],
            "Linear: bias has shape {:?} but weight {:?} needs [1, {}]",
            bias.shape(),
            weight.shape(),
            weight.cols()
        );
        Self {
            weight_grad: Matrix::zeros(weight.rows(), weight.cols()),
            bias_grad: Matrix::zeros(1, weight.cols()),
            weight,
            bias,
            sparse: SparseInput::default(),
            activation: None,
            pre_activation_grad: Matrix::default(),
        }
    }

    /// `[in_features, out_features]`.
    pub fn weight(&self) -> &Matrix {
        &self.weight
    }

    /// `[1, out_features]`.
    pub fn bias(&self) -> &Matrix {
        &self.bias
    }

    /// `∂loss/∂weight` from the last backward pass, `[in_features, out_features]`.
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

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Linear { in_features: self.weight.rows(), out_features: self.weight.cols() })
    }

    fn describe(&self) -> String {
        format!("Linear({} → {})", self.weight.rows(), self.weight.cols())
    }

    fn in_features(&self) -> Option<usize> {
        Some(self.weight.rows())
    }

    fn out_features(&self, _in_features: usize) -> usize {
        self.weight.cols()
    }

    /// # Shapes
    /// `input`: `[batch, in_features]`, `output`: `[batch, out_features]`
    ///
    /// `output = input · weight + bias`
    #[track_caller]
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, _mode: Mode) {
        crate::layer::assert_input_width(self, input.shape(), self.weight.rows());
        output.resize(input.rows(), self.weight.cols());
        let par = Par::current();
        let sparse = &mut self.sparse;
        if sparse.rows.try_from_dense(input, SPARSE_INPUT_MAX_DENSITY, par) {
            // Row i of the output: Σ over non-zero features j of input[i, j] · weight[j, ·],
            // plus the bias.
            let bias = Some(self.bias.as_slice());
            sparse_affine_activated(output, &sparse.rows, &self.weight, bias, self.activation, par);
            let (address, shape) = identity(input);
            sparse.source = SparseSource::Dense(address, shape);
        } else {
            matmul(output, Accum::Replace, input, &self.weight, 1.0, par);
            add_row_vector_activated(output, self.bias.as_slice(), self.activation, par);
            sparse.source = SparseSource::Nothing;
        }
    }

    fn takes_sparse_input(&self) -> bool {
        true
    }

    /// The sparse path of [`Layer::forward`] on a batch already in sparse form (as
    /// `Dataset::gather_sparse` makes it), at any density.
    #[track_caller]
    fn forward_sparse(&mut self, input: &mut SparseRows, output: &mut Matrix, _mode: Mode) -> bool {
        let [rows, _] = input.shape();
        crate::layer::assert_input_width(self, input.shape(), self.weight.rows());
        std::mem::swap(&mut self.sparse.rows, input);
        output.resize(rows, self.weight.cols());
        let par = Par::current();
        let bias = Some(self.bias.as_slice());
        sparse_affine_activated(output, &self.sparse.rows, &self.weight, bias, self.activation, par);
        self.sparse.source = SparseSource::Given;
        true
    }

    /// # Shapes
    /// `output_grad`: `[batch, out_features]`, `input_grad`: `[batch, in_features]`
    ///
    /// With `dz = output_grad`: `∂L/∂weight = inputᵀ · dz`, `∂L/∂bias = Σ_batch dz`,
    /// `∂L/∂input = dz · weightᵀ` (the lesson's `dW = dz.T @ x`, `db = dz.sum(0)`,
    /// `dx = dz @ W`, with its `W` being our `weightᵀ`). Sums over the batch: any averaging
    /// belongs to the loss.
    ///
    /// While fused with an activation ([`Layer::fuse_activation`]), `output` and `output_grad`
    /// are those of the activated output, and `dz` is `output_grad` times the activation's
    /// derivative, computed as the activation layer's own backward pass computes it (on the
    /// sparse path, in the same hand-over as the by-column copy of the input).
    #[track_caller]
    fn backward(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        self.backward_with(input, output, output_grad, input_grad, None);
    }

    /// On the sparse path without an input gradient (a model's first layer) and on one
    /// thread, each block of weight rows is updated as soon as the weight-gradient product has
    /// summed it, while the block is in cache; otherwise after the whole backward pass, as
    /// the default does.
    #[track_caller]
    fn backward_and_update(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
        update: &dyn ParamUpdate,
        first_param: usize,
    ) {
        self.backward_with(input, output, output_grad, input_grad, Some((update, first_param)));
    }

    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        visitor(Param { name: "weight", value: &mut self.weight, grad: &mut self.weight_grad });
        visitor(Param { name: "bias", value: &mut self.bias, grad: &mut self.bias_grad });
    }

    fn num_parameters(&self) -> usize {
        self.weight.len() + self.bias.len()
    }

    fn fuse_activation(&mut self, activation: Option<FusedActivation>) -> bool {
        self.activation = activation;
        true
    }
}

impl Linear {
    /// [`Layer::backward`], with [`Layer::backward_and_update`]'s update if given.
    #[track_caller]
    fn backward_with(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
        update: Option<(&dyn ParamUpdate, usize)>,
    ) {
        // After `forward_sparse` the input is the sparse copy, whatever `input` holds.
        let given = self.sparse.source == SparseSource::Given;
        let input_shape = if given { self.sparse.rows.shape() } else { input.shape() };
        assert!(
            output_grad.shape() == [input_shape[0], self.weight.cols()],
            "{}: output gradient has shape {:?}, expected [{}, {}]",
            self.describe(),
            output_grad.shape(),
            input_shape[0],
            self.weight.cols()
        );
        if let Some(activation) = self.activation {
            assert!(
                output.shape() == output_grad.shape(),
                "{} with {activation:?}: output has shape {:?} but its gradient {:?}",
                self.describe(),
                output.shape(),
                output_grad.shape()
            );
        }
        let par = Par::current();
        let (address, shape) = identity(input);
        let sparse_path = given || self.sparse.source == SparseSource::Dense(address, shape);
        // The weight rows may change as soon as their gradient is summed only if nothing
        // below reads the weight: no input gradient. On two threads each core then writes
        // rows of the weight the other core read in the forward pass, and each write waited
        // for the other copy's invalidation (0-4% slower than a pass of its own, when this
        // ran on one thread only); since the update asks for write access ahead
        // (`percept_linalg::prefetch_for_write`), alternating blocks of 10 steps with and
        // without it in one process gave on two threads: batch 256 (784-128-10, SGD)
        // 0.963-0.980 on cores sharing a cache and 0.953-1.009 on cores sharing none, batch
        // 64 0.954-0.960, the default recipe (784-512-256-10, batch 32) 0.975-0.980.
        let update_in_product = update.filter(|_| sparse_path && input_grad.is_none());
        let cols = self.weight.cols();
        let weight = SharedRows(self.weight.as_mut_slice().as_mut_ptr());
        let rows_done = |rows: Range<usize>, grad: &[f32]| {
            if let Some((update, first_param)) = update_in_product {
                // SAFETY: the product hands each block of rows over once, blocks are disjoint,
                // and nothing else reads or writes the weight until it returns.
                let value = unsafe {
                    std::slice::from_raw_parts_mut(weight.get().add(rows.start * cols), grad.len())
                };
                update.update(first_param, rows.start, cols, value, grad);
            }
        };
        let dz_buffer = &mut self.pre_activation_grad;
        let dz = if sparse_path {
            // Row j of ∂L/∂weight: Σ over samples i where input[i, j] ≠ 0 of input[i, j] · dz[i, ·];
            // ∂L/∂bias in the same pass.
            let through_activation = self.activation.map(|activation| (activation, output, &mut *dz_buffer));
            let scaled = through_activation.is_some();
            let extras = WeightGradExtras {
                column_sums: Some(self.bias_grad.as_mut_slice()),
                through_activation,
                rows_done: update_in_product.map(|_| &rows_done as &RowsDone<'_>),
            };
            sparse_weight_grad(&mut self.weight_grad, &mut self.sparse.rows, output_grad, extras, par);
            if scaled { &*dz_buffer } else { output_grad }
        } else {
            let dz = match self.activation {
                Some(activation) => {
                    scale_by_derivative(dz_buffer, output_grad, output, activation, par);
                    &*dz_buffer
                }
                None => output_grad,
            };
            matmul(&mut self.weight_grad, Accum::Replace, input.t(), dz, 1.0, par);
            column_sums(self.bias_grad.as_mut_slice(), Accum::Replace, dz);
            dz
        };
        if let Some(input_grad) = input_grad {
            input_grad.resize(input_shape[0], input_shape[1]);
            matmul(input_grad, Accum::Replace, dz, self.weight.t(), 1.0, par);
        }
        if let Some((update, first_param)) = update {
            if update_in_product.is_none() {
                let (value, grad) = (self.weight.as_mut_slice(), self.weight_grad.as_slice());
                update.update(first_param, 0, cols, value, grad);
            }
            update.update(first_param + 1, 0, cols, self.bias.as_mut_slice(), self.bias_grad.as_slice());
        }
    }
}

/// A weight's values, for blocks of its rows to be updated from several threads at once.
#[derive(Clone, Copy)]
struct SharedRows(*mut f32);
// SAFETY: only used to build disjoint blocks of rows, one per call, while the weight is
// borrowed mutably by the backward pass.
unsafe impl Send for SharedRows {}
unsafe impl Sync for SharedRows {}

impl SharedRows {
    /// A method, so that closures capture the whole `SharedRows`.
    fn get(self) -> *mut f32 {
        self.0
    }
}
