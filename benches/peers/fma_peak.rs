//! The machine's peak rate of fused multiply-adds, per core and on all cores at once: the
//! divisor of the performance matrix's floor (`benches/peers/matrix.py`).
//!
//! ```text
//! cargo run --release --example fma_peak              # one line per kernel and thread count
//! cargo run --release --example fma_peak -- --json    # one JSON object, as matrix.py reads it
//! ```
//!
//! Each thread runs independent chains of `acc = acc + a · b` on vector registers: as many
//! accumulators as it takes to keep every FMA unit busy (an FMA's result is ready 4 to 5
//! cycles later and a core starts two a cycle, so 10 chains in flight suffice; the AVX2 kernel
//! keeps 12 of 8 lanes, the AVX-512 one 16 of 16 lanes), nothing loaded or stored inside the
//! loop. No real kernel beats that rate, so an epoch's multiply-adds divided by it is a floor
//! on its time.
//!
//! The rate is taken over the time each thread actually ran on a CPU (its CPU-time clock;
//! wall time where there is none): on a shared machine with other work
//! running, wall time would count the slices other processes had, and the "peak" would fall
//! with the load. Two threads measured at once add their rates; if the two vCPUs are two
//! hardware threads of one core, each runs at about half the rate, and the sum shows it. The
//! best of several samples is kept, as noise only ever slows a sample down.
//!
//! On AMD Zen 4, whose FMA units are 256 bits wide, the AVX-512 kernel runs at the AVX2 rate;
//! the larger of the two is the peak.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Measure the peak rate of fused multiply-adds per core and on all cores")]
struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Samples per kernel and thread count; the best is kept.
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Seconds each sample runs for (about).
    #[arg(long, default_value_t = 0.1)]
    seconds: f64,
    /// Thread counts to measure (comma-separated); default 1 and every core.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
}

/// A kernel: runs `iterations` rounds and returns how many multiply-adds it did.
type Kernel = fn(u64) -> u64;

/// The kernels this CPU can run, with their names.
fn kernels() -> Vec<(&'static str, Kernel)> {
    let mut found: Vec<(&'static str, Kernel)> = vec![("portable", portable_chains)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            found.push(("avx2", |iterations| {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                unsafe { avx2_chains(iterations) }
            }));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push(("avx512", |iterations| {
                // SAFETY: the CPU has AVX-512F (checked above).
                unsafe { avx512_chains(iterations) }
            }));
        }
    }
    found
}

/// Sixteen chains of a multiply and an add (which the compiler may pack into the baseline's
/// vectors), for CPUs without a vector kernel here: a floor that is only a guide. (Not
/// `f32::mul_add`: without the FMA feature it is a call to a software `fmaf`.)
fn portable_chains(iterations: u64) -> u64 {
    let (a, b) = (black_box(0.999_999_9f32), black_box(1.0e-7f32));
    let mut acc = black_box([1.0f32; 16]);
    for _ in 0..iterations {
        for value in &mut acc {
            *value = *value * a + b;
        }
    }
    black_box(acc);
    iterations * 16
}

/// Twelve chains of 8 lanes: 96 multiply-adds a round, two operands kept in registers
/// (14 of the 16 `ymm` registers).
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_chains(iterations: u64) -> u64 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(black_box(0.999_999_9));
    let b = _mm256_set1_ps(black_box(1.0e-7));
    let mut acc = [_mm256_set1_ps(black_box(1.0)); 12];
    for _ in 0..iterations {
        // A fixed-size loop the compiler unrolls: twelve independent FMAs in registers.
        for value in &mut acc {
            *value = _mm256_fmadd_ps(*value, a, b);
        }
    }
    black_box(acc);
    iterations * 12 * 8
}

/// Sixteen chains of 16 lanes: 256 multiply-adds a round (18 of the 32 `zmm` registers).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_chains(iterations: u64) -> u64 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(black_box(0.999_999_9));
    let b = _mm512_set1_ps(black_box(1.0e-7));
    let mut acc = [_mm512_set1_ps(black_box(1.0)); 16];
    for _ in 0..iterations {
        for value in &mut acc {
            *value = _mm512_fmadd_ps(*value, a, b);
        }
    }
    black_box(acc);
    iterations * 16 * 16
}

/// Seconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`), or `None` where the
/// system does not say.
fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `time` is a valid timespec for the call to fill.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) } == 0 {
            return Some(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9);
        }
    }
    None
}

/// Runs `kernel` for `iterations` rounds and returns its multiply-adds per second of the time
/// the thread ran (wall time where that is not known).
fn rate_of(kernel: Kernel, iterations: u64) -> f64 {
    let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
    let done = kernel(iterations) as f64;
    let seconds = match (cpu, thread_cpu_seconds()) {
        (Some(before), Some(after)) if after > before => after - before,
        _ => wall.elapsed().as_secs_f64(),
    };
    done / seconds
}

/// Multiply-adds per second of `kernel` on `threads` threads at once (the sum of the threads'
/// rates), the best of `samples` samples of about `seconds` of running each.
fn measure(kernel: Kernel, threads: usize, samples: usize, seconds: f64) -> f64 {
    // Rounds for one sample: grow a short run until it takes a tenth of the time.
    let mut iterations = 1u64 << 16;
    loop {
        let started = Instant::now();
        kernel(iterations);
        if started.elapsed() >= Duration::from_secs_f64(seconds / 10.0) {
            iterations = (iterations as f64 * 10.0) as u64;
            break;
        }
        iterations *= 2;
    }
    (0..samples.max(1))
        .map(|_| {
            std::thread::scope(|scope| {
                let runs: Vec<_> =
                    (0..threads).map(|_| scope.spawn(move || rate_of(kernel, iterations))).collect();
                runs.into_iter().map(|run| run.join().expect("a kernel does not panic")).sum::<f64>()
            })
        })
        .fold(0.0, f64::max)
}

fn main() {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = args.threads.clone();
    if threads.is_empty() {
        threads = vec![1, cores];
        threads.dedup();
    }
    let mut results = Vec::new();
    for (name, kernel) in kernels() {
        for &count in &threads {
            let rate = measure(kernel, count, args.samples, args.seconds);
            if !args.json {
                println!("{name:>7} on {count} thread(s): {:.1} G multiply-adds/s", rate / 1e9);
            }
            results.push((name, count, rate));
        }
    }
    let best = |count: usize| results.iter().filter(|r| r.1 == count).map(|r| r.2).fold(0.0, f64::max);
    if args.json {
        let per_kernel: Vec<String> = results
            .iter()
            .map(|(name, count, rate)| {
                format!("{{\"kernel\": \"{name}\", \"threads\": {count}, \"muladds_per_s\": {rate:.4e}}}")
            })
            .collect();
        let peaks: Vec<String> =
            threads.iter().map(|&count| format!("\"{count}\": {:.4e}", best(count))).collect();
        println!(
            "{{\"cores\": {cores}, \"peak_muladds_per_s\": {{{}}}, \"kernels\": [{}]}}",
            peaks.join(", "),
            per_kernel.join(", ")
        );
    } else {
        for &count in &threads {
            println!(
                "peak on {count} thread(s): {:.1} G multiply-adds/s ({:.1} GFLOP/s)",
                best(count) / 1e9,
                2.0 * best(count) / 1e9
            );
        }
    }
}
