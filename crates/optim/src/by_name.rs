//! The optimizers by name, as command lines and config files choose them.

use serde::{Deserialize, Serialize};

use crate::{Adagrad, Adam, AdamW, RmsProp, Sgd, UpdateRule};

/// One of percept's optimizers, named as the `mnist` example, the `percept` command and
/// `benches/peers/torch_mlp.py` name them.
///
/// ```
/// use percept_optim::OptimizerKind;
/// let kind: OptimizerKind = "nesterov".parse().unwrap();
/// let rule = kind.rule(0.1, None, 5e-4);
/// assert_eq!((rule.name(), rule.learning_rate()), ("Sgd", 0.1));
/// assert!("adamax".parse::<OptimizerKind>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd,
    /// SGD with momentum.
    Momentum,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// Adam.
    Adam,
    /// AdamW.
    AdamW,
    /// RMSprop.
    RmsProp,
    /// Adagrad.
    Adagrad,
}

impl OptimizerKind {
    /// Every name [`str::parse`] accepts, in order.
    pub const NAMES: [&'static str; 7] =
        ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"];

    /// The name [`str::parse`] takes for this optimizer (`"nesterov"`).
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether the rule adapts its step per weight (and so usually wants a learning rate
    /// around 0.001 rather than SGD's 0.1).
    pub fn is_adaptive(self) -> bool {
        matches!(self, Self::Adam | Self::AdamW | Self::RmsProp | Self::Adagrad)
    }

    /// The rule with PyTorch's defaults and these settings. `momentum` applies to
    /// momentum and Nesterov SGD (default 0.9) and to RMSprop (default none).
    pub fn rule(self, learning_rate: f32, momentum: Option<f32>, weight_decay: f32) -> Box<dyn UpdateRule> {
        let lr = learning_rate;
        match self {
            Self::Sgd => Box::new(Sgd { weight_decay, ..Sgd::new(lr) }),
            Self::Momentum => Box::new(Sgd { weight_decay, ..Sgd::momentum(lr, momentum.unwrap_or(0.9)) }),
            Self::Nesterov => Box::new(Sgd { weight_decay, ..Sgd::nesterov(lr, momentum.unwrap_or(0.9)) }),
            Self::Adam => Box::new(Adam { weight_decay, ..Adam::new(lr) }),
            Self::AdamW => Box::new(AdamW { adam: Adam { weight_decay, ..Adam::new(lr) } }),
            Self::RmsProp => {
                Box::new(RmsProp { weight_decay, momentum: momentum.unwrap_or(0.0), ..RmsProp::new(lr) })
            }
            Self::Adagrad => Box::new(Adagrad { weight_decay, ..Adagrad::new(lr) }),
        }
    }
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let kinds = [
            Self::Sgd,
            Self::Momentum,
            Self::Nesterov,
            Self::Adam,
            Self::AdamW,
            Self::RmsProp,
            Self::Adagrad,
        ];
        Self::NAMES
            .iter()
            .position(|&n| n == name.to_ascii_lowercase())
            .map(|i| kinds[i])
            .ok_or_else(|| format!("unknown optimizer {name:?} (one of {})", Self::NAMES.join(", ")))
    }
}
