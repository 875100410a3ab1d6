//! `Dropout`.

use percept_linalg::Matrix;
use rand::RngExt;

use crate::{Layer, Mode, Rng, seeded_rng};

/// Inverted dropout (Srivastava et al., 2014), as PyTorch's `nn.Dropout(p)`: in training each
/// element is zeroed with probability `p` and the survivors are scaled by `1 / (1 − p)`, so
/// evaluation (where the layer passes its input through) needs no rescaling.
///
/// The mask comes from the layer's own seeded generator: the same seed gives the same masks,
/// run after run. The mode is an argument of every forward pass ([`Mode::Train`] or
/// [`Mode::Eval`]), so evaluation cannot silently run with dropout on.
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    seed: u64,
    rng: Rng,
    /// The scale factor of each element in the last training forward pass (0 or `1/(1−p)`).
    mask: Matrix,
    /// Whether the last forward pass was in training mode.
    trained: bool,
}

impl Dropout {
    /// Dropout with probability `p`, masks drawn from a generator seeded with `seed`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    #[track_caller]
    pub fn new(p: f32, seed: u64) -> Self {
        assert!((0.0..1.0).contains(&p), "Dropout: p = {p} must be in [0, 1)");
        Self { p, seed, rng: seeded_rng(seed), mask: Matrix::default(), trained: false }
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Restarts the mask generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.rng = seeded_rng(seed);
    }

    /// The scale of each element in the last training forward pass: 0 where dropped,
    /// `1/(1−p)` where kept.
    pub fn mask(&self) -> &Matrix {
        &self.mask
    }
}

impl Layer for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn spec(&self) -> Option<crate::LayerSpec> {
        Some(crate::LayerSpec::Dropout { p: self.p, seed: self.seed })
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
        let (p, scale) = (self.p, 1.0 / (1.0 - self.p));
        self.mask.resize(input.rows(), input.cols());
        for ((m, y), &x) in
            self.mask.as_mut_slice().iter_mut().zip(output.as_mut_slice()).zip(input.as_slice())
        {
            *m = if self.rng.random::<f32>() < p { 0.0 } else { scale };
            *y = x * *m;
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
