//! The model behind the server: a few copies of it, each used by one request at a time, and
//! what `GET /model` says about it.
//!
//! [`Sequential::forward`] takes `&mut self` (it keeps its activations in buffers it reuses),
//! so requests cannot share one model freely. One model behind a `Mutex` would make every
//! prediction wait for the one before it; instead the pool holds one copy per worker
//! (`ServeConfig::workers`, the number of cores by default): an MNIST MLP is a few hundred
//! kilobytes, and that many predictions can then run at once, each on its own blocking
//! thread, without contending for anything but the pool's lock for a moment.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use percept_linalg::{Matrix, softmax_row};
use percept_nn::{Mode, Sequential};
use percept_train::Checkpoint;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::ServeError;

/// Copies of the model, and a permit per copy.
pub(crate) struct ModelPool {
    checkpoint: Checkpoint,
    models: Mutex<Vec<Sequential>>,
    permits: Arc<Semaphore>,
}

impl ModelPool {
    /// `workers` copies of the checkpoint's model.
    pub(crate) fn new(checkpoint: Checkpoint, workers: usize) -> Result<Self, ServeError> {
        let workers = workers.max(1);
        let models = (0..workers)
            .map(|_| checkpoint.model().map_err(|e| ServeError::Model(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { checkpoint, models: Mutex::new(models), permits: Arc::new(Semaphore::new(workers)) })
    }

    /// Runs `work` with a model of its own on a blocking thread (off the I/O threads),
    /// waiting for a free copy first. A panic in `work` becomes [`ServeError::Internal`], and
    /// the copy it had is replaced by a fresh one from the checkpoint.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Sequential) -> Result<T, ServeError> + Send + 'static,
    ) -> Result<T, ServeError> {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|e| ServeError::Internal(e.to_string()))?;
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            // The permit is held until the model is back in the pool, even if the request
            // that waits for this task has gone away.
            let _permit = permit;
            let mut model = pool.lock().pop().expect("a permit guarantees a free model");
            let result = catch_unwind(AssertUnwindSafe(|| work(&mut model)));
            let result = match result {
                Ok(result) => result,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_string());
                    if let Ok(fresh) = pool.checkpoint.model() {
                        model = fresh;
                    }
                    Err(ServeError::Internal(message))
                }
            };
            pool.lock().push(model);
            result
        });
        task.await.map_err(|e| ServeError::Internal(e.to_string()))?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sequential>> {
        // A panic while the lock is held cannot leave the vector half-changed (push and pop
        // only), so a poisoned lock is still good.
        self.models.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How the model's outputs become probabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outputs {
    /// Scores (logits): softmax them.
    Logits,
    /// The model ends in `Softmax`.
    Probabilities,
    /// The model ends in `LogSoftmax`: exponentiate.
    LogProbabilities,
}

/// What the server knows of its model, built once at start-up.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ModelInfo {
    /// Each layer: its description, output width and parameter count.
    pub layers: Vec<LayerInfo>,
    /// All parameters.
    pub parameters: usize,
    /// Input features.
    pub inputs: usize,
    /// Side of the square image the model takes, if its inputs are a square number.
    pub image_side: Option<usize>,
    /// Output classes.
    pub outputs: usize,
    /// `metadata["dataset"]`, if the checkpoint recorded it.
    pub dataset: Option<String>,
    /// The name of each class (its number when the checkpoint names none).
    pub class_names: Vec<String>,
    /// Whether the checkpoint named the classes.
    pub named_classes: bool,
    /// Accuracies recorded in the checkpoint, by what they were measured on.
    pub accuracy: BTreeMap<String, f32>,
    /// Epochs trained.
    pub epochs: usize,
    /// The checkpoint's metadata, as saved.
    pub metadata: BTreeMap<String, String>,
    #[serde(skip)]
    pub(crate) outputs_are: Outputs,
}

/// One layer in [`ModelInfo`].
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LayerInfo {
    pub layer: String,
    pub output: Option<usize>,
    pub parameters: usize,
}

impl ModelInfo {
    pub(crate) fn of(checkpoint: &Checkpoint) -> Result<Self, ServeError> {
        let model = checkpoint.model().map_err(|e| ServeError::Model(e.to_string()))?;
        let (Some(inputs), Some(outputs)) = (model.in_features(), model.out_features()) else {
            return Err(ServeError::Model("the model has no layer with a fixed input width".into()));
        };
        if outputs < 2 {
            return Err(ServeError::Model(format!(
                "the model has {outputs} output: percept serve serves classifiers (2 or more outputs)"
            )));
        }
        let mut width = Some(inputs);
        let layers = model
            .layers()
            .iter()
            .map(|layer| {
                width = width.map(|n| layer.out_features(n));
                LayerInfo { layer: layer.describe(), output: width, parameters: layer.num_parameters() }
            })
            .collect();
        let outputs_are = match model.layers().last().map(|layer| layer.name()) {
            Some("Softmax") => Outputs::Probabilities,
            Some("LogSoftmax") => Outputs::LogProbabilities,
            _ => Outputs::Logits,
        };
        let names = checkpoint.class_names.clone().filter(|names| names.len() == outputs);
        let named_classes = names.is_some();
        let class_names = names.unwrap_or_else(|| (0..outputs).map(|c| c.to_string()).collect());
        // The accuracies the checkpoint holds: the last epoch's on the validation data, and
        // any the run recorded in its metadata (`test_accuracy`, …).
        let mut accuracy = BTreeMap::new();
        if let Some(value) = checkpoint.history.last().and_then(|epoch| epoch.validation_accuracy) {
            accuracy.insert("validation".to_string(), value);
        }
        for (key, value) in &checkpoint.metadata {
            if let (Some(on), Ok(value)) = (key.strip_suffix("_accuracy"), value.parse::<f32>()) {
                accuracy.insert(on.to_string(), value);
            }
        }
        let side = inputs.isqrt();
        Ok(Self {
            layers,
            parameters: model.num_parameters(),
            inputs,
            image_side: (side * side == inputs).then_some(side),
            outputs,
            dataset: checkpoint.metadata.get("dataset").cloned(),
            class_names,
            named_classes,
            accuracy,
            epochs: checkpoint.epoch,
            metadata: checkpoint.metadata.clone(),
            outputs_are,
        })
    }
}

/// One image's prediction.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Guess {
    pub class: usize,
    pub label: String,
    pub probabilities: Vec<f32>,
}

/// The model's guess for each row of `images`.
///
/// # Shapes
/// `images`: `[batch, inputs]`; one [`Guess`] per row.
pub(crate) fn classify(
    model: &mut Sequential,
    images: &Matrix,
    info: &ModelInfo,
) -> Result<Vec<Guess>, ServeError> {
    let output = model.forward(images, Mode::Eval).map_err(|e| ServeError::Internal(e.to_string()))?;
    let mut guesses = Vec::with_capacity(output.rows());
    for row in output.row_iter() {
        let mut probabilities = vec![0.0; row.len()];
        match info.outputs_are {
            Outputs::Logits => softmax_row(&mut probabilities, row),
            Outputs::Probabilities => probabilities.copy_from_slice(row),
            Outputs::LogProbabilities => probabilities.iter_mut().zip(row).for_each(|(p, &v)| *p = v.exp()),
        }
        if probabilities.iter().any(|p| !p.is_finite()) {
            return Err(ServeError::Internal("the model's outputs are not finite numbers".into()));
        }
        let class = percept_linalg::argmax(&probabilities);
        guesses.push(Guess { class, label: info.class_names[class].clone(), probabilities });
    }
    Ok(guesses)
}

#[cfg(test)]
mod tests {
    use percept_nn::{Linear, ReLU, Softmax, seeded_rng};
    use percept_optim::{Optimizer, Sgd};

    use super::*;

    fn checkpoint(softmax: bool, outputs: usize) -> Checkpoint {
        let mut rng = seeded_rng(1);
        let mut model = Sequential::new();
        model
            .add(Linear::new(4, 3, &mut rng))
            .unwrap()
            .add(ReLU)
            .unwrap()
            .add(Linear::new(3, outputs, &mut rng))
            .unwrap();
        if softmax {
            model.add(Softmax).unwrap();
        }
        let state = Optimizer::new(Sgd::new(0.1)).state();
        Checkpoint::of_model(&mut model, state).unwrap()
    }

    #[test]
    fn a_panic_in_a_job_is_an_error_and_the_pool_keeps_its_models() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let pool = Arc::new(ModelPool::new(checkpoint(false, 2), 2).unwrap());
        runtime.block_on(async {
            for _ in 0..3 {
                let error =
                    pool.run(|_model| -> Result<(), ServeError> { panic!("boom") }).await.unwrap_err();
                assert_eq!(error.to_string(), "internal error: boom");
            }
            // Both copies are back, and work.
            assert_eq!(pool.lock().len(), 2);
            let width = pool.run(|model| Ok(model.in_features())).await.unwrap();
            assert_eq!(width, Some(4));
        });
    }

    #[test]
    fn model_info_describes_layers_classes_and_outputs() {
        let mut saved = checkpoint(true, 3);
        saved.class_names = Some(vec!["a".into(), "b".into(), "c".into()]);
        saved.metadata.insert("dataset".into(), "letters.csv".into());
        saved.metadata.insert("test_accuracy".into(), "0.75".into());
        let info = ModelInfo::of(&saved).unwrap();
        assert_eq!(
            (info.inputs, info.outputs, info.image_side, info.parameters),
            (4, 3, Some(2), 4 * 3 + 3 + 3 * 3 + 3)
        );
        assert_eq!(
            info.layers.iter().map(|l| l.layer.as_str()).collect::<Vec<_>>()[..2],
            ["Linear(4 → 3)", "ReLU"]
        );
        assert_eq!((info.dataset.as_deref(), info.accuracy.get("test")), (Some("letters.csv"), Some(&0.75)));
        assert_eq!(info.outputs_are, Outputs::Probabilities);
        // Probabilities from a softmax layer are taken as they are.
        let mut model = saved.model().unwrap();
        let guesses =
            classify(&mut model, &Matrix::from_vec(1, 4, vec![0.5, -1.0, 2.0, 0.0]), &info).unwrap();
        assert!((guesses[0].probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(guesses[0].label, info.class_names[guesses[0].class]);

        let error = ModelInfo::of(&checkpoint(false, 1)).unwrap_err();
        assert!(error.to_string().contains("serves classifiers"), "{error}");
    }
}
