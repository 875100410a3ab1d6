//! [`SparseRows`]: a batch stored by its non-zero elements, row by row, in one shard per thread
//! of the build. The layout the build writes, the by-column copy extends and the products read;
//! kept apart from all three so that each sees only the fields and accessors it needs.

/// A matrix stored by its non-zero elements, row by row (CSR), with a by-column copy (CSC)
/// built on demand for transposed products. Buffers are reused across rebuilds.
///
/// The rows are kept in shards, one per thread of the build, each built by the thread that
/// the split of a batch's rows gives them to (the thread that gathered those rows, see
/// [`crate::for_each_row_block`]), with its own by-column copy. On two threads, the one that
/// finishes its shard first compacts the last rows of the other's, a few rows at a time, so
/// that a thread slowed on a shared machine does not keep the other waiting; a build may also
/// run in the gaps of other work ([`SparseRows::try_from_byte_rows_during`]). Products read
/// every shard in row order, so neither the shards nor who built a row change a result.
#[derive(Clone, Debug, Default)]
pub struct SparseRows {
    pub(super) rows: usize,
    pub(super) cols: usize,
    /// Rows per shard (the last may hold fewer).
    pub(super) shard_rows: usize,
    /// Shards in use; `shards` may hold more, kept for their buffers.
    pub(super) shard_count: usize,
    pub(super) shards: Vec<Shard>,
}

/// Rows `first_row..first_row + rows` of a [`SparseRows`].
///
/// Row `r`'s non-zeros are `indices[row_starts[r]..row_ends[r]]` (and the same range of
/// `values`). The rows the shard's own thread compacted lie in order from 0; rows another
/// thread took over during a two-thread build (see [`SparseRows::build_rows`]) lie in a
/// second region of the same buffers, from `region` on.
#[derive(Clone, Debug, Default)]
pub(super) struct Shard {
    pub(super) first_row: usize,
    pub(super) rows: usize,
    pub(super) row_starts: Vec<u32>,
    pub(super) row_ends: Vec<u32>,
    /// Non-zeros in the shard's rows `0..r`, for `r` in `0..=rows`.
    pub(super) row_prefix: Vec<u32>,
    pub(super) indices: Vec<u32>,
    pub(super) values: Vec<f32>,
    /// Size of each region of `indices` and `values`: the build's budget of non-zeros, one
    /// whole row and [`COMPACT_SLACK`](super::compact::COMPACT_SLACK).
    pub(super) region: usize,
    /// Stored elements (both regions); the buffers are longer (scratch room).
    pub(super) nnz: usize,
    pub(super) columns_built: bool,
    pub(super) col_starts: Vec<u32>,
    pub(super) col_rows: Vec<u32>,
    pub(super) col_values: Vec<f32>,
    /// The shard's global row numbers and as many ones: a column of ones, whose product with
    /// a gradient is that gradient's column sums over the shard's rows (a bias gradient).
    pub(super) all_rows: Vec<u32>,
    pub(super) ones: Vec<f32>,
}

impl SparseRows {
    /// An empty matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Number of stored (non-zero) elements.
    pub fn nnz(&self) -> usize {
        self.shards().iter().map(|shard| shard.nnz).sum()
    }

    /// The shards in use, in row order.
    pub(super) fn shards(&self) -> &[Shard] {
        &self.shards[..self.shard_count]
    }
}

impl Shard {
    /// The non-zeros of row `r` of the shard: column numbers and values.
    ///
    /// This and the two accessors below are always inlined: the products' lists call them
    /// inside the kernel loops, and a call that is not inlined clobbers every vector register,
    /// so the partial sums held there go to the stack around each list. Whether LLVM inlines
    /// a function depends on how many callers it has: with one more caller of
    /// `column_or_ones` (an experiment), the weight gradient's sums spilled and a training
    /// step at batch 256 took 30% longer on one thread (717 against 554 µs).
    #[inline(always)]
    pub(super) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let range = self.row_starts[r] as usize..self.row_ends[r] as usize;
        (&self.indices[range.clone()], &self.values[range])
    }
}
