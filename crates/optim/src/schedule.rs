//! Learning-rate schedules, as `torch.optim.lr_scheduler` computes them.

use serde::{Deserialize, Serialize};

use crate::{Optimizer, UpdateRule};

/// How the learning rate changes over a run, in scheduler steps (one per epoch or one per
/// batch: the caller decides, as in PyTorch). Each is the closed form of the PyTorch
/// scheduler named; `base` is the optimizer's learning rate when the [`Scheduler`] was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Schedule {
    /// `base` throughout.
    Constant,
    /// `base · gammaᵏ` with `k = ⌊t / step_size⌋` (`StepLR`).
    Step {
        /// Steps between decays.
        step_size: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// `base · gammaᵏ` with `k` the number of milestones `≤ t` (`MultiStepLR`).
    MultiStep {
        /// Steps at which the rate decays, increasing.
        milestones: Vec<u64>,
        /// Decay factor.
        gamma: f32,
    },
    /// `base · gammaᵗ` (`ExponentialLR`).
    Exponential {
        /// Decay factor per step.
        gamma: f32,
    },
    /// `eta_min + (base − eta_min) · (1 + cos(π t / t_max)) / 2` (`CosineAnnealingLR`).
    Cosine {
        /// Steps of a half period.
        t_max: u64,
        /// The lowest rate.
        eta_min: f32,
    },
    /// A linear ramp from `base · start_factor` to `base` over `steps` steps, then `then`
    /// counted from the end of the ramp (`SequentialLR` of `LinearLR` and `then`).
    Warmup {
        /// Length of the ramp.
        steps: u64,
        /// Fraction of `base` at step 0.
        start_factor: f32,
        /// The schedule after the ramp.
        then: Box<Schedule>,
    },
    /// Leslie Smith's one-cycle policy with cosine annealing (`OneCycleLR`, two phases):
    /// from `max_lr / div_factor` up to `max_lr` over the first `pct_start` of
    /// `total_steps`, then down to `max_lr / div_factor / final_div_factor`. Ignores `base`.
    OneCycle {
        /// The peak rate.
        max_lr: f32,
        /// Length of the cycle in steps.
        total_steps: u64,
        /// Fraction of the cycle spent rising (PyTorch: 0.3).
        pct_start: f32,
        /// `max_lr / initial rate` (25).
        div_factor: f32,
        /// `initial rate / final rate` (1e4).
        final_div_factor: f32,
    },
    /// Multiplies the rate by `factor` when a metric stops improving
    /// (`ReduceLROnPlateau`); step it with [`Scheduler::step_with_metric`].
    ReduceOnPlateau(Plateau),
}

impl Schedule {
    /// One-cycle with PyTorch's defaults for everything but the peak and the length.
    pub fn one_cycle(max_lr: f32, total_steps: u64) -> Self {
        Schedule::OneCycle { max_lr, total_steps, pct_start: 0.3, div_factor: 25.0, final_div_factor: 1e4 }
    }

    /// The rate after `t` steps from `base`, for the schedules that depend on `t` only
    /// (`None` for [`Schedule::ReduceOnPlateau`], which depends on the metrics seen).
    pub fn learning_rate_at(&self, t: u64, base: f32) -> Option<f32> {
        let base64 = base as f64;
        let tf = t as f64;
        let rate = match self {
            Schedule::Constant => base64,
            Schedule::Step { step_size, gamma } => {
                base64 * (*gamma as f64).powi((t / (*step_size).max(1)) as i32)
            }
            Schedule::MultiStep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| m <= t).count();
                base64 * (*gamma as f64).powi(passed as i32)
            }
            Schedule::Exponential { gamma } => base64 * (*gamma as f64).powf(tf),
            Schedule::Cosine { t_max, eta_min } => {
                let eta_min = *eta_min as f64;
                let phase = std::f64::consts::PI * tf / (*t_max).max(1) as f64;
                eta_min + (base64 - eta_min) * (1.0 + phase.cos()) / 2.0
            }
            Schedule::Warmup { steps, start_factor, then } => {
                if t < *steps {
                    let start = *start_factor as f64;
                    base64 * (start + (1.0 - start) * tf / *steps as f64)
                } else {
                    return then.learning_rate_at(t - steps, base);
                }
            }
            Schedule::OneCycle { max_lr, total_steps, pct_start, div_factor, final_div_factor } => {
                let max_lr = *max_lr as f64;
                let initial = max_lr / *div_factor as f64;
                let min_lr = initial / *final_div_factor as f64;
                let rise_end = *pct_start as f64 * *total_steps as f64 - 1.0;
                let fall_end = *total_steps as f64 - 1.0;
                let anneal = |from: f64, to: f64, pct: f64| {
                    to + (from - to) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
                };
                if tf <= rise_end {
                    anneal(initial, max_lr, tf / rise_end)
                } else {
                    anneal(max_lr, min_lr, (tf - rise_end) / (fall_end - rise_end))
                }
            }
            Schedule::ReduceOnPlateau(_) => return None,
        };
        Some(rate as f32)
    }
}

/// [`Schedule::ReduceOnPlateau`]'s settings, PyTorch's defaults by [`Default`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Whether lower (a loss) or higher (an accuracy) metrics are better.
    pub mode: PlateauMode,
    /// Factor applied to the rate on a plateau (0.1).
    pub factor: f32,
    /// Steps without improvement tolerated before reducing (10).
    pub patience: u64,
    /// Least relative improvement that counts (1e-4 relative: `metric < best · (1 − threshold)`
    /// when minimizing).
    pub threshold: f32,
    /// Steps after a reduction during which no improvement is expected (0).
    pub cooldown: u64,
    /// The rate never goes below this (0).
    pub min_lr: f32,
}

impl Default for Plateau {
    fn default() -> Self {
        Self { mode: PlateauMode::Min, factor: 0.1, patience: 10, threshold: 1e-4, cooldown: 0, min_lr: 0.0 }
    }
}

/// Whether a plateau's metric should go down or up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// A [`Schedule`] in progress: counts steps, keeps what a plateau schedule has seen, and sets
/// the optimizer's learning rate. Serializable (serde), so a checkpointed run resumes with
/// the same rates.
///
/// ```
/// use percept_optim::{Optimizer, Schedule, Scheduler, Sgd};
/// let mut optimizer = Optimizer::new(Sgd::new(0.1));
/// let mut scheduler = Scheduler::new(Schedule::Step { step_size: 2, gamma: 0.5 }, &optimizer);
/// let mut rates = Vec::new();
/// for _epoch in 0..5 {
///     rates.push(optimizer.learning_rate());
///     // ... train one epoch ...
///     scheduler.step(&mut optimizer);
/// }
/// assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheduler {
    schedule: Schedule,
    base: f32,
    steps: u64,
    /// The current rate (what a plateau schedule reduces).
    rate: f32,
    best: Option<f32>,
    bad_steps: u64,
    cooldown_left: u64,
}

impl Scheduler {
    /// Starts `schedule` from `optimizer`'s current learning rate, and sets the rate of step
    /// 0 (one-cycle starts below its peak).
    pub fn new<R: UpdateRule>(schedule: Schedule, optimizer: &Optimizer<R>) -> Self {
        let base = optimizer.learning_rate();
        let rate = schedule.learning_rate_at(0, base).unwrap_or(base);
        Self { schedule, base, steps: 0, rate, best: None, bad_steps: 0, cooldown_left: 0 }
    }

    /// Like [`Scheduler::new`], and also sets the optimizer's rate to the rate of step 0.
    pub fn start<R: UpdateRule>(schedule: Schedule, optimizer: &mut Optimizer<R>) -> Self {
        let scheduler = Self::new(schedule, optimizer);
        optimizer.set_learning_rate(scheduler.rate);
        scheduler
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Scheduler steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The rate the scheduler has set for the coming step.
    pub fn learning_rate(&self) -> f32 {
        self.rate
    }

    /// Advances one step and sets the optimizer's learning rate. A plateau schedule stepped
    /// without a metric keeps its rate.
    pub fn step<R: UpdateRule>(&mut self, optimizer: &mut Optimizer<R>) {
        self.steps += 1;
        if let Some(rate) = self.schedule.learning_rate_at(self.steps, self.base) {
            self.rate = rate;
        }
        optimizer.set_learning_rate(self.rate);
    }

    /// Advances one step given this step's metric (for [`Schedule::ReduceOnPlateau`]; other
    /// schedules ignore it) and sets the optimizer's learning rate.
    pub fn step_with_metric<R: UpdateRule>(&mut self, metric: f32, optimizer: &mut Optimizer<R>) {
        if let Schedule::ReduceOnPlateau(plateau) = self.schedule {
            self.steps += 1;
            self.observe(&plateau, metric);
            optimizer.set_learning_rate(self.rate);
        } else {
            self.step(optimizer);
        }
    }

    fn observe(&mut self, plateau: &Plateau, metric: f32) {
        let improved = match (self.best, plateau.mode) {
            (None, _) => true,
            (Some(best), PlateauMode::Min) => metric < best * (1.0 - plateau.threshold),
            (Some(best), PlateauMode::Max) => metric > best * (1.0 + plateau.threshold),
        };
        if improved {
            self.best = Some(metric);
            self.bad_steps = 0;
        } else {
            self.bad_steps += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_steps = 0;
        }
        if self.bad_steps > plateau.patience {
            let reduced = (self.rate * plateau.factor).max(plateau.min_lr);
            // PyTorch skips reductions smaller than its eps (1e-8).
            if self.rate - reduced > 1e-8 {
                self.rate = reduced;
            }
            self.cooldown_left = plateau.cooldown;
            self.bad_steps = 0;
        }
    }
}
