//! `Adam`: adaptive moment estimation, with PyTorch's L2 weight decay and AMSGrad.

use serde::{Deserialize, Serialize};

use crate::UpdateRule;

/// Adam (Kingma & Ba, 2015), as `torch.optim.Adam` computes it. With `g = ∂L/∂w` and `t` the
/// step (from 1):
///
/// ```text
/// g ← g + weight_decay · w                        (if weight_decay ≠ 0: L2, coupled)
/// m ← m + (1 − β₁) · (g − m)
/// v ← β₂ · v + (1 − β₂) · g²
/// v̂ ← max(v̂, v) with AMSGrad, else v̂ = v
/// w ← w − (lr / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
/// ```
///
/// For decoupled weight decay use [`crate::AdamW`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Step size (PyTorch's and Keras' default: 0.001).
    pub learning_rate: f32,
    /// Decay of the first moment (0.9).
    pub beta1: f32,
    /// Decay of the second moment (0.999).
    pub beta2: f32,
    /// Added to the denominator (1e-8).
    pub eps: f32,
    /// L2 penalty added to the gradient (0).
    pub weight_decay: f32,
    /// Use the running maximum of the second moment (Reddi et al., 2018).
    pub amsgrad: bool,
}

impl Adam {
    /// Adam with the given learning rate and PyTorch's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate, ..Self::default() }
    }
}

impl Default for Adam {
    fn default() -> Self {
        Self { learning_rate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, amsgrad: false }
    }
}

impl UpdateRule for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.learning_rate = learning_rate;
    }

    fn state_buffers(&self) -> usize {
        2 + usize::from(self.amsgrad)
    }

    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        adam_step(self, self.weight_decay, step, value, grad, state);
    }
}

/// The Adam step shared with AdamW: `l2` is the coupled weight decay (0 for AdamW, which
/// decays the weights itself first).
pub(crate) fn adam_step(
    adam: &Adam,
    l2: f32,
    step: u64,
    value: &mut [f32],
    grad: &[f32],
    state: &mut [&mut [f32]],
) {
    // Scalars in f64, as PyTorch computes them in Python, then rounded once.
    let t = step as f64;
    let correction1 = 1.0 - (adam.beta1 as f64).powf(t);
    let scalars = Scalars {
        l2,
        beta1: adam.beta1,
        beta2: adam.beta2,
        eps: adam.eps,
        correction2_sqrt: (1.0 - (adam.beta2 as f64).powf(t)).sqrt() as f32,
        step_size: (adam.learning_rate as f64 / correction1) as f32,
    };
    let [m, v, rest @ ..] = state else { panic!("Adam keeps at least two state buffers") };
    match rest.first_mut() {
        None => crate::vectorized(
            #[inline(always)]
            || adam_kernel(scalars, value, grad, m, v),
        ),
        Some(max_v) => crate::vectorized(
            #[inline(always)]
            || amsgrad_kernel(scalars, value, grad, m, v, max_v),
        ),
    }
}

/// Per-step constants of the Adam update, passed by value so the loops keep them in
/// registers.
#[derive(Clone, Copy)]
struct Scalars {
    l2: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    correction2_sqrt: f32,
    step_size: f32,
}

impl Scalars {
    /// Updates one element's moments and returns the decayed gradient.
    #[inline(always)]
    fn moments(self, w: f32, g: f32, m: &mut f32, v: &mut f32) {
        let g = if self.l2 != 0.0 { g + self.l2 * w } else { g };
        *m = flush_subnormal(*m + (1.0 - self.beta1) * (g - *m));
        *v = flush_subnormal(self.beta2 * *v + (1.0 - self.beta2) * g * g);
    }

    #[inline(always)]
    fn update(self, w: f32, m: f32, v_hat: f32) -> f32 {
        w - self.step_size * m / (v_hat.sqrt() / self.correction2_sqrt + self.eps)
    }
}

#[inline(always)]
fn adam_kernel(s: Scalars, value: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    for (((w, &g), m), v) in value.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
        s.moments(*w, g, m, v);
        *w = s.update(*w, *m, *v);
    }
}

#[inline(always)]
fn amsgrad_kernel(
    s: Scalars,
    value: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    max_v: &mut [f32],
) {
    let elements = value.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()).zip(max_v.iter_mut());
    for ((((w, &g), m), v), max_v) in elements {
        s.moments(*w, g, m, v);
        *max_v = max_v.max(*v);
        *w = s.update(*w, *m, *max_v);
    }
}

/// `x`, or 0 when `x` is subnormal (below `f32::MIN_POSITIVE`, about 1.2e-38).
///
/// Why: a weight whose gradient is always 0 (an MNIST border pixel's) has its moments decay
/// geometrically into the subnormal range, where `m − 0.1·m` rounds back to the smallest
/// subnormal and stays there for good; x86 CPUs take a slow path for every operation on a
/// subnormal, and Adam epochs on MNIST grew from 2.9 s to 3.6 s and on. PyTorch keeps them
/// (unless `torch.set_flush_denormal(True)`); the difference in the update is below 1e-30.
#[inline(always)]
pub(crate) fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x }
}
