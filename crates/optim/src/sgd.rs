//! `Sgd`: stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and
//! weight decay.

use serde::{Deserialize, Serialize};

use crate::UpdateRule;

/// Stochastic gradient descent, as `torch.optim.SGD` computes it. With `g = ∂L/∂w`:
///
/// ```text
/// g ← g + weight_decay · w                      (if weight_decay ≠ 0)
/// b ← g on the first step,
///     momentum · b + (1 − dampening) · g after  (if momentum ≠ 0)
/// g ← g + momentum · b  (Nesterov)  or  g ← b   (if momentum ≠ 0)
/// w ← w − learning_rate · g
/// ```
///
/// With the defaults (no momentum, no decay) this is the lesson's `w ← w − η · ∂L/∂w`.
///
/// ```
/// use percept_optim::Sgd;
/// let plain = Sgd::new(0.1);
/// let heavy_ball = Sgd::momentum(0.1, 0.9);
/// let nesterov = Sgd { nesterov: true, weight_decay: 5e-4, ..Sgd::momentum(0.1, 0.9) };
/// assert_eq!(plain.momentum, 0.0);
/// assert!(nesterov.nesterov && heavy_ball.momentum == 0.9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
    /// Momentum factor (0 = none).
    pub momentum: f32,
    /// Fraction of the gradient left out of the momentum buffer after the first step.
    pub dampening: f32,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`, as in PyTorch).
    pub nesterov: bool,
    /// L2 penalty added to the gradient (`weight_decay · w`).
    pub weight_decay: f32,
}

impl Sgd {
    /// Plain SGD with the given learning rate.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }

    /// SGD with (heavy-ball) momentum.
    pub fn momentum(learning_rate: f32, momentum: f32) -> Self {
        Self { momentum, ..Self::new(learning_rate) }
    }

    /// SGD with Nesterov momentum.
    pub fn nesterov(learning_rate: f32, momentum: f32) -> Self {
        Self { nesterov: true, ..Self::momentum(learning_rate, momentum) }
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

    fn state_buffers(&self) -> usize {
        usize::from(self.momentum != 0.0)
    }

    /// Plain SGD with a finite, non-negative learning rate and no weight decay: then
    /// `lr · +0.0` is `+0.0`, and `w − +0.0` is `w` to the bit for every `w`.
    fn zero_gradient_changes_nothing(&self) -> bool {
        self.momentum == 0.0
            && self.weight_decay == 0.0
            && self.learning_rate.is_finite()
            && self.learning_rate >= 0.0
    }

    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        let s = *self;
        match state.first_mut() {
            None => crate::vectorized(
                #[inline(always)]
                || plain(s, value, grad),
            ),
            Some(buffer) => crate::vectorized(
                #[inline(always)]
                || with_momentum(s, step == 1, value, grad, buffer),
            ),
        }
    }
}

#[inline(always)]
fn plain(s: Sgd, value: &mut [f32], grad: &[f32]) {
    let (lr, wd) = (s.learning_rate, s.weight_decay);
    for (w, &g) in value.iter_mut().zip(grad) {
        let g = if wd != 0.0 { g + wd * *w } else { g };
        *w -= lr * g;
    }
}

#[inline(always)]
fn with_momentum(s: Sgd, first: bool, value: &mut [f32], grad: &[f32], buffer: &mut [f32]) {
    let (lr, wd, momentum, keep) = (s.learning_rate, s.weight_decay, s.momentum, 1.0 - s.dampening);
    for ((w, &g), b) in value.iter_mut().zip(grad).zip(buffer.iter_mut()) {
        let g = if wd != 0.0 { g + wd * *w } else { g };
        *b = if first { g } else { momentum * *b + keep * g };
        let direction = if s.nesterov { g + momentum * *b } else { *b };
        *w -= lr * direction;
    }
}
