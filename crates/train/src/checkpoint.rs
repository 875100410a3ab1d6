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

/// The most bytes of text (names, class names, metadata) a checkpoint may hold in all.
///
/// bincode allocates a text's declared length before reading it (`vec![0; len]`), so a
/// file with a valid checksum that declares a name of 2⁴⁰ bytes would abort the reader;
/// with this limit such a file is refused as corrupt. Numbers (parameters, buffers) are not
/// counted: serde's sequences grow as they are read, and never allocate what a length
/// merely declares.
const MAX_TEXT_BYTES: usize = 256 << 20;

/// How payloads are decoded: bincode's standard configuration, texts limited.
const DECODING: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_TEXT_BYTES>,
> = bincode::config::standard().with_limit::<MAX_TEXT_BYTES>();

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
    /// The checkpoint's contents contradict each other (its layers declare more values than
    /// it holds, say): it was not written by [`Checkpoint::save`].
    #[error("invalid checkpoint: {0}")]
    Invalid(String),
}

/// A name for a temporary file beside `path`, unique to this process and call.
fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// Writes `bytes` to a new file at `path` and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes the folder holding `path` to disk, so that a rename into it survives a power
/// cut (a file's own `fsync` does not cover its directory entry). Where the system does not
/// allow a folder to be flushed, nothing is done.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let result = std::fs::File::open(folder).and_then(|dir| dir.sync_all());
        if let Err(error) = result
            && !matches!(error.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported)
        {
            return Err(error);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Checkpoint {
    /// Checks what the layers declare against what the checkpoint holds, before a model is
    /// built from them: building allocates what the layers declare (a `Linear` of 2⁶² inputs
    /// would ask for exabytes), while the saved values were all read from the file. A layer
    /// may hold no more values than the checkpoint stores for all of them, and a dropout
    /// probability must be one [`percept_nn::Dropout`] accepts.
    fn check_layers(&self) -> Result<(), String> {
        let stored = self.parameters.iter().map(|t| t.values.len()).fold(0usize, usize::saturating_add);
        let buffered = self
            .buffers
            .iter()
            .map(|b| match b {
                SavedBuffer::Values(values) => values.len(),
                SavedBuffer::Rng { .. } => 0,
            })
            .fold(0usize, usize::saturating_add);
        let stored = stored.saturating_add(buffered);
        let mut declared = 0usize;
        for (index, spec) in self.layers.iter().enumerate() {
            match spec.stored_values().and_then(|values| declared.checked_add(values)) {
                Some(total) if total <= stored => declared = total,
                _ => {
                    return Err(format!(
                        "layer {index} ({spec:?}) declares more values than the {stored} the checkpoint \
                         holds for all its layers"
                    ));
                }
            }
            if let LayerSpec::Dropout { p, .. } = spec
                && !(0.0..1.0).contains(p)
            {
                return Err(format!("layer {index} (Dropout) has probability {p}, outside [0, 1)"));
            }
        }
        Ok(())
    }

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
    /// [`CheckpointError`] if the saved layers do not chain or their parameters do not fit,
    /// or [`CheckpointError::Invalid`] if the layers declare more values than the checkpoint
    /// holds (checked before anything is allocated).
    pub fn model(&self) -> Result<Sequential, CheckpointError> {
        self.check_layers().map_err(CheckpointError::Invalid)?;
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

    /// Writes the checkpoint to `path`: first to a temporary file beside it, named for this
    /// process and call (`path.<pid>-<n>.tmp`, so two runs saving to the same path never
    /// write or rename each other's file), flushed to disk, then renamed over `path`, and the
    /// folder flushed too; a crash at any moment leaves either the previous file or the new
    /// one. The temporary file is removed when a step fails.
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
        let temporary = temporary_path(path);
        let written = write_synced(&temporary, &bytes).and_then(|()| std::fs::rename(&temporary, path));
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(source));
        }
        sync_folder(path).map_err(io)
    }

    /// Checks that a checkpoint can be written to `path`, without touching a file already
    /// there: that it is not a folder and that a file can be created beside it (created and
    /// removed at once). [`crate::Trainer::fit`] calls it before the first epoch, so that a
    /// mistyped folder is reported before any training rather than after the first epoch.
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming `path`.
    pub fn check_writable(path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
        if path.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a folder, not a checkpoint file",
            )));
        }
        let temporary = temporary_path(path);
        std::fs::File::create(&temporary).map_err(io)?;
        std::fs::remove_file(&temporary).map_err(io)
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
                bincode::serde::decode_from_slice(payload, DECODING).map_err(corrupt)?;
            (Self::from(v1), read)
        } else if version == 2 {
            let (v2, read): (CheckpointV2, usize) =
                bincode::serde::decode_from_slice(payload, DECODING).map_err(corrupt)?;
            (Self::from(v2), read)
        } else {
            bincode::serde::decode_from_slice(payload, DECODING).map_err(corrupt)?
        };
        if read != payload.len() {
            return Err(CheckpointError::Corrupt { path, reason: "payload longer than its contents".into() });
        }
        checkpoint.check_layers().map_err(|reason| CheckpointError::Corrupt { path, reason })?;
        Ok(checkpoint)
    }
}
