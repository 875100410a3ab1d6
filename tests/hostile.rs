//! The `percept` binary against hostile and careless input (issue 32): checkpoints declaring
//! absurd sizes, absurd flags, a full disk on stdout, a diverging run over a good checkpoint,
//! NaN in the data, two runs sharing a checkpoint, a mistyped folder; and validation hygiene
//! (issue 28): an IDX directory's test files are read only once training is done.
//!
//! Every command runs under a 4 GiB address-space limit (`setrlimit(RLIMIT_AS)`, what
//! `ulimit -v 4194304` sets), so "bounded memory" means the same on any machine: a command
//! that tried to allocate what a file or flag merely declares would abort instead of
//! returning its error.
#![cfg(unix)]

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use percept::data::{Labels, Mnist, make_moons};
use percept::nn::LayerSpec;
use percept::prelude::*;

/// The address-space limit of every command: 4 GiB.
const LIMIT_BYTES: u64 = 4 << 30;

fn limited(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_percept"));
    command.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit =
                libc::rlimit { rlim_cur: LIMIT_BYTES as libc::rlim_t, rlim_max: LIMIT_BYTES as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

fn percept(args: &[&str]) -> Output {
    limited(args).output().expect("runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The command failed as a command should: exit code 1 (not a panic's 101, not a signal),
/// with `expected` in its error message.
#[track_caller]
fn refused(output: &Output, expected: &str) {
    let all = text(output);
    assert_eq!(output.status.code(), Some(1), "status {:?}: {all}", output.status);
    assert!(!all.contains("panicked"), "{all}");
    assert!(String::from_utf8_lossy(&output.stderr).contains(expected), "expected {expected:?} in: {all}");
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

/// Two moons as CSV (`x,y,class`), 400 rows.
fn moons_csv(dir: &Path) -> PathBuf {
    let moons = make_moons(400, 0.1, 3);
    let mut csv = String::from("x,y,class\n");
    let Labels::Classes(classes) = moons.labels() else { unreachable!("moons have classes") };
    for (row, c) in moons.features().row_iter().zip(classes) {
        csv += &format!("{},{},{c}\n", row[0], row[1]);
    }
    let path = dir.join("moons.csv");
    std::fs::write(&path, csv).expect("writes");
    path
}

/// A small trained model of the moons, saved at `path`.
fn train_moons(data: &Path, path: &Path) {
    let out = percept(&[
        "train",
        "--data",
        s(data),
        "--hidden",
        "8",
        "--epochs",
        "5",
        "--batch",
        "16",
        "--checkpoint",
        s(path),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A checkpoint with a valid checksum whose first layer declares 2⁶², 10⁹ or 5·10⁶ inputs:
/// every command that reads it returns an error naming the file; none panics, aborts, or
/// allocates what the layer declares.
#[test]
fn checkpoints_declaring_huge_layers_are_errors() {
    let dir = scratch("hostile_huge_layers");
    let data = moons_csv(&dir);
    let good = dir.join("good.ckpt");
    train_moons(&data, &good);
    for inputs in [1usize << 62, 1_000_000_000, 5_000_000] {
        let mut checkpoint = Checkpoint::load(&good).expect("reads");
        checkpoint.layers[0] = LayerSpec::Linear { in_features: inputs, out_features: 8 };
        let path = dir.join(format!("huge-{inputs}.ckpt"));
        checkpoint.save(&path).expect("writes");
        let model = s(&path);
        let exported = dir.join("huge.safetensors");
        for args in [
            vec!["summary", "--model", model],
            vec!["eval", "--model", model, "--data", s(&data)],
            vec!["predict", "--model", model, s(&data)],
            vec!["export", "--model", model, "--out", s(&exported)],
        ] {
            let out = percept(&args);
            refused(&out, &format!("{model}: corrupt checkpoint: layer 0"));
        }
    }
}

/// Layer sizes past what fits in memory, given as flags, are refused up front.
#[test]
fn absurd_hidden_sizes_and_thread_counts_are_refused_up_front() {
    let dir = scratch("hostile_flags");
    let data = moons_csv(&dir);
    let checkpoint = dir.join("never.ckpt");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--data", s(&data), "--checkpoint", s(&checkpoint), "--epochs", "1"];
        args.extend_from_slice(extra);
        percept(&args)
    };
    for size in ["18446744073709551615", "4294967296"] {
        refused(&train(&["--hidden", size]), &format!("--hidden: a layer of {size} units is wider than"));
    }
    refused(&train(&["--hidden", "1000000,1000000"]), "parameters; percept builds at most 100,000,000");
    refused(&train(&["--threads", "100000"]), "cannot use 100000 threads: percept runs at most 256");
    assert!(!checkpoint.exists());
}

/// Output to a full device is an error with exit code 1 (`println!` panicked); a closed pipe
/// ends the command quietly, as `| head` expects.
#[test]
fn a_full_disk_on_stdout_is_an_error_and_a_closed_pipe_is_quiet() {
    let dir = scratch("hostile_stdout");
    let data = moons_csv(&dir);
    let model = dir.join("moons.ckpt");
    train_moons(&data, &model);
    for args in [
        vec!["summary", "--model", s(&model)],
        vec!["predict", "--model", s(&model), s(&data)],
        vec!["eval", "--model", s(&model), "--data", s(&data)],
        vec!["train", "--data", s(&data), "--epochs", "2", "--checkpoint", s(&dir.join("full.ckpt"))],
        vec!["--help"],
        vec!["train", "--help"],
        vec!["--version"],
    ] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("Linux has /dev/full");
        let out = limited(&args).stdout(full).stderr(Stdio::piped()).output().expect("runs");
        refused(&out, "No space left on device");
        assert!(text(&out).contains("standard output"), "{}", text(&out));
    }
    // The reading end closed before anything is written.
    let mut child = limited(&["predict", "--model", s(&model), s(&data)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "quiet: {stderr}");
}

/// `--lr 1e6` over a good checkpoint: the run stops with an error saying what happened, and
/// the checkpoint is left byte for byte.
#[test]
fn a_diverging_run_fails_and_keeps_the_good_checkpoint() {
    let dir = scratch("hostile_diverging");
    let data = moons_csv(&dir);
    let good = dir.join("good.ckpt");
    train_moons(&data, &good);
    let before = std::fs::read(&good).expect("written");
    let out =
        percept(&["train", "--data", s(&data), "--lr", "1e6", "--epochs", "3", "--checkpoint", s(&good)]);
    refused(&out, "training diverged in epoch 1");
    refused(&out, &format!("{} was not overwritten: it holds the model after epoch 5 of its run", s(&good)));
    assert_eq!(std::fs::read(&good).expect("still there"), before);
}

/// NaN or infinite values in a CSV file are refused when it is read, naming the file, line
/// and column; so are NaN and infinite learning rates and momenta, on the command line (a
/// usage error) and in a config file.
#[test]
fn nan_in_data_and_settings_is_refused_when_read() {
    let dir = scratch("hostile_nan");
    let data = dir.join("nan.csv");
    std::fs::write(&data, "x,y,class\n1,2,0\n3,nan,1\n4,5,0\n").expect("writes");
    let model = dir.join("nan.ckpt");
    let out = percept(&["train", "--data", s(&data), "--checkpoint", s(&model)]);
    refused(&out, &format!("{}: line 3, column 2 (y): \"nan\" is not a finite number", s(&data)));
    assert!(!model.exists());

    let moons = moons_csv(&dir);
    for (flag, value) in [("--lr", "nan"), ("--lr", "-0.1"), ("--momentum", "inf"), ("--weight-decay", "NaN")]
    {
        let setting = format!("{flag}={value}");
        let out = percept(&["train", "--data", s(&moons), &setting, "--checkpoint", s(&model)]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", text(&out));
        assert!(text(&out).contains(&format!("invalid value '{value}' for '{flag}")), "{}", text(&out));
    }
    for (line, key) in
        [("lr = nan", "lr"), ("momentum = inf", "momentum"), ("validation_split = 1.5", "validation_split")]
    {
        let config = dir.join("run.toml");
        std::fs::write(&config, format!("{line}\n")).expect("writes");
        let out = percept(&["train", "--config", s(&config), "--data", s(&moons), "--checkpoint", s(&model)]);
        refused(&out, &format!("{}: ", s(&config)));
        assert!(text(&out).contains(key) && text(&out).contains("is not a"), "{}", text(&out));
    }
    assert!(!model.exists());
}

/// `--resume --lr`: the saved rate wins, and the output says so.
#[test]
fn resuming_says_which_learning_rate_it_uses() {
    let dir = scratch("hostile_resume");
    let data = moons_csv(&dir);
    let model = dir.join("moons.ckpt");
    train_moons(&data, &model);
    let out = percept(&[
        "train",
        "--data",
        s(&data),
        "--hidden",
        "8",
        "--epochs",
        "6",
        "--batch",
        "16",
        "--checkpoint",
        s(&model),
        "--resume",
        "--lr",
        "0.5",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(&format!("resuming {} after epoch 5: learning rate 0.1, as saved", s(&model))),
        "{all}"
    );
    assert!(
        all.contains("learning rate 0.5 is not used: a resumed run goes on with the learning rate"),
        "{all}"
    );
    assert!(all.contains("trained 6 epochs"), "{all}");
}

/// Two runs writing one checkpoint path at the same time both succeed (each writes its own
/// temporary file), and the file they leave reads; a checkpoint in a folder that does not
/// exist is made, and one that cannot be made is reported before the first epoch.
#[test]
fn shared_and_bad_checkpoint_paths() {
    let dir = scratch("hostile_paths");
    let data = moons_csv(&dir);
    let shared = dir.join("shared.ckpt");
    let args = [
        "train",
        "--data",
        s(&data),
        "--hidden",
        "4",
        "--epochs",
        "60",
        "--batch",
        "64",
        "--checkpoint",
        s(&shared),
        "--quiet",
    ];
    let runs: Vec<_> =
        (0..2).map(|_| limited(&args).stderr(Stdio::piped()).spawn().expect("starts")).collect();
    for run in runs {
        let out = run.wait_with_output().expect("ends");
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(Checkpoint::load(&shared).expect("a whole file").epoch, 60);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A folder that does not exist is made; one that cannot be (under a file) is refused
    // before the first epoch.
    let made = dir.join("new-folder").join("run.ckpt");
    let out = percept(&["train", "--data", s(&data), "--epochs", "2", "--checkpoint", s(&made)]);
    assert!(out.status.success() && made.is_file(), "{}", text(&out));
    let bad = data.join("under-a-file").join("run.ckpt");
    let out = percept(&["train", "--data", s(&data), "--epochs", "2", "--checkpoint", s(&bad)]);
    refused(&out, "under-a-file");
    assert!(!text(&out).contains("epoch   1/2"), "no epoch ran: {}", text(&out));
}

/// The config file takes `hidden` as a list and `early-stopping` spelled with a dash.
#[test]
fn config_files_take_lists_and_dashed_keys() {
    let dir = scratch("hostile_config");
    let data = moons_csv(&dir);
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!("data = {:?}\nhidden = [8, 4]\nearly-stopping = 3\nepochs = 4\nquiet = true\n", s(&data)),
    )
    .expect("writes");
    let model = dir.join("listed.ckpt");
    let out = percept(&["train", "--config", s(&config), "--checkpoint", s(&model)]);
    assert!(out.status.success(), "{}", text(&out));
    let out = percept(&["summary", "--model", s(&model)]);
    assert!(text(&out).contains("Linear(2 → 8)") && text(&out).contains("Linear(8 → 4)"), "{}", text(&out));
    std::fs::write(&config, "hidden = [8, \"x\"]\n").expect("writes");
    let out = percept(&["train", "--config", s(&config), "--data", s(&data)]);
    refused(&out, "hidden takes layer sizes as a list, [512, 256], or as text");
}

/// An IDX directory of the first 1,000 training and 200 test images of the bundled MNIST,
/// with test files written by `test_files` (the real ones, or garbage).
fn idx_dir(name: &str, corrupt_test_files: bool) -> PathBuf {
    let dir = scratch(name);
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist");
    let write = |prefix: &str, images: &ImageDataset, count: usize| {
        let mut pixels = vec![0, 0, 8, 3];
        for size in [count as u32, 28, 28] {
            pixels.extend_from_slice(&size.to_be_bytes());
        }
        let mut labels = vec![0, 0, 8, 1];
        labels.extend_from_slice(&(count as u32).to_be_bytes());
        for i in 0..count {
            pixels.extend_from_slice(images.image_bytes(i));
            labels.push(images.label(i) as u8);
        }
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), pixels).expect("writes");
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).expect("writes");
    };
    write("train", &Mnist::load_train(bundled).expect("bundled"), 1000);
    if corrupt_test_files {
        for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            std::fs::write(dir.join(name), b"not an IDX file at all").expect("writes");
        }
    } else {
        write("t10k", &Mnist::load_test(bundled).expect("bundled"), 200);
    }
    dir
}

/// `percept train --early-stopping` on an IDX directory chooses on validation data held out
/// of the training files and never reads the test files before training is done: with
/// corrupt test files, every epoch runs and is saved, and only then does the test fail.
/// With good ones, the test accuracy is measured once at the end, labelled "test", and the
/// progress lines say "val" for the held-out data only.
#[test]
fn idx_test_files_are_read_only_after_training() {
    let corrupt = idx_dir("hostile_idx_corrupt", true);
    let model = corrupt.join("model.ckpt");
    let args = [
        "train",
        "--data",
        s(&corrupt),
        "--hidden",
        "16",
        "--epochs",
        "3",
        "--early-stopping",
        "5",
        "--checkpoint",
        s(&model),
    ];
    let out = percept(&args);
    refused(&out, "t10k-images-idx3-ubyte");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let train = Mnist::load_train(&corrupt).expect("the training files are good");
    let (kept, held) = split_for_validation(&train, 0.1, 0);
    let split = format!(
        "training on {} samples, validation on {} held out of the training data",
        kept.len(),
        held.len()
    );
    assert!(stdout.contains(&split), "{stdout}");
    assert!(stdout.contains("epoch   3/3") && stdout.contains("val_acc"), "{stdout}");
    assert_eq!(Checkpoint::load(&model).expect("saved before the test").epoch, 3);

    let good = idx_dir("hostile_idx_good", false);
    let model = good.join("model.ckpt");
    let out =
        percept(&["train", "--data", s(&good), "--hidden", "16", "--epochs", "2", "--checkpoint", s(&model)]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("training on 1000 samples (no validation split)"), "{stdout}");
    assert!(!stdout.contains("val_") && !stdout.contains("validation loss"), "no validation data: {stdout}");
    assert!(stdout.contains("on the 200 test images (measured once, after training)"), "{stdout}");
    let saved = Checkpoint::load(&model).expect("reads");
    let accuracy: f32 = saved.metadata["test_accuracy"].parse().expect("a number");
    assert!(accuracy > 0.5, "test accuracy {accuracy}");
}

/// Every example answers `--help` with its usage and exit code 0, and does nothing else
/// (`interop --help` used to create a folder named `--help`).
#[test]
fn every_example_answers_help() {
    let examples = Path::new(env!("CARGO_BIN_EXE_percept")).parent().expect("target folder").join("examples");
    let dir = scratch("hostile_examples");
    for name in ["interop", "lesson", "mnist", "regression", "toy_sets"] {
        let program = examples.join(name);
        assert!(program.exists(), "{} is not built (cargo test builds the examples)", program.display());
        let out = Command::new(&program).arg("--help").current_dir(&dir).output().expect("runs");
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert!(text(&out).contains("Usage:"), "{name}: {}", text(&out));
    }
    assert_eq!(std::fs::read_dir(&dir).expect("readable").count(), 0, "nothing written");
}
