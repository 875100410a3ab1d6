//! Parallelism: how many threads a kernel may use, chosen by the caller.

use std::num::NonZeroUsize;
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

/// 0 means "not set yet": use the pool's size.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// percept's own rayon pool, so that its size is ours to choose even when another library
/// already started rayon's global pool.
static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

fn pool_with(threads: usize) -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("percept-{i}"))
            .build()
            .expect("spawning the worker threads of percept's pool")
    })
}

fn pool() -> &'static rayon::ThreadPool {
    pool_with(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on a worker of percept's pool, so that the kernels it calls split work with
/// cheap in-pool `join`s instead of handing each half to the pool from outside (which costs
/// tens of microseconds per product and made two threads slower than one). With one thread,
/// or on a worker already, `f` simply runs here.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if num_threads() <= 1 || rayon::current_thread_index().is_some() { f() } else { pool().install(f) }
}

/// Why [`set_num_threads`] could not apply a thread count.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadsError {
    /// Zero threads were requested.
    #[error("the number of threads must be at least 1")]
    Zero,
    /// percept's pool was already started with fewer threads than requested.
    #[error(
        "cannot use {requested} threads: percept's thread pool was already started with {available} \
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
/// The first call also sizes percept's thread pool to `threads`, so an idle machine runs no
/// spare worker threads. Later calls may lower the count freely, or raise it up to the pool's
/// size.
///
/// # Errors
/// [`ThreadsError`] for 0, or for more threads than the already started pool has.
pub fn set_num_threads(threads: usize) -> Result<(), ThreadsError> {
    if threads == 0 {
        return Err(ThreadsError::Zero);
    }
    let available = pool_with(threads).current_num_threads();
    if threads > available {
        return Err(ThreadsError::PoolTooSmall { requested: threads, available });
    }
    THREADS.store(threads, Ordering::Relaxed);
    Ok(())
}

/// The number of threads kernels use: the last [`set_num_threads`], else every core.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => pool().current_num_threads().max(1),
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
