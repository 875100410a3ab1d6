//! What the lab records of each `Linear` layer during training: the largest absolute weight
//! after each epoch, and the mean norm of the weight's gradient over the epoch's steps.

use std::cell::RefCell;
use std::rc::Rc;

use percept_nn::Sequential;
use serde::{Deserialize, Serialize};

use crate::{BatchRecord, Callback, Control, EpochRecord, History};

/// One `Linear` layer in one epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerEpoch {
    /// The largest absolute value of the layer's weight after the epoch (the lab's "watch
    /// the weights").
    pub max_abs_weight: f32,
    /// The L2 norm of the gradient of the weight, `‖∂L/∂W‖₂` with `L` the batch's mean
    /// loss, averaged over the epoch's steps. Small values in the first layers next to
    /// large ones in the last are vanishing gradients.
    pub mean_weight_grad_norm: f32,
}

/// What a [`LayerWatch`] recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerLog {
    /// The watched layers (every `Linear`), such as `Linear(784 → 256)`.
    pub layers: Vec<String>,
    /// The largest absolute weight of each layer before training.
    pub initial_max_abs_weight: Vec<f32>,
    /// One entry per epoch, one [`LayerEpoch`] per layer.
    pub epochs: Vec<Vec<LayerEpoch>>,
}

/// A [`Callback`] that records, for every `Linear` layer, the largest absolute weight after
/// each epoch and the mean L2 norm of its weight gradient over each epoch's steps (read in
/// [`Callback::on_step_end`], one pass over each weight's gradient per step). A handle:
/// clones share one record.
///
/// ```
/// use percept_nn::{Linear, Sequential, seeded_rng};
/// use percept_train::lab::LayerWatch;
/// let mut model = Sequential::new();
/// model.add(Linear::new(4, 2, &mut seeded_rng(0)))?;
/// let watch = LayerWatch::new();
/// watch.observe_initial(&mut model);
/// assert_eq!(watch.log().layers, ["Linear(4 → 2)"]);
/// # Ok::<(), percept_nn::NnError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct LayerWatch {
    state: Rc<RefCell<WatchState>>,
}

#[derive(Debug, Default)]
struct WatchState {
    log: LayerLog,
    /// Per layer: the sum of this epoch's gradient norms so far.
    norm_sums: Vec<f64>,
    steps: usize,
}

impl LayerWatch {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the model's layers and their largest absolute weights before training.
    pub fn observe_initial(&self, model: &mut Sequential) {
        let mut state = self.state.borrow_mut();
        state.log.layers.clear();
        state.log.initial_max_abs_weight.clear();
        for layer in model.layers_mut().iter_mut().filter(|l| l.name() == "Linear") {
            state.log.layers.push(layer.describe());
            let mut max = 0.0f32;
            layer.visit_parameters(&mut |p| {
                if p.name == "weight" {
                    max = p.value.max_abs();
                }
            });
            state.log.initial_max_abs_weight.push(max);
        }
    }

    /// A copy of what was recorded.
    pub fn log(&self) -> LayerLog {
        self.state.borrow().log.clone()
    }
}

/// Calls `f(layer, weight value, weight gradient)` for each `Linear` layer, in order.
fn for_each_linear_weight(model: &mut Sequential, mut f: impl FnMut(usize, &[f32], &[f32])) {
    let linear = model.layers_mut().iter_mut().filter(|l| l.name() == "Linear");
    for (k, layer) in linear.enumerate() {
        layer.visit_parameters(&mut |p| {
            if p.name == "weight" {
                f(k, p.value.as_slice(), p.grad.as_slice());
            }
        });
    }
}

/// `‖values‖₂`, summed in eight `f32` lanes per block of 1024 values and the blocks in
/// `f64`: vectorized (a 784 × 256 gradient in about 20 µs, next to a step's few hundred),
/// and accurate to far better than the three digits the report prints.
pub(crate) fn l2_norm(values: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for block in values.chunks(1024) {
        let mut lanes = [0.0f32; 8];
        let mut chunks = block.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += v * v;
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|v| v * v).sum();
        total += lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64;
    }
    total.sqrt()
}

impl Callback for LayerWatch {
    fn on_step_end(&mut self, _batch: &BatchRecord, model: &mut Sequential) -> Control {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        for_each_linear_weight(model, |k, _, grad| {
            if state.norm_sums.len() <= k {
                state.norm_sums.resize(k + 1, 0.0);
            }
            state.norm_sums[k] += l2_norm(grad);
        });
        state.steps += 1;
        Control::Continue
    }

    fn on_epoch_end(&mut self, _record: &EpochRecord, model: &mut Sequential) -> Control {
        let mut state = self.state.borrow_mut();
        let steps = state.steps.max(1) as f64;
        let mut layers = Vec::new();
        for_each_linear_weight(model, |k, value, _| {
            let max_abs_weight = value.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let sum = state.norm_sums.get(k).copied().unwrap_or(0.0);
            layers.push(LayerEpoch { max_abs_weight, mean_weight_grad_norm: (sum / steps) as f32 });
        });
        state.log.epochs.push(layers);
        state.norm_sums.iter_mut().for_each(|s| *s = 0.0);
        state.steps = 0;
        Control::Continue
    }

    fn on_train_end(&mut self, _model: &mut Sequential, _history: &History) {}
}

/// A callback shared with its owner: the trainer gets one handle, the owner keeps another to
/// read the callback afterwards ([`crate::EarlyStopping::best`], say).
pub(crate) struct Shared<C>(pub(crate) Rc<RefCell<C>>);

impl<C: Callback> Callback for Shared<C> {
    fn on_batch_end(&mut self, batch: &BatchRecord) -> Control {
        self.0.borrow_mut().on_batch_end(batch)
    }
    fn on_step_end(&mut self, batch: &BatchRecord, model: &mut Sequential) -> Control {
        self.0.borrow_mut().on_step_end(batch, model)
    }
    fn on_epoch_end(&mut self, record: &EpochRecord, model: &mut Sequential) -> Control {
        self.0.borrow_mut().on_epoch_end(record, model)
    }
    fn on_train_end(&mut self, model: &mut Sequential, history: &History) {
        self.0.borrow_mut().on_train_end(model, history);
    }
}
