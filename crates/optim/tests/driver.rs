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

/// `backward_and_step` is `backward` followed by `step`, to the bit (parameters, gradients and
/// optimizer state after each step), for rules with no, one and two state buffers, on one
/// thread and on two. The model's first layer takes sparse input, dense and handed over
/// sparse, and updates its weight in blocks of rows inside its weight-gradient product; the other layers, a `BatchNorm1d` among them, are updated after their backward
/// pass.
#[test]
fn backward_and_step_equals_backward_then_step() {
    use percept_linalg::{Par, SparseRows, set_num_threads};
    use percept_nn::{BatchNorm1d, Parameters, ReLU, Sequential, seeded_rng};
    use percept_optim::Adam;
    let _ = set_num_threads(2);
    let build = || {
        let mut rng = seeded_rng(5);
        let mut model = Sequential::new();
        model
            .add(Linear::new(300, 64, &mut rng))
            .unwrap()
            .add(ReLU)
            .unwrap()
            .add(Linear::new(64, 32, &mut rng))
            .unwrap()
            .add(BatchNorm1d::new(32))
            .unwrap()
            .add(ReLU)
            .unwrap()
            .add(Linear::new(32, 10, &mut rng))
            .unwrap();
        model
    };
    // 256 samples, about 17% non-zero: the first layer's products run on both threads.
    let input = Matrix::from_fn(256, 300, |r, c| {
        if (r * 5 + c * 7) % 6 == 0 { ((r + 3 * c) % 13) as f32 / 13.0 } else { 0.0 }
    });
    let rules: [fn() -> Box<dyn UpdateRule>; 3] =
        [|| Box::new(Sgd::new(0.1)), || Box::new(Sgd::momentum(0.05, 0.9)), || Box::new(Adam::new(0.01))];
    let snapshot = |model: &mut Sequential, optimizer: &Optimizer| {
        let mut values = Vec::new();
        model.visit_parameters(&mut |p| {
            values.push(p.value.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            values.push(p.grad.as_slice().iter().map(|v| v.to_bits()).collect());
        });
        (values, optimizer.state())
    };
    for (threads, rule) in [1, 2].into_iter().flat_map(|t| rules.map(|rule| (t, rule))) {
        set_num_threads(threads).expect("thread count");
        let (mut separate, mut fused) = (build(), build());
        let (mut separate_optimizer, mut fused_optimizer) = (Optimizer::new(rule()), Optimizer::new(rule()));
        for step in 0..4 {
            let run = |model: &mut Sequential| {
                let output = if step % 2 == 0 {
                    model.forward(&input, Mode::Train).unwrap().clone()
                } else {
                    let mut rows = SparseRows::new();
                    assert!(rows.try_from_dense(&input, 0.25, Par::current()));
                    model.forward_sparse_swap(&mut rows, Mode::Train).unwrap().clone()
                };
                Matrix::from_fn(256, 10, |r, c| output.get(r, c) * 0.01 + ((r + c) % 3) as f32 * 0.02 - 0.02)
            };
            let grad = run(&mut separate);
            assert_eq!(grad, run(&mut fused));
            separate.backward(&grad).unwrap();
            separate_optimizer.step(&mut separate);
            fused_optimizer.backward_and_step(&mut fused, &grad).unwrap();
            let name = separate_optimizer.rule().name();
            assert_eq!(
                snapshot(&mut separate, &separate_optimizer),
                snapshot(&mut fused, &fused_optimizer),
                "{name} on {threads} threads, step {step}"
            );
        }
        assert_eq!(fused_optimizer.steps(), 4);
    }
    set_num_threads(2).expect("thread count");
}

/// A backward pass that cannot run (no forward pass before it) is an error, and the optimizer
/// neither counts a step nor changes anything.
#[test]
fn backward_and_step_before_a_forward_pass_is_an_error() {
    use percept_nn::{NnError, Parameters, Sequential, seeded_rng};
    let mut model = Sequential::new();
    model.add(Linear::new(3, 2, &mut seeded_rng(0))).unwrap();
    let values = |model: &mut Sequential| {
        let mut values = Vec::new();
        model.visit_parameters(&mut |p| values.extend_from_slice(p.value.as_slice()));
        values
    };
    let before = values(&mut model);
    let mut optimizer = Optimizer::new(Sgd::new(0.1));
    let err =
        optimizer.backward_and_step(&mut model, &Matrix::from_fn(1, 2, |_, c| c as f32 + 1.0)).unwrap_err();
    assert_eq!(err, NnError::BackwardBeforeForward);
    assert_eq!(optimizer.steps(), 0);
    assert_eq!(values(&mut model), before);
}

/// The driver hands a rule a parameter in pieces, asking for write access to the next piece
/// while the rule updates one: the same bits as one call of the rule on the whole parameter,
/// state included, with an uneven last piece, for rules with one and two state buffers.
#[test]
fn an_update_in_pieces_equals_one_call_on_the_whole() {
    use percept_optim::Adam;
    let (rows, cols) = (3, 701); // 2103 values: several pieces and a short last one
    let rules: [fn() -> Box<dyn UpdateRule>; 2] =
        [|| Box::new(Sgd::momentum(0.05, 0.9)), || Box::new(Adam::new(0.01))];
    for make in rules {
        let weight = Matrix::from_fn(rows, cols, |r, c| ((r * 13 + c * 7) % 19) as f32 * 0.1 - 0.9);
        let mut reference = weight.as_slice().to_vec();
        let mut layer = Linear::from_parameters(weight, Matrix::zeros(1, cols));
        let (mut optimizer, rule) = (Optimizer::new(make()), make());
        let mut state = vec![vec![0.0f32; rows * cols]; rule.state_buffers()];
        for step in 1..=3 {
            let grad =
                Matrix::from_fn(rows, cols, |r, c| ((r * 31 + c * 17 + step * 5) % 23) as f32 * 0.1 - 1.1);
            step_with_weight_grad(&mut optimizer, &mut layer, &grad);
            let mut pieces: Vec<&mut [f32]> = state.iter_mut().map(Vec::as_mut_slice).collect();
            rule.update(step as u64, &mut reference, grad.as_slice(), &mut pieces);
        }
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(layer.weight().as_slice()), bits(&reference), "{}", rule.name());
        assert_ne!(bits(&reference), bits(&vec![0.0; rows * cols]));
    }
}

/// A rule that halves every value whatever its gradient, and claims (wrongly) that a zero
/// gradient changes nothing: what the driver skips shows.
struct HalveClaimingZerosAreNoOps;

impl UpdateRule for HalveClaimingZerosAreNoOps {
    fn name(&self) -> &'static str {
        "HalveClaimingZerosAreNoOps"
    }
    fn learning_rate(&self) -> f32 {
        1.0
    }
    fn set_learning_rate(&mut self, _: f32) {}
    fn zero_gradient_changes_nothing(&self) -> bool {
        true
    }
    fn update(&self, _step: u64, value: &mut [f32], _grad: &[f32], _state: &mut [&mut [f32]]) {
        value.iter_mut().for_each(|v| *v *= 0.5);
    }
}

/// Sets a layer's weight gradient to `grad` and its bias gradient to zero, then takes one
/// step.
fn step_with_weight_grad(optimizer: &mut Optimizer<Box<dyn UpdateRule>>, layer: &mut Linear, grad: &Matrix) {
    Layer::visit_parameters(layer, &mut |p| {
        if p.name == "weight" {
            p.grad.as_mut_slice().copy_from_slice(grad.as_slice());
        } else {
            p.grad.as_mut_slice().fill(0.0);
        }
    });
    optimizer.step(layer);
}

/// Rows 1, 2 and 4 of the gradient are all +0.0, row 3 all −0.0, the others not zero.
fn gradient_with_zero_rows(rows: usize, cols: usize) -> Matrix {
    Matrix::from_fn(rows, cols, |r, c| match r {
        1 | 2 | 4 => 0.0,
        3 => -0.0,
        _ => ((r * 7 + c * 3) % 11) as f32 * 0.1 - 0.5,
    })
}

/// The driver skips a piece whose gradient is all +0.0 exactly when the rule says that
/// changes nothing: rows of +0.0 are left alone under such a rule, the row of −0.0 is not.
#[test]
fn pieces_of_zero_gradient_are_skipped_when_the_rule_allows() {
    let (rows, cols) = (6, 512);
    let weight = Matrix::from_fn(rows, cols, |r, c| (r * cols + c) as f32 + 1.0);
    let mut layer = Linear::from_parameters(weight.clone(), Matrix::zeros(1, cols));
    let mut optimizer: Optimizer<Box<dyn UpdateRule>> = Optimizer::new(Box::new(HalveClaimingZerosAreNoOps));
    step_with_weight_grad(&mut optimizer, &mut layer, &gradient_with_zero_rows(rows, cols));
    for r in 0..rows {
        let skipped = matches!(r, 1 | 2 | 4);
        for (got, was) in layer.weight().row(r).iter().zip(weight.row(r)) {
            assert_eq!(*got, if skipped { *was } else { was * 0.5 }, "row {r}");
        }
    }
}

/// SGD skips zero rows only where that gives the same bits as updating them: plain SGD with
/// values that `w − lr · 0` must keep as they are (−0.0, infinities, NaN, a subnormal), and
/// SGD with weight decay, momentum or an infinite learning rate, whose zero-gradient rows still
/// move, against one call of the rule on the whole parameter per step. The first step's
/// gradient is not zero in those rows (but is in the special values' columns), so that
/// momentum has something to carry into the second.
#[test]
fn sgd_skips_zero_gradients_only_where_nothing_changes() {
    let (rows, cols) = (6, 512);
    let specials = [-0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, 3.5];
    let weight = Matrix::from_fn(rows, cols, |r, c| {
        if c < specials.len() { specials[c] } else { ((r * 5 + c) % 13) as f32 * 0.25 - 1.5 }
    });
    let second = gradient_with_zero_rows(rows, cols);
    let first =
        Matrix::from_fn(
            rows,
            cols,
            |r, c| if c < specials.len() { 0.0 } else { 0.1 + (r + c) as f32 * 1e-3 },
        );
    let rules: [fn() -> Box<dyn UpdateRule>; 4] = [
        || Box::new(Sgd::new(0.1)),
        || Box::new(Sgd { weight_decay: 0.01, ..Sgd::new(0.1) }),
        || Box::new(Sgd::momentum(0.1, 0.9)),
        || Box::new(Sgd::new(f32::INFINITY)),
    ];
    let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for make in rules {
        let rule = make();
        let mut layer = Linear::from_parameters(weight.clone(), Matrix::zeros(1, cols));
        let mut optimizer = Optimizer::new(make());
        let mut reference = weight.as_slice().to_vec();
        let mut state = vec![vec![0.0f32; rows * cols]; rule.state_buffers()];
        let mut before_second = Vec::new();
        for (step, grad) in [(1, &first), (2, &second)] {
            before_second = reference.clone();
            step_with_weight_grad(&mut optimizer, &mut layer, grad);
            let mut pieces: Vec<&mut [f32]> = state.iter_mut().map(Vec::as_mut_slice).collect();
            rule.update(step, &mut reference, grad.as_slice(), &mut pieces);
        }
        assert_eq!(bits(layer.weight().as_slice()), bits(&reference), "{:?}", rule.name());
        let row_2 = cols * 2..cols * 3;
        let zero_row_moved = bits(&reference[row_2.clone()]) != bits(&before_second[row_2]);
        assert_eq!(zero_row_moved, !rule.zero_gradient_changes_nothing(), "{:?}", rule.name());
    }
}
