//! `RmsProp`: gradients divided by a running root mean square, with PyTorch's momentum and
//! centered variants.

use serde::{Deserialize, Serialize};

use crate::UpdateRule;
use crate::adam::flush_subnormal;

/// RMSprop (Hinton's lecture 6e), as `torch.optim.RMSprop` computes it. With `g = ∂L/∂w`:
///
/// ```text
/// g ← g + weight_decay · w                  (if weight_decay ≠ 0)
/// s ← α · s + (1 − α) · g²
/// a ← a + (1 − α) · (g − a)                 (centered only)
/// d ← √(s − a²) + ε  (centered)  or  √s + ε
/// b ← momentum · b + g / d;  w ← w − lr · b (if momentum > 0)
/// w ← w − lr · g / d                        (otherwise)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsProp {
    /// Step size (PyTorch's default 0.01).
    pub learning_rate: f32,
    /// Smoothing constant α (0.99).
    pub alpha: f32,
    /// Added to the denominator (1e-8).
    pub eps: f32,
    /// L2 penalty added to the gradient (0).
    pub weight_decay: f32,
    /// Momentum factor (0 = none).
    pub momentum: f32,
    /// Divide by the running variance instead of the running second moment.
    pub centered: bool,
}

impl RmsProp {
    /// RMSprop with the given learning rate and PyTorch's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate, ..Self::default() }
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl UpdateRule for RmsProp {
    fn name(&self) -> &'static str {
        "RmsProp"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn state_buffers(&self) -> usize {
        1 + usize::from(self.momentum > 0.0) + usize::from(self.centered)
    }

    fn update(&self, _step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        let [square, rest @ ..] = state else { panic!("RMSprop keeps a square average") };
        let (momentum, rest): (&mut [f32], _) = match rest.split_first_mut() {
            Some((m, r)) if self.momentum > 0.0 => (m, r),
            _ => (&mut [], rest),
        };
        let average: &mut [f32] = match rest.first_mut() {
            Some(a) if self.centered => a,
            _ => &mut [],
        };
        let s = *self;
        match (self.momentum > 0.0, self.centered) {
            (false, false) => crate::vectorized(
                #[inline(always)]
                || kernel::<false, false>(s, value, grad, square, momentum, average),
            ),
            (true, false) => crate::vectorized(
                #[inline(always)]
                || kernel::<true, false>(s, value, grad, square, momentum, average),
            ),
            (false, true) => crate::vectorized(
                #[inline(always)]
                || kernel::<false, true>(s, value, grad, square, momentum, average),
            ),
            (true, true) => crate::vectorized(
                #[inline(always)]
                || kernel::<true, true>(s, value, grad, square, momentum, average),
            ),
        }
    }
}

/// The update over whole slices, one loop per combination of options (so each vectorizes);
/// `momentum` and `average` are empty when their option is off.
#[inline(always)]
fn kernel<const MOMENTUM: bool, const CENTERED: bool>(
    s: RmsProp,
    value: &mut [f32],
    grad: &[f32],
    square: &mut [f32],
    momentum: &mut [f32],
    average: &mut [f32],
) {
    let n = value.len();
    let (grad, square) = (&grad[..n], &mut square[..n]);
    let momentum = &mut momentum[..if MOMENTUM { n } else { 0 }];
    let average = &mut average[..if CENTERED { n } else { 0 }];
    let (alpha, lr, wd, eps, mu) = (s.alpha, s.learning_rate, s.weight_decay, s.eps, s.momentum);
    for i in 0..n {
        let w = value[i];
        let g = if wd != 0.0 { grad[i] + wd * w } else { grad[i] };
        let sq = flush_subnormal(alpha * square[i] + (1.0 - alpha) * g * g);
        square[i] = sq;
        let denom = if CENTERED {
            let a = flush_subnormal(average[i] + (1.0 - alpha) * (g - average[i]));
            average[i] = a;
            (sq - a * a).sqrt() + eps
        } else {
            sq.sqrt() + eps
        };
        value[i] = if MOMENTUM {
            let b = flush_subnormal(mu * momentum[i] + g / denom);
            momentum[i] = b;
            w - lr * b
        } else {
            w - lr * g / denom
        };
    }
}
