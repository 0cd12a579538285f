//! Stage 4 of protect (SPEC section 2): runs the bi-level optimisation of
//! [`super::honey`] on the candidates, fold by fold with that fold's proxies
//! as out-models, plus the reference runs the summary reports: the same
//! candidates unperturbed (the gap before optimisation) and, optionally,
//! random candidates with the same treatment (does hardness matter?).
use serde::{Deserialize, Serialize};

use super::candidates::{random_baseline, Candidates};
use super::honey::{optimise, optimise_group, FoldGroup, HoneyConfig, HoneyOutcome};
use super::proxies::Proxies;
use super::ProtectEvent;
use crate::config::ProtectConfig;
use crate::tensors::TensorSet;
use crate::Result;

/// The optimisation's result and its reference runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Optimised {
    /// The HoneyImages (R and W candidates, identically treated).
    pub honey: HoneyOutcome,
    /// The same candidates, in-models fine-tuned, no perturbation.
    pub unperturbed: HoneyOutcome,
    /// Random candidates: (optimised, unperturbed), when asked for.
    pub random: Option<(HoneyOutcome, HoneyOutcome)>,
}

/// The optimisation settings in [0, 1] pixel units.
pub fn honey_config(config: &ProtectConfig) -> HoneyConfig {
    HoneyConfig {
        epsilon: config.epsilon / 255.0,
        alpha: config.alpha / 255.0,
        steps: config.steps,
        inner_steps: config.inner_steps,
        inner_lr: config.inner_lr,
        inner_batch: config.inner_batch,
        perturb: true,
        seed: config.seed ^ 0xb1e5,
        min_ssim: config.min_ssim,
        eot: config.eot.clone(),
        objective: config.objective,
        step: config.step,
        precision: config.proxy_train.precision,
    }
}

/// Splits `cands` by fold: each group holds the fold's candidates, the
/// ordinary samples its out-models trained on (neither `cands` nor
/// `exclude`), and the fold's proxies.
pub fn fold_groups<'a>(n: usize, folds: &[Vec<usize>], proxies: &'a Proxies, cands: &[usize], exclude: &[usize]) -> Vec<FoldGroup<'a>> {
    let mut is_cand = vec![false; n];
    cands.iter().chain(exclude).for_each(|&i| is_cand[i] = true);
    folds
        .iter()
        .zip(proxies)
        .map(|(fold, models)| {
            let mut in_fold = vec![false; n];
            fold.iter().for_each(|&i| in_fold[i] = true);
            FoldGroup {
                candidates: cands.iter().copied().filter(|&i| in_fold[i]).collect(),
                pool: (0..n).filter(|&i| !in_fold[i] && !is_cand[i]).collect(),
                out_models: models.iter().collect(),
            }
        })
        .collect()
}

impl Optimised {
    /// Appends the next fold's share of every run (see [`HoneyOutcome::append`]).
    pub fn append(&mut self, other: Optimised) {
        self.honey.append(other.honey);
        self.unperturbed.append(other.unperturbed);
        if let (Some((a, b)), Some((c, d))) = (&mut self.random, other.random) {
            a.append(c);
            b.append(d);
        }
    }
}

/// Runs the optimisation and its reference runs: for every fold, or
/// (`fold` = Some(k)) fold k's share only, which [`Optimised::append`]
/// puts together in fold order.
pub fn run(
    data: &TensorSet,
    folds: &[Vec<usize>],
    proxies: &Proxies,
    cands: &Candidates,
    config: &ProtectConfig,
    fold: Option<usize>,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<Optimised> {
    let n = data.len();
    let base = honey_config(config);
    let mut one = |label: &str, c: &[usize], exclude: &[usize], perturb: bool| {
        let cfg = HoneyConfig { perturb, ..base.clone() };
        let groups = fold_groups(n, folds, proxies, c, exclude);
        let total = groups.iter().map(|g| g.candidates.len()).sum();
        let mut progress = |iter: usize, steps: usize, _: f64| on_event(ProtectEvent::Pgd { label: label.into(), iter, total: steps });
        match fold {
            Some(k) => optimise_group(data, &groups[k], k, total, &cfg, &mut progress),
            None => optimise(data, &groups, &cfg, &mut progress),
        }
    };
    let honey = one("honey", &cands.all, &[], config.perturb)?;
    let unperturbed = one("unperturbed", &cands.all, &[], false)?;
    let random = if config.random_baseline {
        let rc = random_baseline(n, &cands.all, config.count, config.seed);
        Some((one("random honey", &rc, &cands.all, true)?, one("random unperturbed", &rc, &cands.all, false)?))
    } else {
        None
    };
    Ok(Optimised { honey, unperturbed, random })
}
