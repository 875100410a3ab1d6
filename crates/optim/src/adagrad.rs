//! `Adagrad`: per-weight step sizes from the sum of squared gradients.

use serde::{Deserialize, Serialize};

use crate::UpdateRule;

/// Adagrad (Duchi et al., 2011), as `torch.optim.Adagrad` computes it. With `g = ∂L/∂w` and
/// `t` the step (from 1):
///
/// ```text
/// g ← g + weight_decay · w                     (if weight_decay ≠ 0)
/// s ← s + g²                                   (s starts at initial_accumulator_value)
/// w ← w − lr / (1 + (t − 1) · lr_decay) · g / (√s + ε)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adagrad {
    /// Step size (PyTorch's default 0.01).
    pub learning_rate: f32,
    /// Learning-rate decay per step (0).
    pub lr_decay: f32,
    /// L2 penalty added to the gradient (0).
    pub weight_decay: f32,
    /// Starting value of the sum of squares (0).
    pub initial_accumulator_value: f32,
    /// Added to the denominator (1e-10).
    pub eps: f32,
}

impl Adagrad {
    /// Adagrad with the given learning rate and PyTorch's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate, ..Self::default() }
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

impl UpdateRule for Adagrad {
    fn name(&self) -> &'static str {
        "Adagrad"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn state_buffers(&self) -> usize {
        1
    }

    fn initial_state(&self, _buffer: usize) -> f32 {
        self.initial_accumulator_value
    }

    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        let decayed = self.learning_rate as f64 / (1.0 + (step as f64 - 1.0) * self.lr_decay as f64);
        let (lr, wd, eps) = (decayed as f32, self.weight_decay, self.eps);
        crate::vectorized(
            #[inline(always)]
            || {
                for ((w, &g), s) in value.iter_mut().zip(grad).zip(state[0].iter_mut()) {
                    let g = if wd != 0.0 { g + wd * *w } else { g };
                    *s += g * g;
                    *w -= lr * g / (s.sqrt() + eps);
                }
            },
        );
    }
}
