//! A model to a file and back in one call each: `model.save(path)`, `Sequential::load(path)`.

use std::path::Path;

use percept_nn::Sequential;
use percept_optim::OptimizerState;

use crate::{Checkpoint, CheckpointError};

/// Saving and loading a [`Sequential`] in one call each (Keras' `model.save` and
/// `load_model`): the file is a [`Checkpoint`] holding the model alone (architecture,
/// parameters, buffers), without any optimizer state. To continue a training run later,
/// save the whole run's state instead ([`crate::Trainer::checkpoint_every_epoch`]);
/// [`SaveLoad::load`] reads the model out of such files too.
///
/// ```
/// use percept_nn::{Linear, ReLU, Sequential, seeded_rng};
/// use percept_train::SaveLoad;
/// use percept_linalg::Matrix;
///
/// let mut rng = seeded_rng(0);
/// let mut model = Sequential::new();
/// model.add(Linear::new(4, 8, &mut rng))?.add(ReLU)?.add(Linear::new(8, 3, &mut rng))?;
/// let path = std::env::temp_dir().join(format!("percept-doc-{}.ckpt", std::process::id()));
/// model.save(&path)?;
/// let mut loaded = Sequential::load(&path)?;
/// let x = Matrix::filled(2, 4, 0.5);
/// assert_eq!(loaded.predict(&x)?, model.predict(&x)?);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SaveLoad: Sized {
    /// Writes the model to `path` (as [`Checkpoint::save`] writes: a crash never leaves a
    /// half-written file).
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the file; [`CheckpointError::Nn`] for a layer defined
    /// outside percept, which cannot be rebuilt from a file.
    fn save(&mut self, path: impl AsRef<Path>) -> Result<(), CheckpointError>;

    /// Reads a model saved by [`SaveLoad::save`], or the model of any checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the file: missing, foreign, truncated, corrupt or from a
    /// newer percept.
    fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError>;
}

impl SaveLoad for Sequential {
    fn save(&mut self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let no_optimizer =
            OptimizerState { rule: String::new(), learning_rate: 0.0, steps: 0, buffers: Vec::new() };
        Checkpoint::of_model(self, no_optimizer)?.save(path)
    }

    fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        Checkpoint::load(path)?.model()
    }
}
