//! `AdamW`: Adam with decoupled weight decay.

use serde::{Deserialize, Serialize};

use crate::adam::adam_step;
use crate::{Adam, UpdateRule};

/// AdamW (Loshchilov & Hutter, 2019), as `torch.optim.AdamW` computes it: first
/// `w ← w · (1 − lr · weight_decay)`, then an [`Adam`] step without L2 penalty.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamW {
    /// The Adam settings; its `weight_decay` is the decoupled decay (PyTorch's default 0.01).
    pub adam: Adam,
}

impl AdamW {
    /// AdamW with the given learning rate and PyTorch's other defaults.
    pub fn new(learning_rate: f32) -> Self {
        Self { adam: Adam { learning_rate, ..Self::default().adam } }
    }
}

impl Default for AdamW {
    fn default() -> Self {
        Self { adam: Adam { weight_decay: 0.01, ..Adam::default() } }
    }
}

impl UpdateRule for AdamW {
    fn name(&self) -> &'static str {
        "AdamW"
    }

    fn learning_rate(&self) -> f32 {
        self.adam.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.adam.learning_rate = learning_rate;
    }

    fn state_buffers(&self) -> usize {
        self.adam.state_buffers()
    }

    fn update(&self, step: u64, value: &mut [f32], grad: &[f32], state: &mut [&mut [f32]]) {
        let keep = 1.0 - self.adam.learning_rate * self.adam.weight_decay;
        if keep != 1.0 {
            value.iter_mut().for_each(|w| *w *= keep);
        }
        adam_step(&self.adam, 0.0, step, value, grad, state);
    }
}
