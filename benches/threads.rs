//! How much faster percept trains on two threads than on one, measured in one run: the fit
//! loop on MNIST switches between one and two threads every few batches (a callback), and
//! each pair of neighbouring blocks gives a ratio. Runs of their own, one per thread count,
//! land minutes apart on a shared machine, where the other guests' load, and where the host
//! puts the two virtual cores, change from one minute to the next; neighbouring blocks see
//! the same moment.
//!
//! ```text
//! cargo bench --bench threads [-- --batch 256 --hidden 128 --epochs 4 --block 10]
//! ```
//!
//! The recipe is `compare.sh`'s (784-128-10, ReLU, SGD lr 0.1, seed 0), at batch 256 by
//! default. After each pair of blocks the bench times a cache line's round trip between two
//! threads, which tells where the host runs the two virtual cores at that moment; pairs are
//! also summarized by groups of round trips (a new group where it more than doubles).
//! On the 2-core AMD EPYC (Zen 3) development machine three places come and go, each for
//! seconds to minutes: about 30 ns (two hyperthreads of one physical core: two threads gain
//! nothing), about 75 ns (two cores sharing a cache: 1.6-1.9x) and about 400 ns (cores
//! that share no cache: every line one core wrote and the other reads crosses the chip).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use percept::prelude::*;
use percept::train::{BatchRecord, Callback, Control};

mod common;
use common::{groups_by_round_trip, quantile, round_trip_ns};

/// What the callback collects: per pair of blocks, (1-thread seconds per batch, 2-thread
/// seconds per batch, round trip in ns).
#[derive(Default)]
struct Log {
    pairs: Vec<(f64, f64, f64)>,
}

/// Switches between 1 and 2 threads every `block` batches and times the blocks. The first
/// batch after a switch is not timed (the helper thread wakes up from parking during it).
struct Alternate {
    block: usize,
    /// Batches since the last switch, and when timing started (after the first of them).
    done: usize,
    started: Option<Instant>,
    threads: usize,
    one_thread: Option<f64>,
    log: Rc<RefCell<Log>>,
}

impl Callback for Alternate {
    fn on_batch_end(&mut self, batch: &BatchRecord) -> Control {
        if batch.batch == 1 {
            // A new epoch (its shuffle): start the block again.
            self.done = 0;
        }
        self.done += 1;
        if self.done == 1 {
            self.started = Some(Instant::now());
            return Control::Continue;
        }
        if self.done < self.block + 1 {
            return Control::Continue;
        }
        let per_batch =
            self.started.expect("set at the block's first batch").elapsed().as_secs_f64() / self.block as f64;
        if self.threads == 1 {
            self.one_thread = Some(per_batch);
        } else if let Some(one) = self.one_thread.take() {
            // Both of the pair's blocks are done: let the helper park, then time a round trip.
            std::thread::sleep(Duration::from_millis(1));
            self.log.borrow_mut().pairs.push((one, per_batch, round_trip_ns(2000)));
        }
        self.threads = 3 - self.threads;
        percept::set_threads(self.threads).expect("the team has two threads");
        self.done = 0;
        Control::Continue
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut batch, mut hidden, mut epochs, mut block) = (256usize, 128usize, 4usize, 10usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            args.next().and_then(|v| v.parse().ok()).ok_or(format!("{name} takes a number"))
        };
        match arg.as_str() {
            "--batch" => batch = value("--batch")?,
            "--hidden" => hidden = value("--hidden")?,
            "--epochs" => epochs = value("--epochs")?,
            "--block" => block = value("--block")?,
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    if batch == 0 || epochs == 0 || block == 0 {
        return Err("--batch, --epochs and --block must be at least 1".into());
    }
    percept::set_threads(2)?;
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist"))?;
    let mut rng = seeded_rng(0);
    let mut model = Sequential::new();
    model.add(Linear::new(784, hidden, &mut rng))?.add(ReLU)?.add(Linear::new(hidden, 10, &mut rng))?;
    let mut optimizer = Optimizer::new(Sgd::new(0.1));
    let log = Rc::new(RefCell::new(Log::default()));
    let config = FitConfig { epochs, batch_size: batch, seed: 0, verbose: false, ..Default::default() };
    let mut trainer = Trainer::new(config);
    percept::set_threads(1)?;
    trainer.callback(Alternate {
        block,
        done: 0,
        started: None,
        threads: 1,
        one_thread: None,
        log: log.clone(),
    });
    trainer.fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &mnist.train, None)?;

    let pairs = &log.borrow().pairs;
    if pairs.is_empty() {
        return Err(format!("no pair of blocks of {block} batches fit in an epoch of batch {batch}").into());
    }
    println!(
        "784-{hidden}-10 at batch {batch}: 2 threads against 1, {} pairs of blocks of {block} batches",
        pairs.len()
    );
    let groups = groups_by_round_trip(pairs, |p| p.2);
    summarize("all pairs", pairs);
    if groups.len() > 1 {
        for group in &groups {
            let mut trips: Vec<f64> = group.iter().map(|p| p.2).collect();
            summarize(&format!("round trip {:.0} ns", quantile(&mut trips, 0.5)), group);
        }
    }
    Ok(())
}

/// Prints the median speed-up of `pairs` and its quartiles, and the median batch times.
fn summarize(name: &str, pairs: &[(f64, f64, f64)]) {
    let mut ratios: Vec<f64> = pairs.iter().map(|p| p.0 / p.1).collect();
    let mut ones: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut twos: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let below = ratios.iter().filter(|&&r| r < 1.7).count();
    println!(
        "  {name:<20} {:>3} pairs: speed-up median {:.2} (p25 {:.2}, p75 {:.2}; {below} below 1.7), \
         batch {:.0} µs on 1 thread, {:.0} µs on 2",
        pairs.len(),
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.75),
        1e6 * quantile(&mut ones, 0.5),
        1e6 * quantile(&mut twos, 0.5),
    );
}
