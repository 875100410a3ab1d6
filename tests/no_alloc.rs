//! After the first batch, a training step allocates nothing: a counting global allocator
//! compares a whole epoch of 100 batches with one of 400. Per-epoch set-up allocates the same
//! in both; any allocation per step would make the longer epoch allocate more. Evaluating
//! with kept buffers allocates nothing per batch either.
//!
//! Its own test binary, because the allocator is process-wide (and its tests take turns).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use percept::prelude::*;

mod common;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Held by each test while it counts: the counter sees every thread's allocations.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How many allocations `f` makes, and what it returns.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let result = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, result)
}

#[test]
fn a_training_step_allocates_nothing_after_the_first() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Two threads, so the parallel paths are part of what is counted.
    percept::set_threads(2).expect("a 2-thread team");
    let mnist = common::mnist();
    let data = |batches: usize| common::train_slice(&mnist, batches * 64);
    let allocations_for = |train: &InMemoryDataset| {
        let mut model = common::mlp(128, 0);
        let mut optimizer = Optimizer::new(Sgd::new(0.1));
        let mut trainer =
            Trainer::new(FitConfig { epochs: 1, batch_size: 64, verbose: false, ..Default::default() });
        let (count, history) = allocations_in(|| {
            trainer
                .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, train, None)
                .expect("fits")
        });
        assert_eq!(history.epochs.len(), 1);
        count
    };
    let (short, long) = (data(100), data(400));
    // A first run pays for one-time set-up (the worker threads, lazily built statics).
    allocations_for(&short);
    let short_count = allocations_for(&short);
    let long_count = allocations_for(&long);
    assert!(short_count > 0, "the first step does allocate its buffers");
    assert_eq!(
        long_count,
        short_count,
        "300 more steps allocated {} more times",
        long_count as i64 - short_count as i64
    );
}

#[test]
fn evaluating_with_kept_buffers_allocates_nothing_per_batch() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    percept::set_threads(2).expect("a 2-thread team");
    let mnist = common::mnist();
    let (short, long) = (common::image_slice(&mnist, 10 * 100), common::image_slice(&mnist, 40 * 100));
    let mut model = common::mlp(128, 0);
    let mut loss = SoftmaxCrossEntropy::new();
    let mut buffers = percept::train::BatchBuffers::new();
    let mut kept = |data: &ImageDataset| {
        allocations_in(|| buffers.evaluate(&mut model, &mut loss, data, 100).expect("fits")).0
    };
    // The buffers change places with the model's own on each batch: two calls size them all.
    kept(&long);
    kept(&long);
    let (kept_short, kept_long) = (kept(&short), kept(&long));
    assert_eq!(
        kept_long,
        kept_short,
        "30 more batches allocated {} more times",
        kept_long as i64 - kept_short as i64
    );
    assert_eq!(kept_short, 1, "with kept buffers, only the list of indices is allocated");
    let (fresh, _) = allocations_in(|| evaluate(&mut model, &mut loss, &short, 100).expect("fits"));
    assert!(fresh > kept_short, "fresh buffers allocated {fresh} times, kept ones {kept_short}");
}
