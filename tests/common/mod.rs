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
