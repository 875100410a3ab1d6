//! Parallelism: how many threads a kernel may use, chosen by the caller.

use std::num::NonZeroUsize;

use crate::team::Team;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How a kernel may run: on the calling thread, or split over up to `n` threads.
///
/// Kernels take a `Par` argument instead of reading hidden global state; layers pass
/// [`Par::current`], which follows [`set_num_threads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    /// On the calling thread.
    Seq,
    /// Split over up to this many threads.
    Threads(NonZeroUsize),
}

/// 0 means "not set yet": use the team's size.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// percept's worker threads (team.rs says why not rayon's pool).
static TEAM: OnceLock<Team> = OnceLock::new();

fn team_with(threads: usize) -> &'static Team {
    TEAM.get_or_init(|| Team::new(threads))
}

fn team() -> &'static Team {
    // `available_parallelism` reads cgroup files (tens of microseconds): only on first use.
    TEAM.get().unwrap_or_else(|| team_with(std::thread::available_parallelism().map_or(1, |n| n.get())))
}

/// Runs `f(0)`, …, `f(parts - 1)` on the team and returns when all are done.
pub(crate) fn run_parts(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    team().run(parts, f);
}

/// Most parts [`run_ranges_stealing`] takes (more threads share these).
pub(crate) const MAX_STEALING_PARTS: usize = 16;

/// Chunks a part has left, `front..back` packed as `front << 32 | back`, alone on its cache
/// line (the owner takes from the front, other threads from the back).
#[repr(align(64))]
struct Span(AtomicU64);

impl Span {
    fn take(&self, from_front: bool) -> Option<usize> {
        let mut packed = self.0.load(Ordering::Acquire);
        loop {
            let (front, back) = (packed >> 32, packed & u64::from(u32::MAX));
            if front >= back {
                return None;
            }
            let (next, chunk) = if from_front {
                ((front + 1) << 32 | back, front)
            } else {
                (front << 32 | (back - 1), back - 1)
            };
            match self.0.compare_exchange_weak(packed, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(chunk as usize),
                Err(now) => packed = now,
            }
        }
    }
}

/// Runs `main` while the team's threads run `task` whenever they wait (see
/// `Team::with_background`).
pub(crate) fn with_background<R>(task: &(dyn Fn(usize) -> bool + Sync), main: impl FnOnce() -> R) -> R {
    team().with_background(task, main)
}

/// The chunks of [`run_ranges_stealing_by`], for threads that take them one at a time.
pub(crate) struct StealingRanges<'a> {
    bounds: &'a [usize],
    chunk: usize,
    spans: [Span; MAX_STEALING_PARTS],
}

impl<'a> StealingRanges<'a> {
    /// Part `p` owns `bounds[p]..bounds[p + 1]`, in chunks of `chunk`.
    pub(crate) fn new(bounds: &'a [usize], chunk: usize) -> Self {
        let parts = bounds.len().saturating_sub(1);
        assert!(parts <= MAX_STEALING_PARTS, "run_ranges_stealing: {parts} parts");
        let chunk = chunk.max(1);
        let spans = std::array::from_fn(|p| {
            let chunks = if p < parts { (bounds[p + 1] - bounds[p]).div_ceil(chunk) } else { 0 };
            Span(AtomicU64::new(chunks as u64))
        });
        Self { bounds, chunk, spans }
    }

    /// The next range for the thread of part `runner`: the front of its own part, else the
    /// back of another's; `None` when every range is taken (or `runner` is no part).
    pub(crate) fn next(&self, runner: usize) -> Option<(usize, usize)> {
        let parts = self.bounds.len().saturating_sub(1);
        if runner >= parts {
            return None;
        }
        let range = |p: usize, c: usize| {
            let start = self.bounds[p] + c * self.chunk;
            (start, (start + self.chunk).min(self.bounds[p + 1]))
        };
        if let Some(c) = self.spans[runner].take(true) {
            return Some(range(runner, c));
        }
        (1..parts).map(|k| (runner + k) % parts).find_map(|q| self.spans[q].take(false).map(|c| range(q, c)))
    }
}

/// Calls `f(start, end)` on disjoint ranges covering `0..bounds[parts]`, one part per thread:
/// part `p` owns `bounds[p]..bounds[p + 1]` and goes through it in chunks of `chunk` from
/// the front; a thread done with its own part then takes chunks from the back of the others'.
///
/// Why: on a shared machine one core is now and then slowed (another virtual machine on its
/// physical core); with fixed parts the other thread then waits, with stealing it takes over
/// the slow part's tail. When both run at the same speed little is stolen, and each thread
/// keeps working on its own rows. Which thread computes a range never changes a result
/// (callers compute each range the same way on any thread).
pub(crate) fn run_ranges_stealing(bounds: &[usize], chunk: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    run_ranges_stealing_by(bounds, chunk, &|_, start, end| f(start, end));
}

/// [`run_ranges_stealing`], telling `f(part, start, end)` which part's thread runs it: `part`
/// is the part that owns the range when its own thread runs it, another part when a thread
/// done with its own took the range over.
pub(crate) fn run_ranges_stealing_by(
    bounds: &[usize],
    chunk: usize,
    f: &(dyn Fn(usize, usize, usize) + Sync),
) {
    let ranges = StealingRanges::new(bounds, chunk);
    run_parts(bounds.len().saturating_sub(1), &|p| {
        while let Some((start, end)) = ranges.next(p) {
            f(p, start, end);
        }
    });
}

/// Why [`set_num_threads`] could not apply a thread count.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadsError {
    /// Zero threads were requested.
    #[error("the number of threads must be at least 1")]
    Zero,
    /// percept's worker threads were already started with fewer threads than requested.
    #[error(
        "cannot use {requested} threads: percept's worker threads were already started as {available} \
         (call set_num_threads before any parallel work)"
    )]
    PoolTooSmall {
        /// Threads asked for.
        requested: usize,
        /// Threads in the existing pool.
        available: usize,
    },
    /// More threads than percept runs ([`MAX_THREADS`]).
    #[error(
        "cannot use {requested} threads: percept runs at most {max} (this machine has {cores} cores; \
         percept's threads spin while they wait for work, so more threads than cores only slow a \
         run down)"
    )]
    TooMany {
        /// Threads asked for.
        requested: usize,
        /// [`MAX_THREADS`].
        max: usize,
        /// The cores the system offers this process.
        cores: usize,
    },
    /// The system refused to start a worker thread (a limit on processes or memory).
    #[error("cannot use {requested} threads: the system started only {started} ({reason})")]
    Spawn {
        /// Threads asked for.
        requested: usize,
        /// Threads running (the calling thread included).
        started: usize,
        /// What the system said.
        reason: String,
    },
}

/// The most threads [`set_num_threads`] accepts. percept's workers spin between the kernels
/// of a step (team.rs says why), so a thread per core is the useful most; the cap leaves
/// room for machines with many cores while refusing counts that would only exhaust the
/// system (each thread reserves its own stack).
pub const MAX_THREADS: usize = 256;

/// Sets how many threads percept's kernels use from now on (1 = everything sequential).
///
/// The first call also starts percept's `threads - 1` worker threads (the calling thread is
/// the first of the team). Later calls may lower the count freely, or raise it up to the
/// team's size.
///
/// # Errors
/// [`ThreadsError`] for 0, for more than [`MAX_THREADS`], for more threads than the already
/// started team has, or when the system refuses to start them.
pub fn set_num_threads(threads: usize) -> Result<(), ThreadsError> {
    if threads == 0 {
        return Err(ThreadsError::Zero);
    }
    if threads > MAX_THREADS {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Err(ThreadsError::TooMany { requested: threads, max: MAX_THREADS, cores });
    }
    let team = team_with(threads);
    let available = team.size();
    if threads > available {
        if let Some(reason) = team.spawn_error() {
            return Err(ThreadsError::Spawn {
                requested: threads,
                started: available,
                reason: reason.into(),
            });
        }
        return Err(ThreadsError::PoolTooSmall { requested: threads, available });
    }
    THREADS.store(threads, Ordering::Relaxed);
    Ok(())
}

/// The number of threads kernels use: the last [`set_num_threads`], else every core.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => team().size(),
        n => n,
    }
}

impl Par {
    /// `Seq` for one thread, `Threads(n)` otherwise.
    pub fn with_threads(threads: usize) -> Self {
        match NonZeroUsize::new(threads) {
            Some(n) if threads > 1 => Par::Threads(n),
            _ => Par::Seq,
        }
    }

    /// The parallelism configured by [`set_num_threads`].
    pub fn current() -> Self {
        Self::with_threads(num_threads())
    }

    /// How many threads this allows (1 for `Seq`).
    pub fn threads(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Threads(n) => n.get(),
        }
    }

    /// `Seq` when `work` (a count of elements or multiply-adds) is below `threshold`: below it
    /// the cost of waking a second thread exceeds what the split saves.
    #[inline]
    pub fn above(self, work: usize, threshold: usize) -> Self {
        if work < threshold { Par::Seq } else { self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// A background task's units run exactly once each, on whichever thread; `main` runs
    /// once and its result comes back, with kernels handed to the team inside it; a task
    /// started inside another runs after its `main`; a panicking unit makes the call panic
    /// and leaves the team usable.
    #[test]
    fn background_units_run_once_each_around_the_main_work() {
        let visits: Vec<AtomicU32> = (0..2000).map(|_| AtomicU32::new(0)).collect();
        let next = AtomicUsize::new(0);
        let task = |_thread: usize| {
            let unit = next.fetch_add(1, Ordering::Relaxed);
            if let Some(v) = visits.get(unit) {
                v.fetch_add(1, Ordering::Relaxed);
            }
            unit < visits.len()
        };
        let inner_visits: Vec<AtomicU32> = (0..100).map(|_| AtomicU32::new(0)).collect();
        let inner_next = AtomicUsize::new(0);
        let inner = |_thread: usize| {
            let unit = inner_next.fetch_add(1, Ordering::Relaxed);
            inner_visits.get(unit).inspect(|v| _ = v.fetch_add(1, Ordering::Relaxed)).is_some()
        };
        let mut calls = 0;
        let result = with_background(&task, || {
            calls += 1;
            let parts_run = AtomicU32::new(0);
            for _ in 0..50 {
                run_parts(2, &|_| _ = parts_run.fetch_add(1, Ordering::Relaxed));
            }
            with_background(&inner, || parts_run.load(Ordering::Relaxed))
        });
        assert_eq!((result, calls), (100, 1));
        assert!(visits.iter().chain(&inner_visits).all(|v| v.load(Ordering::Relaxed) == 1));

        let panicking = |_thread: usize| panic!("a unit fails");
        let outcome = std::panic::catch_unwind(|| with_background(&panicking, || 1));
        assert!(outcome.is_err());
        let again = AtomicUsize::new(0);
        let counting = |_thread: usize| again.fetch_add(1, Ordering::Relaxed) < 10;
        assert_eq!(with_background(&counting, || 2), 2);
        assert!(again.load(Ordering::Relaxed) >= 11);
    }

    /// Every index of every part is handed out exactly once, empty parts included, whichever
    /// thread takes it.
    #[test]
    fn stealing_covers_every_index_once() {
        for (bounds, chunk) in
            [(&[0, 5, 5, 17][..], 3), (&[0, 1][..], 4), (&[0, 100, 230][..], 1), (&[0, 64, 128][..], 8)]
        {
            let end = *bounds.last().unwrap();
            let visits: Vec<AtomicU32> = (0..end).map(|_| AtomicU32::new(0)).collect();
            run_ranges_stealing(bounds, chunk, &|start, stop| {
                assert!(start < stop && stop - start <= chunk, "range {start}..{stop}");
                for v in &visits[start..stop] {
                    v.fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(visits.iter().all(|v| v.load(Ordering::Relaxed) == 1), "{bounds:?} by {chunk}");
        }
    }
}
