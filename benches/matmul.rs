//! The matrix products of percept's MLPs, sequential against two threads, with FLOPs as
//! throughput. Also what chose `PARALLEL_THRESHOLD_MULADDS`: the smallest product where two
//! threads beat one.
//!
//! ```text
//! cargo bench --bench matmul
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use percept::linalg::{
    Accum, Matrix, Par, SparseRows, matmul_unthresholded, set_num_threads, sparse_matmul,
    sparse_transpose_matmul,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// (name, m, k, n, lhs transposed, rhs transposed): `dst[m, n] = lhs[m, k] · rhs[k, n]`.
/// Forward is `input · weightᵀ`, the weight gradient `gradᵀ · input`, the input gradient
/// `grad · weight`.
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    // 784-128-10 at batch 64 and 256
    ("b64 fwd 784x128", 64, 784, 128, false, true),
    ("b64 wgrad 128x784", 128, 64, 784, true, false),
    ("b64 fwd 128x10", 64, 128, 10, false, true),
    ("b64 wgrad 10x128", 10, 64, 128, true, false),
    ("b64 igrad 10->128", 64, 10, 128, false, false),
    ("b256 fwd 784x128", 256, 784, 128, false, true),
    ("b256 wgrad 128x784", 128, 256, 784, true, false),
    // 784-512-256-10 at batch 64 and 256
    ("b64 fwd 784x512", 64, 784, 512, false, true),
    ("b64 wgrad 512x784", 512, 64, 784, true, false),
    ("b64 fwd 512x256", 64, 512, 256, false, true),
    ("b64 wgrad 256x512", 256, 64, 512, true, false),
    ("b64 igrad 256->512", 64, 256, 512, false, false),
    ("b256 fwd 784x512", 256, 784, 512, false, true),
    ("b256 igrad 256->512", 256, 256, 512, false, false),
    // Squares around the parallel threshold.
    ("sq 32", 32, 32, 32, false, false),
    ("sq 48", 48, 48, 48, false, false),
    ("sq 64", 64, 64, 64, false, false),
    ("sq 96", 96, 96, 96, false, false),
    ("sq 128", 128, 128, 128, false, false),
];

fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
    Matrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0f32..1.0))
}

fn bench(c: &mut Criterion) {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut group = c.benchmark_group("matmul");
    for &(name, m, k, n, lt, rt) in SHAPES {
        let lhs = if lt { random(k, m, &mut rng) } else { random(m, k, &mut rng) };
        let rhs = if rt { random(n, k, &mut rng) } else { random(k, n, &mut rng) };
        let mut dst = Matrix::zeros(m, n);
        // One multiply-add is two floating-point operations.
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        for (label, par) in [("seq", Par::Seq), ("2 threads", Par::with_threads(2))] {
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter(|| {
                    let lhs_view = if lt { lhs.t() } else { lhs.view() };
                    let rhs_view = if rt { rhs.t() } else { rhs.view() };
                    matmul_unthresholded(&mut dst, Accum::Replace, lhs_view, rhs_view, 1.0, par);
                })
            });
        }
    }
    group.finish();
}

/// A first layer's forward and weight-gradient products (batch 64, 784 → 128), sparse
/// (rebuilding the sparse copy each time, as `Linear` does) against dense, as the input's
/// density grows: where the lines cross is `SPARSE_INPUT_MAX_DENSITY`.
fn sparse_vs_dense(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("sparse vs dense");
    let (batch, inputs, outputs) = (64, 784, 128);
    let weight = random(inputs, outputs, &mut rng);
    let grad = random(batch, outputs, &mut rng);
    let (mut out, mut weight_grad) = (Matrix::zeros(batch, outputs), Matrix::zeros(inputs, outputs));
    group.throughput(Throughput::Elements((4 * batch * inputs * outputs) as u64));
    for density in [0.1f32, 0.2, 0.3, 0.4, 0.5] {
        let x = Matrix::from_fn(batch, inputs, |_, _| {
            if rng.random::<f32>() < density { rng.random_range(0.01f32..1.0) } else { 0.0 }
        });
        let mut sparse = SparseRows::new();
        let label = format!("density {density}");
        group.bench_function(BenchmarkId::new("sparse", &label), |b| {
            b.iter(|| {
                assert!(sparse.try_from_dense(&x, 1.0, Par::Seq));
                sparse_matmul(&mut out, &sparse, &weight, Par::Seq);
                sparse_transpose_matmul(&mut weight_grad, &mut sparse, &grad, Par::Seq);
            })
        });
        group.bench_function(BenchmarkId::new("dense", &label), |b| {
            b.iter(|| {
                matmul_unthresholded(&mut out, Accum::Replace, &x, &weight, 1.0, Par::Seq);
                matmul_unthresholded(&mut weight_grad, Accum::Replace, x.t(), &grad, 1.0, Par::Seq);
            })
        });
    }
    group.finish();
}

/// The sparse first layer at 20% density (MNIST's 19%), 784 → 128, on one thread and two:
/// build, forward and weight gradient, each alone and the three together. What chose
/// `SPARSE_PARALLEL_THRESHOLD_MULADDS` and `SPARSE_BUILD_PARALLEL_THRESHOLD`.
fn sparse_threads(c: &mut Criterion) {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("sparse threads");
    let (inputs, outputs) = (784, 128);
    let weight = random(inputs, outputs, &mut rng);
    for batch in [16usize, 64, 256] {
        let x = Matrix::from_fn(batch, inputs, |_, _| {
            if rng.random::<f32>() < 0.2 { rng.random_range(0.01f32..1.0) } else { 0.0 }
        });
        let grad = random(batch, outputs, &mut rng);
        let (mut out, mut weight_grad) = (Matrix::zeros(batch, outputs), Matrix::zeros(inputs, outputs));
        let mut sparse = SparseRows::new();
        for (label, par) in [("seq", Par::Seq), ("2 threads", Par::with_threads(2))] {
            assert!(sparse.try_from_dense(&x, 1.0, par));
            group.bench_function(BenchmarkId::new(label, format!("b{batch} build")), |b| {
                b.iter(|| assert!(sparse.try_from_dense(&x, 1.0, par)))
            });
            group.bench_function(BenchmarkId::new(label, format!("b{batch} forward")), |b| {
                b.iter(|| sparse_matmul(&mut out, &sparse, &weight, par))
            });
            group.bench_function(BenchmarkId::new(label, format!("b{batch} weight grad")), |b| {
                b.iter(|| sparse_transpose_matmul(&mut weight_grad, &mut sparse, &grad, par))
            });
            group.bench_function(BenchmarkId::new(label, format!("b{batch} all three")), |b| {
                b.iter(|| {
                    assert!(sparse.try_from_dense(&x, 1.0, par));
                    sparse_matmul(&mut out, &sparse, &weight, par);
                    sparse_transpose_matmul(&mut weight_grad, &mut sparse, &grad, par);
                })
            });
        }
    }
    group.finish();
}

/// A random batch of 256 real MNIST images into the first layer's sparse form, on one
/// thread and two: gathered dense (bytes scaled into a `Matrix`) and then compacted, against
/// compacted straight from the bytes (`Dataset::gather_sparse`, which the fit loop uses).
fn mnist_batch(c: &mut Criterion) {
    use percept::data::{Dataset, Labels, Mnist};
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist")).expect("datasets/mnist");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // A different random batch each iteration, as in training: the images come from memory.
    let batches: Vec<Vec<usize>> =
        (0..64).map(|_| (0..256).map(|_| rng.random_range(0..mnist.train.len())).collect()).collect();
    let mut next = batches.iter().cycle();
    let mut group = c.benchmark_group("mnist batch");
    let (mut dense, mut sparse, mut labels) = (Matrix::default(), SparseRows::new(), Labels::default());
    let _ = set_num_threads(2);
    for (label, threads) in [("seq", 1), ("2 threads", 2)] {
        set_num_threads(threads).expect("within the team");
        let par = Par::current();
        group.bench_function(BenchmarkId::new(label, "b256 gather dense, then compact"), |b| {
            b.iter(|| {
                mnist.train.gather(next.next().expect("cycles"), &mut dense, &mut labels);
                assert!(sparse.try_from_dense(&dense, 0.25, par));
            })
        });
        group.bench_function(BenchmarkId::new(label, "b256 gather sparse"), |b| {
            b.iter(|| {
                assert!(mnist.train.gather_sparse(
                    next.next().expect("cycles"),
                    &mut sparse,
                    &mut labels,
                    0.25
                ))
            })
        });
    }
    group.finish();
}

/// One empty round of percept's worker threads: the caller hands a part to the other thread
/// and waits for it. Its time is mostly cache lines crossing between the two cores, twice, so
/// it also shows how far apart the machine's cores are at the moment.
fn hand_over(c: &mut Criterion) {
    set_num_threads(2).expect("a 2-thread team");
    c.bench_function("hand-over/2 threads, empty parts", |b| {
        b.iter(|| {
            percept::linalg::for_each_row_range(Par::with_threads(2), 2, &|rows| {
                std::hint::black_box(rows);
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench, sparse_vs_dense, sparse_threads, mnist_batch, hand_over
}
criterion_main!(benches);
