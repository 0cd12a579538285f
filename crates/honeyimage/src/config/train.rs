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

