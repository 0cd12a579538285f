//! Verification (SPEC section 4): query the suspect with the key's released
//! (R) and withheld (W) HoneyImages and test whether it fits R better than
//! W. Under H0 "never trained on the release" R and W are exchangeable (a
//! seeded random split of identically treated candidates), so rank and
//! permutation tests give exact p-values with no reference model. The
//! paper's own rule (mean proxy-minus-suspect loss over R against a
//! calibrated tau) is reported beside it, and a label-only mode uses only
//! the top-1 class.
use serde::{Deserialize, Serialize};

use crate::key::KeyBody;
use crate::query::Oracle;
use crate::{Error, Result};
use honeyimage_stats::Alternative;

/// Probabilities are clamped to at least this before taking logs.
pub const P_MIN: f64 = 1e-12;

/// Settings of a verification.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Significance level.
    pub alpha: f64,
    /// Use only the top-1 class.
    pub label_only: bool,
    /// Monte Carlo permutations of the mean-difference test.
    pub permutations: usize,
    /// Seed of those permutations.
    pub seed: u64,
    /// Threshold of the paper's rule, when calibrated.
    pub tau: Option<f64>,
    /// Images per query batch.
    pub batch: usize,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig { alpha: 0.001, label_only: false, permutations: 200_000, seed: 0, tau: None, batch: 64 }
    }
}

/// The paper's rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TauRule {
    /// Mean over R of (proxy loss - suspect loss).
    pub score: f64,
    /// Threshold, when given.
    pub tau: Option<f64>,
    /// score > tau, when tau is given.
    pub decision: Option<bool>,
}

/// Label-only statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelOnly {
    /// Correct top-1 on R.
    pub correct_released: usize,
    /// Correct top-1 on W.
    pub correct_withheld: usize,
    /// One-sided Fisher exact p (R more often correct than W).
    pub fisher_p: f64,
}

/// The outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// True: the suspect trained on the protected release.
    pub verdict: bool,
    /// "trained on the protected dataset" or "no evidence of training".
    pub verdict_text: String,
    /// The decision p-value (Mann-Whitney U; Fisher in label-only mode).
    pub p_value: f64,
    /// Significance level.
    pub alpha: f64,
    /// The test that gave `p_value`.
    pub method: String,
    /// mean(loss W) - mean(loss R) (0 in label-only mode: see `label_only`).
    pub effect_size: f64,
    /// Cohen's d of W vs R losses.
    pub cohens_d: Option<f64>,
    /// Mean suspect loss on R.
    pub mean_loss_released: f64,
    /// Mean suspect loss on W.
    pub mean_loss_withheld: f64,
    /// One-sided permutation p of the mean difference.
    pub permutation_p: f64,
    /// Its resolution (1 / (permutations + 1)).
    pub permutation_resolution: f64,
    /// One-sided Mann-Whitney p.
    pub mann_whitney_p: f64,
    /// |R|.
    pub n_released: usize,
    /// |W|.
    pub n_withheld: usize,
    /// Images sent to the suspect.
    pub queries: usize,
    /// The paper's rule.
    pub tau_rule: TauRule,
    /// Label-only statistics (always computed).
    pub label_only: LabelOnly,
    /// The suspect, as named.
    pub suspect: String,
    /// Per-sample suspect losses on R, in key order.
    pub losses_released: Vec<f64>,
    /// Per-sample suspect losses on W, in key order.
    pub losses_withheld: Vec<f64>,
}

/// Queries the suspect on R then W; returns (probabilities of the true class, correct top-1).
fn query_set(key: &KeyBody, oracle: &mut dyn Oracle, set: &[crate::key::KeySample], batch: usize) -> Result<(Vec<f64>, Vec<bool>)> {
    let (h, w, c) = (key.dataset.height, key.dataset.width, key.dataset.channels);
    let k = key.dataset.class_names.len();
    let mut p_true = Vec::with_capacity(set.len());
    let mut correct = Vec::with_capacity(set.len());
    for chunk in set.chunks(batch.max(1)) {
        let px: Vec<u8> = chunk.iter().flat_map(|s| s.honey.0.iter().copied()).collect();
        let rows = oracle.predict(&px, chunk.len(), h, w, c)?;
        if rows.len() != chunk.len() {
            return Err(Error::Model { source_name: oracle.describe(), message: format!("{} rows for {} images", rows.len(), chunk.len()) });
        }
        for (s, r) in chunk.iter().zip(rows) {
            if r.len() != k {
                return Err(Error::Model {
                    source_name: oracle.describe(),
                    message: format!("returned {} classes but the key's dataset has {k}", r.len()),
                });
            }
            if let Some(v) = r.iter().find(|v| !v.is_finite()) {
                return Err(Error::Model { source_name: oracle.describe(), message: format!("non-finite probability {v}") });
            }
            let top = r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
            p_true.push(r[s.label as usize]);
            correct.push(top == s.label as usize);
        }
    }
    Ok((p_true, correct))
}

/// Loss from the probability of the true class.
pub fn loss(p: f64) -> f64 {
    -(p.max(P_MIN)).ln()
}

/// Runs the verification.
pub fn verify(key: &KeyBody, oracle: &mut dyn Oracle, cfg: &VerifyConfig) -> Result<Verdict> {
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) {
        return Err(Error::invalid("alpha", format!("{} (must be in (0, 1))", cfg.alpha)));
    }
    let (pr, cr) = query_set(key, oracle, &key.released, cfg.batch)?;
    let (pw, cw) = query_set(key, oracle, &key.withheld, cfg.batch)?;
    let lr: Vec<f64> = pr.iter().map(|&p| loss(p)).collect();
    let lw: Vec<f64> = pw.iter().map(|&p| loss(p)).collect();
    let mw = honeyimage_stats::mann_whitney_u(&lw, &lr, Alternative::Greater)?;
    let perm = honeyimage_stats::permutation_test(&lw, &lr, Alternative::Greater, cfg.permutations, cfg.seed)?;
    let (a, b) = (cr.iter().filter(|&&x| x).count(), cw.iter().filter(|&&x| x).count());
    let fisher = honeyimage_stats::fisher_exact(a as u64, (cr.len() - a) as u64, b as u64, (cw.len() - b) as u64, Alternative::Greater)?;
    let score = key.released.iter().zip(&lr).map(|(s, l)| s.proxy_loss - l).sum::<f64>() / lr.len() as f64;
    let (p_value, method) = if cfg.label_only {
        (fisher.p_value, "Fisher exact test on top-1 correctness, R vs W (one-sided)".to_string())
    } else {
        (mw.p_value, "Mann-Whitney U on suspect losses, W > R (one-sided)".to_string())
    };
    let verdict = p_value < cfg.alpha;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Verdict {
        verdict,
        verdict_text: if verdict { "trained on the protected dataset" } else { "no evidence of training on the protected dataset" }.into(),
        p_value,
        alpha: cfg.alpha,
        method,
        effect_size: mean(&lw) - mean(&lr),
        cohens_d: honeyimage_stats::cohens_d(&lw, &lr).ok(),
        mean_loss_released: mean(&lr),
        mean_loss_withheld: mean(&lw),
        permutation_p: perm.p_value,
        permutation_resolution: 1.0 / (cfg.permutations as f64 + 1.0),
        mann_whitney_p: mw.p_value,
        n_released: lr.len(),
        n_withheld: lw.len(),
        queries: lr.len() + lw.len(),
        tau_rule: TauRule { score, tau: cfg.tau, decision: cfg.tau.map(|t| score > t) },
        label_only: LabelOnly { correct_released: a, correct_withheld: b, fisher_p: fisher.p_value },
        suspect: oracle.describe(),
        losses_released: lr,
        losses_withheld: lw,
    })
}

/// Checks that a release folder is the one the key was made for.
pub fn check_release(key: &KeyBody, release: &std::path::Path, key_path: &std::path::Path) -> Result<()> {
    let fp = crate::key::fingerprint_dir(release)?;
    if fp != key.release.fingerprint {
        return Err(Error::Key {
            path: key_path.into(),
            message: format!(
                "belongs to a different release than {} (fingerprint {:.12}… vs {:.12}…)",
                release.display(),
                key.release.fingerprint,
                fp
            ),
        });
    }
    Ok(())
}
