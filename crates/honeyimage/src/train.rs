//! The training loop, kept apart from the models: SGD with momentum
//! (optionally Nesterov), weight decay, a cosine schedule with linear warm-up,
//! label smoothing, random-crop and flip augmentation. Deterministic for a
//! given seed on CPU: batch order and augmentation come from a seeded ChaCha
//! stream, initial weights from libtorch's generator seeded under
//! [`crate::seeded`]'s lock.
//!
//! SGD is written here (the same update as `torch.optim.SGD`) rather than
//! taken from libtorch, because libtorch's optimiser state cannot be read
//! back: owning the momentum buffers is what lets [`train_resumable`] save
//! a checkpoint and resume a killed run to the same weights, bit for bit.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

pub use crate::config::TrainConfig;
pub use crate::model::TrainReport;
use crate::model::Model;
use crate::tensors::TensorSet;
use crate::{Error, Result};

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
    /// A checkpoint was found and the run continues from it.
    Resumed {
        /// Steps already done.
        step: usize,
        /// Steps in the whole run.
        total_steps: usize,
    },
    /// A checkpoint was found but not used (another run's, or damaged).
    CheckpointIgnored {
        /// Why.
        reason: String,
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


/// SGD with momentum, Nesterov and L2 weight decay: the update of
/// `torch.optim.SGD` (dampening 0), over named parameters so that the
/// momentum buffers can be saved and restored.
struct Sgd {
    params: Vec<(String, Tensor)>,
    momentum: BTreeMap<String, Tensor>,
    config: TrainConfig,
}

impl Sgd {
    fn new(model: &Model, config: &TrainConfig) -> Sgd {
        let mut params: Vec<(String, Tensor)> = model.var_store().variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Sgd { params, momentum: BTreeMap::new(), config: config.clone() }
    }

    fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
        loss.backward();
        let (mu, wd) = (self.config.momentum, self.config.weight_decay);
        let nesterov = self.config.nesterov && mu > 0.0;
        tch::no_grad(|| {
            for (name, p) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let mut d = if wd != 0.0 { g + &*p * wd } else { g };
                if mu > 0.0 {
                    let buf = match self.momentum.get_mut(name) {
                        Some(b) => {
                            let _ = b.g_mul_scalar_(mu).g_add_(&d);
                            b.shallow_clone()
                        }
                        None => {
                            let b = d.detach().copy();
                            self.momentum.insert(name.clone(), b.shallow_clone());
                            b
                        }
                    };
                    d = if nesterov { d + buf * mu } else { buf };
                }
                let _ = p.g_sub_(&(d * lr));
            }
        });
    }
}

/// Random crop (zero padding `pad`, 0 disables) and horizontal flip of a
/// batch `[n, c, h, w]`, drawn from `rng`; differentiable in `x`, so the
/// HoneyImage optimisation can average its objective over the same
/// augmentations an infringer trains with.
pub fn crop_flip(x: &Tensor, pad: usize, flip: bool, rng: &mut ChaCha8Rng) -> Tensor {
    let pad = pad as i64;
    let mut x = x.shallow_clone();
    if pad > 0 {
        let s = x.size();
        let (h, w) = (s[2], s[3]);
        let padded = x.constant_pad_nd([pad, pad, pad, pad]);
        let crops: Vec<Tensor> = (0..s[0])
            .map(|i| {
                let dy = rng.gen_range(0..=2 * pad);
                let dx = rng.gen_range(0..=2 * pad);
                padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
            })
            .collect();
        x = Tensor::stack(&crops, 0);
    }
    if flip {
        let n = x.size()[0];
        let mask: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.5)).collect();
        let mask = Tensor::from_slice(&mask).to_device(x.device()).view([n, 1, 1, 1]);
        x = x.flip([3]).where_self(&mask, &x);
    }
    x
}

/// Stateful optimiser + schedule, usable step by step (the bi-level
/// HoneyImage optimisation interleaves these steps with PGD).
pub struct Trainer {
    opt: Sgd,
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
        let opt = Sgd::new(model, config);
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
        crop_flip(x, self.config.crop_padding, self.config.flip, &mut self.rng)
    }

    /// One SGD step on a batch; returns (mean loss, correct count).
    pub fn step(&mut self, model: &Model, x: &Tensor, y: &Tensor) -> Result<(f64, i64)> {
        let x = self.augment(x);
        let smoothing = self.config.label_smoothing;
        let (l, logits) = self.step_with(model, &x, |logits| Ok(logits.f_cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, smoothing)?))?;
        let correct = logits.argmax(-1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[]);
        Ok((l, correct))
    }

    /// One SGD step with the caller's loss of the logits of `x` (as given:
    /// no augmentation here); returns the loss and the detached logits.
    /// Mixup, adversarial training and distillation are built on it.
    pub fn step_with(&mut self, model: &Model, x: &Tensor, loss_of: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<(f64, Tensor)> {
        let lr = self.lr_at(self.step);
        let logits = model.forward_at(x, true, self.config.precision);
        let loss = loss_of(&logits)?;
        self.opt.backward_step(&loss, lr);
        self.step += 1;
        let l = loss.double_value(&[]);
        if !l.is_finite() {
            return Err(Error::NonFinite(format!("training loss at step {} (lr {lr})", self.step)));
        }
        Ok((l, logits.detach()))
    }

    /// Shuffles with this trainer's stream (for epoch orders).
    pub fn shuffle(&mut self, idx: &mut [usize]) {
        idx.shuffle(&mut self.rng);
    }
}

/// Where and how often a resumable run saves its state.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    /// Folder of the checkpoints (created on the first save; the caller
    /// removes it once the result is safely written).
    pub dir: PathBuf,
    /// Save at least this often, and at the end of every epoch.
    pub every: Duration,
    /// Identifies the run (data and settings); a checkpoint with another id
    /// belongs to another run and is ignored.
    pub run_id: String,
}

const CHECKPOINT_VERSION: u32 = 1;

/// Everything besides the tensors that a resumed run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    version: u32,
    run_id: String,
    config: TrainConfig,
    /// The epoch in progress and how many of its batches are done.
    epoch: usize,
    batch: usize,
    /// Optimiser steps done.
    step: usize,
    /// Word positions of the ChaCha stream at the start of the epoch (to
    /// redo its shuffle) and now.
    epoch_rng: u128,
    rng: u128,
    loss_sum: f64,
    correct: i64,
    count: usize,
    seen: usize,
    /// Last finished epoch's loss and accuracy (none before the first).
    last_loss: Option<f64>,
    last_acc: Option<f64>,
    seconds: f64,
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint { path: path.into(), message: e.to_string() }
}

impl Checkpoints {
    fn save(&self, model: &Model, trainer: &Trainer, st: &CheckpointState) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let name = format!("step-{:09}", st.step);
        let tmp = self.dir.join(format!("{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        model.var_store().save(tmp.join("weights.safetensors"))?;
        let bufs: Vec<(&str, &Tensor)> = trainer.opt.momentum.iter().map(|(k, v)| (k.as_str(), v)).collect();
        if !bufs.is_empty() {
            Tensor::write_safetensors(&bufs, tmp.join("momentum.safetensors"))?;
        }
        crate::fsio::write_json(&tmp.join("state.json"), st)?;
        let dest = self.dir.join(&name);
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        honeyimage_data::write_atomic(&self.dir.join("LATEST"), name.as_bytes())?;
        // Older checkpoints are now redundant.
        for e in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("step-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }

    /// The latest checkpoint of this run, loaded into `model` and `trainer`.
    fn load(&self, model: &Model, trainer: &mut Trainer) -> Result<Option<CheckpointState>> {
        let latest = self.dir.join("LATEST");
        let Ok(name) = std::fs::read_to_string(&latest) else { return Ok(None) };
        let dir = self.dir.join(name.trim());
        let Some(st) = crate::fsio::read_json::<CheckpointState>(&dir.join("state.json"))? else {
            return Err(ckpt_err(&latest, format!("names {}, which is missing", dir.display())));
        };
        if st.version != CHECKPOINT_VERSION || st.run_id != self.run_id || st.config != trainer.config {
            return Err(ckpt_err(&self.dir, "made by another run (other data or settings)"));
        }
        // Read and check everything before changing anything.
        let vars = model.var_store().variables();
        let weights = dir.join("weights.safetensors");
        let saved = Tensor::read_safetensors(&weights).map_err(|e| ckpt_err(&weights, e))?;
        if saved.len() != vars.len() {
            return Err(ckpt_err(&weights, format!("{} tensors for a model with {}", saved.len(), vars.len())));
        }
        for (name, t) in &saved {
            let v = vars.get(name).ok_or_else(|| ckpt_err(&weights, format!("unknown tensor {name}")))?;
            if v.size() != t.size() {
                return Err(ckpt_err(&weights, format!("{name}: shape {:?}, the model has {:?}", t.size(), v.size())));
            }
        }
        let mom = dir.join("momentum.safetensors");
        let bufs = if mom.exists() { Tensor::read_safetensors(&mom).map_err(|e| ckpt_err(&mom, e))? } else { Vec::new() };
        for (name, t) in &bufs {
            match trainer.opt.params.iter().find(|(n, _)| n == name) {
                Some((_, p)) if p.size() == t.size() => {}
                _ => return Err(ckpt_err(&mom, format!("no parameter {name} of shape {:?}", t.size()))),
            }
        }
        tch::no_grad(|| {
            for (name, t) in &saved {
                let _ = vars[name].shallow_clone().copy_(t);
            }
        });
        trainer.opt.momentum = bufs.into_iter().map(|(n, t)| (n, t.to_device(model.device()))).collect();
        trainer.step = st.step;
        Ok(Some(st))
    }
}

/// Trains `model` on `data` for `config.epochs` epochs.
pub fn train(model: &Model, data: &TensorSet, config: &TrainConfig, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    train_resumable(model, data, config, None, on_event)
}

/// What every training run starts from: the checked settings, a trainer
/// for the whole schedule and the data on the model's device.
struct Run {
    n: usize,
    steps_per_epoch: usize,
    trainer: Trainer,
    images: Tensor,
    labels: Tensor,
}

impl Run {
    fn start(model: &Model, data: &TensorSet, config: &TrainConfig) -> Result<Run> {
        config.validate()?;
        let n = data.len();
        if n == 0 {
            return Err(Error::invalid("training data", "no samples"));
        }
        let steps_per_epoch = n.div_ceil(config.batch_size);
        let trainer = Trainer::new(model, config, steps_per_epoch)?;
        let device = model.device();
        Ok(Run { n, steps_per_epoch, trainer, images: data.images.to_device(device), labels: data.labels.to_device(device) })
    }
}

/// One batch of a custom training run: the trainer (for its schedule,
/// augmentation and stream), the batch's images and labels; returns the
/// batch's mean loss and correct count.
pub type BatchStep<'a> = dyn FnMut(&mut Trainer, &Tensor, &Tensor) -> Result<(f64, i64)> + 'a;

/// Trains `model` on `data` with a caller-supplied batch step (mixup,
/// adversarial training, distillation, masked fine-tuning): the schedule
/// and batch order of [`train`], without checkpoints.
pub fn train_with(model: &Model, data: &TensorSet, config: &TrainConfig, on_event: &mut dyn FnMut(TrainEvent), step: &mut BatchStep) -> Result<TrainReport> {
    let Run { n, mut trainer, images, labels, .. } = Run::start(model, data, config)?;
    let device = model.device();
    let start = Instant::now();
    let (mut loss, mut accuracy, mut seen) = (f64::NAN, f64::NAN, 0usize);
    for epoch in 0..config.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        trainer.shuffle(&mut order);
        let (mut loss_sum, mut correct, mut count) = (0.0, 0i64, 0usize);
        for batch in order.chunks(config.batch_size) {
            let idx = Tensor::from_slice(&batch.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
            let (l, c) = step(&mut trainer, &images.index_select(0, &idx), &labels.index_select(0, &idx))?;
            (loss_sum, correct, count, seen) = (loss_sum + l * batch.len() as f64, correct + c, count + batch.len(), seen + batch.len());
            let images_per_s = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
            on_event(TrainEvent::Step { epoch, step: trainer.step, total_steps: trainer.total_steps, loss: loss_sum / count as f64, accuracy: correct as f64 / count as f64, images_per_s });
            crate::interrupt::check()?;
        }
        (loss, accuracy) = (loss_sum / n as f64, correct as f64 / n as f64);
        on_event(TrainEvent::Epoch { epoch, loss, accuracy });
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainReport { config: config.clone(), train_samples: n, final_loss: loss, final_train_accuracy: accuracy, seconds, images_per_s: seen as f64 / seconds.max(1e-9) })
}

/// Counters of a run: the epoch in progress and the totals so far.
#[derive(Debug, Clone, Copy)]
struct Progress {
    loss_sum: f64,
    correct: i64,
    count: usize,
    seen: usize,
    last_loss: f64,
    last_acc: f64,
}

/// The latest usable checkpoint, loaded into `model` and `trainer`; a
/// damaged or foreign one is reported and ignored (loading checks
/// everything before changing anything, so it costs the time it saved,
/// never the run).
fn resume(checkpoints: Option<&Checkpoints>, model: &Model, trainer: &mut Trainer, on_event: &mut dyn FnMut(TrainEvent)) -> Option<CheckpointState> {
    let resumed = match checkpoints?.load(model, trainer) {
        Ok(r) => r,
        Err(e) => {
            on_event(TrainEvent::CheckpointIgnored { reason: e.to_string() });
            None
        }
    };
    if let Some(s) = &resumed {
        on_event(TrainEvent::Resumed { step: s.step, total_steps: trainer.total_steps });
    }
    resumed
}

/// The batch order of `epoch`, the stream position it was drawn from, the
/// batches already done and the epoch's counters (restored when resuming
/// inside this epoch).
fn epoch_start(trainer: &mut Trainer, n: usize, epoch: usize, resumed: Option<&CheckpointState>, steps_per_epoch: usize, p: &mut Progress) -> (Vec<usize>, u128, usize) {
    let mut order: Vec<usize> = (0..n).collect();
    match resumed {
        Some(s) if s.epoch == epoch && s.batch < steps_per_epoch => {
            trainer.rng.set_word_pos(s.epoch_rng);
            trainer.shuffle(&mut order);
            trainer.rng.set_word_pos(s.rng);
            (p.loss_sum, p.correct, p.count) = (s.loss_sum, s.correct, s.count);
            (order, s.epoch_rng, s.batch)
        }
        _ => {
            let pos = trainer.rng.get_word_pos();
            trainer.shuffle(&mut order);
            (p.loss_sum, p.correct, p.count) = (0.0, 0, 0);
            (order, pos, 0)
        }
    }
}

/// Where a run stands, for a checkpoint.
#[allow(clippy::too_many_arguments)]
fn checkpoint_state(c: &Checkpoints, config: &TrainConfig, epoch: usize, batch: usize, trainer: &Trainer, epoch_rng: u128, p: &Progress, seconds: f64) -> CheckpointState {
    CheckpointState {
        version: CHECKPOINT_VERSION,
        run_id: c.run_id.clone(),
        config: config.clone(),
        epoch,
        batch,
        step: trainer.step,
        epoch_rng,
        rng: trainer.rng.get_word_pos(),
        loss_sum: p.loss_sum,
        correct: p.correct,
        count: p.count,
        seen: p.seen,
        last_loss: p.last_loss.is_finite().then_some(p.last_loss),
        last_acc: p.last_acc.is_finite().then_some(p.last_acc),
        seconds,
    }
}

/// [`train`], saving checkpoints as it goes and resuming from the latest
/// one of the same run: a run killed at any point and started again ends
/// with the same weights as one that was never interrupted.
pub fn train_resumable(
    model: &Model,
    data: &TensorSet,
    config: &TrainConfig,
    checkpoints: Option<&Checkpoints>,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<TrainReport> {
    let Run { n, steps_per_epoch, mut trainer, images, labels } = Run::start(model, data, config)?;
    let device = model.device();
    let resumed = resume(checkpoints, model, &mut trainer, on_event);
    let start = Instant::now();
    let prior_seconds = resumed.as_ref().map_or(0.0, |s| s.seconds);
    let mut p = Progress { loss_sum: 0.0, correct: 0, count: 0, seen: 0, last_loss: f64::NAN, last_acc: f64::NAN };
    if let Some(s) = &resumed {
        (p.seen, p.last_loss, p.last_acc) = (s.seen, s.last_loss.unwrap_or(f64::NAN), s.last_acc.unwrap_or(f64::NAN));
    }
    let first_epoch = match &resumed {
        Some(s) if s.batch >= steps_per_epoch => {
            trainer.rng.set_word_pos(s.rng);
            s.epoch + 1
        }
        Some(s) => s.epoch,
        None => 0,
    };
    let mut last_save = Instant::now();
    for epoch in first_epoch..config.epochs {
        let (order, epoch_rng, skip) = epoch_start(&mut trainer, n, epoch, resumed.as_ref(), steps_per_epoch, &mut p);
        for (b, batch) in order.chunks(config.batch_size).enumerate().skip(skip) {
            let idx = Tensor::from_slice(&batch.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
            let (l, c) = trainer.step(model, &images.index_select(0, &idx), &labels.index_select(0, &idx))?;
            p.loss_sum += l * batch.len() as f64;
            p.correct += c;
            p.count += batch.len();
            p.seen += batch.len();
            let seconds = prior_seconds + start.elapsed().as_secs_f64();
            let (loss, accuracy) = (p.loss_sum / p.count as f64, p.correct as f64 / p.count as f64);
            let images_per_s = p.seen as f64 / seconds.max(1e-9);
            on_event(TrainEvent::Step { epoch, step: trainer.step, total_steps: trainer.total_steps, loss, accuracy, images_per_s });
            crate::interrupt::check()?;
            let epoch_done = b + 1 == steps_per_epoch;
            if epoch_done {
                (p.last_loss, p.last_acc) = (loss, accuracy);
            }
            if let Some(c) = checkpoints.filter(|c| epoch_done || last_save.elapsed() >= c.every) {
                c.save(model, &trainer, &checkpoint_state(c, config, epoch, b + 1, &trainer, epoch_rng, &p, seconds))?;
                last_save = Instant::now();
            }
        }
        on_event(TrainEvent::Epoch { epoch, loss: p.last_loss, accuracy: p.last_acc });
    }
    let seconds = prior_seconds + start.elapsed().as_secs_f64();
    Ok(TrainReport {
        config: config.clone(),
        train_samples: n,
        final_loss: p.last_loss,
        final_train_accuracy: p.last_acc,
        seconds,
        images_per_s: p.seen as f64 / seconds.max(1e-9),
    })
}
