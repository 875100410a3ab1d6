//! safetensors export and import: PyTorch names and layouts, a round trip, and typed errors.
//! (`scripts/check_safetensors.py` checks against PyTorch itself, by hand.)

mod common;
use common::scratch;

use percept_linalg::Matrix;
use percept_nn::{BatchNorm1d, LayerNorm, Linear, Mode, Normalization, ReLU, Sequential, seeded_rng};
use percept_train::*;

fn model(seed: u64, hidden: usize) -> Sequential {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    let s = seed as f32;
    let mut layer_norm = LayerNorm::new(hidden);
    let scale: Vec<f32> = (0..hidden).map(|j| 1.0 + 0.25 * s * j as f32).collect();
    let shift: Vec<f32> = (0..hidden).map(|j| 0.1 * s - 0.05 * j as f32).collect();
    layer_norm.set_affine(&scale, &shift);
    model
        .add(Normalization::with_statistics(vec![s, 0.5, -s], vec![1.0, 4.0 * s, 2.0]))
        .and_then(|m| m.add(Linear::new(3, hidden, &mut rng)))
        .and_then(|m| m.add(BatchNorm1d::new(hidden)))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(layer_norm))
        .and_then(|m| m.add(Linear::new(hidden, 2, &mut rng)))
        .expect("sizes chain");
    model
}

#[test]
fn export_uses_pytorch_names_and_a_round_trip_restores_the_outputs() {
    let dir = scratch("safetensors");
    let mut original = model(1, 4);
    // Non-trivial running statistics: one training pass.
    let input = Matrix::from_rows(&[[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-2.0, 1.0, 0.0]]);
    original.forward(&input, Mode::Train).expect("fits");
    assert_eq!(
        state_dict_names(&mut original).expect("percept layers"),
        [
            "0.mean",
            "0.variance",
            "1.weight",
            "1.bias",
            "2.weight",
            "2.bias",
            "2.running_mean",
            "2.running_var",
            "2.num_batches_tracked",
            "4.weight",
            "4.bias",
            "5.weight",
            "5.bias"
        ]
    );
    let path = dir.join("model.safetensors");
    export_safetensors(&mut original, &path).expect("writes");

    // The first layer's weight is stored [out, in], PyTorch's layout.
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    assert!(header.contains("\"1.weight\":{\"dtype\":\"F32\",\"shape\":[4,3]"), "{header}");

    let mut copy = model(2, 4);
    import_safetensors(&mut copy, &path).expect("reads");
    let want = original.forward(&input, Mode::Eval).expect("fits").clone();
    let got = copy.forward(&input, Mode::Eval).expect("fits").clone();
    assert_eq!(got, want, "same parameters, running statistics and feature statistics");
    assert_ne!(model(2, 4).forward(&input, Mode::Eval).expect("fits"), &want, "the copy started different");
}

#[test]
fn import_errors_name_the_file_and_the_tensor() {
    let dir = scratch("safetensors_errors");
    let path = dir.join("small.safetensors");
    export_safetensors(&mut model(1, 4), &path).expect("writes");

    let err = import_safetensors(&mut model(1, 5), &path).unwrap_err();
    assert!(matches!(err, InteropError::Mismatch { index: 1, .. }), "{err:?}");
    assert!(
        err.to_string().contains("tensor \"1.weight\" is F32 [4, 3], but layer 1 (Linear) needs F32 [5, 3]"),
        "{err}"
    );

    let mut deeper = model(1, 4);
    deeper.add(ReLU).and_then(|m| m.add(Linear::new(2, 2, &mut seeded_rng(0)))).expect("chains");
    let err = import_safetensors(&mut deeper, &path).unwrap_err();
    assert!(matches!(err, InteropError::Missing { index: 7, .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    std::fs::write(dir.join("junk.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let err = import_safetensors(&mut model(1, 4), dir.join("junk.safetensors")).unwrap_err();
    assert!(matches!(err, InteropError::Format { .. }), "{err:?}");
    let err = import_safetensors(&mut model(1, 4), dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, InteropError::Io { .. }), "{err:?}");
}
