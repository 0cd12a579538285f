//! Training- and model-side attacks built on the training loop: mixup
//! (Zhang et al., 2018), CutMix (Yun et al., 2019), PGD adversarial training
//! (Madry et al., 2018), knowledge distillation (Hinton et al., 2015),
//! global magnitude pruning with masked fine-tuning, int8 weight
//! quantisation and fine-tuning. Each is what an infringer would run with
//! the same optimiser and schedule as every other suspect.
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use tch::{Kind, Reduction, Tensor};

use crate::config::{Attack, TrainConfig};
use crate::model::Model;
use crate::tensors::TensorSet;
use crate::train::{train_with, TrainEvent, TrainReport, Trainer};
use crate::{Error, Result};

/// Mean over the batch of the cross-entropy against soft targets.
fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    -(targets * logits.log_softmax(-1, Kind::Float)).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float).mean(Kind::Float)
}

/// Correct top-1 predictions of `logits` against labels `y`.
fn correct(logits: &Tensor, y: &Tensor) -> i64 {
    logits.argmax(-1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[])
}

/// A random permutation of `0..n` as an index tensor.
fn permutation(n: i64, rng: &mut ChaCha8Rng, device: tch::Device) -> Tensor {
    let mut p: Vec<i64> = (0..n).collect();
    p.shuffle(rng);
    Tensor::from_slice(&p).to_device(device)
}

/// CutMix of `x` with `xp`: a box covering about `1 - lam` of the image
/// taken from `xp`; returns the mixed batch and the true share of `x`.
fn cutmix(x: &Tensor, xp: &Tensor, lam: f64, rng: &mut ChaCha8Rng) -> (Tensor, f64) {
    let s = x.size();
    let (h, w) = (s[2], s[3]);
    let r = (1.0 - lam).sqrt();
    let (ch, cw) = ((h as f64 * r) as i64, (w as f64 * r) as i64);
    let (cy, cx) = (rng.gen_range(0..h), rng.gen_range(0..w));
    let (y0, y1) = ((cy - ch / 2).max(0), (cy + ch / 2).min(h));
    let (x0, x1) = ((cx - cw / 2).max(0), (cx + cw / 2).min(w));
    let mask = Tensor::zeros([1, 1, h, w], (Kind::Float, x.device()));
    if y1 > y0 && x1 > x0 {
        let _ = mask.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).fill_(1.0);
    }
    let mixed = x * (1.0 - &mask) + xp * &mask;
    (mixed, 1.0 - ((y1 - y0).max(0) * (x1 - x0).max(0)) as f64 / (h * w) as f64)
}

/// Trains with mixup or CutMix (labels mixed in proportion).
pub fn train_mixed(model: &Model, set: &TensorSet, tc: &TrainConfig, attack: &Attack, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    let (alpha, cut) = match attack {
        Attack::Mixup { alpha } => (*alpha, false),
        Attack::Cutmix { alpha } => (*alpha, true),
        other => return Err(Error::invalid("attack", format!("{} is not mixup or cutmix", other.label()))),
    };
    let beta = Beta::new(alpha, alpha).map_err(|e| Error::invalid("attack", format!("{}: {e}", attack.label())))?;
    let mut rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0x313);
    let k = model.config.class_names.len() as i64;
    train_with(model, set, tc, on_event, &mut |tr: &mut Trainer, x: &Tensor, y: &Tensor| {
        let x = tr.augment(x);
        let perm = permutation(x.size()[0], &mut rng, x.device());
        let (xp, yp) = (x.index_select(0, &perm), y.index_select(0, &perm));
        let lam = beta.sample(&mut rng);
        let (mixed, lam) = if cut { cutmix(&x, &xp, lam, &mut rng) } else { (&x * lam + &xp * (1.0 - lam), lam) };
        let targets = y.one_hot(k).to_kind(Kind::Float) * lam + yp.one_hot(k).to_kind(Kind::Float) * (1.0 - lam);
        let (l, logits) = tr.step_with(model, &mixed, |lg| Ok(soft_cross_entropy(lg, &targets)))?;
        Ok((l, correct(&logits, y)))
    })
}

/// PGD with a random start inside the L-inf ball of radius `eps` (pixel
/// units), `steps` steps of size 2.5 eps / steps (Madry et al.).
fn pgd(model: &Model, x: &Tensor, y: &Tensor, eps: f64, steps: usize) -> Result<Tensor> {
    let a = 2.5 * eps / steps as f64;
    let mut delta = (crate::with_global_rng(|| x.rand_like()) * 2.0 - 1.0) * eps;
    for _ in 0..steps {
        let d = delta.detach().set_requires_grad(true);
        let loss = model.forward_t(&(x + &d).clamp(0.0, 1.0), false).f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?;
        let g = Tensor::run_backward(&[&loss], &[&d], false, false).remove(0);
        delta = (d.detach() + g.sign() * a).clamp(-eps, eps);
    }
    Ok((x + delta).clamp(0.0, 1.0).detach())
}

/// Adversarial training: every batch replaced by its PGD adversarial examples.
pub fn train_adversarial(model: &Model, set: &TensorSet, tc: &TrainConfig, eps_255: f64, steps: usize, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    let eps = eps_255 / 255.0;
    let smoothing = tc.label_smoothing;
    train_with(model, set, tc, on_event, &mut |tr: &mut Trainer, x: &Tensor, y: &Tensor| {
        let x = tr.augment(x);
        let adv = pgd(model, &x, y, eps, steps)?;
        let (l, logits) = tr.step_with(model, &adv, |lg| Ok(lg.f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, smoothing)?))?;
        Ok((l, correct(&logits, y)))
    })
}

/// Knowledge distillation: `student` learns `teacher`'s softened outputs
/// (temperature `t`) on `set`'s images; `set`'s labels are never used.
/// The reported accuracy is agreement with the teacher.
pub fn distill(student: &Model, teacher: &Model, set: &TensorSet, tc: &TrainConfig, t: f64, on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    train_with(student, set, tc, on_event, &mut |tr: &mut Trainer, x: &Tensor, _y: &Tensor| {
        let x = tr.augment(x);
        let soft = tch::no_grad(|| (teacher.forward_t(&x, false) / t).softmax(-1, Kind::Float));
        let (l, logits) = tr.step_with(student, &x, |lg| Ok(soft_cross_entropy(&(lg / t), &soft) * (t * t)))?;
        Ok((l, correct(&logits, &soft.argmax(-1, false))))
    })
}

/// The weights pruning acts on: conv and linear kernels (2 or more dimensions).
fn prunable(model: &Model) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = model.var_store().variables().into_iter().filter(|(_, t)| t.requires_grad() && t.dim() >= 2).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Global magnitude pruning: the `fraction` of prunable weights with the
/// smallest magnitude over the whole model set to zero. Returns the masks.
pub fn prune(model: &Model, fraction: f64) -> Result<Vec<(Tensor, Tensor)>> {
    let weights = prunable(model);
    if weights.is_empty() {
        return Err(Error::invalid("prune", "the model has no conv or linear weights"));
    }
    let all = Tensor::cat(&weights.iter().map(|(_, w)| w.detach().abs().view([-1])).collect::<Vec<_>>(), 0);
    let k = ((fraction * all.numel() as f64).ceil() as i64).clamp(1, all.numel() as i64);
    let threshold = all.kthvalue(k, 0, false).0.double_value(&[]);
    Ok(tch::no_grad(|| {
        weights
            .into_iter()
            .map(|(_, w)| {
                let mask = w.abs().gt(threshold).to_kind(Kind::Float);
                let _ = w.shallow_clone().g_mul_(&mask);
                (w, mask)
            })
            .collect()
    }))
}

/// Fine-tunes a pruned model, holding the pruned weights at zero.
pub fn finetune_masked(model: &Model, set: &TensorSet, tc: &TrainConfig, masks: &[(Tensor, Tensor)], on_event: &mut dyn FnMut(TrainEvent)) -> Result<TrainReport> {
    train_with(model, set, tc, on_event, &mut |tr: &mut Trainer, x: &Tensor, y: &Tensor| {
        let out = tr.step(model, x, y)?;
        tch::no_grad(|| masks.iter().for_each(|(w, m)| {
            let _ = w.shallow_clone().g_mul_(m);
        }));
        Ok(out)
    })
}

/// Fraction of prunable weights that are exactly zero.
pub fn sparsity(model: &Model) -> f64 {
    let (zero, total) = prunable(model).iter().fold((0i64, 0i64), |(z, n), (_, w)| (z + w.eq(0.0).sum(Kind::Int64).int64_value(&[]), n + w.numel() as i64));
    zero as f64 / total.max(1) as f64
}

/// Symmetric per-tensor int8 quantisation of every trainable tensor
/// (weights and biases), dequantised in place: w = round(w / s) * s with
/// s = max|w| / 127.
pub fn quantize_int8(model: &Model) {
    tch::no_grad(|| {
        for (_, w) in model.var_store().variables().into_iter().filter(|(_, t)| t.requires_grad()) {
            let scale = w.abs().max().double_value(&[]) / 127.0;
            if scale > 0.0 {
                let q = (&w / scale).round().clamp(-127.0, 127.0) * scale;
                let _ = w.shallow_clone().copy_(&q);
            }
        }
    });
}

/// The schedule of a fine-tuning run: `epochs` at a tenth of the learning
/// rate, no warm-up (what one does to a model that already works).
pub fn finetune_config(base: &TrainConfig, epochs: usize) -> TrainConfig {
    TrainConfig { epochs, lr: base.lr * 0.1, warmup_epochs: 0.0, ..base.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, ModelConfig};

    fn tiny() -> (Model, TensorSet) {
        let mc = ModelConfig::new(Arch::SmallCnn, 1, 8, 8, (0..3).map(|c| c.to_string()).collect(), (vec![0.5], vec![0.25]));
        let model = Model::new(mc, tch::Device::Cpu, 7).unwrap();
        let images = crate::seeded(3, || Tensor::rand([24, 1, 8, 8], (Kind::Float, tch::Device::Cpu)));
        let labels = Tensor::from_slice(&(0..24).map(|i| i % 3).collect::<Vec<i64>>());
        (model, TensorSet { images, labels })
    }

    #[test]
    fn pruning_zeroes_the_fraction_and_masked_finetuning_keeps_them_zero() {
        let (model, set) = tiny();
        let masks = prune(&model, 0.5).unwrap();
        let s = sparsity(&model);
        assert!((s - 0.5).abs() < 0.01, "sparsity {s}");
        let tc = TrainConfig { epochs: 1, batch_size: 8, ..TrainConfig::default() };
        finetune_masked(&model, &set, &tc, &masks, &mut |_| {}).unwrap();
        assert!(sparsity(&model) >= s - 1e-9, "fine-tuning revived pruned weights");
    }

    #[test]
    fn int8_leaves_at_most_255_levels_per_tensor() {
        let (model, _) = tiny();
        quantize_int8(&model);
        for (name, w) in model.var_store().variables() {
            let scale = w.abs().max().double_value(&[]) / 127.0;
            // All-zero tensors (fresh biases) stay zero.
            if w.requires_grad() && scale > 0.0 {
                let err = ((&w / scale) - (&w / scale).round()).abs().max().double_value(&[]);
                assert!(err < 1e-3, "{name}: off the grid by {err}");
            }
        }
    }

    #[test]
    fn cutmix_reports_the_share_it_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = Tensor::zeros([2, 1, 10, 10], (Kind::Float, tch::Device::Cpu));
        let xp = Tensor::ones([2, 1, 10, 10], (Kind::Float, tch::Device::Cpu));
        for _ in 0..20 {
            let (m, lam) = cutmix(&x, &xp, 0.6, &mut rng);
            let share_of_x = 1.0 - m.mean(Kind::Float).double_value(&[]);
            assert!((share_of_x - lam).abs() < 1e-6, "{share_of_x} vs {lam}");
        }
    }

    #[test]
    fn mixup_distillation_and_adversarial_training_run_and_change_weights() {
        let (model, set) = tiny();
        let tc = TrainConfig { epochs: 1, batch_size: 8, ..TrainConfig::default() };
        let before = model.var_store().variables().values().map(|t| t.sum(Kind::Double).double_value(&[])).sum::<f64>();
        let r = train_mixed(&model, &set, &tc, &Attack::Mixup { alpha: 0.4 }, &mut |_| {}).unwrap();
        assert!(r.final_loss.is_finite());
        train_mixed(&model, &set, &tc, &Attack::Cutmix { alpha: 1.0 }, &mut |_| {}).unwrap();
        train_adversarial(&model, &set, &tc, 4.0, 2, &mut |_| {}).unwrap();
        let after = model.var_store().variables().values().map(|t| t.sum(Kind::Double).double_value(&[])).sum::<f64>();
        assert_ne!(before, after);
        let (student, _) = tiny();
        let r = distill(&student, &model, &set, &tc, 4.0, &mut |_| {}).unwrap();
        assert!(r.final_loss.is_finite() && (0.0..=1.0).contains(&r.final_train_accuracy));
        assert!(train_mixed(&model, &set, &tc, &Attack::LabelsOnly, &mut |_| {}).is_err());
    }
}
