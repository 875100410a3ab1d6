//! The row-major `f32` matrix every layer reads and writes.

use std::fmt;

/// A dense, row-major matrix of `f32`: one row per sample, one column per feature.
///
/// Storage is one allocation of `rows * cols` values, starting on a 64-byte cache line;
/// element `(r, c)` lives at `r * cols + c`. [`Matrix::resize`] keeps the allocation when a
/// buffer is reused for a batch of another size, which is how layers avoid allocating inside
/// a training step.
///
/// Why aligned: kernels split matrices between threads in blocks of whole rows. With rows a
/// multiple of 16 values long, every block then covers whole 64-byte cache lines, and two
/// threads never write to the same line; and vector loads of a row never straddle two lines.
#[derive(Clone, PartialEq, Default)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Storage,
}

/// Values per 64-byte cache line.
const LINE: usize = 16;

/// One cache line of values; a `Vec` of these is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

/// `len` values in whole cache lines (the last one padded).
#[derive(Clone, Default)]
struct Storage {
    lines: Vec<Line>,
    len: usize,
}

impl Storage {
    fn filled(len: usize, value: f32) -> Self {
        Self { lines: vec![Line([value; LINE]); len.div_ceil(LINE)], len }
    }

    fn from_slice(values: &[f32]) -> Self {
        let mut storage = Self::filled(values.len(), 0.0);
        storage.copy_from_slice(values);
        storage
    }

    /// New values (past the old length) are zero.
    fn resize(&mut self, len: usize) {
        let old = self.len;
        self.lines.resize(len.div_ceil(LINE), Line([0.0; LINE]));
        self.len = len;
        if len > old {
            self[old..].fill(0.0);
        }
    }
}

impl std::ops::Deref for Storage {
    type Target = [f32];
    #[inline]
    fn deref(&self) -> &[f32] {
        // SAFETY: `lines` holds at least `len` initialised `f32`s, contiguous (`repr(C)` arrays).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl std::ops::DerefMut for Storage {
    #[inline]
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as for `deref`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: Storage::filled(checked_len(rows, cols), 0.0) }
    }

    /// A `rows × cols` matrix with every element equal to `value`.
    pub fn filled(rows: usize, cols: usize, value: f32) -> Self {
        Self { rows, cols, data: Storage::filled(checked_len(rows, cols), value) }
    }

    /// A `rows × cols` matrix of the row-major values in `data` (copied into aligned storage).
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    #[track_caller]
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            checked_len(rows, cols),
            "Matrix::from_vec: {} values cannot fill a [{rows}, {cols}] matrix",
            data.len()
        );
        Self { rows, cols, data: Storage::from_slice(&data) }
    }

    /// Builds a matrix from equally long rows, e.g. `Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]])`.
    ///
    /// # Panics
    /// If the rows differ in length.
    #[track_caller]
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Self {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            assert_eq!(
                row.len(),
                cols,
                "Matrix::from_rows: row {i} has {} values, row 0 has {cols}",
                row.len()
            );
            data.extend_from_slice(row);
        }
        Self::from_vec(rows.len(), cols, data)
    }

    /// Builds a matrix by calling `f(row, col)` for every element.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(checked_len(rows, cols));
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Self { rows, cols, data: Storage::from_slice(&data) }
    }

    /// Number of rows (samples).
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `[rows, cols]`.
    #[inline]
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Number of elements, `rows * cols`.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the matrix holds no element.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// All elements, row after row.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All elements, row after row, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The row-major values as a `Vec` (a copy).
    pub fn into_vec(self) -> Vec<f32> {
        self.data.to_vec()
    }

    /// Row `r`.
    #[inline]
    #[track_caller]
    pub fn row(&self, r: usize) -> &[f32] {
        assert!(r < self.rows, "row {r} out of range for a [{}, {}] matrix", self.rows, self.cols);
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Row `r`, mutably.
    #[inline]
    #[track_caller]
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        assert!(r < self.rows, "row {r} out of range for a [{}, {}] matrix", self.rows, self.cols);
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Iterates over the rows.
    pub fn row_iter(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        // `max(1)` keeps `chunks_exact` valid for zero-width matrices, which have no data anyway.
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    /// Element `(r, c)`.
    #[inline]
    #[track_caller]
    pub fn get(&self, r: usize, c: usize) -> f32 {
        assert!(
            r < self.rows && c < self.cols,
            "index ({r}, {c}) out of range for a [{}, {}] matrix",
            self.rows,
            self.cols
        );
        self.data[r * self.cols + c]
    }

    /// Sets element `(r, c)`.
    #[inline]
    #[track_caller]
    pub fn set(&mut self, r: usize, c: usize, value: f32) {
        assert!(
            r < self.rows && c < self.cols,
            "index ({r}, {c}) out of range for a [{}, {}] matrix",
            self.rows,
            self.cols
        );
        self.data[r * self.cols + c] = value;
    }

    /// Gives the matrix the shape `rows × cols`, reusing its allocation when it is large enough.
    ///
    /// The contents afterwards are unspecified (kernels that write a destination overwrite it),
    /// but no element is left uninitialised: new elements are zero.
    pub fn resize(&mut self, rows: usize, cols: usize) {
        let len = checked_len(rows, cols);
        self.rows = rows;
        self.cols = cols;
        self.data.resize(len);
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: f32) {
        self.data.fill(value);
    }

    /// Copies `src` into `self`, taking its shape (reuses the allocation).
    pub fn copy_from(&mut self, src: &Matrix) {
        self.rows = src.rows;
        self.cols = src.cols;
        self.data.resize(src.len());
        self.data.copy_from_slice(&src.data);
    }

    /// A read-only view of this matrix, as stored.
    #[inline]
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef { data: &self.data, rows: self.rows, cols: self.cols, transposed: false }
    }

    /// A read-only view of the transpose, without copying: `matrix.t()` is `matrixᵀ`.
    #[inline]
    pub fn t(&self) -> MatrixRef<'_> {
        self.view().t()
    }

    /// The largest absolute value, 0 for an empty matrix (the lab's "watch the weights").
    pub fn max_abs(&self) -> f32 {
        self.data.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }
}

/// A borrowed matrix, possibly transposed, as an operand of [`crate::matmul`].
///
/// `rows` and `cols` are the logical shape (after the transpose).
#[derive(Clone, Copy, Debug)]
pub struct MatrixRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) transposed: bool,
}

impl<'a> MatrixRef<'a> {
    /// The transpose of this view (a flag flip, no copy).
    #[inline]
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, transposed: !self.transposed }
    }

    /// Logical number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Logical number of columns.
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Logical shape `[rows, cols]`.
    #[inline]
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Whether this view reads its storage transposed.
    #[inline]
    pub fn is_transposed(&self) -> bool {
        self.transposed
    }

    /// Logical element `(r, c)`.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> f32 {
        debug_assert!(r < self.rows && c < self.cols);
        if self.transposed { self.data[c * self.rows + r] } else { self.data[r * self.cols + c] }
    }
}

impl<'a> From<&'a Matrix> for MatrixRef<'a> {
    #[inline]
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

#[track_caller]
fn checked_len(rows: usize, cols: usize) -> usize {
    rows.checked_mul(cols)
        .unwrap_or_else(|| panic!("a [{rows}, {cols}] matrix has more elements than fit in memory"))
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the shape and up to 6 rows and 8 columns, eliding the rest with `…`.
impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_ROWS: usize = 6;
        const MAX_COLS: usize = 8;
        writeln!(f, "Matrix [{}, {}]", self.rows, self.cols)?;
        for r in 0..self.rows.min(MAX_ROWS) {
            write!(f, "  [")?;
            for c in 0..self.cols.min(MAX_COLS) {
                if c > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{:>9.4}", self.get(r, c))?;
            }
            if self.cols > MAX_COLS {
                write!(f, ", …")?;
            }
            writeln!(f, "]")?;
        }
        if self.rows > MAX_ROWS {
            writeln!(f, "  …")?;
        }
        Ok(())
    }
}
