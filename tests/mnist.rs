//! Training on the real MNIST files in datasets/mnist.

use percept::prelude::*;

mod common;

use common::{mlp, mnist};
use percept::train::BatchBuffers;

#[test]
fn one_epoch_of_a_small_mlp_reaches_95_percent() {
    let mnist = mnist();
    let mut model = mlp(128, 0);
    let config = FitConfig { epochs: 1, batch_size: 32, seed: 0, verbose: false, ..Default::default() };
    let history = Trainer::new(config)
        .fit(
            &mut model,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(0.2)),
            &mnist.train,
            Some(&mnist.test),
        )
        .expect("MNIST fits the model");
    let record = history.last().expect("one epoch");
    let accuracy = record.validation_accuracy.expect("classes");
    assert!(accuracy >= 0.95, "test accuracy after one epoch: {accuracy}");
    assert!(record.train_loss < 0.5, "mean training loss {}", record.train_loss);
    // evaluate() agrees with the fit loop's validation figure.
    let again = evaluate(&mut model, &mut SoftmaxCrossEntropy::new(), &mnist.test, 500).expect("fits");
    assert_eq!(again.accuracy, Some(accuracy));
}

/// MNIST images gathered straight into sparse form train the same weights, bit for bit, as
/// the same images gathered dense (which the first layer then compacts), and evaluate the same.
#[test]
fn gathering_sparse_trains_what_gathering_dense_trains() {
    let mnist = mnist();
    let images = common::image_slice(&mnist, 3000);
    let run = |data: &dyn Dataset| {
        let mut model = mlp(64, 5);
        let config = FitConfig { epochs: 1, batch_size: 100, seed: 5, verbose: false, ..Default::default() };
        let history = Trainer::new(config)
            .fit(
                &mut model,
                &mut SoftmaxCrossEntropy::new(),
                &mut Optimizer::new(Sgd::new(0.1)),
                data,
                Some(data),
            )
            .expect("fits");
        let mut weights = Vec::new();
        model.visit_parameters(&mut |p| weights.extend(p.value.as_slice().iter().map(|v| v.to_bits())));
        let epoch = &history.epochs[0];
        (weights, epoch.train_loss.to_bits(), epoch.validation_loss.map(f32::to_bits))
    };
    let sparse = run(&images);
    let dense = run(&common::DenseOnly(&images));
    assert!(sparse.0 == dense.0, "weights differ");
    assert_eq!((sparse.1, sparse.2), (dense.1, dense.2), "losses differ");
}

#[test]
fn the_same_seed_trains_the_same_weights() {
    let mnist = mnist();
    // A 3,000-image slice keeps this quick; determinism does not depend on size.
    let train = common::train_slice(&mnist, 3000);
    let run = |seed| {
        let mut model = mlp(64, seed);
        let config = FitConfig { epochs: 1, batch_size: 50, seed, verbose: false, ..Default::default() };
        Trainer::new(config)
            .fit(
                &mut model,
                &mut SoftmaxCrossEntropy::new(),
                &mut Optimizer::new(Sgd::new(0.1)),
                &train,
                None,
            )
            .expect("fits");
        let mut weights = Vec::new();
        model.visit_parameters(&mut |p| weights.extend_from_slice(p.value.as_slice()));
        weights
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn data_that_does_not_fit_the_model_is_an_error() {
    let mnist = mnist();
    let mut model = mlp(16, 0);
    let data = make_classification(&Classification::default());
    let err = Trainer::new(FitConfig { verbose: false, ..Default::default() })
        .fit(
            &mut model,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(0.1)),
            &data,
            Some(&mnist.test),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "the training set has 2 features per sample, but the model expects 784");
}

#[test]
fn a_diverging_loss_stops_training_with_the_epoch_and_batch() {
    let (train, _) = make_classification(&Classification::default()).split(0.8);
    let mut model = Sequential::new();
    model.add(Linear::new(2, 2, &mut seeded_rng(0))).expect("one layer");
    let config = FitConfig { epochs: 50, batch_size: 8, verbose: false, ..Default::default() };
    // By default the loss is caught exploding, long before it overflows.
    let err = Trainer::new(config)
        .fit(&mut model, &mut Mse, &mut Optimizer::new(Sgd::new(1e6)), &train, None)
        .unwrap_err();
    assert!(matches!(err, TrainError::Diverged { epoch: 1, .. }), "{err}");
    // Without that check, it runs until the loss is no longer a number.
    let mut model = Sequential::new();
    model.add(Linear::new(2, 2, &mut seeded_rng(0))).expect("one layer");
    let err = Trainer::new(config)
        .divergence_factor(None)
        .fit(&mut model, &mut Mse, &mut Optimizer::new(Sgd::new(1e6)), &train, None)
        .unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { .. }), "{err}");
    assert!(err.to_string().starts_with("the loss became"), "{err}");
}

/// `BatchBuffers::gather_next_during` runs the rest of a step with the current batch's
/// labels while gathering the next batch: `forward` on that batch then gives what a fresh
/// gather gives, and a batch other than the one gathered is gathered afresh.
#[test]
fn the_batch_gathered_during_a_step_is_the_next_batch() {
    let mnist = mnist();
    let images = common::image_slice(&mnist, 3000);
    let mut model = mlp(64, 5);
    let first: Vec<usize> = (0..256).collect();
    let second: Vec<usize> = (256..512).rev().collect();
    let third: Vec<usize> = (1000..1256).collect();
    let fresh = |model: &mut Sequential, batch: &[usize]| {
        let mut buffers = BatchBuffers::new();
        let output = buffers.forward(model, &images, batch, Mode::Eval).expect("fits").clone();
        (output, buffers.labels().clone())
    };
    let mut buffers = BatchBuffers::new();
    buffers.forward(&mut model, &images, &first, Mode::Eval).expect("fits");
    let mut calls = 0;
    let seen = buffers.gather_next_during(model.takes_sparse_input(), &images, &second, |labels| {
        calls += 1;
        labels.clone()
    });
    assert_eq!(
        (seen, calls),
        (fresh(&mut model, &first).1, 1),
        "the rest of the step sees the current batch"
    );
    let output = buffers.forward(&mut model, &images, &second, Mode::Eval).expect("fits").clone();
    assert_eq!((output, buffers.labels().clone()), fresh(&mut model, &second));
    buffers.gather_next_during(true, &images, &second, |_| ());
    let output = buffers.forward(&mut model, &images, &third, Mode::Eval).expect("fits").clone();
    assert_eq!((output, buffers.labels().clone()), fresh(&mut model, &third));
}
