//! Shared plumbing for elementwise activations, so each activation file holds only its math.

use percept_linalg::{Matrix, Par, map, zip_map};

/// `output = f(input)`, elementwise, resizing `output`.
///
/// Callers pass `#[inline(always)]` closures: `map` builds its loop twice (for AVX2 when the
/// CPU has it, and for the baseline), and a closure with two callers may otherwise stay a
/// call per element, which does not vectorize (GELU's did).
pub(crate) fn forward_elementwise(input: &Matrix, output: &mut Matrix, f: impl Fn(f32) -> f32 + Sync) {
    output.resize(input.rows(), input.cols());
    map(output, input, Par::current(), f);
}

/// `input_grad = output_grad ⊙ g(output)`, for activations whose derivative is a function `g`
/// of their output (ReLU, Tanh, Sigmoid): the backward pass then needs no saved input.
pub(crate) fn backward_from_output(
    output: &Matrix,
    output_grad: &Matrix,
    input_grad: Option<&mut Matrix>,
    derivative: impl Fn(f32) -> f32 + Sync,
) {
    if let Some(input_grad) = input_grad {
        input_grad.resize(output.rows(), output.cols());
        zip_map(
            input_grad,
            output_grad,
            output,
            Par::current(),
            #[inline(always)]
            |grad, y| grad * derivative(y),
        );
    }
}

/// `input_grad = output_grad ⊙ g(input)`, for activations whose derivative is most simply a
/// function of their input (LeakyReLU, ELU, GELU, Softplus, SiLU).
pub(crate) fn backward_from_input(
    input: &Matrix,
    output_grad: &Matrix,
    input_grad: Option<&mut Matrix>,
    derivative: impl Fn(f32) -> f32 + Sync,
) {
    if let Some(input_grad) = input_grad {
        input_grad.resize(input.rows(), input.cols());
        zip_map(
            input_grad,
            output_grad,
            input,
            Par::current(),
            #[inline(always)]
            |grad, x| grad * derivative(x),
        );
    }
}

/// The logistic function `1 / (1 + e^(−x))`: the `Sigmoid` layer's own, which needs no
/// library call (so loops over a batch vectorize) and saturates without overflow.
#[inline(always)]
pub(crate) fn logistic(x: f32) -> f32 {
    percept_linalg::FusedActivation::Sigmoid.apply(x)
}
