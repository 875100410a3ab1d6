//! What the benches that compare one thread with two share: a cache line's round trip
//! between two threads (where the host runs the two virtual cores) and quantiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The `q` quantile of `values` (sorted in place), the nearest rank.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The mean time, in ns, for a cache line to go from this thread to a new one and back, over
/// `rounds` round trips. On a virtual machine it tells where the host runs the two virtual
/// cores at the moment: on the 2-vCPU AMD EPYC (Zen 3) development machine about 30 ns on
/// two hyperthreads of one physical core, about 75 ns on two cores that share a cache, and
/// about 400 ns on cores that share none.
pub fn round_trip_ns(rounds: u64) -> f64 {
    let rounds = rounds.max(2);
    let flag = Arc::new(AtomicU64::new(0));
    let other = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            for v in (1..2 * rounds).step_by(2) {
                while flag.load(Ordering::Acquire) != v {
                    std::hint::spin_loop();
                }
                flag.store(v + 1, Ordering::Release);
            }
        })
    };
    // Wait for the other thread to answer once before timing.
    flag.store(1, Ordering::Release);
    while flag.load(Ordering::Acquire) != 2 {
        std::hint::spin_loop();
    }
    let started = Instant::now();
    for v in (3..2 * rounds).step_by(2) {
        flag.store(v, Ordering::Release);
        while flag.load(Ordering::Acquire) != v + 1 {
            std::hint::spin_loop();
        }
    }
    let ns = started.elapsed().as_secs_f64() * 1e9 / (rounds - 1) as f64;
    other.join().expect("the round-trip thread does not panic");
    ns
}

/// `items` grouped by their round trip (`round_trip(item)`, ns), fastest first: a new group
/// wherever the round trip more than doubles over the smallest of the group so far.
pub fn groups_by_round_trip<T: Clone>(items: &[T], round_trip: impl Fn(&T) -> f64) -> Vec<Vec<T>> {
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| round_trip(a).total_cmp(&round_trip(b)));
    let mut groups: Vec<Vec<T>> = Vec::new();
    for item in sorted {
        match groups.last_mut() {
            Some(group) if round_trip(&item) <= 2.0 * round_trip(&group[0]) => group.push(item),
            _ => groups.push(vec![item]),
        }
    }
    groups
}
