//! Recipes: every shipped recipe parses and builds its model, a small one trains end to end
//! and leaves a checkpoint that rebuilds itself, and each kind of bad recipe gets an error that
//! names the key and its line, with nothing written.

mod common;
use common::scratch;

use std::path::{Path, PathBuf};

use percept_linalg::Matrix;
use percept_nn::{Mode, SoftmaxCrossEntropy};
use percept_train::recipe::{LayerRecipe, RunOptions};
use percept_train::{Checkpoint, Recipe, RecipeError, evaluate};

fn recipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes")
}

/// A small recipe on the lesson's 2-D set, writing into `dir`.
fn tiny(dir: &Path) -> String {
    format!(
        r#"
name = "tiny"

[data]
dataset = "lesson"
validation_split = 0.25

[[model.layers]]
type = "linear"
size = 10
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "linear"
size = 2

[optimizer]
type = "sgd"
learning_rate = 0.05

[training]
epochs = 20
batch_size = 4

[output]
dir = "{}"
"#,
        dir.display()
    )
}

#[test]
fn every_shipped_recipe_parses_and_builds_its_model() {
    let mut count = 0;
    for entry in std::fs::read_dir(recipes_dir()).expect("recipes/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let recipe = Recipe::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let (inputs, outputs) = match recipe.data.dataset.as_str() {
            "lesson" => (2, 2),
            "mnist" | "fashion-mnist" => (784, 10),
            other => panic!("{}: a shipped recipe uses a known data set, not {other}", path.display()),
        };
        let mut model =
            recipe.build_model(inputs, outputs).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let output = model.forward(&Matrix::zeros(3, inputs), Mode::Eval).expect("runs");
        assert_eq!(output.shape(), [3, outputs], "{}", path.display());
        // What `to_toml` writes reads back to the same recipe.
        let again = Recipe::from_toml(&recipe.to_toml()).expect("round trip");
        assert_eq!(Recipe { source: None, ..recipe }, again, "{}", path.display());
        count += 1;
    }
    assert!(count >= 5, "the reference and four recipes: found {count}");
}

#[test]
fn a_tiny_recipe_trains_and_its_checkpoint_needs_no_model_description() {
    let dir = scratch("recipe_tiny");
    let recipe = Recipe::from_toml(&tiny(&dir)).expect("valid");
    let outcome = recipe.run(&RunOptions { verbose: false, ..Default::default() }).expect("trains");
    assert_eq!(outcome.history.epochs.len(), 20);
    let best = outcome
        .history
        .epochs
        .iter()
        .map(|e| e.validation_loss.expect("validation data"))
        .fold(f32::INFINITY, f32::min);
    let chosen = &outcome.history.epochs[outcome.chosen_epoch - 1];
    assert_eq!(chosen.validation_loss, Some(best), "the kept epoch is the best on validation");
    let test = outcome.test.expect("the lesson's last 20 points");
    assert!(test.accuracy.expect("classes") > 0.6, "{test:?}");
    for name in ["model.ckpt", "history.csv", "history.json", "curves.svg", "weights.svg"] {
        assert!(dir.join(name).is_file(), "{name} written");
    }

    // The checkpoint rebuilds the model alone, with the chosen weights, and says where they
    // came from.
    let checkpoint = Checkpoint::load(dir.join("model.ckpt")).expect("reads");
    assert_eq!(checkpoint.metadata.get("dataset").map(String::as_str), Some("lesson"));
    assert_eq!(checkpoint.metadata.get("chosen_epoch"), Some(&outcome.chosen_epoch.to_string()));
    let saved_recipe = Recipe::from_toml(&checkpoint.metadata["recipe"]).expect("the recipe is stored");
    assert_eq!(saved_recipe.model, recipe.model);
    let mut model = checkpoint.model().expect("rebuilds");
    let (_, test_set) =
        percept_data::make_classification(&percept_data::Classification::default()).split(0.8);
    let again = evaluate(&mut model, &mut SoftmaxCrossEntropy::new(), &test_set, 64).expect("evaluates");
    assert_eq!(again.accuracy, test.accuracy);
    let stored: f32 = checkpoint.metadata["test_accuracy"].parse().expect("a number");
    assert_eq!(Some(stored), test.accuracy);
}

/// `text` with `from` replaced by `to` (once, and it must be there).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the recipe");
    text.replacen(from, to, 1)
}

/// The 1-based line of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("present") + 1
}

#[test]
fn bad_recipes_name_the_key_and_its_line_and_write_nothing() {
    let dir = scratch("recipe_bad");
    let out = dir.join("out");
    let good = tiny(&out);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "an unknown key",
            edit(&good, "batch_size = 4", "batch_size = 4\nshuffel = true"),
            "shuffel",
            "training.shuffel",
        ),
        (
            "a wrong type",
            edit(&good, "epochs = 20", "epochs = \"twenty\""),
            "epochs = \"twenty\"",
            "training.epochs",
        ),
        (
            "layers that do not chain",
            edit(&good, "type = \"linear\"\nsize = 2", "type = \"linear\"\ninputs = 12\nsize = 2"),
            "inputs = 12",
            "model.layers[2].inputs",
        ),
        (
            "dropout p outside [0, 1)",
            edit(&good, "type = \"tanh\"", "type = \"dropout\"\np = 1.5"),
            "p = 1.5",
            "model.layers[1].p",
        ),
        (
            "a negative learning rate",
            edit(&good, "learning_rate = 0.05", "learning_rate = -0.05"),
            "learning_rate = -0.05",
            "optimizer.learning_rate",
        ),
        (
            "a learning rate that is not a number",
            edit(&good, "learning_rate = 0.05", "learning_rate = nan"),
            "learning_rate = nan",
            "optimizer.learning_rate",
        ),
        (
            "a missing data set",
            edit(&good, "dataset = \"lesson\"", "dataset = \"no/such/data.csv\""),
            "no/such/data.csv",
            "data.dataset",
        ),
        (
            "a setting of another optimizer",
            edit(&good, "learning_rate = 0.05", "learning_rate = 0.05\nbetas = [0.9, 0.99]"),
            "betas",
            "optimizer.betas",
        ),
    ];
    for (what, text, needle, key) in cases {
        let path = dir.join("bad.toml");
        std::fs::write(&path, &text).expect("write");
        let line = line_of(&text, needle);
        // Some mistakes are in the file (found when it is read), a missing data set only when
        // the run looks for it; both before anything is written.
        let error = match Recipe::from_file(&path) {
            Err(error) => error,
            Ok(recipe) => recipe.run(&RunOptions { verbose: false, ..Default::default() }).expect_err(what),
        };
        let message = error.to_string();
        match &error {
            RecipeError::Invalid { key: Some(found), line: found_line, .. } => {
                assert_eq!(found, key, "{what}: {message}");
                assert_eq!(*found_line, Some(line), "{what}: {message}");
            }
            other => panic!("{what}: not an invalid-recipe error: {other:?}"),
        }
        assert!(message.contains(&format!("line {line}")), "{what}: {message}");
        assert!(message.contains("bad.toml"), "{what}: {message}");
        assert!(!out.exists(), "{what}: nothing is written");
    }
}

#[test]
fn set_overrides_a_value_and_checks_it() {
    let dir = scratch("recipe_set");
    let mut recipe = Recipe::from_toml(&tiny(&dir)).expect("valid");
    recipe.set("training.epochs", "3").expect("an integer");
    recipe.set("optimizer.type", "adam").expect("a bare word is a string");
    recipe.set("model.layers[1].type", "relu").expect("a layer's type");
    assert_eq!(recipe.training.epochs, 3);
    assert_eq!(recipe.optimizer.kind, "adam");
    assert_eq!(recipe.model.layers[1], LayerRecipe::Relu);
    let error = recipe.set("optimizer.learning_rate", "-1").unwrap_err();
    assert!(error.to_string().contains("optimizer.learning_rate"), "{error}");
    let error = recipe.set("training.epochz", "3").unwrap_err();
    assert!(error.to_string().contains("epochz"), "{error}");
    assert_eq!(recipe.training.epochs, 3, "a refused change leaves the recipe as it was");
}
