//! ROC analysis for evaluating the ownership detector across many suspect
//! models: AUROC (with ties), ROC curves, TPR at a low FPR, threshold
//! calibration on clean reference models, and confusion counts.
//!
//! Scores follow the convention that HIGHER means "positive" (infringing);
//! e.g. pass `-log10(p)` or `1 - p` rather than a raw p-value.

use crate::{check, mid_ranks, Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One point of a ROC curve: flagging `score >= threshold` gives `(fpr, tpr)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Decision threshold (`+inf` for the initial point, which flags nothing).
    pub threshold: f64,
    /// False-positive rate.
    pub fpr: f64,
    /// True-positive rate.
    pub tpr: f64,
}

/// ROC curve of `pos` vs `neg` scores: a first point `(0, 0)` at threshold
/// `+inf`, then one point per distinct score `t` (descending) for the rule
/// `score >= t`; the last point (the minimum score) is `(1, 1)`. Tied scores
/// therefore move FPR and TPR together in one diagonal step.
pub fn roc_curve(pos: &[f64], neg: &[f64]) -> Result<Vec<RocPoint>> {
    check(pos, "pos", 1)?;
    check(neg, "neg", 1)?;
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < all.len() {
        let t = all[i].0;
        while i < all.len() && all[i].0 == t {
            if all[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint {
            threshold: t,
            fpr: fp as f64 / nn,
            tpr: tp as f64 / np,
        });
    }
    Ok(points)
}

/// AUROC = `P(pos > neg) + 0.5 P(pos == neg)` over all pairs, computed exactly
/// from mid-ranks (the Mann-Whitney `U` of `pos` divided by `n_pos * n_neg`).
pub fn auroc(pos: &[f64], neg: &[f64]) -> Result<f64> {
    check(pos, "pos", 1)?;
    check(neg, "neg", 1)?;
    Ok(auroc_unchecked(pos, neg))
}

fn auroc_unchecked(pos: &[f64], neg: &[f64]) -> f64 {
    let pooled: Vec<f64> = pos.iter().chain(neg).copied().collect();
    let (ranks, _) = mid_ranks(&pooled);
    let np = pos.len() as f64;
    let u = ranks[..pos.len()].iter().sum::<f64>() - np * (np + 1.0) / 2.0;
    u / (np * neg.len() as f64)
}

/// Percentile bootstrap confidence interval `(lo, hi)` for [`auroc`] at
/// confidence `level` in (0, 1). Positives and negatives are resampled
/// separately (stratified), `n_boot >= 1` times, with ChaCha8 seeded by
/// `seed`; quantiles use linear interpolation between order statistics.
pub fn auroc_bootstrap_ci(
    pos: &[f64],
    neg: &[f64],
    n_boot: usize,
    level: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    check(pos, "pos", 1)?;
    check(neg, "neg", 1)?;
    if n_boot == 0 {
        return Err(Error::InvalidArgument("n_boot must be positive".into()));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "level must be in (0, 1), got {level}"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut resample =
        |v: &[f64]| -> Vec<f64> { (0..v.len()).map(|_| v[rng.gen_range(0..v.len())]).collect() };
    let mut stats: Vec<f64> = (0..n_boot)
        .map(|_| {
            let (p, n) = (resample(pos), resample(neg));
            auroc_unchecked(&p, &n)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let h = q * (stats.len() - 1) as f64;
        let (lo, frac) = (h.floor() as usize, h - h.floor());
        let hi = (lo + 1).min(stats.len() - 1);
        stats[lo] + frac * (stats[hi] - stats[lo])
    };
    let alpha = (1.0 - level) / 2.0;
    Ok((quantile(alpha), quantile(1.0 - alpha)))
}

/// Number of allowed false positives at rate `fpr` among `n` negatives,
/// `floor(fpr * n)` with a small tolerance for rounding (e.g. 0.05 * 100).
fn allowed(fpr: f64, n: usize) -> usize {
    ((fpr * n as f64) + 1e-9).floor() as usize
}

/// Scores sorted in descending order.
fn sorted_desc(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// Largest TPR achievable with FPR `<= max_fpr` under the rule
/// `score > t`, and the threshold `t` achieving it.
///
/// With `k = floor(max_fpr * n_neg)` allowed false positives, the optimal
/// threshold is the `(k+1)`-th largest negative score (lower thresholds
/// would flag more than `k` negatives; TPR only grows as `t` falls). If
/// `k >= n_neg` (`max_fpr = 1`) the threshold is `-inf` and TPR is 1.
/// Returns `Ok(None)` when `k == 0`, i.e. there are too few negatives to
/// resolve `max_fpr` (`n_neg < 1 / max_fpr`): the only empirical FPR at or
/// below the target would be zero, which says nothing about `max_fpr`.
/// `max_fpr` must lie in (0, 1].
pub fn tpr_at_fpr(pos: &[f64], neg: &[f64], max_fpr: f64) -> Result<Option<(f64, f64)>> {
    check(pos, "pos", 1)?;
    check(neg, "neg", 1)?;
    if !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return Err(Error::InvalidArgument(format!(
            "max_fpr must be in (0, 1], got {max_fpr}"
        )));
    }
    let k = allowed(max_fpr, neg.len());
    if k == 0 {
        return Ok(None);
    }
    let t = if k >= neg.len() {
        f64::NEG_INFINITY
    } else {
        sorted_desc(neg)[k]
    };
    let tp = pos.iter().filter(|&&s| s > t).count();
    Ok(Some((tp as f64 / pos.len() as f64, t)))
}

/// Threshold `tau` calibrated on reference (clean) scores for the rule
/// `score > tau` at target false-positive rate `fpr` in `[0, 1)`.
///
/// Exactly: with `n` references sorted descending `r_(1) >= ... >= r_(n)`
/// and `k = floor(fpr * n)`, returns `tau = r_(k+1)` — the smallest value for
/// which at most `k` references (a fraction `<= fpr`) score strictly above
/// `tau`. With ties at `tau` fewer than `k` may exceed it. `fpr = 0` gives the
/// maximum reference score.
pub fn calibrate_threshold(reference: &[f64], fpr: f64) -> Result<f64> {
    check(reference, "reference", 1)?;
    if !(0.0..1.0).contains(&fpr) {
        return Err(Error::InvalidArgument(format!(
            "fpr must be in [0, 1), got {fpr}"
        )));
    }
    let k = allowed(fpr, reference.len()).min(reference.len() - 1);
    Ok(sorted_desc(reference)[k])
}

/// A threshold from [`order_statistic_threshold`] and its guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OrderStatisticThreshold {
    /// `tau`: flag a suspect when its score is strictly greater.
    pub threshold: f64,
    /// Number of reference scores allowed strictly above `tau` (`tau` is the
    /// `(k+1)`-th largest reference score).
    pub k: usize,
    /// `(k + 1) / (n + 1)`, a bound on the false-positive probability of a
    /// new clean model; at most `fpr`.
    pub guaranteed_bound: f64,
    /// Number `n` of reference scores.
    pub n_reference: usize,
}

/// Conformal (order-statistic) calibration of the rule `score > tau` on `n`
/// scores of clean reference models, with a finite-sample guarantee.
///
/// With `k = floor(fpr (n + 1)) - 1` (the largest `k` with
/// `(k + 1) / (n + 1) <= fpr`; a relative slack of 1e-12 absorbs rounding
/// of `fpr`) and `tau` the `(k+1)`-th largest reference score (the
/// `(n-k)`-th smallest), a NEW clean model whose score is exchangeable with
/// the references (same training recipe, independent seeds and data draws)
/// satisfies `P(score > tau) <= (k + 1) / (n + 1) <= fpr`, the probability
/// being over the references and the new model together. Reason: among the
/// `n + 1` exchangeable scores, the new one exceeds the `(k+1)`-th largest
/// reference only if it ranks among the top `k + 1`, which has probability
/// `(k + 1)/(n + 1)`; ties only make strict exceedance rarer. For continuous
/// scores the bound is attained exactly.
///
/// Returns `Ok(None)` when `n + 1 < 1 / fpr`: no reference score gives the
/// guarantee (`k < 0`). Errors: empty or non-finite references, `fpr` not
/// in `(0, 1)`. (Unlike [`calibrate_threshold`], which controls the
/// empirical rate on the references only.)
pub fn order_statistic_threshold(
    reference: &[f64],
    fpr: f64,
) -> Result<Option<OrderStatisticThreshold>> {
    check(reference, "reference", 1)?;
    if !(fpr > 0.0 && fpr < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "fpr must be in (0, 1), got {fpr}"
        )));
    }
    let n = reference.len();
    let slots = (fpr * (n + 1) as f64 * (1.0 + 1e-12)).floor() as usize;
    if slots == 0 {
        return Ok(None);
    }
    let k = (slots - 1).min(n - 1);
    Ok(Some(OrderStatisticThreshold {
        threshold: sorted_desc(reference)[k],
        k,
        guaranteed_bound: (k + 1) as f64 / (n + 1) as f64,
        n_reference: n,
    }))
}

/// Confusion counts of a binary detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Positives flagged.
    pub tp: usize,
    /// Negatives flagged.
    pub fp: usize,
    /// Negatives not flagged.
    pub tn: usize,
    /// Positives not flagged.
    pub fn_: usize,
}

impl Confusion {
    /// `tp / (tp + fn)`; `NaN` without positives.
    pub fn tpr(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_) as f64
    }
    /// `tn / (tn + fp)`; `NaN` without negatives.
    pub fn tnr(&self) -> f64 {
        self.tn as f64 / (self.tn + self.fp) as f64
    }
    /// `fp / (fp + tn)`; `NaN` without negatives.
    pub fn fpr(&self) -> f64 {
        self.fp as f64 / (self.fp + self.tn) as f64
    }
    /// `(tp + tn) / total`; `NaN` when empty.
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / (self.tp + self.tn + self.fp + self.fn_) as f64
    }
}

/// Confusion counts from detector decisions on positives and negatives.
pub fn confusion(pos_flagged: &[bool], neg_flagged: &[bool]) -> Confusion {
    let tp = pos_flagged.iter().filter(|&&f| f).count();
    let fp = neg_flagged.iter().filter(|&&f| f).count();
    Confusion {
        tp,
        fp,
        tn: neg_flagged.len() - fp,
        fn_: pos_flagged.len() - tp,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn order_statistic_threshold_hand_cases() {
        let refs: Vec<f64> = (1..=99).map(f64::from).collect();
        // n = 99, fpr = 0.05: (k+1)/100 <= 0.05 -> k = 4, tau = 5th largest = 95.
        let t = order_statistic_threshold(&refs, 0.05).unwrap().unwrap();
        assert_eq!((t.threshold, t.k, t.n_reference), (95.0, 4, 99));
        assert!((t.guaranteed_bound - 0.05).abs() < 1e-15);
        // n = 30, fpr = 0.05: fpr (n+1) = 1.55 -> k = 0 (bound 1/31), the maximum.
        let t = order_statistic_threshold(&refs[..30], 0.05)
            .unwrap()
            .unwrap();
        assert_eq!((t.threshold, t.k), (30.0, 0));
        assert!(t.guaranteed_bound <= 0.05);
        // n + 1 < 1/fpr: no order statistic gives the guarantee.
        assert_eq!(order_statistic_threshold(&refs[..18], 0.05).unwrap(), None);
        assert!(order_statistic_threshold(&refs[..19], 0.05)
            .unwrap()
            .is_some());
        assert!(order_statistic_threshold(&refs, 0.0).is_err());
        assert!(order_statistic_threshold(&refs, 1.0).is_err());
        assert!(order_statistic_threshold(&[], 0.5).is_err());
        assert!(order_statistic_threshold(&[1.0, f64::NAN], 0.5).is_err());
    }

    #[test]
    fn order_statistic_threshold_guarantee_by_simulation() {
        // New clean score exchangeable with n = 40 references: for
        // continuous scores P(new > tau) = (k+1)/(n+1) exactly.
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let reps = 20_000;
        for fpr in [0.05, 0.1, 0.25] {
            let mut exceed = 0;
            let mut bound = 0.0;
            for _ in 0..reps {
                let refs: Vec<f64> = (0..40).map(|_| rng.gen::<f64>().ln()).collect();
                let t = order_statistic_threshold(&refs, fpr).unwrap().unwrap();
                bound = t.guaranteed_bound;
                exceed += usize::from(rng.gen::<f64>().ln() > t.threshold);
            }
            let rate = exceed as f64 / reps as f64;
            let sd = (bound * (1.0 - bound) / reps as f64).sqrt();
            assert!(
                bound <= fpr && rate <= bound + 3.0 * sd,
                "fpr {fpr}: {rate} vs {bound}"
            );
            assert!(
                rate >= bound - 4.0 * sd,
                "fpr {fpr}: {rate} far below {bound}"
            );
        }
    }

    #[test]
    fn auroc_extremes_and_ties() {
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]).unwrap(), 1.0);
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 0.0);
        assert_eq!(auroc(&[5.0; 3], &[5.0; 4]).unwrap(), 0.5);
        // pos {1,2,3}, neg {2,2}: pairs (1,·) 0+0, (2,·) .5+.5, (3,·) 1+1 -> 3/6.
        assert_eq!(auroc(&[1.0, 2.0, 3.0], &[2.0, 2.0]).unwrap(), 0.5);
        // pos {2,3}, neg {1,2,2}: 2 vs {1,2,2} = 1+.5+.5, 3 vs all = 3 -> 5/6.
        assert!((auroc(&[2.0, 3.0], &[1.0, 2.0, 2.0]).unwrap() - 5.0 / 6.0).abs() < 1e-15);
        assert!(auroc(&[], &[1.0]).is_err());
        assert!(auroc(&[1.0], &[f64::NAN]).is_err());
    }

    #[test]
    fn roc_curve_endpoints_and_ties() {
        let c = roc_curve(&[2.0, 3.0], &[1.0, 2.0, 2.0]).unwrap();
        assert_eq!(
            (c[0].fpr, c[0].tpr, c[0].threshold),
            (0.0, 0.0, f64::INFINITY)
        );
        let last = c.last().unwrap();
        assert_eq!((last.fpr, last.tpr, last.threshold), (1.0, 1.0, 1.0));
        // Thresholds 3, 2 (tie of one pos and two negs moves diagonally), 1.
        assert_eq!(c.len(), 4);
        assert_eq!((c[1].fpr, c[1].tpr), (0.0, 0.5));
        assert!((c[2].fpr - 2.0 / 3.0).abs() < 1e-15 && c[2].tpr == 1.0);
        // Trapezoidal area under the curve equals auroc.
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum();
        assert!((area - 5.0 / 6.0).abs() < 1e-12);
        assert!(roc_curve(&[1.0], &[]).is_err());
    }

    #[test]
    fn tpr_at_fpr_behaviour() {
        let neg: Vec<f64> = (1..=20).map(f64::from).collect();
        let pos = [19.5, 20.5, 21.0, 5.0];
        // k = 1 allowed false positive: threshold = 2nd largest neg = 19.
        let (tpr, t) = tpr_at_fpr(&pos, &neg, 0.05).unwrap().unwrap();
        assert_eq!((tpr, t), (0.75, 19.0));
        // 20 negatives cannot resolve 1%.
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.01).unwrap(), None);
        assert_eq!(
            tpr_at_fpr(&pos, &neg, 1.0).unwrap(),
            Some((1.0, f64::NEG_INFINITY))
        );
        assert!(tpr_at_fpr(&pos, &neg, 0.0).is_err());
        assert!(tpr_at_fpr(&pos, &[], 0.5).is_err());
    }

    #[test]
    fn calibrate_threshold_order_statistic() {
        let refs: Vec<f64> = (1..=100).map(f64::from).collect();
        let tau = calibrate_threshold(&refs, 0.05).unwrap();
        assert_eq!(tau, 95.0);
        assert_eq!(refs.iter().filter(|&&r| r > tau).count(), 5);
        assert_eq!(calibrate_threshold(&refs, 0.0).unwrap(), 100.0);
        assert_eq!(calibrate_threshold(&refs, 0.999).unwrap(), 1.0);
        assert!(calibrate_threshold(&refs, 1.0).is_err());
        assert!(calibrate_threshold(&[], 0.1).is_err());
        assert!(calibrate_threshold(&[1.0, f64::NAN], 0.1).is_err());
    }

    #[test]
    fn bootstrap_ci_brackets_auroc() {
        let pos: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin() + 0.8).collect();
        let neg: Vec<f64> = (0..40).map(|i| (i as f64 * 0.53).cos()).collect();
        let a = auroc(&pos, &neg).unwrap();
        let (lo, hi) = auroc_bootstrap_ci(&pos, &neg, 500, 0.95, 3).unwrap();
        assert!(lo < a && a < hi && hi - lo < 0.4, "{lo} {a} {hi}");
        assert_eq!(
            (lo, hi),
            auroc_bootstrap_ci(&pos, &neg, 500, 0.95, 3).unwrap()
        );
        assert!(auroc_bootstrap_ci(&pos, &neg, 0, 0.95, 3).is_err());
        assert!(auroc_bootstrap_ci(&pos, &neg, 10, 1.0, 3).is_err());
    }

    #[test]
    fn confusion_rates() {
        let c = confusion(
            &[true, true, false, true],
            &[false, true, false, false, false],
        );
        assert_eq!(
            c,
            Confusion {
                tp: 3,
                fp: 1,
                tn: 4,
                fn_: 1
            }
        );
        assert_eq!(
            (c.tpr(), c.tnr(), c.fpr(), c.accuracy()),
            (0.75, 0.8, 0.2, 7.0 / 9.0)
        );
        assert!(confusion(&[], &[]).accuracy().is_nan());
    }
}
