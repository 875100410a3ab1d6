//! Layer specifications: what rebuilds a model's architecture, for checkpoints.

use serde::{Deserialize, Serialize};

use crate::{
    BatchNorm1d, Dropout, ELU, GELU, GeluApproximation, Layer, LayerNorm, LeakyReLU, Linear, LogSoftmax,
    NnError, Normalization, ReLU, Sequential, SiLU, Sigmoid, Softmax, Softplus, Tanh,
};

/// A built-in layer's type and settings, without its parameters: enough to rebuild an
/// untrained copy, into which a checkpoint then loads the parameters and buffers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LayerSpec {
    /// [`Linear`].
    Linear {
        /// Inputs.
        in_features: usize,
        /// Outputs.
        out_features: usize,
    },
    /// [`ReLU`].
    ReLU,
    /// [`LeakyReLU`].
    LeakyReLU {
        /// Negative slope.
        slope: f32,
    },
    /// [`ELU`].
    ELU {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// [`GELU`].
    GELU {
        /// The tanh approximation instead of the erf form.
        tanh: bool,
    },
    /// [`Sigmoid`].
    Sigmoid,
    /// [`Tanh`].
    Tanh,
    /// [`Softplus`].
    Softplus {
        /// Sharpness.
        beta: f32,
        /// Start of the linear region.
        threshold: f32,
    },
    /// [`SiLU`].
    SiLU,
    /// [`Softmax`].
    Softmax,
    /// [`LogSoftmax`].
    LogSoftmax,
    /// [`Dropout`] (its generator's position is a buffer of the checkpoint).
    Dropout {
        /// Drop probability.
        p: f32,
        /// Seed of the mask generator.
        seed: u64,
    },
    /// [`BatchNorm1d`] (its running statistics are buffers).
    BatchNorm1d {
        /// Features.
        features: usize,
        /// Added to the variance.
        eps: f32,
        /// Weight of a new batch in the running statistics.
        momentum: f32,
    },
    /// [`Normalization`] (its mean and variance are buffers).
    Normalization {
        /// Features.
        features: usize,
    },
    /// [`LayerNorm`].
    LayerNorm {
        /// Features.
        features: usize,
        /// Added to the variance.
        eps: f32,
    },
}

impl LayerSpec {
    /// How many values a layer built from this specification keeps in its parameters and
    /// buffers (what a checkpoint stores for it), `None` when the count overflows `usize`.
    /// A loader compares it with what a file actually holds before building anything, so
    /// that a file declaring a layer of 2⁶² inputs is refused instead of allocated.
    ///
    /// ```
    /// use percept_nn::LayerSpec;
    /// assert_eq!(LayerSpec::Linear { in_features: 3, out_features: 2 }.stored_values(), Some(8));
    /// assert_eq!(LayerSpec::Linear { in_features: 1 << 62, out_features: 8 }.stored_values(), None);
    /// ```
    pub fn stored_values(&self) -> Option<usize> {
        match *self {
            // weight and bias
            LayerSpec::Linear { in_features, out_features } => {
                in_features.checked_mul(out_features)?.checked_add(out_features)
            }
            // weight, bias, running mean and running variance
            LayerSpec::BatchNorm1d { features, .. } => features.checked_mul(4),
            // mean and variance; weight and bias
            LayerSpec::Normalization { features } | LayerSpec::LayerNorm { features, .. } => {
                features.checked_mul(2)
            }
            _ => Some(0),
        }
    }

    /// A fresh layer of this type and settings (parameters zero or default; a checkpoint
    /// overwrites them).
    pub fn build(&self) -> Box<dyn Layer> {
        match *self {
            LayerSpec::Linear { in_features, out_features } => Box::new(Linear::from_parameters(
                percept_linalg::Matrix::zeros(in_features, out_features),
                percept_linalg::Matrix::zeros(1, out_features),
            )),
            LayerSpec::ReLU => Box::new(ReLU),
            LayerSpec::LeakyReLU { slope } => Box::new(LeakyReLU::new(slope)),
            LayerSpec::ELU { alpha } => Box::new(ELU::new(alpha)),
            LayerSpec::GELU { tanh } => Box::new(GELU {
                approximate: if tanh { GeluApproximation::Tanh } else { GeluApproximation::None },
            }),
            LayerSpec::Sigmoid => Box::new(Sigmoid),
            LayerSpec::Tanh => Box::new(Tanh),
            LayerSpec::Softplus { beta, threshold } => Box::new(Softplus { beta, threshold }),
            LayerSpec::SiLU => Box::new(SiLU),
            LayerSpec::Softmax => Box::new(Softmax),
            LayerSpec::LogSoftmax => Box::new(LogSoftmax),
            // (A NaN probability, which only a damaged file could hold, builds a layer that
            // drops nothing; checkpoints refuse such files before building.)
            LayerSpec::Dropout { p, seed } => {
                let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 0.999_999) };
                Box::new(Dropout::seeded(p, seed))
            }
            LayerSpec::BatchNorm1d { features, eps, momentum } => {
                let mut layer = BatchNorm1d::new(features);
                layer.eps = eps;
                layer.momentum = momentum;
                Box::new(layer)
            }
            LayerSpec::Normalization { features } => Box::new(Normalization::new(features)),
            LayerSpec::LayerNorm { features, eps } => {
                let mut layer = LayerNorm::new(features);
                layer.eps = eps;
                Box::new(layer)
            }
        }
    }
}

impl Sequential {
    /// The specification of every layer, for a checkpoint.
    ///
    /// # Errors
    /// [`NnError::NoSpec`] for a layer defined outside percept (it cannot be rebuilt from a
    /// file).
    pub fn specs(&self) -> Result<Vec<LayerSpec>, NnError> {
        self.layers()
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                layer.spec().ok_or_else(|| NnError::NoSpec { index, layer: layer.name().to_string() })
            })
            .collect()
    }

    /// A model built from specifications (untrained: load parameters next).
    ///
    /// # Errors
    /// [`NnError::LayerSizeMismatch`] if the sizes do not chain.
    pub fn from_specs(specs: &[LayerSpec]) -> Result<Self, NnError> {
        let mut model = Sequential::new();
        for spec in specs {
            model.add_boxed(spec.build())?;
        }
        Ok(model)
    }
}
