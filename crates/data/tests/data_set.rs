//! CSV reading, the synthetic sets, transforms, splits and batching options.

use percept_data::*;
use percept_linalg::Matrix;

#[test]
fn csv_with_string_labels_keeps_the_class_mapping() {
    let text = "sepal length,petal length,species\n5.1,1.4,setosa\n\n7.0, 4.7 ,versicolor\n6.3,6.0,\"virginica\"\n5.0,1.5,setosa\n";
    let data = parse_csv(text.as_bytes(), "iris.csv", &CsvOptions::default()).expect("valid");
    assert_eq!(data.feature_names, ["sepal length", "petal length"]);
    assert_eq!(
        data.class_names.as_deref(),
        Some(&["setosa".to_string(), "versicolor".into(), "virginica".into()][..])
    );
    assert_eq!(data.dataset.labels(), &Labels::Classes(vec![0, 1, 2, 0]));
    assert_eq!(data.dataset.features().row(1), &[7.0, 4.7]);
    assert_eq!(data.dataset.num_classes(), Some(3));
}

#[test]
fn csv_label_by_name_or_index_integer_classes_and_regression() {
    let text = "label;x;y\n2;0.5;1.5\n0;1.0;-1.0\n";
    let by_name =
        CsvOptions { label: LabelColumn::Name("label".into()), delimiter: b';', ..Default::default() };
    let data = parse_csv(text.as_bytes(), "t.csv", &by_name).expect("valid");
    assert_eq!(data.dataset.labels(), &Labels::Classes(vec![2, 0]), "integer labels are the classes");
    assert_eq!(data.dataset.num_classes(), Some(3));
    assert_eq!(data.feature_names, ["x", "y"]);
    let no_header = "1,2,3.5\n4,5,6.5\n";
    let regression = CsvOptions {
        has_header: false,
        label: LabelColumn::Index(2),
        task: Task::Regression,
        ..Default::default()
    };
    let data = parse_csv(no_header.as_bytes(), "r.csv", &regression).expect("valid");
    assert_eq!(data.feature_names, ["column 1", "column 2"]);
    assert_eq!(data.dataset.labels(), &Labels::Values(Matrix::from_rows(&[[3.5], [6.5]])));
    assert_eq!(data.dataset.num_classes(), None);
}

#[test]
fn csv_features_without_labels_or_leaving_the_label_column_out() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("csv_features");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("to_predict.csv");
    std::fs::write(&path, "a,b,class\n1,2.5,x\n\n-3,4,y\n").unwrap();
    let options = CsvOptions::default();
    let with_label = read_csv_features(&path, &options, true).expect("valid");
    assert_eq!(with_label.features, Matrix::from_rows(&[[1.0, 2.5], [-3.0, 4.0]]));
    assert_eq!(with_label.feature_names, ["a", "b"]);
    assert_eq!(with_label.label_column, Some((2, "class".to_string())));
    // The same file read as features only: the text column is named in the error.
    let err = read_csv_features(&path, &options, false).unwrap_err().to_string();
    assert!(err.contains("to_predict.csv") && err.contains("line 2") && err.contains("3 (class)"), "{err}");
    let by_name = CsvOptions { label: LabelColumn::Name("a".into()), ..Default::default() };
    std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
    let all = read_csv_features(&path, &options, false).expect("valid");
    assert_eq!(all.features, Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]));
    assert_eq!(all.label_column, None);
    let first_left_out = read_csv_features(&path, &by_name, true).expect("valid");
    assert_eq!(first_left_out.features, Matrix::from_rows(&[[2.0], [4.0]]));
    assert_eq!(first_left_out.feature_names, ["b"]);
    std::fs::write(&path, "a,b\n1,2\n3\n").unwrap();
    let err = read_csv_features(&path, &options, false).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("1 fields, expected 2"), "{err}");
    let err = read_csv_features(dir.join("absent.csv"), &options, false).unwrap_err().to_string();
    assert!(err.contains("absent.csv"), "{err}");
}

#[test]
fn synthetic_sets_are_seeded_and_shaped() {
    let sets = [
        ("moons", make_moons(200, 0.1, 1), Some(2)),
        ("circles", make_circles(200, 0.5, 0.05, 1), Some(2)),
        ("spirals", make_spirals(300, 3, 0.1, 1), Some(3)),
        ("xor", make_xor(200, 0.0, 1), Some(2)),
        ("blobs", make_blobs(300, &[[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], 0.5, 1), Some(3)),
        ("linear", make_linear_regression(200, &[2.0, -1.0], 0.5, 0.1, 1), None),
        ("function", make_function(200, -1.0, 1.0, |x| x * x, 0.05, 1), None),
    ];
    for (name, data, classes) in &sets {
        assert_eq!(data.num_classes(), *classes, "{name}");
        if let Labels::Classes(labels) = data.labels() {
            for c in 0..classes.unwrap() {
                assert!(labels.iter().filter(|&&l| l == c).count() >= 60, "{name}: class {c} balanced");
            }
        }
    }
    assert_eq!(make_moons(50, 0.1, 9).features(), make_moons(50, 0.1, 9).features(), "seeded");
    assert_ne!(make_moons(50, 0.1, 9).features(), make_moons(50, 0.1, 8).features());
    // Circles: the inner class lies at radius `factor`, the outer at 1.
    let circles = make_circles(100, 0.3, 0.0, 2);
    let Labels::Classes(labels) = circles.labels() else { unreachable!() };
    for (row, &class) in circles.features().row_iter().zip(labels) {
        let radius = (row[0] * row[0] + row[1] * row[1]).sqrt();
        assert!((radius - if class == 0 { 1.0 } else { 0.3 }).abs() < 1e-5);
    }
    // XOR without noise: the class is the sign disagreement.
    let xor = make_xor(100, 0.0, 3);
    let Labels::Classes(labels) = xor.labels() else { unreachable!() };
    for (row, &class) in xor.features().row_iter().zip(labels) {
        assert_eq!(class, usize::from((row[0] > 0.0) != (row[1] > 0.0)));
    }
    // Linear regression: the least-squares fit recovers the weights within the noise.
    let linear = make_linear_regression(2000, &[2.0], -1.0, 0.01, 4);
    let Labels::Values(y) = linear.labels() else { unreachable!() };
    let x = linear.features();
    let n = x.rows() as f32;
    let (mx, my) = (x.as_slice().iter().sum::<f32>() / n, y.as_slice().iter().sum::<f32>() / n);
    let cov: f32 = x.as_slice().iter().zip(y.as_slice()).map(|(a, b)| (a - mx) * (b - my)).sum();
    let var: f32 = x.as_slice().iter().map(|a| (a - mx).powi(2)).sum();
    assert!((cov / var - 2.0).abs() < 0.01 && (my - 2.0 * mx + 1.0).abs() < 0.01);
}

#[test]
fn scalers_fit_on_training_data_and_apply_to_the_rest() {
    let train = Matrix::from_rows(&[[1.0, 10.0, 3.0], [3.0, 30.0, 3.0], [5.0, 20.0, 3.0]]);
    let mut test = Matrix::from_rows(&[[3.0, 40.0, 3.0]]);
    let scaler = MinMaxScaler::fit(&train);
    let mut scaled = train.clone();
    scaler.apply(&mut scaled);
    assert_eq!(scaled.row(0), &[0.0, 0.0, 0.0]);
    assert_eq!(scaled.row(2), &[1.0, 0.5, 0.0], "a constant column maps to 0");
    scaler.apply(&mut test);
    assert_eq!(test.row(0), &[0.5, 1.5, 0.0], "test values may leave [0, 1]");

    let standardizer = Standardizer::fit(&train);
    let mut standardized = train.clone();
    standardizer.apply(&mut standardized);
    for c in 0..2 {
        let column: Vec<f32> = (0..3).map(|r| standardized.get(r, c)).collect();
        let mean = column.iter().sum::<f32>() / 3.0;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "column {c}: {column:?}");
    }
    assert_eq!(standardized.get(0, 2), 0.0, "a constant column is only centred");
    assert_eq!(one_hot(&[2, 0], 3), Matrix::from_rows(&[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]));
}

#[test]
fn stratified_splits_keep_class_proportions_and_are_seeded() {
    let classes: Vec<usize> = (0..1000).map(|i| if i % 10 == 0 { 1 } else { 0 }).collect();
    let (train, validation) = split_indices(1000, 0.2, 5, Some(&classes));
    assert_eq!((train.len(), validation.len()), (800, 200));
    assert_eq!(validation.iter().filter(|&&i| classes[i] == 1).count(), 20, "10% of the 200");
    let mut all: Vec<usize> = train.iter().chain(&validation).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>(), "a partition");
    assert_eq!(split_indices(1000, 0.2, 5, Some(&classes)), (train.clone(), validation.clone()));
    assert_ne!(split_indices(1000, 0.2, 6, None).1, validation);
}

/// `split_for_validation` splits a data set as `split_indices` would with its classes:
/// stratified for classes, plain for regression targets, disjoint and seeded.
#[test]
fn validation_splits_of_a_data_set_are_stratified_by_its_classes() {
    let classes: Vec<usize> = (0..500).map(|i| usize::from(i % 5 == 0)).collect();
    let features = Matrix::from_fn(500, 2, |r, c| (r * 2 + c) as f32);
    let data = InMemoryDataset::classification(features.clone(), classes.clone(), 2);
    let (train, validation) = split_for_validation(&data, 0.1, 3);
    assert_eq!((train.len(), validation.len()), (450, 50));
    assert_eq!(validation.iter().filter(|&&i| classes[i] == 1).count(), 10, "a fifth of the 50");
    assert_eq!((train.clone(), validation.clone()), split_indices(500, 0.1, 3, Some(&classes)));
    assert!(validation.iter().all(|i| !train.contains(i)), "disjoint");
    assert_eq!(split_for_validation(&data, 0.1, 3), (train, validation.clone()), "seeded");
    let regression = InMemoryDataset::regression(features, Matrix::zeros(500, 1));
    assert_eq!(split_for_validation(&regression, 0.1, 3), split_indices(500, 0.1, 3, None));
}

/// An image data set gives each image as bytes and as the `[0, 1]` values a model sees, and
/// each label by index.
#[test]
fn images_by_index_as_bytes_and_as_scaled_values() {
    let data = ImageDataset::new(vec![0, 255, 51, 102, 7, 8, 9, 10], vec![3, 1], 4, 5);
    assert_eq!(data.image_bytes(1), [7, 8, 9, 10]);
    assert_eq!(data.image(0), [0.0, 1.0, 0.2, 0.4]);
    assert_eq!((data.label(0), data.label(1)), (3, 1));
    let (mut inputs, mut labels) = (Matrix::default(), Labels::default());
    data.gather(&[1], &mut inputs, &mut labels);
    assert_eq!(inputs.as_slice(), data.image(1), "what a batch holds");
}

#[test]
fn drop_last_leaves_out_the_short_batch() {
    let mut order = BatchOrder::shuffled(10, 4, 1).drop_last(true);
    assert_eq!(order.batches_per_epoch(), 2);
    let sizes: Vec<usize> = order.next_epoch().map(<[usize]>::len).collect();
    assert_eq!(sizes, [4, 4]);
    let mut keep = BatchOrder::sequential(10, 4);
    assert_eq!(keep.next_epoch().map(<[usize]>::len).collect::<Vec<_>>(), [4, 4, 2]);
}

#[test]
fn augmentation_is_seeded_moves_ink_and_keeps_labels() {
    // A 28×28 image with a bright 4×4 square in the middle.
    let pixels: Vec<u8> = (0..784)
        .map(|i| if (12..16).contains(&(i / 28)) && (12..16).contains(&(i % 28)) { 255 } else { 0 })
        .collect();
    let images = ImageDataset::new([pixels.clone(), pixels].concat(), vec![3, 7], 784, 10);
    let plain = Augmentation { max_shift: 0.0, max_degrees: 0.0, elastic: None, side: 28 };
    let (mut x, mut y) = (Matrix::default(), Labels::default());
    Augmented::new(&images, plain, 0).gather(&[0], &mut x, &mut y);
    let mut original = Matrix::default();
    images.gather(&[0], &mut original, &mut y);
    assert_eq!(x, original, "no distortion reproduces the image");

    for augmentation in
        [Augmentation::default(), Augmentation { elastic: Some((34.0, 4.0)), ..Augmentation::default() }]
    {
        let data = Augmented::new(&images, augmentation, 42);
        data.gather(&[0, 1], &mut x, &mut y);
        assert_eq!(y, Labels::Classes(vec![3, 7]));
        assert_ne!(x.row(0), original.row(0), "{augmentation:?}: the image changed");
        assert_ne!(x.row(0), x.row(1), "each image gets its own distortion");
        let ink: f32 = x.row(0).iter().sum();
        assert!((ink - 16.0).abs() < 6.0, "{augmentation:?}: about the same ink ({ink})");
        let again = Augmented::new(&images, augmentation, 42);
        let mut x2 = Matrix::default();
        again.gather(&[0, 1], &mut x2, &mut y);
        assert_eq!(x, x2, "seeded");
    }
}

#[test]
fn subsets_gather_from_the_inner_set() {
    let data = make_blobs(10, &[[0.0, 0.0], [1.0, 1.0]], 0.1, 0);
    let subset = Subset::new(&data, vec![7, 2]);
    let (mut a, mut la, mut b, mut lb) =
        (Matrix::default(), Labels::default(), Matrix::default(), Labels::default());
    subset.gather(&[1, 0], &mut a, &mut la);
    data.gather(&[2, 7], &mut b, &mut lb);
    assert_eq!((a, la), (b, lb));
    assert_eq!(subset.len(), 2);
}

/// A `Subset` of images gathers sparse batches as its inner set does (so a validation split
/// of MNIST keeps the first layer's sparse path), prefetches without complaint about indices
/// out of range, and panics on them when gathering, as every data set does.
#[test]
fn subsets_of_images_gather_sparse_batches() {
    use percept_linalg::SparseRows;
    let images = ImageDataset::new(vec![0, 9, 0, 0, 255, 0, 0, 1, 3, 4, 5, 6], vec![2, 0, 1], 4, 3);
    let subset = Subset::new(&images, vec![2, 0]);
    let (mut a, mut la, mut b, mut lb) =
        (SparseRows::new(), Labels::default(), SparseRows::new(), Labels::default());
    assert!(subset.gather_sparse(&[1, 0], &mut a, &mut la, 1.0));
    assert!(images.gather_sparse(&[0, 2], &mut b, &mut lb, 1.0));
    let (mut dense_a, mut dense_b) = (Matrix::default(), Matrix::default());
    let identity = Matrix::from_fn(4, 4, |r, c| if r == c { 1.0 } else { 0.0 });
    for (sparse, dense) in [(&a, &mut dense_a), (&b, &mut dense_b)] {
        *dense = Matrix::zeros(2, 4);
        percept_linalg::sparse_matmul(dense, sparse, &identity, percept_linalg::Par::Seq);
    }
    assert_eq!((&dense_a, &la), (&dense_b, &lb));
    assert!(!subset.gather_sparse(&[0, 1], &mut a, &mut la, 0.5), "5 of 8 pixels lit");
    subset.prefetch(&[1, 5]);
    let out_of_range = std::panic::catch_unwind(|| {
        subset.gather_sparse(&[2], &mut SparseRows::new(), &mut Labels::default(), 1.0)
    });
    assert!(out_of_range.is_err(), "index 2 of a 2-sample subset");
}

/// Fashion-MNIST through its named loader, when Debian's package is installed (it is not
/// part of the repository, so the test skips without it).
#[test]
fn fashion_mnist_loads_when_installed() {
    if !std::path::Path::new(FASHION_MNIST_DEBIAN_DIR).exists() {
        eprintln!("skipped: {FASHION_MNIST_DEBIAN_DIR} not installed");
        return;
    }
    let fashion = Mnist::fashion().expect("the package's files");
    assert_eq!(
        (fashion.train.len(), fashion.test.len(), fashion.train.num_features()),
        (60_000, 10_000, 784)
    );
    assert_eq!(FASHION_MNIST_CLASSES[fashion.test.labels()[0] as usize], "Ankle boot");
}

/// `ImageDataset::gather_sparse` gives the batch that `gather` gives, in sparse form, with
/// the same labels; refuses a batch denser than asked; panics on an index out of range, as
/// `gather` does.
#[test]
fn image_sets_gather_sparse_batches() {
    use percept_linalg::{Par, SparseRows, sparse_matmul};
    // Three 2×2 "images": 1 of 4, 2 of 4 and 4 of 4 pixels lit.
    let images = ImageDataset::new(vec![0, 9, 0, 0, 255, 0, 0, 1, 3, 4, 5, 6], vec![2, 0, 1], 4, 3);
    let (mut dense, mut labels) = (Matrix::default(), Labels::default());
    images.gather(&[1, 0], &mut dense, &mut labels);
    let mut sparse = SparseRows::new();
    let mut sparse_labels = Labels::default();
    assert!(images.gather_sparse(&[1, 0], &mut sparse, &mut sparse_labels, 0.5));
    assert_eq!(sparse_labels, labels);
    assert_eq!((sparse.shape(), sparse.nnz()), ([2, 4], 3));
    // The identity recovers the dense batch from the sparse one.
    let identity = Matrix::from_fn(4, 4, |r, c| if r == c { 1.0 } else { 0.0 });
    let mut recovered = Matrix::zeros(2, 4);
    sparse_matmul(&mut recovered, &sparse, &identity, Par::Seq);
    assert_eq!(recovered, dense);
    assert!(!images.gather_sparse(&[2, 1], &mut sparse, &mut sparse_labels, 0.5), "6 of 8 pixels lit");
    let out_of_range = std::panic::catch_unwind(|| {
        images.gather_sparse(&[0, 3], &mut SparseRows::new(), &mut Labels::default(), 1.0)
    });
    let message = out_of_range.expect_err("index 3 of 3 images");
    let message = message.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("index 3 out of range for 3 samples"), "{message}");
}

/// `gather_sparse_during` gathers what `gather_sparse` gathers (on one thread and on two, in
/// the background of work that keeps the team busy), and runs that work exactly once,
/// whether the batch is gathered, refused as too dense, or left to a data set that cannot
/// (the default: prefetch, run, return false).
#[test]
fn gathering_during_other_work_gathers_the_same_batch() {
    use percept_linalg::{Par, SparseRows, set_num_threads, sparse_matmul};
    // 300 "images" of 64 pixels, a quarter lit: above the size at which a build splits.
    let pixels: Vec<u8> = (0..300 * 64).map(|k| if k % 4 == 1 { (k % 251) as u8 + 1 } else { 0 }).collect();
    let images = ImageDataset::new(pixels, (0..300).map(|k| (k % 10) as u8).collect(), 64, 10);
    let batch: Vec<usize> = (0..256).map(|k| (k * 37) % 300).collect();
    let identity = Matrix::from_fn(64, 64, |r, c| if r == c { 1.0 } else { 0.0 });
    let dense = |sparse: &SparseRows| {
        let mut out = Matrix::zeros(sparse.shape()[0], 64);
        sparse_matmul(&mut out, sparse, &identity, Par::Seq);
        out
    };
    let (mut want, mut want_labels) = (SparseRows::new(), Labels::default());
    assert!(images.gather_sparse(&batch, &mut want, &mut want_labels, 0.5));
    // Two first: the first call starts the team with that many threads.
    for threads in [2, 1] {
        set_num_threads(threads).expect("the team has two threads");
        let (mut got, mut labels) = (SparseRows::new(), Labels::default());
        let mut calls = 0;
        let mut busy = Matrix::zeros(256, 64);
        let gathered = images.gather_sparse_during(&batch, &mut got, &mut labels, 0.5, &mut || {
            calls += 1;
            for _ in 0..10 {
                sparse_matmul(&mut busy, &want, &identity, Par::current());
            }
        });
        assert!(gathered && calls == 1, "{threads} threads");
        assert_eq!((dense(&got), &labels), (dense(&want), &want_labels), "{threads} threads");
        assert_eq!(busy, dense(&want));
        let mut calls = 0;
        assert!(!images.gather_sparse_during(&batch, &mut got, &mut labels, 0.1, &mut || calls += 1));
        assert_eq!(calls, 1, "refused as too dense");
    }
    set_num_threads(2).expect("as before");
    let moons = make_moons(10, 0.1, 1);
    let mut calls = 0;
    let gathered =
        moons.gather_sparse_during(&[0, 1], &mut SparseRows::new(), &mut Labels::default(), 1.0, &mut || {
            calls += 1
        });
    assert!(!gathered && calls == 1, "an in-memory set gathers dense batches");
}

#[test]
fn written_csv_reads_back_bit_for_bit() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("csv_write");
    std::fs::create_dir_all(&dir).unwrap();
    let moons = make_moons(300, 0.1, 7);
    let path = dir.join("moons.csv");
    write_csv(&path, &moons, None).expect("writable");
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("x0,x1,class\n"));
    let back = read_csv(&path, &CsvOptions::default()).expect("valid");
    assert_eq!(back.feature_names, ["x0", "x1"]);
    let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(back.dataset.features()), bits(moons.features()));
    assert_eq!(back.dataset.labels(), moons.labels());

    let line = make_linear_regression(50, &[0.5, -2.0, 1e-7], 3.0, 0.3, 1);
    let two_targets = InMemoryDataset::regression(
        line.features().clone(),
        Matrix::from_vec(50, 2, line.features().as_slice().iter().take(100).map(|v| v * 1e20).collect()),
    );
    let path = dir.join("regression.csv");
    write_csv(&path, &line, None).expect("writable");
    let options = CsvOptions { task: Task::Regression, ..Default::default() };
    let back = read_csv(&path, &options).expect("valid");
    assert_eq!(back.feature_names, ["x0", "x1", "x2"]);
    assert_eq!(bits(back.dataset.features()), bits(line.features()));
    assert_eq!(back.dataset.labels(), line.labels());
    // Several targets: one column each, after the named features.
    write_csv(&path, &two_targets, Some(&["a", "b", "c"])).expect("writable");
    let all = read_csv_features(&path, &options, false).expect("valid");
    assert_eq!(all.feature_names, ["a", "b", "c", "target0", "target1"]);
    let Labels::Values(targets) = two_targets.labels() else { unreachable!() };
    for (written, (features, targets)) in
        all.features.row_iter().zip(two_targets.features().row_iter().zip(targets.row_iter()))
    {
        let expected: Vec<f32> = features.iter().chain(targets).copied().collect();
        assert_eq!(
            written.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    let err = write_csv(dir.join("x.csv"), &moons, Some(&["only one"])).unwrap_err().to_string();
    assert!(err.contains("x.csv") && err.contains("1 feature names given for 2 features"), "{err}");
    let err = write_csv(dir.join("x.csv"), &moons, Some(&["a,b", "c"])).unwrap_err().to_string();
    assert!(err.contains("x.csv") && err.contains("a,b"), "{err}");
    let err = write_csv(dir.join("absent").join("x.csv"), &moons, None).unwrap_err().to_string();
    assert!(err.contains("absent/x.csv"), "{err}");
}
