//! Each layer's and each loss's forward and backward pass, and one whole training step, at
//! MNIST shapes, with FLOPs (or elements, for elementwise layers and losses) as throughput.
//!
//! ```text
//! cargo bench --bench layers
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use percept::linalg::Matrix;
use percept::prelude::*;
use rand::RngExt;

fn random(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = seeded_rng(seed);
    Matrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0f32..1.0))
}

/// (batch, in_features, out_features)
const LINEAR_SHAPES: &[(usize, usize, usize)] =
    &[(64, 784, 128), (64, 128, 10), (256, 784, 128), (256, 128, 10), (64, 784, 512), (64, 512, 256)];

fn linear(c: &mut Criterion) {
    let mut group = c.benchmark_group("Linear");
    for &(batch, inputs, outputs) in LINEAR_SHAPES {
        let name = format!("b{batch} {inputs}->{outputs}");
        let mut layer = Linear::new(inputs, outputs, &mut seeded_rng(0));
        let input = random(batch, inputs, 1);
        let grad = random(batch, outputs, 2);
        let mut output = Matrix::default();
        let mut input_grad = Matrix::default();
        let flops = (2 * batch * inputs * outputs) as u64;
        group.throughput(Throughput::Elements(flops));
        group.bench_function(BenchmarkId::new("forward", &name), |b| {
            b.iter(|| layer.forward(&input, &mut output, Mode::Train))
        });
        group.throughput(Throughput::Elements(2 * flops));
        group.bench_function(BenchmarkId::new("backward", &name), |b| {
            b.iter(|| layer.backward(&input, &output, &grad, Some(&mut input_grad)))
        });
    }
    group.finish();
}

/// The first layer on real MNIST batches (about 19% non-zero pixels): the sparse path against
/// the same product forced dense, which chose `SPARSE_INPUT_MAX_DENSITY`.
fn sparse_input(c: &mut Criterion) {
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist")).expect("committed");
    let mut group = c.benchmark_group("Linear sparse input");
    for &(batch, outputs) in &[(64usize, 128usize), (256, 128), (64, 512)] {
        let indices: Vec<usize> = (0..batch).collect();
        let (mut images, mut labels) = (Matrix::default(), Labels::default());
        mnist.train.gather(&indices, &mut images, &mut labels);
        let flops = (2 * batch * 784 * outputs) as u64;
        // A copy with the zeros replaced by 1e-6 (a normal float: denormals would be slow):
        // the same product to within rounding, on the dense path.
        let mut dense_images = images.clone();
        dense_images.as_mut_slice().iter_mut().filter(|v| **v == 0.0).for_each(|v| *v = 1e-6);
        for (label, input) in [("sparse", &images), ("dense", &dense_images)] {
            let mut layer = Linear::new(784, outputs, &mut seeded_rng(0));
            let grad = random(batch, outputs, 2);
            let mut output = Matrix::default();
            let name = format!("b{batch} 784->{outputs} {label}");
            group.throughput(Throughput::Elements(flops));
            group.bench_function(BenchmarkId::new("forward", &name), |b| {
                b.iter(|| layer.forward(input, &mut output, Mode::Train))
            });
            group.bench_function(BenchmarkId::new("forward+weight grad", &name), |b| {
                b.iter(|| {
                    layer.forward(input, &mut output, Mode::Train);
                    layer.backward(input, &output, &grad, None);
                })
            });
        }
    }
    group.finish();
}

fn activations(c: &mut Criterion) {
    let mut group = c.benchmark_group("activation");
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(ReLU),
        Box::new(Tanh),
        Box::new(Sigmoid),
        Box::new(Softmax),
        Box::new(LeakyReLU::default()),
        Box::new(ELU::default()),
        Box::new(GELU::new()),
        Box::new(GELU::tanh()),
        Box::new(Softplus::default()),
        Box::new(SiLU),
        Box::new(LogSoftmax),
        Box::new(Dropout::seeded(0.5, 0)),
    ];
    for mut layer in layers {
        for &(batch, features) in &[(64, 128), (256, 128), (64, 512), (256, 512)] {
            let name = format!("{} b{batch}x{features}", layer.describe());
            let input = random(batch, features, 3);
            let grad = random(batch, features, 4);
            let (mut output, mut input_grad) = (Matrix::default(), Matrix::default());
            group.throughput(Throughput::Elements((batch * features) as u64));
            group.bench_function(BenchmarkId::new("forward", &name), |b| {
                b.iter(|| layer.forward(&input, &mut output, Mode::Train))
            });
            group.bench_function(BenchmarkId::new("backward", &name), |b| {
                b.iter(|| layer.backward(&input, &output, &grad, Some(&mut input_grad)))
            });
        }
    }
    group.finish();
}

/// The layers that standardize: `BatchNorm1d` (batch statistics, training mode), `LayerNorm`
/// (each sample's statistics) and `Normalization` (fitted statistics).
fn batch_norm(c: &mut Criterion) {
    batch_norm_group(c, "BatchNorm1d", |input| Box::new(BatchNorm1d::new(input.cols())));
    batch_norm_group(c, "LayerNorm", |input| Box::new(LayerNorm::new(input.cols())));
    batch_norm_group(c, "Normalization", |input| {
        Box::new(Normalization::adapted(input).expect("a non-empty input"))
    });
}

fn batch_norm_group(c: &mut Criterion, name: &str, make: impl Fn(&Matrix) -> Box<dyn Layer>) {
    let mut group = c.benchmark_group(name);
    for &(batch, features) in &[(64, 128), (256, 128), (64, 512), (256, 512)] {
        let input = random(batch, features, 3);
        let mut layer = make(&input);
        let grad = random(batch, features, 4);
        let (mut output, mut input_grad) = (Matrix::default(), Matrix::default());
        let name = format!("b{batch}x{features}");
        group.throughput(Throughput::Elements((batch * features) as u64));
        group.bench_function(BenchmarkId::new("forward", &name), |b| {
            b.iter(|| layer.forward(&input, &mut output, Mode::Train))
        });
        group.bench_function(BenchmarkId::new("backward", &name), |b| {
            b.iter(|| layer.backward(&input, &output, &grad, Some(&mut input_grad)))
        });
    }
    group.finish();
}

/// Every loss on a batch of 10-class outputs (the MNIST head), forward and backward.
fn losses(c: &mut Criterion) {
    let mut group = c.benchmark_group("loss");
    for batch in [64usize, 256] {
        let logits = random(batch, 10, 6);
        let probabilities =
            Matrix::from_fn(batch, 10, |r, c| 0.05 + 0.9 * ((r * 7 + c * 3) % 10) as f32 / 10.0);
        let values = random(batch, 10, 7);
        let binary = Matrix::from_fn(batch, 10, |r, c| ((r + c) % 2) as f32);
        let classes: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let cases: Vec<(Box<dyn Loss>, &Matrix, Targets<'_>)> = vec![
            (Box::new(SoftmaxCrossEntropy::new()), &logits, Targets::Classes(&classes)),
            (Box::new(SoftmaxCrossEntropy::new().label_smoothing(0.1)), &logits, Targets::Classes(&classes)),
            (Box::new(CrossEntropy), &probabilities, Targets::Classes(&classes)),
            (Box::new(NllLoss), &logits, Targets::Classes(&classes)),
            (Box::new(Hinge::default()), &logits, Targets::Classes(&classes)),
            (Box::new(Mse), &values, Targets::Values(&logits)),
            (Box::new(Mae), &values, Targets::Values(&logits)),
            (Box::new(Huber::default()), &values, Targets::Values(&logits)),
            (Box::new(BinaryCrossEntropy), &probabilities, Targets::Values(&binary)),
            (Box::new(BinaryCrossEntropyWithLogits), &logits, Targets::Values(&binary)),
        ];
        group.throughput(Throughput::Elements((batch * 10) as u64));
        for (index, (mut loss, prediction, targets)) in cases.into_iter().enumerate() {
            let name = format!("{index:02} {} b{batch}x10", loss.name());
            let mut grad = Matrix::default();
            group.bench_function(BenchmarkId::new("forward", &name), |b| {
                b.iter(|| loss.forward(prediction, targets).expect("fits"))
            });
            group.bench_function(BenchmarkId::new("backward", &name), |b| {
                b.iter(|| loss.backward(prediction, targets, &mut grad).expect("fits"))
            });
        }
    }
    group.finish();
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train step");
    for &(batch, ref hidden) in &[(64usize, vec![128usize]), (256, vec![128]), (64, vec![512, 256])] {
        let mut rng = seeded_rng(0);
        let mut model = Sequential::new();
        let mut width = 784;
        for &h in hidden {
            model.add(Linear::new(width, h, &mut rng)).and_then(|m| m.add(ReLU)).expect("chains");
            width = h;
        }
        model.add(Linear::new(width, 10, &mut rng)).expect("chains");
        let input = random(batch, 784, 5);
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let mut optimizer = Optimizer::new(Sgd::new(0.01));
        let mut grad = Matrix::default();
        // Forward 2·b·Σ(in·out); weight gradients the same again; input gradients of all
        // but the first layer once more.
        let sizes: Vec<usize> = std::iter::once(784).chain(hidden.iter().copied()).chain([10]).collect();
        let macs: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
        let first = sizes[0] * sizes[1];
        group.throughput(Throughput::Elements((2 * batch * (3 * macs - first)) as u64));
        let name =
            format!("b{batch} 784-{}-10", hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("-"));
        // As the fit loop runs it (the step inside the backward pass), and as the lesson
        // writes it (backward, then step).
        for fused_step in [true, false] {
            let name = if fused_step { name.clone() } else { format!("{name}, backward then step") };
            group.bench_function(name, |b| {
                b.iter(|| {
                    let output = model.forward(&input, Mode::Train).expect("fits");
                    SoftmaxCrossEntropy::new()
                        .backward(output, Targets::Classes(&labels), &mut grad)
                        .expect("fits");
                    if fused_step {
                        optimizer.backward_and_step(&mut model, &grad).expect("fits");
                    } else {
                        model.backward(&grad).expect("fits");
                        optimizer.step(&mut model);
                    }
                })
            });
        }
    }
    group.finish();
}

/// A hidden `Linear` (512 → 256) and its activation, forward and backward with the input
/// gradient, run as one fused layer and as two (`set_fusion(false)`).
fn fusion(c: &mut Criterion) {
    let mut group = c.benchmark_group("fusion");
    type Make = fn() -> Box<dyn Layer>;
    let activations: Vec<(&str, Make)> = vec![
        ("ReLU", || Box::new(ReLU)),
        ("LeakyReLU", || Box::new(LeakyReLU::default())),
        ("ELU", || Box::new(ELU::default())),
        ("Tanh", || Box::new(Tanh)),
    ];
    for batch in [64usize, 256] {
        let input = random(batch, 512, 8);
        let grad = random(batch, 256, 9);
        group.throughput(Throughput::Elements((2 * batch * 512 * 256 * 3) as u64));
        for (name, make) in &activations {
            for fused in [true, false] {
                let mut model = Sequential::new();
                model.add(Linear::new(512, 256, &mut seeded_rng(1))).expect("layer");
                model.add_boxed(make()).expect("chains");
                model.set_fusion(fused);
                let label = format!("b{batch} 512->256 {name}{}", if fused { "" } else { ", separate" });
                group.bench_function(label, |b| {
                    b.iter(|| {
                        model.forward(&input, Mode::Train).expect("fits");
                        model.backward_with_input_grad(&grad).expect("fits");
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = linear, sparse_input, activations, fusion, batch_norm, losses, train_step
}
criterion_main!(benches);
