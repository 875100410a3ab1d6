//! Every kind of bad input file gives a typed error naming the file (never a panic, a hang
//! or an allocation of what a header merely declares), and thousands of random corruptions
//! of small valid files never panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use percept_data::idx::{parse_idx, read_idx};
use percept_data::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// An IDX file: type code, dimensions, raw data bytes.
fn idx(code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
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

#[test]
fn every_idx_element_type_reads() {
    let dir = scratch("idx_types");
    let cases: Vec<(u8, Vec<u8>, IdxData)> = vec![
        (0x08, vec![1, 255], IdxData::U8(vec![1, 255])),
        (0x09, vec![1, 255], IdxData::I8(vec![1, -1])),
        (0x0B, [(-2i16).to_be_bytes(), 300i16.to_be_bytes()].concat(), IdxData::I16(vec![-2, 300])),
        (0x0C, [(-7i32).to_be_bytes(), 70_000i32.to_be_bytes()].concat(), IdxData::I32(vec![-7, 70_000])),
        (0x0D, [1.5f32.to_be_bytes(), (-0.25f32).to_be_bytes()].concat(), IdxData::F32(vec![1.5, -0.25])),
        (0x0E, [1e300f64.to_be_bytes(), 0.5f64.to_be_bytes()].concat(), IdxData::F64(vec![1e300, 0.5])),
    ];
    for (code, data, want) in cases {
        let path = dir.join(format!("type-{code:02x}.gz"));
        std::fs::write(&path, gzip(&idx(code, &[2, 1, 1], &data))).unwrap();
        let array = read_idx(&path).expect("valid file");
        assert_eq!(array.dims, [2, 1, 1]);
        assert_eq!(array.data, want);
        assert_eq!(array.to_matrix().shape(), [2, 1]);
    }
    // Any number of dimensions, including none (a scalar) and four.
    let scalar = parse_idx(&idx(0x08, &[], &[42]), "scalar").expect("0 dimensions");
    assert_eq!((scalar.dims.len(), scalar.data.clone()), (0, IdxData::U8(vec![42])));
    let four = parse_idx(&idx(0x08, &[1, 2, 1, 2], &[1, 2, 3, 4]), "4d").expect("4 dimensions");
    assert_eq!(four.to_matrix().shape(), [1, 4]);
}

#[test]
fn bad_idx_files_give_typed_errors_naming_the_file() {
    let dir = scratch("bad_idx");
    let valid = idx(0x08, &[3, 2], &[1, 2, 3, 4, 5, 6]);
    let mut corrupt_gzip = gzip(&valid);
    let middle = corrupt_gzip.len() / 2;
    corrupt_gzip[middle] ^= 0xff;
    type Check = fn(&DataError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", vec![], |e| matches!(e, DataError::Truncated { expected: 4, found: 0, .. })),
        ("wrong-magic", b"PK\x03\x04 a zip".to_vec(), |e| matches!(e, DataError::BadMagic { .. })),
        ("unsupported-type", idx(0x0A, &[2], &[0, 0]), |e| {
            matches!(e, DataError::UnsupportedType { code: 0x0A, .. })
        }),
        ("truncated-header", valid[..7].to_vec(), |e| matches!(e, DataError::Truncated { .. })),
        ("truncated-data", valid[..valid.len() - 2].to_vec(), |e| {
            matches!(e, DataError::Truncated { expected: 6, found: 4, .. })
        }),
        // 2³² × 2³² × 8 bytes declared in a 20-byte file: refused, nothing that size allocated.
        ("declared-larger-than-file", idx(0x0E, &[u32::MAX, u32::MAX], &[1, 2, 3]), |e| {
            matches!(e, DataError::Truncated { found: 3, .. })
        }),
        // Found by the fuzzer: an empty array (a 0 size) whose other sizes overflow when
        // multiplied.
        ("sizes-overflow", idx(0x08, &[0, u32::MAX, u32::MAX, u32::MAX], &[]), |e| {
            matches!(e, DataError::TooLarge { .. })
        }),
        ("trailing-bytes", [valid.clone(), vec![7]].concat(), |e| {
            matches!(e, DataError::TrailingData { extra: 1, .. })
        }),
        ("not-gzip.gz", valid.clone(), |e| matches!(e, DataError::NotGzip { .. })),
        ("corrupt.gz", corrupt_gzip, |e| matches!(e, DataError::Gzip { .. } | DataError::Truncated { .. })),
    ];
    for (name, bytes, check) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_idx(&path).expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(err.to_string().contains(&path.display().to_string()), "{name}: {err}");
    }
    let err = read_idx(dir.join("missing")).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }) && err.to_string().contains("missing"), "{err}");
}

#[test]
fn mnist_style_directories_report_count_and_label_errors() {
    let dir = scratch("bad_mnist");
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
    for prefix in ["train", "t10k"] {
        write(&format!("{prefix}-images-idx3-ubyte"), idx(0x08, &[2, 1, 2], &[0, 1, 2, 3]));
        write(&format!("{prefix}-labels-idx1-ubyte"), idx(0x08, &[3], &[0, 1, 2]));
    }
    let err = Mnist::load(&dir).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { image_count: 2, label_count: 3, .. }), "{err}");
    write("train-labels-idx1-ubyte", idx(0x08, &[2], &[0, 11]));
    write("t10k-labels-idx1-ubyte", idx(0x08, &[2], &[0, 1]));
    let err = Mnist::load(&dir).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { index: 1, label: 11, .. }), "{err}");
    assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");

    // The training files alone: the test files are not opened (here they are corrupt).
    write("train-labels-idx1-ubyte", idx(0x08, &[2], &[0, 9]));
    write("t10k-images-idx3-ubyte", b"not an IDX file".to_vec());
    let train = Mnist::load_train(&dir).expect("the training files are valid");
    assert_eq!((train.len(), train.label(1)), (2, 9));
    let err = Mnist::load_test(&dir).unwrap_err();
    assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
    assert!(Mnist::load(&dir).is_err());
}

#[test]
fn bad_csv_files_give_errors_naming_file_line_and_column() {
    let options = CsvOptions::default();
    let cases: Vec<(&str, &str, CsvOptions, &str)> = vec![
        ("ragged.csv", "a,b,label\n1,2,x\n3,4\n", options.clone(), "line 3, column : 2 fields, expected 3"),
        (
            "text.csv",
            "a,b,label\n1,2,x\n3,four,y\n",
            options.clone(),
            "line 3, column 2 (b): \"four\" is not a number",
        ),
        ("empty.csv", "", options.clone(), "no data rows"),
        ("header-only.csv", "a,b,label\n", options.clone(), "no data rows"),
        (
            "no-such-column.csv",
            "a,b,label\n1,2,x\n",
            CsvOptions { label: LabelColumn::Name("class".into()), ..options.clone() },
            "no column named \"class\"",
        ),
        (
            "column-out-of-range.csv",
            "1,2,0\n",
            CsvOptions { has_header: false, label: LabelColumn::Index(5), ..options.clone() },
            "no label column 6",
        ),
        (
            "regression-text.csv",
            "x,y\n1,2\n3,oops\n",
            CsvOptions { task: Task::Regression, ..options.clone() },
            "line 3, column 2 (y): \"oops\" is not a number",
        ),
        // NaN and infinities read as numbers but would turn every weight they reach into NaN.
        (
            "nan.csv",
            "a,b,label\n1,2,x\n3,NaN,y\n",
            options.clone(),
            "line 3, column 2 (b): \"NaN\" is not a finite",
        ),
        (
            "inf.csv",
            "a,b,label\n-inf,2,x\n",
            options.clone(),
            "line 2, column 1 (a): \"-inf\" is not a finite",
        ),
        (
            "overflow.csv",
            "a,b,label\n1,2,x\n1,1e39,y\n",
            options.clone(),
            "line 3, column 2 (b): \"1e39\" is not a finite",
        ),
        (
            "regression-nan.csv",
            "x,y\n1,2\n3,nan\n",
            CsvOptions { task: Task::Regression, ..options.clone() },
            "line 3, column 2 (y): \"nan\" is not a finite",
        ),
    ];
    let dir = scratch("bad_csv");
    for (name, text, options, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let err = read_csv(&path, &options).expect_err(name).to_string();
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
    // Data to predict is held to the same rule.
    let err = read_csv_features(dir.join("nan.csv"), &CsvOptions::default(), true).unwrap_err().to_string();
    assert!(err.contains("line 3, column 2 (b): \"NaN\" is not a finite"), "{err}");
    let err = read_csv(dir.join("absent.csv"), &CsvOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
}

/// Thousands of random byte flips, insertions and truncations of small valid files: every
/// result is a value or an error, never a panic.
#[test]
fn random_corruptions_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let valid_idx = idx(0x0B, &[2, 3], &[0, 1, 0, 2, 0, 3, 1, 0, 255, 255, 0, 9]);
    let valid_csv = b"sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n".to_vec();
    let mut outcomes = [0usize; 2];
    for round in 0..6000 {
        let base = if round % 2 == 0 { &valid_idx } else { &valid_csv };
        let mut bytes = base.clone();
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..4) {
                0 if !bytes.is_empty() => {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
                1 if !bytes.is_empty() => {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
                2 => bytes.truncate(rng.random_range(0..=bytes.len())),
                _ => {
                    let i = rng.random_range(0..=bytes.len());
                    bytes.insert(i, rng.random());
                }
            }
        }
        let ok = if round % 2 == 0 {
            parse_idx(&bytes, "mutant.idx").is_ok()
        } else {
            let options = CsvOptions {
                task: if round % 4 == 1 { Task::Classification } else { Task::Regression },
                ..Default::default()
            };
            parse_csv(&bytes, "mutant.csv", &options).is_ok()
        };
        outcomes[usize::from(ok)] += 1;
    }
    // Both outcomes occur: the mutations reach past the first check.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "errors / successes: {outcomes:?}");
}
