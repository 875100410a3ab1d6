//! Building a [`SparseRows`] from a batch: dense `f32` rows or rows of image bytes, on one
//! thread or two. The build stops early on a batch too dense to pay (a hidden layer's input),
//! and on two threads the one that finishes its shard first takes rows over from the end of the
//! other's, or compacts rows in the gaps of other work; none of this changes the stored matrix.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::compact::{COMPACT_SLACK, compact_byte_row, compact_row};
use super::storage::{Shard, SparseRows};
use crate::par::MAX_STEALING_PARTS;
use crate::team::SendPtr;
use crate::{Matrix, Par};

/// Below this many input values [`SparseRows::try_from_dense`] scans on one thread, and a
/// data set gathers a batch on one thread (so that both split a batch the same way). The
/// same bench: the build of a batch of 64 (50K values) took 5.9 µs on two threads against
/// 9.4 µs on one; at batch 16 (12.5K values) the two are within noise of each other
/// (2.5 against 2.3 µs on the same run, 1.4 against 2.0 µs before the AVX-512 compaction).
pub const SPARSE_BUILD_PARALLEL_THRESHOLD: usize = 8 * 1024;

impl SparseRows {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sparse_matmul, sparse_transpose_matmul};

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
}
