//! HoneyImage generation (SPEC section 2): alternating bi-level optimisation.
//! For every fold k, the out-of-fold proxies of that fold are the
//! out-models (they never saw fold k's candidates); each gets an in-model,
//! a copy fine-tuned on batches that mix ordinary data with the current
//! perturbed candidates. Each outer iteration does (a) a few SGD steps on the
//! in-models, (b) one signed-gradient step of size alpha on every candidate
//! maximising `CE(f_out(x+d), y) - CE(f_in(x+d), y)`, projected to the
//! epsilon ball and [0, 1]. Released and withheld candidates are treated
//! identically. Variants: the objective `fit` drops the out-models' term
//! (error-minimising noise), and the step `momentum` follows MI-FGSM. The
//! result is quantised to 8 bits. Each fold group draws
//! from its own random stream, so the groups can run as separate jobs
//! (on other machines) and give the same result as one run.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

use crate::config::{Objective, Precision, Step};
use crate::model::Model;
use crate::tensors::{tensor_to_u8_nhwc, to_vec_f64, TensorSet};
use crate::train::{TrainConfig, Trainer};
use crate::Result;

/// Settings of the bi-level optimisation, in [0, 1] pixel units.
#[derive(Debug, Clone)]
pub struct HoneyConfig {
    /// L-inf budget.
    pub epsilon: f64,
    /// PGD step size.
    pub alpha: f64,
    /// Outer iterations T.
    pub steps: usize,
    /// In-model SGD steps per outer iteration.
    pub inner_steps: usize,
    /// In-model learning rate.
    pub inner_lr: f64,
    /// Ordinary samples mixed into each in-model batch.
    pub inner_batch: usize,
    /// Whether to perturb at all (false measures the unperturbed gap).
    pub perturb: bool,
    /// Seed of the ordinary-sample draws.
    pub seed: u64,
    /// Stealthiness floor: after each step, a candidate whose quantised
    /// image has SSIM below this to its original has its perturbation scaled
    /// down until it meets it (0 disables).
    pub min_ssim: f64,
    /// Expectation over transformations (None: the plain objective).
    pub eot: Option<crate::config::Eot>,
    /// What each step maximises (the gap is measured either way).
    pub objective: Objective,
    /// How each outer iteration moves the perturbation.
    pub step: Step,
    /// Arithmetic of the in-models' training and of the input gradients
    /// (and of the gap trace, measured on the way); the final losses are
    /// fp32 either way.
    pub precision: Precision,
}

/// The candidates of one fold and the proxies that never saw them.
pub struct FoldGroup<'a> {
    /// Candidate indices into the data set.
    pub candidates: Vec<usize>,
    /// Indices of ordinary samples the out-models trained on (no candidates).
    pub pool: Vec<usize>,
    /// The fold's out-of-fold proxies (one per proxy architecture).
    pub out_models: Vec<&'a Model>,
}

/// Per-candidate result, in the order of the groups' candidates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoneyOutcome {
    /// Candidate indices, group after group.
    pub indices: Vec<usize>,
    /// Quantised images, HWC u8, one per candidate.
    pub images: Vec<Vec<u8>>,
    /// Mean over out-models of their loss on the quantised image.
    pub out_loss: Vec<f64>,
    /// Mean over in-models of their loss on the quantised image, after fine-tuning.
    pub in_loss: Vec<f64>,
    /// Mean loss gap (out - in) after each outer iteration, from the
    /// step's own forward passes (so in the run's precision; the losses
    /// above are fp32).
    pub gap_trace: Vec<f64>,
}

impl HoneyOutcome {
    /// No candidates yet, a zero gap trace of `steps` iterations.
    pub fn empty(steps: usize) -> Self {
        HoneyOutcome { indices: vec![], images: vec![], out_loss: vec![], in_loss: vec![], gap_trace: vec![0.0; steps] }
    }

    /// Appends the outcome of the next fold group: its candidates after
    /// these, its (already weighted) gap trace added to this one.
    pub fn append(&mut self, other: HoneyOutcome) {
        self.indices.extend(other.indices);
        self.images.extend(other.images);
        self.out_loss.extend(other.out_loss);
        self.in_loss.extend(other.in_loss);
        self.gap_trace.iter_mut().zip(other.gap_trace).for_each(|(a, b)| *a += b);
    }

    /// Mean of `out_loss - in_loss`.
    pub fn mean_gap(&self) -> f64 {
        let n = self.out_loss.len().max(1) as f64;
        self.out_loss.iter().zip(&self.in_loss).map(|(o, i)| o - i).sum::<f64>() / n
    }
}

fn ce(model: &Model, x: &Tensor, y: &Tensor, reduction: Reduction, precision: Precision) -> Tensor {
    model.forward_at(x, false, precision).cross_entropy_loss::<Tensor>(y, None, reduction, -100, 0.0)
}

/// The summed losses `(CE(out), CE(in))` over the candidates `x`; with
/// EOT, their means over random crops and flips of `x` (one draw per
/// sample, shared by all models so each compares the same images), in
/// `cfg.precision`.
fn losses(x: &Tensor, y: &Tensor, outs: &[&Model], ins: &[&Model], cfg: &HoneyConfig, rng: &mut ChaCha8Rng) -> (Tensor, Tensor) {
    let zero = || Tensor::zeros([], (Kind::Float, x.device()));
    let sum = |models: &[&Model], xt: &Tensor| models.iter().fold(zero(), |acc, m| acc + ce(m, xt, y, Reduction::Sum, cfg.precision));
    match &cfg.eot {
        None => (sum(outs, x), sum(ins, x)),
        Some(e) => {
            let (mut o, mut i) = (zero(), zero());
            for _ in 0..e.samples {
                let xt = crate::train::crop_flip(x, e.crop_padding, e.flip, rng);
                o += sum(outs, &xt);
                i += sum(ins, &xt);
            }
            (o / e.samples as f64, i / e.samples as f64)
        }
    }
}

/// What a step ascends, given the summed losses of [`losses`].
fn objective(kind: Objective, out_loss: &Tensor, in_loss: &Tensor) -> Tensor {
    match kind {
        Objective::Gap => out_loss - in_loss,
        Objective::Fit => -in_loss,
    }
}

/// The direction of one step: the gradient's sign, or (momentum) the sign
/// of `velocity`, updated in place with the gradient normalised per
/// candidate by its mean absolute value.
fn direction(step: Step, grad: &Tensor, velocity: &mut Option<Tensor>) -> Tensor {
    match step {
        Step::Sign => grad.sign(),
        Step::Momentum => {
            let scale = grad.abs().mean_dim(&[1i64, 2, 3][..], true, Kind::Float) + 1e-12;
            let g = grad / scale;
            let v = match velocity.take() {
                Some(v) => v + g,
                None => g,
            };
            let d = v.sign();
            *velocity = Some(v);
            d
        }
    }
}

/// Runs the optimisation; `on_iter(iteration, total, mean_gap)` reports progress.
pub fn optimise(data: &TensorSet, groups: &[FoldGroup], cfg: &HoneyConfig, on_iter: &mut dyn FnMut(usize, usize, f64)) -> Result<HoneyOutcome> {
    let total: usize = groups.iter().map(|g| g.candidates.len()).sum();
    let mut out = HoneyOutcome::empty(cfg.steps);
    for (gi, g) in groups.iter().enumerate() {
        out.append(optimise_group(data, g, gi, total, cfg, on_iter)?);
    }
    Ok(out)
}

/// Group `gi`'s share of [`optimise`], with its own random stream; its gap
/// trace is weighted by its share of the `total` candidates of all groups,
/// so that appending every group's outcome in order gives [`optimise`]'s.
pub fn optimise_group(data: &TensorSet, g: &FoldGroup, gi: usize, total: usize, cfg: &HoneyConfig, on_iter: &mut dyn FnMut(usize, usize, f64)) -> Result<HoneyOutcome> {
    let device = data.images.device();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ ((gi as u64 + 1) << 32));
    let mut out = HoneyOutcome::empty(cfg.steps);
    if g.candidates.is_empty() {
        return Ok(out);
    }
    let cand = data.select(&g.candidates);
    let x0 = cand.images.shallow_clone();
    let y = cand.labels.shallow_clone();
    let mut x = x0.copy();
    let inner = TrainConfig {
        epochs: 1,
        lr: cfg.inner_lr,
        warmup_epochs: 0.0,
        crop_padding: cfg.eot.as_ref().map_or(0, |e| e.crop_padding),
        flip: cfg.eot.as_ref().is_some_and(|e| e.flip),
        seed: cfg.seed.wrapping_add(gi as u64),
        precision: cfg.precision,
        ..TrainConfig::default()
    };
    let mut ins = Vec::new();
    for om in &g.out_models {
        let mut m = Model::new(om.config.clone(), device, 0)?;
        m.copy_from(om)?;
        let tr = Trainer::new(&m, &inner, cfg.steps * cfg.inner_steps)?;
        ins.push((m, tr));
    }
    let mut pool = g.pool.clone();
    let mut velocity = None;
    for t in 0..cfg.steps {
        // (a) in-models: a few SGD steps on candidates + ordinary data.
        for _ in 0..cfg.inner_steps {
            pool.shuffle(&mut rng);
            let ord = data.select(&pool[..cfg.inner_batch.min(pool.len())]);
            let bx = Tensor::cat(&[&x.detach(), &ord.images], 0);
            let by = Tensor::cat(&[&y, &ord.labels], 0);
            for (m, tr) in ins.iter_mut() {
                tr.step(m, &bx, &by)?;
            }
        }
        // (b) one signed-gradient step on every candidate, then project.
        let xg = x.detach().set_requires_grad(true);
        let (lo, li) = losses(&xg, &y, &g.out_models, &ins.iter().map(|(m, _)| m).collect::<Vec<_>>(), cfg, &mut rng);
        let gap = (&lo - &li).double_value(&[]) / (g.candidates.len() * g.out_models.len()) as f64;
        out.gap_trace[t] += gap * g.candidates.len() as f64 / total.max(1) as f64;
        if cfg.perturb {
            let obj = objective(cfg.objective, &lo, &li);
            let grad = Tensor::run_backward(&[&obj], &[&xg], false, false).remove(0);
            let stepped = xg.detach() + direction(cfg.step, &grad, &mut velocity) * cfg.alpha;
            x = stepped.clamp_tensor(Some(&(&x0 - cfg.epsilon)), Some(&(&x0 + cfg.epsilon))).clamp(0.0, 1.0);
            if cfg.min_ssim > 0.0 {
                x = project_ssim(&x0, &x, cfg.epsilon, cfg.min_ssim)?;
            }
        }
        on_iter(t + 1, cfg.steps, out.gap_trace[t]);
        crate::interrupt::check()?;
    }
    let xq = quantise(&x0, &x, cfg.epsilon);
    let _guard = tch::no_grad_guard();
    let mean_loss = |models: Vec<&Model>| -> Result<Vec<f64>> {
        let mut acc = Tensor::zeros([g.candidates.len() as i64], (Kind::Float, device));
        for m in &models {
            acc += ce(m, &xq, &y, Reduction::None, Precision::Fp32);
        }
        to_vec_f64(&(acc / models.len() as f64))
    };
    out.out_loss.extend(mean_loss(g.out_models.clone())?);
    out.in_loss.extend(mean_loss(ins.iter().map(|(m, _)| m).collect())?);
    let px = tensor_to_u8_nhwc(&xq)?;
    let len = px.len() / g.candidates.len();
    out.images.extend(px.chunks(len).map(|c| c.to_vec()));
    out.indices.extend_from_slice(&g.candidates);
    Ok(out)
}

/// Rounds to 8 bits, then clamps in integer space so that no pixel is more
/// than floor(255 * epsilon) from the original. Returns [0, 1] floats.
fn quantise(x0: &Tensor, x: &Tensor, epsilon: f64) -> Tensor {
    let budget = (epsilon * 255.0 + 1e-6).floor();
    let x0q = (x0 * 255.0).round();
    ((x * 255.0).round().clamp_tensor(Some(&(&x0q - budget)), Some(&(&x0q + budget))).clamp(0.0, 255.0)) / 255.0
}

/// Scales each candidate's perturbation down (binary search on the factor)
/// until its quantised image has SSIM >= `min_ssim` to the original. This is
/// a projection onto the stealthiness constraint: images already stealthy
/// enough are left untouched. Flat regions (e.g. black backgrounds) are where
/// SSIM is most sensitive to noise, so this mostly spares them.
fn project_ssim(x0: &Tensor, x: &Tensor, epsilon: f64, min_ssim: f64) -> Result<Tensor> {
    let s = x0.size();
    let (n, c, h, w) = (s[0] as usize, s[1] as usize, s[2] as usize, s[3] as usize);
    let orig = tensor_to_u8_nhwc(x0)?;
    let d = x - x0;
    let len = h * w * c;
    let mut scales = vec![1f32; n];
    let ssim_at = |i: usize, scale: f64| -> Result<f64> {
        let xi = x0.narrow(0, i as i64, 1);
        let q = tensor_to_u8_nhwc(&quantise(&xi, &(&xi + d.narrow(0, i as i64, 1) * scale), epsilon))?;
        Ok(honeyimage_stats::ssim(&orig[i * len..(i + 1) * len], &q, h, w, c)?)
    };
    for (i, sc) in scales.iter_mut().enumerate() {
        if ssim_at(i, 1.0)? >= min_ssim {
            continue;
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..8 {
            let mid = 0.5 * (lo + hi);
            if ssim_at(i, mid)? >= min_ssim {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        *sc = lo as f32;
    }
    let scales = Tensor::from_slice(&scales).to_device(x.device()).view([n as i64, 1, 1, 1]);
    Ok(x0 + d * scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_follows_the_sum_of_normalised_gradients() {
        // Candidate 0's first gradient is large, its second small and
        // opposite: plain sign follows the second, momentum the normalised
        // sum, where each step's gradient counts by its shape, not its scale.
        let g1 = Tensor::from_slice(&[4.0f32, -4.0, 8.0, 0.0]).view([1, 1, 2, 2]);
        let g2 = Tensor::from_slice(&[-0.01f32, 0.03, -0.01, 0.01]).view([1, 1, 2, 2]);
        let mut v = None;
        let d1 = direction(Step::Momentum, &g1, &mut v);
        assert_eq!(to_vec_f64(&d1.flatten(0, -1)).unwrap(), vec![1.0, -1.0, 1.0, 0.0]);
        let d2 = direction(Step::Momentum, &g2, &mut v);
        // g1 / 4 = [1, -1, 2, 0]; g2 / 0.015 = [-0.67, 2, -0.67, 0.67].
        assert_eq!(to_vec_f64(&d2.flatten(0, -1)).unwrap(), vec![1.0, 1.0, 1.0, 1.0]);
        let mut none = None;
        let s2 = direction(Step::Sign, &g2, &mut none);
        assert_eq!(to_vec_f64(&s2.flatten(0, -1)).unwrap(), vec![-1.0, 1.0, -1.0, 1.0]);
        assert!(none.is_none(), "the sign step keeps no state");
    }

    #[test]
    fn the_fit_objective_ignores_the_out_models() {
        let t = |v: f64| Tensor::scalar_tensor(v, (Kind::Float, tch::Device::Cpu));
        let (o, i) = (t(3.0), t(1.0));
        assert_eq!(objective(Objective::Gap, &o, &i).double_value(&[]), 2.0);
        assert_eq!(objective(Objective::Fit, &o, &i).double_value(&[]), -1.0);
    }
}
