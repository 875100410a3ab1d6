//! Recipes: a model and its training described in one TOML file, as Keras, Lightning CLI and
//! Ludwig users expect, and run by the library, so that the `percept` command and a Rust
//! program do the same thing with it.
//!
//! ```
//! use percept_train::Recipe;
//!
//! let recipe = Recipe::from_toml(r#"
//!     [data]
//!     dataset = "mnist"
//!
//!     [[model.layers]]
//!     type = "linear"
//!     size = 128
//!     [[model.layers]]
//!     type = "relu"
//!     [[model.layers]]
//!     type = "dropout"
//!     p = 0.1
//!     [[model.layers]]
//!     type = "linear"
//!     size = 10
//!
//!     [optimizer]
//!     type = "adam"
//!     learning_rate = 0.001
//!
//!     [training]
//!     epochs = 5
//!     batch_size = 64
//! "#)?;
//! let model = recipe.build_model(784, 10)?;
//! assert_eq!(model.len(), 4);
//!
//! // A key the format does not know is an error naming it and its line:
//! let error = Recipe::from_toml("[data]\ndataset = \"mnist\"\nshuffle = true\n").unwrap_err();
//! assert!(error.to_string().contains("line 3"), "{error}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `recipes/README.md` in the repository documents every key with a commented example;
//! [`Recipe::run`] trains, chooses the epoch on validation data only, measures the test set
//! once, and writes the outputs.

mod build;
mod locate;
mod run;
mod schema;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use run::{RecipeOutcome, RunOptions, TestPoint};
pub use schema::{
    AugmentationRecipe, DataRecipe, ElasticRecipe, InitKind, LayerRecipe, LossRecipe, ModelRecipe,
    MonitorKind, NormalizationKind, OptimizerRecipe, OutputRecipe, ScheduleRecipe, StepEveryKind,
    TrainingRecipe,
};

/// A whole run: data, model, loss, optimizer, schedule, training settings and outputs, as one
/// TOML file holds them ([`Recipe::from_file`]). Build one in Rust with struct literals too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// A title for reports (default: the file's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the recipe is for, in a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `[data]`.
    pub data: DataRecipe,
    /// `[model]`.
    pub model: ModelRecipe,
    /// `[loss]` (default: cross-entropy for classes, MSE for regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossRecipe>,
    /// `[optimizer]`.
    pub optimizer: OptimizerRecipe,
    /// `[schedule]` (default: a constant rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleRecipe>,
    /// `[training]`.
    pub training: TrainingRecipe,
    /// `[output]`.
    #[serde(default)]
    pub output: OutputRecipe,
    /// The file it was read from, if any (for errors and the default output folder).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Why a recipe could not be read, checked or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The recipe is wrong: a TOML syntax error, an unknown key, a value of the wrong type
    /// or out of range, layers that do not chain. Names the file, line and key when known.
    #[error("{}", describe(file.as_deref(), *line, key.as_deref(), message))]
    Invalid {
        /// The recipe file.
        file: Option<PathBuf>,
        /// 1-based line of the key.
        line: Option<usize>,
        /// Dotted path of the key (`model.layers[2].p`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Training diverged (the loss or the parameters blew up); the checkpoint was left as it
    /// was.
    #[error("{source}\n{kept} (learning rate {learning_rate})")]
    Diverged {
        /// What the fit loop saw.
        source: crate::TrainError,
        /// What the checkpoint still holds.
        kept: String,
        /// The learning rate when it happened.
        learning_rate: f32,
    },
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] percept_data::DataError),
    /// Training stopped with an error.
    #[error(transparent)]
    Train(#[from] crate::TrainError),
    /// The model could not be built or run.
    #[error(transparent)]
    Nn(#[from] percept_nn::NnError),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] crate::CheckpointError),
    /// A plot could not be written.
    #[cfg(feature = "plot")]
    #[error(transparent)]
    Plot(#[from] crate::PlotError),
}

fn describe(file: Option<&Path>, line: Option<usize>, key: Option<&str>, message: &str) -> String {
    let mut text = String::new();
    if let Some(file) = file {
        text += &file.display().to_string();
    }
    if let Some(line) = line {
        text += &if text.is_empty() { format!("line {line}") } else { format!(", line {line}") };
    }
    if let Some(key) = key {
        text += &if text.is_empty() { format!("`{key}`") } else { format!(", `{key}`") };
    }
    if text.is_empty() { message.to_string() } else { format!("{text}: {message}") }
}

impl Recipe {
    /// Reads and checks a recipe file.
    ///
    /// # Errors
    /// [`RecipeError::Io`] if the file cannot be read; [`RecipeError::Invalid`] naming the
    /// file, line and key for anything wrong in it (see [`Recipe::check`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RecipeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| RecipeError::Io { path: path.to_path_buf(), source })?;
        let mut recipe = Self::parse(&text).map_err(|e| e.in_file(path))?;
        recipe.source = Some(path.to_path_buf());
        recipe.check_located(&text).map_err(|e| e.in_file(path))?;
        Ok(recipe)
    }

    /// Parses and checks a recipe from TOML text.
    ///
    /// # Errors
    /// As [`Recipe::from_file`], without a file name.
    pub fn from_toml(text: &str) -> Result<Self, RecipeError> {
        let recipe = Self::parse(text)?;
        recipe.check_located(text)?;
        Ok(recipe)
    }

    /// The recipe as TOML text (what [`Recipe::from_toml`] reads back to an equal recipe).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe is plain data that TOML can hold")
    }

    /// Sets the value at a dotted `key` (`"training.epochs"`, `"optimizer.learning_rate"`,
    /// `"model.layers[2].p"`) from its TOML spelling (`"5"`, `"0.01"`, `"\"adam\""`; a bare
    /// word is taken as a string), then checks the recipe again: what command-line flags do
    /// to a recipe file.
    ///
    /// # Errors
    /// [`RecipeError::Invalid`] naming the key if it does not exist in the format, the value
    /// has the wrong type, or the changed recipe fails [`Recipe::check`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), RecipeError> {
        let invalid = |message: String| RecipeError::Invalid {
            file: None,
            line: None,
            key: Some(key.to_string()),
            message,
        };
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut document = toml::Value::try_from(&*self).map_err(|e| invalid(e.to_string()))?;
        set_path(&mut document, key, parsed).map_err(invalid)?;
        let text = toml::to_string(&document).map_err(|e| invalid(e.to_string()))?;
        let mut changed = Self::parse(&text).map_err(|e| match e {
            RecipeError::Invalid { message, .. } => invalid(message),
            other => other,
        })?;
        changed.check().map_err(|e| match e {
            RecipeError::Invalid { key: k, message, .. } => RecipeError::Invalid {
                file: None,
                line: None,
                key: k.or_else(|| Some(key.to_string())),
                message,
            },
            other => other,
        })?;
        changed.source = self.source.take();
        *self = changed;
        Ok(())
    }

    /// Checks what the types alone do not: sizes and rates in range, layers that chain,
    /// settings that apply to the chosen optimizer and schedule. [`Recipe::from_file`] calls it.
    ///
    /// # Errors
    /// [`RecipeError::Invalid`] naming the first key that is wrong.
    pub fn check(&self) -> Result<(), RecipeError> {
        build::check(self)
    }

    /// The name reports and the default output folder use: `name`, or the file's stem.
    pub fn title(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.source
                .as_ref()
                .and_then(|p| p.file_stem())
                .map_or_else(|| "recipe".to_string(), |s| s.to_string_lossy().into_owned())
        })
    }

    fn parse(text: &str) -> Result<Self, RecipeError> {
        toml::from_str::<Self>(text).map_err(|error| {
            let span = error.span();
            RecipeError::Invalid {
                file: None,
                line: span.as_ref().map(|s| locate::line_at(text, s.start)),
                key: span.and_then(|s| locate::key_at(text, s.start)),
                message: error.message().trim().to_string(),
            }
        })
    }

    /// [`Recipe::check`], with the line of the failing key looked up in `text`.
    fn check_located(&self, text: &str) -> Result<(), RecipeError> {
        self.check().map_err(|error| match error {
            RecipeError::Invalid { file, line: None, key: Some(key), message } => {
                RecipeError::Invalid { file, line: locate::line_of(text, &key), key: Some(key), message }
            }
            other => other,
        })
    }
}

impl Recipe {
    /// `error` with the file, and the line of its key, when the recipe came from a file that
    /// can still be read.
    pub(super) fn located(&self, error: RecipeError) -> RecipeError {
        let Some(path) = &self.source else { return error };
        match error {
            RecipeError::Invalid { line: None, key: Some(key), message, .. } => {
                let line = std::fs::read_to_string(path).ok().and_then(|text| locate::line_of(&text, &key));
                RecipeError::Invalid { file: Some(path.clone()), line, key: Some(key), message }
            }
            other => other.in_file(path),
        }
    }
}

impl RecipeError {
    /// An [`RecipeError::Invalid`] about `key`.
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        RecipeError::Invalid { file: None, line: None, key: Some(key.into()), message: message.into() }
    }

    fn in_file(self, path: &Path) -> Self {
        match self {
            RecipeError::Invalid { line, key, message, .. } => {
                RecipeError::Invalid { file: Some(path.to_path_buf()), line, key, message }
            }
            other => other,
        }
    }
}

/// Puts `value` at the dotted `path` of a TOML document, creating tables on the way.
fn set_path(document: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let mut current = document;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => {
                let index: usize =
                    rest.trim_end_matches(']').parse().map_err(|_| format!("bad index in {part:?}"))?;
                (name, Some(index))
            }
            None => (*part, None),
        };
        let last = i + 1 == parts.len();
        let table = current.as_table_mut().ok_or_else(|| format!("{name:?} is not inside a table"))?;
        if last && index.is_none() {
            table.insert(name.to_string(), value);
            return Ok(());
        }
        let entry = table.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match index {
            Some(index) => {
                let array = entry.as_array_mut().ok_or_else(|| format!("{name:?} is not a list"))?;
                let length = array.len();
                let item = array
                    .get_mut(index)
                    .ok_or_else(|| format!("{name:?} has {length} entries, no index {index}"))?;
                if last {
                    *item = value;
                    return Ok(());
                }
                item
            }
            None => entry,
        };
    }
    Ok(())
}
