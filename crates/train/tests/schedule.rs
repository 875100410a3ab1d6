//! Learning-rate schedules inside the fit loop, stepped per epoch or per batch.

use percept_data::{Classification, make_classification};
use percept_nn::{Linear, Sequential, SoftmaxCrossEntropy, seeded_rng};
use percept_optim::{Optimizer, Schedule, Sgd};
use percept_train::{FitConfig, StepEvery, Trainer};

fn rates(schedule: Schedule, every: StepEvery, batch_size: usize) -> (Vec<f32>, f32) {
    // 100 samples: batch 10 gives 10 batches per epoch.
    let data = make_classification(&Classification { samples: 100, ..Default::default() });
    let mut model = Sequential::new();
    model.add(Linear::new(2, 2, &mut seeded_rng(0))).expect("layer");
    let mut optimizer = Optimizer::new(Sgd::new(0.1));
    let config = FitConfig { epochs: 5, batch_size, verbose: false, ..Default::default() };
    let mut trainer = Trainer::new(config);
    trainer.schedule(schedule, every);
    let history = trainer
        .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &data, None)
        .expect("training runs");
    (history.epochs.iter().map(|e| e.learning_rate).collect(), optimizer.learning_rate())
}

#[test]
fn an_epoch_schedule_changes_the_rate_between_epochs() {
    let (epochs, last) = rates(Schedule::Step { step_size: 2, gamma: 0.5 }, StepEvery::Epoch, 10);
    assert_eq!(epochs, [0.1, 0.1, 0.05, 0.05, 0.025]);
    assert_eq!(last, 0.025, "stepped after the last epoch too (5 steps: 0.1 · 0.5²)");
}

#[test]
fn a_batch_schedule_changes_the_rate_every_batch() {
    let (epochs, last) = rates(Schedule::Exponential { gamma: 0.9 }, StepEvery::Batch, 10);
    // Epoch e starts after 10 · (e − 1) batch steps. (Relative 1e-5: γ = 0.9 rounded to f32,
    // raised to the 40th power, is 1e-6 away from 0.9⁴⁰.)
    let close = |got: f32, want: f64| (got as f64 - want).abs() < 1e-5 * want;
    for (e, &rate) in epochs.iter().enumerate() {
        let want = 0.1 * 0.9f64.powi(10 * e as i32);
        assert!(close(rate, want), "epoch {}: {rate} vs {want}", e + 1);
    }
    assert!(close(last, 0.1 * 0.9f64.powi(50)), "{last}");
}

#[test]
fn a_warmup_starts_below_the_base_rate() {
    let schedule = Schedule::Warmup { steps: 4, start_factor: 0.25, then: Box::new(Schedule::Constant) };
    let (epochs, _) = rates(schedule, StepEvery::Epoch, 10);
    let want = [0.025, 0.04375, 0.0625, 0.08125, 0.1];
    for (got, want) in epochs.iter().zip(want) {
        assert!((got - want).abs() < 1e-7, "{epochs:?}");
    }
}
