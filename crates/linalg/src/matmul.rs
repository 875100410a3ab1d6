//! Matrix products through faer.

use crate::{Matrix, MatrixRef, Par};

/// Whether a kernel overwrites its destination or adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accum {
    /// `dst = result` (the old contents are not read).
    Replace,
    /// `dst = dst + result`.
    Add,
}

/// Below this many multiply-adds (`m·n·k`) a product runs on one thread whatever `par` says.
///
/// Chosen with `cargo bench --bench matmul` on a 2-core AMD EPYC (AVX-512): at 32·64·64 the
/// split costs more than it saves; from 64·128·128 on, two threads win.
pub const PARALLEL_THRESHOLD_MULADDS: usize = 128 * 1024;

/// `dst = alpha · lhs · rhs` (or `dst += …` with [`Accum::Add`]).
///
/// Either operand may be a transposed view (`weight.t()`); nothing is copied.
///
/// # Shapes
/// - `lhs`: `[m, k]`, `rhs`: `[k, n]`, `dst`: `[m, n]` (logical shapes, after any transpose)
///
/// # Panics
/// If the shapes do not chain; the message names all three.
///
/// # Example
/// ```
/// use percept_linalg::{Accum, Matrix, Par, matmul};
/// let input = Matrix::from_rows(&[[1.0, 2.0]]);
/// let weight = Matrix::from_rows(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); // [out, in]
/// let mut out = Matrix::zeros(1, 3);
/// matmul(&mut out, Accum::Replace, &input, weight.t(), 1.0, Par::Seq);
/// assert_eq!(out.as_slice(), &[1.0, 2.0, 3.0]);
/// ```
#[track_caller]
pub fn matmul<'l, 'r>(
    dst: &mut Matrix,
    accum: Accum,
    lhs: impl Into<MatrixRef<'l>>,
    rhs: impl Into<MatrixRef<'r>>,
    alpha: f32,
    par: Par,
) {
    let lhs = lhs.into();
    let rhs = rhs.into();
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert!(
        rhs.rows == k && dst.rows() == m && dst.cols() == n,
        "matmul: shapes do not chain: lhs [{}, {}] · rhs [{}, {}] into dst [{}, {}]",
        lhs.rows,
        lhs.cols,
        rhs.rows,
        rhs.cols,
        dst.rows(),
        dst.cols()
    );
    let par = par.above(m * n * k, PARALLEL_THRESHOLD_MULADDS);
    let faer_par = match par {
        Par::Seq => faer::Par::Seq,
        Par::Threads(t) => faer::Par::Rayon(t),
    };
    let faer_accum = match accum {
        Accum::Replace => faer::Accum::Replace,
        Accum::Add => faer::Accum::Add,
    };
    let dst = faer::MatMut::from_row_major_slice_mut(dst.as_mut_slice(), m, n);
    faer::linalg::matmul::matmul(dst, faer_accum, as_faer(lhs), as_faer(rhs), alpha, faer_par);
}

fn as_faer(view: MatrixRef<'_>) -> faer::MatRef<'_, f32> {
    if view.transposed {
        faer::MatRef::from_row_major_slice(view.data, view.cols, view.rows).transpose()
    } else {
        faer::MatRef::from_row_major_slice(view.data, view.rows, view.cols)
    }
}
