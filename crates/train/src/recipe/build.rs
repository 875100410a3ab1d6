//! From a recipe to the library's objects: the checks that types alone cannot make, then the
//! model, loss, optimizer and schedule, each through the constructor a Rust program would call.

use percept_nn::{
    BatchNorm1d, CrossEntropy, Dropout, ELU, GELU, GeluApproximation, Huber, Init, LayerNorm, LeakyReLU,
    Linear, LogSoftmax, Loss, Mae, Mse, NllLoss, Nonlinearity, ReLU, Sequential, SiLU, Sigmoid, Softmax,
    SoftmaxCrossEntropy, Softplus, Tanh, gain, group_thousands, seeded_rng,
};
use percept_optim::{
    Adagrad, Adam, AdamW, Optimizer, OptimizerKind, Plateau, RmsProp, Schedule, Sgd, UpdateRule,
};

use super::{InitKind, LayerRecipe, LossRecipe, Recipe, RecipeError, ScheduleRecipe, StepEveryKind};
use crate::StepEvery;

/// The largest layer a recipe may ask for, in outputs: far beyond what trains on a CPU, and
/// small enough that a typo (`size = 10000000000`) is an error instead of an allocation.
pub(crate) const MAX_LAYER_SIZE: usize = 1 << 20;

/// The most parameters a recipe's model may have (400 MB of weights, and as much again for
/// their gradients): checked before anything is allocated.
pub(crate) const MAX_PARAMETERS: usize = 100_000_000;

/// Names of the schedules, as `[schedule] type` takes them.
const SCHEDULES: [&str; 7] =
    ["constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau"];

pub(super) fn check(recipe: &Recipe) -> Result<(), RecipeError> {
    let data = &recipe.data;
    if data.dataset.trim().is_empty() {
        return Err(RecipeError::invalid(
            "data.dataset",
            "is empty: name \"mnist\", \"fashion-mnist\", \"lesson\" or a path",
        ));
    }
    if !(0.0..1.0).contains(&data.validation_split) {
        return Err(RecipeError::invalid(
            "data.validation_split",
            format!("{} is outside [0, 1)", data.validation_split),
        ));
    }
    if let Some(augmentation) = &data.augmentation {
        non_negative("data.augmentation.max_shift", augmentation.max_shift)?;
        non_negative("data.augmentation.max_degrees", augmentation.max_degrees)?;
        if let Some(elastic) = &augmentation.elastic {
            non_negative("data.augmentation.elastic.alpha", elastic.alpha)?;
            positive("data.augmentation.elastic.sigma", elastic.sigma)?;
        }
    }
    check_layers(recipe)?;
    check_loss(recipe)?;
    check_optimizer(recipe)?;
    if let Some(schedule) = &recipe.schedule {
        check_schedule(schedule, recipe.data.validation_split)?;
    }
    let training = &recipe.training;
    if training.epochs == 0 {
        return Err(RecipeError::invalid("training.epochs", "must be at least 1"));
    }
    if training.batch_size == 0 {
        return Err(RecipeError::invalid("training.batch_size", "must be at least 1"));
    }
    if training.threads == Some(0) {
        return Err(RecipeError::invalid("training.threads", "must be at least 1"));
    }
    if let Some(norm) = training.clip_grad_norm {
        positive("training.clip_grad_norm", norm)?;
    }
    if let Some(value) = training.clip_grad_value {
        positive("training.clip_grad_value", value)?;
    }
    if let Some(patience) = training.early_stopping {
        if patience == 0 {
            return Err(RecipeError::invalid("training.early_stopping", "patience must be at least 1 epoch"));
        }
        if data.validation_split == 0.0 {
            return Err(RecipeError::invalid(
                "training.early_stopping",
                "needs validation data (data.validation_split > 0): the test set chooses nothing",
            ));
        }
    }
    Ok(())
}

fn check_layers(recipe: &Recipe) -> Result<(), RecipeError> {
    let layers = &recipe.model.layers;
    if layers.is_empty() {
        return Err(RecipeError::invalid("model.layers", "no layers: give at least one linear layer"));
    }
    let mut width: Option<usize> = None;
    for (index, layer) in layers.iter().enumerate() {
        let key = |field: &str| format!("model.layers[{index}].{field}");
        match layer {
            LayerRecipe::Linear { size, inputs, .. } => {
                if *size == 0 || *size > MAX_LAYER_SIZE {
                    return Err(RecipeError::invalid(
                        key("size"),
                        format!("{size} outputs: a layer has between 1 and {MAX_LAYER_SIZE}"),
                    ));
                }
                if let (Some(inputs), Some(width)) = (inputs, width)
                    && *inputs != width
                {
                    return Err(RecipeError::invalid(
                        key("inputs"),
                        format!(
                            "this linear layer takes {inputs} inputs, but the layer before gives {width}"
                        ),
                    ));
                }
                width = Some(*size);
            }
            LayerRecipe::Dropout { p } if !(0.0..1.0).contains(p) => {
                return Err(RecipeError::invalid(key("p"), format!("dropout p = {p} is outside [0, 1)")));
            }
            LayerRecipe::BatchNorm { eps, momentum } => {
                positive(&key("eps"), *eps)?;
                if !(0.0..=1.0).contains(momentum) {
                    return Err(RecipeError::invalid(
                        key("momentum"),
                        format!("{momentum} is outside [0, 1]"),
                    ));
                }
            }
            LayerRecipe::LayerNorm { eps } => positive(&key("eps"), *eps)?,
            LayerRecipe::LeakyRelu { slope } => finite(&key("slope"), *slope)?,
            LayerRecipe::Elu { alpha } => finite(&key("alpha"), *alpha)?,
            LayerRecipe::Softplus { beta, threshold } => {
                positive(&key("beta"), *beta)?;
                finite(&key("threshold"), *threshold)?;
            }
            LayerRecipe::Softmax | LayerRecipe::LogSoftmax if index + 1 != layers.len() => {
                return Err(RecipeError::invalid(
                    key("type"),
                    "softmax and log_softmax go last (the loss reads their output)",
                ));
            }
            _ => {}
        }
    }
    if !layers.iter().any(|l| matches!(l, LayerRecipe::Linear { .. })) {
        return Err(RecipeError::invalid("model.layers", "no linear layer: the model would learn nothing"));
    }
    Ok(())
}

fn check_loss(recipe: &Recipe) -> Result<(), RecipeError> {
    let Some(LossRecipe::CrossEntropy { label_smoothing, class_weights }) = &recipe.loss else {
        if let Some(LossRecipe::Huber { delta }) = &recipe.loss {
            positive("loss.delta", *delta)?;
        }
        return Ok(());
    };
    if !(0.0..1.0).contains(label_smoothing) {
        return Err(RecipeError::invalid(
            "loss.label_smoothing",
            format!("{label_smoothing} is outside [0, 1)"),
        ));
    }
    if let Some(weights) = class_weights
        && let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        return Err(RecipeError::invalid(
            format!("loss.class_weights[{i}]"),
            format!("{w} is not a weight (finite, at least 0)"),
        ));
    }
    let probabilities =
        matches!(recipe.model.layers.last(), Some(LayerRecipe::Softmax | LayerRecipe::LogSoftmax));
    if probabilities && (*label_smoothing != 0.0 || class_weights.is_some()) {
        return Err(RecipeError::invalid(
            "loss.label_smoothing",
            "label smoothing and class weights need logits: end the model with a linear layer, not softmax",
        ));
    }
    Ok(())
}

fn check_optimizer(recipe: &Recipe) -> Result<(), RecipeError> {
    let optimizer = &recipe.optimizer;
    let kind: OptimizerKind =
        optimizer.kind.parse().map_err(|message: String| RecipeError::invalid("optimizer.type", message))?;
    if let Some(rate) = optimizer.learning_rate {
        positive("optimizer.learning_rate", rate)?;
    }
    if let Some(momentum) = optimizer.momentum
        && !(momentum.is_finite() && (0.0..1.0).contains(&momentum))
    {
        return Err(RecipeError::invalid("optimizer.momentum", format!("{momentum} is outside [0, 1)")));
    }
    for (key, value) in
        [("optimizer.dampening", optimizer.dampening), ("optimizer.weight_decay", optimizer.weight_decay)]
    {
        if let Some(value) = value {
            non_negative(key, value)?;
        }
    }
    if let Some(betas) = optimizer.betas {
        for (i, beta) in betas.iter().enumerate() {
            if !(beta.is_finite() && (0.0..1.0).contains(beta)) {
                return Err(RecipeError::invalid(
                    format!("optimizer.betas[{i}]"),
                    format!("{beta} is outside [0, 1)"),
                ));
            }
        }
    }
    if let Some(eps) = optimizer.eps {
        positive("optimizer.eps", eps)?;
    }
    if let Some(alpha) = optimizer.alpha
        && !(alpha.is_finite() && (0.0..1.0).contains(&alpha))
    {
        return Err(RecipeError::invalid("optimizer.alpha", format!("{alpha} is outside [0, 1)")));
    }
    if let Some(decay) = optimizer.lr_decay {
        non_negative("optimizer.lr_decay", decay)?;
    }
    let sgd = matches!(kind, OptimizerKind::Sgd | OptimizerKind::Momentum | OptimizerKind::Nesterov);
    let adam = matches!(kind, OptimizerKind::Adam | OptimizerKind::AdamW);
    let applies = [
        ("momentum", optimizer.momentum.is_some(), sgd || kind == OptimizerKind::RmsProp),
        ("dampening", optimizer.dampening.is_some(), sgd),
        ("betas", optimizer.betas.is_some(), adam),
        ("amsgrad", optimizer.amsgrad.is_some(), adam),
        ("eps", optimizer.eps.is_some(), !sgd),
        ("alpha", optimizer.alpha.is_some(), kind == OptimizerKind::RmsProp),
        ("centered", optimizer.centered.is_some(), kind == OptimizerKind::RmsProp),
        ("lr_decay", optimizer.lr_decay.is_some(), kind == OptimizerKind::Adagrad),
    ];
    if let Some((key, ..)) = applies.iter().find(|(_, given, fits)| *given && !fits) {
        return Err(RecipeError::invalid(
            format!("optimizer.{key}"),
            format!("does not apply to the {} optimizer", optimizer.kind),
        ));
    }
    if kind == OptimizerKind::Nesterov && optimizer.momentum == Some(0.0) {
        return Err(RecipeError::invalid("optimizer.momentum", "Nesterov momentum needs a momentum above 0"));
    }
    Ok(())
}

fn check_schedule(schedule: &ScheduleRecipe, validation_split: f64) -> Result<(), RecipeError> {
    let kind = schedule.kind.as_str();
    if !SCHEDULES.contains(&kind) {
        return Err(RecipeError::invalid(
            "schedule.type",
            format!("unknown schedule {kind:?} (one of {})", SCHEDULES.join(", ")),
        ));
    }
    let given = [
        ("t_max", schedule.t_max.is_some(), kind == "cosine"),
        ("eta_min", schedule.eta_min.is_some(), kind == "cosine"),
        ("step_size", schedule.step_size.is_some(), kind == "step"),
        ("gamma", schedule.gamma.is_some(), matches!(kind, "step" | "multistep" | "exponential")),
        ("milestones", schedule.milestones.is_some(), kind == "multistep"),
        ("max_lr", schedule.max_lr.is_some(), kind == "onecycle"),
        ("pct_start", schedule.pct_start.is_some(), kind == "onecycle"),
        ("factor", schedule.factor.is_some(), kind == "plateau"),
        ("patience", schedule.patience.is_some(), kind == "plateau"),
        ("min_lr", schedule.min_lr.is_some(), kind == "plateau"),
    ];
    if let Some((key, ..)) = given.iter().find(|(_, given, fits)| *given && !fits) {
        return Err(RecipeError::invalid(
            format!("schedule.{key}"),
            format!("does not apply to a {kind} schedule"),
        ));
    }
    for (key, value) in [
        ("schedule.gamma", schedule.gamma),
        ("schedule.max_lr", schedule.max_lr),
        ("schedule.factor", schedule.factor),
        ("schedule.warmup_start_factor", schedule.warmup_start_factor),
    ] {
        if let Some(value) = value {
            positive(key, value)?;
        }
    }
    for (key, value) in [("schedule.eta_min", schedule.eta_min), ("schedule.min_lr", schedule.min_lr)] {
        if let Some(value) = value {
            non_negative(key, value)?;
        }
    }
    if let Some(pct) = schedule.pct_start
        && !(pct > 0.0 && pct < 1.0)
    {
        return Err(RecipeError::invalid("schedule.pct_start", format!("{pct} is outside (0, 1)")));
    }
    if schedule.step_size == Some(0) || schedule.t_max == Some(0) {
        let key = if schedule.step_size == Some(0) { "schedule.step_size" } else { "schedule.t_max" };
        return Err(RecipeError::invalid(key, "must be at least 1"));
    }
    if kind == "step" && schedule.step_size.is_none() {
        return Err(RecipeError::invalid("schedule.step_size", "a step schedule needs step_size"));
    }
    if kind == "multistep" && schedule.milestones.is_none() {
        return Err(RecipeError::invalid("schedule.milestones", "a multistep schedule needs milestones"));
    }
    if kind == "plateau" && validation_split == 0.0 {
        return Err(RecipeError::invalid(
            "schedule.type",
            "a plateau schedule watches the validation loss: set data.validation_split above 0",
        ));
    }
    Ok(())
}

impl Recipe {
    /// The model the recipe describes, for `in_features` inputs and `outputs` outputs (the
    /// data's classes or regression targets), freshly initialized from the recipe's seed.
    ///
    /// # Errors
    /// [`RecipeError::Invalid`] naming the layer when a `linear` layer's `inputs` does not
    /// match what comes before it, or the last linear layer's size is not `outputs`.
    pub fn build_model(&self, in_features: usize, outputs: usize) -> Result<Sequential, RecipeError> {
        let mut model = Sequential::new();
        self.add_layers(&mut model, in_features, outputs)?;
        Ok(model)
    }

    /// Appends the recipe's layers to `model`, whose current output (or input, when empty)
    /// has `in_features` values.
    pub(super) fn add_layers(
        &self,
        model: &mut Sequential,
        in_features: usize,
        outputs: usize,
    ) -> Result<(), RecipeError> {
        let seed = self.training.seed;
        let mut rng = seeded_rng(seed);
        let mut width = in_features;
        let mut parameters = 0usize;
        let last_linear = self.model.layers.iter().rposition(|l| matches!(l, LayerRecipe::Linear { .. }));
        for (index, layer) in self.model.layers.iter().enumerate() {
            let key = |field: &str| format!("model.layers[{index}].{field}");
            match *layer {
                LayerRecipe::Linear { size, inputs, init } => {
                    if let Some(inputs) = inputs
                        && inputs != width
                    {
                        let before = if index == 0 {
                            "the data has".to_string()
                        } else {
                            "the layer before gives".to_string()
                        };
                        return Err(RecipeError::invalid(
                            key("inputs"),
                            format!("this linear layer takes {inputs} inputs, but {before} {width}"),
                        ));
                    }
                    if Some(index) == last_linear && size != outputs {
                        return Err(RecipeError::invalid(
                            key("size"),
                            format!("the last linear layer gives {size} outputs, but the data has {outputs}"),
                        ));
                    }
                    parameters = parameters.saturating_add(width.saturating_add(1).saturating_mul(size));
                    if parameters > MAX_PARAMETERS {
                        return Err(RecipeError::invalid(
                            key("size"),
                            format!(
                                "with this layer ({width} → {size}) the model would have {} parameters; percept \
                                 builds at most {} ({} MB of weights, several times that to train)",
                                group_thousands(parameters),
                                group_thousands(MAX_PARAMETERS),
                                MAX_PARAMETERS * 4 / 1_000_000
                            ),
                        ));
                    }
                    let linear = match init {
                        InitKind::Pytorch => Linear::new(width, size, &mut rng),
                        InitKind::Lesson => Linear::lesson(width, size, &mut rng),
                        other => {
                            let relu = gain(Nonlinearity::ReLU);
                            let weight = match other {
                                InitKind::KaimingUniform => Init::KaimingUniform { gain: relu },
                                InitKind::KaimingNormal => Init::KaimingNormal { gain: relu },
                                InitKind::XavierUniform => Init::XavierUniform { gain: 1.0 },
                                _ => Init::XavierNormal { gain: 1.0 },
                            };
                            Linear::with_init(width, size, weight, Init::Zeros, &mut rng)
                        }
                    };
                    model.add(linear)?;
                    width = size;
                }
                LayerRecipe::Relu => {
                    model.add(ReLU)?;
                }
                LayerRecipe::LeakyRelu { slope } => {
                    model.add(LeakyReLU::new(slope))?;
                }
                LayerRecipe::Elu { alpha } => {
                    model.add(ELU::new(alpha))?;
                }
                LayerRecipe::Gelu { tanh } => {
                    let approximate = if tanh { GeluApproximation::Tanh } else { GeluApproximation::None };
                    model.add(GELU { approximate })?;
                }
                LayerRecipe::Sigmoid => {
                    model.add(Sigmoid)?;
                }
                LayerRecipe::Tanh => {
                    model.add(Tanh)?;
                }
                LayerRecipe::Softplus { beta, threshold } => {
                    model.add(Softplus { beta, threshold })?;
                }
                LayerRecipe::Silu => {
                    model.add(SiLU)?;
                }
                LayerRecipe::Softmax => {
                    model.add(Softmax)?;
                }
                LayerRecipe::LogSoftmax => {
                    model.add(LogSoftmax)?;
                }
                LayerRecipe::Dropout { p } => {
                    // Seeded from the run's seed by the fit loop (`Sequential::seed_layers`).
                    model.add(Dropout::new(p))?;
                }
                LayerRecipe::BatchNorm { eps, momentum } => {
                    let mut layer = BatchNorm1d::new(width);
                    layer.eps = eps;
                    layer.momentum = momentum;
                    model.add(layer)?;
                }
                LayerRecipe::LayerNorm { eps } => {
                    let mut layer = LayerNorm::new(width);
                    layer.eps = eps;
                    model.add(layer)?;
                }
            }
        }
        Ok(())
    }

    /// The loss: the recipe's, or cross-entropy for `classification` and MSE otherwise.
    /// Cross-entropy after a final softmax takes probabilities (the lesson's), after a final
    /// log-softmax log-probabilities (NLL), and logits otherwise.
    pub fn build_loss(&self, classification: bool) -> Box<dyn Loss> {
        let last = self.model.layers.last();
        let default = if classification {
            LossRecipe::CrossEntropy { label_smoothing: 0.0, class_weights: None }
        } else {
            LossRecipe::Mse
        };
        match self.loss.clone().unwrap_or(default) {
            LossRecipe::CrossEntropy { .. } if matches!(last, Some(LayerRecipe::Softmax)) => {
                Box::new(CrossEntropy)
            }
            LossRecipe::CrossEntropy { .. } if matches!(last, Some(LayerRecipe::LogSoftmax)) => {
                Box::new(NllLoss)
            }
            LossRecipe::CrossEntropy { label_smoothing, class_weights } => {
                let mut loss = SoftmaxCrossEntropy::new().label_smoothing(label_smoothing);
                if let Some(weights) = class_weights {
                    loss = loss.class_weights(weights);
                }
                Box::new(loss)
            }
            LossRecipe::Mse => Box::new(Mse),
            LossRecipe::Mae => Box::new(Mae),
            LossRecipe::Huber { delta } => Box::new(Huber::new(delta)),
        }
    }

    /// The optimizer's update rule, with PyTorch's defaults for what the recipe leaves out.
    pub fn build_rule(&self) -> Box<dyn UpdateRule> {
        let o = &self.optimizer;
        let kind: OptimizerKind = o.kind.parse().unwrap_or(OptimizerKind::Sgd);
        let default_rate = match kind {
            OptimizerKind::Sgd | OptimizerKind::Momentum | OptimizerKind::Nesterov => 0.1,
            OptimizerKind::Adam | OptimizerKind::AdamW => 0.001,
            OptimizerKind::RmsProp | OptimizerKind::Adagrad => 0.01,
        };
        let learning_rate = o.learning_rate.unwrap_or(default_rate);
        let adam = |defaults: Adam| {
            let [beta1, beta2] = o.betas.unwrap_or([defaults.beta1, defaults.beta2]);
            Adam {
                learning_rate,
                beta1,
                beta2,
                eps: o.eps.unwrap_or(defaults.eps),
                weight_decay: o.weight_decay.unwrap_or(defaults.weight_decay),
                amsgrad: o.amsgrad.unwrap_or(defaults.amsgrad),
            }
        };
        match kind {
            OptimizerKind::Sgd | OptimizerKind::Momentum | OptimizerKind::Nesterov => {
                let default_momentum = if kind == OptimizerKind::Sgd { 0.0 } else { 0.9 };
                Box::new(Sgd {
                    learning_rate,
                    momentum: o.momentum.unwrap_or(default_momentum),
                    dampening: o.dampening.unwrap_or(0.0),
                    nesterov: kind == OptimizerKind::Nesterov,
                    weight_decay: o.weight_decay.unwrap_or(0.0),
                })
            }
            OptimizerKind::Adam => Box::new(adam(Adam::default())),
            OptimizerKind::AdamW => Box::new(AdamW { adam: adam(AdamW::default().adam) }),
            OptimizerKind::RmsProp => {
                let d = RmsProp::default();
                Box::new(RmsProp {
                    learning_rate,
                    alpha: o.alpha.unwrap_or(d.alpha),
                    eps: o.eps.unwrap_or(d.eps),
                    weight_decay: o.weight_decay.unwrap_or(d.weight_decay),
                    momentum: o.momentum.unwrap_or(d.momentum),
                    centered: o.centered.unwrap_or(d.centered),
                })
            }
            OptimizerKind::Adagrad => {
                let d = Adagrad::default();
                Box::new(Adagrad {
                    learning_rate,
                    lr_decay: o.lr_decay.unwrap_or(d.lr_decay),
                    weight_decay: o.weight_decay.unwrap_or(d.weight_decay),
                    initial_accumulator_value: d.initial_accumulator_value,
                    eps: o.eps.unwrap_or(d.eps),
                })
            }
        }
    }

    /// An optimizer with [`Recipe::build_rule`]'s rule.
    pub fn build_optimizer(&self) -> Optimizer {
        Optimizer::new(self.build_rule())
    }

    /// The schedule and when it steps, for a training set of `batches_per_epoch` batches
    /// (`None` for a constant rate without warm-up). Lengths the recipe leaves out (a cosine
    /// schedule's half period, a one-cycle's length) cover the run after the warm-up.
    pub fn build_schedule(&self, batches_per_epoch: usize) -> Option<(Schedule, StepEvery)> {
        let recipe = self.schedule.as_ref()?;
        let every = match recipe.every {
            StepEveryKind::Epoch => StepEvery::Epoch,
            StepEveryKind::Batch => StepEvery::Batch,
        };
        let per_epoch = if every == StepEvery::Batch { batches_per_epoch.max(1) as u64 } else { 1 };
        let warmup = recipe.warmup_epochs * per_epoch;
        let total = (self.training.epochs as u64 * per_epoch).saturating_sub(warmup).max(1);
        let rate = self.build_rule().learning_rate();
        let schedule = match recipe.kind.as_str() {
            "step" => Schedule::Step {
                step_size: recipe.step_size.unwrap_or(1),
                gamma: recipe.gamma.unwrap_or(0.1),
            },
            "multistep" => Schedule::MultiStep {
                milestones: recipe.milestones.clone().unwrap_or_default(),
                gamma: recipe.gamma.unwrap_or(0.1),
            },
            "exponential" => Schedule::Exponential { gamma: recipe.gamma.unwrap_or(0.95) },
            "cosine" => Schedule::Cosine {
                t_max: recipe.t_max.unwrap_or(total),
                eta_min: recipe.eta_min.unwrap_or(0.0),
            },
            "onecycle" => Schedule::OneCycle {
                max_lr: recipe.max_lr.unwrap_or(rate),
                total_steps: total,
                pct_start: recipe.pct_start.unwrap_or(0.3),
                // PyTorch's `OneCycleLR` defaults.
                div_factor: 25.0,
                final_div_factor: 1e4,
            },
            "plateau" => {
                let defaults = Plateau::default();
                Schedule::ReduceOnPlateau(Plateau {
                    factor: recipe.factor.unwrap_or(defaults.factor),
                    patience: recipe.patience.unwrap_or(defaults.patience),
                    min_lr: recipe.min_lr.unwrap_or(defaults.min_lr),
                    ..defaults
                })
            }
            _ => Schedule::Constant,
        };
        let schedule = if warmup > 0 {
            Schedule::Warmup {
                steps: warmup,
                start_factor: recipe.warmup_start_factor.unwrap_or(0.1),
                then: Box::new(schedule),
            }
        } else {
            schedule
        };
        (schedule != Schedule::Constant).then_some((schedule, every))
    }
}

fn finite(key: &str, value: f32) -> Result<(), RecipeError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(RecipeError::invalid(key, format!("{value} is not a finite number")))
    }
}

fn positive(key: &str, value: f32) -> Result<(), RecipeError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(RecipeError::invalid(key, format!("{value} must be a finite number above 0")))
    }
}

fn non_negative(key: &str, value: f32) -> Result<(), RecipeError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(RecipeError::invalid(key, format!("{value} must be a finite number, at least 0")))
    }
}
