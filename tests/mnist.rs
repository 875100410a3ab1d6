//! Training on the real MNIST files in datasets/mnist.

use percept::prelude::*;

mod common;

use common::{mlp, mnist};

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
    let err = Trainer::new(config)
        .fit(&mut model, &mut Mse, &mut Optimizer::new(Sgd::new(1e6)), &train, None)
        .unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { .. }), "{err}");
    assert!(err.to_string().starts_with("the loss became"), "{err}");
}
