//! The lab's settings and its grid of configurations.

use std::fmt;
use std::path::PathBuf;

use percept_nn::{GELU, Layer, Linear, NnError, ReLU, Sequential, Sigmoid, Tanh, seeded_rng};
use serde::{Deserialize, Serialize};

use super::LabError;

/// An activation between the lab's layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    /// The logistic sigmoid, `1 / (1 + e^(−x))`.
    Sigmoid,
    /// `tanh x`, the lesson's activation.
    Tanh,
    /// `max(0, x)`.
    ReLU,
    /// `x · Φ(x)` (exact, with erf).
    GELU,
}

impl Activation {
    /// Every activation, in the order the report lists them.
    pub const ALL: [Activation; 4] =
        [Activation::Sigmoid, Activation::Tanh, Activation::ReLU, Activation::GELU];

    /// The name as the report writes it (`"ReLU"`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::ReLU => "ReLU",
            Activation::GELU => "GELU",
        }
    }

    /// A new layer computing it.
    pub fn layer(self) -> Box<dyn Layer> {
        match self {
            Activation::Sigmoid => Box::new(Sigmoid),
            Activation::Tanh => Box::new(Tanh),
            Activation::ReLU => Box::new(ReLU),
            Activation::GELU => Box::new(GELU::new()),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `"relu"`, `"ReLU"`, `"sigmoid"`, … (any case).
impl std::str::FromStr for Activation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("unknown activation {text:?} (expected sigmoid, tanh, relu or gelu)"))
    }
}

/// How the ten classes are read off the last layer's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classifier {
    /// Softmax over the outputs, trained with cross-entropy.
    Softmax,
    /// Ten binary logistic classifiers ("is it a 3?"), each trained with binary
    /// cross-entropy on its own output, combined by taking the most confident
    /// ([`super::OneVsAll`]).
    OneVsAll,
}

/// One model of the lab: how many `Linear` layers, the activation between them, and the
/// classifier on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// `Linear` layers (1 is softmax regression: no hidden layer, no activation).
    pub depth: usize,
    /// The activation after each hidden layer (`None` for depth 1).
    pub activation: Option<Activation>,
    /// Softmax or one-vs-all.
    pub classifier: Classifier,
}

impl Configuration {
    /// The name the report uses: `"1 layer (softmax regression)"`, `"2 layers, ReLU"`,
    /// `"1 layer, one-vs-all"`.
    pub fn name(&self) -> String {
        let layers = if self.depth == 1 { "1 layer".to_string() } else { format!("{} layers", self.depth) };
        match (self.classifier, self.activation) {
            (Classifier::OneVsAll, None) => format!("{layers}, one-vs-all"),
            (Classifier::OneVsAll, Some(a)) => format!("{layers}, {a}, one-vs-all"),
            (Classifier::Softmax, None) if self.depth == 1 => format!("{layers} (softmax regression)"),
            (Classifier::Softmax, None) => format!("{layers}, linear"),
            (Classifier::Softmax, Some(a)) => format!("{layers}, {a}"),
        }
    }

    /// The model: `depth − 1` hidden `Linear` layers of the sizes `hidden` begins with, each
    /// followed by the activation, then a `Linear` layer to `classes` outputs; PyTorch's
    /// initialization, drawn from `seed`.
    ///
    /// # Errors
    /// [`LabError::Config`] when `hidden` has fewer than `depth − 1` sizes.
    pub fn build(
        &self,
        in_features: usize,
        hidden: &[usize],
        classes: usize,
        seed: u64,
    ) -> Result<Sequential, LabError> {
        let sizes = hidden.get(..self.depth.saturating_sub(1)).ok_or_else(|| {
            LabError::Config(format!(
                "{} needs {} hidden sizes, but only {} are given",
                self.name(),
                self.depth - 1,
                hidden.len()
            ))
        })?;
        let nn = |e: NnError| LabError::Config(format!("{}: {e}", self.name()));
        let mut rng = seeded_rng(seed);
        let mut model = Sequential::new();
        let mut width = in_features;
        for &size in sizes {
            model.add(Linear::new(width, size, &mut rng)).map_err(nn)?;
            if let Some(activation) = self.activation {
                model.add_boxed(activation.layer()).map_err(nn)?;
            }
            width = size;
        }
        model.add(Linear::new(width, classes, &mut rng)).map_err(nn)?;
        Ok(model)
    }
}

/// The lab's settings. `LabConfig::default()` is the full lab (about two minutes on two
/// cores); [`LabConfig::quick`] a small grid on a few thousand images, for tests.
///
/// Every configuration is trained with the same optimizer (plain SGD, as the lesson's
/// `w ← w − lr · ∂L/∂w`), learning rate, batch size, epochs and seed.
#[derive(Clone, Debug, PartialEq)]
pub struct LabConfig {
    /// An MNIST-style directory (the four IDX files, gzip'd or raw).
    pub data: PathBuf,
    /// Where REPORT.md, results.json and the figures go (created if needed).
    pub out: PathBuf,
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per minibatch.
    pub batch_size: usize,
    /// SGD's learning rate.
    pub learning_rate: f32,
    /// Hidden layer sizes: a 2-layer net uses the first, a 3-layer net the first two.
    pub hidden: Vec<usize>,
    /// Numbers of `Linear` layers to try (1 is softmax regression).
    pub depths: Vec<usize>,
    /// Activations to try between layers.
    pub activations: Vec<Activation>,
    /// Also train ten one-vs-all logistic classifiers against softmax regression.
    pub one_vs_all: bool,
    /// Seed of the split, the initialization and the batch order.
    pub seed: u64,
    /// Fraction of the training images held out for validation (0.2: 48,000 / 12,000).
    pub validation_fraction: f64,
    /// Use a seeded, stratified sample of this many training images (all when `None`).
    pub train_images: Option<usize>,
    /// Use a seeded, stratified sample of this many test images (all when `None`).
    pub test_images: Option<usize>,
    /// Threads (every core when `None`).
    pub threads: Option<usize>,
    /// Show progress on the terminal (a bar), or one line per configuration elsewhere.
    pub progress: bool,
    /// How many misclassified test digits the PNG grid shows.
    pub misclassified_shown: usize,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from("datasets/mnist"),
            out: PathBuf::from("lab-report"),
            epochs: 15,
            batch_size: 64,
            learning_rate: 0.1,
            hidden: vec![256, 128],
            depths: vec![1, 2, 3],
            activations: Activation::ALL.to_vec(),
            one_vs_all: true,
            seed: 0,
            validation_fraction: 0.2,
            train_images: None,
            test_images: None,
            threads: None,
            progress: true,
            misclassified_shown: 40,
        }
    }
}

impl LabConfig {
    /// A lab that runs in seconds: 3,000 training images (2,400 / 600), 1,000 test images,
    /// hidden layers of 32, Sigmoid and ReLU only, 3 epochs.
    pub fn quick() -> Self {
        Self {
            epochs: 3,
            batch_size: 32,
            hidden: vec![32, 32],
            activations: vec![Activation::Sigmoid, Activation::ReLU],
            train_images: Some(3000),
            test_images: Some(1000),
            misclassified_shown: 20,
            ..Self::default()
        }
    }

    /// The configurations to train, in order: each depth with each activation (depth 1
    /// once, without one), then one-vs-all if asked.
    pub fn grid(&self) -> Vec<Configuration> {
        let mut grid = Vec::new();
        for &depth in &self.depths {
            if depth == 1 {
                grid.push(Configuration { depth, activation: None, classifier: Classifier::Softmax });
            } else {
                grid.extend(self.activations.iter().map(|&a| Configuration {
                    depth,
                    activation: Some(a),
                    classifier: Classifier::Softmax,
                }));
            }
        }
        if self.one_vs_all {
            grid.push(Configuration { depth: 1, activation: None, classifier: Classifier::OneVsAll });
        }
        grid
    }

    /// Checks the settings before anything runs.
    ///
    /// # Errors
    /// [`LabError::Config`] naming the setting.
    pub fn check(&self) -> Result<(), LabError> {
        let fail = |message: String| Err(LabError::Config(message));
        if self.epochs == 0 || self.batch_size == 0 {
            return fail("epochs and batch size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return fail(format!("the learning rate must be positive, got {}", self.learning_rate));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return fail(format!(
                "the validation fraction must be in (0, 1), got {}",
                self.validation_fraction
            ));
        }
        if self.depths.is_empty() || self.depths.contains(&0) {
            return fail(format!("depths must be at least 1, got {:?}", self.depths));
        }
        let deepest = self.depths.iter().max().copied().unwrap_or(1);
        if self.hidden.len() + 1 < deepest {
            return fail(format!(
                "a {deepest}-layer net needs {} hidden sizes, but {:?} has {}",
                deepest - 1,
                self.hidden,
                self.hidden.len()
            ));
        }
        if self.hidden.contains(&0) {
            return fail(format!("hidden sizes must be at least 1, got {:?}", self.hidden));
        }
        if deepest > 1 && self.activations.is_empty() {
            return fail("a depth above 1 needs at least one activation".into());
        }
        if self.train_images.is_some_and(|n| n < 20) || self.test_images == Some(0) {
            return fail("use at least 20 training images and 1 test image".into());
        }
        Ok(())
    }
}
