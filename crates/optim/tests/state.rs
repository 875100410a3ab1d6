//! Optimizer and scheduler state survive a save and restore (serde, through bincode 2) bit
//! for bit, and a state that does not fit is refused with an error.

use percept_linalg::Matrix;
use percept_nn::{Layer, Linear, Mode};
use percept_optim::{
    Adam, OptimError, Optimizer, OptimizerState, RmsProp, Schedule, Scheduler, Sgd, UpdateRule,
};

fn layer() -> Linear {
    Linear::from_parameters(
        Matrix::from_rows(&[[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]]),
        Matrix::from_rows(&[[0.1, -0.2, 0.3]]),
    )
}

/// One step of a small regression: forward, the gradient of `0.5 · Σ (y − t)²`, backward,
/// optimizer step, scheduler step.
fn train_step<R: UpdateRule>(layer: &mut Linear, optimizer: &mut Optimizer<R>, scheduler: &mut Scheduler) {
    let input = Matrix::from_rows(&[[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]]);
    let target = Matrix::from_rows(&[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-1.0, 2.0, 0.0]]);
    let mut output = Matrix::default();
    layer.forward(&input, &mut output, Mode::Train);
    let grad = Matrix::from_fn(3, 3, |r, c| output.get(r, c) - target.get(r, c));
    layer.backward(&input, &output, &grad, None);
    optimizer.step(layer);
    scheduler.step(optimizer);
}

fn bits(m: &Matrix) -> Vec<u32> {
    m.as_slice().iter().map(|v| v.to_bits()).collect()
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(value, config).expect("encode");
    let (decoded, read) = bincode::serde::decode_from_slice(&bytes, config).expect("decode");
    assert_eq!(read, bytes.len());
    decoded
}

#[test]
fn five_steps_saved_and_restored_then_five_more_equal_ten_uninterrupted() {
    let rules: Vec<fn() -> Box<dyn UpdateRule>> = vec![
        || Box::new(Adam { amsgrad: true, ..Adam::new(0.05) }),
        || Box::new(Sgd { weight_decay: 0.01, ..Sgd::nesterov(0.05, 0.9) }),
        || Box::new(RmsProp { momentum: 0.5, centered: true, ..RmsProp::new(0.01) }),
    ];
    for make in rules {
        let schedule = || Schedule::Warmup {
            steps: 3,
            start_factor: 0.2,
            then: Box::new(Schedule::Cosine { t_max: 10, eta_min: 0.0 }),
        };
        // Ten uninterrupted steps.
        let mut straight = layer();
        let mut optimizer: Optimizer = Optimizer::new(make());
        let mut scheduler = Scheduler::start(schedule(), &mut optimizer);
        for _ in 0..10 {
            train_step(&mut straight, &mut optimizer, &mut scheduler);
        }
        // Five steps, save everything, restore into fresh objects, five more.
        let mut resumed = layer();
        let mut first: Optimizer = Optimizer::new(make());
        let mut first_scheduler = Scheduler::start(schedule(), &mut first);
        for _ in 0..5 {
            train_step(&mut resumed, &mut first, &mut first_scheduler);
        }
        let saved: OptimizerState = round_trip(&first.state());
        let saved_scheduler: Scheduler = round_trip(&first_scheduler);
        let (weight, bias) = (resumed.weight().clone(), resumed.bias().clone());
        drop((first, first_scheduler, resumed));
        let mut resumed = Linear::from_parameters(weight, bias);
        let mut second: Optimizer = Optimizer::new(make());
        second.load_state(saved, &mut resumed).expect("state fits");
        let mut second_scheduler = saved_scheduler;
        assert_eq!(second.steps(), 5);
        for _ in 0..5 {
            train_step(&mut resumed, &mut second, &mut second_scheduler);
        }
        let name = optimizer.rule().name();
        assert_eq!(bits(resumed.weight()), bits(straight.weight()), "{name}: weight");
        assert_eq!(bits(resumed.bias()), bits(straight.bias()), "{name}: bias");
        assert_eq!(second.state(), optimizer.state(), "{name}: optimizer state");
        assert_eq!(second_scheduler, scheduler, "{name}: scheduler");
    }
}

#[test]
fn a_state_that_does_not_fit_is_refused() {
    let mut model = layer();
    let mut adam = Optimizer::new(Adam::new(0.01));
    let mut scheduler = Scheduler::new(Schedule::Constant, &adam);
    train_step(&mut model, &mut adam, &mut scheduler);
    let state = adam.state();

    let mut sgd = Optimizer::new(Sgd::momentum(0.1, 0.9));
    assert_eq!(
        sgd.load_state(state.clone(), &mut model),
        Err(OptimError::OtherRule { expected: "Sgd".into(), found: "Adam".into() })
    );
    let mut amsgrad = Optimizer::new(Adam { amsgrad: true, ..Adam::new(0.01) });
    assert_eq!(
        amsgrad.load_state(state.clone(), &mut model),
        Err(OptimError::BufferCount { index: 0, name: "weight", expected: 3, found: 2 })
    );
    let mut other_model = Linear::from_parameters(Matrix::zeros(3, 3), Matrix::zeros(1, 3));
    let mut fresh = Optimizer::new(Adam::new(0.01));
    let error = fresh.load_state(state.clone(), &mut other_model).unwrap_err();
    assert_eq!(error, OptimError::ParameterSize { index: 0, name: "weight", model: 9, state: 6 });
    assert!(error.to_string().contains("parameter 0 (weight) has 6 values but the model's has 9"), "{error}");
    let mut short = state.clone();
    short.buffers.pop();
    assert_eq!(fresh.load_state(short, &mut model), Err(OptimError::ParameterCount { model: 2, state: 1 }));
    assert_eq!(fresh.steps(), 0, "a refused state changes nothing");
    fresh.load_state(state, &mut model).expect("the right state fits");
    assert_eq!(fresh.steps(), 1);
}
