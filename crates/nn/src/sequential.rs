//! `Sequential`: layers applied in order (the lesson's `Net`).

use std::fmt;

use percept_linalg::{Matrix, SparseRows};

use crate::{Layer, Mode, NnError, Param, ParamUpdate, Parameters};

/// Layers applied one after another: the lesson's `Net`, PyTorch's `nn.Sequential`.
///
/// It owns one output buffer and one gradient buffer per layer and reuses them on every step,
/// so after the first batch a training step allocates nothing. Layer sizes are checked when a
/// layer is added, and the input width on every forward pass.
///
/// A layer followed by an activation it can apply to its own output runs fused with it
/// ([`Layer::fuse_activation`]: a [`crate::Linear`] followed by a [`crate::ReLU`],
/// [`crate::Tanh`] or [`crate::Sigmoid`] is one pass over the batch each way instead of two,
/// like Keras' `Dense(activation="relu")`). Outputs and gradients are the same bits either
/// way; [`Sequential::set_fusion`] turns it off.
///
/// ```
/// use percept_nn::{Linear, Mode, ReLU, Sequential, seeded_rng};
/// use percept_linalg::Matrix;
/// let mut rng = seeded_rng(0);
/// let mut model = Sequential::new();
/// model.add(Linear::new(4, 8, &mut rng))?.add(ReLU)?.add(Linear::new(8, 3, &mut rng))?;
/// let output = model.forward(&Matrix::zeros(2, 4), Mode::Eval)?;
/// assert_eq!(output.shape(), [2, 3]);
/// println!("{model}"); // a summary: layers, shapes, parameter counts
///
/// // Sizes that do not chain are refused, naming the layer and both sizes:
/// let err = model.add(Linear::new(5, 2, &mut rng)).unwrap_err();
/// assert_eq!(err.to_string(), "layer 3 (Linear) expects 5 input features, but layer 2 (Linear) gives 3");
/// # Ok::<(), percept_nn::NnError>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
    /// Input width, fixed by the first layer that requires one.
    in_features: Option<usize>,
    /// `activations[0]` is the input of the last forward pass, `activations[i + 1]` the output
    /// of layer `i`.
    activations: Vec<Matrix>,
    /// `grads[i]` is `∂loss/∂activations[i]`, for `i ≥ 1` (the model's input needs none).
    grads: Vec<Matrix>,
    has_forward: bool,
    /// How each layer ran in the last forward pass (see [`Run`]).
    plan: Vec<Run>,
    /// Set by [`Sequential::set_fusion`]`(false)`.
    unfused: bool,
}

/// How [`Sequential`] runs a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// On its own: layer `i` reads `activations[i]` and writes `activations[i + 1]`.
    Alone,
    /// With the activation layer after it fused in: writes `activations[i + 2]`.
    Fused,
    /// Skipped: the activation that the layer before it applied.
    Skipped,
}

impl Sequential {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer.
    ///
    /// # Errors
    /// [`NnError::LayerSizeMismatch`] if the layer's input size differs from what the
    /// previous layers produce; the model is left unchanged.
    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<&mut Self, NnError> {
        self.add_boxed(Box::new(layer))
    }

    /// Appends a boxed layer (see [`Sequential::add`]).
    ///
    /// # Errors
    /// As [`Sequential::add`].
    pub fn add_boxed(&mut self, layer: Box<dyn Layer>) -> Result<&mut Self, NnError> {
        let index = self.layers.len();
        if let (Some(expected), Some(got)) = (layer.in_features(), self.out_features())
            && expected != got
        {
            let last = index - 1;
            return Err(NnError::LayerSizeMismatch {
                index,
                layer: layer.name().to_string(),
                expected,
                got,
                previous: format!("layer {last} ({})", self.layers[last].name()),
            });
        }
        if self.in_features.is_none() && self.out_features().is_none() {
            self.in_features = layer.in_features();
        }
        self.layers.push(layer);
        self.activations.push(Matrix::default());
        if self.activations.len() == 1 {
            self.activations.push(Matrix::default());
        }
        self.grads.resize_with(self.activations.len(), Matrix::default);
        self.plan.push(Run::Alone);
        self.has_forward = false;
        Ok(self)
    }

    /// Seeds every layer that waits for a run's seed ([`crate::Dropout::new`]) from `seed`
    /// and the layer's index, so one seed reproduces a run and no two layers share a stream;
    /// layers seeded otherwise ([`crate::Dropout::seeded`]) keep their seed. `Trainer::fit`
    /// (percept-train) calls it with `FitConfig::seed`; call it yourself in a loop of your own.
    pub fn seed_layers(&mut self, seed: u64) {
        for (index, layer) in self.layers.iter_mut().enumerate() {
            layer.seed_from_run(layer_seed(seed, index));
        }
    }

    /// Whether a layer followed by an activation that it can apply itself runs fused with it
    /// (the default) or each layer runs on its own: the same results, one pass fewer each way
    /// per fused pair. Takes effect at the next forward pass.
    pub fn set_fusion(&mut self, on: bool) {
        self.unfused = !on;
        self.has_forward = false;
    }

    /// Decides which layers run fused (see [`Run`]), and tells each layer.
    fn plan_fusion(&mut self) {
        let mut i = 0;
        while i < self.layers.len() {
            let next = self.layers.get(i + 1).and_then(|l| l.fusable_activation()).filter(|_| !self.unfused);
            if next.is_some() && self.layers[i].fuse_activation(next) {
                self.plan[i] = Run::Fused;
                self.plan[i + 1] = Run::Skipped;
                i += 2;
            } else {
                self.layers[i].fuse_activation(None);
                self.plan[i] = Run::Alone;
                i += 1;
            }
        }
    }

    /// The index into `activations` (and `grads`) of layer `i`'s output as last run.
    fn output_index(&self, i: usize) -> usize {
        if self.plan[i] == Run::Fused { i + 2 } else { i + 1 }
    }

    /// Calls `visitor` on every layer's non-trainable state ([`Layer::visit_buffers`]), in
    /// layer order.
    pub fn visit_buffers(&mut self, visitor: &mut dyn FnMut(crate::Buffer<'_>)) {
        for layer in &mut self.layers {
            layer.visit_buffers(visitor);
        }
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// The layers, mutably (to inspect or replace parameters).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True with no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Input width, if some layer fixes it.
    pub fn in_features(&self) -> Option<usize> {
        self.in_features
    }

    /// Output width, if the input width is known.
    pub fn out_features(&self) -> Option<usize> {
        let mut width = self.in_features?;
        for layer in &self.layers {
            width = layer.out_features(width);
        }
        Some(width)
    }

    /// Total number of trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.layers.iter().map(|l| l.num_parameters()).sum()
    }

    /// Runs every layer in order on `input` (`[batch, in_features]`) and returns the output.
    ///
    /// The input is copied into the model's own buffer, so the caller may reuse it at once.
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `input` has the wrong number of columns;
    /// [`NnError::TrainBatchTooSmall`] if, in training, it has fewer rows than a layer needs
    /// ([`Layer::min_train_batch`]).
    pub fn forward(&mut self, input: &Matrix, mode: Mode) -> Result<&Matrix, NnError> {
        self.check_input(input, mode)?;
        if self.activations.is_empty() {
            self.activations.push(Matrix::default());
        }
        self.activations[0].copy_from(input);
        Ok(self.run_forward(mode))
    }

    /// Like [`Sequential::forward`], but swaps `input` into the model instead of copying it:
    /// afterwards `input` holds the buffer of the previous call (contents unspecified), ready
    /// to be refilled. Lets a training loop hand batches over without a copy.
    ///
    /// # Errors
    /// As [`Sequential::forward`].
    pub fn forward_swap(&mut self, input: &mut Matrix, mode: Mode) -> Result<&Matrix, NnError> {
        self.check_input(input, mode)?;
        if self.activations.is_empty() {
            self.activations.push(Matrix::default());
        }
        std::mem::swap(&mut self.activations[0], input);
        Ok(self.run_forward(mode))
    }

    /// Swaps the input of the last forward pass out of the model into `buffer` (and
    /// `buffer`'s old contents in): the way back after [`Sequential::forward_swap`]. A later
    /// `backward` needs that input, so call this only when done with the batch.
    pub fn take_input(&mut self, buffer: &mut Matrix) {
        if let Some(input) = self.activations.first_mut() {
            std::mem::swap(input, buffer);
            self.has_forward = false;
        }
    }

    fn check_input(&self, input: &Matrix, mode: Mode) -> Result<(), NnError> {
        self.check_input_shape(input.shape(), mode)
    }

    fn check_input_shape(&self, [rows, cols]: [usize; 2], mode: Mode) -> Result<(), NnError> {
        if mode == Mode::Train
            && let Some((index, layer)) =
                self.layers.iter().enumerate().find(|(_, l)| rows < l.min_train_batch())
        {
            let needed = layer.min_train_batch();
            return Err(NnError::TrainBatchTooSmall { index, layer: layer.describe(), needed, rows, cols });
        }
        if let Some(expected) = self.in_features
            && cols != expected
        {
            let index = self.layers.iter().position(|l| l.in_features().is_some()).unwrap_or(0);
            return Err(NnError::InputShape {
                index,
                layer: self.layers[index].name().to_string(),
                expected,
                rows,
                cols,
            });
        }
        Ok(())
    }

    fn run_forward(&mut self, mode: Mode) -> &Matrix {
        self.plan_fusion();
        self.run_forward_from(0, mode)
    }

    /// Runs layers `first..` as planned (each on the previous one's output).
    fn run_forward_from(&mut self, first: usize, mode: Mode) -> &Matrix {
        for (i, layer) in self.layers.iter_mut().enumerate().skip(first) {
            let (done, rest) = self.activations.split_at_mut(i + 1);
            match self.plan[i] {
                Run::Alone => layer.forward(&done[i], &mut rest[0], mode),
                Run::Fused => layer.forward(&done[i], &mut rest[1], mode),
                Run::Skipped => {}
            }
        }
        self.has_forward = true;
        self.activations.last().expect("activations holds at least the input")
    }

    /// Whether the first layer takes a batch in sparse form ([`Layer::takes_sparse_input`]),
    /// so that [`Sequential::forward_sparse_swap`] works.
    pub fn takes_sparse_input(&self) -> bool {
        self.layers.first().is_some_and(|layer| layer.takes_sparse_input())
    }

    /// Like [`Sequential::forward_swap`], for a batch in sparse form (as
    /// `Dataset::gather_sparse` gathers MNIST): it is swapped into the first layer, and
    /// `input` then holds a buffer to refill. The output is the same, bit for bit, as that of
    /// `forward_swap` on the same batch in dense form when the first layer would take the
    /// sparse path for it (a [`crate::Linear`] does at most
    /// [`crate::SPARSE_INPUT_MAX_DENSITY`] non-zeros), and so is what `backward` computes.
    ///
    /// After this, [`Sequential::take_input`] hands back no meaningful input.
    ///
    /// # Errors
    /// [`NnError::InputShape`] if `input` has the wrong number of columns, and
    /// [`NnError::DenseInputOnly`] if the first layer does not take sparse input.
    pub fn forward_sparse_swap(&mut self, input: &mut SparseRows, mode: Mode) -> Result<&Matrix, NnError> {
        self.check_input_shape(input.shape(), mode)?;
        if !self.takes_sparse_input() {
            let layer =
                self.layers.first().map_or_else(|| "an empty model".to_string(), |l| l.name().to_string());
            return Err(NnError::DenseInputOnly { layer });
        }
        self.plan_fusion();
        let output = self.output_index(0);
        self.layers[0].forward_sparse(input, &mut self.activations[output], mode);
        Ok(self.run_forward_from(1, mode))
    }

    /// The output of the last forward pass (empty before any).
    pub fn output(&self) -> &Matrix {
        self.activations.last().expect("activations holds at least the input")
    }

    /// Back-propagates `output_grad = ∂loss/∂output` through every layer in reverse order,
    /// filling each layer's parameter gradients (overwriting the previous ones).
    ///
    /// The first layer's input gradient is not computed: nothing needs it.
    ///
    /// # Errors
    /// [`NnError::BackwardBeforeForward`], or [`NnError::OutputGradShape`] if `output_grad`
    /// does not match the last output.
    pub fn backward(&mut self, output_grad: &Matrix) -> Result<(), NnError> {
        self.check_output_grad(output_grad)?;
        for i in (0..self.layers.len()).rev() {
            if self.plan[i] != Run::Skipped {
                self.backward_layer(i, output_grad, i > 0, None);
            }
        }
        Ok(())
    }

    /// [`Sequential::backward`], with `update` applied to every parameter as soon as its
    /// gradient is final ([`Layer::backward_and_update`]): an optimizer's step fused into the
    /// backward pass (`Optimizer::backward_and_step` in percept-optim). Parameters are numbered
    /// over the whole model in [`Parameters::visit_parameters`] order.
    ///
    /// Each layer's parameters are updated after everything its backward pass computes from
    /// them, so gradients are those of [`Sequential::backward`], and the result is that of
    /// `backward` followed by the update, to the bit. The first layer of a model with sparse
    /// input updates each block of weight rows as its product finishes them (on the thread
    /// that summed them), while they are in cache, instead of in a pass of its own.
    ///
    /// # Errors
    /// As [`Sequential::backward`].
    pub fn backward_and_update(
        &mut self,
        output_grad: &Matrix,
        update: &dyn ParamUpdate,
    ) -> Result<(), NnError> {
        self.check_output_grad(output_grad)?;
        let mut params = 0;
        self.visit_parameters(&mut |_| params += 1);
        for i in (0..self.layers.len()).rev() {
            let mut count = 0;
            self.layers[i].visit_parameters(&mut |_| count += 1);
            params -= count;
            if self.plan[i] != Run::Skipped {
                self.backward_layer(i, output_grad, i > 0, Some((update, params)));
            }
        }
        Ok(())
    }

    /// The checks of [`Sequential::backward`].
    fn check_output_grad(&self, output_grad: &Matrix) -> Result<(), NnError> {
        if !self.has_forward {
            return Err(NnError::BackwardBeforeForward);
        }
        let expected = self.output().shape();
        if output_grad.shape() != expected {
            let index = self.layers.len().saturating_sub(1);
            let layer = self.layers.last().map_or_else(String::new, |l| l.name().to_string());
            return Err(NnError::OutputGradShape { index, layer, expected, got: output_grad.shape() });
        }
        Ok(())
    }

    /// Runs layer `i`'s backward pass as planned, from `output_grad` if its output is the
    /// model's, else from the gradient the layer after it left; with `update` applied to its
    /// parameters (the first numbered as given) if given.
    fn backward_layer(
        &mut self,
        i: usize,
        output_grad: &Matrix,
        with_input_grad: bool,
        update: Option<(&dyn ParamUpdate, usize)>,
    ) {
        let output = self.output_index(i);
        let (grads_in, grads_out) = self.grads.split_at_mut(i + 1);
        let grad = if output == self.layers.len() { output_grad } else { &grads_out[output - i - 1] };
        let input_grad = if with_input_grad { Some(&mut grads_in[i]) } else { None };
        let (input, output) = (&self.activations[i], &self.activations[output]);
        match update {
            Some((update, first_param)) => {
                self.layers[i].backward_and_update(input, output, grad, input_grad, update, first_param);
            }
            None => self.layers[i].backward(input, output, grad, input_grad),
        }
    }

    /// Like [`Sequential::backward`], but also computes `∂loss/∂input` and returns it.
    ///
    /// # Errors
    /// As [`Sequential::backward`].
    pub fn backward_with_input_grad(&mut self, output_grad: &Matrix) -> Result<&Matrix, NnError> {
        self.backward(output_grad)?;
        if self.layers.is_empty() {
            self.grads[0].copy_from(output_grad);
        } else {
            self.backward_layer(0, output_grad, true, None);
        }
        Ok(&self.grads[0])
    }
}

impl Parameters for Sequential {
    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        for layer in &mut self.layers {
            layer.visit_parameters(visitor);
        }
    }
}

/// A summary in the manner of Keras' `model.summary()`: each layer with its output shape and
/// parameter count, then the total.
impl fmt::Display for Sequential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let descriptions: Vec<String> = self.layers.iter().map(|l| l.describe()).collect();
        let width = descriptions.iter().map(|d| d.chars().count()).max().unwrap_or(0).max(5);
        writeln!(f, "Sequential")?;
        let input = self.in_features.map_or("?".to_string(), |n| n.to_string());
        writeln!(f, "  {:>3}  {:<width$}  {:>16}  {:>12}", "#", "layer", "output shape", "parameters")?;
        writeln!(f, "  {:>3}  {:<width$}  {:>16}  {:>12}", "", "input", format!("[batch, {input}]"), "")?;
        let mut features = self.in_features;
        for (i, (layer, description)) in self.layers.iter().zip(&descriptions).enumerate() {
            features = features.map(|n| layer.out_features(n));
            let shape = features.map_or("[batch, ?]".to_string(), |n| format!("[batch, {n}]"));
            let params = group_thousands(layer.num_parameters());
            writeln!(f, "  {i:>3}  {description:<width$}  {shape:>16}  {params:>12}")?;
        }
        write!(f, "  total parameters: {}", group_thousands(self.num_parameters()))
    }
}

impl fmt::Debug for Sequential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The seed of layer `index` in a run seeded with `seed`: SplitMix64's finalizer (Steele et
/// al., 2014) of the pair, so that neighbouring seeds and indices give unrelated streams.
fn layer_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` with its thousands grouped by commas, as percept prints counts: `group_thousands(245760)`
/// is `"245,760"`.
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
