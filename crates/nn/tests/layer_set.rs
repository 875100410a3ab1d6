//! Behaviour of the layers, losses and initializers that goldens cannot pin down alone:
//! dropout's randomness and modes, initializer statistics, the 0-1 loss, target errors.

use percept_linalg::Matrix;
use percept_nn::*;

/// 30 samples of 50 features, about 16% non-zero: below the density at which `Linear` takes
/// the sparse path itself.
fn mostly_zero_input() -> Matrix {
    Matrix::from_fn(30, 50, |r, c| if (r * 7 + c * 3) % 6 == 0 { (r + c) as f32 / 40.0 - 0.5 } else { 0.0 })
}

fn ones(rows: usize, cols: usize) -> Matrix {
    Matrix::filled(rows, cols, 1.0)
}

#[test]
fn dropout_drops_about_p_scales_the_rest_and_is_off_in_evaluation() {
    let x = ones(100, 100);
    let mut layer = Dropout::seeded(0.3, 7);
    let mut y = Matrix::default();
    layer.forward(&x, &mut y, Mode::Train);
    let dropped = y.as_slice().iter().filter(|&&v| v == 0.0).count() as f32 / 10_000.0;
    assert!((dropped - 0.3).abs() < 0.02, "dropped {dropped}");
    assert!(y.as_slice().iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    // Backward applies the same mask.
    let mut dx = Matrix::default();
    layer.backward(&x, &y, &ones(100, 100), Some(&mut dx));
    assert_eq!(dx, y);
    // Evaluation passes the input through, and so does its backward.
    layer.forward(&x, &mut y, Mode::Eval);
    assert_eq!(y, x);
    layer.backward(&x, &y, &ones(100, 100), Some(&mut dx));
    assert_eq!(dx, x);
}

#[test]
fn dropout_masks_follow_the_seed() {
    let x = ones(8, 16);
    let masks = |seed| {
        let mut layer = Dropout::seeded(0.5, seed);
        let mut y = Matrix::default();
        layer.forward(&x, &mut y, Mode::Train);
        let first = y.clone();
        layer.forward(&x, &mut y, Mode::Train);
        (first, y)
    };
    let (a1, a2) = masks(1);
    assert_eq!(masks(1), (a1.clone(), a2.clone()), "same seed, same masks");
    assert_ne!(a1, a2, "a new mask each step");
    assert_ne!(masks(2).0, a1, "another seed, another mask");
}

/// `Dropout::new` takes the run's seed: a model's layers seeded from one seed draw the same
/// masks every time, two layers of one model draw different ones, another seed gives other
/// masks, and a layer seeded by `Dropout::seeded` keeps its own seed whatever the run's.
#[test]
fn dropout_new_takes_the_run_seed_and_seeded_keeps_its_own() {
    let x = ones(16, 32);
    let run = |seed: u64| {
        let mut model = Sequential::new();
        model.add(Dropout::new(0.5)).and_then(|m| m.add(Dropout::new(0.5))).expect("chains");
        model.add(Dropout::seeded(0.5, 9)).expect("chains");
        model.seed_layers(seed);
        let specs = model.specs().expect("percept layers");
        // Each layer's mask, from a forward pass of the layer alone.
        let masks: Vec<Matrix> = model
            .layers_mut()
            .iter_mut()
            .map(|layer| {
                let mut y = Matrix::default();
                layer.forward(&x, &mut y, Mode::Train);
                y
            })
            .collect();
        (specs, masks)
    };
    let (specs, masks) = run(42);
    assert_eq!(run(42).1, masks, "one seed, the same masks");
    assert_ne!(masks[0], masks[1], "two layers of one run draw different masks");
    let (other_specs, other) = run(43);
    assert_ne!(other[0], masks[0], "another run seed, another mask");
    assert_eq!(other[2], masks[2], "a seeded layer ignores the run's seed");
    let seed_of = |spec: &LayerSpec| match spec {
        LayerSpec::Dropout { seed, .. } => *seed,
        other => panic!("not dropout: {other:?}"),
    };
    assert_eq!(seed_of(&specs[2]), 9);
    assert_eq!(seed_of(&other_specs[2]), 9);
    assert_ne!(seed_of(&specs[0]), seed_of(&other_specs[0]), "the run's seed is saved in the spec");

    // Seeded once, a layer keeps that seed: a second run seed does not restart its masks.
    let mut layer = Dropout::new(0.5);
    assert_eq!(layer.seed(), None);
    layer.seed_from_run(5);
    layer.seed_from_run(6);
    assert_eq!(layer.seed(), Some(5));
}

/// The masks are those of drawing one `f32` per element from the layer's generator, in
/// order, and dropping it when below `p` (PyTorch's `bernoulli_(1 - p)` rule): the
/// block-at-a-time draw changes no mask, for `p · 2²⁴` whole or not, lengths that are not a
/// whole number of blocks, and consecutive steps.
#[test]
fn dropout_masks_are_one_uniform_draw_per_element() {
    use rand::RngExt;
    for (p, seed) in [(0.5f32, 3u64), (0.3, 4), (0.1, 5), (0.25, 6), (0.9, 7), (0.0, 8)] {
        let x = ones(30, 37);
        let mut layer = Dropout::seeded(p, seed);
        let mut reference = seeded_rng(seed);
        let scale = 1.0 / (1.0 - p);
        let mut y = Matrix::default();
        for step in 0..3 {
            layer.forward(&x, &mut y, Mode::Train);
            for (i, &v) in y.as_slice().iter().enumerate() {
                let expected = if reference.random::<f32>() < p { 0.0 } else { scale };
                assert_eq!(v, expected, "p {p}, step {step}, element {i}");
            }
        }
    }
}

#[test]
#[should_panic(expected = "Dropout: p = 1 must be in [0, 1)")]
fn dropout_refuses_p_of_one() {
    let _ = Dropout::new(1.0);
}

/// Mean and standard deviation of a filled `[rows, cols]` matrix.
fn stats(init: Init, rows: usize, cols: usize, seed: u64) -> (f32, f32, f32) {
    let mut m = Matrix::zeros(rows, cols);
    init.fill(&mut m, rows, cols, &mut seeded_rng(seed));
    let n = m.len() as f64;
    let mean = m.as_slice().iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = m.as_slice().iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32, m.max_abs())
}

#[test]
fn initializers_have_the_documented_scale() {
    let (fan_in, fan_out) = (400, 200);
    let relu = gain(Nonlinearity::ReLU);
    let uniform_std = |bound: f32| bound / 3f32.sqrt();
    let cases = [
        (
            Init::XavierUniform { gain: 1.0 },
            uniform_std((6.0f32 / 600.0).sqrt()),
            Some((6.0f32 / 600.0).sqrt()),
        ),
        (Init::XavierNormal { gain: 2.0 }, 2.0 * (2.0f32 / 600.0).sqrt(), None),
        (
            Init::KaimingUniform { gain: relu },
            uniform_std(relu * (3.0f32 / 400.0).sqrt()),
            Some(relu * (3.0f32 / 400.0).sqrt()),
        ),
        (Init::KaimingNormal { gain: relu }, relu / 20.0, None),
        (Init::LessonNormal, 1.0 / 20.0, None),
        (Init::PytorchDefault, uniform_std(1.0 / 20.0), Some(1.0 / 20.0)),
    ];
    for (init, std, bound) in cases {
        let (mean, got_std, max) = stats(init, fan_in, fan_out, 3);
        assert!(mean.abs() < 0.02 * std.max(0.01), "{init:?}: mean {mean}");
        assert!((got_std / std - 1.0).abs() < 0.02, "{init:?}: std {got_std}, want {std}");
        if let Some(bound) = bound {
            assert!(max <= bound, "{init:?}: {max} beyond ±{bound}");
        }
        assert_eq!(stats(init, fan_in, fan_out, 3), (mean, got_std, max), "{init:?}: seeded");
    }
    assert_eq!(gain(Nonlinearity::LeakyReLU(0.0)), relu);
    assert_eq!(gain(Nonlinearity::Sigmoid), 1.0);
}

#[test]
fn the_zero_one_loss_counts_misclassified_samples() {
    let scores = Matrix::from_rows(&[[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]);
    assert_eq!(zero_one_loss(&scores, &[1, 0, 0, 1]), Ok(0.5));
    assert_eq!(zero_one_loss(&scores, &[1, 0, 1, 0]), Ok(0.0));
    assert!(matches!(zero_one_loss(&scores, &[1, 0, 2, 0]), Err(NnError::ClassOutOfRange { sample: 2, .. })));
}

#[test]
fn losses_refuse_targets_that_do_not_fit() {
    let two_columns = Matrix::from_rows(&[[0.2, 0.8], [0.6, 0.4]]);
    let one_column = Matrix::from_rows(&[[0.2], [0.6]]);
    // Binary cross-entropy takes classes only as 0/1 for a single output column.
    assert!(matches!(
        BinaryCrossEntropy.forward(&two_columns, Targets::Classes(&[0, 1])),
        Err(NnError::TargetKind { .. })
    ));
    assert!(matches!(
        BinaryCrossEntropyWithLogits.forward(&one_column, Targets::Classes(&[0, 2])),
        Err(NnError::ClassOutOfRange { sample: 1, class: 2, .. })
    ));
    assert!(BinaryCrossEntropyWithLogits.forward(&one_column, Targets::Classes(&[0, 1])).is_ok());
    // Class weights must cover every class.
    let mut weighted = SoftmaxCrossEntropy::new().class_weights(vec![1.0, 2.0, 3.0]);
    let err = weighted.forward(&two_columns, Targets::Classes(&[0, 1])).unwrap_err();
    assert!(err.to_string().contains("class weights"), "{err}");
    assert!(matches!(
        Hinge::default().forward(&two_columns, Targets::Values(&two_columns)),
        Err(NnError::TargetKind { .. })
    ));
}

#[test]
fn activations_describe_their_settings_and_chain_in_a_model() {
    let mut rng = seeded_rng(0);
    let mut model = Sequential::new();
    model
        .add(Linear::new(4, 8, &mut rng))
        .and_then(|m| m.add(BatchNorm1d::new(8)))
        .and_then(|m| m.add(LeakyReLU::new(0.2)))
        .and_then(|m| m.add(Dropout::seeded(0.1, 3)))
        .and_then(|m| m.add(Linear::new(8, 3, &mut rng)))
        .and_then(|m| m.add(LogSoftmax))
        .expect("sizes chain");
    let summary = model.to_string();
    for part in ["BatchNorm1d(8)", "LeakyReLU(0.2)", "Dropout(0.1)", "LogSoftmax"] {
        assert!(summary.contains(part), "{summary}");
    }
    assert_eq!(model.num_parameters(), 4 * 8 + 8 + 2 * 8 + 8 * 3 + 3);
    // A BatchNorm1d of the wrong width is refused when added, naming index, type and sizes.
    let err = model.add(BatchNorm1d::new(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer 6 (BatchNorm1d) expects 5 input features, but layer 5 (LogSoftmax) gives 3"
    );
}

/// A model fed a batch in sparse form computes what it computes from the same batch in
/// dense form (which its first `Linear` layer compacts itself): the same outputs, parameter
/// gradients and input gradient, bit for bit. A dense batch after a sparse one is used as
/// dense again.
#[test]
fn sparse_input_gives_the_dense_results() {
    use percept_linalg::{Par, SparseRows};
    let build = || {
        let mut rng = seeded_rng(3);
        let mut model = Sequential::new();
        model
            .add(Linear::new(50, 20, &mut rng))
            .unwrap()
            .add(ReLU)
            .unwrap()
            .add(Linear::new(20, 5, &mut rng))
            .unwrap();
        model
    };
    let input = mostly_zero_input();
    let output_grad = Matrix::from_fn(30, 5, |r, c| (r as f32 - c as f32) / 10.0);
    let run = |model: &mut Sequential, sparse: bool| {
        let output = if sparse {
            let mut rows = SparseRows::new();
            assert!(rows.try_from_dense(&input, 1.0, Par::current()));
            model.forward_sparse_swap(&mut rows, Mode::Train).unwrap().clone()
        } else {
            model.forward(&input, Mode::Train).unwrap().clone()
        };
        let input_grad = model.backward_with_input_grad(&output_grad).unwrap().clone();
        let mut grads = Vec::new();
        model.visit_parameters(&mut |p| grads.extend(p.grad.as_slice().iter().map(|g| g.to_bits())));
        let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        (bits(&output), bits(&input_grad), grads)
    };
    let (mut dense_model, mut sparse_model) = (build(), build());
    assert!(sparse_model.takes_sparse_input());
    assert_eq!(run(&mut sparse_model, true), run(&mut dense_model, false));

    // Then a dense batch (the dense product, 100% non-zero) on the model fed sparse before.
    let full = Matrix::from_fn(30, 50, |r, c| 0.5 + (r + c) as f32 / 100.0);
    let mut fresh = build();
    let grads_after = |model: &mut Sequential| {
        model.forward(&full, Mode::Train).unwrap();
        model.backward(&output_grad).unwrap();
        let mut grads = Vec::new();
        model.visit_parameters(&mut |p| grads.extend(p.grad.as_slice().iter().map(|g| g.to_bits())));
        grads
    };
    assert_eq!(grads_after(&mut sparse_model), grads_after(&mut fresh));
}

#[test]
fn sparse_input_errors_name_the_layer_and_shapes() {
    use percept_linalg::{Par, SparseRows};
    let mut rows = SparseRows::new();
    assert!(rows.try_from_dense(&Matrix::zeros(4, 6), 1.0, Par::Seq));
    let mut model = Sequential::new();
    model.add(ReLU).unwrap();
    assert!(!model.takes_sparse_input());
    let err = model.forward_sparse_swap(&mut rows, Mode::Eval).unwrap_err();
    assert_eq!(err, NnError::DenseInputOnly { layer: "ReLU".into() });
    assert_eq!(err.to_string(), "the input is sparse, but layer 0 (ReLU) takes only dense input");
    let mut model = Sequential::new();
    model.add(Linear::new(5, 2, &mut seeded_rng(0))).unwrap();
    let err = model.forward_sparse_swap(&mut rows, Mode::Eval).unwrap_err();
    assert_eq!(err.to_string(), "the input has shape [4, 6], but layer 0 (Linear) expects [batch, 5]");
}

/// A training batch of one sample cannot be normalized (it has no variance): the model says
/// which layer needs more and what it got, instead of panicking; evaluation takes one sample.
#[test]
fn batch_norm_needs_two_samples_in_training_and_says_so() {
    let mut model = Sequential::new();
    model.add(Linear::new(3, 4, &mut seeded_rng(0))).expect("layer");
    model.add(BatchNorm1d::new(4)).expect("layer");
    let err = model.forward(&ones(1, 3), Mode::Train).expect_err("one sample in training");
    assert!(
        matches!(err, NnError::TrainBatchTooSmall { index: 1, needed: 2, rows: 1, cols: 3, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("BatchNorm1d") && message.contains("[1, 3]") && message.contains("drop_last"),
        "{message}"
    );
    assert_eq!(model.forward(&ones(1, 3), Mode::Eval).expect("evaluation").shape(), [1, 4]);
    assert_eq!(model.forward(&ones(2, 3), Mode::Train).expect("two samples").shape(), [2, 4]);
}

/// `LayerNorm` normalizes each sample by itself: one sample trains, training and evaluation
/// agree, each output row has mean 0 and variance 1 before the affine step, and a sample's
/// output does not depend on the others in its batch (it would in a `BatchNorm1d`).
#[test]
fn layer_norm_works_per_sample() {
    let mut model = Sequential::new();
    model.add(Linear::new(3, 6, &mut seeded_rng(0))).expect("layer");
    model.add(LayerNorm::new(6)).expect("layer");
    let x = Matrix::from_rows(&[[0.5, -1.0, 2.0], [30.0, 10.0, -20.0], [0.0, 0.1, 0.0]]);
    let train = model.forward(&x, Mode::Train).expect("fits").clone();
    assert_eq!(model.forward(&x, Mode::Eval).expect("fits"), &train);
    for row in train.row_iter() {
        let mean = row.iter().sum::<f32>() / 6.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 6.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-3, "{row:?}: mean {mean}, variance {var}");
    }
    let first = model.forward(&Matrix::from_rows(&[[0.5, -1.0, 2.0]]), Mode::Train).expect("one sample");
    assert_eq!(first.row(0), train.row(0));
    let err = model.add(LayerNorm::new(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer 2 (LayerNorm) expects 5 input features, but layer 1 (LayerNorm) gives 6"
    );
}

/// A `Linear` followed by a `ReLU`, `Tanh`, `Sigmoid`, `LeakyReLU` or `ELU` runs fused (one pass each way): the
/// model's output, input gradient and every parameter gradient are the bits of running each
/// layer on its own, for an input the first layer takes sparse, a dense one, and a batch
/// handed over in sparse form. The model has a fused pair at the start, one at the end, and a
/// second activation in a row (which runs on its own).
#[test]
fn fused_activations_give_the_bits_of_separate_layers() {
    for activation in [
        FusedActivation::Relu,
        FusedActivation::Tanh,
        FusedActivation::Sigmoid,
        FusedActivation::LeakyRelu(0.01),
        FusedActivation::LeakyRelu(0.3),
        FusedActivation::Elu(1.0),
        FusedActivation::Elu(0.5),
    ] {
        fused_activation_gives_the_bits_of_separate_layers(activation);
    }
}

/// Which activation layers a `Linear` can take over: those whose derivative follows from their
/// output. A leaky ReLU of negative slope and an ELU of negative alpha are not among them (the
/// output's sign no longer tells the input's), nor GELU, SiLU, Softplus.
#[test]
fn activations_are_fusable_only_where_the_output_gives_the_derivative() {
    let cases: Vec<(Box<dyn Layer>, Option<FusedActivation>)> = vec![
        (Box::new(LeakyReLU::new(0.2)), Some(FusedActivation::LeakyRelu(0.2))),
        (Box::new(LeakyReLU::new(0.0)), Some(FusedActivation::LeakyRelu(0.0))),
        (Box::new(LeakyReLU::new(-0.5)), None),
        (Box::new(ELU::new(1.5)), Some(FusedActivation::Elu(1.5))),
        (Box::new(ELU::new(-1.0)), None),
        (Box::new(GELU::new()), None),
        (Box::new(SiLU), None),
        (Box::new(Softplus::default()), None),
    ];
    for (layer, want) in cases {
        assert_eq!(layer.fusable_activation(), want, "{}", layer.describe());
    }
    // In a model, a negative slope runs on its own and takes the derivative from the input:
    // with the weight 1 and the bias 0, x = -1 gives y = 0.5 > 0 but the slope -0.5.
    let mut model = Sequential::new();
    model.add(Linear::new(1, 1, &mut seeded_rng(1))).unwrap().add(LeakyReLU::new(-0.5)).unwrap();
    model.visit_parameters(&mut |p| {
        let value = if p.name == "weight" { 1.0 } else { 0.0 };
        p.value.as_mut_slice().fill(value);
    });
    let y = model.forward(&Matrix::from_rows(&[[-1.0], [2.0]]), Mode::Train).unwrap().clone();
    assert_eq!(y.as_slice(), [0.5, 2.0]);
    let input_grad = model.backward_with_input_grad(&ones(2, 1)).unwrap();
    assert_eq!(input_grad.as_slice(), [-0.5, 1.0]);
}

fn fused_activation_gives_the_bits_of_separate_layers(activation: FusedActivation) {
    use percept_linalg::{Par, SparseRows};
    let layer = || -> Box<dyn Layer> {
        match activation {
            FusedActivation::Relu => Box::new(ReLU),
            FusedActivation::Tanh => Box::new(Tanh),
            FusedActivation::LeakyRelu(slope) => Box::new(LeakyReLU::new(slope)),
            FusedActivation::Elu(alpha) => Box::new(ELU::new(alpha)),
            _ => Box::new(Sigmoid),
        }
    };
    let build = || {
        let mut rng = seeded_rng(3);
        let mut model = Sequential::new();
        model.add(Linear::new(50, 20, &mut rng)).unwrap();
        model.add_boxed(layer()).unwrap();
        model.add(Linear::new(20, 16, &mut rng)).unwrap();
        model.add_boxed(layer()).unwrap().add_boxed(layer()).unwrap();
        model.add(Linear::new(16, 5, &mut rng)).unwrap();
        model.add_boxed(layer()).unwrap();
        model
    };
    let sparse_input = mostly_zero_input();
    let dense_input = Matrix::from_fn(30, 50, |r, c| ((r * 13 + c * 7) % 17) as f32 / 8.0 - 1.0);
    // Signs of both kinds, so that masked gradients are ±0 as the ReLU layer makes them.
    let output_grad = Matrix::from_fn(30, 5, |r, c| (r as f32 - 3.0 * c as f32) / 10.0);
    let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for (input, handed_sparse) in [(&sparse_input, false), (&dense_input, false), (&sparse_input, true)] {
        let run = |fused: bool| {
            let mut model = build();
            model.set_fusion(fused);
            let output = if handed_sparse {
                let mut rows = SparseRows::new();
                assert!(rows.try_from_dense(input, 1.0, Par::current()));
                model.forward_sparse_swap(&mut rows, Mode::Train).unwrap().clone()
            } else {
                model.forward(input, Mode::Train).unwrap().clone()
            };
            let input_grad = model.backward_with_input_grad(&output_grad).unwrap().clone();
            let mut grads = Vec::new();
            model.visit_parameters(&mut |p| grads.push(bits(p.grad)));
            let eval = model.forward(input, Mode::Eval).unwrap().clone();
            (bits(&output), bits(&input_grad), grads, bits(&eval))
        };
        let (fused, separate) = (run(true), run(false));
        if activation == FusedActivation::Relu {
            assert!(fused.0.contains(&0) && fused.0.iter().any(|&b| b != 0), "some outputs clipped");
        }
        assert_eq!(fused, separate, "{activation:?}, sparse input {handed_sparse}");
    }
}

/// The activation layer that a `Linear` takes over does not run: not forward, not backward.
#[test]
fn a_fused_activation_layer_is_skipped() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// A ReLU that counts its calls.
    struct Counted(Arc<AtomicUsize>);
    impl Layer for Counted {
        fn name(&self) -> &'static str {
            "Counted"
        }
        fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode) {
            self.0.fetch_add(1, Ordering::Relaxed);
            ReLU.forward(input, output, mode);
        }
        fn backward(
            &mut self,
            input: &Matrix,
            output: &Matrix,
            grad: &Matrix,
            input_grad: Option<&mut Matrix>,
        ) {
            self.0.fetch_add(1, Ordering::Relaxed);
            ReLU.backward(input, output, grad, input_grad);
        }
        fn fusable_activation(&self) -> Option<FusedActivation> {
            Some(FusedActivation::Relu)
        }
    }
    for fused in [true, false] {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut rng = seeded_rng(0);
        let mut model = Sequential::new();
        model.add(Linear::new(4, 3, &mut rng)).unwrap().add(Counted(Arc::clone(&calls))).unwrap();
        model.set_fusion(fused);
        let output = model.forward(&ones(2, 4), Mode::Train).unwrap().clone();
        model.backward(&ones(2, 3)).unwrap();
        assert!(output.as_slice().iter().all(|&v| v >= 0.0));
        assert_eq!(calls.load(Ordering::Relaxed), if fused { 0 } else { 2 }, "fused: {fused}");
    }
}

/// A layer called directly (outside a `Sequential`) with an input of the wrong width panics
/// with its description and both shapes.
#[test]
fn layers_called_directly_name_themselves_and_the_shapes_on_a_wrong_width() {
    let mut rng = seeded_rng(0);
    let layers: Vec<(Box<dyn Layer>, &str)> = vec![
        (Box::new(LayerNorm::new(4)), "LayerNorm(4): input has shape [2, 3], expected [batch, 4]"),
        (Box::new(BatchNorm1d::new(4)), "BatchNorm1d(4): input has shape [2, 3], expected [batch, 4]"),
        (Box::new(Linear::new(4, 2, &mut rng)), "Linear(4 → 2): input has shape [2, 3], expected [batch, 4]"),
    ];
    for (mut layer, want) in layers {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            layer.forward(&Matrix::zeros(2, 3), &mut Matrix::default(), Mode::Train)
        }));
        let payload = result.expect_err("a wrong width panics");
        let message = payload.downcast_ref::<String>().expect("a formatted message");
        assert_eq!(message, want);
    }
}
