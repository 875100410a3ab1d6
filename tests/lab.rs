//! `percept lab`: the command runs the lab and says where the report is; bad settings get a
//! clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn percept(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_percept")).args(args).output().expect("runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist");

#[test]
fn percept_lab_writes_the_report_and_says_where() {
    let out = scratch("cli-lab");
    let out_text = out.to_str().expect("a UTF-8 path");
    // The quick lab, smaller still: one epoch, one activation.
    let output = percept(&[
        "lab",
        "--quick",
        "--quiet",
        "--epochs",
        "1",
        "--activations",
        "relu",
        "--data",
        MNIST,
        "--out",
        out_text,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report = out.join("REPORT.md");
    assert_eq!(stdout.trim(), format!("report: {}", report.display()));
    let text = std::fs::read_to_string(&report).expect("REPORT.md");
    for name in [
        "1 layer (softmax regression)",
        "2 layers, ReLU",
        "3 layers, ReLU",
        "1 layer, one-vs-all",
        "## Answers",
    ] {
        assert!(text.contains(name), "REPORT.md lacks {name}");
    }
    assert!(!text.contains("Sigmoid"), "only ReLU was asked for");
    let json = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    assert_eq!(json.matches("\"epoch\": 1").count(), 4, "one epoch for each of the four configurations");
}

#[test]
fn percept_lab_refuses_bad_settings_with_a_clear_error() {
    let out = scratch("cli-lab-bad");
    let out_text = out.to_str().expect("a UTF-8 path");
    let output =
        percept(&["lab", "--quick", "--quiet", "--hidden", "32", "--data", MNIST, "--out", out_text]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("a 3-layer net needs 2 hidden sizes"), "{stderr}");
    assert!(!out.exists(), "nothing written");
    let output = percept(&["lab", "--activations", "swish"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unknown activation \"swish\""), "{stderr}");
    let output = percept(&["lab", "--quick", "--quiet", "--data", "/nonexistent/mnist", "--out", out_text]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/nonexistent/mnist"), "the error names the missing file: {stderr}");
}
