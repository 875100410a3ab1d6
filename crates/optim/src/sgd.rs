//! `Sgd`: plain stochastic gradient descent.

use percept_linalg::axpy;

use crate::UpdateRule;

/// Stochastic gradient descent: `w ← w − learning_rate · ∂L/∂w` (the lesson's `update`).
///
/// Momentum, Nesterov and weight decay arrive with the optimizer issue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
}

impl Sgd {
    /// Plain SGD with the given learning rate.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate }
    }
}

impl Default for Sgd {
    /// PyTorch requires a learning rate; 0.01 is Keras' default for SGD.
    fn default() -> Self {
        Self::new(0.01)
    }
}

impl UpdateRule for Sgd {
    fn name(&self) -> &'static str {
        "Sgd"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], _state: &mut [&mut [f32]]) {
        axpy(value, -self.learning_rate, grad);
    }
}
