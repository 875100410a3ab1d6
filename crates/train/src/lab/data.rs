//! The lab's data: MNIST, its training images split into training and validation sets.

use percept_data::{Dataset, ImageDataset, Mnist, Subset, split_indices};

use super::{LabConfig, LabError};

/// Indices of the training images the lab trains on and of those it holds out for
/// validation, and of the test images it measures once at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSplit {
    /// Into the training files: the training split.
    pub train: Vec<usize>,
    /// Into the training files: the validation split (never trained on).
    pub validation: Vec<usize>,
    /// Into the test files.
    pub test: Vec<usize>,
}

impl LabSplit {
    /// The lab's split of `train_classes` (one class per training image) and
    /// `test_classes`: `validation_fraction` of the training images held out for
    /// validation, each class in the same proportion (48,000 / 12,000 for MNIST's 60,000 at
    /// 0.2), seeded by `seed`. With `train_images` or `test_images`, a seeded, stratified
    /// sample of that many is taken first (the quick lab's subsets). Indices come sorted.
    pub fn new(
        train_classes: &[usize],
        test_classes: &[usize],
        validation_fraction: f64,
        seed: u64,
        train_images: Option<usize>,
        test_images: Option<usize>,
    ) -> Self {
        let sample = |classes: &[usize], count: Option<usize>, seed: u64| -> Vec<usize> {
            match count {
                Some(count) if count < classes.len() => {
                    let fraction = count as f64 / classes.len() as f64;
                    split_indices(classes.len(), fraction, seed, Some(classes)).1
                }
                _ => (0..classes.len()).collect(),
            }
        };
        // Distinct seeds for the samples and the split, all from the one seed.
        let pool = sample(train_classes, train_images, seed ^ 0x5a11_7e57);
        let pool_classes: Vec<usize> = pool.iter().map(|&i| train_classes[i]).collect();
        let (train, validation) = split_indices(pool.len(), validation_fraction, seed, Some(&pool_classes));
        let test = sample(test_classes, test_images, seed ^ 0x7e57_0000);
        Self {
            train: train.into_iter().map(|i| pool[i]).collect(),
            validation: validation.into_iter().map(|i| pool[i]).collect(),
            test,
        }
    }
}

/// MNIST, loaded, and the lab's split of it.
pub struct LabData {
    /// The four files.
    pub mnist: Mnist,
    /// Which images train, validate and test.
    pub split: LabSplit,
}

impl LabData {
    /// Loads `config.data` and splits it as `config` asks.
    ///
    /// # Errors
    /// [`LabError::Data`] naming the file that is missing or corrupt.
    pub fn load(config: &LabConfig) -> Result<Self, LabError> {
        let mnist = Mnist::load(&config.data)?;
        let classes = |set: &ImageDataset| set.labels().iter().map(|&c| c as usize).collect::<Vec<_>>();
        let split = LabSplit::new(
            &classes(&mnist.train),
            &classes(&mnist.test),
            config.validation_fraction,
            config.seed,
            config.train_images,
            config.test_images,
        );
        Ok(Self { mnist, split })
    }

    /// The training split.
    pub fn train(&self) -> Subset<'_, ImageDataset> {
        Subset::new(&self.mnist.train, self.split.train.clone())
    }

    /// The validation split (held-out training images).
    pub fn validation(&self) -> Subset<'_, ImageDataset> {
        Subset::new(&self.mnist.train, self.split.validation.clone())
    }

    /// The test images the lab measures.
    pub fn test(&self) -> Subset<'_, ImageDataset> {
        Subset::new(&self.mnist.test, self.split.test.clone())
    }

    /// Classes in the data (10).
    pub fn classes(&self) -> usize {
        self.mnist.train.num_classes().unwrap_or(10)
    }
}
