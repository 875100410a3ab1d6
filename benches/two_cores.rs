//! What two threads can gain on this machine, percept aside: the speed-up of a fixed amount
//! of multiply-add work (registers only, no memory traffic) on two threads against one,
//! the two runs interleaved round by round so that both see the same moment of a shared
//! machine.
//!
//! ```text
//! cargo bench --bench two_cores [-- --rounds N]
//! ```
//!
//! Three ways to split the work over the two threads:
//! - `free`: each thread does half, one wait at the end (the best any split can do);
//! - `stealing`: phases of about 40 µs (on two threads), each of 32 pieces that either
//!   thread takes from a shared counter, every phase ending with a wait for both: the shape
//!   of a percept training step at batch 256 (a kernel of tens of microseconds after another,
//!   split by stealing chunks, `percept_linalg::par`);
//! - `halves`: the same phases, each thread doing a fixed half of each.
//!
//! On a machine whose two cores are really there, all three print close to 2.0. Where a
//! virtual machine's cores share physical cores (or hyperthreads) with other guests, the
//! speed-up of work that waits for both threads every few tens of microseconds drops: a
//! slowed or descheduled core holds the other at every wait. A percept speed-up of two
//! threads over one (`--batch 256`) is then best read against the `stealing` line measured
//! alongside it, in the same place: each round also times a cache line's round trip between
//! two threads, and the rounds are summarized by groups of round trips too, since a host
//! moves virtual cores (on the development machine, between two hyperthreads of one core,
//! two cores sharing a cache, and cores sharing none; `cargo bench --bench threads` does the
//! same for percept's training).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

mod common;
use common::{groups_by_round_trip, quantile, round_trip_ns};

/// Multiply-adds per piece of work: about 2.5 µs on one core of the 2-core AMD EPYC (Zen 3)
/// development machine.
const PIECE: u64 = 1100;
/// Pieces in one phase (both threads together).
const PIECES_PER_PHASE: usize = 32;
/// Phases per round: about 16 ms of work on one thread.
const PHASES: usize = 200;

fn main() {
    let mut rounds = 60;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).expect("--rounds takes a number");
        }
    }
    let names = ["free", "stealing", "halves"];
    // Per round: the three speed-ups, then the round trip measured after them.
    let mut rows: Vec<[f64; 4]> = Vec::new();
    for _ in 0..rounds {
        let mut row = [0.0; 4];
        for (mode, speedup) in row.iter_mut().take(3).enumerate() {
            let started = Instant::now();
            for _ in 0..PHASES * PIECES_PER_PHASE {
                work(PIECE);
            }
            let one = started.elapsed().as_secs_f64();
            let started = Instant::now();
            two_threads(mode);
            *speedup = one / started.elapsed().as_secs_f64();
        }
        row[3] = round_trip_ns(2000);
        rows.push(row);
    }
    println!("speed-up of 2 threads over 1 on the same work, {rounds} interleaved rounds:");
    print_speedups(&names, &rows);
    let groups = groups_by_round_trip(&rows, |row| row[3]);
    if groups.len() > 1 {
        for group in &groups {
            let mut trips: Vec<f64> = group.iter().map(|row| row[3]).collect();
            println!(
                "{} rounds with a round trip of {:.0} ns between the threads:",
                group.len(),
                quantile(&mut trips, 0.5)
            );
            print_speedups(&names, group);
        }
    }
}

/// One line per way of splitting: quantiles of the speed-ups of `rows`.
fn print_speedups(names: &[&str], rows: &[[f64; 4]]) {
    for (mode, name) in names.iter().enumerate() {
        let mut s: Vec<f64> = rows.iter().map(|row| row[mode]).collect();
        let below = s.iter().filter(|&&x| x < 1.7).count();
        println!(
            "  {name:<9} median {:.2}  (p10 {:.2}, p25 {:.2}, p75 {:.2}, p90 {:.2}; {below} of {} rounds below 1.7)",
            quantile(&mut s, 0.5),
            quantile(&mut s, 0.1),
            quantile(&mut s, 0.25),
            quantile(&mut s, 0.75),
            quantile(&mut s, 0.9),
            s.len()
        );
    }
}

/// The work of one round on two threads, split as `mode` says (see the module's comment).
fn two_threads(mode: usize) {
    let taken = AtomicUsize::new(0);
    let arrived = AtomicUsize::new(0);
    let run = |thread: usize| {
        if mode == 0 {
            for _ in 0..PHASES * PIECES_PER_PHASE / 2 {
                work(PIECE);
            }
            return;
        }
        for phase in 0..PHASES {
            if mode == 1 {
                // Pieces `phase * PIECES_PER_PHASE..` of a shared count; each thread draws one
                // number too many per phase, hence the `+ 2 * phase`.
                let end = (phase + 1) * PIECES_PER_PHASE + 2 * phase;
                while taken.fetch_add(1, Ordering::AcqRel) < end {
                    work(PIECE);
                }
            } else {
                for _ in 0..PIECES_PER_PHASE / 2 {
                    work(PIECE);
                }
            }
            arrived.fetch_add(1, Ordering::AcqRel);
            while arrived.load(Ordering::Acquire) < 2 * (phase + 1) {
                std::hint::spin_loop();
            }
        }
        let _ = thread;
    };
    std::thread::scope(|scope| {
        scope.spawn(|| run(1));
        run(0);
    });
}

/// `count` rounds of 80 independent multiply-adds (ten 8-lane chains on AVX2 + FMA).
fn work(count: u64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        std::hint::black_box(unsafe { work_fma(std::hint::black_box(count)) });
        return;
    }
    std::hint::black_box(work_portable(std::hint::black_box(count)));
}

/// [`work_portable`] in AVX2 registers: ten chains of 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn work_fma(count: u64) -> f32 {
    use std::arch::x86_64::{_mm256_add_ps, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps};
    let (seed, m, c) = std::hint::black_box((1.0f32, 0.999f32, 0.5f32));
    let (m, c) = (_mm256_set1_ps(m), _mm256_set1_ps(c));
    let mut acc: [_; 10] = std::array::from_fn(|k| _mm256_set1_ps(seed + k as f32));
    for _ in 0..count {
        for chain in acc.iter_mut() {
            *chain = _mm256_fmadd_ps(*chain, m, c);
        }
    }
    let sum = acc.into_iter().reduce(|a, b| _mm256_add_ps(a, b)).expect("ten chains");
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds the 8 values stored.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

/// Ten chains of 8 lanes: enough independent multiply-adds to fill the FMA units, none of
/// which the compiler can fold away (the inputs come through `black_box`).
#[inline(always)]
fn work_portable(count: u64) -> f32 {
    let (seed, m, c) = std::hint::black_box((1.0f32, 0.999f32, 0.5f32));
    let mut acc = [[0.0f32; 8]; 10];
    for (k, chain) in acc.iter_mut().enumerate() {
        chain.iter_mut().enumerate().for_each(|(j, x)| *x = seed + (k * 8 + j) as f32);
    }
    for _ in 0..count {
        for chain in acc.iter_mut() {
            for x in chain.iter_mut() {
                *x = x.mul_add(m, c);
            }
        }
    }
    acc.iter().flatten().sum()
}
