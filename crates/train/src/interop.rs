//! safetensors files with PyTorch `state_dict` names, so that
//! `model.load_state_dict(safetensors.torch.load_file(path))` works on the equivalent
//! `torch.nn.Sequential`, and back.
//!
//! Names follow `nn.Sequential`: `"{index}.{name}"` with the layer's index in the model
//! (activations count, as they do in PyTorch). A `Linear` weight is stored `[out, in]`, as
//! PyTorch's (percept keeps its transpose); biases and `BatchNorm1d` tensors are 1-D. A
//! `Normalization` layer (which PyTorch lacks) is written as two 1-D buffers, `"{index}.mean"`
//! and `"{index}.variance"`, for a module that registers buffers of those names.

use std::path::{Path, PathBuf};

use percept_linalg::Matrix;
use percept_nn::{Buffer, Layer, LayerSpec, Sequential};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// Why a safetensors file could not be written or read into a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A tensor the model needs is not in the file.
    #[error("{path}: no tensor {name:?} (the model's layer {index}, {layer}, needs it)")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The layer's index.
        index: usize,
        /// Its type.
        layer: &'static str,
    },
    /// A tensor has another shape or type than the model's.
    #[error("{path}: tensor {name:?} is {detail}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The layer's index.
        index: usize,
        /// What the file holds and what the layer (named) needs.
        detail: String,
    },
    /// The model has a layer defined outside percept.
    #[error(transparent)]
    Nn(#[from] percept_nn::NnError),
}

/// One tensor as PyTorch names and lays it out.
struct Named {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn transposed(m: &Matrix) -> Vec<f32> {
    let (rows, cols) = (m.rows(), m.cols());
    (0..rows * cols).map(|i| m.get(i % rows, i / rows)).collect()
}

/// The tensors of `model` with their PyTorch names, in order.
fn named_tensors(model: &mut Sequential) -> Result<Vec<Named>, InteropError> {
    let specs = model.specs()?;
    let mut out = Vec::new();
    for (index, (layer, spec)) in model.layers_mut().iter_mut().zip(&specs).enumerate() {
        match spec {
            LayerSpec::Linear { in_features, out_features } => {
                let (in_f, out_f) = (*in_features, *out_features);
                layer.visit_parameters(&mut |p| {
                    let (shape, values) = if p.name == "weight" {
                        (vec![out_f, in_f], transposed(p.value))
                    } else {
                        (vec![out_f], p.value.as_slice().to_vec())
                    };
                    out.push(Named {
                        name: format!("{index}.{}", p.name),
                        shape,
                        dtype: Dtype::F32,
                        bytes: f32_bytes(&values),
                    });
                });
            }
            LayerSpec::BatchNorm1d { .. } => {
                push_vector_parameters(&mut out, index, layer.as_mut());
                push_buffers(&mut out, index, layer.as_mut());
                // PyTorch's counter of training batches; it only matters with momentum=None,
                // which percept does not offer.
                out.push(Named {
                    name: format!("{index}.num_batches_tracked"),
                    shape: vec![],
                    dtype: Dtype::I64,
                    bytes: 0i64.to_le_bytes().to_vec(),
                });
            }
            LayerSpec::Normalization { .. } => push_buffers(&mut out, index, layer.as_mut()),
            LayerSpec::LayerNorm { .. } => push_vector_parameters(&mut out, index, layer.as_mut()),
            _ => {}
        }
    }
    Ok(out)
}

/// Little-endian `f32`s.
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Fills each value buffer of `layer` from the next tensors, in [`push_buffers`]' order
/// (shapes already checked).
fn load_buffers<'a>(layer: &mut dyn Layer, tensors: &mut impl Iterator<Item = (&'a Named, Vec<u8>)>) {
    layer.visit_buffers(&mut |b| {
        if let Buffer::Values { values, .. } = b
            && let Some((_, bytes)) = tensors.next()
        {
            values.copy_from_slice(&floats(&bytes));
        }
    });
}

/// Appends each parameter of `layer` as a 1-D tensor named `"{index}.{name}"`: the `weight`
/// and `bias` of `BatchNorm1d` and `LayerNorm`, stored `[1, features]` here.
fn push_vector_parameters(out: &mut Vec<Named>, index: usize, layer: &mut dyn Layer) {
    layer.visit_parameters(&mut |p| {
        out.push(Named {
            name: format!("{index}.{}", p.name),
            shape: vec![p.value.len()],
            dtype: Dtype::F32,
            bytes: f32_bytes(p.value.as_slice()),
        });
    });
}

/// Loads what [`push_vector_parameters`] writes, in the same order.
fn load_vector_parameters<'a>(
    layer: &mut dyn Layer,
    tensors: &mut impl Iterator<Item = (&'a Named, Vec<u8>)>,
) {
    layer.visit_parameters(&mut |p| {
        if let Some((_, bytes)) = tensors.next() {
            p.value.as_mut_slice().copy_from_slice(&floats(&bytes));
        }
    });
}

/// Appends each value buffer of `layer` (running or fitted statistics) as a 1-D tensor named
/// `"{index}.{name}"`.
fn push_buffers(out: &mut Vec<Named>, index: usize, layer: &mut dyn Layer) {
    layer.visit_buffers(&mut |b| {
        if let Buffer::Values { name, values } = b {
            out.push(Named {
                name: format!("{index}.{name}"),
                shape: vec![values.len()],
                dtype: Dtype::F32,
                bytes: f32_bytes(values),
            });
        }
    });
}

/// The names [`export_safetensors`] writes for `model`, in order.
///
/// # Errors
/// [`InteropError::Nn`] for a layer defined outside percept.
pub fn state_dict_names(model: &mut Sequential) -> Result<Vec<String>, InteropError> {
    Ok(named_tensors(model)?.into_iter().map(|t| t.name).collect())
}

/// Writes `model`'s parameters (and `BatchNorm1d` and `Normalization` statistics) to `path` as safetensors with
/// PyTorch's names and layouts, through a temporary file renamed into place.
///
/// # Errors
/// [`InteropError`] naming the file.
pub fn export_safetensors(model: &mut Sequential, path: impl AsRef<Path>) -> Result<(), InteropError> {
    let path = path.as_ref();
    let format = |e: safetensors::SafeTensorError| InteropError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let tensors = named_tensors(model)?;
    let views = tensors
        .iter()
        .map(|t| TensorView::new(t.dtype, t.shape.clone(), &t.bytes).map(|v| (t.name.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(format)?;
    let bytes = safetensors::serialize(views, None).map_err(format)?;
    let io = |source| InteropError::Io { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// Reads `model`'s parameters (and `BatchNorm1d` and `Normalization` statistics) from a safetensors file with
/// PyTorch's names, such as `safetensors.torch.save_file(model.state_dict(), path)` writes
/// for the equivalent `nn.Sequential`. Every tensor is checked before any is loaded; extra
/// tensors in the file are ignored.
///
/// # Errors
/// [`InteropError`] naming the file and, for a missing or mismatched tensor, its name and
/// the layer that needs it.
pub fn import_safetensors(model: &mut Sequential, path: impl AsRef<Path>) -> Result<(), InteropError> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|source| InteropError::Io { path: path.to_path_buf(), source })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| InteropError::Format { path: path.to_path_buf(), reason: e.to_string() })?;
    let wanted = named_tensors(model)?;
    let names: Vec<&'static str> = model.layers().iter().map(|l| l.name()).collect();
    let mut loaded = Vec::with_capacity(wanted.len());
    for want in &wanted {
        let index: usize = want.name.split('.').next().and_then(|i| i.parse().ok()).unwrap_or(0);
        let layer = names.get(index).copied().unwrap_or_default();
        let view = file.tensor(&want.name).map_err(|_| InteropError::Missing {
            path: path.to_path_buf(),
            name: want.name.clone(),
            index,
            layer,
        })?;
        if view.dtype() != want.dtype || view.shape() != want.shape.as_slice() {
            return Err(InteropError::Mismatch {
                path: path.to_path_buf(),
                name: want.name.clone(),
                index,
                detail: format!(
                    "{:?} {:?}, but layer {index} ({layer}) needs {:?} {:?}",
                    view.dtype(),
                    view.shape(),
                    want.dtype,
                    want.shape
                ),
            });
        }
        loaded.push(view.data().to_vec());
    }
    // Everything fits: copy in, in the order `named_tensors` produced.
    let mut tensors = wanted.iter().zip(loaded);
    let specs = model.specs()?;
    for (layer, spec) in model.layers_mut().iter_mut().zip(&specs) {
        match spec {
            LayerSpec::Linear { .. } => {
                layer.visit_parameters(&mut |p| {
                    if let Some((_, bytes)) = tensors.next() {
                        let values = floats(&bytes);
                        if p.name == "weight" {
                            // [out, in] in the file, [in, out] here.
                            let (rows, cols) = (p.value.rows(), p.value.cols());
                            for r in 0..rows {
                                for c in 0..cols {
                                    p.value.set(r, c, values[c * rows + r]);
                                }
                            }
                        } else {
                            p.value.as_mut_slice().copy_from_slice(&values);
                        }
                    }
                });
            }
            LayerSpec::BatchNorm1d { .. } => {
                load_vector_parameters(layer.as_mut(), &mut tensors);
                load_buffers(layer.as_mut(), &mut tensors);
                let _ = tensors.next(); // num_batches_tracked
            }
            LayerSpec::Normalization { .. } => load_buffers(layer.as_mut(), &mut tensors),
            LayerSpec::LayerNorm { .. } => load_vector_parameters(layer.as_mut(), &mut tensors),
            _ => {}
        }
    }
    Ok(())
}
