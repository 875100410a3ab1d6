//! What a recipe file holds: one plain struct per TOML table, each key an argument of a
//! constructor the library already has (`Linear::with_init`, `Sgd`, `Adam`, `Schedule`, …),
//! so that a recipe reads like the Rust it stands for.
//!
//! Every struct denies unknown keys: a misspelt `learning_rat` is an error naming it and its
//! line, not a setting silently left at its default. Multi-word keys are written with
//! underscores (`validation_split`); the dashed spelling (`validation-split`) is accepted too.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the samples come from and how they are prepared (`[data]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRecipe {
    /// `"mnist"` (the bundled `datasets/mnist`), `"fashion-mnist"` (Debian's
    /// `dataset-fashion-mnist` package), `"lesson"` (the lesson's 100 two-dimensional points
    /// of two classes, the first 80 for training and the last 20 for testing), or a path: a
    /// directory of the four MNIST-style IDX files, or a CSV file.
    pub dataset: String,
    /// CSV only: the label column, a header name or a 0-based index (default: the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// CSV only: the label is a number to predict (regression) instead of a class.
    #[serde(default, skip_serializing_if = "is_false")]
    pub regression: bool,
    /// CSV only: a second file of the same columns, evaluated once at the end as the test
    /// set. (An IDX directory's test files always are.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Fraction of the training data held out for validation, stratified by class (default
    /// 0.1). Every choice a run makes (best epoch, early stopping, plateau schedules) is made
    /// on it, never on the test set. 0 trains on everything and keeps the last epoch.
    #[serde(default = "default_validation_split", alias = "validation-split")]
    pub validation_split: f64,
    /// `"none"` (default: images are scaled to `[0, 1]` as they are read) or `"standardize"`:
    /// a first `Normalization` layer fitted to the training set's feature means and
    /// variances, saved with the model.
    #[serde(default, skip_serializing_if = "is_default")]
    pub normalization: NormalizationKind,
    /// Random distortions of the training images, drawn afresh for every batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<AugmentationRecipe>,
}

/// How features are normalized before the first layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizationKind {
    /// As read (images in `[0, 1]`).
    #[default]
    None,
    /// Zero mean and unit variance per feature, as a first `Normalization` layer.
    Standardize,
}

/// `[data.augmentation]`: `percept_data::Augmentation`'s settings (square grey images only).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentationRecipe {
    /// Largest shift in pixels along each axis (default 2).
    #[serde(default = "default_shift", alias = "max-shift")]
    pub max_shift: f32,
    /// Largest rotation in degrees, either way (default 10).
    #[serde(default = "default_degrees", alias = "max-degrees")]
    pub max_degrees: f32,
    /// Simard et al.'s (2003) elastic distortion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic: Option<ElasticRecipe>,
}

/// Elastic distortion: random displacement fields smoothed by a Gaussian of standard
/// deviation `sigma` pixels, scaled by `alpha`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticRecipe {
    /// Scale of the displacements (Simard et al.: 34).
    pub alpha: f32,
    /// Smoothness in pixels (Simard et al.: 4).
    pub sigma: f32,
}

/// `[model]`: the layers, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRecipe {
    /// `[[model.layers]]` tables, first to last.
    pub layers: Vec<LayerRecipe>,
}

/// One layer of `[[model.layers]]`, chosen by its `type` key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerRecipe {
    /// `Linear`: `output = input · weight + bias`.
    Linear {
        /// Outputs (`out_features`).
        size: usize,
        /// Inputs, if you want it checked against the previous layer's outputs (they are
        /// inferred otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inputs: Option<usize>,
        /// Weight initializer (default `"pytorch"`, `nn.Linear`'s).
        #[serde(default, skip_serializing_if = "is_default")]
        init: InitKind,
    },
    /// `ReLU`.
    Relu,
    /// `LeakyReLU` with the given negative slope (default 0.01).
    LeakyRelu {
        /// Slope for negative inputs.
        #[serde(default = "default_leaky_slope")]
        slope: f32,
    },
    /// `ELU` with the given scale of the negative part (default 1).
    Elu {
        /// Scale of the negative part.
        #[serde(default = "one")]
        alpha: f32,
    },
    /// `GELU`, erf form (or the tanh approximation with `tanh = true`).
    Gelu {
        /// Use the tanh approximation.
        #[serde(default, skip_serializing_if = "is_false")]
        tanh: bool,
    },
    /// `Sigmoid`.
    Sigmoid,
    /// `Tanh`.
    Tanh,
    /// `Softplus` (PyTorch's defaults: beta 1, threshold 20).
    Softplus {
        /// Sharpness.
        #[serde(default = "one")]
        beta: f32,
        /// Start of the linear region.
        #[serde(default = "default_softplus_threshold")]
        threshold: f32,
    },
    /// `SiLU` (swish).
    Silu,
    /// `Softmax` as the last layer, as the lesson builds its classifier: the cross-entropy
    /// loss then takes probabilities (the lesson's `CrossEntropyLoss`) instead of logits.
    Softmax,
    /// `LogSoftmax` as the last layer: the cross-entropy loss then takes log-probabilities
    /// (`nn.NLLLoss`).
    LogSoftmax,
    /// `Dropout` with drop probability `p` in `[0, 1)`; its masks are seeded from the run's
    /// seed and the layer's position.
    Dropout {
        /// Drop probability.
        p: f32,
    },
    /// `BatchNorm1d` over the previous layer's outputs.
    BatchNorm {
        /// Added to the variance (1e-5).
        #[serde(default = "default_norm_eps")]
        eps: f32,
        /// Weight of a new batch in the running statistics (0.1).
        #[serde(default = "default_batch_norm_momentum")]
        momentum: f32,
    },
    /// `LayerNorm` over the previous layer's outputs.
    LayerNorm {
        /// Added to the variance (1e-5).
        #[serde(default = "default_norm_eps")]
        eps: f32,
    },
}

/// A `Linear` layer's weight initializer (the bias starts at zero, except for `"pytorch"`,
/// which draws it as `nn.Linear` does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// `nn.Linear`'s default: uniform on `±1/√fan_in`, bias too.
    #[default]
    Pytorch,
    /// He et al. (2015), uniform, with ReLU's gain √2.
    KaimingUniform,
    /// He et al. (2015), normal, with ReLU's gain √2.
    KaimingNormal,
    /// Glorot and Bengio (2010), uniform, gain 1.
    XavierUniform,
    /// Glorot and Bengio (2010), normal, gain 1.
    XavierNormal,
    /// The lesson's `N(0, 1/√fan_in)`.
    Lesson,
}

/// `[loss]`, chosen by its `type` key (default: cross-entropy for classes, MSE for
/// regression).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossRecipe {
    /// Softmax and cross-entropy in one (`nn.CrossEntropyLoss`), on the model's logits.
    CrossEntropy {
        /// Weight ε moved from the true class to all classes evenly (0).
        #[serde(default, alias = "label-smoothing", skip_serializing_if = "is_zero")]
        label_smoothing: f32,
        /// One weight per class (PyTorch's `weight`), for unbalanced classes.
        #[serde(default, alias = "class-weights", skip_serializing_if = "Option::is_none")]
        class_weights: Option<Vec<f32>>,
    },
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber loss with threshold `delta` (1).
    Huber {
        /// Where the quadratic part ends.
        #[serde(default = "one")]
        delta: f32,
    },
}

/// `[optimizer]`: the update rule by its `type` key, and its settings with PyTorch's names and
/// defaults (a key that does not apply to the rule is an error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerRecipe {
    /// `"sgd"`, `"momentum"`, `"nesterov"`, `"adam"`, `"adamw"`, `"rmsprop"` or `"adagrad"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The learning rate (default 0.1 for the SGD family, 0.001 for the adaptive rules).
    #[serde(default, alias = "lr", alias = "learning-rate", skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f32>,
    /// Momentum factor (SGD family: 0.9 for `momentum` and `nesterov`; RMSprop: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f32>,
    /// Dampening of momentum (SGD family, 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dampening: Option<f32>,
    /// L2 penalty (decoupled for AdamW; 0, or 0.01 for AdamW).
    #[serde(default, alias = "weight-decay", skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
    /// Adam's and AdamW's moment decays (0.9, 0.999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betas: Option<[f32; 2]>,
    /// Added to denominators (1e-8; 1e-10 for Adagrad).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
    /// Adam's and AdamW's AMSGrad variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amsgrad: Option<bool>,
    /// RMSprop's smoothing constant (0.99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    /// RMSprop's centred variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centered: Option<bool>,
    /// Adagrad's learning-rate decay (0).
    #[serde(default, alias = "lr-decay", skip_serializing_if = "Option::is_none")]
    pub lr_decay: Option<f32>,
}

/// `[schedule]`: how the learning rate changes, by its `type` key, with warm-up before it.
/// Lengths are in epochs, or in batches with `every = "batch"`; a key that does not apply to
/// the schedule is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRecipe {
    /// `"constant"`, `"step"`, `"multistep"`, `"exponential"`, `"cosine"`, `"onecycle"` or
    /// `"plateau"` (on the validation loss).
    #[serde(rename = "type")]
    pub kind: String,
    /// `"epoch"` (default) or `"batch"`: when the schedule advances.
    #[serde(default, skip_serializing_if = "is_default")]
    pub every: StepEveryKind,
    /// Epochs of linear warm-up from `warmup_start_factor` of the rate (0). Always counted in
    /// epochs; applied per batch when `every = "batch"`.
    #[serde(default, alias = "warmup-epochs", skip_serializing_if = "is_zero_u64")]
    pub warmup_epochs: u64,
    /// Fraction of the rate the warm-up starts from (0.1).
    #[serde(default, alias = "warmup-start-factor", skip_serializing_if = "Option::is_none")]
    pub warmup_start_factor: Option<f32>,
    /// Cosine: the half period (default: the whole run after warm-up).
    #[serde(default, alias = "t-max", skip_serializing_if = "Option::is_none")]
    pub t_max: Option<u64>,
    /// Cosine: the lowest rate (0).
    #[serde(default, alias = "eta-min", skip_serializing_if = "Option::is_none")]
    pub eta_min: Option<f32>,
    /// Step: steps between decays.
    #[serde(default, alias = "step-size", skip_serializing_if = "Option::is_none")]
    pub step_size: Option<u64>,
    /// Step, multistep, exponential: the decay factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f32>,
    /// Multistep: the steps at which the rate decays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestones: Option<Vec<u64>>,
    /// One-cycle: the peak rate (default: the optimizer's rate).
    #[serde(default, alias = "max-lr", skip_serializing_if = "Option::is_none")]
    pub max_lr: Option<f32>,
    /// One-cycle: the fraction of the cycle spent rising (0.3).
    #[serde(default, alias = "pct-start", skip_serializing_if = "Option::is_none")]
    pub pct_start: Option<f32>,
    /// Plateau: factor applied to the rate (0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f32>,
    /// Plateau: steps without improvement tolerated (10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<u64>,
    /// Plateau: the lowest rate (0).
    #[serde(default, alias = "min-lr", skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f32>,
}

/// When a schedule advances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEveryKind {
    /// After each epoch.
    #[default]
    Epoch,
    /// After each batch.
    Batch,
}

/// `[training]`: the loop's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRecipe {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per minibatch (64).
    #[serde(default = "default_batch_size", alias = "batch", alias = "batch-size")]
    pub batch_size: usize,
    /// Seed of the initialization, the split, the shuffling, dropout and augmentation (0).
    #[serde(default)]
    pub seed: u64,
    /// Threads (default: every core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Rescale the gradients so that their global L2 norm is at most this, before each step.
    #[serde(default, alias = "clip-grad-norm", skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f32>,
    /// Clamp every gradient value to `±clip_grad_value` before each step.
    #[serde(default, alias = "clip-grad-value", skip_serializing_if = "Option::is_none")]
    pub clip_grad_value: Option<f32>,
    /// The validation figure that chooses the epoch whose weights are kept, and that early
    /// stopping watches: `"validation_loss"` (default) or `"validation_accuracy"`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub monitor: MonitorKind,
    /// Stop after this many epochs without a better monitored figure.
    #[serde(default, alias = "early-stopping", skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
}

/// The validation figure a run watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    /// Lower is better.
    #[default]
    ValidationLoss,
    /// Higher is better.
    ValidationAccuracy,
}

/// `[output]`: what a run writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRecipe {
    /// Folder for everything below (default `runs/<name of the recipe file>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The checkpoint (default `<dir>/model.ckpt`): written after every epoch while training,
    /// then once more with the chosen epoch's weights and the test accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// SVG plots of the training curves (`curves.svg`) and of the largest weight of each
    /// layer per epoch (`weights.svg`), in `dir` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plots: Option<bool>,
    /// The history as `history.csv` and `history.json` in `dir` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<bool>,
}

fn default_validation_split() -> f64 {
    0.1
}
fn default_shift() -> f32 {
    2.0
}
fn default_degrees() -> f32 {
    10.0
}
fn default_leaky_slope() -> f32 {
    0.01
}
fn one() -> f32 {
    1.0
}
fn default_softplus_threshold() -> f32 {
    20.0
}
fn default_norm_eps() -> f32 {
    1e-5
}
fn default_batch_norm_momentum() -> f32 {
    0.1
}
fn default_batch_size() -> usize {
    64
}
fn is_false(value: &bool) -> bool {
    !*value
}
fn is_zero(value: &f32) -> bool {
    *value == 0.0
}
fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
