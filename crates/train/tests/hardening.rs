//! Hostile and careless use of the training library: checkpoints whose layers declare sizes
//! the file cannot hold, runs that diverge, two writers of one checkpoint path, a folder that
//! does not exist, and the one-call conveniences (validation split, save and load).

mod common;
use common::scratch;

use std::path::Path;

use percept_data::{
    Classification, Dataset, InMemoryDataset, Subset, make_classification, split_for_validation,
};
use percept_nn::{
    Dropout, LayerSpec, Linear, Mode, Parameters, ReLU, Sequential, SoftmaxCrossEntropy, seeded_rng,
};
use percept_optim::{Optimizer, Sgd};
use percept_train::*;

fn data() -> InMemoryDataset {
    make_classification(&Classification { samples: 240, classes: 3, ..Default::default() })
}

fn mlp(seed: u64) -> Sequential {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    model
        .add(Linear::new(2, 16, &mut rng))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(Linear::new(16, 3, &mut rng)))
        .expect("sizes chain");
    model
}

fn config(epochs: usize) -> FitConfig {
    FitConfig { epochs, batch_size: 16, seed: 1, verbose: false, ..Default::default() }
}

fn bits(model: &mut Sequential) -> Vec<u32> {
    let mut out = Vec::new();
    model.visit_parameters(&mut |p| out.extend(p.value.as_slice().iter().map(|v| v.to_bits())));
    out
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

/// A checkpoint with a valid checksum whose first layer declares 2⁶², 10⁹ or 5·10⁶ inputs:
/// refused when read, naming the file, before a model is built (building would ask for up
/// to exabytes); a checkpoint made in memory is refused by `model()` the same way.
#[test]
fn layers_declaring_more_than_the_file_holds_are_refused_before_allocating() {
    let dir = scratch("huge_layers");
    for inputs in [1usize << 62, 1_000_000_000, 5_000_000] {
        let mut checkpoint =
            Checkpoint::of_model(&mut mlp(0), Optimizer::new(Sgd::new(0.1)).state()).expect("percept layers");
        checkpoint.layers[0] = LayerSpec::Linear { in_features: inputs, out_features: 16 };
        let path = dir.join(format!("{inputs}.ckpt"));
        checkpoint.save(&path).expect("writes");
        let err = Checkpoint::load(&path).unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{inputs}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()) && message.contains("layer 0"), "{message}");
        let err = checkpoint.model().unwrap_err();
        assert!(matches!(err, CheckpointError::Invalid(_)), "{inputs}: {err:?}");
    }
    // A dropout probability no layer accepts (NaN would panic in `Dropout::new`).
    let mut model = mlp(0);
    model.add(Dropout::seeded(0.5, 1)).expect("chains");
    let mut checkpoint =
        Checkpoint::of_model(&mut model, Optimizer::new(Sgd::new(0.1)).state()).expect("percept layers");
    checkpoint.layers[3] = LayerSpec::Dropout { p: f32::NAN, seed: 1 };
    let path = dir.join("nan-dropout.ckpt");
    checkpoint.save(&path).expect("writes");
    let err = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(err.contains("layer 3 (Dropout) has probability NaN"), "{err}");
}

/// A checkpoint `good` (its bytes) with its first parameter's name (`"weight"`) declared
/// 2⁴⁰ bytes long and a valid checksum.
fn with_huge_name(good: &[u8]) -> Vec<u8> {
    let payload = &good[24..];
    let at = payload.windows(7).position(|w| w == b"\x06weight").expect("the first parameter's name");
    // bincode's variable-length integers: 253 announces a u64.
    let mut forged = payload[..at].to_vec();
    forged.push(253);
    forged.extend_from_slice(&(1u64 << 40).to_le_bytes());
    forged.extend_from_slice(&payload[at + 1..]);
    let mut bytes = CHECKPOINT_MAGIC.to_vec();
    bytes.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(forged.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&forged).to_le_bytes());
    bytes.extend_from_slice(&forged);
    bytes
}

/// A name declared 2⁴⁰ bytes long (bincode would allocate that before reading it) is refused
/// as corrupt, not allocated.
#[test]
fn texts_declaring_more_than_the_file_holds_are_refused() {
    let dir = scratch("huge_text");
    let path = dir.join("good.ckpt");
    Checkpoint::of_model(&mut mlp(0), Optimizer::new(Sgd::new(0.1)).state())
        .expect("percept layers")
        .save(&path)
        .expect("writes");
    let forged = with_huge_name(&std::fs::read(&path).expect("written"));
    let err = Checkpoint::from_bytes(&forged, "forged.ckpt").unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
}

/// `--lr 1e6`: the loss explodes while staying finite. The run stops with `Diverged`, and the
/// good checkpoint at the path is left byte for byte as it was.
#[test]
fn a_diverging_run_is_an_error_and_never_overwrites_the_checkpoint() {
    let dir = scratch("diverging");
    let path = dir.join("good.ckpt");
    let train = data();
    let fit = |lr: f32, epochs: usize| {
        let mut model = mlp(2);
        Trainer::new(config(epochs)).checkpoint_every_epoch(&path).fit(
            &mut model,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Sgd::new(lr)),
            &train,
            None,
        )
    };
    fit(0.1, 2).expect("a sane learning rate trains");
    let good = std::fs::read(&path).expect("written");
    let err = fit(1e6, 5).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { epoch: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("rose to"), "{err}");
    assert_eq!(std::fs::read(&path).expect("still there"), good, "the good checkpoint is untouched");
    assert!(temporary_files(&dir).is_empty());

    // A parameter that is NaN (a layer's weights poisoned by hand) is caught after the epoch.
    let mut model = mlp(3);
    model.visit_parameters(&mut |p| {
        if p.name == "bias" {
            p.value.as_mut_slice()[0] = f32::NAN;
        }
    });
    let err = Trainer::new(config(1))
        .checkpoint_every_epoch(&path)
        .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &train, None)
        .unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { .. } | TrainError::Diverged { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).expect("still there"), good);
}

/// Two writers saving to one path, over and over: every save succeeds (each writes its own
/// temporary file), the file reads back as one of them, and no temporary file is left.
#[test]
fn two_writers_of_one_path_do_not_fail_each_other() {
    let dir = scratch("two_writers");
    let path = dir.join("shared.ckpt");
    let checkpoints: Vec<Checkpoint> = (0..2)
        .map(|i| Checkpoint::of_model(&mut mlp(i), Optimizer::new(Sgd::new(0.1)).state()).expect("layers"))
        .collect();
    std::thread::scope(|scope| {
        for checkpoint in &checkpoints {
            let path = &path;
            scope.spawn(move || {
                for round in 0..60 {
                    checkpoint.save(path).unwrap_or_else(|e| panic!("round {round}: {e}"));
                }
            });
        }
    });
    let read = Checkpoint::load(&path).expect("a whole file");
    assert!(checkpoints.contains(&read));
    assert!(temporary_files(&dir).is_empty(), "{:?}", temporary_files(&dir));
}

/// A save that fails at the rename (the path is a folder) removes its temporary file; a
/// checkpoint path in a folder that does not exist is reported before the first epoch.
#[test]
fn failed_saves_leave_nothing_and_bad_paths_are_reported_before_training() {
    let dir = scratch("bad_paths");
    let folder = dir.join("a-folder.ckpt");
    std::fs::create_dir_all(folder.join("inside")).expect("creates");
    let checkpoint =
        Checkpoint::of_model(&mut mlp(0), Optimizer::new(Sgd::new(0.1)).state()).expect("layers");
    let err = checkpoint.save(&folder).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");
    assert!(temporary_files(&dir).is_empty(), "{:?}", temporary_files(&dir));

    let train = data();
    for bad in [dir.join("no-such-folder").join("run.ckpt"), folder] {
        let epochs = std::rc::Rc::new(std::cell::Cell::new(0));
        let counted = epochs.clone();
        let mut trainer = Trainer::new(config(2));
        trainer.checkpoint_every_epoch(&bad).on_epoch(move |_| counted.set(counted.get() + 1));
        let err = trainer
            .fit(
                &mut mlp(0),
                &mut SoftmaxCrossEntropy::new(),
                &mut Optimizer::new(Sgd::new(0.1)),
                &train,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, TrainError::Checkpoint(_)), "{err:?}");
        assert!(err.to_string().contains(&bad.display().to_string()), "{err}");
        assert_eq!(epochs.get(), 0, "no epoch ran");
    }
}

/// `FitConfig::validation_split` holds out the samples `split_for_validation` picks: the
/// weights are those of training on the rest alone, and the validation figures are those
/// of the held-out samples.
#[test]
fn the_validation_split_is_held_out_of_training() {
    let data = data();
    let split = FitConfig { validation_split: 0.25, ..config(3) };
    let mut model = mlp(4);
    let mut loss = SoftmaxCrossEntropy::new();
    let history = Trainer::new(split)
        .fit(&mut model, &mut loss, &mut Optimizer::new(Sgd::new(0.1)), &data, None)
        .expect("trains");

    let (kept, held) = split_for_validation(&data, 0.25, split.seed);
    assert_eq!((kept.len(), held.len()), (180, 60));
    let (kept, held) = (Subset::new(&data, kept), Subset::new(&data, held));
    let mut alone = mlp(4);
    Trainer::new(config(3))
        .fit(&mut alone, &mut loss, &mut Optimizer::new(Sgd::new(0.1)), &kept, None)
        .expect("trains");
    assert_eq!(bits(&mut model), bits(&mut alone), "trained on the kept samples only");
    let last = history.last().expect("3 epochs");
    let on_held = evaluate(&mut model, &mut loss, &held, 1024).expect("fits");
    assert_eq!(last.validation_loss, Some(on_held.loss));
    assert_eq!(last.validation_accuracy, on_held.accuracy);

    // A split and a validation set both, or a fraction out of range: refused.
    for (config, validation) in
        [(split, Some(&held as &dyn Dataset)), (FitConfig { validation_split: 1.0, ..split }, None)]
    {
        let err = Trainer::new(config)
            .fit(&mut mlp(4), &mut loss, &mut Optimizer::new(Sgd::new(0.1)), &data, validation)
            .unwrap_err();
        assert!(matches!(err, TrainError::Config(_)), "{err:?}");
    }
}

/// A model with `Dropout::new` trained twice from one seed ends bit for bit the same, and
/// from another seed differently: the fit loop seeds it from `FitConfig::seed`.
#[test]
fn dropout_follows_the_run_seed() {
    let data = data();
    let run = |seed: u64| {
        let mut rng = seeded_rng(5);
        let mut model = Sequential::new();
        model
            .add(Linear::new(2, 32, &mut rng))
            .and_then(|m| m.add(ReLU))
            .and_then(|m| m.add(Dropout::new(0.5)))
            .and_then(|m| m.add(Linear::new(32, 3, &mut rng)))
            .expect("chains");
        Trainer::new(FitConfig { seed, ..config(2) })
            .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &data, None)
            .expect("trains");
        bits(&mut model)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// `model.save(path)` and `Sequential::load(path)`: the same outputs, bit for bit; `percept
/// summary`-style readers see a checkpoint without training state.
#[test]
fn save_and_load_a_model_in_one_call_each() {
    let dir = scratch("save_load");
    let path = dir.join("model.ckpt");
    let data = data();
    let mut model = mlp(6);
    Trainer::new(config(2))
        .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Sgd::new(0.1)), &data, None)
        .expect("trains");
    model.save(&path).expect("writes");
    let mut loaded = Sequential::load(&path).expect("reads");
    let all: Vec<usize> = (0..data.len()).collect();
    let (mut x, mut y) = (percept_linalg::Matrix::default(), percept_data::Labels::default());
    data.gather(&all, &mut x, &mut y);
    let want = model.forward(&x, Mode::Eval).expect("fits").clone();
    assert_eq!(loaded.forward(&x, Mode::Eval).expect("fits"), &want);
    assert_eq!(loaded.predict(&x).expect("fits"), model.predict(&x).expect("fits"));
    let checkpoint = Checkpoint::load(&path).expect("reads");
    assert!(checkpoint.optimizer.rule.is_empty() && checkpoint.history.is_empty());
    let err = Sequential::load(dir.join("absent.ckpt")).unwrap_err();
    assert!(err.to_string().contains("absent.ckpt"), "{err}");
}
