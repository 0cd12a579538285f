//! Training settings: the recipe of every model the tool trains (proxies,
//! in-models, suspects), saved beside the weights so a model folder says how
//! it was made.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Training settings; saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Epochs of linear warm-up before the cosine decay (fractional allowed).
    pub warmup_epochs: f64,
    /// Label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// Zero-padding for random crops (0 disables).
    pub crop_padding: usize,
    /// Random horizontal flips (off for data where left/right matters).
    pub flip: bool,
    /// Seed of weights, batch order and augmentation.
    pub seed: u64,
    /// Arithmetic of the forward and backward passes (the weights and the
    /// optimiser stay fp32 either way).
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

/// Arithmetic of the training and PGD passes. Every number the tool reports
/// or decides on (hardness scores, verification losses, accuracies) is
/// computed in fp32 whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision throughout.
    #[default]
    Fp32,
    /// bf16 mixed precision: convolutions and matrix products in bfloat16
    /// under libtorch's autocast, with fp32 weights (the master copies),
    /// optimiser and losses. Needs no loss scaling: bf16 has fp32's range.
    Bf16,
}

impl Precision {
    /// Whether this is [`Precision::Fp32`] (the default, left out of saved settings).
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// `"fp32"` or `"bf16"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(Error::invalid("precision", format!("{s:?}; expected fp32 or bf16"))),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            warmup_epochs: 0.5,
            label_smoothing: 0.0,
            crop_padding: 0,
            flip: false,
            seed: 0,
            precision: Precision::Fp32,
        }
    }
}

impl TrainConfig {
    /// Checks ranges before anything runs.
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &str, m: String| Err(Error::invalid(w, m));
        if self.epochs == 0 {
            return bad("epochs", "must be >= 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch size", "must be >= 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("learning rate", format!("{} (must be > 0)", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("{} (must be in [0, 1))", self.momentum));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label smoothing", format!("{} (must be in [0, 1))", self.label_smoothing));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) || !(self.warmup_epochs >= 0.0) {
            return bad("weight decay / warm-up", format!("{} / {}", self.weight_decay, self.warmup_epochs));
        }
        Ok(())
    }
}

