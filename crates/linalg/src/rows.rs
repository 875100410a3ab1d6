//! Row-wise reductions: max, argmax, softmax and log-softmax of each sample.

use crate::{Matrix, Par, elementwise::for_row_blocks};

/// `out[i] = argmax_j src[i, j]`: the predicted class of each sample (the first on ties).
///
/// # Shapes
/// `src`: `[rows, cols]`, `out`: `[rows]`
///
/// # Panics
/// If `out.len() != src.rows()` or `src` has no column.
#[track_caller]
pub fn argmax_rows(src: &Matrix, out: &mut [usize]) {
    assert!(
        out.len() == src.rows() && src.cols() > 0,
        "argmax_rows: src is {:?}, out has {} slots",
        src.shape(),
        out.len()
    );
    for (o, row) in out.iter_mut().zip(src.row_iter()) {
        *o = argmax(row);
    }
}

/// Index of the largest value in `row` (the first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// `out[i] = max_j src[i, j]`.
///
/// # Panics
/// If `out.len() != src.rows()`.
#[track_caller]
pub fn max_rows(src: &Matrix, out: &mut [f32]) {
    assert!(out.len() == src.rows(), "max_rows: src is {:?}, out has {} slots", src.shape(), out.len());
    for (o, row) in out.iter_mut().zip(src.row_iter()) {
        *o = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    }
}

/// Softmax of each row: `dst[i, j] = exp(src[i, j] - m_i) / Σ_k exp(src[i, k] - m_i)` with
/// `m_i = max_k src[i, k]` (subtracting the max keeps `exp` from overflowing; the lesson does
/// the same).
///
/// # Shapes
/// `src`, `dst`: `[rows, cols]`
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn softmax_rows(dst: &mut Matrix, src: &Matrix, par: Par) {
    assert!(
        dst.shape() == src.shape(),
        "softmax_rows: dst is {:?} but src is {:?}",
        dst.shape(),
        src.shape()
    );
    let cols = src.cols();
    let src = src.as_slice();
    for_row_blocks(par, dst.as_mut_slice(), cols, |first_row, block| {
        let src = &src[first_row * cols..first_row * cols + block.len()];
        for (d, s) in block.chunks_exact_mut(cols).zip(src.chunks_exact(cols)) {
            softmax_row(d, s);
        }
    });
}

/// Softmax of one row into `dst` (see [`softmax_rows`]).
pub fn softmax_row(dst: &mut [f32], src: &[f32]) {
    let max = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = (s - max).exp();
        sum += *d;
    }
    let inv = 1.0 / sum;
    for d in dst.iter_mut() {
        *d *= inv;
    }
}

/// Log-softmax of each row: `dst[i, j] = src[i, j] - m_i - ln Σ_k exp(src[i, k] - m_i)`.
///
/// # Shapes
/// `src`, `dst`: `[rows, cols]`
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn log_softmax_rows(dst: &mut Matrix, src: &Matrix, par: Par) {
    assert!(
        dst.shape() == src.shape(),
        "log_softmax_rows: dst is {:?} but src is {:?}",
        dst.shape(),
        src.shape()
    );
    let cols = src.cols();
    let src = src.as_slice();
    for_row_blocks(par, dst.as_mut_slice(), cols, |first_row, block| {
        let src = &src[first_row * cols..first_row * cols + block.len()];
        for (d, s) in block.chunks_exact_mut(cols).zip(src.chunks_exact(cols)) {
            let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = s.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
            for (d, &v) in d.iter_mut().zip(s) {
                *d = v - max - log_sum;
            }
        }
    });
}
