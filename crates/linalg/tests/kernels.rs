//! Every kernel against a naive loop, at awkward sizes, sequential and parallel (faer's
//! matmul tests do the same).

use percept_linalg::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIZES: &[usize] = &[1, 15, 16, 17, 63, 64, 65, 127, 128, 129];

fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
    Matrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0f32..1.0))
}

fn pars() -> [Par; 3] {
    [Par::Seq, Par::with_threads(2), Par::with_threads(3)]
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs() / w.abs().max(1.0);
        assert!(err <= tol, "{what}: element {i}: got {g}, want {w} (error {err:e})");
    }
}

fn naive_matmul(lhs: MatrixRef<'_>, rhs: MatrixRef<'_>) -> Vec<f64> {
    let (m, k, n) = (lhs.rows(), lhs.cols(), rhs.cols());
    let mut out = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| lhs.get(i, p) as f64 * rhs.get(p, j) as f64).sum();
        }
    }
    out
}

#[test]
fn matmul_matches_naive_for_every_transpose_and_accum() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // m, k, n drawn from the awkward sizes; a few triples per m keep the test quick.
    for (i, &m) in SIZES.iter().enumerate() {
        for &k in &[SIZES[(i + 3) % SIZES.len()], 1, 129] {
            let n = SIZES[(i * 7 + k) % SIZES.len()];
            for (lt, rt) in [(false, false), (true, false), (false, true), (true, true)] {
                let lhs_store = if lt { random(k, m, &mut rng) } else { random(m, k, &mut rng) };
                let rhs_store = if rt { random(n, k, &mut rng) } else { random(k, n, &mut rng) };
                let lhs = if lt { lhs_store.t() } else { lhs_store.view() };
                let rhs = if rt { rhs_store.t() } else { rhs_store.view() };
                let product = naive_matmul(lhs, rhs);
                let start = random(m, n, &mut rng);
                for par in pars() {
                    let mut dst = Matrix::filled(m, n, f32::NAN); // Replace must not read dst
                    matmul(&mut dst, Accum::Replace, lhs, rhs, 0.5, par);
                    let want: Vec<f64> = product.iter().map(|v| 0.5 * v).collect();
                    let what = format!("replace m={m} k={k} n={n} lt={lt} rt={rt} {par:?}");
                    assert_close(dst.as_slice(), &want, 1e-5, &what);

                    let mut dst = start.clone();
                    matmul(&mut dst, Accum::Add, lhs, rhs, -2.0, par);
                    let want: Vec<f64> =
                        product.iter().zip(start.as_slice()).map(|(p, &s)| s as f64 - 2.0 * p).collect();
                    assert_close(dst.as_slice(), &want, 1e-5, &format!("add {what}"));
                }
            }
        }
    }
}

#[test]
fn large_matmul_is_bit_identical_across_thread_counts() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // The shapes of a 784-128 layer at batch 256: forward, weight gradient, input gradient.
    let input = random(256, 784, &mut rng);
    let weight = random(128, 784, &mut rng);
    let grad = random(256, 128, &mut rng);
    let run = |par| {
        let mut out = Matrix::zeros(256, 128);
        matmul(&mut out, Accum::Replace, &input, weight.t(), 1.0, par);
        let mut weight_grad = Matrix::zeros(128, 784);
        matmul(&mut weight_grad, Accum::Replace, grad.t(), &input, 1.0, par);
        let mut input_grad = Matrix::zeros(256, 784);
        matmul(&mut input_grad, Accum::Replace, &grad, &weight, 1.0, par);
        (out, weight_grad, input_grad)
    };
    assert_eq!(run(Par::Seq), run(Par::with_threads(2)));
}

/// Weight gradients `inputᵀ · grad` whose input rows are a multiple of 512 values are read from
/// a copy with padded rows from batch 128 on (the level-1 cache's sets): still the product, to the same bits on
/// any number of threads, replacing or adding.
#[test]
fn weight_gradients_of_inputs_with_2_kib_rows_match_naive() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (batch, in_features, out_features) in [(128, 512, 8), (129, 512, 65), (130, 1024, 17)] {
        let input = random(batch, in_features, &mut rng);
        let grad = random(batch, out_features, &mut rng);
        let product = naive_matmul(input.t(), grad.view());
        let start = random(in_features, out_features, &mut rng);
        let mut results = Vec::new();
        for par in pars() {
            let what = format!("batch {batch}, {in_features} → {out_features}, {par:?}");
            let mut replaced = Matrix::filled(in_features, out_features, f32::NAN);
            matmul(&mut replaced, Accum::Replace, input.t(), &grad, 1.0, par);
            assert_close(replaced.as_slice(), &product, 1e-5, &what);
            let mut added = start.clone();
            matmul(&mut added, Accum::Add, input.t(), &grad, 0.5, par);
            let want: Vec<f64> =
                product.iter().zip(start.as_slice()).map(|(p, &s)| s as f64 + 0.5 * p).collect();
            assert_close(added.as_slice(), &want, 1e-5, &format!("add {what}"));
            results.push((replaced, added));
        }
        assert!(results.windows(2).all(|pair| pair[0] == pair[1]), "{batch}, {in_features} → {out_features}");
    }
}

#[test]
#[should_panic(expected = "lhs [2, 3] · rhs [4, 5] into dst [2, 5]")]
fn matmul_names_all_shapes_when_they_do_not_chain() {
    let mut dst = Matrix::zeros(2, 5);
    matmul(&mut dst, Accum::Replace, &Matrix::zeros(2, 3), &Matrix::zeros(4, 5), 1.0, Par::Seq);
}

#[test]
fn elementwise_kernels_match_naive() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // 600 × 129 crosses ELEMENTWISE_PARALLEL_THRESHOLD, so the parallel path really runs.
    for &(rows, cols) in &[(1, 1), (17, 15), (65, 63), (129, 127), (600, 129)] {
        let a = random(rows, cols, &mut rng);
        let b = random(rows, cols, &mut rng);
        let bias: Vec<f32> = (0..cols).map(|j| j as f32 * 0.25 - 1.0).collect();
        for par in pars() {
            let mut dst = Matrix::zeros(rows, cols);
            map(&mut dst, &a, par, |x| x.max(0.0));
            let want: Vec<f64> = a.as_slice().iter().map(|&x| x.max(0.0) as f64).collect();
            assert_close(dst.as_slice(), &want, 0.0, "map");

            map_inplace(&mut dst, par, |x| 2.0 * x + 1.0);
            let want: Vec<f64> = want.iter().map(|&x| 2.0 * x + 1.0).collect();
            assert_close(dst.as_slice(), &want, 0.0, "map_inplace");

            zip_map(&mut dst, &a, &b, par, |x, y| x * y - y);
            let want: Vec<f64> =
                a.as_slice().iter().zip(b.as_slice()).map(|(&x, &y)| (x * y - y) as f64).collect();
            assert_close(dst.as_slice(), &want, 0.0, "zip_map");

            let mut dst = a.clone();
            add_row_vector(&mut dst, &bias, par);
            let want: Vec<f64> =
                (0..rows * cols).map(|i| (a.as_slice()[i] + bias[i % cols]) as f64).collect();
            assert_close(dst.as_slice(), &want, 0.0, "add_row_vector");
        }
        let mut sums = vec![1.0; cols];
        column_sums(&mut sums, Accum::Add, &a);
        let want: Vec<f64> =
            (0..cols).map(|j| 1.0 + (0..rows).map(|i| a.get(i, j) as f64).sum::<f64>()).collect();
        assert_close(&sums, &want, 1e-5, "column_sums add");
        column_sums(&mut sums, Accum::Replace, &a);
        let want: Vec<f64> = want.iter().map(|w| w - 1.0).collect();
        assert_close(&sums, &want, 1e-4, "column_sums replace");

        let mut dst = a.as_slice().to_vec();
        axpy(&mut dst, -0.5, b.as_slice());
        let want: Vec<f64> =
            a.as_slice().iter().zip(b.as_slice()).map(|(&x, &y)| (x - 0.5 * y) as f64).collect();
        assert_close(&dst, &want, 1e-7, "axpy");
    }
}

#[test]
fn row_kernels_match_naive() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for &(rows, cols) in &[(1, 1), (16, 10), (64, 17), (129, 65), (1100, 64)] {
        let mut a = random(rows, cols, &mut rng);
        map_inplace(&mut a, Par::Seq, |x| 30.0 * x); // large logits test the max subtraction
        let mut want_max = vec![0.0f64; rows];
        let mut want_arg = vec![0usize; rows];
        let mut want_soft = vec![0.0f64; rows * cols];
        let mut want_log = vec![0.0f64; rows * cols];
        for i in 0..rows {
            let row: Vec<f64> = a.row(i).iter().map(|&v| v as f64).collect();
            let (arg, max) = row
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (j, &v)| if v > bv { (j, v) } else { (bi, bv) });
            want_max[i] = max;
            want_arg[i] = arg;
            let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
            for j in 0..cols {
                want_soft[i * cols + j] = (row[j] - max).exp() / total;
                want_log[i * cols + j] = row[j] - max - total.ln();
            }
        }
        let mut max = vec![0.0; rows];
        max_rows(&a, &mut max);
        assert_close(&max, &want_max, 0.0, "max_rows");
        let mut arg = vec![0; rows];
        argmax_rows(&a, &mut arg);
        assert_eq!(arg, want_arg, "argmax_rows");
        for par in pars() {
            let mut dst = Matrix::zeros(rows, cols);
            softmax_rows(&mut dst, &a, par);
            assert_close(dst.as_slice(), &want_soft, 1e-5, "softmax_rows");
            log_softmax_rows(&mut dst, &a, par);
            assert_close(dst.as_slice(), &want_log, 1e-5, "log_softmax_rows");
        }
    }
}

#[test]
fn argmax_takes_the_first_of_ties() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    assert_eq!(argmax(&[5.0]), 0);
}

#[test]
fn thread_count_can_be_lowered_and_zero_is_refused() {
    // Size the pool to 2 first, whichever test runs first, so the parallel paths stay parallel.
    let _ = set_num_threads(2);
    assert_eq!(set_num_threads(0), Err(ThreadsError::Zero));
    set_num_threads(1).expect("one thread always fits");
    assert_eq!(num_threads(), 1);
    assert_eq!(Par::current(), Par::Seq);
    let _ = set_num_threads(2);
    // A count far past the cores is refused with the reason, before any thread starts.
    let err = set_num_threads(100_000).unwrap_err();
    assert!(matches!(err, ThreadsError::TooMany { requested: 100_000, max: MAX_THREADS, .. }), "{err:?}");
    assert!(err.to_string().contains("at most 256"), "{err}");
    assert_eq!(num_threads(), 2);
}

#[test]
fn matrix_resize_reuses_and_reshapes() {
    let mut m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(m.shape(), [2, 3]);
    assert_eq!(m.t().shape(), [3, 2]);
    assert_eq!(m.t().get(2, 1), 6.0);
    assert_eq!(m.max_abs(), 6.0);
    m.resize(1, 3);
    assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0]);
    m.resize(3, 2);
    assert_eq!(m.len(), 6);
    assert_eq!(&m.as_slice()[3..], &[0.0; 3], "values past the old length are zero");
    assert!(format!("{m}").starts_with("Matrix [3, 2]"));
    assert_eq!(m.clone().into_vec(), m.as_slice());
    let mut reshaped = m.clone();
    reshaped.resize(2, 3);
    assert_eq!(Matrix::from_vec(2, 3, m.into_vec()), reshaped);
}

/// Storage starts on a cache line (so row blocks of 16-value multiples never share a line
/// between threads), whatever the constructor and after growing.
#[test]
fn matrix_storage_is_cache_line_aligned() {
    let aligned = |m: &Matrix| (m.as_slice().as_ptr() as usize).is_multiple_of(64);
    let mut matrices = vec![
        Matrix::zeros(3, 5),
        Matrix::filled(784, 128, 1.0),
        Matrix::from_rows(&[[1.0, 2.0]]),
        Matrix::from_vec(1, 3, vec![1.0, 2.0, 3.0]),
        Matrix::from_fn(7, 9, |r, c| (r * c) as f32),
    ];
    for m in &mut matrices {
        assert!(aligned(m), "{:?}", m.shape());
        m.resize(100, 33);
        assert!(aligned(m), "after resize");
    }
}

/// A matrix with about `density` of its elements non-zero.
fn sparse_random(rows: usize, cols: usize, density: f32, rng: &mut ChaCha8Rng) -> Matrix {
    Matrix::from_fn(rows, cols, |_, _| {
        if rng.random::<f32>() < density { rng.random_range(-1.0f32..1.0) } else { 0.0 }
    })
}

#[test]
fn sparse_products_match_naive() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // Output widths around the 64-wide register block and the tail path; 600 rows × 784
    // at 20% crosses the parallel threshold.
    for &(batch, inputs, outputs) in
        &[(1, 1, 1), (15, 17, 16), (17, 63, 65), (64, 129, 127), (65, 784, 128), (600, 784, 129)]
    {
        let x = sparse_random(batch, inputs, 0.2, &mut rng);
        let w_t = random(inputs, outputs, &mut rng);
        let grad = random(batch, outputs, &mut rng);
        let mut sparse = SparseRows::new();
        let forward = naive_matmul(x.view(), w_t.view());
        let weight_grad = naive_matmul(x.t(), grad.view());
        for par in pars() {
            // Built in one shard, or in one per thread.
            assert!(sparse.try_from_dense(&x, 1.0, par));
            assert_eq!(sparse.nnz(), x.as_slice().iter().filter(|&&v| v != 0.0).count());
            let mut dst = Matrix::filled(batch, outputs, f32::NAN);
            sparse_matmul(&mut dst, &sparse, &w_t, par);
            assert_close(
                dst.as_slice(),
                &forward,
                1e-5,
                &format!("sparse_matmul {batch}x{inputs}x{outputs}"),
            );
            let mut dst = Matrix::filled(inputs, outputs, f32::NAN);
            sparse_transpose_matmul(&mut dst, &mut sparse, &grad, par);
            let what = format!("sparse_transpose_matmul {batch}x{inputs}x{outputs}");
            assert_close(dst.as_slice(), &weight_grad, 1e-5, &what);
        }
    }
}

#[test]
fn sparse_products_are_bit_identical_across_thread_counts() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = sparse_random(256, 784, 0.2, &mut rng);
    let w_t = random(784, 128, &mut rng);
    let grad = random(256, 128, &mut rng);
    // The sparse copy is built in one shard or in two (one per thread), and the products
    // split over rows or not: the same bits either way.
    let run = |par| {
        let mut sparse = SparseRows::new();
        assert!(sparse.try_from_dense(&x, 0.5, par));
        let mut out = Matrix::zeros(256, 128);
        sparse_matmul(&mut out, &sparse, &w_t, par);
        let mut weight_grad = Matrix::zeros(784, 128);
        sparse_transpose_matmul(&mut weight_grad, &mut sparse, &grad, par);
        (out, weight_grad)
    };
    assert_eq!(run(Par::Seq), run(Par::with_threads(2)));
}

/// The fused bias forms give the same bits as the product followed by a separate pass:
/// `sparse_affine` as `sparse_matmul` then `add_row_vector`, and the sums of
/// `sparse_transpose_matmul_with_sums` as `column_sums`, at every width around the register
/// block and on one or two threads.
#[test]
fn fused_bias_products_match_separate_passes_bit_for_bit() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for &(batch, inputs, outputs) in &[(1, 3, 1), (17, 63, 65), (256, 784, 128), (300, 784, 129)] {
        let x = sparse_random(batch, inputs, 0.2, &mut rng);
        let w_t = random(inputs, outputs, &mut rng);
        let grad = random(batch, outputs, &mut rng);
        let bias: Vec<f32> = (0..outputs).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for par in pars() {
            let mut sparse = SparseRows::new();
            assert!(sparse.try_from_dense(&x, 1.0, par));
            let what = format!("{batch}x{inputs}x{outputs} on {par:?}");

            let mut separate = Matrix::zeros(batch, outputs);
            sparse_matmul(&mut separate, &sparse, &w_t, par);
            add_row_vector(&mut separate, &bias, par);
            let mut fused = Matrix::filled(batch, outputs, f32::NAN);
            sparse_affine(&mut fused, &sparse, &w_t, Some(&bias), par);
            assert_eq!(bits(fused.as_slice()), bits(separate.as_slice()), "sparse_affine {what}");

            let mut weight_grad = Matrix::zeros(inputs, outputs);
            sparse_transpose_matmul(&mut weight_grad, &mut sparse, &grad, par);
            let mut sums = vec![0.0f32; outputs];
            column_sums(&mut sums, Accum::Replace, &grad);
            let mut fused_grad = Matrix::filled(inputs, outputs, f32::NAN);
            let mut fused_sums = vec![f32::NAN; outputs];
            sparse_transpose_matmul_with_sums(
                &mut fused_grad,
                Some(&mut fused_sums),
                &mut sparse,
                &grad,
                par,
            );
            assert_eq!(bits(fused_grad.as_slice()), bits(weight_grad.as_slice()), "weight gradient {what}");
            assert_eq!(bits(&fused_sums), bits(&sums), "column sums {what}");
        }
    }
}

/// Rows of bytes compact to the same matrix as the same bytes scaled into a dense matrix:
/// the same products, bit for bit, at widths around the 16-byte block and on one or two
/// threads; a denser batch than allowed is refused as `try_from_dense` refuses it.
#[test]
fn byte_rows_build_the_same_matrix_as_scaled_dense_rows() {
    let _ = set_num_threads(2);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let bits = |m: &Matrix| m.as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for &(batch, cols) in &[(1, 1), (3, 15), (40, 37), (256, 784), (300, 800)] {
        // About 20% non-zero bytes, every value from 1 to 255 possible.
        let bytes: Vec<u8> = (0..batch * cols)
            .map(|_| if rng.random::<f32>() < 0.2 { rng.random_range(1..=255u8) } else { 0 })
            .collect();
        let dense = Matrix::from_fn(batch, cols, |r, c| scale_byte(bytes[r * cols + c]));
        let w_t = random(cols, 70, &mut rng);
        let grad = random(batch, 70, &mut rng);
        for par in pars() {
            let what = format!("{batch}x{cols} on {par:?}");
            let mut from_dense = SparseRows::new();
            assert!(from_dense.try_from_dense(&dense, 1.0, par), "{what}");
            let mut from_bytes = SparseRows::new();
            let row = |r: usize| &bytes[r * cols..(r + 1) * cols];
            assert!(from_bytes.try_from_byte_rows(batch, cols, &row, 1.0, par), "{what}");
            assert_eq!(from_bytes.shape(), [batch, cols], "{what}");
            assert_eq!(from_bytes.nnz(), from_dense.nnz(), "{what}");
            let (mut a, mut b) = (Matrix::zeros(batch, 70), Matrix::zeros(batch, 70));
            sparse_matmul(&mut a, &from_dense, &w_t, par);
            sparse_matmul(&mut b, &from_bytes, &w_t, par);
            assert_eq!(bits(&b), bits(&a), "forward {what}");
            let (mut a, mut b) = (Matrix::zeros(cols, 70), Matrix::zeros(cols, 70));
            sparse_transpose_matmul(&mut a, &mut from_dense, &grad, par);
            sparse_transpose_matmul(&mut b, &mut from_bytes, &grad, par);
            assert_eq!(bits(&b), bits(&a), "weight gradient {what}");
            // Refused exactly when the dense build refuses (at about 20%, all but the tiny
            // cases are above a 10% limit).
            let refused = !from_bytes.try_from_byte_rows(batch, cols, &row, 0.1, par);
            assert_eq!(refused, !from_dense.try_from_dense(&dense, 0.1, par), "density limit {what}");
            assert!(refused || batch * cols < 100, "density limit {what}");
        }
    }
}

#[test]
#[should_panic(expected = "row 1 has 3 bytes, expected 4")]
fn byte_rows_of_the_wrong_length_panic() {
    let rows: [&[u8]; 2] = [&[1, 0, 0, 2], &[1, 2, 3]];
    SparseRows::new().try_from_byte_rows(2, 4, &|r| rows[r], 1.0, Par::Seq);
}

#[test]
fn sparse_build_stops_above_the_density_limit() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = sparse_random(50, 100, 0.5, &mut rng);
    let mut sparse = SparseRows::new();
    assert!(!sparse.try_from_dense(&x, 0.25, Par::Seq), "half the elements are non-zero");
    assert!(sparse.try_from_dense(&x, 0.75, Par::with_threads(2)));
    assert_eq!(sparse.shape(), [50, 100]);
}
