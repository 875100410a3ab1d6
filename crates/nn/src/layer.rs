//! The [`Layer`] trait: forward, backward and parameters, as in the lesson.

use percept_linalg::{FusedActivation, Matrix, SparseRows};

/// Whether a forward pass is for training or for evaluation. Passed explicitly to every
/// forward pass, so there is no train/eval switch to forget (layers such as dropout use it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: layers may be stochastic and may update running statistics.
    Train,
    /// Evaluation and inference: deterministic.
    Eval,
}

/// One parameter tensor of a layer, with the gradient the last backward pass left in it.
pub struct Param<'a> {
    /// Name within the layer (`"weight"`, `"bias"`).
    pub name: &'static str,
    /// The values, for the optimizer to update.
    pub value: &'a mut Matrix,
    /// `∂loss/∂value`, as computed by the last [`Layer::backward`] (mutable, for gradient
    /// clipping).
    pub grad: &'a mut Matrix,
}

/// Panics with the layer's description unless `shape` (an input's) has `features` columns:
/// the width check of the layers that take `[batch, features]`.
#[track_caller]
pub(crate) fn assert_input_width<L: Layer + ?Sized>(layer: &L, shape: [usize; 2], features: usize) {
    assert!(
        shape[1] == features,
        "{}: input has shape {shape:?}, expected [batch, {features}]",
        layer.describe()
    );
}

/// A building block of a network: a differentiable function of its input with optional
/// parameters, as in the lesson (`forward`, `backward`; the update lives in an optimizer).
///
/// Buffers are passed in by the caller (a [`crate::Sequential`] owns them and reuses them
/// across steps), so a layer allocates nothing per step. The input and output of the forward
/// pass are handed back to `backward`, so layers need not cache copies of them.
///
/// Unlike PyTorch, `backward` *overwrites* parameter gradients instead of adding to them:
/// there is no `zero_grad` to forget.
pub trait Layer: Send {
    /// The type name, e.g. `"Linear"`.
    fn name(&self) -> &'static str;

    /// A one-line description with sizes, e.g. `"Linear(784 → 128)"`.
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// The number of input features this layer requires, or `None` if it takes any width
    /// (elementwise activations).
    fn in_features(&self) -> Option<usize> {
        None
    }

    /// The number of output features for `in_features` input features.
    fn out_features(&self, in_features: usize) -> usize {
        in_features
    }

    /// Computes the output for a batch, resizing `output` to `[batch, out_features]`.
    ///
    /// # Panics
    /// If `input` has the wrong number of columns (a [`crate::Sequential`] checks this and
    /// returns an error instead).
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode);

    /// Whether [`Layer::forward_sparse`] works: the layer can take a mostly-zero input in
    /// sparse form ([`crate::Linear`] can). Default `false`.
    fn takes_sparse_input(&self) -> bool {
        false
    }

    /// [`Layer::forward`] on a batch in sparse form, swapped into the layer (afterwards
    /// `input` holds a buffer to refill): a later `backward` uses it, and ignores the dense
    /// `input` it is handed. Returns `false`, doing nothing, for layers that only take dense
    /// input (the default).
    ///
    /// # Panics
    /// If `input` has the wrong number of columns.
    fn forward_sparse(&mut self, input: &mut SparseRows, output: &mut Matrix, mode: Mode) -> bool {
        let _ = (input, output, mode);
        false
    }

    /// Given `output_grad = ∂loss/∂output`, fills every parameter gradient and, when
    /// `input_grad` is given, writes `∂loss/∂input` into it (resized to the input's shape).
    /// `input` and `output` are those of the last forward pass.
    fn backward(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    );

    /// Calls `visitor` on each parameter with its gradient, always in the same order.
    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        let _ = visitor;
    }

    /// The activation this layer is, when the layer before it may apply it to its own output
    /// in the same pass ([`crate::ReLU`] returns `Some(FusedActivation::Relu)`, and so do
    /// [`crate::Tanh`], [`crate::Sigmoid`], [`crate::LeakyReLU`] with a slope of 0 or more and
    /// [`crate::ELU`] with a positive alpha theirs: activations whose derivative follows from
    /// their output); `None`, the default, for every other layer.
    fn fusable_activation(&self) -> Option<FusedActivation> {
        None
    }

    /// Makes this layer apply `activation` to its output, or stops it with `None`, and
    /// returns whether it does so (the default does not, and returns `activation.is_none()`).
    ///
    /// A [`crate::Sequential`] calls this before every forward pass: when layer `i + 1` is a
    /// [`Layer::fusable_activation`] and layer `i` accepts it, the model runs layer `i`
    /// activated and skips layer `i + 1`, forward and backward. While fused, `forward` and
    /// `forward_sparse` return the activated output, and `backward` takes that output and the
    /// gradient with respect to it, and computes the same gradients as the two layers would,
    /// bit for bit. ([`crate::Linear`] fuses all of them: Keras' `Dense(activation="relu")`.)
    fn fuse_activation(&mut self, activation: Option<FusedActivation>) -> bool {
        activation.is_none()
    }

    /// [`Layer::backward`], then `update` on each of the layer's parameters (numbered from
    /// `first_param` in [`Layer::visit_parameters`] order) once its gradient is final: an
    /// optimizer's step fused into the backward pass ([`crate::Sequential::backward_and_update`]).
    ///
    /// The default does exactly that, each parameter whole after `backward`. A layer may
    /// instead hand rows over as soon as their gradient is computed, as long as nothing it
    /// computes afterwards reads them ([`crate::Linear`] does, inside its weight-gradient
    /// product, when it computes no input gradient: as a model's first layer).
    fn backward_and_update(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
        update: &dyn ParamUpdate,
        first_param: usize,
    ) {
        self.backward(input, output, output_grad, input_grad);
        let mut index = first_param;
        self.visit_parameters(&mut |param| {
            let cols = param.value.cols();
            update.update(index, 0, cols, param.value.as_mut_slice(), param.grad.as_slice());
            index += 1;
        });
    }

    /// The number of trainable scalars.
    fn num_parameters(&self) -> usize {
        0
    }

    /// The fewest samples a training batch may hold (a `BatchNorm1d` needs 2); a
    /// [`crate::Sequential`] returns an error for smaller ones before running any layer.
    /// Default 1.
    fn min_train_batch(&self) -> usize {
        1
    }

    /// The layer's type and settings, for a checkpoint to rebuild it (`None` for layers
    /// defined outside percept).
    fn spec(&self) -> Option<crate::LayerSpec> {
        None
    }

    /// Calls `visitor` on each piece of state that is not a trainable parameter but must be
    /// saved for an exact resume (a `BatchNorm1d`'s running statistics, a `Dropout`'s
    /// generator), always in the same order.
    fn visit_buffers(&mut self, visitor: &mut dyn FnMut(Buffer<'_>)) {
        let _ = visitor;
    }

    /// Seeds the layer's random generator from a run's seed, if it has a generator that
    /// waits for one ([`crate::Dropout::new`]); layers seeded otherwise keep their seed. The
    /// default does nothing. [`crate::Sequential::seed_layers`] calls it with a different
    /// seed for each layer.
    fn seed_from_run(&mut self, seed: u64) {
        let _ = seed;
    }
}

/// An optimizer's update, applied to a model's parameters during its backward pass, each as
/// soon as its gradient is final ([`crate::Sequential::backward_and_update`]; PyTorch's
/// "optimizer step fused into the backward pass"). percept's optimizers implement it.
pub trait ParamUpdate: Sync {
    /// Updates rows `first_row..` of parameter `index` (counted over the whole model in
    /// [`Layer::visit_parameters`] order) in place from their gradient. `value` and `grad`
    /// hold whole rows of `cols` values.
    ///
    /// In one backward pass each row of each parameter is handed over exactly once, possibly
    /// from several threads at the same time for different rows.
    fn update(&self, index: usize, first_row: usize, cols: usize, value: &mut [f32], grad: &[f32]);
}

/// A piece of non-trainable layer state (see [`Layer::visit_buffers`]).
#[non_exhaustive]
pub enum Buffer<'a> {
    /// Values, such as running statistics.
    Values {
        /// Name within the layer.
        name: &'static str,
        /// The values.
        values: &'a mut Vec<f32>,
    },
    /// A random generator's state.
    Rng {
        /// Name within the layer.
        name: &'static str,
        /// The generator.
        rng: &'a mut crate::Rng,
    },
}

/// Anything with parameters an optimizer can update: a layer or a whole model.
pub trait Parameters {
    /// Calls `visitor` on each parameter with its gradient, always in the same order.
    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>));
}

impl<L: Layer + ?Sized> Parameters for L {
    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        Layer::visit_parameters(self, visitor);
    }
}
