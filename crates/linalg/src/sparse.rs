//! Products with a mostly-zero left operand, such as MNIST images (81% of pixels are 0).
//!
//! A dense product spends most of its time multiplying by those zeros. Stored by rows (CSR),
//! a sample's product with a weight matrix kept as `[in, out]` is a sum of the weight rows of
//! its non-zero features, and the weight gradient `inputᵀ · output_grad` is, per feature, a sum
//! of the output-gradient rows of the samples where that feature is non-zero (the same idea as
//! the "efficiently updatable" first layer of NNUE chess evaluators). Work scales with the
//! non-zeros instead of the matrix size.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::elementwise::{scale_by_derivative_slices, with_activation};
use crate::par::MAX_STEALING_PARTS;
use crate::team::SendPtr;
use crate::{FusedActivation, Matrix, Par};

/// Below this many multiply-adds a sparse product runs on one thread whatever `par` says.
///
/// From `cargo bench --bench matmul -- "sparse threads"` (784 → 128 at 20% density, build,
/// forward and weight gradient together; AVX-512 kernels, medians, 2026-11-27): two threads
/// took 39 µs against 53 µs on one at batch 16 (320K multiply-adds per product), 87 against
/// 139 at batch 64, 348 against 543 at batch 256. The threshold sits just under batch 16, the
/// same as for dense products.
pub const SPARSE_PARALLEL_THRESHOLD_MULADDS: usize = 256 * 1024;

/// Below this many input values [`SparseRows::try_from_dense`] scans on one thread, and a
/// data set gathers a batch on one thread (so that both split a batch the same way). The
/// same bench: the build of a batch of 64 (50K values) took 5.9 µs on two threads against
/// 9.4 µs on one; at batch 16 (12.5K values) the two are within noise of each other
/// (2.5 against 2.3 µs on the same run, 1.4 against 2.0 µs before the AVX-512 compaction).
pub const SPARSE_BUILD_PARALLEL_THRESHOLD: usize = 8 * 1024;

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
    rows: usize,
    cols: usize,
    /// Rows per shard (the last may hold fewer).
    shard_rows: usize,
    /// Shards in use; `shards` may hold more, kept for their buffers.
    shard_count: usize,
    shards: Vec<Shard>,
}

/// Rows `first_row..first_row + rows` of a [`SparseRows`].
///
/// Row `r`'s non-zeros are `indices[row_starts[r]..row_ends[r]]` (and the same range of
/// `values`). The rows the shard's own thread compacted lie in order from 0; rows another
/// thread took over during a two-thread build (see [`SparseRows::build_rows`]) lie in a
/// second region of the same buffers, from `region` on.
#[derive(Clone, Debug, Default)]
struct Shard {
    first_row: usize,
    rows: usize,
    row_starts: Vec<u32>,
    row_ends: Vec<u32>,
    /// Non-zeros in the shard's rows `0..r`, for `r` in `0..=rows`.
    row_prefix: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
    /// Size of each region of `indices` and `values`: the build's budget of non-zeros, one
    /// whole row and [`COMPACT_SLACK`].
    region: usize,
    /// Stored elements (both regions); the buffers are longer (scratch room).
    nnz: usize,
    columns_built: bool,
    col_starts: Vec<u32>,
    col_rows: Vec<u32>,
    col_values: Vec<f32>,
    /// The shard's global row numbers and as many ones: a column of ones, whose product with
    /// a gradient is that gradient's column sums over the shard's rows (a bias gradient).
    all_rows: Vec<u32>,
    ones: Vec<f32>,
}

impl SparseRows {
    /// An empty matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds `self` from `src` when at most `max_density` of its elements are non-zero and
    /// returns `true`; otherwise stops scanning early and returns `false` (contents then
    /// unspecified). Splits the rows over the threads `par` allows; after the first build of a
    /// given size on a given number of threads this allocates nothing.
    pub fn try_from_dense(&mut self, src: &Matrix, max_density: f32, par: Par) -> bool {
        let cols = src.cols();
        self.build_rows(src.rows(), cols, max_density, par, &|r, indices, values, n| {
            compact_row(src.row(r), indices, values, n)
        })
    }

    /// Rebuilds `self` from `rows` rows of `cols` bytes, byte `b` standing for `b / 255`
    /// (images stored as bytes, scaled to `[0, 1]` as they are read, rounded exactly as
    /// that division), when at most `max_density` of them are non-zero; otherwise returns
    /// `false` as [`SparseRows::try_from_dense`] does. `row(r)` gives row `r` (`cols` bytes).
    ///
    /// The same matrix, to the bit, as scaling the bytes into a dense [`Matrix`] and calling
    /// `try_from_dense`, without writing and reading back the dense copy (four bytes per
    /// pixel): a data loader can gather a batch of images straight into this form. Rows are
    /// split over threads as [`crate::for_each_row_range`] splits them, so a loader that
    /// prefetched each thread's rows into that thread's cache finds them there. Each thread
    /// also asks for the row 4 rows on while it compacts one, so that the rows of a random batch
    /// arrive from memory while the rows before are compacted.
    ///
    /// # Panics
    /// If `row` returns a row that is not `cols` bytes long.
    pub fn try_from_byte_rows<'a>(
        &mut self,
        rows: usize,
        cols: usize,
        row: &(dyn Fn(usize) -> &'a [u8] + Sync),
        max_density: f32,
        par: Par,
    ) -> bool {
        self.build_rows(rows, cols, max_density, par, &byte_rows(rows, cols, row))
    }

    /// Whether a build of `rows` rows of `cols` values on the threads `par` allows runs in
    /// the background of other work ([`SparseRows::try_from_byte_rows_during`]): on two
    /// threads, above [`SPARSE_BUILD_PARALLEL_THRESHOLD`] values. Otherwise it runs after
    /// that work, and a data loader may want to prefetch the rows first.
    pub fn builds_in_background(rows: usize, cols: usize, par: Par) -> bool {
        build_parts(rows, cols, par) == 2
    }

    /// [`SparseRows::try_from_byte_rows`] while `main` runs: on two threads, the thread of
    /// the team that is not running `main` compacts rows whenever it waits for work, as does
    /// the caller whenever it waits for that thread inside `main`, two rows at a time (so
    /// that either is back within a microsecond when a kernel of `main` hands it work); after
    /// `main`, the caller compacts what is left. For gathering the next batch during a
    /// training step, in the gaps where one thread waits for the other. Returns whether the
    /// build succeeded (as `try_from_byte_rows`) and `main`'s result. The same matrix, to the
    /// bit, whoever compacted which row. Elsewhere ([`SparseRows::builds_in_background`]
    /// false), `main` and then the build.
    ///
    /// `main` may use the team's threads as it likes; it runs exactly once, whether the build
    /// succeeds or not.
    ///
    /// # Panics
    /// As `try_from_byte_rows`.
    pub fn try_from_byte_rows_during<'a, R>(
        &mut self,
        rows: usize,
        cols: usize,
        row: &(dyn Fn(usize) -> &'a [u8] + Sync),
        max_density: f32,
        par: Par,
        main: impl FnOnce() -> R,
    ) -> (bool, R) {
        let mut main = Some(main);
        let mut result = None;
        let built = self.build_rows_during(
            rows,
            cols,
            max_density,
            par,
            &byte_rows(rows, cols, row),
            Some(&mut || result = main.take().map(|main| main())),
        );
        (built, result.expect("build_rows_during runs `during` once"))
    }

    /// The shared driver of the builds: sets the shape and the shards, then has each shard
    /// (on its thread) append its rows with `compact(row, indices, values, n)`, which writes
    /// row `row`'s non-zeros at `n` and returns the new count.
    fn build_rows(
        &mut self,
        rows: usize,
        cols: usize,
        max_density: f32,
        par: Par,
        compact: &CompactRow<'_>,
    ) -> bool {
        self.build_rows_during(rows, cols, max_density, par, compact, None)
    }

    /// [`SparseRows::build_rows`], calling `during` (if any) exactly once: on two threads
    /// with the build in the background of it (see [`SparseRows::try_from_byte_rows_during`]),
    /// otherwise before the build. Without it, a two-thread build hands each thread its
    /// shard at once (a round of the team), as the background may take a parked thread a
    /// while to notice.
    fn build_rows_during(
        &mut self,
        rows: usize,
        cols: usize,
        max_density: f32,
        par: Par,
        compact: &CompactRow<'_>,
        during: Option<&mut dyn FnMut()>,
    ) -> bool {
        if rows.checked_mul(cols).is_none_or(|len| len > u32::MAX as usize) {
            during.into_iter().for_each(|during| during());
            return false;
        }
        let parts = build_parts(rows, cols, par);
        self.rows = rows;
        self.cols = cols;
        self.shard_rows = rows.div_ceil(parts).max(1);
        self.shard_count = rows.div_ceil(self.shard_rows);
        if self.shards.len() < self.shard_count {
            self.shards.resize_with(self.shard_count, Shard::default);
        }
        let shard_rows = self.shard_rows;
        let shards = &mut self.shards[..self.shard_count];
        for (s, shard) in shards.iter_mut().enumerate() {
            shard.first_row = s * shard_rows;
            shard.rows = shard_rows.min(rows - shard.first_row);
        }
        // Two threads each compact their own shard's rows and, when done first, take blocks
        // of rows from the end of the other's (into that shard's second region): one thread
        // slowed on a shared machine no longer keeps the other waiting. With more threads,
        // one shard per thread.
        let stealing = shards.len() == 2;
        for shard in shards.iter_mut() {
            shard.prepare(cols, max_density, stealing);
        }
        if shards.len() <= 1 {
            during.into_iter().for_each(|during| during());
            let fill = RegionFill::default();
            return shards.iter_mut().all(|shard| {
                let rows = 0..shard.rows;
                shard.views().compact_rows(rows, 0, &fill, cols, max_density, compact)
                    && shard.finish(max_density, cols)
            });
        }
        // A dense input (a hidden layer's, about half non-zeros) is refused after the first
        // rows: scan them here before handing parts to other threads, so that refusing costs
        // no hand-over (the shards' own scans repeat these few rows when the input is sparse).
        if !shards[0].probe(cols, max_density, compact) {
            during.into_iter().for_each(|during| during());
            return false;
        }
        let ok = AtomicBool::new(true);
        let mut all_views = [ShardViews::EMPTY; MAX_STEALING_PARTS];
        for (view, shard) in all_views.iter_mut().zip(shards.iter_mut()) {
            *view = shard.views();
        }
        let fills: [[RegionFill; 2]; MAX_STEALING_PARTS] = Default::default();
        // In the background, in smaller blocks: a thread inside one when the next kernel
        // hands it work makes that kernel wait.
        let in_background = stealing && during.is_some();
        let block_rows = if in_background { BACKGROUND_BLOCK_ROWS } else { BUILD_BLOCK_ROWS };
        let blocks_of = |shard: &Shard| shard.rows.div_ceil(block_rows);
        let mut bounds = [0; MAX_STEALING_PARTS + 1];
        for (s, shard) in shards.iter().enumerate() {
            bounds[s + 1] = bounds[s] + blocks_of(shard);
        }
        let count = shards.len();
        let compact_blocks = |runner: usize, start: usize, end: usize| {
            // The shard of blocks `start..end` (a range never spans two shards).
            let s = bounds[1..=count].iter().position(|&b| b > start).expect("a block of some shard");
            let view = all_views[s];
            let first = (start - bounds[s]) * block_rows;
            let last = ((end - bounds[s]) * block_rows).min(view.rows);
            // The shard's own thread fills region 0, the one other thread region 1.
            let region = usize::from(runner != s);
            if ok.load(Ordering::Relaxed)
                && !view.compact_rows(first..last, region, &fills[s][region], cols, max_density, compact)
            {
                ok.store(false, Ordering::Relaxed);
            }
        };
        match during {
            Some(during) if stealing => {
                let ranges = crate::par::StealingRanges::new(&bounds[..=count], 1);
                let task = |runner: usize| {
                    ranges.next(runner).map(|(start, end)| compact_blocks(runner, start, end)).is_some()
                };
                crate::par::with_background(&task, during);
            }
            during => {
                during.into_iter().for_each(|during| during());
                if stealing {
                    crate::par::run_ranges_stealing_by(&bounds[..=count], 1, &compact_blocks);
                } else {
                    crate::par::run_parts(count, &|s| compact_blocks(s, bounds[s], bounds[s + 1]));
                }
            }
        }
        ok.into_inner() && shards.iter_mut().all(|shard| shard.finish(max_density, cols))
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Number of stored (non-zero) elements.
    pub fn nnz(&self) -> usize {
        self.shards().iter().map(|shard| shard.nnz).sum()
    }

    fn shards(&self) -> &[Shard] {
        &self.shards[..self.shard_count]
    }

    /// Builds each shard's by-column copy, each on the thread that built the shard.
    fn build_columns(&mut self, par: Par) {
        if self.shards().iter().all(|shard| shard.columns_built) {
            return;
        }
        self.build_columns_and(par, &|_| {});
    }

    /// Builds each shard's by-column copy where not built yet, then calls `rows_task` on the
    /// shard's rows, each shard on the thread that built it: work on a batch's rows done in
    /// the same hand-over as the copy.
    fn build_columns_and(&mut self, par: Par, rows_task: &(dyn Fn(Range<usize>) + Sync)) {
        let cols = self.cols;
        let shards = &mut self.shards[..self.shard_count];
        let work = |shard: &mut Shard| {
            shard.build_columns(cols);
            rows_task(shard.first_row..shard.first_row + shard.rows);
        };
        if par == Par::Seq || shards.len() <= 1 {
            shards.iter_mut().for_each(work);
            return;
        }
        let base = SendPtr(shards.as_mut_ptr());
        crate::par::run_parts(shards.len(), &|part| {
            // SAFETY: each part takes a different shard; `shards` outlives the run.
            work(unsafe { &mut *base.get().add(part) });
        });
    }
}

impl Shard {
    /// Sets the buffers up for a build: room for the budget of non-zeros plus one row in
    /// each region (two when another thread may take rows over), a start and an end per row.
    /// Allocates only when the shape or the density limit grows.
    fn prepare(&mut self, cols: usize, max_density: f32, two_regions: bool) {
        self.columns_built = false;
        self.nnz = 0;
        let (budget, _) = limits(self.rows, cols, max_density);
        self.region = budget + cols + COMPACT_SLACK;
        self.reserve(self.region * if two_regions { 2 } else { 1 });
        self.row_starts.resize(self.rows, 0);
        self.row_ends.resize(self.rows, 0);
    }

    /// Raw views of the buffers, for the threads of a build (after [`Shard::prepare`]).
    fn views(&mut self) -> ShardViews {
        ShardViews {
            first_row: self.first_row,
            rows: self.rows,
            region: self.region,
            indices: SendPtr(self.indices.as_mut_ptr()),
            values: SendPtr(self.values.as_mut_ptr()),
            starts: SendPtr(self.row_starts.as_mut_ptr()),
            ends: SendPtr(self.row_ends.as_mut_ptr()),
        }
    }

    /// After every row is compacted: the count of non-zeros before each row, and whether
    /// the total is within the budget.
    fn finish(&mut self, max_density: f32, cols: usize) -> bool {
        self.row_prefix.clear();
        self.row_prefix.push(0);
        let mut n = 0u32;
        for (&start, &end) in self.row_starts.iter().zip(&self.row_ends) {
            n += end - start;
            self.row_prefix.push(n);
        }
        self.nnz = n as usize;
        self.nnz <= limits(self.rows, cols, max_density).0
    }

    /// Compacts the shard's first [`PROBE_ROWS`] rows as a build does (into its buffers,
    /// which the build then overwrites) and returns false where the build would stop after
    /// them. The scan of a refused dense batch, without handing work to other threads.
    fn probe(&mut self, cols: usize, max_density: f32, compact: &CompactRow<'_>) -> bool {
        let rows = self.rows.min(PROBE_ROWS);
        let (budget, early_limit) = limits(self.rows, cols, max_density);
        self.reserve(budget + cols + COMPACT_SLACK);
        let mut n = 0;
        for r in 0..rows {
            n = compact(self.first_row + r, &mut self.indices, &mut self.values, n);
            if too_dense(n, r, budget, early_limit) {
                return false;
            }
        }
        true
    }

    /// Grows the compaction buffers to at least `capacity` elements.
    ///
    /// Fresh zeroed buffers, not `resize`: their old contents are scratch, and a large zeroed
    /// allocation arrives as pages the system has not touched yet, so only the part that
    /// batches fill is ever faulted in (the budget of non-zeros is 25% of a batch, MNIST
    /// fills 19%, and a second region is only used by rows another thread takes over).
    fn reserve(&mut self, capacity: usize) {
        if self.indices.len() < capacity {
            self.indices = vec![0; capacity];
            self.values = vec![0.0; capacity];
        }
    }

    /// The non-zeros of row `r` of the shard: column numbers and values.
    ///
    /// This and the two accessors below are always inlined: the products' lists call them
    /// inside the kernel loops, and a call that is not inlined clobbers every vector register,
    /// so the partial sums held there go to the stack around each list. Whether LLVM inlines
    /// a function depends on how many callers it has: with one more caller of
    /// `column_or_ones` (an experiment), the weight gradient's sums spilled and a training
    /// step at batch 256 took 30% longer on one thread (717 against 554 µs).
    #[inline(always)]
    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let range = self.row_starts[r] as usize..self.row_ends[r] as usize;
        (&self.indices[range.clone()], &self.values[range])
    }

    /// The non-zeros of column `j` in the shard: row numbers within the shard, and values.
    #[inline(always)]
    fn column(&self, j: usize) -> (&[u32], &[f32]) {
        let range = self.col_starts[j] as usize..self.col_starts[j + 1] as usize;
        (&self.col_rows[range.clone()], &self.col_values[range])
    }

    /// Builds the by-column copy (a counting sort of the row copy), once per rebuild. Row
    /// numbers are global (the shard's first row added), ready to index a whole batch.
    fn build_columns(&mut self, cols: usize) {
        if self.columns_built {
            return;
        }
        self.col_starts.clear();
        self.col_starts.resize(cols + 1, 0);
        count_columns(&self.row_starts, &self.row_ends, &self.indices, &mut self.col_starts[1..]);
        for j in 0..cols {
            self.col_starts[j + 1] += self.col_starts[j];
        }
        // Sized like a region of the row copy (fixed by the shape and the density limit, and
        // larger than the budget of non-zeros), not by this batch's count: a denser batch
        // later must not reallocate.
        if self.col_rows.len() < self.region {
            // Fresh zeroed buffers, as in `Shard::reserve`.
            self.col_rows = vec![0; self.region];
            self.col_values = vec![0.0; self.region];
        }
        // Filling in row order keeps each column's entries in row order: a fixed summation
        // order for the gradient.
        let mut cursor = std::mem::take(&mut self.col_starts);
        let rows = (&self.row_starts[..], &self.row_ends[..], &self.indices[..], &self.values[..]);
        fill_columns(rows, self.first_row, &mut cursor, &mut self.col_rows, &mut self.col_values);
        // `cursor[j]` now holds the end of column j, which is the start of column j + 1.
        for j in (1..=cols).rev() {
            cursor[j] = cursor[j - 1];
        }
        cursor[0] = 0;
        self.col_starts = cursor;
        self.all_rows.clear();
        self.all_rows.extend((self.first_row..self.first_row + self.rows).map(|r| r as u32));
        self.ones.clear();
        self.ones.resize(self.rows, 1.0);
        self.columns_built = true;
    }

    /// [`Shard::column`] for column `j < cols`, the column of ones for `j == cols`.
    #[inline(always)]
    fn column_or_ones(&self, j: usize, cols: usize) -> (&[u32], &[f32]) {
        if j < cols { self.column(j) } else { (&self.all_rows, &self.ones) }
    }
}

/// Adds 1 to `counts[j]` for every stored non-zero of column `j` (rows `r` at
/// `indices[starts[r]..ends[r]]`).
///
/// Free functions taking slices, so that the compiler knows the counts are not the row
/// bounds and keeps every pointer in a register (as a method on the shard, the by-column
/// copy took 90% longer: each store reloaded the buffers' addresses).
fn count_columns(starts: &[u32], ends: &[u32], indices: &[u32], counts: &mut [u32]) {
    for (&start, &end) in starts.iter().zip(ends) {
        for &j in &indices[start as usize..end as usize] {
            counts[j as usize] += 1;
        }
    }
}

/// Writes each row's non-zeros into their columns' slots (`cursor[j]`, advanced), with the
/// row's number in the batch (`first_row` plus its place in the shard), rows in order.
fn fill_columns(
    (starts, ends, indices, values): (&[u32], &[u32], &[u32], &[f32]),
    first_row: usize,
    cursor: &mut [u32],
    col_rows: &mut [u32],
    col_values: &mut [f32],
) {
    for (r, (&start, &end)) in starts.iter().zip(ends).enumerate() {
        let row = (first_row + r) as u32;
        let range = start as usize..end as usize;
        for (&j, &v) in indices[range.clone()].iter().zip(&values[range]) {
            let slot = cursor[j as usize] as usize;
            col_rows[slot] = row;
            col_values[slot] = v;
            cursor[j as usize] += 1;
        }
    }
}

/// The threads a build of `rows` rows of `cols` values runs on (each builds one shard).
fn build_parts(rows: usize, cols: usize, par: Par) -> usize {
    par.above(rows.saturating_mul(cols), SPARSE_BUILD_PARALLEL_THRESHOLD).threads().min(rows).max(1)
}

/// Rows a build scans before its early stop may refuse a dense batch (see [`Shard::probe`]).
const PROBE_ROWS: usize = 4;

/// Rows a thread compacts at a time in a two-thread build: the unit the faster thread takes
/// over from the end of the other's shard.
const BUILD_BLOCK_ROWS: usize = 8;

/// The same in a build in the background of other work
/// ([`SparseRows::try_from_byte_rows_during`]): a thread inside a block when that work hands
/// it a kernel makes the kernel wait.
const BACKGROUND_BLOCK_ROWS: usize = 2;

/// The budget of non-zeros of a build of `rows` rows, and the per-row limit of its early
/// stop.
fn limits(rows: usize, cols: usize, max_density: f32) -> (usize, f64) {
    let budget = (max_density.clamp(0.0, 1.0) as f64 * (rows * cols) as f64) as usize;
    (budget, 1.5 * max_density as f64 * cols as f64)
}

/// Whether `n` non-zeros in `r + 1` rows stop a build: over the budget, or (a prefix much
/// denser than the limit) over the early limit from the fourth row on.
fn too_dense(n: usize, r: usize, budget: usize, early_limit: f64) -> bool {
    n > budget || (r + 1 >= PROBE_ROWS && n as f64 > early_limit * (r + 1) as f64)
}

/// How far a thread has filled one region of a shard in a build: non-zeros stored, rows
/// compacted. Touched by one thread at a time; alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct RegionFill {
    n: AtomicUsize,
    rows: AtomicUsize,
}

/// A shard's buffers as raw pointers, for the threads of a build: each writes its own
/// region of `indices` and `values`, and the starts and ends of the rows it compacts.
#[derive(Clone, Copy)]
struct ShardViews {
    first_row: usize,
    rows: usize,
    region: usize,
    indices: SendPtr<u32>,
    values: SendPtr<f32>,
    starts: SendPtr<u32>,
    ends: SendPtr<u32>,
}

impl ShardViews {
    const EMPTY: Self = Self {
        first_row: 0,
        rows: 0,
        region: 0,
        indices: SendPtr(std::ptr::null_mut()),
        values: SendPtr(std::ptr::null_mut()),
        starts: SendPtr(std::ptr::null_mut()),
        ends: SendPtr(std::ptr::null_mut()),
    };

    /// Compacts the shard's rows `rows` with `compact` into region `region` after what
    /// `fill` says it holds, and records where each row lies; false when the region goes
    /// over the budget or the early limit.
    ///
    /// Callers hand each row to one call, and each region to one thread at a time.
    fn compact_rows(
        self,
        rows: Range<usize>,
        region: usize,
        fill: &RegionFill,
        cols: usize,
        max_density: f32,
        compact: &CompactRow<'_>,
    ) -> bool {
        let (budget, early_limit) = limits(self.rows, cols, max_density);
        let base = region * self.region;
        // SAFETY: `prepare` sized the buffers to hold the regions, and only this thread
        // writes region `region` now (the callers' promise); the views outlive the build.
        let (indices, values) = unsafe {
            (
                std::slice::from_raw_parts_mut(self.indices.get().add(base), self.region),
                std::slice::from_raw_parts_mut(self.values.get().add(base), self.region),
            )
        };
        let (mut n, mut done) = (fill.n.load(Ordering::Relaxed), fill.rows.load(Ordering::Relaxed));
        for r in rows {
            let start = n;
            n = compact(self.first_row + r, indices, values, n);
            if too_dense(n, done, budget, early_limit) {
                return false;
            }
            done += 1;
            // SAFETY: r < self.rows (the rows of the shard), and each row is compacted once.
            unsafe {
                *self.starts.get().add(r) = (base + start) as u32;
                *self.ends.get().add(r) = (base + n) as u32;
            }
        }
        fill.n.store(n, Ordering::Relaxed);
        fill.rows.store(done, Ordering::Relaxed);
        true
    }
}

/// How many rows ahead [`SparseRows::try_from_byte_rows`] asks for the row it will compact.
///
/// The rows of a random batch (images) lie anywhere in memory, and a thread that waits for
/// each in turn spends most of a build waiting. Asked for a few rows ahead, they arrive while
/// the thread compacts the rows before. `cargo bench --bench matmul -- "mnist batch"` (random
/// batches of 256, the images from memory; medians, 2026-11-27): gather sparse from 145 to
/// 54 µs on one thread, from 85 to 37 µs on two; 2, 4 and 8 rows ahead within noise of each
/// other. In training, where the loader prefetched the batch a step earlier (into the outer
/// cache, which the step's own data partly evicts again), the build of a batch of 256 went
/// from 60 to 45 µs on one thread and from 41 to 32 µs on two (steps of 784-128-10 alternating
/// with and without it in one process, means over 500 steps each), though whole epochs, run
/// separately, stayed within their noise.
const BYTE_ROWS_AHEAD: usize = 4;

/// Extra room at the end of the compaction buffers: a vector compaction stores 16 lanes
/// whatever the count of non-zeros.
const COMPACT_SLACK: usize = 16;

/// Appends the non-zeros of row `row` (of whatever the build reads) to `indices` and `values`
/// at position `n` and returns the new count; the buffers have room for a whole row plus
/// [`COMPACT_SLACK`] past `n`.
type CompactRow<'a> = dyn Fn(usize, &mut [u32], &mut [f32], usize) -> usize + Sync + 'a;

/// The compaction of the builds from bytes ([`SparseRows::try_from_byte_rows`]): row `r` is
/// `row(r)`, checked to be `cols` bytes long, and the row [`BYTE_ROWS_AHEAD`] on is asked for
/// meanwhile.
fn byte_rows<'r, 'a: 'r>(
    rows: usize,
    cols: usize,
    row: &'r (dyn Fn(usize) -> &'a [u8] + Sync),
) -> impl Fn(usize, &mut [u32], &mut [f32], usize) -> usize + Sync + 'r {
    move |r, indices, values, n| {
        let bytes = row(r);
        assert!(
            bytes.len() == cols,
            "try_from_byte_rows: row {r} has {} bytes, expected {cols}",
            bytes.len()
        );
        if r + BYTE_ROWS_AHEAD < rows {
            crate::prefetch_bytes(row(r + BYTE_ROWS_AHEAD), crate::CacheLevel::Inner);
        }
        compact_byte_row(bytes, indices, values, n)
    }
}

/// [`compact_row`] for a row of bytes, each byte `b` stored as `b / 255`.
fn compact_byte_row(row: &[u8], indices: &mut [u32], values: &mut [f32], n: usize) -> usize {
    assert!(indices.len() >= n + row.len() + COMPACT_SLACK && values.len() >= n + row.len() + COMPACT_SLACK);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        // SAFETY: the CPU has the features (checked above); room checked by the assert.
        return unsafe { compact_byte_row_avx512(row, indices, values, n) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU has the features (checked above); room checked by the assert.
        return unsafe { compact_byte_row_avx2(row, indices, values, n) };
    }
    compact_byte_row_portable_from(row, 0, indices, values, n)
}

/// For each mask of 8 lanes, the lanes it selects in order, then the others: the
/// `vpermps` indices that pack the selected lanes to the front (AVX2 has no compress
/// instruction). 8 KB.
#[cfg(target_arch = "x86_64")]
static PACK8: [[u32; 8]; 256] = {
    let mut table = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut k = 0;
        let mut lane = 0;
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                table[mask][k] = lane as u32;
                k += 1;
            }
            lane += 1;
        }
        // The lanes past the count are overwritten by the next store: any index will do.
        mask += 1;
    }
    table
};

/// Packs the lanes of `v` selected by `mask` (columns `c..c + 8`), and their column numbers,
/// to positions `n..` of `values` and `indices` with full 8-lane stores, and returns the new
/// count: [`pack16`] for AVX2, with a permutation from [`PACK8`] instead of a compress.
///
/// # Safety
/// The CPU has AVX2, and both buffers have room for 8 values at `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn pack8(
    mask: u32,
    v: std::arch::x86_64::__m256,
    c: usize,
    indices: &mut [u32],
    values: &mut [f32],
    n: usize,
) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(mask < 256 && indices.len() >= n + 8 && values.len() >= n + 8);
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let columns = _mm256_add_epi32(iota, _mm256_set1_epi32(c as i32));
    // SAFETY: `mask` < 256 indexes the table; room for 8 values at n (the caller's promise).
    unsafe {
        let order = _mm256_loadu_si256(PACK8.get_unchecked(mask as usize).as_ptr().cast());
        _mm256_storeu_ps(values.as_mut_ptr().add(n), _mm256_permutevar8x32_ps(v, order));
        _mm256_storeu_si256(indices.as_mut_ptr().add(n).cast(), _mm256_permutevar8x32_epi32(columns, order));
    }
    n + mask.count_ones() as usize
}

/// [`compact_byte_row_avx512`] for AVX2: sixteen bytes at a time, skipped at once when all
/// are zero (most blocks of an image are blank, and packing costs more here than with a
/// compress instruction), otherwise two packs of eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn compact_byte_row_avx2(row: &[u8], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let inv = _mm256_set1_ps(1.0 / 255.0);
    let d = _mm256_set1_ps(255.0);
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let bytes = _mm_loadu_si128(row.as_ptr().add(c).cast());
            let zeros = _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_setzero_si128())) as u32;
            let mask = !zeros & 0xffff;
            if mask != 0 {
                for (half, eight) in [bytes, _mm_srli_si128::<8>(bytes)].into_iter().enumerate() {
                    let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(eight));
                    // x / 255 by the corrected multiply of `crate::bytes::div255_corrected`.
                    let q = _mm256_mul_ps(x, inv);
                    let remainder = _mm256_fnmadd_ps(q, d, x);
                    let v = _mm256_fmadd_ps(remainder, inv, q);
                    n = pack8((mask >> (8 * half)) & 0xff, v, c + 8 * half, indices, values, n);
                }
            }
        }
        c += 16;
    }
    compact_byte_row_portable_from(row, full, indices, values, n)
}

/// Sixteen bytes at a time: a mask of the non-zero bytes, and the bytes widened to `f32`,
/// scaled, and packed with their column numbers as in [`compact_row_avx512`]. Without a
/// branch on the mask: whether a block of an image holds ink is unpredictable, and the
/// mispredictions cost more than packing an empty block (49 µs for a batch of 256 MNIST
/// images with the branch, on one thread).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn compact_byte_row_avx512(
    row: &[u8],
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let inv = _mm512_set1_ps(1.0 / 255.0);
    let d = _mm512_set1_ps(255.0);
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let bytes = _mm_loadu_si128(row.as_ptr().add(c).cast());
            let mask = _mm_test_epi8_mask(bytes, bytes);
            let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
            // x / 255 by the corrected multiply of `crate::bytes::div255_corrected`.
            let q = _mm512_mul_ps(x, inv);
            let remainder = _mm512_fnmadd_ps(q, d, x);
            let v = _mm512_fmadd_ps(remainder, inv, q);
            n = pack16(mask, v, c, indices, values, n);
        }
        c += 16;
    }
    compact_byte_row_portable_from(row, full, indices, values, n)
}

/// The portable loop over `row[start..]`, appending at `n`.
fn compact_byte_row_portable_from(
    row: &[u8],
    start: usize,
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    for (c, &b) in row.iter().enumerate().skip(start) {
        indices[n] = c as u32;
        values[n] = crate::scale_byte(b);
        n += (b != 0) as usize;
    }
    n
}

/// Appends the non-zeros of `row` (column index and value) at position `n` of `indices` and
/// `values`, and returns the new count. `-0.0` counts as zero (it adds nothing to a product);
/// NaN counts as non-zero (it must reach the output). The buffers have room for
/// `n + row.len() + COMPACT_SLACK` entries.
fn compact_row(row: &[f32], indices: &mut [u32], values: &mut [f32], n: usize) -> usize {
    assert!(indices.len() >= n + row.len() + COMPACT_SLACK && values.len() >= n + row.len() + COMPACT_SLACK);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above); room checked by the assert.
        return unsafe { compact_row_avx512(row, indices, values, n) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 (checked above); room checked by the assert.
        return unsafe { compact_row_avx2(row, indices, values, n) };
    }
    compact_row_portable(row, indices, values, n)
}

/// [`compact_row_avx512`] for AVX2: eight lanes at a time, packed by [`pack8`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn compact_row_avx2(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 8 * 8;
    let zero = _mm256_setzero_ps();
    let mut c = 0;
    while c < full {
        // SAFETY: c + 8 <= row.len(); stores at n..n + 8 fit (n + remaining row + slack).
        unsafe {
            let v = _mm256_loadu_ps(row.as_ptr().add(c));
            let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(v, zero)) as u32;
            if mask != 0 {
                n = pack8(mask, v, c, indices, values, n);
            }
        }
        c += 8;
    }
    compact_row_tail(row, full, indices, values, n)
}

fn compact_row_portable(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    // Skip all-zero runs of 16 with one vectorizable test (images have long blank stretches),
    // then compact without branches: write every candidate, advance only past non-zeros.
    // `bits << 1` drops the sign, so -0.0 counts as zero.
    const CHUNK: usize = 16;
    for (c, chunk) in row.chunks(CHUNK).enumerate() {
        let bits = chunk.iter().fold(0u32, |bits, v| bits | v.to_bits());
        if bits << 1 != 0 {
            for (k, &v) in chunk.iter().enumerate() {
                indices[n] = (c * CHUNK + k) as u32;
                values[n] = v;
                n += (v != 0.0) as usize;
            }
        }
    }
    n
}

/// The scalar end of the vector compactions: `row[start..]`, appended at `n`.
fn compact_row_tail(
    row: &[f32],
    start: usize,
    indices: &mut [u32],
    values: &mut [f32],
    mut n: usize,
) -> usize {
    for (c, &v) in row.iter().enumerate().skip(start) {
        indices[n] = c as u32;
        values[n] = v;
        n += (v != 0.0) as usize;
    }
    n
}

/// Packs the lanes of `v` selected by `mask` (columns `c..c + 16`), and their column numbers,
/// to positions `n..` of `values` and `indices` with full 16-lane stores, and returns the
/// new count; the lanes stored past it are overwritten by the next pack.
///
/// # Safety
/// The CPU has AVX-512F, and both buffers have room for 16 values at `n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pack16(
    mask: u16,
    v: std::arch::x86_64::__m512,
    c: usize,
    indices: &mut [u32],
    values: &mut [f32],
    n: usize,
) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(indices.len() >= n + 16 && values.len() >= n + 16);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let columns = _mm512_add_epi32(iota, _mm512_set1_epi32(c as i32));
    // SAFETY: room for 16 values at n (the caller's promise).
    unsafe {
        _mm512_storeu_ps(values.as_mut_ptr().add(n), _mm512_maskz_compress_ps(mask, v));
        _mm512_storeu_si512(indices.as_mut_ptr().add(n).cast(), _mm512_maskz_compress_epi32(mask, columns));
    }
    n + mask.count_ones() as usize
}

/// Sixteen lanes at a time: a mask of the non-zeros, `vcompressps` packs them (and their column
/// numbers) to the front of a register, and a full 16-lane store writes them out; the lanes past
/// the count are overwritten by the next store. (Register compress and a plain store: on
/// AMD Zen 4, compressing straight to memory is much slower.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn compact_row_avx512(row: &[f32], indices: &mut [u32], values: &mut [f32], mut n: usize) -> usize {
    use std::arch::x86_64::*;
    let full = row.len() / 16 * 16;
    let zero = _mm512_setzero_ps();
    let mut c = 0;
    while c < full {
        // SAFETY: c + 16 <= row.len(); stores at n..n + 16 fit (n + remaining row + slack).
        unsafe {
            let v = _mm512_loadu_ps(row.as_ptr().add(c));
            let mask = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(v, zero);
            if mask != 0 {
                n = pack16(mask, v, c, indices, values, n);
            }
        }
        c += 16;
    }
    compact_row_tail(row, full, indices, values, n)
}

/// `dst = x · w_t`, with `x` sparse: each row of `dst` is the sum of the rows of `w_t` picked
/// by the row's non-zeros, weighted by them.
///
/// # Shapes
/// `x`: `[batch, in]`, `w_t`: `[in, out]`, `dst`: `[batch, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_matmul(dst: &mut Matrix, x: &SparseRows, w_t: &Matrix, par: Par) {
    sparse_affine(dst, x, w_t, None, par);
}

/// `dst = x · w_t + bias` (the bias added to every row), with `x` sparse: [`sparse_matmul`]
/// with a layer's bias added as each row is stored, so that no second pass over `dst` (and,
/// on several threads, no second hand-over) is needed. Each element is the product's sum
/// plus the bias, rounded as `sparse_matmul` followed by [`crate::add_row_vector`] rounds.
///
/// # Shapes
/// `x`: `[batch, in]`, `w_t`: `[in, out]`, `bias`: `[out]`, `dst`: `[batch, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_affine(dst: &mut Matrix, x: &SparseRows, w_t: &Matrix, bias: Option<&[f32]>, par: Par) {
    sparse_affine_activated(dst, x, w_t, bias, None, par);
}

/// [`sparse_affine`], then `activation` (if any) on each element as it is stored: a layer and
/// the activation after it in one pass, each element rounded as `sparse_affine` followed by a
/// separate pass of the activation rounds it.
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_affine_activated(
    dst: &mut Matrix,
    x: &SparseRows,
    w_t: &Matrix,
    bias: Option<&[f32]>,
    activation: Option<FusedActivation>,
    par: Par,
) {
    assert!(
        w_t.rows() == x.cols
            && dst.shape() == [x.rows, w_t.cols()]
            && bias.is_none_or(|b| b.len() == w_t.cols()),
        "sparse_affine: x [{}, {}] · w_t {:?} + bias of {:?} values into dst {:?}",
        x.rows,
        x.cols,
        w_t.shape(),
        bias.map(<[f32]>::len),
        dst.shape()
    );
    let shard_rows = x.shard_rows;
    let shards = x.shards();
    // Entries in rows `0..i`: the shards before row i's, then the start of row i in its shard.
    let entries_before = |i: usize| {
        if i >= x.rows {
            return x.nnz();
        }
        let s = i / shard_rows;
        shards[..s].iter().map(|shard| shard.nnz).sum::<usize>()
            + shards[s].row_prefix[i - shards[s].first_row] as usize
    };
    let target = Target { dst, bias, activation, extra_row: None, rows_done: None };
    sum_listed_rows(target, x.nnz(), w_t, par, &entries_before, &|i| {
        let shard = &shards[i / shard_rows];
        std::iter::once(shard.row(i - shard.first_row))
    });
}

/// `dst = xᵀ · grad`, with `x` sparse: row `j` of `dst` is the sum of the rows of `grad`
/// of the samples where feature `j` is non-zero, weighted by it. (The weight gradient of a
/// layer whose input is `x`, in `[in, out]` layout.)
///
/// # Shapes
/// `x`: `[batch, in]`, `grad`: `[batch, out]`, `dst`: `[in, out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_transpose_matmul(dst: &mut Matrix, x: &mut SparseRows, grad: &Matrix, par: Par) {
    sparse_transpose_matmul_with_sums(dst, None, x, grad, par);
}

/// [`sparse_transpose_matmul`], and, when `column_sums` is given, `column_sums[j] = Σ_i grad[i, j]`
/// (a layer's bias gradient) in the same pass: the sums are one more row of the product, that
/// of a feature equal to 1 in every sample, summed over the batch's rows in order like
/// [`crate::column_sums`] (and to the same bits: `1 · g` is exact).
///
/// # Shapes
/// `x`: `[batch, in]`, `grad`: `[batch, out]`, `dst`: `[in, out]`, `column_sums`: `[out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_transpose_matmul_with_sums(
    dst: &mut Matrix,
    column_sums: Option<&mut [f32]>,
    x: &mut SparseRows,
    grad: &Matrix,
    par: Par,
) {
    check_transpose_shapes(dst, column_sums.as_deref(), x, grad);
    x.build_columns(par);
    transpose_product(dst, column_sums, x, grad, None, par);
}

/// A callback of [`WeightGradExtras::rows_done`]: a block of finished rows (their range in
/// the destination, and their values).
pub type RowsDone<'a> = dyn Fn(Range<usize>, &[f32]) + Sync + 'a;

/// What [`sparse_weight_grad`] does besides `dst = xᵀ · dz`.
#[derive(Default)]
pub struct WeightGradExtras<'a> {
    /// Receives `Σ_i dz[i, ·]` (a layer's bias gradient), summed in the same pass as
    /// [`sparse_transpose_matmul_with_sums`] sums it.
    pub column_sums: Option<&'a mut [f32]>,
    /// `(activation, output, dz)`: the product is taken of `dz = grad · activation′(output)`
    /// (elementwise, the derivative from the activation's output), written to `dz` (resized)
    /// as the activation layer's own backward pass computes it, to the bit: the weight
    /// gradient of a layer fused with the activation after it. Each thread scales the rows of
    /// the shard of `x` it built in the same hand-over as that shard's by-column copy, which
    /// saves a pass and a hand-over against scaling first.
    pub through_activation: Option<(FusedActivation, &'a Matrix, &'a mut Matrix)>,
    /// Called with each block of finished rows of `dst` (their range and values), on the
    /// thread that summed them, while they are in its cache: for work that may start on a row
    /// as soon as it is final, such as an optimizer's update of the matching weight rows.
    /// Every row is handed over exactly once; blocks may run at the same time on different
    /// threads.
    pub rows_done: Option<&'a RowsDone<'a>>,
}

/// `dst = xᵀ · dz` with `x` sparse, `dz = grad` unless [`WeightGradExtras`] asks for more: the
/// weight gradient of a layer whose input is `x` ([`sparse_transpose_matmul`]) with its bias
/// gradient, a fused activation's derivative and a callback per block of finished rows.
///
/// # Shapes
/// `x`: `[batch, in]`, `grad` (and an activation's `output`): `[batch, out]`, `dst`:
/// `[in, out]`, `column_sums`: `[out]`
///
/// # Panics
/// If the shapes do not chain.
#[track_caller]
pub fn sparse_weight_grad(
    dst: &mut Matrix,
    x: &mut SparseRows,
    grad: &Matrix,
    extras: WeightGradExtras<'_>,
    par: Par,
) {
    let WeightGradExtras { column_sums, through_activation, rows_done } = extras;
    check_transpose_shapes(dst, column_sums.as_deref(), x, grad);
    let Some((activation, output, dz)) = through_activation else {
        x.build_columns(par);
        return transpose_product(dst, column_sums, x, grad, rows_done, par);
    };
    assert!(
        output.shape() == grad.shape(),
        "sparse_weight_grad: the activation's output {:?} and its gradient {:?} differ in shape",
        output.shape(),
        grad.shape()
    );
    dz.resize(grad.rows(), grad.cols());
    let width = grad.cols();
    let (grad_values, output_values) = (grad.as_slice(), output.as_slice());
    let base = SendPtr(dz.as_mut_slice().as_mut_ptr());
    x.build_columns_and(par, &|rows| {
        let range = rows.start * width..rows.end * width;
        // SAFETY: the shards' row ranges are disjoint and within `dz`, resized above and
        // borrowed mutably for this call.
        let dz = unsafe { std::slice::from_raw_parts_mut(base.get().add(range.start), range.len()) };
        scale_by_derivative_slices(dz, &grad_values[range.clone()], &output_values[range], activation);
    });
    transpose_product(dst, column_sums, x, dz, rows_done, par);
}

/// The shape check of the transposed products.
#[track_caller]
fn check_transpose_shapes(dst: &Matrix, column_sums: Option<&[f32]>, x: &SparseRows, grad: &Matrix) {
    assert!(
        grad.rows() == x.rows
            && dst.shape() == [x.cols, grad.cols()]
            && column_sums.is_none_or(|sums| sums.len() == grad.cols()),
        "sparse_transpose_matmul: x [{}, {}]ᵀ · grad {:?} into dst {:?} and column sums of {:?} values",
        x.rows,
        x.cols,
        grad.shape(),
        dst.shape(),
        column_sums.map(<[f32]>::len)
    );
}

/// The product of [`sparse_transpose_matmul_with_sums`] once the by-column copy is built.
fn transpose_product(
    dst: &mut Matrix,
    column_sums: Option<&mut [f32]>,
    x: &SparseRows,
    grad: &Matrix,
    rows_done: Option<&RowsDone<'_>>,
    par: Par,
) {
    let (cols, batch) = (x.cols, x.rows);
    let shards = x.shards();
    // Shards in order, each column's entries in row order: the sum runs over the batch's
    // rows in order, however many shards there are.
    // The row of sums, if any, comes after the `cols` rows of `dst`, with `batch` entries.
    let entries_before = |j: usize| {
        let before: usize = shards.iter().map(|shard| shard.col_starts[j.min(cols)] as usize).sum();
        before + if j > cols { batch } else { 0 }
    };
    let entries = x.nnz() + if column_sums.is_some() { batch } else { 0 };
    let target = Target { dst, bias: None, activation: None, extra_row: column_sums, rows_done };
    sum_listed_rows(target, entries, grad, par, &entries_before, &|j| {
        shards.iter().map(move |shard| shard.column_or_ones(j, cols))
    })
}

/// Where [`sum_listed_rows`] stores its sums: the rows of `dst` (plus `bias` if given, then
/// `activation` if given), then, if given, one more row in `extra_row`; and whom it tells
/// about each block of finished rows of `dst` ([`WeightGradExtras::rows_done`]).
struct Target<'a> {
    dst: &'a mut Matrix,
    bias: Option<&'a [f32]>,
    activation: Option<FusedActivation>,
    extra_row: Option<&'a mut [f32]>,
    rows_done: Option<&'a RowsDone<'a>>,
}

/// `dst[i] = Σ over the entries of lists(i) of value · source[index]`, the entries taken
/// in order: both sparse products, split over blocks of rows of `dst` when the work pays for
/// it. Each element is summed by one thread in list order: results do not depend on the
/// thread count.
///
/// The blocks hold equal numbers of entries, not of rows (`entries_before(i)` counts the
/// entries of rows `0..i`, for `i` up to the row count): the pixels of MNIST digits sit more
/// in the lower half of the image, and an even split of the weight gradient's 784 rows gave
/// one thread 11% more work than the other, which then waited for it. A thread done with its
/// block takes chunks from the end of the others' ([`crate::par::run_ranges_stealing`]).
///
/// Why rows, not blocks of columns as in dense products: each thread then writes one
/// contiguous block of memory. Split by columns, two threads wrote alternate 256-byte halves
/// of each 512-byte row (784 → 128), and the weight gradient took longer on two threads than
/// on one (`cargo bench --bench matmul -- "sparse threads"`; the cores' prefetchers fetch the
/// neighbouring lines the other core is writing). By rows, the thread that built a shard of
/// the input computes the output rows of that shard, and the optimizer's update, which splits
/// a parameter into the same contiguous blocks of rows, finds each block of the weight
/// gradient where it was computed.
fn sum_listed_rows<'a, I>(
    target: Target<'_>,
    entries: usize,
    source: &Matrix,
    par: Par,
    entries_before: &(dyn Fn(usize) -> usize + Sync),
    lists: &(dyn Fn(usize) -> I + Sync),
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let Target { dst, bias, activation, extra_row, rows_done } = target;
    let width = source.cols();
    let dst_rows = dst.rows();
    let has_extra = extra_row.is_some();
    let rows = dst_rows + has_extra as usize;
    let source = source.as_slice();
    let dst_base = SendPtr(dst.as_mut_slice().as_mut_ptr());
    let extra_base = SendPtr(extra_row.map_or(std::ptr::null_mut(), <[f32]>::as_mut_ptr));
    // Sums rows `start..end` (of `dst`, then the extra row).
    let sum_rows = |start: usize, end: usize| {
        for r in start..end {
            // SAFETY: callers hand out disjoint row ranges; `dst` holds `dst_rows` rows of
            // `width` values and the extra row `width` values, both borrowed for this call.
            let (row, epilogue) = unsafe {
                if r < dst_rows {
                    let row = std::slice::from_raw_parts_mut(dst_base.get().add(r * width), width);
                    (row, Epilogue { bias, activation })
                } else {
                    (std::slice::from_raw_parts_mut(extra_base.get(), width), Epilogue::NONE)
                }
            };
            gather_rows(row, lists(r), source, width, epilogue);
        }
        let finished = start.min(dst_rows)..end.min(dst_rows);
        if let Some(rows_done) = rows_done.filter(|_| !finished.is_empty()) {
            // SAFETY: these rows of `dst` were just written by this call, and no other
            // reference to them is alive (callers hand out disjoint row ranges).
            let values = unsafe {
                std::slice::from_raw_parts(dst_base.get().add(finished.start * width), finished.len() * width)
            };
            rows_done(finished, values);
        }
    };
    let parts = match par.above(entries * width, SPARSE_PARALLEL_THRESHOLD_MULADDS) {
        Par::Threads(t) if rows > 1 && width > 0 => t.get().min(rows).min(MAX_STEALING_PARTS),
        _ => return sum_rows(0, rows),
    };
    // Part p starts at the first row with at least p/parts of the entries before it.
    let boundary = |p: usize| {
        if p >= parts {
            return rows;
        }
        let target = (entries * p).div_ceil(parts);
        // `entries_before` never decreases: binary search for the first row reaching `target`.
        let (mut lo, mut hi) = (0, rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if entries_before(mid) < target { lo = mid + 1 } else { hi = mid }
        }
        lo
    };
    let mut bounds = [0; MAX_STEALING_PARTS + 1];
    for (p, bound) in bounds.iter_mut().enumerate().take(parts + 1) {
        *bound = boundary(p);
    }
    // About 16 chunks a part: fine enough for a fast thread to take over a slowed one's tail.
    let chunk = rows.div_ceil(parts * 16);
    // The boundaries never decrease, so ranges are disjoint.
    crate::par::run_ranges_stealing(&bounds[..=parts], chunk, &sum_rows);
}

/// What [`gather_rows`] does to each sum as it stores it: adds `bias[j]` (if given), then
/// applies `activation` (if given).
#[derive(Clone, Copy)]
struct Epilogue<'a> {
    bias: Option<&'a [f32]>,
    activation: Option<FusedActivation>,
}

impl Epilogue<'_> {
    /// The sums as they are.
    const NONE: Self = Epilogue { bias: None, activation: None };

    /// Finishes the sums `acc` of outputs `start..start + acc.len()` into `dst`.
    #[inline(always)]
    fn store(self, dst: &mut [f32], acc: &[f32], start: usize) {
        let dst = &mut dst[start..start + acc.len()];
        match (self.bias, self.activation) {
            (None, None) => dst.copy_from_slice(acc),
            (None, activation) => with_activation!(activation, |f| {
                for (d, &a) in dst.iter_mut().zip(acc) {
                    *d = f(a);
                }
            }),
            (Some(bias), activation) => with_activation!(activation, |f| {
                for ((d, &a), &b) in dst.iter_mut().zip(acc).zip(&bias[start..]) {
                    *d = f(a + b);
                }
            }),
        }
    }
}

/// `dst = Σ over the entries (k, v) of lists of v · source[k]`, finished by `epilogue` (a
/// bias, an activation), where `source` holds rows of `width = dst.len()` values.
fn gather_rows<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { gather_rows_avx512(dst, lists, source, width, epilogue) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for (checked above).
        unsafe { gather_rows_fma(dst, lists, source, width, epilogue) };
        return;
    }
    gather_rows_generic::<false, 64, I>(dst, lists, source, width, epilogue);
}

/// With 32 vector registers of 16 values, a block of 128 outputs (8 registers) stays in
/// registers: each non-zero's source row is then read in one pass instead of two blocks of 64
/// (`cargo bench --bench matmul -- "sparse threads"`: forward 784 → 128 at batch 256, 253 µs
/// with blocks of 64 on AVX2, 213 µs here; weight gradient 249 against 208 µs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn gather_rows_avx512<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    gather_rows_generic::<true, 128, I>(dst, lists, source, width, epilogue);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gather_rows_fma<'a, I>(dst: &mut [f32], lists: I, source: &[f32], width: usize, epilogue: Epilogue<'_>)
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    gather_rows_generic::<true, 64, I>(dst, lists, source, width, epilogue);
}

/// How many entries ahead [`gather_rows_generic`] asks for the source rows it will read:
/// which rows come next is data (the non-zero features), so the CPU's prefetchers cannot
/// guess them, and a row last written by the other core's half of the optimizer's update
/// arrives from that core's cache.
const PREFETCH_AHEAD: usize = 8;

/// Asks the CPU to bring `source[at..at + len]` into its cache without waiting (no-op off
/// x86-64, or past the end).
#[inline(always)]
fn prefetch_block(source: &[f32], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(block) = source.get(at..at + len) {
        for line in block.chunks(16) {
            // SAFETY: a prefetch is a hint that never faults; the address is in bounds anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (source, at, len);
}

/// Accumulates in blocks of `BLOCK` outputs held in registers (a fixed-size local array the
/// compiler keeps in vector registers), so each non-zero costs loads of one source block and
/// as many fused multiply-adds, with no load or store of the partial sums. Blocks of 64 take
/// what is left when `BLOCK` is larger, then a tail. Every output is summed over the same
/// entries in the same order whatever the blocks: results do not depend on `BLOCK`.
#[inline(always)]
fn gather_rows_generic<'a, const FMA: bool, const BLOCK: usize, I>(
    dst: &mut [f32],
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let start = gather_row_blocks::<FMA, BLOCK, I>(dst, 0, lists.clone(), source, width, epilogue);
    let start = gather_row_blocks::<FMA, 64, I>(dst, start, lists.clone(), source, width, epilogue);
    let len = dst.len();
    let madd = |acc: f32, v: f32, w: f32| if FMA { v.mul_add(w, acc) } else { acc + v * w };
    if start < len {
        // Fewer than 64 outputs left: sums on the stack, at most 63 of them.
        let mut acc = [0.0f32; 64];
        let tail = &mut acc[..len - start];
        for (indices, values) in lists {
            for (&i, &v) in indices.iter().zip(values) {
                let at = i as usize * width + start;
                let row = &source[at..at + tail.len()];
                for (a, &w) in tail.iter_mut().zip(row) {
                    *a = madd(*a, v, w);
                }
            }
        }
        epilogue.store(dst, tail, start);
    }
}

/// The blocks of `BLOCK` outputs of [`gather_rows_generic`] from `start` on, as many as fit;
/// returns where they end.
#[inline(always)]
fn gather_row_blocks<'a, const FMA: bool, const BLOCK: usize, I>(
    dst: &mut [f32],
    mut start: usize,
    lists: I,
    source: &[f32],
    width: usize,
    epilogue: Epilogue<'_>,
) -> usize
where
    I: Iterator<Item = (&'a [u32], &'a [f32])> + Clone,
{
    let madd = |acc: f32, v: f32, w: f32| if FMA { v.mul_add(w, acc) } else { acc + v * w };
    while start + BLOCK <= dst.len() {
        let mut acc = [0.0f32; BLOCK];
        for (indices, values) in lists.clone() {
            for (k, (&i, &v)) in indices.iter().zip(values).enumerate() {
                if let Some(&ahead) = indices.get(k + PREFETCH_AHEAD) {
                    prefetch_block(source, ahead as usize * width + start, BLOCK);
                }
                let at = i as usize * width + start;
                // A fixed-size view: no bounds checks inside, so the loop becomes vector FMAs.
                let row: &[f32; BLOCK] = source[at..at + BLOCK].try_into().expect("BLOCK values");
                for j in 0..BLOCK {
                    acc[j] = madd(acc[j], v, row[j]);
                }
            }
        }
        // The sums leave through a copy: were `acc` itself borrowed by the epilogue (a match
        // over every activation, ELU's `exp_m1` among them), the compiler kept it in memory
        // and stored all 8 registers to the stack after every entry (the forward product
        // took 2.5 times as long).
        let sums = acc;
        epilogue.store(dst, &sums, start);
        start += BLOCK;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of 128 outputs (the AVX-512 path) and of 64 (the AVX2 path) give the same bits,
    /// at widths that use whole blocks, a mix, and a tail, with and without a bias and a ReLU.
    #[test]
    fn block_sizes_agree() {
        let rows = 7;
        for width in [1, 63, 64, 100, 128, 192, 200, 256, 300] {
            let source: Vec<f32> = (0..rows * width).map(|k| ((k * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let bias: Vec<f32> = (0..width).map(|k| (k as f32 - 3.0) / 9.0).collect();
            let indices = [0u32, 2, 3, 6];
            let values = [0.5f32, -1.25, 3.0e-3, 7.5];
            for (bias, activation) in [None, Some(&bias[..])]
                .into_iter()
                .flat_map(|b| [(b, None), (b, Some(FusedActivation::Relu))])
            {
                let lists = || std::iter::once((&indices[..], &values[..]));
                let (mut wide, mut narrow) = (vec![f32::NAN; width], vec![f32::NAN; width]);
                let epilogue = Epilogue { bias, activation };
                gather_rows_generic::<true, 128, _>(&mut wide, lists(), &source, width, epilogue);
                gather_rows_generic::<true, 64, _>(&mut narrow, lists(), &source, width, epilogue);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let what = format!("width {width}, bias {}, {activation:?}", bias.is_some());
                assert_eq!(bits(&wide), bits(&narrow), "{what}");
                // And both are the sums themselves, entry by entry in order.
                for (j, &got) in wide.iter().enumerate() {
                    let mut want = 0.0f32;
                    for (&i, &v) in indices.iter().zip(&values) {
                        want = v.mul_add(source[i as usize * width + j], want);
                    }
                    if let Some(bias) = bias {
                        want += bias[j];
                    }
                    if activation.is_some() {
                        want = want.max(0.0);
                    }
                    assert_eq!(got.to_bits(), want.to_bits(), "{what}, output {j}");
                }
            }
        }
    }

    /// Every compaction kernel this CPU can run (AVX-512, AVX2, portable) stores the same
    /// entries: bytes at widths around the 8- and 16-lane blocks, and `f32` rows with `-0.0`
    /// (left out) and NaN (kept), appended after existing entries.
    #[test]
    fn compaction_kernels_agree() {
        let mut state = 12345u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for width in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 784] {
            let bytes: Vec<u8> =
                (0..width).map(|_| if next() % 4 == 0 { (next() % 255) as u8 + 1 } else { 0 }).collect();
            let floats: Vec<f32> = (0..width)
                .map(|_| match next() % 8 {
                    0 => -0.0,
                    1 => f32::NAN,
                    2 | 3 => (next() % 1000) as f32 / 7.0 - 70.0,
                    _ => 0.0,
                })
                .collect();
            let room = 3 + width + COMPACT_SLACK;
            type Kernel<T> = fn(&[T], &mut [u32], &mut [f32], usize) -> usize;
            let mut byte_kernels: Vec<(&str, Kernel<u8>)> =
                vec![("portable", |r, i, v, n| compact_byte_row_portable_from(r, 0, i, v, n))];
            let mut float_kernels: Vec<(&str, Kernel<f32>)> = vec![("portable", compact_row_portable)];
            #[cfg(target_arch = "x86_64")]
            {
                if crate::has_avx2_fma() {
                    // SAFETY: the CPU has the features (checked above); `room` leaves the slack.
                    byte_kernels.push(("avx2", |r, i, v, n| unsafe { compact_byte_row_avx2(r, i, v, n) }));
                    float_kernels.push(("avx2", |r, i, v, n| unsafe { compact_row_avx2(r, i, v, n) }));
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: as above.
                    byte_kernels
                        .push(("avx512", |r, i, v, n| unsafe { compact_byte_row_avx512(r, i, v, n) }));
                    float_kernels.push(("avx512", |r, i, v, n| unsafe { compact_row_avx512(r, i, v, n) }));
                }
            }
            let run = |kernel: &dyn Fn(&mut [u32], &mut [f32]) -> usize| {
                let (mut indices, mut values) = (vec![7u32; room], vec![0.5f32; room]);
                let n = kernel(&mut indices, &mut values);
                (indices[..n].to_vec(), bits(&values[..n]))
            };
            let want_bytes = run(&|i, v| byte_kernels[0].1(&bytes, i, v, 3));
            assert_eq!(want_bytes.0.len(), 3 + bytes.iter().filter(|&&b| b != 0).count());
            for (name, kernel) in &byte_kernels {
                assert_eq!(run(&|i, v| kernel(&bytes, i, v, 3)), want_bytes, "bytes, width {width}, {name}");
            }
            let want_floats = run(&|i, v| float_kernels[0].1(&floats, i, v, 3));
            assert_eq!(want_floats.0.len(), 3 + floats.iter().filter(|x| x.is_nan() || **x != 0.0).count());
            for (name, kernel) in &float_kernels {
                assert_eq!(
                    run(&|i, v| kernel(&floats, i, v, 3)),
                    want_floats,
                    "floats, width {width}, {name}"
                );
            }
        }
    }

    /// A two-thread build in which one thread takes rows over from the other's shard (its
    /// rows are made slow to read) stores the same rows as a one-thread build, and products
    /// of it give the same bits. Repeated until a takeover is seen (a thread descheduled the
    /// whole time could prevent one).
    #[test]
    fn rows_taken_over_by_the_other_thread_change_nothing() {
        // Above the size at which a build splits over threads.
        let (rows, cols) = (256, 50);
        assert!(rows * cols >= SPARSE_BUILD_PARALLEL_THRESHOLD);
        let bytes: Vec<u8> = (0..rows * cols)
            .map(|k| if (k * 7 + k / 3) % 5 == 0 { (k % 251) as u8 + 1 } else { 0 })
            .collect();
        let slow_from = rows / 2;
        let row = |r: usize| -> &[u8] {
            if r >= slow_from {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
            }
            &bytes[r * cols..(r + 1) * cols]
        };
        let mut reference = SparseRows::new();
        assert!(reference.try_from_byte_rows(rows, cols, &row, 1.0, Par::Seq));
        let weight = Matrix::from_fn(cols, 24, |i, j| ((i * 13 + j * 7) % 17) as f32 / 8.0 - 1.0);
        let grad = Matrix::from_fn(rows, 24, |i, j| ((i * 5 + j * 11) % 19) as f32 / 9.0 - 1.0);
        let products = |x: &mut SparseRows, par: Par| {
            let (mut out, mut weight_grad) = (Matrix::zeros(rows, 24), Matrix::zeros(cols, 24));
            sparse_matmul(&mut out, x, &weight, par);
            sparse_transpose_matmul(&mut weight_grad, x, &grad, par);
            let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            (bits(&out), bits(&weight_grad))
        };
        let want = products(&mut reference, Par::Seq);
        let mut taken_over = false;
        for _ in 0..5 {
            let mut built = SparseRows::new();
            assert!(built.try_from_byte_rows(rows, cols, &row, 1.0, Par::with_threads(2)));
            assert_eq!(built.shards().len(), 2);
            assert_eq!(built.nnz(), reference.nnz());
            for r in 0..rows {
                let (shard, local) = (&built.shards[r / built.shard_rows], r % built.shard_rows);
                let (reference_shard, reference_local) = (&reference.shards[0], r);
                assert_eq!(shard.row(local).0, reference_shard.row(reference_local).0, "row {r} columns");
                assert_eq!(shard.row(local).1, reference_shard.row(reference_local).1, "row {r} values");
            }
            assert_eq!(products(&mut built, Par::with_threads(2)), want);
            let second = &built.shards[1];
            taken_over |= second.row_starts.iter().any(|&start| start as usize >= second.region);
            if taken_over {
                break;
            }
        }
        assert!(taken_over, "no row of the slow shard was taken over in 5 builds");
    }

    /// A build in the background of other work ([`SparseRows::try_from_byte_rows_during`])
    /// gives the matrix a build on one thread gives, runs the work exactly once and returns
    /// its result, also when the work keeps the team busy or the build is refused; and the
    /// thread not running the work does compact rows meanwhile.
    #[test]
    fn built_in_the_background_of_other_work_the_same_matrix() {
        let (rows, cols) = (256, 50);
        assert!(SparseRows::builds_in_background(rows, cols, Par::with_threads(2)));
        assert!(!SparseRows::builds_in_background(rows, cols, Par::Seq));
        let bytes: Vec<u8> = (0..rows * cols)
            .map(|k| if (k * 7 + k / 3) % 5 == 0 { (k % 251) as u8 + 1 } else { 0 })
            .collect();
        let row = |r: usize| -> &[u8] { &bytes[r * cols..(r + 1) * cols] };
        let mut reference = SparseRows::new();
        assert!(reference.try_from_byte_rows(rows, cols, &row, 1.0, Par::Seq));
        let weight = Matrix::from_fn(cols, 24, |i, j| ((i * 13 + j * 7) % 17) as f32 / 8.0 - 1.0);
        let same_rows = |built: &SparseRows| {
            assert_eq!(built.nnz(), reference.nnz());
            (0..rows).all(|r| {
                let (shard, local) = (&built.shards[r / built.shard_rows], r % built.shard_rows);
                shard.row(local) == reference.shards[0].row(r)
            })
        };
        // Work that hands kernels to the team: the caller compacts while it waits for them.
        let mut out = Matrix::zeros(rows, 24);
        let mut want = Matrix::zeros(rows, 24);
        sparse_matmul(&mut want, &reference, &weight, Par::Seq);
        for par in [Par::Seq, Par::with_threads(2)] {
            let mut built = SparseRows::new();
            let mut calls = 0;
            let (ok, value) = built.try_from_byte_rows_during(rows, cols, &row, 1.0, par, || {
                calls += 1;
                for _ in 0..20 {
                    sparse_matmul(&mut out, &reference, &weight, Par::with_threads(2));
                }
                7
            });
            assert!(ok && value == 7 && calls == 1, "{par:?}");
            assert!(same_rows(&built), "{par:?}");
            assert_eq!(out.as_slice(), want.as_slice());
        }
        // Work on the caller alone: the other thread has the time to compact every row, its
        // own shard's and then the caller's (into that shard's second region).
        let mut helped = false;
        for _ in 0..5 {
            let mut built = SparseRows::new();
            let (ok, ()) =
                built.try_from_byte_rows_during(rows, cols, &row, 1.0, Par::with_threads(2), || {
                    let started = std::time::Instant::now();
                    while started.elapsed() < std::time::Duration::from_millis(2) {
                        std::hint::spin_loop();
                    }
                });
            assert!(ok && same_rows(&built));
            let first = &built.shards[0];
            helped = first.row_starts.iter().any(|&start| start as usize >= first.region);
            if helped {
                break;
            }
        }
        assert!(helped, "the other thread compacted none of the caller's rows in 5 builds");
        // Refused (too dense for the limit), and too large to index: the work still runs once.
        for (limit, rows) in [(0.01, rows), (1.0, u32::MAX as usize)] {
            let mut calls = 0;
            let (ok, ()) = SparseRows::new().try_from_byte_rows_during(
                rows,
                cols,
                &row,
                limit,
                Par::with_threads(2),
                || calls += 1,
            );
            assert!(!ok && calls == 1);
        }
    }

    /// The vector compaction gives exactly what the portable one gives, at every row length
    /// around the 16-lane width, with -0.0 (dropped) and NaN (kept).
    #[test]
    fn compactions_agree() {
        let specials = [0.0f32, -0.0, 1.5, f32::NAN, 0.0, 0.0, -2.0, 0.0];
        for len in 0..50 {
            let row: Vec<f32> = (0..len).map(|i| specials[(i * 7 + len) % specials.len()]).collect();
            let room = len + COMPACT_SLACK;
            let (mut pi, mut pv) = (vec![0u32; room], vec![0f32; room]);
            let n = compact_row_portable(&row, &mut pi, &mut pv, 0);
            let want: Vec<usize> = (0..len).filter(|&i| row[i] != 0.0).collect();
            assert_eq!(n, want.len(), "len {len}");
            assert_eq!(pi[..n].iter().map(|&i| i as usize).collect::<Vec<_>>(), want);
            let (mut ci, mut cv) = (vec![0u32; room], vec![0f32; room]);
            let m = compact_row(&row, &mut ci, &mut cv, 0);
            assert_eq!((m, &ci[..m]), (n, &pi[..n]), "len {len}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&cv[..m]), bits(&pv[..n]), "len {len}");
        }
    }
}
