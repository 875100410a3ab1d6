//! Weight initializers, all drawn from a seeded generator.

use percept_linalg::Matrix;
use rand::{RngExt, SeedableRng};

/// The random generator percept uses everywhere: ChaCha8, whose stream is fixed by its seed
/// on every platform and version, so one seed reproduces a whole run.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`.
pub fn seeded_rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// How to fill a weight matrix (or a bias) of a layer with `fan_in` inputs and `fan_out`
/// outputs. Every variant draws from the generator it is given, so a seed fixes the result.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// All zeros (the lesson's bias).
    Zeros,
    /// Every element equal to the value.
    Constant(f32),
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound.
        high: f32,
    },
    /// The lesson's `np.random.normal(0, 1/sqrt(nin))`: normal, standard deviation
    /// `1/√fan_in`.
    LessonNormal,
    /// PyTorch's `nn.Linear` default: uniform on `[-1/√fan_in, 1/√fan_in)` (what
    /// `kaiming_uniform_(a=√5)` works out to), for weights and bias alike.
    PytorchDefault,
    /// Glorot & Bengio (2010), `torch.nn.init.xavier_uniform_`: uniform on `[−a, a)` with
    /// `a = gain · √(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Scale for the nonlinearity that follows ([`gain`]).
        gain: f32,
    },
    /// `torch.nn.init.xavier_normal_`: normal with `std = gain · √(2 / (fan_in + fan_out))`.
    XavierNormal {
        /// Scale for the nonlinearity that follows ([`gain`]).
        gain: f32,
    },
    /// He et al. (2015), `torch.nn.init.kaiming_uniform_` (fan-in mode): uniform on `[−b, b)`
    /// with `b = gain · √(3 / fan_in)`.
    KaimingUniform {
        /// Scale for the nonlinearity that follows ([`gain`]; √2 for ReLU).
        gain: f32,
    },
    /// `torch.nn.init.kaiming_normal_` (fan-in mode): normal with `std = gain / √fan_in`.
    KaimingNormal {
        /// Scale for the nonlinearity that follows ([`gain`]; √2 for ReLU).
        gain: f32,
    },
}

/// A nonlinearity, for [`gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Nonlinearity {
    /// No nonlinearity (or softmax, or sigmoid): gain 1.
    Linear,
    /// Sigmoid: gain 1.
    Sigmoid,
    /// Tanh: gain 5/3.
    Tanh,
    /// ReLU: gain √2.
    ReLU,
    /// Leaky ReLU with this negative slope: gain √(2 / (1 + slope²)).
    LeakyReLU(f32),
    /// SELU: gain 3/4.
    Selu,
}

/// The recommended scale of an initializer for the nonlinearity that follows the layer,
/// as `torch.nn.init.calculate_gain`.
///
/// ```
/// use percept_nn::{Nonlinearity, gain};
/// assert_eq!(gain(Nonlinearity::ReLU), 2f32.sqrt());
/// assert_eq!(gain(Nonlinearity::Tanh), 5.0 / 3.0);
/// ```
pub fn gain(nonlinearity: Nonlinearity) -> f32 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::ReLU => 2f32.sqrt(),
        Nonlinearity::LeakyReLU(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

impl Init {
    /// Fills `matrix` for a layer with `fan_in` inputs and `fan_out` outputs.
    pub fn fill(self, matrix: &mut Matrix, fan_in: usize, fan_out: usize, rng: &mut Rng) {
        let data = matrix.as_mut_slice();
        let (fan_in_f, fans) = (fan_in.max(1) as f32, (fan_in + fan_out).max(1) as f32);
        match self {
            Init::Zeros => data.fill(0.0),
            Init::Constant(value) => data.fill(value),
            Init::Normal { mean, std } => fill_normal(data, mean, std, rng),
            Init::Uniform { low, high } => fill_uniform(data, low, high, rng),
            Init::LessonNormal => fill_normal(data, 0.0, 1.0 / fan_in_f.sqrt(), rng),
            Init::PytorchDefault => {
                let bound = 1.0 / fan_in_f.sqrt();
                fill_uniform(data, -bound, bound, rng)
            }
            Init::XavierUniform { gain } => {
                let bound = gain * (6.0 / fans).sqrt();
                fill_uniform(data, -bound, bound, rng)
            }
            Init::XavierNormal { gain } => fill_normal(data, 0.0, gain * (2.0 / fans).sqrt(), rng),
            Init::KaimingUniform { gain } => {
                let bound = gain * (3.0 / fan_in_f).sqrt();
                fill_uniform(data, -bound, bound, rng)
            }
            Init::KaimingNormal { gain } => fill_normal(data, 0.0, gain / fan_in_f.sqrt(), rng),
        }
    }
}

fn fill_uniform(data: &mut [f32], low: f32, high: f32, rng: &mut Rng) {
    for v in data {
        *v = low + (high - low) * rng.random::<f32>();
    }
}

/// Box–Muller in f64, one normal sample per pair of uniforms (simple and exactly reproducible).
fn fill_normal(data: &mut [f32], mean: f32, std: f32, rng: &mut Rng) {
    for v in data {
        // 1 - u keeps the logarithm's argument in (0, 1].
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        *v = mean + std * z as f32;
    }
}
