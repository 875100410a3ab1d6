//! Checkpoints: everything needed to continue a run exactly, in a versioned file that a crash
//! never leaves half-written.
//!
//! File layout: the 8 magic bytes `PRCPTCKP`, the format version (u32, little-endian), the
//! payload's length (u64) and CRC-32 (u32), then the payload: a [`Checkpoint`] encoded with
//! bincode 2 (serde, standard configuration).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use percept_data::BatchOrderState;
use percept_nn::{Buffer, LayerSpec, Parameters, Sequential};
use percept_optim::{OptimizerState, Scheduler};
use serde::{Deserialize, Serialize};

use crate::EpochRecord;

/// The first bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"PRCPTCKP";

/// The format version this build writes; it reads this version and every earlier one.
///
/// Version 2 added [`Checkpoint::class_names`]; version 3 added [`Checkpoint::metadata`].
pub const CHECKPOINT_VERSION: u32 = 3;

const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// A saved run: the model (architecture, parameters, buffers), the optimizer's and the
/// schedule's state, the epoch, the batch order's state and the history so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
    /// Every parameter, in visiting order.
    pub parameters: Vec<SavedTensor>,
    /// Every buffer (running statistics, dropout generators), in visiting order.
    pub buffers: Vec<SavedBuffer>,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
    /// The schedule's state, if the run has one.
    pub scheduler: Option<Scheduler>,
    /// Epochs completed.
    pub epoch: usize,
    /// The shuffling state of the training batches.
    pub batch_order: Option<SavedOrder>,
    /// The epochs so far.
    pub history: Vec<SavedEpoch>,
    /// What each output class stands for, when the training data named its classes (a CSV
    /// file's label texts, [`percept_data::CsvData::class_names`]): `class_names[c]` is
    /// output `c`. Set with [`crate::Trainer::class_names`]; `None` in checkpoints of
    /// version 1.
    pub class_names: Option<Vec<String>>,
    /// Free-form facts about the run, for whoever loads the model: the data set's name
    /// (`"dataset"`), the recipe it was trained from (`"recipe"`), its test accuracy
    /// (`"test_accuracy"`), … Set with [`crate::Trainer::metadata`]; empty in checkpoints of
    /// versions 1 and 2.
    pub metadata: BTreeMap<String, String>,
}

/// The payload of a version 2 checkpoint: [`Checkpoint`] without its metadata.
#[derive(Deserialize)]
struct CheckpointV2 {
    layers: Vec<LayerSpec>,
    parameters: Vec<SavedTensor>,
    buffers: Vec<SavedBuffer>,
    optimizer: OptimizerState,
    scheduler: Option<Scheduler>,
    epoch: usize,
    batch_order: Option<SavedOrder>,
    history: Vec<SavedEpoch>,
    class_names: Option<Vec<String>>,
}

impl From<CheckpointV2> for Checkpoint {
    fn from(v2: CheckpointV2) -> Self {
        let CheckpointV2 {
            layers,
            parameters,
            buffers,
            optimizer,
            scheduler,
            epoch,
            batch_order,
            history,
            class_names,
        } = v2;
        Self {
            layers,
            parameters,
            buffers,
            optimizer,
            scheduler,
            epoch,
            batch_order,
            history,
            class_names,
            metadata: BTreeMap::new(),
        }
    }
}

/// The payload of a version 1 checkpoint: [`Checkpoint`] without its class names. bincode
/// stores fields in order, without names, so each version's layout is decoded as it was.
#[derive(Deserialize)]
struct CheckpointV1 {
    layers: Vec<LayerSpec>,
    parameters: Vec<SavedTensor>,
    buffers: Vec<SavedBuffer>,
    optimizer: OptimizerState,
    scheduler: Option<Scheduler>,
    epoch: usize,
    batch_order: Option<SavedOrder>,
    history: Vec<SavedEpoch>,
}

impl From<CheckpointV1> for Checkpoint {
    fn from(v1: CheckpointV1) -> Self {
        let CheckpointV1 { layers, parameters, buffers, optimizer, scheduler, epoch, batch_order, history } =
            v1;
        Self {
            layers,
            parameters,
            buffers,
            optimizer,
            scheduler,
            epoch,
            batch_order,
            history,
            class_names: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// A parameter's values with its name and shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTensor {
    /// `"weight"`, `"bias"`, …
    pub name: String,
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// Row-major values.
    pub values: Vec<f32>,
}

/// A buffer's saved state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SavedBuffer {
    /// Values (running statistics).
    Values(Vec<f32>),
    /// A ChaCha8 generator: seed, stream, word position.
    Rng {
        /// Seed.
        seed: [u8; 32],
        /// Stream.
        stream: u64,
        /// Position in the stream.
        word_pos: u128,
    },
}

/// [`BatchOrderState`], serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedOrder {
    /// The current sample order.
    pub order: Vec<u64>,
    /// The generator's `(seed, stream, word position)`.
    pub rng: Option<([u8; 32], u64, u128)>,
}

/// [`EpochRecord`], serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedEpoch {
    /// The record's fields, in [`EpochRecord`]'s order.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f32,
    /// Training accuracy.
    pub train_accuracy: Option<f32>,
    /// Validation loss.
    pub validation_loss: Option<f32>,
    /// Validation accuracy.
    pub validation_accuracy: Option<f32>,
    /// Training seconds.
    pub train_seconds: f64,
    /// Learning rate.
    pub learning_rate: f32,
}

impl From<&EpochRecord> for SavedEpoch {
    fn from(r: &EpochRecord) -> Self {
        Self {
            epoch: r.epoch,
            train_loss: r.train_loss,
            train_accuracy: r.train_accuracy,
            validation_loss: r.validation_loss,
            validation_accuracy: r.validation_accuracy,
            train_seconds: r.train_seconds,
            learning_rate: r.learning_rate,
        }
    }
}

impl From<&SavedEpoch> for EpochRecord {
    fn from(r: &SavedEpoch) -> Self {
        Self {
            epoch: r.epoch,
            train_loss: r.train_loss,
            train_accuracy: r.train_accuracy,
            validation_loss: r.validation_loss,
            validation_accuracy: r.validation_accuracy,
            train_seconds: r.train_seconds,
            learning_rate: r.learning_rate,
        }
    }
}

impl From<&BatchOrderState> for SavedOrder {
    fn from(s: &BatchOrderState) -> Self {
        Self { order: s.order.iter().map(|&i| i as u64).collect(), rng: s.rng }
    }
}

impl SavedOrder {
    /// Back to a [`BatchOrderState`].
    pub fn to_state(&self) -> BatchOrderState {
        BatchOrderState { order: self.order.iter().map(|&i| i as usize).collect(), rng: self.rng }
    }
}

/// Why a checkpoint could not be written, read or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a percept checkpoint.
    #[error("{path}: not a percept checkpoint (no PRCPTCKP magic bytes)")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer percept.
    #[error("{path}: checkpoint format version {found} is newer than this percept reads ({supported})")]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The file ends before its declared length.
    #[error("{path}: truncated: {expected} bytes declared, {found} present")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header declares (header included).
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The payload is damaged (checksum or decoding failure).
    #[error("{path}: corrupt checkpoint: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The checkpoint does not fit the model it is loaded into.
    #[error("checkpoint does not fit the model: {0}")]
    Mismatch(String),
    /// The model cannot be saved (a layer defined outside percept) or rebuilt.
    #[error(transparent)]
    Nn(#[from] percept_nn::NnError),
}

impl Checkpoint {
    /// Captures the model's architecture, parameters and buffers; the caller fills in the
    /// run's state (optimizer, schedule, epoch, batch order, history).
    ///
    /// # Errors
    /// [`CheckpointError::Nn`] for a layer defined outside percept.
    pub fn of_model(model: &mut Sequential, optimizer: OptimizerState) -> Result<Self, CheckpointError> {
        let layers = model.specs()?;
        let mut parameters = Vec::new();
        model.visit_parameters(&mut |p| {
            parameters.push(SavedTensor {
                name: p.name.to_string(),
                shape: p.value.shape(),
                values: p.value.as_slice().to_vec(),
            });
        });
        let mut buffers = Vec::new();
        model.visit_buffers(&mut |b| match b {
            Buffer::Values { values, .. } => buffers.push(SavedBuffer::Values(values.clone())),
            Buffer::Rng { rng, .. } => buffers.push(SavedBuffer::Rng {
                seed: rng.get_seed(),
                stream: rng.get_stream(),
                word_pos: rng.get_word_pos(),
            }),
            _ => {}
        });
        Ok(Self {
            layers,
            parameters,
            buffers,
            optimizer,
            scheduler: None,
            epoch: 0,
            batch_order: None,
            history: Vec::new(),
            class_names: None,
            metadata: BTreeMap::new(),
        })
    }

    /// Rebuilds the model this checkpoint holds.
    ///
    /// # Errors
    /// [`CheckpointError`] if the saved layers do not chain or their parameters do not fit.
    pub fn model(&self) -> Result<Sequential, CheckpointError> {
        let mut model = Sequential::from_specs(&self.layers)?;
        self.load_into(&mut model)?;
        Ok(model)
    }

    /// Loads the parameters and buffers into `model`, checking every shape first; `model` is
    /// unchanged on error.
    ///
    /// # Errors
    /// [`CheckpointError::Mismatch`] naming the first parameter or buffer that does not fit.
    pub fn load_into(&self, model: &mut Sequential) -> Result<(), CheckpointError> {
        // A dropout layer's seed only starts its generator, whose state is a buffer below:
        // compare architectures without it.
        let architecture = |specs: &[LayerSpec]| -> Vec<LayerSpec> {
            specs
                .iter()
                .map(|s| match s {
                    LayerSpec::Dropout { p, .. } => LayerSpec::Dropout { p: *p, seed: 0 },
                    other => other.clone(),
                })
                .collect()
        };
        let specs = model.specs()?;
        if architecture(&specs) != architecture(&self.layers) {
            return Err(CheckpointError::Mismatch(format!(
                "the checkpoint's layers are {:?}, the model's {:?}",
                self.layers, specs
            )));
        }
        let mut problem = None;
        let mut index = 0;
        model.visit_parameters(&mut |p| {
            match self.parameters.get(index) {
                Some(saved) if saved.shape == p.value.shape() && saved.values.len() == p.value.len() => {}
                Some(saved) if problem.is_none() => {
                    problem = Some(format!(
                        "parameter {index} ({}) is {:?} in the model but {:?} in the checkpoint",
                        p.name,
                        p.value.shape(),
                        saved.shape
                    ));
                }
                None if problem.is_none() => {
                    problem = Some(format!("parameter {index} ({}) is missing", p.name))
                }
                _ => {}
            }
            index += 1;
        });
        if problem.is_none() && index != self.parameters.len() {
            problem =
                Some(format!("the model has {index} parameters, the checkpoint {}", self.parameters.len()));
        }
        let mut buffer_index = 0;
        model.visit_buffers(&mut |b| {
            let fits = match (&b, self.buffers.get(buffer_index)) {
                (Buffer::Values { values, .. }, Some(SavedBuffer::Values(saved))) => {
                    values.len() == saved.len()
                }
                (Buffer::Rng { .. }, Some(SavedBuffer::Rng { .. })) => true,
                _ => false,
            };
            if !fits && problem.is_none() {
                problem = Some(format!("buffer {buffer_index} does not fit"));
            }
            buffer_index += 1;
        });
        if let Some(problem) = problem {
            return Err(CheckpointError::Mismatch(problem));
        }
        let mut saved = self.parameters.iter();
        model.visit_parameters(&mut |p| {
            if let Some(t) = saved.next() {
                p.value.as_mut_slice().copy_from_slice(&t.values);
            }
        });
        let mut saved = self.buffers.iter();
        model.visit_buffers(&mut |b| match (b, saved.next()) {
            (Buffer::Values { values, .. }, Some(SavedBuffer::Values(v))) => values.copy_from_slice(v),
            (Buffer::Rng { rng, .. }, Some(SavedBuffer::Rng { seed, stream, word_pos })) => {
                use rand::SeedableRng;
                let mut restored = percept_nn::Rng::from_seed(*seed);
                restored.set_stream(*stream);
                restored.set_word_pos(*word_pos);
                *rng = restored;
            }
            _ => {}
        });
        Ok(())
    }

    /// Writes the checkpoint to `path`: first to `path.tmp`, flushed to disk, then renamed
    /// over `path`, so a crash at any moment leaves either the previous file or the new one.
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`] (this format version or an earlier
    /// one).
    ///
    /// # Errors
    /// [`CheckpointError`] naming the file: missing or unreadable, foreign, newer version,
    /// truncated, or corrupt.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses checkpoint bytes; `path` names them in errors.
    ///
    /// # Errors
    /// As [`Checkpoint::load`].
    pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref().to_path_buf();
        if bytes.len() < 8 || bytes[..8] != CHECKPOINT_MAGIC {
            return Err(CheckpointError::Foreign { path });
        }
        if bytes.len() < HEADER_LEN {
            return Err(CheckpointError::Truncated {
                path,
                expected: HEADER_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version > CHECKPOINT_VERSION {
            return Err(CheckpointError::NewerVersion {
                path,
                found: version,
                supported: CHECKPOINT_VERSION,
            });
        }
        let length = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER_LEN..];
        if (payload.len() as u64) < length {
            return Err(CheckpointError::Truncated {
                path,
                expected: HEADER_LEN as u64 + length,
                found: bytes.len() as u64,
            });
        }
        if payload.len() as u64 > length {
            return Err(CheckpointError::Corrupt {
                path,
                reason: format!("{} bytes after the declared end", payload.len() as u64 - length),
            });
        }
        if crc32fast::hash(payload) != crc {
            return Err(CheckpointError::Corrupt { path, reason: "checksum mismatch".into() });
        }
        let corrupt = |e: bincode::error::DecodeError| CheckpointError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        };
        let (checkpoint, read) = if version == 1 {
            let (v1, read): (CheckpointV1, usize) =
                bincode::serde::decode_from_slice(payload, bincode::config::standard()).map_err(corrupt)?;
            (Self::from(v1), read)
        } else if version == 2 {
            let (v2, read): (CheckpointV2, usize) =
                bincode::serde::decode_from_slice(payload, bincode::config::standard()).map_err(corrupt)?;
            (Self::from(v2), read)
        } else {
            bincode::serde::decode_from_slice(payload, bincode::config::standard()).map_err(corrupt)?
        };
        if read != payload.len() {
            return Err(CheckpointError::Corrupt { path, reason: "payload longer than its contents".into() });
        }
        Ok(checkpoint)
    }
}
