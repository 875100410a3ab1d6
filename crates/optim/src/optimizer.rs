//! The driver shared by every optimizer, and the trait each optimizer's rule implements.

use std::fmt;

use percept_nn::Parameters;

/// One optimizer's update for one parameter tensor: the only thing a new optimizer writes.
pub trait UpdateRule: Send {
    /// The optimizer's name, e.g. `"Sgd"`.
    fn name(&self) -> &'static str;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Changes the learning rate (schedules call this between steps).
    fn set_learning_rate(&mut self, learning_rate: f32);

    /// How many state buffers, each as long as the parameter, the rule keeps per parameter
    /// (0 for plain SGD, 1 for momentum, 2 for Adam). The driver creates them, zeroed, on the
    /// first step.
    fn state_buffers(&self) -> usize {
        0
    }

    /// Updates `value` in place from `grad`. `step` counts from 1 (Adam's bias correction
    /// needs it); `state` holds [`UpdateRule::state_buffers`] buffers as long as `value`.
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [Vec<f32>]);
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
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [Vec<f32>]) {
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
}

impl<R: UpdateRule> Optimizer<R> {
    /// An optimizer that has taken no step yet.
    pub fn new(rule: R) -> Self {
        Self { rule, state: Vec::new(), steps: 0 }
    }

    /// Updates every parameter of `model` from the gradients its last backward pass left.
    ///
    /// State is created on the first step; later steps allocate nothing.
    ///
    /// # Panics
    /// If the model's parameters changed in number or size since the first step (a different
    /// model was passed to the same optimizer).
    pub fn step(&mut self, model: &mut dyn Parameters) {
        self.steps += 1;
        let (rule, state, step) = (&self.rule, &mut self.state, self.steps);
        let buffers = rule.state_buffers();
        let mut index = 0;
        model.visit_parameters(&mut |param| {
            let len = param.value.len();
            if index == state.len() {
                state.push(vec![vec![0.0; len]; buffers]);
            }
            let slot = &mut state[index];
            assert!(
                slot.iter().all(|b| b.len() == len),
                "{}: parameter {index} ({}) has {len} values, but its optimizer state was made for another size",
                rule.name(),
                param.name
            );
            rule.update(step, param.value.as_mut_slice(), param.grad.as_slice(), slot);
            index += 1;
        });
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
