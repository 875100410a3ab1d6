//! Checkpoints: resuming continues bit for bit, every kind of bad file is refused with a
//! typed error, and a checkpoint written by format version 1 still loads.

mod common;
use common::scratch;

use std::path::Path;

use percept_data::{Classification, InMemoryDataset, make_classification};
use percept_linalg::Matrix;
use percept_nn::{
    BatchNorm1d, Buffer, Dropout, LayerNorm, Linear, Mode, Normalization, Parameters, ReLU, Sequential,
    SoftmaxCrossEntropy, seeded_rng,
};
use percept_optim::{Adam, Optimizer, Schedule};
use percept_train::*;

fn data() -> (InMemoryDataset, InMemoryDataset) {
    make_classification(&Classification { samples: 200, classes: 3, ..Default::default() }).split(0.8)
}

/// A model with every kind of saved state: parameters, fitted and running statistics, a
/// dropout generator. The feature statistics depend on the seed, so only a load makes two
/// models agree.
fn model(seed: u64) -> Sequential {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    let s = seed as f32;
    model
        .add(Normalization::with_statistics(vec![0.1 * s, -0.2], vec![1.0 + s, 2.0]))
        .and_then(|m| m.add(Linear::new(2, 16, &mut rng)))
        .and_then(|m| m.add(BatchNorm1d::new(16)))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(LayerNorm::new(16)))
        .and_then(|m| m.add(Dropout::seeded(0.2, seed + 100)))
        .and_then(|m| m.add(Linear::new(16, 3, &mut rng)))
        .expect("sizes chain");
    model
}

fn trainer(epochs: usize) -> Trainer {
    let config =
        FitConfig { epochs, batch_size: 16, seed: 5, verbose: false, drop_last: true, ..Default::default() };
    let mut trainer = Trainer::new(config);
    trainer.schedule(Schedule::Cosine { t_max: 40, eta_min: 0.0 }, StepEvery::Batch);
    trainer
}

fn bits(model: &mut Sequential) -> Vec<u32> {
    let mut out = Vec::new();
    model.visit_parameters(&mut |p| out.extend(p.value.as_slice().iter().map(|v| v.to_bits())));
    out
}

fn without_times(history: &History) -> Vec<(usize, u32, u32)> {
    history.epochs.iter().map(|e| (e.epoch, e.train_loss.to_bits(), e.learning_rate.to_bits())).collect()
}

#[test]
fn resuming_from_a_checkpoint_continues_bit_for_bit() {
    let dir = scratch("resume");
    let (train, validation) = data();

    let mut straight = model(1);
    let full = trainer(4)
        .fit(
            &mut straight,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Adam::new(0.01)),
            &train,
            Some(&validation),
        )
        .expect("trains");

    // Two epochs, saved; then everything fresh (another initialization, to show the load),
    // resumed from the file for the last two.
    let path = dir.join("run.ckpt");
    let mut first = model(1);
    trainer(2)
        .checkpoint_every_epoch(&path)
        .fit(
            &mut first,
            &mut SoftmaxCrossEntropy::new(),
            &mut Optimizer::new(Adam::new(0.01)),
            &train,
            Some(&validation),
        )
        .expect("trains");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "the temporary files are renamed: {leftovers:?}");
    let checkpoint = Checkpoint::load(&path).expect("readable");
    assert_eq!(checkpoint.epoch, 2);
    let mut resumed = model(99);
    let mut optimizer = Optimizer::new(Adam::new(0.01));
    let history = trainer(4)
        .resume(checkpoint)
        .fit(&mut resumed, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &train, Some(&validation))
        .expect("resumes");
    assert_eq!(bits(&mut resumed), bits(&mut straight), "weights after 4 epochs");
    assert_eq!(without_times(&history), without_times(&full), "losses and rates of every epoch");
    assert_eq!(optimizer.steps(), 4 * 10);

    // The model can also be rebuilt from the file alone.
    let mut rebuilt = Checkpoint::load(&path).expect("readable").model().expect("rebuilds");
    let mut first_bits = bits(&mut first);
    assert_eq!(bits(&mut rebuilt), std::mem::take(&mut first_bits));
    assert_eq!(statistics(&mut rebuilt), statistics(&mut first));
    assert_ne!(statistics(&mut model(99)), statistics(&mut first));
}

/// The values of every buffer of `model` (the generators' states left out).
fn statistics(model: &mut Sequential) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    model.visit_buffers(&mut |b| {
        if let Buffer::Values { values, .. } = b {
            out.push(values.clone());
        }
    });
    out
}

#[test]
fn bad_checkpoints_are_refused_with_typed_errors() {
    let dir = scratch("bad_checkpoints");
    let mut net = model(3);
    let path = dir.join("good.ckpt");
    let mut checkpoint =
        Checkpoint::of_model(&mut net, Optimizer::new(Adam::new(0.01)).state()).expect("percept layers");
    checkpoint.epoch = 7;
    checkpoint.save(&path).expect("writes");
    let good = std::fs::read(&path).unwrap();
    assert_eq!(Checkpoint::from_bytes(&good, "good").expect("reads"), checkpoint);

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(CHECKPOINT_VERSION + 1).to_le_bytes());
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    type Check = fn(&CheckpointError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("foreign", b"PK\x03\x04 not a checkpoint".to_vec(), |e| {
            matches!(e, CheckpointError::Foreign { .. })
        }),
        ("empty", Vec::new(), |e| matches!(e, CheckpointError::Foreign { .. })),
        ("short-header", good[..15].to_vec(), |e| matches!(e, CheckpointError::Truncated { .. })),
        ("truncated", good[..good.len() - 10].to_vec(), |e| matches!(e, CheckpointError::Truncated { .. })),
        ("corrupt", flipped, |e| matches!(e, CheckpointError::Corrupt { .. })),
        ("trailing", [good.clone(), vec![0]].concat(), |e| matches!(e, CheckpointError::Corrupt { .. })),
        (
            "newer",
            newer,
            |e| matches!(e, CheckpointError::NewerVersion { found, supported: CHECKPOINT_VERSION, .. } if *found == CHECKPOINT_VERSION + 1),
        ),
    ];
    for (name, bytes, check) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let err = Checkpoint::load(&file).expect_err(name);
        assert!(check(&err), "{name}: {err:?}");
        assert!(err.to_string().contains(&file.display().to_string()), "{name}: {err}");
    }
    let err = Checkpoint::load(dir.join("absent.ckpt")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");

    // A checkpoint of another model is refused before anything is loaded.
    let mut other = Sequential::new();
    other.add(Linear::new(2, 3, &mut seeded_rng(0))).expect("layer");
    let before = bits(&mut other);
    let err = checkpoint.load_into(&mut other).unwrap_err();
    assert!(matches!(err, CheckpointError::Mismatch(_)), "{err:?}");
    assert_eq!(bits(&mut other), before, "unchanged");
    // Resuming it into a trainer of another model is an error, not a panic.
    let (train, _) = data();
    let err = trainer(9)
        .resume(checkpoint)
        .fit(&mut other, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Adam::new(0.01)), &train, None)
        .unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint(_)), "{err:?}");
}

/// The class names given to the trainer are in every checkpoint it writes; a run resumed
/// without them keeps them; resuming on data whose classes are named otherwise is an error.
#[test]
fn checkpoints_carry_the_class_names() {
    let dir = scratch("class_names");
    let path = dir.join("named.ckpt");
    let names: Vec<String> = ["setosa", "versicolor", "virginica"].map(String::from).to_vec();
    let (train, _) = data();
    let fit = |trainer: &mut Trainer, net: &mut Sequential| {
        trainer.fit(net, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Adam::new(0.01)), &train, None)
    };
    fit(trainer(1).checkpoint_every_epoch(&path).class_names(names.clone()), &mut model(4)).expect("trains");
    let saved = Checkpoint::load(&path).expect("reads");
    assert_eq!(saved.class_names.as_ref(), Some(&names));

    // Resumed without names: the next checkpoint still has them.
    fit(trainer(2).checkpoint_every_epoch(&path).resume(saved.clone()), &mut model(4)).expect("resumes");
    let resumed = Checkpoint::load(&path).expect("reads");
    assert_eq!((resumed.epoch, resumed.class_names.as_ref()), (2, Some(&names)));

    // Resumed on data whose classes are named otherwise: refused, naming both lists.
    let other: Vec<String> = ["cat", "dog", "bird"].map(String::from).to_vec();
    let err = fit(trainer(2).resume(saved).class_names(other), &mut model(4)).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint(_)), "{err:?}");
    assert!(err.to_string().contains("versicolor") && err.to_string().contains("dog"), "{err}");
}

/// `fixtures/v1.ckpt` was written by format version 1: `model(11)` trained for one epoch by
/// `trainer(1)` with a checkpoint, on an Adam optimizer with learning rate 0.01, with `data()`
/// as training and validation sets (commit bf510af, whose test could rewrite the file). Later
/// versions must still read it and get the same model.
#[test]
fn a_version_1_checkpoint_still_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.ckpt");
    let bytes = std::fs::read(&path).expect("the fixture exists");
    assert_eq!(bytes[8..12], 1u32.to_le_bytes(), "the fixture is a version 1 file");
    let checkpoint = Checkpoint::load(&path).expect("the fixture reads");
    assert_eq!(checkpoint.class_names, None, "version 1 stored no class names");
    assert_eq!((checkpoint.epoch, checkpoint.layers.len(), checkpoint.optimizer.steps), (1, 5, 10));
    assert_eq!(checkpoint.buffers.len(), 3, "running mean, running variance, dropout generator");
    assert_eq!(checkpoint.history.len(), 1);
    let mut net = checkpoint.model().expect("rebuilds");
    let input = Matrix::from_rows(&[[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0]]);
    let output = net.forward(&input, Mode::Eval).expect("fits").clone();
    let expected = FIXTURE_OUTPUT;
    for (got, want) in output.as_slice().iter().zip(expected) {
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "got {got}, want {want}");
    }
}

/// The model in `fixtures/v1.ckpt`, evaluated on the test's input when the fixture was made.
const FIXTURE_OUTPUT: [f32; 9] = [
    0.24930781,
    0.0038751215,
    -0.3656235,
    -0.07533726,
    -0.068597816,
    0.019070864,
    -0.5408642,
    -0.756269,
    -0.17072265,
];

/// The trainer's metadata is in every checkpoint; a resumed run keeps the saved entries it
/// does not set again, and a version 2 file (the same payload without the trailing map) still
/// reads, with no metadata.
#[test]
fn checkpoints_carry_the_metadata_and_version_2_still_loads() {
    let dir = scratch("metadata");
    let path = dir.join("meta.ckpt");
    let (train, _) = data();
    let fit = |trainer: &mut Trainer, net: &mut Sequential| {
        trainer.fit(net, &mut SoftmaxCrossEntropy::new(), &mut Optimizer::new(Adam::new(0.01)), &train, None)
    };
    fit(
        trainer(1).checkpoint_every_epoch(&path).metadata("dataset", "blobs").metadata("note", "a"),
        &mut model(4),
    )
    .expect("trains");
    let saved = Checkpoint::load(&path).expect("reads");
    assert_eq!(saved.metadata.get("dataset").map(String::as_str), Some("blobs"));
    fit(trainer(2).checkpoint_every_epoch(&path).resume(saved.clone()).metadata("note", "b"), &mut model(4))
        .expect("resumes");
    let resumed = Checkpoint::load(&path).expect("reads");
    assert_eq!(resumed.metadata.get("dataset").map(String::as_str), Some("blobs"), "kept");
    assert_eq!(resumed.metadata.get("note").map(String::as_str), Some("b"), "set again");

    // A version 2 file: bincode writes the fields in order, so version 3's payload without its
    // last field (an empty map is one zero byte) is version 2's.
    let mut without = saved.clone();
    without.metadata.clear();
    let payload = bincode::serde::encode_to_vec(&without, bincode::config::standard()).expect("encodes");
    assert_eq!(payload.last(), Some(&0), "an empty map is one byte");
    let payload = &payload[..payload.len() - 1];
    let mut bytes = CHECKPOINT_MAGIC.to_vec();
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    let v2 = Checkpoint::from_bytes(&bytes, "v2.ckpt").expect("a version 2 payload reads");
    assert!(v2.metadata.is_empty());
    assert_eq!((v2.epoch, v2.parameters.clone()), (saved.epoch, saved.parameters.clone()));
}
