//! Verification (SPEC section 4): query the suspect with the key's released
//! (R) and withheld (W) HoneyImages and test whether it fits R better than
//! W. Under H0 "never trained on the release" R and W are exchangeable (a
//! seeded random split of identically treated candidates), so rank and
//! permutation tests give exact p-values with no reference model. The
//! paper's own rule (mean proxy-minus-suspect loss over R against a
//! calibrated tau) is reported beside it, and a label-only mode uses only
//! the top-1 class.
use serde::{Deserialize, Serialize};

pub use crate::config::{Tta, VerifyConfig};
use crate::key::{KeyBody, RwSplit};
use crate::query::{merge_answers, Answer, Oracle};
use crate::{Error, Result};
use honeyimage_stats::Alternative;

/// Probabilities are clamped to at least this before taking logs.
pub const P_MIN: f64 = 1e-12;

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
    /// The test that gave `p_value`, and how its p-value was computed
    /// (exact enumeration, exact conditional on ties, or Monte-Carlo with
    /// its standard error).
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
    /// The key's public commitment (published with the release), so that
    /// anyone can check this verdict used the key committed to before.
    pub commitment: String,
    /// Per-sample suspect losses on R, in key order.
    pub losses_released: Vec<f64>,
    /// Per-sample suspect losses on W, in key order.
    pub losses_withheld: Vec<f64>,
    /// The smallest p-value this key's test can give at all (see
    /// [`smallest_p_value`]); at or above `alpha`, no suspect can be flagged.
    #[serde(default)]
    pub smallest_p: f64,
}

/// The smallest p-value of the exact test for R and W of these per-class
/// sizes: within classes for a class-stratified split, pooled otherwise
/// (and for Fisher's label-only test, which is pooled).
pub fn smallest_p(split: RwSplit, released_per_class: &[usize], withheld_per_class: &[usize], label_only: bool) -> f64 {
    if split == RwSplit::ClassStratified && !label_only {
        let strata: Vec<(usize, usize)> = released_per_class.iter().zip(withheld_per_class).map(|(&r, &w)| (r, w)).collect();
        honeyimage_stats::smallest_rank_sum_p(&strata)
    } else {
        honeyimage_stats::smallest_rank_sum_p(&[(released_per_class.iter().sum(), withheld_per_class.iter().sum())])
    }
}

/// The smallest p-value `key` can give (its most extreme outcome: every
/// released sample fitted better than every withheld one of its class).
/// With ten classes and N = 10 (one pair per class) it is 2^-10 = 9.8e-4:
/// barely below the default alpha of 0.001.
pub fn smallest_p_value(key: &KeyBody, label_only: bool) -> f64 {
    let per_class = |s: &[crate::key::KeySample]| {
        let mut c = vec![0usize; key.dataset.class_names.len()];
        s.iter().for_each(|x| c[x.label as usize] += 1);
        c
    };
    smallest_p(key.split, &per_class(&key.released), &per_class(&key.withheld), label_only)
}

/// The order in which R and W are queried: all 2N samples shuffled together
/// (seeded), so every batch mixes R and W and nothing about the querying
/// (batch composition, position, time) can treat them differently.
/// `true` marks R; the index is into `key.released` or `key.withheld`.
pub fn query_order(n_released: usize, n_withheld: usize, seed: u64) -> Vec<(bool, usize)> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut order: Vec<(bool, usize)> = (0..n_released).map(|i| (true, i)).chain((0..n_withheld).map(|i| (false, i))).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x0de5));
    order
}

/// Sends the images of `order` in batches and gathers the answers, in
/// that order; the batches must all answer in the same form.
fn query_all(key: &KeyBody, oracle: &mut dyn Oracle, order: &[(bool, usize)], batch: usize, v: (i64, i64, bool)) -> Result<Answer> {
    let (h, w, c) = (key.dataset.height, key.dataset.width, key.dataset.channels);
    let sample = |&(r, i): &(bool, usize)| if r { &key.released[i] } else { &key.withheld[i] };
    let mut parts = Vec::new();
    for chunk in order.chunks(batch.max(1)) {
        let px: Vec<u8> = match v {
            (0, 0, false) => chunk.iter().flat_map(|q| sample(q).honey.0.iter().copied()).collect(),
            v => chunk.iter().flat_map(|q| view(&sample(q).honey.0, h, w, c, v)).collect(),
        };
        let got = oracle.query(&px, chunk.len(), h, w, c)?;
        let n = match &got {
            Answer::Scores { rows, .. } => rows.len(),
            Answer::Labels(l) => l.len(),
        };
        if n != chunk.len() {
            return Err(Error::model(oracle.describe(), format!("{n} answers for {} images", chunk.len())));
        }
        parts.push(got);
    }
    merge_answers(parts).map_err(|m| Error::model(oracle.describe(), m))
}

/// Per-sample loss (None for label-only answers) and top-1 correctness,
/// in `order`; the output kind is decided once over all rows.
fn score_answers(key: &KeyBody, answers: Answer, order: &[(bool, usize)], source: &str) -> Result<(Option<Vec<f64>>, Vec<bool>)> {
    let k = key.dataset.class_names.len();
    let label = |&(r, i): &(bool, usize)| if r { key.released[i].label } else { key.withheld[i].label } as usize;
    match answers {
        Answer::Labels(l) => {
            if let Some((j, &bad)) = l.iter().enumerate().find(|(_, &x)| x as usize >= k) {
                return Err(Error::model(source, format!("answer {j}: class {bad}, but the key's dataset has {k} classes")));
            }
            Ok((None, order.iter().zip(&l).map(|(q, &y)| y as usize == label(q)).collect()))
        }
        Answer::Scores { rows, kind } => {
            if let Some(r) = rows.iter().find(|r| r.len() != k) {
                return Err(Error::model(source, format!("returned {} classes but the key's dataset has {k}", r.len())));
            }
            let logp = crate::query::log_probabilities(rows, kind, order.len(), P_MIN, source)?;
            let top = |r: &Vec<f64>| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
            let losses = order.iter().zip(&logp).map(|(q, r)| -r[label(q)]).collect();
            Ok((Some(losses), order.iter().zip(&logp).map(|(q, r)| top(r) == label(q)).collect()))
        }
    }
}

/// Each sample's loss averaged over the views of `tta` (`first`: the
/// identity view's losses, already queried), in `order`.
fn view_mean_losses(key: &KeyBody, oracle: &mut dyn Oracle, order: &[(bool, usize)], batch: usize, tta: Tta, first: Vec<f64>) -> Result<Vec<f64>> {
    let views = tta.views();
    let mut sum = first;
    for &v in &views[1..] {
        let answers = query_all(key, oracle, order, batch, v)?;
        let Some(l) = score_answers(key, answers, order, &oracle.describe())?.0 else {
            return Err(Error::model(oracle.describe(), "answered a test-time view with labels only"));
        };
        sum.iter_mut().zip(l).for_each(|(s, x)| *s += x);
    }
    Ok(sum.into_iter().map(|s| s / views.len() as f64).collect())
}

/// One view of a u8 HWC image: mirrored first (if asked), then shifted by
/// (dy, dx) with zeros where the shift uncovers the border.
pub fn view(img: &[u8], h: usize, w: usize, c: usize, (dy, dx, flip): (i64, i64, bool)) -> Vec<u8> {
    let mut out = vec![0u8; img.len()];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let (sy, sx) = (y + dy, x + dx);
            if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                continue;
            }
            let sx = if flip { w as i64 - 1 - sx } else { sx };
            let (src, dst) = ((sy as usize * w + sx as usize) * c, (y as usize * w + x as usize) * c);
            out[dst..dst + c].copy_from_slice(&img[src..src + c]);
        }
    }
    out
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig { alpha: 0.001, label_only: false, permutations: 200_000, seed: 0, tau: None, batch: 64, tta: None, calibrate: false }
    }
}

/// Puts values gathered in `order` back into key order: (R, W).
fn unshuffle<T: Clone + Default>(values: &[T], order: &[(bool, usize)], n_r: usize, n_w: usize) -> (Vec<T>, Vec<T>) {
    let (mut r, mut w) = (vec![T::default(); n_r], vec![T::default(); n_w]);
    for (&(is_r, i), v) in order.iter().zip(values) {
        if is_r { r[i] = v.clone() } else { w[i] = v.clone() }
    }
    (r, w)
}


/// Outcome of the loss-based tests.
struct LossTests {
    /// Rank test p-value (the decision in the default mode).
    rank_p: f64,
    /// What it was and how its p-value was computed.
    rank_method: String,
    /// Permutation p of the mean difference (Monte-Carlo or enumerated).
    mean_p: f64,
}

/// W's and R's losses per class: the strata of a class-stratified key.
fn strata(key: &KeyBody, lw: &[f64], lr: &[f64]) -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut out = vec![(Vec::new(), Vec::new()); key.dataset.class_names.len()];
    key.withheld.iter().zip(lw).for_each(|(s, &l)| out[s.label as usize].0.push(l));
    key.released.iter().zip(lr).for_each(|(s, &l)| out[s.label as usize].1.push(l));
    out.retain(|(w, r)| !w.is_empty() || !r.is_empty());
    out
}

/// Each sample's loss minus its proxy loss from the key.
/// The calibrated test's p-value (what `calibrate` gives) on the losses a
/// verdict already holds: the same answers, no new queries, so a raw and a
/// calibrated judgement of one suspect can be reported side by side. None
/// for a label-only verdict (no losses).
pub fn calibrated_p(key: &KeyBody, v: &Verdict, cfg: &VerifyConfig) -> Result<Option<f64>> {
    if v.losses_released.len() != key.released.len() || v.losses_withheld.len() != key.withheld.len() || v.losses_released.is_empty() {
        return Ok(None);
    }
    let (cr, cw) = calibrated_pair(key, &v.losses_released, &v.losses_withheld)?;
    Ok(Some(rank_test(key, &cw, &cr, cfg)?.0))
}

/// Each image's loss minus the key's proxy loss on it, for R and for W.
fn calibrated_pair(key: &KeyBody, lr: &[f64], lw: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    Ok((calibrated(&key.released, lr)?, calibrated(&key.withheld, lw)?))
}

fn calibrated(samples: &[crate::key::KeySample], losses: &[f64]) -> Result<Vec<f64>> {
    samples
        .iter()
        .zip(losses)
        .map(|(s, l)| match s.proxy_loss.is_finite() {
            true => Ok(l - s.proxy_loss),
            false => Err(Error::invalid("key", format!("sample {} has proxy loss {}: cannot calibrate", s.id, s.proxy_loss))),
        })
        .collect()
}

/// The rank test of "W > R" (within classes for a class-stratified key,
/// pooled for a version-1 key split class-blind) and the permutation test
/// of the mean difference with the same within-class permutations.
fn loss_tests(key: &KeyBody, lw: &[f64], lr: &[f64], cfg: &VerifyConfig) -> Result<LossTests> {
    use honeyimage_stats::{monte_carlo_permutation, PermutationStatistic};
    let (rank_p, rank_method) = rank_test(key, lw, lr, cfg)?;
    let mean_p = if key.split == RwSplit::ClassStratified {
        monte_carlo_permutation(&strata(key, lw, lr), PermutationStatistic::MeanDifference, Alternative::Greater, cfg.permutations as u64, cfg.seed)?.p_value
    } else {
        honeyimage_stats::permutation_test(lw, lr, Alternative::Greater, cfg.permutations, cfg.seed)?.p_value
    };
    Ok(LossTests { rank_p, rank_method, mean_p })
}

/// The decision test (W > R, one-sided): stratified within classes for a
/// class-stratified split, pooled otherwise. Its p-value and method.
fn rank_test(key: &KeyBody, lw: &[f64], lr: &[f64], cfg: &VerifyConfig) -> Result<(f64, String)> {
    if key.split == RwSplit::ClassStratified {
        let rank = honeyimage_stats::stratified_rank_sum_test(&strata(key, lw, lr), Alternative::Greater, cfg.permutations as u64, cfg.seed)?;
        return Ok((rank.p_value, format!("stratified Mann-Whitney U within classes, {}", rank.method_description())));
    }
    let mw = honeyimage_stats::mann_whitney_u(lw, lr, Alternative::Greater)?;
    Ok((mw.p_value, mw.method))
}

/// Runs the verification: queries R and W together in one seeded random
/// order, decides the output kind once over all answers, and tests whether
/// the suspect fits R better than W.
pub fn verify(key: &KeyBody, oracle: &mut dyn Oracle, cfg: &VerifyConfig) -> Result<Verdict> {
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) {
        return Err(Error::invalid("alpha", format!("{} (must be in (0, 1))", cfg.alpha)));
    }
    let (n_r, n_w) = (key.released.len(), key.withheld.len());
    oracle.expect_classes(key.dataset.class_names.len());
    let order = query_order(n_r, n_w, cfg.seed);
    let answers = query_all(key, oracle, &order, cfg.batch, (0, 0, false))?;
    let (losses, correct) = score_answers(key, answers, &order, &oracle.describe())?;
    let views = cfg.tta.map_or(1, |t| t.views().len());
    let losses = match (cfg.tta, losses) {
        (Some(t), Some(first)) if !cfg.label_only => Some(view_mean_losses(key, oracle, &order, cfg.batch, t, first)?),
        (Some(_), _) => return Err(Error::invalid("test-time augmentation", "needs the suspect's scores: not with --label-only or a label-only API")),
        (None, l) => l,
    };
    let (cr, cw) = unshuffle(&correct, &order, n_r, n_w);
    let (a, b) = (cr.iter().filter(|&&x| x).count(), cw.iter().filter(|&&x| x).count());
    let fisher = honeyimage_stats::fisher_exact(a as u64, (n_r - a) as u64, b as u64, (n_w - b) as u64, Alternative::Greater)?;
    let label_only = LabelOnly { correct_released: a, correct_withheld: b, fisher_p: fisher.p_value };
    let Some(losses) = losses else {
        if !cfg.label_only {
            return Err(Error::model(oracle.describe(), "answers with class labels only; verify it with --label-only"));
        }
        return Ok(label_only_verdict(key, cfg, label_only, oracle.describe()));
    };
    let (lr, lw) = unshuffle(&losses, &order, n_r, n_w);
    let tests = if cfg.calibrate {
        let (cr, cw) = calibrated_pair(key, &lr, &lw)?;
        loss_tests(key, &cw, &cr, cfg)?
    } else {
        loss_tests(key, &lw, &lr, cfg)?
    };
    let score = key.released.iter().zip(&lr).map(|(s, l)| s.proxy_loss - l).sum::<f64>() / lr.len() as f64;
    let (p_value, method) = if cfg.label_only {
        (fisher.p_value, LABEL_ONLY_METHOD.to_string())
    } else {
        let tta = cfg.tta.map_or(String::new(), |t| format!(" averaged over {views} test-time views (shifts <= {} px{})", t.pad, if t.flip { ", mirrored" } else { "" }));
        let on = if cfg.calibrate { "suspect loss minus the key's proxy loss per image (calibrated)" } else { "suspect losses" };
        (tests.rank_p, format!("{}, on {on}{tta}, W > R (one-sided)", tests.rank_method))
    };
    let verdict = p_value < cfg.alpha;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Verdict {
        verdict,
        verdict_text: verdict_text(verdict).into(),
        p_value,
        alpha: cfg.alpha,
        method,
        effect_size: mean(&lw) - mean(&lr),
        cohens_d: honeyimage_stats::cohens_d(&lw, &lr).ok(),
        mean_loss_released: mean(&lr),
        mean_loss_withheld: mean(&lw),
        permutation_p: tests.mean_p,
        permutation_resolution: 1.0 / (cfg.permutations as f64 + 1.0),
        mann_whitney_p: tests.rank_p,
        n_released: n_r,
        n_withheld: n_w,
        queries: (n_r + n_w) * views,
        tau_rule: TauRule { score, tau: cfg.tau, decision: cfg.tau.map(|t| score > t) },
        label_only,
        suspect: oracle.describe(),
        commitment: crate::key::commitment(key).to_string(),
        losses_released: lr,
        losses_withheld: lw,
        smallest_p: smallest_p_value(key, cfg.label_only),
    })
}

/// How the label-only p-value is computed.
const LABEL_ONLY_METHOD: &str = "Fisher exact test on top-1 correctness, R vs W (one-sided)";

fn verdict_text(verdict: bool) -> &'static str {
    if verdict {
        "trained on the protected dataset"
    } else {
        "no evidence of training on the protected dataset"
    }
}

/// The verdict of a suspect that answers with labels only.
fn label_only_verdict(key: &KeyBody, cfg: &VerifyConfig, lo: LabelOnly, suspect: String) -> Verdict {
    let verdict = lo.fisher_p < cfg.alpha;
    let (n_r, n_w) = (key.released.len(), key.withheld.len());
    Verdict {
        verdict,
        verdict_text: verdict_text(verdict).into(),
        p_value: lo.fisher_p,
        alpha: cfg.alpha,
        method: LABEL_ONLY_METHOD.into(),
        effect_size: lo.correct_released as f64 / n_r.max(1) as f64 - lo.correct_withheld as f64 / n_w.max(1) as f64,
        cohens_d: None,
        mean_loss_released: f64::NAN,
        mean_loss_withheld: f64::NAN,
        permutation_p: f64::NAN,
        permutation_resolution: f64::NAN,
        mann_whitney_p: f64::NAN,
        n_released: n_r,
        n_withheld: n_w,
        queries: n_r + n_w,
        tau_rule: TauRule { score: f64::NAN, tau: cfg.tau, decision: None },
        label_only: lo,
        suspect,
        commitment: crate::key::commitment(key).to_string(),
        losses_released: Vec::new(),
        losses_withheld: Vec::new(),
        smallest_p: smallest_p_value(key, true),
    }
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

#[cfg(test)]
mod view_tests {
    use super::view;

    #[test]
    fn views_shift_and_mirror_pixels() {
        // 2x3 grey image.
        let img = [1, 2, 3, 4, 5, 6];
        assert_eq!(view(&img, 2, 3, 1, (0, 0, false)), img);
        assert_eq!(view(&img, 2, 3, 1, (0, 0, true)), [3, 2, 1, 6, 5, 4]);
        assert_eq!(view(&img, 2, 3, 1, (0, 1, false)), [2, 3, 0, 5, 6, 0]);
        assert_eq!(view(&img, 2, 3, 1, (-1, 0, false)), [0, 0, 0, 1, 2, 3]);
        // RGB pixels move whole.
        assert_eq!(view(&[1, 2, 3, 4, 5, 6], 1, 2, 3, (0, 0, true)), [4, 5, 6, 1, 2, 3]);
    }
}

#[cfg(test)]
mod smallest_p_tests {
    use super::{smallest_p, RwSplit};

    #[test]
    fn ten_pairs_in_ten_classes_barely_reach_the_default_alpha() {
        let one = [1usize; 10];
        let p = smallest_p(RwSplit::ClassStratified, &one, &one, false);
        assert!((p - 1.0 / 1024.0).abs() < 1e-15 && p < 0.001);
        // Five pairs cannot: 2^-5.
        let five = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
        assert!((smallest_p(RwSplit::ClassStratified, &five, &five, false) - 1.0 / 32.0).abs() < 1e-15);
        // Pooled (a class-blind key, or Fisher's label-only test): 1 / C(20, 10).
        for (split, label_only) in [(RwSplit::ClassBlind, false), (RwSplit::ClassStratified, true)] {
            assert!((smallest_p(split, &one, &one, label_only) * 184_756.0 - 1.0).abs() < 1e-9);
        }
    }
}
