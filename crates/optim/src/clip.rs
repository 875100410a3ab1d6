//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` compute it.
//! Call between the backward pass and [`crate::Optimizer::step`].

use percept_nn::Parameters;

/// Scales every gradient of `model` by `max_norm / (norm + 1e-6)` when their global L2 norm
/// (all gradients as one vector) exceeds `max_norm`, and returns the norm before clipping.
/// A non-finite norm is returned as is, and the gradients are scaled by it like PyTorch
/// (`error_if_nonfinite=False`): check the return value to catch exploding gradients.
///
/// ```
/// use percept_linalg::Matrix;
/// use percept_nn::{Layer, Linear, Mode};
/// use percept_optim::clip_grad_norm;
/// let mut layer = Linear::from_parameters(Matrix::zeros(1, 1), Matrix::zeros(1, 1));
/// let input = Matrix::from_rows(&[[3.0]]);
/// let mut output = Matrix::default();
/// layer.forward(&input, &mut output, Mode::Train);
/// layer.backward(&input, &output, &Matrix::from_rows(&[[4.0]]), None); // grads 12 and 4
/// let norm = clip_grad_norm(&mut layer, 1.0);
/// assert!((norm - 160f32.sqrt()).abs() < 1e-4);
/// assert!((layer.weight_grad().get(0, 0) - 12.0 / norm).abs() < 1e-5);
/// ```
pub fn clip_grad_norm(model: &mut dyn Parameters, max_norm: f32) -> f32 {
    let mut squares = 0.0f64;
    model.visit_parameters(&mut |p| {
        squares += p.grad.as_slice().iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>();
    });
    let norm = squares.sqrt() as f32;
    let coefficient = max_norm / (norm + 1e-6);
    if coefficient < 1.0 || !norm.is_finite() {
        model.visit_parameters(&mut |p| p.grad.as_mut_slice().iter_mut().for_each(|g| *g *= coefficient));
    }
    norm
}

/// Clamps every gradient element of `model` to `[-clip_value, clip_value]`.
pub fn clip_grad_value(model: &mut dyn Parameters, clip_value: f32) {
    let limit = clip_value.abs();
    model.visit_parameters(&mut |p| {
        p.grad.as_mut_slice().iter_mut().for_each(|g| *g = g.clamp(-limit, limit))
    });
}
