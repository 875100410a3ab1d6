//! The errors of percept-nn: wiring and shape mistakes that a user can make at run time.

/// What went wrong building or running a model or a loss. Every variant names the layer (index
/// and type) or the loss, and both shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// Two neighbouring layers do not chain.
    #[error("layer {index} ({layer}) expects {expected} input features, but {previous} gives {got}")]
    LayerSizeMismatch {
        /// Index of the layer that does not fit.
        index: usize,
        /// Its type name.
        layer: String,
        /// Features it expects.
        expected: usize,
        /// Features it would receive.
        got: usize,
        /// What feeds it (`"layer 1 (ReLU)"`).
        previous: String,
    },
    /// The batch handed to a model has the wrong number of features.
    #[error("the input has shape [{rows}, {cols}], but layer {index} ({layer}) expects [batch, {expected}]")]
    InputShape {
        /// Index of the layer that received it.
        index: usize,
        /// Its type name.
        layer: String,
        /// Features expected.
        expected: usize,
        /// Rows of the input.
        rows: usize,
        /// Columns of the input.
        cols: usize,
    },
    /// The gradient handed to `backward` does not match the output of the last forward pass.
    #[error(
        "backward got an output gradient of shape {got:?}, but the last forward pass produced {expected:?} \
         (the output of layer {index}, {layer})"
    )]
    OutputGradShape {
        /// Index of the model's last layer.
        index: usize,
        /// Its type.
        layer: String,
        /// Shape of the last forward output.
        expected: [usize; 2],
        /// Shape of the gradient.
        got: [usize; 2],
    },
    /// A layer defined outside percept has no specification to save.
    #[error("layer {index} ({layer}) is not one of percept's layers and cannot be saved in a checkpoint")]
    NoSpec {
        /// Index of the layer.
        index: usize,
        /// Its type.
        layer: String,
    },
    /// A batch in sparse form was handed to a model whose first layer takes only dense input.
    #[error("the input is sparse, but layer 0 ({layer}) takes only dense input")]
    DenseInputOnly {
        /// The first layer's type (or "an empty model").
        layer: String,
    },
    /// `backward` was called with no forward pass before it.
    #[error("backward was called before any forward pass")]
    BackwardBeforeForward,
    /// A training batch is smaller than a layer can learn from (a batch normalization needs
    /// at least 2 samples: one has no variance).
    #[error(
        "layer {index} ({layer}) needs at least {needed} samples per training batch, but the input has shape \
         [{rows}, {cols}] (with a data set that leaves a last batch this small, drop it: \
         `FitConfig::drop_last`)"
    )]
    TrainBatchTooSmall {
        /// Index of the layer.
        index: usize,
        /// Its type and settings.
        layer: String,
        /// Samples it needs.
        needed: usize,
        /// Rows of the input.
        rows: usize,
        /// Columns of the input.
        cols: usize,
    },
    /// A loss got targets that do not fit its prediction.
    #[error("{loss}: the prediction has shape {prediction:?}, but the targets have shape {targets:?}")]
    TargetShape {
        /// The loss's name.
        loss: &'static str,
        /// Shape of the prediction.
        prediction: [usize; 2],
        /// Shape of the targets (`[n, 1]` for class labels).
        targets: [usize; 2],
    },
    /// A class label is not a column of the prediction.
    #[error("{loss}: sample {sample} has class {class}, but the prediction has only {classes} columns")]
    ClassOutOfRange {
        /// The loss's name.
        loss: &'static str,
        /// Row of the batch.
        sample: usize,
        /// The label found.
        class: usize,
        /// Columns of the prediction.
        classes: usize,
    },
    /// A loss that needs class labels got values, or the other way round.
    #[error("{loss} needs {needs} as targets")]
    TargetKind {
        /// The loss's name.
        loss: &'static str,
        /// What it needs (`"class labels"`).
        needs: &'static str,
    },
}
