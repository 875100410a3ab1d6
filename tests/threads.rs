//! Training gives bit-identical weights at 1 and 2 threads: products split over output
//! blocks, never along the sum, and reductions run in a fixed order.
//!
//! Its own test binary, because the thread count is process-wide.

use percept::prelude::*;

#[test]
fn one_and_two_threads_train_bit_identical_weights() {
    // Size the pool for two threads before anything else starts it.
    percept::set_threads(2).expect("a 2-thread pool");
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist")).expect("committed");
    // 6,400 images at batch 256 keep this quick while every product is above the parallel
    // threshold (256·784·128 multiply-adds).
    let indices: Vec<usize> = (0..6400).collect();
    let (mut inputs, mut labels) = (percept::linalg::Matrix::default(), Labels::default());
    mnist.train.gather(&indices, &mut inputs, &mut labels);
    let Labels::Classes(classes) = labels else { panic!("classes") };
    let train = InMemoryDataset::classification(inputs, classes, 10);
    let run = |threads| {
        percept::set_threads(threads).expect("within the pool");
        let mut rng = seeded_rng(1);
        let mut model = Sequential::new();
        model
            .add(Linear::new(784, 128, &mut rng))
            .and_then(|m| m.add(ReLU))
            .and_then(|m| m.add(Linear::new(128, 10, &mut rng)))
            .expect("chains");
        let config = FitConfig { epochs: 1, batch_size: 256, seed: 1, verbose: false, ..Default::default() };
        Trainer::new(config)
            .fit(&mut model, &mut SoftmaxCrossEntropy, &mut Optimizer::new(Sgd::new(0.1)), &train, None)
            .expect("fits");
        let mut weights = Vec::new();
        model.visit_parameters(&mut |p| weights.extend(p.value.as_slice().iter().map(|v| v.to_bits())));
        weights
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.len(), 784 * 128 + 128 + 128 * 10 + 10);
    assert!(one == two, "weights differ between 1 and 2 threads");
}
