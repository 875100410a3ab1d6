//! What the integration tests share: the committed MNIST files, slices of them, and the MLP
//! they train.

#![allow(dead_code)] // each test binary uses its own part

use percept::prelude::*;

/// The four MNIST files in datasets/mnist.
pub fn mnist() -> Mnist {
    Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist")).expect("datasets/mnist is committed")
}

/// The first `samples` training images as `f32` in [0, 1], with their labels.
pub fn train_slice(mnist: &Mnist, samples: usize) -> InMemoryDataset {
    let indices: Vec<usize> = (0..samples).collect();
    let (mut inputs, mut labels) = (percept::linalg::Matrix::default(), Labels::default());
    mnist.train.gather(&indices, &mut inputs, &mut labels);
    let Labels::Classes(classes) = labels else { panic!("MNIST has class labels") };
    InMemoryDataset::classification(inputs, classes, 10)
}

/// The first `samples` training images kept as bytes (gathered sparse or dense).
pub fn image_slice(mnist: &Mnist, samples: usize) -> ImageDataset {
    let pixels = (0..samples).flat_map(|i| mnist.train.image_bytes(i).iter().copied()).collect();
    ImageDataset::new(pixels, mnist.train.labels()[..samples].to_vec(), 784, 10)
}

/// A data set that only gathers densely (the trait's default `gather_sparse`).
pub struct DenseOnly<'a, D: Dataset>(pub &'a D);

impl<D: Dataset> Dataset for DenseOnly<'_, D> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn num_features(&self) -> usize {
        self.0.num_features()
    }
    fn num_classes(&self) -> Option<usize> {
        self.0.num_classes()
    }
    fn gather(&self, indices: &[usize], inputs: &mut percept::linalg::Matrix, labels: &mut Labels) {
        self.0.gather(indices, inputs, labels);
    }
}

/// 784-`hidden`-10 with ReLU, PyTorch's initialization, from `seed`.
pub fn mlp(hidden: usize, seed: u64) -> Sequential {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    model
        .add(Linear::new(784, hidden, &mut rng))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(Linear::new(hidden, 10, &mut rng)))
        .expect("sizes chain");
    model
}
