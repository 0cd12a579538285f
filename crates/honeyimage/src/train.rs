//! The training loop, kept apart from the models: SGD with momentum
//! (optionally Nesterov), weight decay, a cosine schedule with linear warm-up,
//! label smoothing, random-crop and flip augmentation. Deterministic for a
//! given seed on CPU: batch order and augmentation come from a seeded ChaCha
//! stream, initial weights from `tch::manual_seed`.
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::model::Model;
use crate::tensors::TensorSet;
use crate::{Error, Result};

/// Training settings; saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

/// What the training loop reports while it runs.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// One optimisation step finished.
    Step {
        /// Epoch (0-based).
        epoch: usize,
        /// Steps done so far in total.
        step: usize,
        /// Steps in the whole run.
        total_steps: usize,
        /// Running mean loss over this epoch.
        loss: f64,
        /// Running training accuracy over this epoch.
        accuracy: f64,
        /// Training throughput so far.
        images_per_s: f64,
    },
    /// An epoch finished.
    Epoch {
        /// Epoch (0-based).
        epoch: usize,
        /// Mean training loss.
        loss: f64,
        /// Training accuracy (on augmented batches, in training mode).
        accuracy: f64,
    },
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Settings used.
    pub config: TrainConfig,
    /// Samples trained on.
    pub train_samples: usize,
    /// Mean loss of the last epoch.
    pub final_loss: f64,
    /// Training accuracy of the last epoch (augmented, training mode).
    pub final_train_accuracy: f64,
    /// Wall time.
    pub seconds: f64,
    /// Images per second over the run.
    pub images_per_s: f64,
}

/// Stateful optimiser + schedule, usable step by step (the bi-level
/// HoneyImage optimisation interleaves these steps with PGD).
pub struct Trainer {
    opt: nn::Optimizer,
    config: TrainConfig,
    total_steps: usize,
    warmup_steps: usize,
    step: usize,
    rng: ChaCha8Rng,
}

impl Trainer {
    /// An optimiser over `model`'s weights for a run of `total_steps`.
    pub fn new(model: &Model, config: &TrainConfig, steps_per_epoch: usize) -> Result<Trainer> {
        config.validate()?;
        let sgd = nn::Sgd { momentum: config.momentum, dampening: 0.0, wd: config.weight_decay, nesterov: config.nesterov && config.momentum > 0.0 };
        let opt = sgd.build(model.var_store(), config.lr)?;
        let total_steps = (steps_per_epoch * config.epochs).max(1);
        let warmup_steps = ((config.warmup_epochs * steps_per_epoch as f64).round() as usize).min(total_steps);
        Ok(Trainer { opt, config: config.clone(), total_steps, warmup_steps, step: 0, rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_7a1e) })
    }

    /// Learning rate at step `s`: linear warm-up, then cosine to zero.
    pub fn lr_at(&self, s: usize) -> f64 {
        let lr = self.config.lr;
        if s < self.warmup_steps {
            return lr * (s + 1) as f64 / self.warmup_steps as f64;
        }
        let span = (self.total_steps - self.warmup_steps).max(1) as f64;
        let t = ((s - self.warmup_steps) as f64 / span).min(1.0);
        0.5 * lr * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// Random crop (zero padding) and flip of a batch `[n, c, h, w]`.
    pub fn augment(&mut self, x: &Tensor) -> Tensor {
        let pad = self.config.crop_padding as i64;
        let mut x = x.shallow_clone();
        if pad > 0 {
            let s = x.size();
            let (h, w) = (s[2], s[3]);
            let padded = x.constant_pad_nd([pad, pad, pad, pad]);
            let crops: Vec<Tensor> = (0..s[0])
                .map(|i| {
                    let dy = self.rng.gen_range(0..=2 * pad);
                    let dx = self.rng.gen_range(0..=2 * pad);
                    padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
                })
                .collect();
            x = Tensor::stack(&crops, 0);
        }
        if self.config.flip {
            let n = x.size()[0];
            let mask: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
            let mask = Tensor::from_slice(&mask).to_device(x.device()).view([n, 1, 1, 1]);
            x = x.flip([3]).where_self(&mask, &x);
        }
        x
    }

    /// One SGD step on a batch; returns (mean loss, correct count).
    pub fn step(&mut self, model: &Model, x: &Tensor, y: &Tensor) -> Result<(f64, i64)> {
        let lr = self.lr_at(self.step);
        self.opt.set_lr(lr);
        let x = self.augment(x);
        let logits = model.forward_t(&x, true);
        let loss = logits.f_cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, self.config.label_smoothing)?;
        self.opt.backward_step(&loss);
        self.step += 1;
        let l = loss.double_value(&[]);
        if !l.is_finite() {
            return Err(Error::NonFinite(format!("training loss at step {} (lr {lr})", self.step)));
        }
        let correct = logits.argmax(-1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[]);
        Ok((l, correct))
    }

    /// Shuffles with this trainer's stream (for epoch orders).
    pub fn shuffle(&mut self, idx: &mut [usize]) {
        idx.shuffle(&mut self.rng);
    }
}

/// Trains `model` on `data` for `config.epochs` epochs.
pub fn train(model: &Model, data: &TensorSet, config: &TrainConfig, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    config.validate()?;
    let n = data.len();
    if n == 0 {
        return Err(Error::invalid("training data", "no samples"));
    }
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let mut trainer = Trainer::new(model, config, steps_per_epoch)?;
    let device = model.device();
    let (images, labels) = (data.images.to_device(device), data.labels.to_device(device));
    let start = Instant::now();
    let mut seen = 0usize;
    let (mut last_loss, mut last_acc) = (f64::NAN, f64::NAN);
    for epoch in 0..config.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        trainer.shuffle(&mut order);
        let (mut loss_sum, mut correct, mut count) = (0.0, 0i64, 0usize);
        for batch in order.chunks(config.batch_size) {
            let idx = Tensor::from_slice(&batch.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
            let (x, y) = (images.index_select(0, &idx), labels.index_select(0, &idx));
            let (l, c) = trainer.step(model, &x, &y)?;
            loss_sum += l * batch.len() as f64;
            correct += c;
            count += batch.len();
            seen += batch.len();
            on_event(TrainEvent::Step {
                epoch,
                step: trainer.step,
                total_steps: trainer.total_steps,
                loss: loss_sum / count as f64,
                accuracy: correct as f64 / count as f64,
                images_per_s: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
        }
        last_loss = loss_sum / count as f64;
        last_acc = correct as f64 / count as f64;
        on_event(TrainEvent::Epoch { epoch, loss: last_loss, accuracy: last_acc });
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainReport {
        config: config.clone(),
        train_samples: n,
        final_loss: last_loss,
        final_train_accuracy: last_acc,
        seconds,
        images_per_s: seen as f64 / seconds.max(1e-9),
    })
}
