//! The `percept` binary end to end: train (flags and TOML), eval, summary, export, predict
//! (PGM, PNG, IDX, CSV), and bad arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use percept::data::{Dataset, Labels, Mnist, make_moons};
use percept::linalg::Matrix;

fn percept(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_percept")).args(args).output().expect("runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn csv_training_with_flags_and_a_toml_config_then_eval_summary_export() {
    let dir = scratch("cli_csv");
    let moons = make_moons(400, 0.1, 3);
    let mut csv = String::from("x,y,class\n");
    let Labels::Classes(classes) = moons.labels() else { unreachable!() };
    for (row, c) in moons.features().row_iter().zip(classes) {
        csv += &format!("{},{},{}\n", row[0], row[1], if *c == 0 { "upper" } else { "lower" });
    }
    let data = dir.join("moons.csv");
    std::fs::write(&data, csv).unwrap();
    let model = dir.join("moons.ckpt");
    let out = percept(&[
        "train",
        "--data",
        s(&data),
        "--hidden",
        "16",
        "--activation",
        "tanh",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "40",
        "--batch",
        "16",
        "--checkpoint",
        s(&model),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("trained 40 epochs"), "{}", text(&out));

    let out = percept(&["eval", "--model", s(&model), "--data", s(&data)]);
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    let accuracy: f32 = report.lines().last().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(accuracy > 0.95, "{report}");

    let out = percept(&["summary", "--model", s(&model)]);
    assert!(
        text(&out).contains("Linear(2 → 16)") && text(&out).contains("trained 40 epochs"),
        "{}",
        text(&out)
    );
    let out = percept(&["export", "--model", s(&model), "--out", s(&dir.join("moons.safetensors"))]);
    assert!(text(&out).contains("0.weight, 0.bias, 2.weight, 2.bias"), "{}", text(&out));

    // The same keys in a TOML file; a flag on the command line wins over the file.
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!("data = {:?}\nhidden = \"8\"\nepochs = 3\noptimizer = \"adam\"\nquiet = true\n", s(&data)),
    )
    .unwrap();
    let out = percept(&[
        "train",
        "--config",
        s(&config),
        "--epochs",
        "2",
        "--checkpoint",
        s(&dir.join("toml.ckpt")),
    ]);
    assert!(text(&out).contains("trained 2 epochs"), "{}", text(&out));
    let out = percept(&["summary", "--model", s(&dir.join("toml.ckpt"))]);
    assert!(text(&out).contains("Linear(2 → 8)"), "{}", text(&out));
    std::fs::write(&config, "epochz = 3\n").unwrap();
    let out = percept(&["train", "--config", s(&config)]);
    assert!(!out.status.success() && text(&out).contains("unknown field `epochz`"), "{}", text(&out));
}

/// Accuracy from the last line of `percept eval`'s report.
fn eval_accuracy(model: &Path, data: &Path) -> f32 {
    let out = percept(&["eval", "--model", s(model), "--data", s(data)]);
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    report.lines().last().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn standardize_fits_a_normalization_layer_that_eval_applies_and_plot_writes_curves() {
    let dir = scratch("cli_standardize");
    // Two moons in units far from 1: x in the thousands, y in the hundreds.
    let moons = make_moons(400, 0.1, 5);
    let mut csv = String::from("x,y,class\n");
    let Labels::Classes(classes) = moons.labels() else { unreachable!() };
    for (row, c) in moons.features().row_iter().zip(classes) {
        csv += &format!("{},{},{c}\n", 1000.0 * row[0] + 5000.0, 300.0 * row[1] - 100.0);
    }
    let data = dir.join("moons.csv");
    std::fs::write(&data, csv).unwrap();
    let train = |checkpoint: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--data", s(&data), "--hidden", "16", "--epochs", "80", "--batch", "16"];
        args.extend_from_slice(&["--checkpoint", s(checkpoint), "--quiet"]);
        args.extend_from_slice(extra);
        percept(&args)
    };

    let standardized = dir.join("standardized.ckpt");
    let out = train(&standardized, &["--standardize"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = percept(&["summary", "--model", s(&standardized)]);
    assert!(text(&out).contains("Normalization(2)"), "{}", text(&out));
    // eval reads raw features; the checkpoint's layer standardizes them as training did.
    let accuracy = eval_accuracy(&standardized, &data);
    assert!(accuracy > 0.95, "accuracy {accuracy} with --standardize");

    // predict reads the same raw rows, its label column left out, and the saved layer
    // standardizes them too: its classes score what eval scored.
    let predictions = dir.join("predictions.csv");
    let out = percept(&["predict", "--model", s(&standardized), s(&data), "--out", s(&predictions)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("column 3 (class) left out as the label"), "{}", text(&out));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("class,p_0,p_1"));
    let predicted: Vec<usize> = lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(predicted.len(), classes.len());
    let hits = predicted.iter().zip(classes).filter(|(p, c)| p == c).count();
    assert!((hits as f32 / classes.len() as f32 - accuracy).abs() < 1e-3, "{hits} hits, eval {accuracy}");
    // A file of features only gives the same predictions.
    let features_only: String = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let unlabelled = dir.join("unlabelled.csv");
    std::fs::write(&unlabelled, features_only).unwrap();
    let again = dir.join("again.csv");
    let out = percept(&["predict", "--model", s(&standardized), s(&unlabelled), "--out", s(&again)]);
    assert!(out.status.success() && !text(&out).contains("left out"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), written);
    // Rows of the wrong width: an error naming the file and both sizes.
    std::fs::write(&unlabelled, "x\n1\n2\n").unwrap();
    let out = percept(&["predict", "--model", s(&standardized), s(&unlabelled)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unlabelled.csv: samples of 1 features, but the model"), "{}", text(&out));
    assert!(text(&out).contains("takes 2 inputs"), "{}", text(&out));

    // The same run on the raw features: SGD at 0.1 diverges or learns little.
    let raw = dir.join("raw.ckpt");
    let out = train(&raw, &[]);
    let raw_accuracy = if out.status.success() { eval_accuracy(&raw, &data) } else { 0.0 };
    assert!(raw_accuracy < 0.9, "raw features reached {raw_accuracy}: the test shows nothing");

    // --plot writes the training curves.
    let curves = dir.join("curves.svg");
    let out = train(&dir.join("plotted.ckpt"), &["--standardize", "--plot", s(&curves)]);
    assert!(text(&out).contains(&format!("curves {}", s(&curves))), "{}", text(&out));
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("accuracy (%)"), "{}", &svg[..svg.len().min(200)]);
    // And later, from the checkpoint's saved history: the same figure.
    let again = dir.join("again.svg");
    let out = percept(&["summary", "--model", s(&dir.join("plotted.ckpt")), "--plot", s(&again)]);
    assert!(text(&out).contains("curves of 80 epochs"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), svg);

    // The export names the statistics as buffers of layer 0.
    let out = percept(&["export", "--model", s(&standardized), "--out", s(&dir.join("std.safetensors"))]);
    assert!(text(&out).contains("0.mean, 0.variance, 1.weight"), "{}", text(&out));
}

#[test]
fn regression_from_csv_then_predicted_values_for_new_rows() {
    let dir = scratch("cli_regression");
    // y = 3x - 1 on x in [-1, 1]: a layer without hidden units learns it.
    let mut csv = String::from("x,y\n");
    for i in 0..200 {
        let x = i as f32 / 100.0 - 1.0;
        csv += &format!("{x},{}\n", 3.0 * x - 1.0);
    }
    let data = dir.join("line.csv");
    std::fs::write(&data, csv).unwrap();
    let model = dir.join("line.ckpt");
    let out = percept(&[
        "train",
        "--data",
        s(&data),
        "--regression",
        "--hidden",
        "",
        "--epochs",
        "60",
        "--batch",
        "8",
        "--checkpoint",
        s(&model),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let new_rows = dir.join("new.csv");
    std::fs::write(&new_rows, "x\n-0.5\n0.25\n0.9\n").unwrap();
    let predictions = dir.join("values.csv");
    let out = percept(&["predict", "--model", s(&model), s(&new_rows), "--out", s(&predictions)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("row 1: "), "{}", text(&out));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("output"));
    let values: Vec<f32> = lines.map(|l| l.parse().unwrap()).collect();
    for (x, y) in [-0.5f32, 0.25, 0.9].into_iter().zip(&values) {
        assert!((y - (3.0 * x - 1.0)).abs() < 0.02, "x {x}: predicted {y}");
    }
    assert_eq!(values.len(), 3);
}

/// Classes named by text: the checkpoint keeps the names, `predict` reports them (quoted in
/// its CSV output where a name holds a comma), and `eval` numbers another file's labels as
/// the training file numbered them, even when that file lacks a class (its own sorted
/// numbering would then differ), and refuses a label the model does not know.
#[test]
fn named_classes_are_kept_for_predict_and_eval() {
    let dir = scratch("cli_named_classes");
    // Three well-separated blobs; the first name sorts first and holds a comma and quotes.
    let names = ["\"bird, \"\"big\"\"\"", "cat", "dog"];
    let centers = [(0.0f32, 4.0f32), (4.0, 0.0), (0.0, 0.0)];
    let mut rows = Vec::new();
    for i in 0..240 {
        let c = i % 3;
        // A fixed spread around each center (no generator needed).
        let (dx, dy) = ((i * 7 % 11) as f32 / 11.0 - 0.5, (i * 5 % 13) as f32 / 13.0 - 0.5);
        rows.push((centers[c].0 + dx, centers[c].1 + dy, c));
    }
    let write = |file: &str, keep: &dyn Fn(usize) -> bool| {
        let mut csv = String::from("x,y,animal\n");
        for &(x, y, c) in rows.iter().filter(|r| keep(r.2)) {
            csv += &format!("{x},{y},{}\n", names[c]);
        }
        let path = dir.join(file);
        std::fs::write(&path, csv).unwrap();
        path
    };
    let train = write("animals.csv", &|_| true);
    let no_birds = write("no_birds.csv", &|c| c != 0);
    let model = dir.join("animals.ckpt");
    let out = percept(&[
        "train",
        "--data",
        s(&train),
        "--hidden",
        "8",
        "--epochs",
        "30",
        "--batch",
        "16",
        "--checkpoint",
        s(&model),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = percept(&["summary", "--model", s(&model)]);
    assert!(text(&out).contains(r#"classes: "bird, ""big""", cat, dog"#), "{}", text(&out));

    let predictions = dir.join("predictions.csv");
    let out = percept(&["predict", "--model", s(&model), s(&no_birds), "--out", s(&predictions)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("row 0: class cat ("), "{}", text(&out));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some(r#"class,"p_bird, ""big""",p_cat,p_dog"#));
    let predicted: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    let truth: Vec<&str> = rows.iter().filter(|r| r.2 != 0).map(|r| names[r.2]).collect();
    assert_eq!(predicted.len(), truth.len());
    let agree = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    assert!(agree * 10 >= truth.len() * 9, "{agree} of {} predicted right", truth.len());

    // eval on the file without birds scores what predict's names score: with the file's own
    // numbering (cat 0, dog 1) it would compare against the wrong outputs.
    let accuracy = eval_accuracy(&model, &no_birds);
    let expected = agree as f32 / truth.len() as f32;
    assert!((accuracy - expected).abs() < 1e-4, "eval {accuracy}, predict {expected}");

    let fish = dir.join("fish.csv");
    std::fs::write(&fish, "x,y,animal\n1,1,cat\n9,9,fish\n").unwrap();
    let out = percept(&["eval", "--model", s(&model), "--data", s(&fish)]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("fish.csv") && message.contains(r#"label "fish" is not one of the model's classes"#),
        "{message}"
    );
}

#[test]
fn predicting_digits_from_pgm_png_and_idx() {
    let dir = scratch("cli_predict");
    let mnist_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist");
    let model = dir.join("mnist.ckpt");
    let out = percept(&[
        "train",
        "--data",
        mnist_dir,
        "--hidden",
        "64",
        "--epochs",
        "1",
        "--checkpoint",
        s(&model),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // The first test image, a 7, as binary PGM and as 8-bit grey PNG.
    let mnist = Mnist::load(mnist_dir).expect("bundled");
    let (mut x, mut y) = (Matrix::default(), Labels::default());
    mnist.test.gather(&[0], &mut x, &mut y);
    assert_eq!(y, Labels::Classes(vec![7]));
    let pixels = mnist.test.image_bytes(0).to_vec();
    let mut pgm = b"P5\n# a seven\n28 28\n255\n".to_vec();
    pgm.extend_from_slice(&pixels);
    std::fs::write(dir.join("seven.pgm"), pgm).unwrap();
    let file = std::fs::File::create(dir.join("seven.png")).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 28, 28);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(&pixels).unwrap();
    for image in ["seven.pgm", "seven.png"] {
        let out = percept(&["predict", "--model", s(&model), s(&dir.join(image))]);
        assert!(text(&out).starts_with("image 0: class 7"), "{image}: {}", text(&out));
        assert!(text(&out).contains("9: 0."), "all ten probabilities: {}", text(&out));
    }
    let idx = format!("{mnist_dir}/t10k-images-idx3-ubyte.gz");
    let out = percept(&["predict", "--model", s(&model), &idx]);
    assert!(
        text(&out).contains("image 0: class 7") && text(&out).contains("9980 more images"),
        "{}",
        text(&out)
    );

    // An image of another size is prepared as MNIST's digits were (tests/predict_images.rs);
    // a blank one is an error naming the file, not a panic.
    std::fs::write(dir.join("small.pgm"), b"P2 2 2 255 0 0 0 0").unwrap();
    let out = percept(&["predict", "--model", s(&model), s(&dir.join("small.pgm"))]);
    assert!(!out.status.success() && text(&out).contains("small.pgm: the image is blank"), "{}", text(&out));
}

#[test]
fn bad_arguments_get_a_usage_message_or_an_error_not_a_panic() {
    let out = percept(&["predict"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("Usage: percept predict"), "{}", text(&out));
    let out = percept(&["train", "--data", "/nonexistent/x.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("/nonexistent/x.csv"), "{}", text(&out));
    let out = percept(&[
        "train",
        "--data",
        concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist"),
        "--hidden",
        "12,x",
    ]);
    assert!(text(&out).contains("--hidden: \"x\" is not a positive layer size"), "{}", text(&out));
    let out = percept(&["eval", "--model", "/nonexistent.ckpt", "--data", "."]);
    assert!(text(&out).contains("/nonexistent.ckpt"), "{}", text(&out));
    let out = percept(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
