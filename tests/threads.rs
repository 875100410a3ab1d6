//! Training gives bit-identical weights, losses and accuracies at 1 and 2 threads: products
//! split over output blocks, never along the sum, and reductions run in a fixed order.
//!
//! Its own test binary, because the thread count is process-wide.

use percept::prelude::*;

mod common;

#[test]
fn one_and_two_threads_train_bit_identical_weights() {
    // Size the team for two threads before anything else starts it.
    percept::set_threads(2).expect("a 2-thread team");
    // Batches of 1,024 put every product above its parallel threshold, the sparse first
    // layer's included (about 150K non-zeros × 128 outputs ≥ 16M multiply-adds).
    let mnist = common::mnist();
    let train = common::train_slice(&mnist, 8192);
    let images = common::image_slice(&mnist, 8192);
    // Gathered dense (an in-memory matrix) and sparse (bytes compacted by each thread).
    for data in [&train as &dyn Dataset, &images] {
        check_threads_agree(data);
    }
}

fn check_threads_agree(train: &dyn Dataset) {
    let run = |threads| {
        percept::set_threads(threads).expect("within the pool");
        let mut model = common::mlp(128, 1);
        let config = FitConfig { epochs: 1, batch_size: 1024, seed: 1, verbose: false, ..Default::default() };
        let history = Trainer::new(config)
            .fit(
                &mut model,
                &mut SoftmaxCrossEntropy::new(),
                &mut Optimizer::new(Sgd::new(0.1)),
                train,
                Some(train),
            )
            .expect("fits");
        let mut weights = Vec::new();
        model.visit_parameters(&mut |p| weights.extend(p.value.as_slice().iter().map(|v| v.to_bits())));
        // The loss is added up from per-row values computed on either thread, the accuracy
        // counted on both.
        let epoch = &history.epochs[0];
        let metrics =
            [Some(epoch.train_loss), epoch.train_accuracy, epoch.validation_loss, epoch.validation_accuracy]
                .map(|m| m.expect("recorded").to_bits());
        (weights, metrics)
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.0.len(), 784 * 128 + 128 + 128 * 10 + 10);
    assert!(one.0 == two.0, "weights differ between 1 and 2 threads");
    assert_eq!(one.1, two.1, "loss or accuracy differs between 1 and 2 threads");
}
