//! Seeded minibatch order.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// What [`BatchOrder::state`] saves: the sample order and the shuffling generator's seed,
/// stream and position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOrderState {
    /// The current order of the samples.
    pub order: Vec<usize>,
    /// `(seed, stream, word position)` of the generator, `None` for sequential batches.
    pub rng: Option<([u8; 32], u64, u128)>,
}

/// The order in which an epoch visits a data set, in batches: reshuffled every epoch from one
/// seeded generator, so a seed fixes every epoch of a run.
///
/// ```
/// use percept_data::BatchOrder;
/// let mut order = BatchOrder::shuffled(10, 4, 7);
/// let epoch: Vec<Vec<usize>> = order.next_epoch().map(|b| b.to_vec()).collect();
/// assert_eq!(epoch.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
/// let mut seen: Vec<usize> = epoch.concat();
/// seen.sort();
/// assert_eq!(seen, (0..10).collect::<Vec<_>>());
/// ```
#[derive(Clone, Debug)]
pub struct BatchOrder {
    order: Vec<usize>,
    batch_size: usize,
    rng: Option<ChaCha8Rng>,
    drop_last: bool,
}

impl BatchOrder {
    /// Batches of `batch_size` over `len` samples, reshuffled each epoch from `seed`.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    #[track_caller]
    pub fn shuffled(len: usize, batch_size: usize, seed: u64) -> Self {
        assert!(batch_size > 0, "BatchOrder: batch_size must be at least 1");
        Self {
            order: (0..len).collect(),
            batch_size,
            rng: Some(ChaCha8Rng::seed_from_u64(seed)),
            drop_last: false,
        }
    }

    /// Batches in the data set's own order every epoch (the lesson's `train_epoch`).
    ///
    /// # Panics
    /// If `batch_size` is 0.
    #[track_caller]
    pub fn sequential(len: usize, batch_size: usize) -> Self {
        assert!(batch_size > 0, "BatchOrder: batch_size must be at least 1");
        Self { order: (0..len).collect(), batch_size, rng: None, drop_last: false }
    }

    /// Leaves out the last, smaller batch of each epoch (PyTorch's `drop_last=True`): every
    /// batch then has `batch_size` samples (a `BatchNorm1d` needs more than one).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The batches of the next epoch (the last one may be smaller, unless dropped).
    pub fn next_epoch(&mut self) -> std::slice::Chunks<'_, usize> {
        if let Some(rng) = &mut self.rng {
            self.order.shuffle(rng);
        }
        let used = if self.drop_last {
            self.order.len() / self.batch_size * self.batch_size
        } else {
            self.order.len()
        };
        self.order[..used].chunks(self.batch_size)
    }

    /// Everything that decides the coming epochs: the current order (each epoch shuffles the
    /// previous one) and the generator's position, for a checkpoint.
    pub fn state(&self) -> BatchOrderState {
        BatchOrderState {
            order: self.order.clone(),
            rng: self.rng.as_ref().map(|r| (r.get_seed(), r.get_stream(), r.get_word_pos())),
        }
    }

    /// Continues from a [`BatchOrder::state`]: the following epochs are those the saved order
    /// would have produced. Returns false (and changes nothing) if the state is for another
    /// number of samples, is not a permutation, or its shuffling does not match.
    pub fn restore(&mut self, state: &BatchOrderState) -> bool {
        let n = self.order.len();
        let mut seen = vec![false; n];
        let permutation = state.order.len() == n
            && state.order.iter().all(|&i| i < n && !std::mem::replace(&mut seen[i], true));
        if !permutation || state.rng.is_some() != self.rng.is_some() {
            return false;
        }
        self.order.clone_from(&state.order);
        if let Some((seed, stream, position)) = state.rng {
            let mut rng = ChaCha8Rng::from_seed(seed);
            rng.set_stream(stream);
            rng.set_word_pos(position);
            self.rng = Some(rng);
        }
        true
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        if self.drop_last {
            self.order.len() / self.batch_size
        } else {
            self.order.len().div_ceil(self.batch_size)
        }
    }

    /// Samples per batch (the last batch may hold fewer).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}
