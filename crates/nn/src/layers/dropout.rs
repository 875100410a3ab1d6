//! `Dropout`.

use percept_linalg::Matrix;
use rand::RngExt;

use crate::{Layer, Mode, Rng, seeded_rng};

/// Inverted dropout (Srivastava et al., 2014), as PyTorch's `nn.Dropout(p)`: in training each
/// element is zeroed with probability `p` and the survivors are scaled by `1 / (1 − p)`, so
/// evaluation (where the layer passes its input through) needs no rescaling.
///
/// The masks come from the layer's own generator, seeded in one of two ways:
/// - [`Dropout::new`]`(p)` takes the run's seed: the first `Trainer::fit` (percept-train) that
///   trains the layer seeds it from `FitConfig::seed` and the layer's position in the model
///   ([`crate::Sequential::seed_layers`]), so one seed reproduces a whole run and two dropout
///   layers draw different masks. Until then its masks come from seed 0.
/// - [`Dropout::seeded`]`(p, seed)` fixes the generator's seed, whatever the run's.
///
/// The mode is an argument of every forward pass ([`Mode::Train`] or [`Mode::Eval`]), so
/// evaluation cannot silently run with dropout on.
///
/// ```
/// use percept_nn::{Dropout, Layer, Mode, Sequential};
/// use percept_linalg::Matrix;
/// let mut model = Sequential::new();
/// model.add(Dropout::new(0.5))?.add(Dropout::seeded(0.5, 7))?;
/// model.seed_layers(42); // what a Trainer does with FitConfig::seed
/// let output = model.forward(&Matrix::filled(4, 8, 1.0), Mode::Train)?;
/// assert!(output.as_slice().iter().all(|&v| v == 0.0 || v == 4.0));
/// # Ok::<(), percept_nn::NnError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    /// The generator's seed once it has one (from [`Dropout::seeded`], [`Dropout::reseed`] or
    /// a run); `None` while it waits for a run's seed.
    seed: Option<u64>,
    rng: Rng,
    /// The scale factor of each element in the last training forward pass (0 or `1/(1−p)`).
    mask: Matrix,
    /// Whether the last forward pass was in training mode.
    trained: bool,
}

impl Dropout {
    /// Dropout with probability `p`, its masks seeded by the run that trains it (see
    /// [`Dropout`]).
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    #[track_caller]
    pub fn new(p: f32) -> Self {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} must be in [0, 1)");
        Self { p, seed: None, rng: seeded_rng(0), mask: Matrix::default(), trained: false }
    }

    /// Dropout with probability `p`, masks drawn from a generator seeded with `seed`: the
    /// same masks, run after run, whatever seed the run is given.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    #[track_caller]
    pub fn seeded(p: f32, seed: u64) -> Self {
        let mut layer = Self::new(p);
        layer.reseed(seed);
        layer
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// The seed of the mask generator; `None` while the layer waits for a run's seed.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Restarts the mask generator from `seed` (a run's seed no longer replaces it).
    pub fn reseed(&mut self, seed: u64) {
        self.seed = Some(seed);
        self.rng = seeded_rng(seed);
    }

    /// The scale of each element in the last training forward pass: 0 where dropped,
    /// `1/(1−p)` where kept.
    pub fn mask(&self) -> &Matrix {
        &self.mask
    }
}

/// Mask elements drawn per call of the generator.
const MASK_BLOCK: usize = 256;

/// An element is dropped when the top 24 bits of its 32-bit word are below this: exactly when
/// `random::<f32>() < p` for that word (rand's `f32` is those 24 bits times 2⁻²⁴, so it is
/// below `p` just when they are below `p · 2²⁴`, or below its ceiling when that is not a whole
/// number). Same masks as drawing one `f32` per element, in the same order.
fn drop_threshold(p: f32) -> u32 {
    (f64::from(p) * f64::from(1u32 << 24)).ceil() as u32
}

impl Layer for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    /// (A layer still waiting for a run's seed saves seed 0, the seed its masks come from.)
    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Dropout { p: self.p, seed: self.seed.unwrap_or(0) })
    }

    /// Takes `seed` unless the layer already has one.
    fn seed_from_run(&mut self, seed: u64) {
        if self.seed.is_none() {
            self.reseed(seed);
        }
    }

    /// The mask generator, so that a resumed run draws the masks the uninterrupted one would.
    fn visit_buffers(&mut self, visitor: &mut dyn FnMut(crate::Buffer<'_>)) {
        visitor(crate::Buffer::Rng { name: "rng", rng: &mut self.rng });
    }

    fn describe(&self) -> String {
        format!("Dropout({})", self.p)
    }

    /// # Shapes
    /// `input`, `output`: `[batch, features]`
    fn forward(&mut self, input: &Matrix, output: &mut Matrix, mode: Mode) {
        output.resize(input.rows(), input.cols());
        self.trained = mode == Mode::Train;
        if !self.trained {
            output.as_mut_slice().copy_from_slice(input.as_slice());
            return;
        }
        let scale = 1.0 / (1.0 - self.p);
        let threshold = drop_threshold(self.p);
        self.mask.resize(input.rows(), input.cols());
        // The generator's words a block at a time (its block function makes many at once),
        // then a comparison without a branch: whether an element is dropped is a coin toss,
        // which a branch mispredicts half the time at p = 0.5. `cargo bench --bench layers --
        // Dropout`, 256×512 values: 1.07 ms drawing one `random::<f32>()` per element, 125 µs
        // this way (2026-11-27).
        let mut words = [0u32; MASK_BLOCK];
        let blocks =
            self.mask.as_mut_slice().chunks_mut(MASK_BLOCK).zip(output.as_mut_slice().chunks_mut(MASK_BLOCK));
        for ((mask, output), input) in blocks.zip(input.as_slice().chunks(MASK_BLOCK)) {
            let words = &mut words[..mask.len()];
            self.rng.fill(words);
            for (((m, y), &x), &word) in mask.iter_mut().zip(output).zip(input).zip(words.iter()) {
                *m = if word >> 8 < threshold { 0.0 } else { scale };
                *y = x * *m;
            }
        }
    }

    /// `∂L/∂x = ∂L/∂y ⊙ mask` after a training pass, `∂L/∂y` after an evaluation pass.
    fn backward(
        &mut self,
        _input: &Matrix,
        _output: &Matrix,
        output_grad: &Matrix,
        input_grad: Option<&mut Matrix>,
    ) {
        let Some(input_grad) = input_grad else { return };
        input_grad.resize(output_grad.rows(), output_grad.cols());
        if !self.trained {
            input_grad.as_mut_slice().copy_from_slice(output_grad.as_slice());
            return;
        }
        for ((dx, &dy), &m) in
            input_grad.as_mut_slice().iter_mut().zip(output_grad.as_slice()).zip(self.mask.as_slice())
        {
            *dx = dy * m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::drop_threshold;

    /// The threshold sits exactly where rand's `f32` (24 bits times 2⁻²⁴) crosses `p`.
    #[test]
    fn the_threshold_is_where_the_uniform_float_reaches_p() {
        let float = |k: u32| k as f32 * (1.0 / (1u32 << 24) as f32);
        for p in [0.0f32, 1e-9, 0.1, 0.25, 0.3, 0.5, 1.0 / 3.0, 0.9, 0.999_999_9, f32::from_bits(0x3f7f_ffff)]
        {
            let t = drop_threshold(p);
            assert!(t == 0 || float(t - 1) < p, "p {p}: word {} is kept but below p", t - 1);
            assert!(t == 1 << 24 || float(t) >= p, "p {p}: word {t} is dropped but not below p");
        }
    }
}
