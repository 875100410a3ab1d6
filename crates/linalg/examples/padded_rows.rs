//! Why `matmul` reads a transposed left operand with 2 KiB rows from a padded copy: the weight
//! gradient `inputᵀ · output_grad` at the shapes of percept's MLPs, through faer as is and
//! through `percept_linalg::matmul` (which makes the copy), alternating in one process.
//!
//! ```text
//! cargo run --release -p percept-linalg --example padded_rows
//! ```
//!
//! Times are CPU time of the calling thread (so that other work on a shared machine does not
//! count), the best of 10 rounds; the peak is `fma_peak`'s (benches/peers/fma_peak.rs), given
//! as the first argument in multiply-adds per second (default 51e9, an AMD EPYC Zen 2 core).

use std::hint::black_box;

use percept_linalg::{Accum, Matrix, Par, matmul};

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

fn main() {
    let peak: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(51e9);
    // (batch, in_features, out_features): the 1024-1024 nets, the default recipe (512, 256),
    // its batch-1024 row, and rows of 256 and 784 values, which are not padded.
    let shapes = [
        (256, 1024, 1024),
        (256, 1024, 10),
        (32, 512, 256),
        (64, 512, 256),
        (1024, 512, 256),
        (64, 512, 512),
        (64, 256, 256),
        (256, 784, 1024),
    ];
    for (batch, in_features, out_features) in shapes {
        let value = |i: usize, j: usize| ((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5;
        let input = Matrix::from_fn(batch, in_features, value);
        let grad = Matrix::from_fn(batch, out_features, value);
        let mut direct = Matrix::zeros(in_features, out_features);
        let mut padded = Matrix::zeros(in_features, out_features);
        let muladds = batch * in_features * out_features;
        let reps = (200_000_000 / muladds).clamp(3, 2000);
        let (mut direct_best, mut padded_best) = (f64::MAX, f64::MAX);
        for _ in 0..10 {
            let started = cpu_seconds();
            for _ in 0..reps {
                let lhs =
                    faer::MatRef::from_row_major_slice(input.as_slice(), batch, in_features).transpose();
                let rhs = faer::MatRef::from_row_major_slice(grad.as_slice(), batch, out_features);
                let dst =
                    faer::MatMut::from_row_major_slice_mut(direct.as_mut_slice(), in_features, out_features);
                faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, 1.0, faer::Par::Seq);
            }
            direct_best = direct_best.min((cpu_seconds() - started) / reps as f64);
            let started = cpu_seconds();
            for _ in 0..reps {
                matmul(&mut padded, Accum::Replace, input.t(), &grad, 1.0, Par::Seq);
            }
            padded_best = padded_best.min((cpu_seconds() - started) / reps as f64);
        }
        let rate = |seconds: f64| 100.0 * muladds as f64 / seconds / peak;
        println!(
            "batch {batch:4}, {in_features:4} → {out_features:4}: faer as is {:8.1} µs ({:4.1}% of peak), \
             matmul {:8.1} µs ({:4.1}%), ratio {:.2}, same bits: {}",
            direct_best * 1e6,
            rate(direct_best),
            padded_best * 1e6,
            rate(padded_best),
            padded_best / direct_best,
            direct == padded
        );
        black_box((&direct, &padded));
    }
}
