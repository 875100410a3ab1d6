//! The driver shared by every optimizer, and the trait each optimizer's rule implements.

use std::fmt;

use percept_linalg::{Matrix, Par, for_each_row_range};
use percept_nn::{NnError, ParamUpdate, Parameters, Sequential};
use serde::{Deserialize, Serialize};

/// What an [`Optimizer`] carries from step to step, for checkpoints: restore it with
/// [`Optimizer::load_state`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The rule's name ([`UpdateRule::name`]), checked on restore.
    pub rule: String,
    /// The learning rate at the time (schedules change it).
    pub learning_rate: f32,
    /// Steps taken.
    pub steps: u64,
    /// `buffers[i][b]`: state buffer `b` of the `i`-th parameter in visiting order (empty
    /// before the first step).
    pub buffers: Vec<Vec<Vec<f32>>>,
}

/// Why an optimizer state could not be restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptimError {
    /// The state was saved by another optimizer.
    #[error("optimizer state belongs to {found}, not {expected}")]
    OtherRule {
        /// This optimizer's rule.
        expected: String,
        /// The saved one.
        found: String,
    },
    /// The model has another number of parameters than the state.
    #[error("optimizer state has {state} parameters but the model has {model}")]
    ParameterCount {
        /// Parameters in the model.
        model: usize,
        /// Parameters in the state.
        state: usize,
    },
    /// A parameter has another size than its state.
    #[error("optimizer state of parameter {index} ({name}) has {state} values but the model's has {model}")]
    ParameterSize {
        /// Index of the parameter in visiting order.
        index: usize,
        /// Its name within its layer.
        name: &'static str,
        /// Values in the model's parameter.
        model: usize,
        /// Values in the state.
        state: usize,
    },
    /// A parameter has another number of state buffers than the rule keeps (other settings).
    #[error(
        "optimizer state of parameter {index} ({name}) has {found} buffers, the optimizer keeps {expected}"
    )]
    BufferCount {
        /// Index of the parameter in visiting order.
        index: usize,
        /// Its name within its layer.
        name: &'static str,
        /// Buffers the rule keeps.
        expected: usize,
        /// Buffers in the state.
        found: usize,
    },
}

/// At most this many state buffers per parameter ([`UpdateRule::state_buffers`]).
pub const MAX_STATE_BUFFERS: usize = 4;

/// Parameters with fewer values than this are updated on one thread. Below it, handing half
/// of the update to a second thread costs more than the update (about 1 ns per value).
pub const UPDATE_PARALLEL_THRESHOLD: usize = 16 * 1024;

/// One optimizer's update for one parameter tensor: the only thing a new optimizer writes.
///
/// Rules are *elementwise*: the new value of an element depends only on that element's value,
/// gradient and state, and on the step (every optimizer in PyTorch's `torch.optim` that
/// percept has is). The driver relies on it: it may hand a rule any piece of a parameter, and
/// on several threads at once, hands different pieces of the same parameter (blocks of a
/// weight matrix's rows, so that each thread updates the rows its kernels computed).
/// Whatever the pieces, the result is the same, bit for bit.
pub trait UpdateRule: Send + Sync {
    /// The optimizer's name, e.g. `"Sgd"`.
    fn name(&self) -> &'static str;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Changes the learning rate (schedules call this between steps).
    fn set_learning_rate(&mut self, learning_rate: f32);

    /// How many state buffers, each as long as the parameter, the rule keeps per parameter
    /// (0 for plain SGD, 1 for momentum, 2 for Adam; at most [`MAX_STATE_BUFFERS`]). The
    /// driver creates them, zeroed, on the first step.
    fn state_buffers(&self) -> usize {
        0
    }

    /// The value every element of state buffer `buffer` starts from (0 unless a rule says
    /// otherwise, as Adagrad's `initial_accumulator_value`).
    fn initial_state(&self, buffer: usize) -> f32 {
        let _ = buffer;
        0.0
    }

    /// Whether an element whose gradient is `+0.0` keeps its value and its state to the bit
    /// under this rule, whatever they are (plain SGD with a finite, non-negative learning rate
    /// and no weight decay: `w − lr · 0 = w`, `−0.0` and NaN included). The driver then skips
    /// the pieces of a parameter whose gradient is all `+0.0` without reading or writing them:
    /// the rows of a first layer's weight for the input features that are zero in the whole
    /// batch (the border pixels of MNIST). `false`, the default, is always correct.
    fn zero_gradient_changes_nothing(&self) -> bool {
        false
    }

    /// Updates `value` in place from `grad`. `step` counts from 1 (Adam's bias correction
    /// needs it); `state` holds the [`UpdateRule::state_buffers`] buffers' pieces for the same
    /// elements, each as long as `value`.
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]);
}

impl UpdateRule for Box<dyn UpdateRule> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn learning_rate(&self) -> f32 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, learning_rate: f32) {
        (**self).set_learning_rate(learning_rate);
    }
    fn state_buffers(&self) -> usize {
        (**self).state_buffers()
    }
    fn initial_state(&self, buffer: usize) -> f32 {
        (**self).initial_state(buffer)
    }
    fn zero_gradient_changes_nothing(&self) -> bool {
        (**self).zero_gradient_changes_nothing()
    }
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        (**self).update(step, value, grad, state);
    }
}

/// Applies an [`UpdateRule`] to every parameter of a model, keeping per-parameter state.
///
/// `Optimizer<Box<dyn UpdateRule>>` (the default) holds any rule chosen at run time.
pub struct Optimizer<R: UpdateRule = Box<dyn UpdateRule>> {
    rule: R,
    /// `state[i]` belongs to the `i`-th parameter in visiting order.
    state: Vec<Vec<Vec<f32>>>,
    steps: u64,
    /// Reused by [`Optimizer::backward_and_step`]: each parameter's state buffers.
    state_pointers: Vec<StatePointers>,
}

impl<R: UpdateRule> Optimizer<R> {
    /// An optimizer that has taken no step yet.
    pub fn new(rule: R) -> Self {
        Self { rule, state: Vec::new(), steps: 0, state_pointers: Vec::new() }
    }

    /// Updates every parameter of `model` from the gradients its last backward pass left.
    ///
    /// State is created on the first step; later steps allocate nothing.
    ///
    /// # Panics
    /// If the model's parameters changed in number or size since the first step (a different
    /// model was passed to the same optimizer).
    pub fn step(&mut self, model: &mut dyn Parameters) {
        self.prepare_state(model);
        self.steps += 1;
        let (rule, state, step) = (&self.rule, &mut self.state, self.steps);
        let par = Par::current();
        let mut index = 0;
        model.visit_parameters(&mut |param| {
            let cols = param.value.cols();
            let states = StatePointers::of(&mut state[index]);
            update_rows(rule, step, param.value.as_mut_slice(), param.grad.as_slice(), cols, states, par);
            index += 1;
        });
    }

    /// `model.backward(output_grad)` followed by [`Optimizer::step`], the same to the bit, with
    /// each parameter updated as soon as its gradient is final
    /// ([`Sequential::backward_and_update`]; PyTorch's "optimizer step fused into the backward
    /// pass"): the first layer of a model with sparse input updates each block of its weight
    /// rows while the weight-gradient product has them in cache (on the thread that summed
    /// them), instead of in a pass of its own over the whole weight. Gradients are left in
    /// the parameters as `backward` leaves them. Not for updates that need every gradient
    /// first, such as clipping by the global norm: call `backward`, clip, then `step`.
    ///
    /// # Errors
    /// As [`Sequential::backward`], before any parameter changes.
    ///
    /// # Panics
    /// As [`Optimizer::step`].
    pub fn backward_and_step(&mut self, model: &mut Sequential, output_grad: &Matrix) -> Result<(), NnError> {
        self.prepare_state(model);
        let buffers = self.rule.state_buffers();
        self.state_pointers.clear();
        self.state_pointers.extend(self.state.iter_mut().map(|slot| StatePointers::of(slot)));
        let update =
            FusedStep { rule: &self.rule, step: self.steps + 1, buffers, states: &self.state_pointers };
        model.backward_and_update(output_grad, &update)?;
        self.steps += 1;
        Ok(())
    }

    /// Creates the state buffers on the first step, and checks them against `model`'s
    /// parameters on every step.
    fn prepare_state(&mut self, model: &mut dyn Parameters) {
        let (rule, state) = (&self.rule, &mut self.state);
        let buffers = rule.state_buffers();
        assert!(
            buffers <= MAX_STATE_BUFFERS,
            "{}: {buffers} state buffers per parameter, more than the driver's {MAX_STATE_BUFFERS}",
            rule.name()
        );
        let mut index = 0;
        model.visit_parameters(&mut |param| {
            let len = param.value.len();
            if index == state.len() {
                state.push((0..buffers).map(|b| vec![rule.initial_state(b); len]).collect());
            }
            let slot = &state[index];
            assert!(
                slot.iter().all(|b| b.len() == len),
                "{}: parameter {index} ({}) has {len} values, but its optimizer state was made for another size",
                rule.name(),
                param.name
            );
            index += 1;
        });
    }

    /// A copy of everything the optimizer has learned: steps, learning rate and every
    /// parameter's state buffers, for a checkpoint (serde).
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            rule: self.rule.name().to_string(),
            learning_rate: self.rule.learning_rate(),
            steps: self.steps,
            buffers: self.state.clone(),
        }
    }

    /// Restores a [`Optimizer::state`] taken from an optimizer with the same rule and
    /// settings, for `model`: the following steps continue exactly as the saved optimizer's
    /// would have.
    ///
    /// # Errors
    /// [`OptimError`] when the state belongs to another rule, or its buffers do not match
    /// the rule's count or `model`'s parameters (by number or size); `self` is then unchanged.
    pub fn load_state(
        &mut self,
        state: OptimizerState,
        model: &mut dyn Parameters,
    ) -> Result<(), OptimError> {
        let rule = self.rule.name();
        if state.rule != rule {
            return Err(OptimError::OtherRule { expected: rule.to_string(), found: state.rule });
        }
        let mut sizes = Vec::new();
        model.visit_parameters(&mut |p| sizes.push((p.name, p.value.len())));
        if !state.buffers.is_empty() && state.buffers.len() != sizes.len() {
            return Err(OptimError::ParameterCount { model: sizes.len(), state: state.buffers.len() });
        }
        let expected = self.rule.state_buffers();
        for (index, (slot, &(name, len))) in state.buffers.iter().zip(&sizes).enumerate() {
            if slot.len() != expected {
                return Err(OptimError::BufferCount { index, name, expected, found: slot.len() });
            }
            if let Some(found) = slot.iter().map(Vec::len).find(|&n| n != len) {
                return Err(OptimError::ParameterSize { index, name, model: len, state: found });
            }
        }
        self.rule.set_learning_rate(state.learning_rate);
        self.steps = state.steps;
        self.state = state.buffers;
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f32 {
        self.rule.learning_rate()
    }

    /// Changes the learning rate for the following steps.
    pub fn set_learning_rate(&mut self, learning_rate: f32) {
        self.rule.set_learning_rate(learning_rate);
    }

    /// The update rule and its settings.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// The update rule, mutably.
    pub fn rule_mut(&mut self) -> &mut R {
        &mut self.rule
    }
}

impl<R: UpdateRule> fmt::Debug for Optimizer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Optimizer")
            .field("rule", &self.rule.name())
            .field("learning_rate", &self.rule.learning_rate())
            .field("steps", &self.steps)
            .finish()
    }
}

/// Applies `rule` to whole rows of a parameter (`cols` values a row; `states` points at the
/// same rows of its state buffers): in one call, or, for a big enough block on several
/// threads, in one call per thread on contiguous blocks of rows, the blocks in which the
/// kernels computed the gradient ([`for_each_row_range`]), so that each thread updates what
/// its core already holds.
fn update_rows<R: UpdateRule>(
    rule: &R,
    step: u64,
    value: &mut [f32],
    grad: &[f32],
    cols: usize,
    states: StatePointers,
    par: Par,
) {
    assert_eq!(value.len(), grad.len(), "{}: a parameter and its gradient differ in size", rule.name());
    let cols = cols.max(1);
    let rows = value.len() / cols;
    let buffers = rule.state_buffers();
    let skips_zeros = rule.zero_gradient_changes_nothing();
    let value_base = SendPtr(value.as_mut_ptr());
    for_each_row_range(par.above(value.len(), UPDATE_PARALLEL_THRESHOLD), rows, &|block| {
        let (start, len) = (block.start * cols, block.len() * cols);
        // SAFETY: the blocks are disjoint ranges of rows; `value` and every state buffer hold
        // these rows (callers pass state pointers at the same row), borrowed mutably for the
        // whole call.
        let value = unsafe { std::slice::from_raw_parts_mut(value_base.get().add(start), len) };
        let grad = &grad[start..start + len];
        // A piece at a time, asking for the next piece's lines of `value` first (see
        // `WRITE_AHEAD`); the rule sees pieces of whole elements, which its contract allows.
        // A piece whose gradient is all zero is neither asked for nor updated when the rule
        // says that changes nothing.
        let needed = |piece: &[f32]| !skips_zeros || !all_zero(piece);
        let mut at = 0;
        let mut this_needed = needed(&grad[..WRITE_AHEAD.min(len)]);
        while at < len {
            let end = (at + WRITE_AHEAD).min(len);
            let next = end..(end + WRITE_AHEAD).min(len);
            let next_needed = needed(&grad[next.clone()]);
            if next_needed {
                percept_linalg::prefetch_for_write(&mut value[next]);
            }
            if this_needed {
                let mut pieces: [&mut [f32]; MAX_STATE_BUFFERS] = Default::default();
                for (piece, ptr) in pieces.iter_mut().zip(&states.0[..buffers]) {
                    // SAFETY: as above; `at..end` lies within the block.
                    *piece = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(start + at), end - at) };
                }
                rule.update(step, &mut value[at..end], &grad[at..end], &mut pieces[..buffers]);
            }
            (this_needed, at) = (next_needed, end);
        }
    });
}

/// Whether every value of `grad` is `+0.0` (all bits clear; not `−0.0`, with which SGD turns
/// a weight of `−0.0` into `+0.0`). In blocks of 64, stopping after the first block with a
/// non-zero, so that a piece of a dense layer's gradient costs one block.
///
/// Why [`update_rows`] skips such pieces: in a random batch of 32 MNIST images, 41% of the
/// pixels are zero in every image (29% at batch 256), and plain SGD read and wrote their rows
/// of the first layer's weight for nothing (784 × 512 weights are 1.6 MB, more than a core's
/// own cache). Steps alternating with and without the skip in blocks, in one process (a
/// throwaway harness, 2026-11-28, medians per pair of blocks): 784-512-256-10 at batch 32
/// 0.968-0.977 on one and two threads; 784-128-10 at batch 256 0.963-0.993 on two threads (on
/// near and far cores alike), 0.971 on one.
fn all_zero(grad: &[f32]) -> bool {
    grad.chunks(64).all(|block| block.iter().fold(0, |bits, &g| bits | g.to_bits()) == 0)
}

/// Values [`update_rows`] hands a rule at a time (2 KiB), asking the CPU for write access to
/// the next as many while the rule updates them ([`percept_linalg::prefetch_for_write`]).
///
/// Why: the forward pass on two threads reads every row of a weight on both cores, so that
/// each line of the weight the update then writes has a copy in the other core to be
/// invalidated first, and the writes wait for it. Asked ahead, the invalidations overlap the
/// update. Steps alternating with and without it in blocks of 10, in one process (a
/// throwaway harness), 784-128-10 at batch 256, SGD, four runs of 6 epochs, medians per
/// pair of blocks by where the host had the two virtual cores (`cargo bench --bench
/// threads`): two threads 0.977-0.989 on cores sharing a cache, 0.947-0.981 on cores sharing
/// none; one thread 0.976 (two runs); 784-512-256-10 at batch 32 on two threads 0.960-0.999.
const WRITE_AHEAD: usize = 512;

/// Where a parameter's state buffers start, and how long they are.
#[derive(Clone, Copy)]
struct StatePointers([SendPtr; MAX_STATE_BUFFERS], usize);

impl StatePointers {
    /// The buffers of one parameter's state (all as long as the parameter).
    fn of(slot: &mut [Vec<f32>]) -> Self {
        let mut pointers = [SendPtr(std::ptr::null_mut()); MAX_STATE_BUFFERS];
        for (pointer, buffer) in pointers.iter_mut().zip(slot.iter_mut()) {
            *pointer = SendPtr(buffer.as_mut_ptr());
        }
        Self(pointers, slot.first().map_or(usize::MAX, Vec::len))
    }

    /// The same buffers from element `offset` on.
    fn from(self, offset: usize) -> Self {
        // SAFETY (of the callers' later use): `offset` is within the buffers (checked by
        // `FusedStep::update` against their length).
        Self(self.0.map(|p| SendPtr(p.get().wrapping_add(offset))), self.1 - offset.min(self.1))
    }
}

/// [`Optimizer::backward_and_step`]'s update, handed to the model's backward pass.
struct FusedStep<'a, R> {
    rule: &'a R,
    step: u64,
    buffers: usize,
    states: &'a [StatePointers],
}

impl<R: UpdateRule> ParamUpdate for FusedStep<'_, R> {
    fn update(&self, index: usize, first_row: usize, cols: usize, value: &mut [f32], grad: &[f32]) {
        let states = self.states[index];
        let offset = first_row * cols;
        assert!(
            self.buffers == 0 || offset + value.len() <= states.1,
            "{}: rows {first_row}.. of parameter {index} lie outside its optimizer state",
            self.rule.name()
        );
        update_rows(self.rule, self.step, value, grad, cols, states.from(offset), Par::current());
    }
}

/// A pointer that parts of a split may share; each part builds disjoint slices from it.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used to build disjoint slices, one set per part, while the owner is borrowed.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// A method, so that closures capture the whole `SendPtr`.
    fn get(self) -> *mut f32 {
        self.0
    }
}
