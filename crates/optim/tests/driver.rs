//! The optimizer driver and plain SGD.

use percept_linalg::Matrix;
use percept_nn::{Layer, Linear, Mode};
use percept_optim::{Optimizer, Sgd, UpdateRule};

fn layer_with_gradients() -> Linear {
    let mut layer = Linear::from_parameters(
        Matrix::from_rows(&[[1.0, -2.0], [0.5, 3.0]]),
        Matrix::from_rows(&[[0.25, -0.75]]),
    );
    let input = Matrix::from_rows(&[[1.0, 2.0], [-1.0, 0.5]]);
    let mut output = Matrix::default();
    layer.forward(&input, &mut output, Mode::Train);
    let grad = Matrix::from_rows(&[[0.5, -1.0], [2.0, 0.0]]);
    layer.backward(&input, &output, &grad, None);
    layer
}

#[test]
fn sgd_subtracts_learning_rate_times_gradient() {
    let mut layer = layer_with_gradients();
    // weight is [in, out]: ∂L/∂W = inputᵀ · grad = [[1·0.5 − 1·2, 1·(−1) − 1·0], [2·0.5 + 0.5·2, 2·(−1) + 0]]
    assert_eq!(layer.weight_grad().as_slice(), &[-1.5, -1.0, 2.0, -2.0]);
    assert_eq!(layer.bias_grad().as_slice(), &[2.5, -1.0]);
    let mut optimizer = Optimizer::new(Sgd::new(0.1));
    optimizer.step(&mut layer);
    let expected_weight = [1.0 + 0.15, -2.0 + 0.1, 0.5 - 0.2, 3.0 + 0.2];
    for (got, want) in layer.weight().as_slice().iter().zip(expected_weight) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let expected_bias = [0.25 - 0.25, -0.75 + 0.1];
    for (got, want) in layer.bias().as_slice().iter().zip(expected_bias) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert_eq!(optimizer.steps(), 1);
    optimizer.set_learning_rate(0.5);
    assert_eq!(optimizer.learning_rate(), 0.5);
}

/// A rule with one state buffer: a running sum of gradients, applied with step count 1, 2, …
struct Accumulate;
impl UpdateRule for Accumulate {
    fn name(&self) -> &'static str {
        "Accumulate"
    }
    fn learning_rate(&self) -> f32 {
        1.0
    }
    fn set_learning_rate(&mut self, _: f32) {}
    fn state_buffers(&self) -> usize {
        1
    }
    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        for ((v, g), s) in value.iter_mut().zip(grad).zip(state[0].iter_mut()) {
            *s += g;
            *v = *s * step as f32;
        }
    }
}

#[test]
fn the_driver_keeps_state_per_parameter_and_counts_steps() {
    let mut layer = layer_with_gradients();
    let mut optimizer = Optimizer::new(Accumulate);
    optimizer.step(&mut layer);
    optimizer.step(&mut layer);
    // After two steps the state holds 2·grad and the step count is 2: value = 4·grad.
    assert_eq!(layer.weight().as_slice(), &[-6.0, -4.0, 8.0, -8.0]);
    assert_eq!(layer.bias().as_slice(), &[10.0, -4.0]);
    // A boxed rule works the same through the default type parameter.
    let mut boxed: Optimizer = Optimizer::new(Box::new(Sgd::new(1.0)));
    boxed.step(&mut layer);
    assert_eq!(layer.bias().as_slice(), &[7.5, -3.0]);
}

#[test]
#[should_panic(expected = "optimizer state was made for another size")]
fn a_different_model_on_the_same_optimizer_is_caught() {
    let mut optimizer = Optimizer::new(Accumulate);
    optimizer.step(&mut layer_with_gradients());
    let mut other = Linear::from_parameters(Matrix::zeros(2, 3), Matrix::zeros(1, 3));
    optimizer.step(&mut other);
}

/// Parameters above `UPDATE_PARALLEL_THRESHOLD` are updated in blocks of rows on two threads:
/// the same bits as one thread, state included.
#[test]
fn a_split_update_equals_a_sequential_one() {
    use percept_linalg::{Par, set_num_threads};
    use percept_optim::UPDATE_PARALLEL_THRESHOLD;
    let _ = set_num_threads(2);
    assert_eq!(Par::current().threads(), 2, "the team has two threads");
    let (rows, cols) = (301, 96); // rows split unevenly, more values than the threshold
    assert!(rows * cols > UPDATE_PARALLEL_THRESHOLD);
    let run = |threads: usize| {
        set_num_threads(threads).expect("thread count");
        let weight = Matrix::from_fn(rows, cols, |r, c| ((r * 7 + c * 3) % 11) as f32 - 5.0);
        let mut layer = Linear::from_parameters(weight, Matrix::zeros(1, cols));
        let input = Matrix::from_fn(4, rows, |r, c| ((r + c) % 5) as f32 * 0.25);
        let mut output = Matrix::default();
        let mut optimizer = Optimizer::new(Accumulate);
        for _ in 0..3 {
            layer.forward(&input, &mut output, Mode::Train);
            let grad = output.clone();
            layer.backward(&input, &output, &grad, None);
            optimizer.step(&mut layer);
        }
        layer.weight().clone()
    };
    let (one, two) = (run(1), run(2));
    set_num_threads(2).expect("thread count");
    assert_eq!(one, two);
    assert!(one.max_abs() > 0.0);
}
