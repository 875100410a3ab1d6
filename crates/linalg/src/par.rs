//! Parallelism: how many threads a kernel may use, chosen by the caller.

use std::num::NonZeroUsize;

use crate::team::Team;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
}

/// Sets how many threads percept's kernels use from now on (1 = everything sequential).
///
/// The first call also starts percept's `threads - 1` worker threads (the calling thread is
/// the first of the team). Later calls may lower the count freely, or raise it up to the
/// team's size.
///
/// # Errors
/// [`ThreadsError`] for 0, or for more threads than the already started team has.
pub fn set_num_threads(threads: usize) -> Result<(), ThreadsError> {
    if threads == 0 {
        return Err(ThreadsError::Zero);
    }
    let available = team_with(threads).size();
    if threads > available {
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
