//! The by-column copy (CSC) of a [`SparseRows`], built on demand by a counting sort of its rows:
//! the weight gradient `xᵀ · grad` walks each input feature's non-zeros, and a by-row layout
//! would make it scan every row for each feature. Each shard builds its own copy on the thread
//! that built the shard, where its rows still sit in cache.

use std::ops::Range;

use super::storage::{Shard, SparseRows};
use crate::Par;
use crate::team::SendPtr;

impl SparseRows {
    /// Builds each shard's by-column copy, each on the thread that built the shard.
    pub(super) fn build_columns(&mut self, par: Par) {
        if self.shards().iter().all(|shard| shard.columns_built) {
            return;
        }
        self.build_columns_and(par, &|_| {});
    }

    /// Builds each shard's by-column copy where not built yet, then calls `rows_task` on the
    /// shard's rows, each shard on the thread that built it: work on a batch's rows done in
    /// the same hand-over as the copy.
    pub(super) fn build_columns_and(&mut self, par: Par, rows_task: &(dyn Fn(Range<usize>) + Sync)) {
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
    pub(super) fn column_or_ones(&self, j: usize, cols: usize) -> (&[u32], &[f32]) {
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
