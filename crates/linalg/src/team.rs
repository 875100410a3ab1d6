//! percept's worker threads: a fixed team that splits one kernel into parts with microsecond
//! hand-over.
//!
//! Why not rayon: a training step of a small MLP is a chain of kernels of 5-100 µs each, with
//! the calling thread busy in between. rayon's workers fall asleep in those gaps, and waking one
//! cost 15-20 µs per kernel on the development machine: two threads trained *slower* than
//! one. Here each helper spins for a while after its last part (as OpenMP runtimes do, see
//! `OMP_WAIT_POLICY`), so the next kernel of the step finds it awake; idle longer than
//! [`SPIN`], it parks and costs nothing. While it waits it may also run the units of a
//! background task ([`Team::with_background`]): the training step gathers the next batch so,
//! in the gaps where one thread waits for the other.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a helper keeps spinning after its last part before it parks.
const SPIN: Duration = Duration::from_micros(200);

/// The work of one round: `f(part)` for `part` in `1..parts` on the helpers (part 0 runs on
/// the caller). The pointer is only dereferenced while the caller waits in [`Team::run`].
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    parts: usize,
}

struct Shared {
    /// Bumped once per round; helpers compare it with the last round they served.
    round: AtomicU64,
    /// Read only by a thread that claimed a part of the current round ([`Shared::parts`]).
    job: UnsafeCell<Job>,
    /// Per helper, the state of its part of the current round: `round << 2 | CLAIMABLE`,
    /// `| CLAIMED` or `| DONE`. Whoever claims a part runs it: its helper, or the caller once
    /// done with its own parts (see [`Team::run`]).
    parts: Vec<AtomicU64>,
    panicked: AtomicBool,
    sleeping: Vec<AtomicBool>,
    /// The task of [`Team::with_background`], if one is running: `task(thread)` does one
    /// small unit of work and returns whether it found any.
    background: UnsafeCell<*const Background>,
    /// Whether `background` may be run (set and cleared by the thread that set it).
    background_on: AtomicBool,
    /// Held by the thread that runs a background task, from before it sets the task.
    background_claimed: AtomicBool,
    /// [`thread_mark`] of that thread: the one of the team's callers that may run the task's
    /// part 0 while it waits in [`Team::run`].
    background_owner: AtomicUsize,
    /// Threads inside a unit of the background task.
    background_busy: AtomicUsize,
    /// Set once the task returned false (or panicked): no thread calls it again before the
    /// next task is set.
    background_done: AtomicBool,
    /// Set when a unit of the task panicked on a thread that could not unwind into the
    /// caller of [`Team::with_background`].
    background_panicked: AtomicBool,
}

/// A task of [`Team::with_background`].
pub(crate) type Background = dyn Fn(usize) -> bool + Sync;

// SAFETY: `job` is written only by the thread holding `Team::submit` before it bumps `round`
// (Release) and read by helpers after they see the new round (Acquire); the closure it points
// to is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// A caller thread plus `helpers.len()` spinning helpers.
pub(crate) struct Team {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One round at a time; a caller that finds the team busy runs its parts itself.
    submit: Mutex<()>,
    /// Why the team has fewer helpers than asked for, if the system refused to start one.
    spawn_error: Option<String>,
}

impl Team {
    /// A team of `threads` (the caller counts as one), or of as many as the system let start:
    /// a thread it refuses to create (a process or memory limit) ends the team there, and
    /// [`Team::spawn_error`] says why.
    pub(crate) fn new(threads: usize) -> Self {
        let count = threads.saturating_sub(1);
        let noop: &'static (dyn Fn(usize) + Sync) = &|_| {};
        let shared = Arc::new(Shared {
            round: AtomicU64::new(0),
            job: UnsafeCell::new(Job { f: noop, parts: 0 }),
            parts: (0..count).map(|_| AtomicU64::new(0)).collect(),
            panicked: AtomicBool::new(false),
            sleeping: (0..count).map(|_| AtomicBool::new(false)).collect(),
            background: UnsafeCell::new(std::ptr::null::<fn(usize) -> bool>() as *const Background),
            background_on: AtomicBool::new(false),
            background_claimed: AtomicBool::new(false),
            background_owner: AtomicUsize::new(0),
            background_busy: AtomicUsize::new(0),
            background_done: AtomicBool::new(false),
            background_panicked: AtomicBool::new(false),
        });
        let mut helpers = Vec::with_capacity(count);
        let mut spawn_error = None;
        for index in 0..count {
            let for_helper = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("percept-{}", index + 1))
                .spawn(move || helper(&for_helper, index));
            match spawned {
                Ok(handle) => helpers.push(handle.thread().clone()),
                Err(error) => {
                    spawn_error = Some(error.to_string());
                    break;
                }
            }
        }
        Self { shared, helpers, submit: Mutex::new(()), spawn_error }
    }

    /// Why the system refused to start a helper, if it did (the team is then smaller than
    /// asked for).
    pub(crate) fn spawn_error(&self) -> Option<&str> {
        self.spawn_error.as_deref()
    }

    /// Threads in the team, the caller included.
    pub(crate) fn size(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(0)`, …, `f(parts - 1)`, part 0 on the calling thread and the others on helpers,
    /// and returns when all are done. With more parts than threads, or when another thread is
    /// using the team, the extra parts run on the caller: the same results, sequentially.
    ///
    /// A helper's part goes to whichever thread claims it first: the helper when it sees the
    /// round, or the caller once done with its own parts. On a quiet machine a spinning helper
    /// claims its part within a microsecond; on a busy one, a helper that the system did not
    /// schedule (or that is parked) no longer keeps the caller waiting for a time slice: the
    /// caller runs that part itself. Which thread runs a part never changes a result.
    ///
    /// # Panics
    /// If a part panics.
    pub(crate) fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        let on_helpers = parts.saturating_sub(1).min(self.helpers.len());
        let guard = if on_helpers > 0 { self.submit.try_lock().ok() } else { None };
        let Some(_guard) = guard else {
            (0..parts).for_each(f);
            return;
        };
        let shared = &*self.shared;
        // SAFETY: the lifetime of `f` is erased for the helpers, which only call it on a part
        // they claimed, and this function does not return before every claimed part is done.
        let f_static: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        // SAFETY: no thread reads `job` now: every part of the last round is done, and no
        // part of this one is claimable before the stores below (we hold `submit`).
        unsafe { *shared.job.get() = Job { f: f_static, parts: on_helpers + 1 } };
        let round = shared.round.load(Ordering::Relaxed) + 1;
        for (i, state) in shared.parts.iter().enumerate() {
            let flag = if i < on_helpers { CLAIMABLE } else { DONE };
            state.store(round << 2 | flag, Ordering::Release);
        }
        shared.round.store(round, Ordering::SeqCst);
        for (i, helper) in self.helpers.iter().enumerate() {
            if shared.sleeping[i].load(Ordering::SeqCst) {
                helper.unpark();
            }
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            f(0);
            (on_helpers + 1..parts).for_each(f);
            // The helpers' parts that no helper has claimed yet.
            for (i, state) in shared.parts.iter().enumerate().take(on_helpers) {
                if claim(state, round) {
                    let done = catch_unwind(AssertUnwindSafe(|| f(i + 1)));
                    state.store(round << 2 | DONE, Ordering::Release);
                    if let Err(payload) = done {
                        std::panic::resume_unwind(payload);
                    }
                }
            }
        }));
        let owner = shared.background_on.load(Ordering::Relaxed)
            && shared.background_owner.load(Ordering::Relaxed) == thread_mark();
        for state in &shared.parts {
            // A part still claimable here means `f` panicked on the caller first: no helper
            // may start it while this unwinds.
            if claim(state, round) {
                state.store(round << 2 | DONE, Ordering::Release);
            }
            while state.load(Ordering::Acquire) & 3 == CLAIMED {
                if !(owner && run_background_unit(shared, 0)) {
                    std::hint::spin_loop();
                }
            }
        }
        if let Err(payload) = result {
            std::panic::resume_unwind(payload);
        }
        if shared.panicked.swap(false, Ordering::Relaxed) {
            panic!("a part of a parallel kernel panicked on a percept worker thread");
        }
    }

    /// Runs `main` on the calling thread while the team's other threads, whenever they wait
    /// for work (and the caller, whenever it waits for them in a [`Team::run`] inside `main`),
    /// call `task(thread)`, `thread` being 0 for the caller and 1.. for the helpers. Each call
    /// does one small unit of work and returns whether there was any. After `main`, the
    /// caller runs `task(0)` until it returns false, and this returns `main`'s result once no
    /// thread is inside `task`. Without helpers, or while another background task is on,
    /// `task` runs on the caller after `main`.
    pub(crate) fn with_background<R>(
        &self,
        task: &(dyn Fn(usize) -> bool + Sync),
        main: impl FnOnce() -> R,
    ) -> R {
        let shared = &*self.shared;
        let claimed = !self.helpers.is_empty()
            && shared
                .background_claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        if !claimed {
            let result = main();
            while task(0) {}
            return result;
        }
        // SAFETY: the lifetime of `task` is erased; no thread runs it after this function
        // returns or unwinds (`Off` clears the flag and waits for the units under way). No
        // thread reads the slot now: the flag is off and we hold the claim.
        let task_static: *const Background = unsafe { std::mem::transmute(task) };
        unsafe { *shared.background.get() = task_static };
        shared.background_owner.store(thread_mark(), Ordering::Relaxed);
        shared.background_done.store(false, Ordering::Relaxed);
        // (Left set when a unit on the caller panicked too and unwound from here.)
        shared.background_panicked.store(false, Ordering::Relaxed);
        shared.background_on.store(true, Ordering::SeqCst);
        for (i, helper) in self.helpers.iter().enumerate() {
            if shared.sleeping[i].load(Ordering::SeqCst) {
                helper.unpark();
            }
        }
        struct Off<'a>(&'a Shared);
        impl Drop for Off<'_> {
            fn drop(&mut self) {
                self.0.background_on.store(false, Ordering::SeqCst);
                while self.0.background_busy.load(Ordering::SeqCst) != 0 {
                    std::hint::spin_loop();
                }
                self.0.background_owner.store(0, Ordering::Relaxed);
                self.0.background_claimed.store(false, Ordering::Release);
            }
        }
        let off = Off(shared);
        let result = main();
        while task(0) {}
        drop(off);
        if shared.background_panicked.swap(false, Ordering::Relaxed) {
            panic!("a background task of percept's worker threads panicked");
        }
        result
    }
}

/// The state of a helper's part that no thread has claimed yet (see `Shared::parts`).
const CLAIMABLE: u64 = 0;
/// A thread is running the part.
const CLAIMED: u64 = 1;
/// The part is done (or there is none for the helper this round).
const DONE: u64 = 2;

/// Claims a part of round `round` in `state`; whether this thread now owns it.
fn claim(state: &AtomicU64, round: u64) -> bool {
    state
        .compare_exchange(round << 2 | CLAIMABLE, round << 2 | CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// A number unique to the calling thread while it lives (the address of a thread-local).
fn thread_mark() -> usize {
    thread_local!(static MARK: u8 = const { 0 });
    MARK.with(|mark| std::ptr::from_ref(mark) as usize)
}

/// Runs one unit of the background task, if one is on, as thread `thread` of the team;
/// whether it did any work.
fn run_background_unit(shared: &Shared, thread: usize) -> bool {
    if !shared.background_on.load(Ordering::Acquire) || shared.background_done.load(Ordering::Relaxed) {
        return false;
    }
    shared.background_busy.fetch_add(1, Ordering::SeqCst);
    // Checked again after announcing ourselves: `with_background` clears the flag, then waits
    // for `background_busy` to drop to 0 (all sequentially consistent), so either it sees
    // this thread busy, or this thread sees the flag cleared.
    let did = shared.background_on.load(Ordering::SeqCst) && {
        // SAFETY: the task is set before the flag and outlives the time it is on (above).
        let task = unsafe { &**shared.background.get() };
        // A panic may not unwind out of a helper's loop, nor out of `Team::run` while helpers
        // still run its parts: recorded, and raised by `with_background`.
        catch_unwind(AssertUnwindSafe(|| task(thread))).unwrap_or_else(|_| {
            shared.background_panicked.store(true, Ordering::Relaxed);
            false
        })
    };
    if !did {
        shared.background_done.store(true, Ordering::Relaxed);
    }
    shared.background_busy.fetch_sub(1, Ordering::Release);
    did
}

fn helper(shared: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for the next round: spin, then park.
        let mut started = Instant::now();
        let mut spins = 0u32;
        let round = loop {
            let round = shared.round.load(Ordering::Acquire);
            if round != seen {
                break round;
            }
            if run_background_unit(shared, index + 1) {
                started = Instant::now();
                continue;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && started.elapsed() > SPIN {
                shared.sleeping[index].store(true, Ordering::SeqCst);
                // A background task set meanwhile would find this thread asleep: checked too.
                let background_waits = shared.background_on.load(Ordering::SeqCst)
                    && !shared.background_done.load(Ordering::Relaxed);
                if shared.round.load(Ordering::SeqCst) == seen && !background_waits {
                    thread::park();
                }
                shared.sleeping[index].store(false, Ordering::SeqCst);
            } else {
                std::hint::spin_loop();
            }
        };
        seen = round;
        let state = &shared.parts[index];
        if !claim(state, round) {
            // No part for this helper, or the caller took it (or a later round began).
            continue;
        }
        // SAFETY: the submitter wrote `job` before making the part claimable, and neither
        // changes it nor lets `f` go before the claimed part is done.
        let job = unsafe { *shared.job.get() };
        let part = index + 1;
        if part < job.parts {
            let f = unsafe { &*job.f };
            if catch_unwind(AssertUnwindSafe(|| f(part))).is_err() {
                shared.panicked.store(true, Ordering::Relaxed);
            }
        }
        state.store(round << 2 | DONE, Ordering::Release);
    }
}

/// A raw pointer that may cross threads: for handing disjoint parts of one buffer to the
/// parts of a [`Team::run`].
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: users only create disjoint slices from it, one per part.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer. (A method, so that closures capture the whole `SendPtr`, not the raw
    /// pointer field alone.)
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper busy elsewhere (here inside a long unit of a background task) does not keep a
    /// round waiting: the caller runs the helper's part itself, and each part runs once. (A
    /// watchdog ends the unit after 10 s, so that a regression fails instead of hanging.)
    #[test]
    fn the_caller_runs_a_part_its_helper_has_not_claimed() {
        let team = Team::new(2);
        let (entered, release) = (AtomicBool::new(false), Arc::new(AtomicBool::new(false)));
        let task = |thread: usize| {
            if thread == 0 || entered.swap(true, Ordering::SeqCst) {
                return false;
            }
            while !release.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            false
        };
        let watchdog = {
            let release = Arc::clone(&release);
            thread::spawn(move || {
                let started = Instant::now();
                while !release.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
                    thread::sleep(Duration::from_millis(10));
                }
                release.store(true, Ordering::SeqCst);
            })
        };
        let ran_on = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let runs = [AtomicUsize::new(0), AtomicUsize::new(0)];
        team.with_background(&task, || {
            while !entered.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            team.run(2, &|part| {
                ran_on[part].store(thread_mark(), Ordering::SeqCst);
                runs[part].fetch_add(1, Ordering::SeqCst);
            });
            release.store(true, Ordering::SeqCst);
        });
        watchdog.join().expect("the watchdog does not panic");
        assert_eq!([runs[0].load(Ordering::SeqCst), runs[1].load(Ordering::SeqCst)], [1, 1]);
        assert_eq!(ran_on[1].load(Ordering::SeqCst), thread_mark(), "part 1 ran on the helper");
        // And a round after it, with the helper free again, still runs every part once.
        let total = AtomicUsize::new(0);
        team.run(2, &|part| {
            total.fetch_add(part + 1, Ordering::SeqCst);
        });
        assert_eq!(total.load(Ordering::SeqCst), 3);
    }
}
