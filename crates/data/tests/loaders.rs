//! The IDX reader on the real MNIST files and on broken ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use percept_data::idx::{magic_u8, read_idx_u8};
use percept_data::*;
use percept_linalg::Matrix;

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist")
}

/// A fresh directory under the target dir for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic_u8(dims.len() as u8).to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("in-memory write");
    encoder.finish().expect("in-memory gzip")
}

/// Writes a tiny valid MNIST-style directory: `n` images of 2×2 pixels.
fn tiny_mnist(dir: &Path, n: u32, labels: &[u8]) {
    let pixels: Vec<u8> = (0..n * 4).map(|i| (i * 17 % 256) as u8).collect();
    for prefix in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx_bytes(&[n, 2, 2], &pixels))
            .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gzip(&idx_bytes(&[labels.len() as u32], labels)),
        )
        .unwrap();
    }
}

#[test]
fn real_mnist_loads_with_the_published_counts() {
    let mnist = Mnist::load(mnist_dir()).expect("datasets/mnist is committed");
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(mnist.train.num_features(), 784);
    // Label histograms from datasets/mnist/README.md.
    let histogram = |labels: &[u8]| {
        let mut h = [0usize; 10];
        labels.iter().for_each(|&l| h[l as usize] += 1);
        h
    };
    assert_eq!(histogram(mnist.train.labels()), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(histogram(mnist.test.labels()), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);

    let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
    mnist.train.gather(&[0, 59_999], &mut inputs, &mut labels);
    assert_eq!(inputs.shape(), [2, 784]);
    assert!(inputs.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(inputs.max_abs(), 1.0, "ink is 255, which scales to exactly 1");
    assert_eq!(labels, Labels::Classes(vec![5, 8]), "the first and last training labels");
    assert_eq!(mnist.known_name(), Some("mnist"));
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(mnist.class_names(), Some(digits));
}

#[test]
fn known_sets_are_told_by_their_first_labels_not_their_directory() {
    let dir = scratch("mnist_lookalike");
    tiny_mnist(&dir, 12, &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5]);
    assert_eq!(Mnist::load(&dir).unwrap().known_name(), Some("mnist"));
    tiny_mnist(&dir, 12, &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9]);
    let fashion = Mnist::load(&dir).unwrap();
    assert_eq!(fashion.known_name(), Some("fashion-mnist"));
    assert_eq!(fashion.class_names().unwrap()[9], "Ankle boot");
    tiny_mnist(&dir, 12, &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 6]);
    let other = Mnist::load(&dir).unwrap();
    assert_eq!((other.known_name(), other.class_names()), (None, None));
}

#[test]
fn raw_and_gzip_files_read_the_same() {
    let dir = scratch("raw_and_gzip");
    let bytes = idx_bytes(&[3, 2], &[1, 2, 3, 4, 5, 6]);
    std::fs::write(dir.join("raw"), &bytes).unwrap();
    std::fs::write(dir.join("packed.gz"), gzip(&bytes)).unwrap();
    let raw = read_idx_u8(dir.join("raw"), 2).expect("valid raw");
    assert_eq!(raw.dims, [3, 2]);
    assert_eq!(raw.data, [1, 2, 3, 4, 5, 6]);
    assert_eq!(read_idx_u8(dir.join("packed.gz"), 2).expect("valid gzip"), raw);
}

#[test]
fn bad_files_give_errors_that_name_the_file() {
    let dir = scratch("bad_files");
    let valid = idx_bytes(&[3, 2], &[1, 2, 3, 4, 5, 6]);
    let mut corrupt_gzip = gzip(&valid);
    let middle = corrupt_gzip.len() / 2;
    corrupt_gzip[middle] ^= 0xff;
    corrupt_gzip.truncate(corrupt_gzip.len() - 4);
    let huge = idx_bytes(&[u32::MAX, u32::MAX], &[1, 2, 3]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("short-magic", vec![0, 0, 8], "truncated"),
        ("wrong-magic", idx_bytes(&[3, 2, 1], &[0; 6]), "magic number 0x00000803, expected 0x00000802"),
        ("short-header", valid[..7].to_vec(), "truncated"),
        ("short-data", valid[..valid.len() - 1].to_vec(), "truncated: 6 bytes expected"),
        ("declared-huge", huge, "truncated"),
        ("trailing", [valid.clone(), vec![9, 9]].concat(), "2 unexpected bytes"),
        ("corrupt.gz", corrupt_gzip, "corrupt gzip data"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_idx_u8(&path, 2).expect_err(name).to_string();
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
    let err = read_idx_u8(dir.join("absent"), 2).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}

#[test]
fn mnist_directory_errors_name_the_files() {
    let dir = scratch("mnist_errors");
    let err = Mnist::load(&dir).unwrap_err().to_string();
    assert!(err.contains("train-images-idx3-ubyte.gz: file not found"), "{err}");
    assert!(err.contains("train-images.idx3-ubyte"), "lists the alternatives: {err}");

    tiny_mnist(&dir, 3, &[0, 1]);
    let err = Mnist::load(&dir).unwrap_err().to_string();
    assert!(err.contains("train-images-idx3-ubyte holds 3 images"), "{err}");
    assert!(err.contains("train-labels-idx1-ubyte.gz holds 2 labels"), "{err}");

    tiny_mnist(&dir, 3, &[0, 10, 1]);
    let err = Mnist::load(&dir).unwrap_err().to_string();
    assert!(err.contains("label 10 of sample 1 is outside the 10 classes"), "{err}");

    tiny_mnist(&dir, 3, &[0, 9, 1]);
    let mnist = Mnist::load(&dir).expect("valid tiny set");
    assert_eq!((mnist.train.len(), mnist.train.num_features()), (3, 4));
}

#[test]
fn batch_order_is_seeded_and_covers_every_sample_each_epoch() {
    let mut a = BatchOrder::shuffled(103, 10, 5);
    let mut b = BatchOrder::shuffled(103, 10, 5);
    let first: Vec<usize> = a.next_epoch().flatten().copied().collect();
    let again: Vec<usize> = b.next_epoch().flatten().copied().collect();
    assert_eq!(first, again, "same seed, same order");
    let second: Vec<usize> = a.next_epoch().flatten().copied().collect();
    assert_ne!(first, second, "reshuffled each epoch");
    let mut sorted = second.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..103).collect::<Vec<_>>());
    assert_eq!(a.batches_per_epoch(), 11);
    let mut c = BatchOrder::shuffled(103, 10, 6);
    assert_ne!(c.next_epoch().flatten().copied().collect::<Vec<_>>(), first, "another seed, another order");
    let plain: Vec<usize> = BatchOrder::sequential(5, 2).next_epoch().flatten().copied().collect();
    assert_eq!(plain, [0, 1, 2, 3, 4]);
}

#[test]
fn make_classification_is_seeded_noisy_and_balanced() {
    let settings = Classification { samples: 1000, flip_y: 0.0, ..Default::default() };
    let a = make_classification(&settings);
    assert_eq!(a, make_classification(&settings), "same seed, same data");
    assert_ne!(a, make_classification(&Classification { seed: 1, ..settings }));
    let Labels::Classes(classes) = a.labels() else { panic!("classification labels") };
    let ones = classes.iter().filter(|&&c| c == 1).count();
    assert_eq!(ones, 500, "without noise, clusters alternate between the classes");
    let noisy = make_classification(&Classification { flip_y: 0.2, ..settings });
    let Labels::Classes(noisy_classes) = noisy.labels() else { panic!("classification labels") };
    // Same features (the flips draw from the stream after the features of each sample, so
    // compare label balance instead): about 10% of labels change (half the flips keep it).
    let ones = noisy_classes.iter().filter(|&&c| c == 1).count();
    assert!((400..=600).contains(&ones), "{ones}");

    let (train, test) = a.split(0.8);
    assert_eq!((train.len(), test.len()), (800, 200));
    assert_eq!(train.features().row(0), a.features().row(0));
    assert_eq!(test.features().row(199), a.features().row(999));
}
