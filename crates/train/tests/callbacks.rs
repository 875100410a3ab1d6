//! Callbacks in the fit loop, and early stopping that restores the best epoch.

use std::cell::RefCell;
use std::rc::Rc;

use percept_data::{Classification, InMemoryDataset, make_classification};
use percept_nn::{
    BatchNorm1d, Buffer, Linear, Parameters, ReLU, Sequential, SoftmaxCrossEntropy, seeded_rng,
};
use percept_optim::{Optimizer, Sgd};
use percept_train::*;

fn data() -> (InMemoryDataset, InMemoryDataset) {
    make_classification(&Classification { samples: 200, flip_y: 0.3, ..Default::default() }).split(0.5)
}

fn model() -> Sequential {
    let mut model = Sequential::new();
    model.add(Linear::new(2, 2, &mut seeded_rng(0))).expect("layer");
    model
}

fn weights(model: &mut Sequential) -> Vec<f32> {
    let mut out = Vec::new();
    model.visit_parameters(&mut |p| out.extend_from_slice(p.value.as_slice()));
    out
}

/// Records what it is shown and stops after a given batch.
struct Recorder {
    log: Rc<RefCell<Vec<String>>>,
    stop_after_batch: Option<(usize, usize)>,
}

impl Callback for Recorder {
    fn on_batch_end(&mut self, batch: &BatchRecord) -> Control {
        self.log.borrow_mut().push(format!("batch {}.{}/{}", batch.epoch, batch.batch, batch.batches));
        if self.stop_after_batch == Some((batch.epoch, batch.batch)) {
            Control::Stop
        } else {
            Control::Continue
        }
    }
    fn on_epoch_end(&mut self, record: &EpochRecord, _model: &mut Sequential) -> Control {
        self.log.borrow_mut().push(format!("epoch {}", record.epoch));
        Control::Continue
    }
    fn on_train_end(&mut self, _model: &mut Sequential, history: &History) {
        self.log.borrow_mut().push(format!("end after {}", history.epochs.len()));
    }
}

#[test]
fn callbacks_see_every_batch_and_epoch_and_can_stop() {
    let (train, _) = data();
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut trainer =
        Trainer::new(FitConfig { epochs: 3, batch_size: 40, verbose: false, ..Default::default() });
    trainer.callback(Recorder { log: log.clone(), stop_after_batch: Some((2, 1)) });
    let history = trainer
        .fit(&mut model(), &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &train, None)
        .expect("trains");
    assert_eq!(history.epochs.len(), 2, "stopped in epoch 2, which is recorded");
    assert_eq!(
        *log.borrow(),
        ["batch 1.1/3", "batch 1.2/3", "batch 1.3/3", "epoch 1", "batch 2.1/3", "epoch 2", "end after 2"]
    );
}

/// The trainable values, then the non-trainable ones (running statistics).
fn state(model: &mut Sequential) -> (Vec<f32>, Vec<f32>) {
    let mut buffers = Vec::new();
    model.visit_buffers(&mut |buffer| {
        if let Buffer::Values { values, .. } = buffer {
            buffers.extend_from_slice(values);
        }
    });
    (weights(model), buffers)
}

/// A model with running statistics: `Linear`, `BatchNorm1d`, `ReLU`, `Linear`.
fn batch_norm_model() -> Sequential {
    let mut model = Sequential::new();
    model.add(Linear::new(2, 8, &mut seeded_rng(0))).expect("layer");
    model.add(BatchNorm1d::new(8)).expect("layer");
    model.add(ReLU).expect("layer");
    model.add(Linear::new(8, 2, &mut seeded_rng(1))).expect("layer");
    model
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_epoch() {
    check_early_stopping(model, 2.0);
}

/// Keras' `restore_best_weights` restores a batch normalization's moving statistics with the
/// weights; so does `EarlyStopping`.
#[test]
fn early_stopping_restores_running_statistics_too() {
    check_early_stopping(batch_norm_model, 1.0);
}

fn check_early_stopping(model: fn() -> Sequential, learning_rate: f32) {
    let (train, validation) = data();
    // A learning rate high enough that the validation loss soon stops improving.
    let config = FitConfig { epochs: 60, batch_size: 10, verbose: false, ..Default::default() };
    let mut plain = model();
    let full = Trainer::new(config)
        .fit(
            &mut plain,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(learning_rate)),
            &train,
            Some(&validation),
        )
        .expect("trains");
    let losses: Vec<f32> = full.epochs.iter().map(|e| e.validation_loss.unwrap()).collect();
    // Where early stopping with patience 3 must stop, computed from the full run.
    let (mut best, mut best_epoch, mut stop) = (f32::INFINITY, 0, full.epochs.len());
    for (i, &l) in losses.iter().enumerate() {
        if l < best {
            (best, best_epoch) = (l, i + 1);
        } else if i + 1 - best_epoch >= 3 {
            stop = i + 1;
            break;
        }
    }
    assert!(stop < 60, "the run plateaus: {losses:?}");

    // The same run with early stopping, and a run of exactly `best_epoch` epochs.
    let mut stopped = model();
    let mut trainer = Trainer::new(config);
    trainer.callback(EarlyStopping::new(Monitor::ValidationLoss, 3));
    let history = trainer
        .fit(
            &mut stopped,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(learning_rate)),
            &train,
            Some(&validation),
        )
        .expect("trains");
    assert_eq!(history.epochs.len(), stop);
    let mut reference = model();
    Trainer::new(FitConfig { epochs: best_epoch, ..config })
        .fit(
            &mut reference,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(learning_rate)),
            &train,
            Some(&validation),
        )
        .expect("trains");
    let (weights, buffers) = state(&mut stopped);
    assert_eq!((weights, buffers), state(&mut reference), "the best epoch's weights and statistics are back");
}

/// 101 samples in batches of 10 leave a last batch of one, which a batch normalization cannot
/// train on: `fit` returns the model's error (no panic), and `drop_last` trains.
#[test]
fn a_last_batch_too_small_for_batch_norm_is_an_error_unless_dropped() {
    let train = make_classification(&Classification { samples: 101, ..Default::default() });
    let config = FitConfig { epochs: 2, batch_size: 10, verbose: false, ..Default::default() };
    let fit = |config: FitConfig| {
        Trainer::new(config).fit(
            &mut batch_norm_model(),
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(0.1)),
            &train,
            None,
        )
    };
    let err = fit(config).expect_err("a last batch of one sample");
    assert!(err.to_string().contains("needs at least 2 samples per training batch"), "{err}");
    let history = fit(FitConfig { drop_last: true, ..config }).expect("trains without the last batch");
    assert_eq!(history.epochs.len(), 2);
}

/// Copies every parameter's gradient as `on_step_end` finds it, after the first step.
struct GradientCopy(Rc<RefCell<Vec<Vec<f32>>>>);

impl Callback for GradientCopy {
    fn on_step_end(&mut self, batch: &BatchRecord, model: &mut Sequential) -> Control {
        if batch.epoch == 1 && batch.batch == 1 {
            let mut grads = Vec::new();
            model.visit_parameters(&mut |p| grads.push(p.grad.as_slice().to_vec()));
            *self.0.borrow_mut() = grads;
        }
        Control::Continue
    }
}

/// `on_step_end` sees the gradients of the step that was just taken, bit for bit those of a
/// plain `backward` on the same batch, although the fit loop fuses the backward pass with the
/// update (and the first layer updates its weight rows inside its gradient product, which
/// its mostly-zero input here sends down the sparse path).
#[test]
fn on_step_end_sees_the_steps_gradients() {
    use percept_data::Dataset;
    use percept_linalg::Matrix;
    use percept_nn::{Loss, Mode, Sigmoid, Targets};
    // 64 samples of 100 features, 8% of them non-zero (below the sparse path's 25%).
    let features =
        Matrix::from_fn(
            64,
            100,
            |i, j| if (i * 7 + j * 13) % 25 < 2 { (j % 5) as f32 * 0.3 + 0.1 } else { 0.0 },
        );
    let classes: Vec<usize> = (0..64).map(|i| i % 3).collect();
    let data = InMemoryDataset::classification(features.clone(), classes.clone(), 3);
    let build = || {
        let mut rng = seeded_rng(4);
        let mut model = Sequential::new();
        model.add(Linear::new(100, 16, &mut rng)).expect("layer");
        model.add(Sigmoid).expect("layer");
        model.add(Linear::new(16, 3, &mut rng)).expect("layer");
        model
    };
    let seen = Rc::new(RefCell::new(Vec::new()));
    let mut trainer = Trainer::new(FitConfig {
        epochs: 1,
        batch_size: 64,
        shuffle: false,
        verbose: false,
        ..Default::default()
    });
    trainer.callback(GradientCopy(seen.clone()));
    let mut model = build();
    let mut optimizer = Optimizer::new(Sgd::new(0.5));
    trainer.fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &data, None).expect("trains");
    assert_eq!(data.len(), 64);

    let mut reference = build();
    let mut loss = SoftmaxCrossEntropy::new();
    let mut output_grad = Matrix::default();
    let output = reference.forward(&features, Mode::Train).expect("fits");
    loss.forward_backward(output, Targets::Classes(&classes), &mut output_grad).expect("fits");
    reference.backward(&output_grad).expect("fits");
    let mut expected = Vec::new();
    reference.visit_parameters(&mut |p| expected.push(p.grad.as_slice().to_vec()));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 4, "two weights and two biases");
    assert!(expected[0].iter().any(|&g| g != 0.0), "the first layer has a gradient");
    for (k, (got, want)) in seen.iter().zip(&expected).enumerate() {
        assert!(got == want, "parameter {k}: the gradient after the fused step differs from backward's");
    }
    // And the step did change the weights: the gradient seen is not a stale or zeroed one.
    let mut after = Vec::new();
    model.visit_parameters(&mut |p| after.push(p.value.as_slice().to_vec()));
    let mut before = Vec::new();
    build().visit_parameters(&mut |p| before.push(p.value.as_slice().to_vec()));
    assert!(after[0] != before[0], "the first layer was updated");
}
