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

/// How to fill a weight matrix of shape `[fan_out, fan_in]` (or a bias of `[1, fan_out]`).
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
}

impl Init {
    /// Fills `matrix` for a layer with `fan_in` inputs.
    pub fn fill(self, matrix: &mut Matrix, fan_in: usize, rng: &mut Rng) {
        let data = matrix.as_mut_slice();
        match self {
            Init::Zeros => data.fill(0.0),
            Init::Constant(value) => data.fill(value),
            Init::Normal { mean, std } => fill_normal(data, mean, std, rng),
            Init::Uniform { low, high } => fill_uniform(data, low, high, rng),
            Init::LessonNormal => fill_normal(data, 0.0, 1.0 / (fan_in.max(1) as f32).sqrt(), rng),
            Init::PytorchDefault => {
                let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                fill_uniform(data, -bound, bound, rng)
            }
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
