//! Every layer and loss against finite differences, and proof that the checker catches a
//! wrong backward pass.

use percept_linalg::{Matrix, argmax};
use percept_nn::gradcheck::{Options, check_layer, check_loss, check_model};
use percept_nn::*;
use rand::RngExt;

/// A random `[rows, cols]` input whose entries stay at least 0.1 away from 0, so ReLU's kink
/// is never inside a finite-difference step.
fn input(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = seeded_rng(seed);
    Matrix::from_fn(rows, cols, |_, _| {
        let magnitude = rng.random_range(0.1f32..2.0);
        if rng.random::<bool>() { magnitude } else { -magnitude }
    })
}

fn probabilities(rows: usize, cols: usize, seed: u64) -> Matrix {
    let logits = input(rows, cols, seed);
    let mut p = Matrix::zeros(rows, cols);
    percept_linalg::softmax_rows(&mut p, &logits, percept_linalg::Par::Seq);
    p
}

/// Values in `(0.05, 0.95)`, for binary cross-entropy on probabilities.
fn unit_interval(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = seeded_rng(seed);
    Matrix::from_fn(rows, cols, |_, _| rng.random_range(0.05f32..0.95))
}

fn assert_passes(report: gradcheck::Report) {
    assert!(report.passed(), "gradient check failed:\n{report}");
    assert!(!report.comparisons.is_empty());
}

#[test]
fn every_layer_passes_the_gradient_check() {
    let mut rng = seeded_rng(7);
    let options = Options::default();
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Linear::new(5, 3, &mut rng)),
        Box::new(Linear::lesson(5, 4, &mut rng)),
        Box::new(ReLU),
        Box::new(Tanh),
        Box::new(Sigmoid),
        Box::new(Softmax),
        Box::new(LeakyReLU::new(0.1)),
        Box::new(ELU::new(0.7)),
        Box::new(GELU::new()),
        Box::new(GELU::tanh()),
        Box::new(Softplus::default()),
        Box::new(Softplus { beta: 2.0, threshold: 1.0 }),
        Box::new(SiLU),
        Box::new(LogSoftmax),
        Box::new(BatchNorm1d::new(5)),
        Box::new(LayerNorm::new(5)),
        Box::new(Normalization::with_statistics(
            vec![0.5, -1.0, 2.0, 0.0, 3.0],
            vec![4.0, 0.25, 1.0, 0.0, 9.0],
        )),
        Box::new(ReseededDropout(Dropout::seeded(0.3, 1))),
    ];
    for (i, layer) in layers.iter_mut().enumerate() {
        let report = check_layer(layer.as_mut(), &input(4, 5, i as u64), &options);
        assert_passes(report);
    }
}

/// Dropout with the same mask on every forward pass (its generator restarted each time), so
/// that finite differences see one fixed function.
struct ReseededDropout(Dropout);

impl Layer for ReseededDropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode) {
        self.0.reseed(42);
        self.0.forward(input, output, mode);
        assert!(self.0.mask().as_slice().contains(&0.0), "some elements are dropped");
    }
    fn backward(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        self.0.backward(input, output, output_grad, input_grad);
    }
}

#[test]
fn batch_norm_check_covers_its_affine_parameters() {
    let mut layer = BatchNorm1d::new(3);
    layer.set_affine(&[1.5, -0.5, 0.8], &[0.1, 0.2, -0.3]);
    let report = check_layer(&mut layer, &input(6, 3, 21), &Options::default());
    let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["input", "BatchNorm1d(3) weight", "BatchNorm1d(3) bias"]);
    assert_passes(report);
}

#[test]
fn layer_norm_check_covers_its_affine_parameters() {
    let mut layer = LayerNorm::new(3);
    layer.set_affine(&[1.5, -0.5, 0.8], &[0.1, 0.2, -0.3]);
    let report = check_layer(&mut layer, &input(6, 3, 22), &Options::default());
    let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["input", "LayerNorm(3) weight", "LayerNorm(3) bias"]);
    assert_passes(report);
}

#[test]
fn linear_check_covers_weight_and_bias() {
    let mut layer = Linear::new(3, 2, &mut seeded_rng(1));
    let report = check_layer(&mut layer, &input(6, 3, 2), &Options::default());
    let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["input", "Linear(3 → 2) weight", "Linear(3 → 2) bias"]);
    assert_passes(report);
}

#[test]
fn every_loss_passes_the_gradient_check() {
    let options = Options::default();
    let classes = [2, 0, 1, 2, 1];
    let values = input(5, 3, 11);
    let binary = Matrix::from_fn(5, 3, |r, c| ((r + 2 * c) % 3) as f32 / 2.0);
    // Mae's kink is at prediction == target; random values are far from it.
    let cases: Vec<(Box<dyn Loss>, Matrix, Targets<'_>)> = vec![
        (Box::new(CrossEntropy), probabilities(5, 3, 3), Targets::Classes(&classes)),
        (Box::new(SoftmaxCrossEntropy::new()), input(5, 3, 4), Targets::Classes(&classes)),
        (Box::new(Mse), input(5, 3, 5), Targets::Values(&values)),
        (Box::new(Mse), input(5, 3, 6), Targets::Classes(&classes)),
        (Box::new(Mae), input(5, 3, 7), Targets::Values(&values)),
        (Box::new(Huber::new(0.5)), input(5, 3, 12), Targets::Values(&values)),
        (Box::new(Sum(Huber::new(1.0))), input(5, 3, 13), Targets::Values(&values)),
        (Box::new(BinaryCrossEntropy), unit_interval(5, 3, 14), Targets::Values(&binary)),
        (Box::new(BinaryCrossEntropyWithLogits), input(5, 3, 15), Targets::Values(&binary)),
        (Box::new(BinaryCrossEntropyWithLogits), input(5, 1, 16), Targets::Classes(&[1, 0, 0, 1, 1])),
        (Box::new(NllLoss), input(5, 3, 17), Targets::Classes(&classes)),
        (Box::new(Hinge::new(1.0)), input(5, 3, 18), Targets::Classes(&classes)),
        (
            Box::new(SoftmaxCrossEntropy::new().label_smoothing(0.1)),
            input(5, 3, 19),
            Targets::Classes(&classes),
        ),
        (
            Box::new(Sum(SoftmaxCrossEntropy::new().class_weights(vec![1.0, 2.0, 0.5]).label_smoothing(0.2))),
            input(5, 3, 20),
            Targets::Classes(&classes),
        ),
    ];
    for (mut loss, prediction, targets) in cases {
        // -ln p curves sharply for small probabilities: a smaller step keeps truncation error
        // (∝ ε²/p³) below the tolerance.
        let options = if matches!(loss.name(), "CrossEntropy" | "BinaryCrossEntropy") {
            Options { epsilon: 1e-3, ..options }
        } else {
            options
        };
        assert_passes(check_loss(loss.as_mut(), &prediction, targets, &options).expect("targets fit"));
    }
}

#[test]
fn whole_models_pass_the_gradient_check() {
    let mut rng = seeded_rng(3);
    let options = Options::default();
    let classes = [0, 1, 1, 0];

    // The lesson's network: Linear-Tanh-Linear-Softmax with CrossEntropy on probabilities.
    let mut lesson = Sequential::new();
    lesson
        .add(Linear::lesson(2, 10, &mut rng))
        .and_then(|m| m.add(Tanh))
        .and_then(|m| m.add(Linear::lesson(10, 2, &mut rng)))
        .and_then(|m| m.add(Softmax))
        .expect("sizes chain");
    let report =
        check_model(&mut lesson, &mut CrossEntropy, &input(4, 2, 8), Targets::Classes(&classes), &options);
    assert_passes(report.expect("shapes fit"));

    // Training's default: logits into the fused loss, with a sigmoid hidden layer.
    let mut mlp = Sequential::new();
    mlp.add(Linear::new(3, 6, &mut rng))
        .and_then(|m| m.add(Sigmoid))
        .and_then(|m| m.add(Linear::new(6, 2, &mut rng)))
        .expect("sizes chain");
    let report = check_model(
        &mut mlp,
        &mut SoftmaxCrossEntropy::new(),
        &input(4, 3, 9),
        Targets::Classes(&classes),
        &options,
    );
    assert_passes(report.expect("shapes fit"));

    // Regression with ReLU and squared error.
    let mut regression = Sequential::new();
    regression
        .add(Linear::new(2, 5, &mut rng))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(Linear::new(5, 1, &mut rng)))
        .expect("sizes chain");
    let targets = input(4, 1, 10);
    let report =
        check_model(&mut regression, &mut Mse, &input(4, 2, 12), Targets::Values(&targets), &options);
    assert_passes(report.expect("shapes fit"));
}

/// A layer whose backward pass is wrong on purpose: it wraps a real layer and scales the
/// gradients it reports.
struct Miscalibrated<L> {
    inner: L,
    input_scale: f32,
    parameter_scale: f32,
    scaled: Vec<Matrix>,
}

impl<L: Layer> Layer for Miscalibrated<L> {
    fn name(&self) -> &'static str {
        "Miscalibrated"
    }
    fn in_features(&self) -> Option<usize> {
        self.inner.in_features()
    }
    fn out_features(&self, in_features: usize) -> usize {
        self.inner.out_features(in_features)
    }
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode) {
        self.inner.forward(input, output, mode);
    }
    fn backward(
        &mut self,
        input: &Matrix,
        output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let has_input_grad = input_grad.is_some();
        let mut local = Matrix::default();
        self.inner.backward(input, output, output_grad, Some(&mut local));
        if has_input_grad {
            let input_grad = input_grad.expect("checked above");
            input_grad.copy_from(&local);
            input_grad.as_mut_slice().iter_mut().for_each(|g| *g *= self.input_scale);
        }
        self.scaled.clear();
        let scale = self.parameter_scale;
        let mut scaled = Vec::new();
        self.inner.visit_parameters(&mut |p| {
            let mut g = p.grad.clone();
            g.as_mut_slice().iter_mut().for_each(|v| *v *= scale);
            scaled.push(g);
        });
        self.scaled = scaled;
    }
    fn visit_parameters(&mut self, visitor: &mut dyn FnMut(Param<'_>)) {
        let scaled = &mut self.scaled;
        let mut i = 0;
        self.inner.visit_parameters(&mut |p| {
            visitor(Param { name: p.name, value: p.value, grad: &mut scaled[i] });
            i += 1;
        });
    }
}

#[test]
fn the_checker_catches_a_scaled_input_gradient() {
    let mut bad = Miscalibrated { inner: Tanh, input_scale: 1.1, parameter_scale: 1.0, scaled: Vec::new() };
    let report = check_layer(&mut bad, &input(4, 5, 1), &Options::default());
    assert!(!report.passed(), "a 10% error went unnoticed:\n{report}");
    assert!(!report.comparisons[0].passed, "the input gradient should be the one flagged");
}

#[test]
fn the_checker_catches_a_scaled_weight_gradient() {
    let mut bad = Miscalibrated {
        inner: Linear::new(4, 3, &mut seeded_rng(2)),
        input_scale: 1.0,
        parameter_scale: 0.9,
        scaled: Vec::new(),
    };
    let report = check_layer(&mut bad, &input(4, 4, 2), &Options::default());
    assert!(report.comparisons[0].passed, "the input gradient is right:\n{report}");
    assert!(!report.comparisons[1].passed, "the weight gradient is 10% off:\n{report}");
    assert!(!report.passed());
}

#[test]
fn the_checker_catches_a_wrong_loss_gradient() {
    /// Mse whose gradient forgot the factor 2.
    struct HalfMse;
    impl Loss for HalfMse {
        fn name(&self) -> &'static str {
            "HalfMse"
        }
        fn forward(&mut self, prediction: &Matrix, targets: Targets<'_>) -> Result<f32, NnError> {
            Mse.forward(prediction, targets)
        }
        fn backward(
            &mut self,
            prediction: &Matrix,
            targets: Targets<'_>,
            grad: &mut Matrix,
        ) -> Result<(), NnError> {
            Mse.backward(prediction, targets, grad)?;
            grad.as_mut_slice().iter_mut().for_each(|g| *g *= 0.5);
            Ok(())
        }
    }
    let targets = input(3, 2, 4);
    let report = check_loss(&mut HalfMse, &input(3, 2, 5), Targets::Values(&targets), &Options::default());
    assert!(!report.expect("shapes fit").passed());
}

#[test]
fn sequential_refuses_layers_that_do_not_chain() {
    let mut rng = seeded_rng(0);
    let mut model = Sequential::new();
    model.add(Linear::new(784, 128, &mut rng)).and_then(|m| m.add(ReLU)).expect("chains");
    let err = model.add(Linear::new(100, 10, &mut rng)).unwrap_err();
    assert_eq!(
        err,
        NnError::LayerSizeMismatch {
            index: 2,
            layer: "Linear".into(),
            expected: 100,
            got: 128,
            previous: "layer 1 (ReLU)".into(),
        }
    );
    assert_eq!(err.to_string(), "layer 2 (Linear) expects 100 input features, but layer 1 (ReLU) gives 128");
    assert_eq!(model.len(), 2, "the refused layer is not added");
}

#[test]
fn sequential_reports_bad_inputs_and_gradients() {
    let mut rng = seeded_rng(0);
    let mut model = Sequential::new();
    model.add(Tanh).and_then(|m| m.add(Linear::new(3, 2, &mut rng))).expect("chains");
    assert_eq!(model.in_features(), Some(3));
    assert_eq!(model.backward(&Matrix::zeros(1, 2)), Err(NnError::BackwardBeforeForward));
    let err = model.forward(&Matrix::zeros(4, 5), Mode::Eval).unwrap_err();
    assert_eq!(err.to_string(), "the input has shape [4, 5], but layer 1 (Linear) expects [batch, 3]");
    model.forward(&Matrix::zeros(4, 3), Mode::Eval).expect("right shape");
    let err = model.backward(&Matrix::zeros(4, 3)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backward got an output gradient of shape [4, 3], but the last forward pass produced [4, 2] \
         (the output of layer 1, Linear)"
    );
}

#[test]
fn losses_report_targets_that_do_not_fit() {
    let prediction = Matrix::zeros(2, 3);
    assert_eq!(
        SoftmaxCrossEntropy::new().forward(&prediction, Targets::Classes(&[0, 3])),
        Err(NnError::ClassOutOfRange { loss: "SoftmaxCrossEntropy", sample: 1, class: 3, classes: 3 })
    );
    assert_eq!(
        CrossEntropy.forward(&prediction, Targets::Classes(&[0])),
        Err(NnError::TargetShape { loss: "CrossEntropy", prediction: [2, 3], targets: [1, 1] })
    );
    assert_eq!(
        Mse.forward(&prediction, Targets::Values(&Matrix::zeros(2, 2))),
        Err(NnError::TargetShape { loss: "Mse", prediction: [2, 3], targets: [2, 2] })
    );
    assert_eq!(
        SoftmaxCrossEntropy::new().forward(&prediction, Targets::Values(&prediction)),
        Err(NnError::TargetKind { loss: "SoftmaxCrossEntropy", needs: "class labels" })
    );
}

#[test]
fn the_summary_shows_layers_shapes_and_parameter_counts() {
    let mut rng = seeded_rng(0);
    let mut model = Sequential::new();
    model
        .add(Linear::new(784, 128, &mut rng))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(Linear::new(128, 10, &mut rng)))
        .expect("chains");
    let summary = model.to_string();
    assert!(summary.contains("Linear(784 → 128)"), "{summary}");
    assert!(summary.contains("[batch, 128]"), "{summary}");
    assert!(summary.contains("100,480"), "{summary}");
    assert!(summary.contains("1,290"), "{summary}");
    assert!(summary.ends_with("total parameters: 101,770"), "{summary}");
    assert_eq!(model.num_parameters(), 101_770);
}

#[test]
fn initializers_have_the_documented_spread() {
    let mut rng = seeded_rng(5);
    let fan_in = 400;
    let lesson = Linear::lesson(fan_in, 300, &mut rng);
    let w = lesson.weight().as_slice();
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
    let std = (w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    let want = 1.0 / (fan_in as f64).sqrt();
    assert!(mean.abs() < 0.002, "mean {mean}");
    assert!((std / want - 1.0).abs() < 0.02, "std {std}, want {want}");
    assert!(lesson.bias().as_slice().iter().all(|&b| b == 0.0));

    let torch = Linear::new(fan_in, 300, &mut rng);
    let bound = want as f32;
    assert!(torch.weight().as_slice().iter().all(|v| v.abs() <= bound));
    assert!(torch.weight().max_abs() > 0.99 * bound, "uniform should reach near its bound");
    assert!(torch.bias().as_slice().iter().all(|v| v.abs() <= bound));

    // Same seed, same weights.
    let a = Linear::new(10, 10, &mut seeded_rng(9));
    let b = Linear::new(10, 10, &mut seeded_rng(9));
    assert_eq!(a.weight(), b.weight());
}

#[test]
fn linear_sparse_path_matches_a_naive_product_and_the_gradient_check() {
    // 90% zeros: well under SPARSE_INPUT_MAX_DENSITY, so forward and backward skip them.
    let mut rng = seeded_rng(21);
    let input =
        Matrix::from_fn(
            9,
            70,
            |_, _| if rng.random::<f32>() < 0.1 { rng.random_range(-1.0f32..1.0) } else { 0.0 },
        );
    let mut layer = Linear::new(70, 67, &mut rng);
    let mut output = Matrix::default();
    layer.forward(&input, &mut output, Mode::Train);
    let grad = Matrix::from_fn(9, 67, |r, c| ((r * 7 + c) % 11) as f32 * 0.1 - 0.5);
    let mut input_grad = Matrix::default();
    layer.backward(&input, &output, &grad, Some(&mut input_grad));
    let (weight, bias) = (layer.weight(), layer.bias());
    for i in 0..9 {
        for o in 0..67 {
            let want: f64 = bias.get(0, o) as f64
                + (0..70).map(|j| input.get(i, j) as f64 * weight.get(j, o) as f64).sum::<f64>();
            assert!((output.get(i, o) as f64 - want).abs() < 1e-5, "output ({i}, {o})");
        }
    }
    for j in 0..70 {
        for o in 0..67 {
            let want: f64 = (0..9).map(|i| input.get(i, j) as f64 * grad.get(i, o) as f64).sum();
            assert!((layer.weight_grad().get(j, o) as f64 - want).abs() < 1e-5, "weight gradient ({j}, {o})");
        }
    }
    // Perturbing a zero makes it non-zero; the sparse path must follow that too.
    let small_input =
        Matrix::from_fn(4, 12, |r, c| if (r + c) % 5 == 0 { 0.5 + r as f32 * 0.1 } else { 0.0 });
    let report = check_layer(&mut Linear::new(12, 5, &mut rng), &small_input, &Options::default());
    assert_passes(report);
}

/// Rows of 70 classes, where `forward` takes the exponentials in pieces of 32: the same loss
/// as `forward_backward`, to the bit. One row at a time, with the right class well ahead (a
/// loss near 0.4), so that the loss is the row's own and a different last bit of its sum of
/// exponentials shows in it.
#[test]
fn softmax_cross_entropy_forward_equals_fused_on_wide_rows() {
    for r in 0..20 {
        let class = (r * 13) % 70;
        let logits = Matrix::from_fn(1, 70, |_, c| {
            if c == class { 0.0 } else { -6.0 + ((r * 31 + c * 17) % 97) as f32 / 50.0 }
        });
        let mut loss = SoftmaxCrossEntropy::new();
        let value = loss.forward(&logits, Targets::Classes(&[class])).expect("fits");
        let mut grad = Matrix::default();
        let fused = loss.forward_backward(&logits, Targets::Classes(&[class]), &mut grad).expect("fits");
        assert_eq!(value.to_bits(), fused.to_bits(), "row {r}: {value} against {fused}");
    }
}

#[test]
fn forward_backward_equals_forward_then_backward_bit_for_bit() {
    let classes = [2, 0, 1, 2, 1];
    let values = input(5, 3, 11);
    // 3,000 logits: above the size where SoftmaxCrossEntropy splits rows over threads.
    let many_classes: Vec<usize> = (0..300).map(|i| (i * 7) % 10).collect();
    let cases: Vec<(Box<dyn Loss>, Matrix, Targets<'_>)> = vec![
        (Box::new(SoftmaxCrossEntropy::new()), input(5, 3, 4), Targets::Classes(&classes)),
        (Box::new(SoftmaxCrossEntropy::new()), input(300, 10, 6), Targets::Classes(&many_classes)),
        (Box::new(CrossEntropy), probabilities(5, 3, 3), Targets::Classes(&classes)),
        (Box::new(Mse), input(5, 3, 5), Targets::Values(&values)),
    ];
    for (mut loss, prediction, targets) in cases {
        let value = loss.forward(&prediction, targets).expect("fits");
        let mut grad = Matrix::default();
        loss.backward(&prediction, targets, &mut grad).expect("fits");
        let mut fused_grad = Matrix::filled(1, 1, f32::NAN);
        let fused = loss.forward_backward(&prediction, targets, &mut fused_grad).expect("fits");
        assert_eq!(fused.to_bits(), value.to_bits(), "{} loss", loss.name());
        assert_eq!(fused_grad, grad, "{} gradient", loss.name());
        // The counting form: the same loss and gradient bits, and the count where given.
        let mut counted_grad = Matrix::filled(1, 1, f32::NAN);
        let (counted, hits) =
            loss.forward_backward_hits(&prediction, targets, &mut counted_grad).expect("fits");
        assert_eq!((counted.to_bits(), &counted_grad), (value.to_bits(), &grad), "{} counting", loss.name());
        if let (Some(hits), Targets::Classes(classes)) = (hits, targets) {
            let want = classes.iter().enumerate().filter(|&(i, &c)| argmax(prediction.row(i)) == c).count();
            assert_eq!(hits, want, "{} hits", loss.name());
        }
    }
    // Hits are counted by `argmax` (the first of tied logits: rows 0, 2 and 3 are right), by the
    // plain softmax cross-entropy only.
    let tied = Matrix::from_rows(&[[1.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.0, 3.0, 3.0], [-1.0, -2.0, -3.0]]);
    let tied_classes = [0, 1, 1, 0];
    let mut grad = Matrix::default();
    let count = |loss: &mut dyn Loss, grad: &mut Matrix| {
        loss.forward_backward_hits(&tied, Targets::Classes(&tied_classes), grad).expect("fits").1
    };
    assert_eq!(count(&mut SoftmaxCrossEntropy::new(), &mut grad), Some(3));
    assert_eq!(count(&mut SoftmaxCrossEntropy::new().label_smoothing(0.1), &mut grad), None);
    assert_eq!(count(&mut CrossEntropy, &mut grad), None);
    let err = SoftmaxCrossEntropy::new().forward_backward(
        &Matrix::zeros(1, 2),
        Targets::Classes(&[5]),
        &mut Matrix::default(),
    );
    assert!(matches!(err, Err(NnError::ClassOutOfRange { .. })));
}
