//! A first layer's sparse products against the dense ones, by output width: the forward pass
//! (`x · weight + bias`, ReLU) and the weight gradient (`xᵀ · grad` with the bias gradient) for
//! 784 inputs at a given density (MNIST: 19% non-zero), batch 256, one thread.
//!
//! ```text
//! cargo run --release -p percept-linalg --example sparse_rows -- 0.19 128 256 512 1024
//! ```
//!
//! Arguments: the density, then the output widths. Times are CPU time of the calling thread
//! (other work on a shared machine does not count), the best of 15; the non-zeros are placed
//! at random. This is how `STREAM_MIN_WIDTH` (crates/linalg/src/sparse/gather.rs) was chosen,
//! with the constant set above every width for the figures of the register blocks.

use std::hint::black_box;

use percept_linalg::{
    Accum, FusedActivation, Matrix, Par, SparseRows, WeightGradExtras, add_row_vector_activated, column_sums,
    matmul, sparse_affine_activated, sparse_weight_grad,
};

/// Seconds this thread has run on a CPU (wall time where there is no such clock).
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `time` is a valid timespec for the call to fill.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) } == 0 {
            return time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9;
        }
    }
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
}

/// The best CPU time of 15 runs of `f`.
fn best_of(f: &mut dyn FnMut()) -> f64 {
    (0..15)
        .map(|_| {
            let started = cpu_seconds();
            f();
            cpu_seconds() - started
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let density: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0.19);
    let mut widths: Vec<usize> = args.filter_map(|s| s.parse().ok()).collect();
    if widths.is_empty() {
        widths = vec![128, 256, 512, 1024];
    }
    let (batch, inputs) = (256, 784);
    // A fixed linear congruential generator: the same inputs on every run.
    let mut state = 1u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    let x = Matrix::from_fn(batch, inputs, |_, _| if uniform() < density { uniform() as f32 } else { 0.0 });
    for width in widths {
        let weight = Matrix::from_fn(inputs, width, |i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.5);
        let bias = vec![0.1f32; width];
        let grad = Matrix::from_fn(batch, width, |i, j| ((i * 5 + j * 3) % 13) as f32 / 13.0 - 0.5);
        let (mut output, mut weight_grad) = (Matrix::zeros(batch, width), Matrix::zeros(inputs, width));
        let mut bias_grad = vec![0f32; width];
        let mut sparse = SparseRows::new();
        let relu = Some(FusedActivation::Relu);
        let sparse_forward = best_of(&mut || {
            assert!(sparse.try_from_dense(&x, 1.0, Par::Seq));
            sparse_affine_activated(&mut output, &sparse, &weight, Some(&bias), relu, Par::Seq);
        });
        let sparse_grad = best_of(&mut || {
            let extras = WeightGradExtras { column_sums: Some(&mut bias_grad), ..Default::default() };
            sparse_weight_grad(&mut weight_grad, &mut sparse, &grad, extras, Par::Seq);
        });
        let dense_forward = best_of(&mut || {
            matmul(&mut output, Accum::Replace, &x, &weight, 1.0, Par::Seq);
            add_row_vector_activated(&mut output, &bias, relu, Par::Seq);
        });
        let dense_grad = best_of(&mut || {
            matmul(&mut weight_grad, Accum::Replace, x.t(), &grad, 1.0, Par::Seq);
            column_sums(&mut bias_grad, Accum::Replace, &grad);
        });
        println!(
            "{inputs} → {width:4}, batch {batch}, density {density}: forward sparse {:7.1} µs, dense {:7.1} µs \
             ({:.2}); weight gradient sparse {:7.1} µs, dense {:7.1} µs ({:.2})",
            sparse_forward * 1e6,
            dense_forward * 1e6,
            sparse_forward / dense_forward,
            sparse_grad * 1e6,
            dense_grad * 1e6,
            sparse_grad / dense_grad
        );
        black_box((&output, &weight_grad, &bias_grad));
    }
}
