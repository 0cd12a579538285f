//! Permutation p-values for the ownership verdict that never rest on a
//! normal approximation (SPEC §4, "Verification"): under H0 the suspect's
//! losses on the released (R) and withheld (W) samples are exchangeable
//! within each class, so the p-value is read off the permutation
//! distribution of the R/W labels within classes — enumerated exactly by
//! dynamic programming where feasible, otherwise sampled by Monte Carlo with
//! `p = (1 + b) / (1 + B)` and its standard error stated. Every result names
//! how its p-value was obtained ([`PValueMethod`]) so a verdict can say so.
//!
//! Conventions (as in [`crate::tests`]): the [`Alternative`] is about the
//! *first* sample `x` relative to `y`; two-sided p-values are
//! `min(1, 2 * min(lower tail, upper tail))` (valid, and the convention of R
//! and SciPy for the exact Wilcoxon test). Tails are always summed directly,
//! never as `1 - (other tail)`, so p-values down to ~1e-290 keep a relative
//! accuracy of about 1e-12; smaller ones underflow towards 0.

use crate::rank_null::{self, RankProfile};
use crate::tests::Alternative;
use crate::{check, mid_ranks, Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PValueMethod {
    /// Exact: the null distribution of `U` enumerated through its generating
    /// function (no tied values).
    ExactNoTies,
    /// Exact conditional permutation distribution given the observed ties.
    ExactConditional,
    /// Exact stratified distribution: labels permuted within strata only,
    /// conditional on the ties within each stratum (convolution of the
    /// per-stratum exact distributions).
    ExactStratified,
    /// Monte-Carlo permutation test, `p = (1 + b) / (1 + B)`.
    MonteCarlo {
        /// Number `B` of random permutations drawn.
        permutations: u64,
    },
}

impl PValueMethod {
    /// Whether the p-value is exact (not Monte-Carlo).
    pub fn is_exact(self) -> bool {
        !matches!(self, PValueMethod::MonteCarlo { .. })
    }
}

impl fmt::Display for PValueMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PValueMethod::ExactNoTies => write!(f, "exact (enumerated, no ties)"),
            PValueMethod::ExactConditional => write!(f, "exact conditional on ties"),
            PValueMethod::ExactStratified => {
                write!(
                    f,
                    "exact stratified (within-stratum permutation, conditional on ties)"
                )
            }
            PValueMethod::MonteCarlo { permutations } => {
                write!(
                    f,
                    "Monte-Carlo within-stratum permutation, B = {permutations}"
                )
            }
        }
    }
}

/// Outcome of a permutation test on two samples (possibly stratified).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationTestResult {
    /// Observed statistic (documented per function).
    pub statistic: f64,
    /// Expected value of the statistic under H0.
    pub null_mean: f64,
    /// p-value in `(0, 1]` for the requested alternative.
    pub p_value: f64,
    /// How `p_value` was obtained.
    pub method: PValueMethod,
    /// Monte-Carlo standard error of `p_value`; `None` when exact.
    pub mc_std_error: Option<f64>,
    /// Number of `x` values (all strata).
    pub n_x: usize,
    /// Number of `y` values (all strata).
    pub n_y: usize,
    /// Strata holding both `x` and `y` values (the others carry no
    /// information under within-stratum permutation).
    pub strata: usize,
}

impl PermutationTestResult {
    /// The method, plus `± standard error` for Monte-Carlo p-values, e.g.
    /// `"Monte-Carlo within-stratum permutation, B = 9999, ± 2.2e-4"`.
    pub fn method_description(&self) -> String {
        match self.mc_std_error {
            Some(se) => format!("{}, ± {se:.2e}", self.method),
            None => self.method.to_string(),
        }
    }
}

impl fmt::Display for PermutationTestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p = {:.3e} ({})",
            self.p_value,
            self.method_description()
        )
    }
}

/// Largest estimated number of inner-loop operations an exact computation
/// may take (about a second in a release build); larger problems are
/// refused by the `*_exact` functions and sent to Monte Carlo by the
/// `*_test` functions.
pub const EXACT_MAX_WORK: f64 = 2e9;

/// Combines the tails for `alt`, evaluating only the ones needed. For
/// two-sided tests the tail on the observed side of the null mean
/// (`lower_first`: the statistic is at or below it) is computed first; if it
/// is at most 1/2 it is the smaller one, because `le + ge = 1 + P(V = v)`, so
/// the other tail is not needed.
fn tail_p(
    alt: Alternative,
    lower_first: bool,
    le: impl FnOnce() -> f64,
    ge: impl FnOnce() -> f64,
) -> f64 {
    match alt {
        Alternative::Less => le(),
        Alternative::Greater => ge(),
        Alternative::TwoSided => {
            let (first, other): (f64, Box<dyn FnOnce() -> f64>) = if lower_first {
                (le(), Box::new(ge))
            } else {
                (ge(), Box::new(le))
            };
            let smaller = if first <= 0.5 {
                first
            } else {
                first.min(other())
            };
            (2.0 * smaller).min(1.0)
        }
    }
}

/// Error for an exact computation over [`EXACT_MAX_WORK`].
fn too_large(work: f64) -> Error {
    Error::InvalidArgument(format!(
        "exact permutation distribution too large (~{work:.1e} operations, limit {EXACT_MAX_WORK:.0e}); \
         use the Monte-Carlo permutation test"
    ))
}

/// Estimated work of the tails of one unstratified profile needed for `alt`.
fn unstratified_work(p: &RankProfile, alt: Alternative) -> f64 {
    let v = p.v_obs as i64;
    let le = || rank_null::work_estimate(p, Some(v));
    let ge = || rank_null::work_estimate(&p.reversed(), Some(p.v_max() as i64 - v));
    match alt {
        Alternative::Less => le(),
        Alternative::Greater => ge(),
        Alternative::TwoSided => le() + ge(),
    }
}

/// Exact Wilcoxon-Mann-Whitney test of `x` against `y`, for any sizes within
/// [`EXACT_MAX_WORK`] (e.g. `m = n = 200` with or without ties).
///
/// `statistic` is `U = #{x_i > y_j} + 0.5 #{x_i = y_j}` (from mid-ranks:
/// `U = R_x - m(m+1)/2`), `null_mean = mn/2`. `Greater`: `p = P(U >= u)`;
/// `Less`: `P(U <= u)`. Without ties the distribution of `U` is enumerated
/// through its generating function ([`PValueMethod::ExactNoTies`]); with ties
/// it is the exact conditional permutation distribution of the mid-rank sum
/// given the tie pattern ([`PValueMethod::ExactConditional`]). Larger inputs
/// give [`Error::InvalidArgument`]; [`rank_sum_test`] falls back to Monte
/// Carlo instead.
pub fn rank_sum_exact(x: &[f64], y: &[f64], alt: Alternative) -> Result<PermutationTestResult> {
    check(x, "x", 1)?;
    check(y, "y", 1)?;
    let p = RankProfile::new(x, y);
    let work = unstratified_work(&p, alt);
    if work > EXACT_MAX_WORK {
        return Err(too_large(work));
    }
    let v = p.v_obs as i64;
    let lower_first = p.v_obs <= (p.m * p.n) as u64;
    let p_value = tail_p(
        alt,
        lower_first,
        || rank_null::le(&p, v),
        || rank_null::ge(&p, v),
    );
    Ok(PermutationTestResult {
        statistic: p.v_obs as f64 / 2.0,
        null_mean: (p.m * p.n) as f64 / 2.0,
        p_value,
        method: if p.has_ties() {
            PValueMethod::ExactConditional
        } else {
            PValueMethod::ExactNoTies
        },
        mc_std_error: None,
        n_x: p.m,
        n_y: p.n,
        strata: 1,
    })
}

/// [`rank_sum_exact`] when within [`EXACT_MAX_WORK`], otherwise
/// [`monte_carlo_permutation`] on the rank sum with `permutations` draws
/// seeded by `seed` (so the result always says which it is).
pub fn rank_sum_test(
    x: &[f64],
    y: &[f64],
    alt: Alternative,
    permutations: u64,
    seed: u64,
) -> Result<PermutationTestResult> {
    check(x, "x", 1)?;
    check(y, "y", 1)?;
    if unstratified_work(&RankProfile::new(x, y), alt) <= EXACT_MAX_WORK {
        return rank_sum_exact(x, y, alt);
    }
    let strata = [(x.to_vec(), y.to_vec())];
    monte_carlo_permutation(
        &strata,
        PermutationStatistic::RankSum,
        alt,
        permutations,
        seed,
    )
}

/// Validated strata: profiles of the informative ones, total `x` and `y`.
fn stratum_profiles(strata: &[(Vec<f64>, Vec<f64>)]) -> Result<(Vec<RankProfile>, usize, usize)> {
    let (mut n_x, mut n_y, mut profiles) = (0, 0, Vec::new());
    for (x, y) in strata {
        check(x, "stratum x values", 0)?;
        check(y, "stratum y values", 0)?;
        n_x += x.len();
        n_y += y.len();
        if !x.is_empty() && !y.is_empty() {
            profiles.push(RankProfile::new(x, y));
        }
    }
    for (what, got) in [
        ("x values (all strata)", n_x),
        ("y values (all strata)", n_y),
    ] {
        if got == 0 {
            return Err(Error::TooFew { what, need: 1, got });
        }
    }
    if profiles.is_empty() {
        return Err(Error::Degenerate(
            "no stratum holds both x and y values".into(),
        ));
    }
    Ok((profiles, n_x, n_y))
}

/// Estimated work of the stratified computation (per-stratum distributions
/// plus the truncated convolutions for `alt`), on a lattice of `step`.
fn stratified_work(profiles: &[RankProfile], step: usize, alt: Alternative) -> f64 {
    let dists: f64 = profiles
        .iter()
        .map(|p| rank_null::work_estimate(p, None))
        .sum();
    let (mut conv, mut len) = (0.0, 1.0);
    for p in profiles {
        let l = (p.v_max() as usize / step + 1) as f64;
        conv += len * l;
        len += l - 1.0;
    }
    let tails = if alt == Alternative::TwoSided {
        2.0
    } else {
        1.0
    };
    dists + tails * conv
}

/// Exact stratified Wilcoxon-Mann-Whitney test (van Elteren type), with the
/// labels permuted within strata only. `strata[s] = (x_s, y_s)`: typically
/// one stratum per class, `x` the withheld and `y` the released losses.
///
/// Statistic: `statistic = sum_s U_s`, the sum of the within-stratum
/// Mann-Whitney statistics (equivalently, up to a constant, the sum of the
/// within-stratum mid-rank sums of `x`); `null_mean = sum_s m_s n_s / 2`.
/// Van Elteren's weights `1 / (m_s + n_s + 1)` are *not* applied: this plain
/// sum keeps the statistic on an integer lattice (in doubled units), so its
/// null distribution is the exact convolution of the per-stratum exact
/// conditional distributions; like the unstratified test it weights strata
/// by size. With equal-sized strata (the HoneyImage design: the same number
/// of released and withheld samples per class) the van Elteren statistic is
/// an increasing affine function of this one, so the p-values coincide. Whatever the
/// weights, the test is exact and valid; they only affect power.
///
/// Strata with only `x` or only `y` values are constant under within-stratum
/// permutation and contribute nothing (they still count in `n_x`, `n_y`);
/// empty strata are ignored. Errors: non-finite values, no `x` or no `y` at
/// all, no stratum holding both ([`Error::Degenerate`]), or work above
/// [`EXACT_MAX_WORK`] (use [`stratified_rank_sum_test`]).
pub fn stratified_rank_sum_exact(
    strata: &[(Vec<f64>, Vec<f64>)],
    alt: Alternative,
) -> Result<PermutationTestResult> {
    let (profiles, n_x, n_y) = stratum_profiles(strata)?;
    let step = if profiles.iter().any(RankProfile::has_ties) {
        1
    } else {
        2
    };
    let work = stratified_work(&profiles, step, alt);
    if work > EXACT_MAX_WORK {
        return Err(too_large(work));
    }
    let pmfs: Vec<Vec<f64>> = profiles.iter().map(|p| rank_null::pmf(p, step)).collect();
    let v_obs = profiles.iter().map(|p| p.v_obs).sum::<u64>() as i64 / step as i64;
    let v_max = profiles.iter().map(|p| p.v_max()).sum::<u64>() as i64 / step as i64;
    let le = || rank_null::convolved_le(&pmfs, v_obs);
    let ge = || {
        let rev: Vec<Vec<f64>> = pmfs
            .iter()
            .map(|p| p.iter().rev().copied().collect())
            .collect();
        rank_null::convolved_le(&rev, v_max - v_obs)
    };
    let mn: usize = profiles.iter().map(|p| p.m * p.n).sum();
    Ok(PermutationTestResult {
        statistic: (v_obs * step as i64) as f64 / 2.0,
        null_mean: mn as f64 / 2.0,
        p_value: tail_p(alt, v_obs * step as i64 <= mn as i64, le, ge),
        method: PValueMethod::ExactStratified,
        mc_std_error: None,
        n_x,
        n_y,
        strata: profiles.len(),
    })
}

/// The smallest p-value a one-sided (stratified) rank-sum test can give
/// for strata of `(m, n)` values: the probability of its single most
/// extreme outcome (every `x` beyond every `y` in every stratum), which is
/// `prod 1 / C(m + n, m)` under within-stratum permutation. One stratum is
/// the pooled test. A design whose smallest p is not below alpha can never
/// reject, whatever the data.
pub fn smallest_rank_sum_p(strata: &[(usize, usize)]) -> f64 {
    let ln_choose = |m: usize, n: usize| {
        crate::special::ln_gamma((m + n + 1) as f64) - crate::special::ln_gamma((m + 1) as f64) - crate::special::ln_gamma((n + 1) as f64)
    };
    (-strata.iter().map(|&(m, n)| ln_choose(m, n)).sum::<f64>()).exp()
}

/// [`stratified_rank_sum_exact`] when within [`EXACT_MAX_WORK`], otherwise
/// [`monte_carlo_permutation`] on the stratified rank sum (`permutations`
/// draws seeded by `seed`).
pub fn stratified_rank_sum_test(
    strata: &[(Vec<f64>, Vec<f64>)],
    alt: Alternative,
    permutations: u64,
    seed: u64,
) -> Result<PermutationTestResult> {
    let (profiles, _, _) = stratum_profiles(strata)?;
    let step = if profiles.iter().any(RankProfile::has_ties) {
        1
    } else {
        2
    };
    if stratified_work(&profiles, step, alt) <= EXACT_MAX_WORK {
        return stratified_rank_sum_exact(strata, alt);
    }
    monte_carlo_permutation(
        strata,
        PermutationStatistic::RankSum,
        alt,
        permutations,
        seed,
    )
}

/// Statistic for [`monte_carlo_permutation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermutationStatistic {
    /// Stratified Mann-Whitney `sum_s U_s` (within-stratum mid-ranks), as in
    /// [`stratified_rank_sum_exact`].
    RankSum,
    /// `mean(x) - mean(y)` over all strata pooled (with `x` = withheld and
    /// `y` = released losses, SPEC's `mean(l(W)) - mean(l(R))`).
    MeanDifference,
}

/// One stratum prepared for Monte-Carlo relabelling: values with the `x`
/// ones first, the `x` count and the stratum total.
struct McStratum {
    values: Vec<f64>,
    m: usize,
    total: f64,
}

impl McStratum {
    /// Sum over the `x` labels of a uniformly random relabelling (partial
    /// Fisher-Yates on the smaller side; any starting order is fine).
    fn draw(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        let len = self.values.len();
        let k = self.m.min(len - self.m);
        for i in 0..k {
            let j = rng.gen_range(i..len);
            self.values.swap(i, j);
        }
        let s: f64 = self.values[..k].iter().sum();
        if k == self.m {
            s
        } else {
            self.total - s
        }
    }
}

/// Builds the Monte-Carlo strata (doubled mid-ranks for [`PermutationStatistic::RankSum`]).
fn mc_strata(strata: &[(Vec<f64>, Vec<f64>)], statistic: PermutationStatistic) -> Vec<McStratum> {
    strata
        .iter()
        .map(|(x, y)| {
            let mut values: Vec<f64> = x.iter().chain(y).copied().collect();
            if statistic == PermutationStatistic::RankSum {
                values = mid_ranks(&values).0.iter().map(|r| 2.0 * r).collect();
            }
            McStratum {
                total: values.iter().sum(),
                values,
                m: x.len(),
            }
        })
        .collect()
}

/// Maps the `x`-label sum `s` to the reported statistic.
fn mc_statistic(st: &[McStratum], statistic: PermutationStatistic, s: f64) -> f64 {
    let (m, n) = st
        .iter()
        .fold((0, 0), |(m, n), t| (m + t.m, n + t.values.len() - t.m));
    match statistic {
        PermutationStatistic::RankSum => {
            s / 2.0
                - st.iter()
                    .map(|t| (t.m * (t.m + 1)) as f64 / 2.0)
                    .sum::<f64>()
        }
        PermutationStatistic::MeanDifference => {
            let total: f64 = st.iter().map(|t| t.total).sum();
            s / m as f64 - (total - s) / n as f64
        }
    }
}

/// Monte-Carlo p-value and its standard error from the counts of draws at
/// least (`ge`) and at most (`le`) the observed statistic.
fn mc_p_value(alt: Alternative, ge: u64, le: u64, permutations: u64) -> (f64, f64) {
    let p = |b: u64| (1 + b) as f64 / (1 + permutations) as f64;
    let se = |p: f64| (p * (1.0 - p) / permutations as f64).sqrt();
    match alt {
        Alternative::Greater => (p(ge), se(p(ge))),
        Alternative::Less => (p(le), se(p(le))),
        Alternative::TwoSided => {
            let one = p(ge.min(le));
            ((2.0 * one).min(1.0), 2.0 * se(one))
        }
    }
}

/// Monte-Carlo permutation test with the labels permuted within strata.
///
/// Each of the `permutations` (= `B`) draws relabels every stratum uniformly
/// at random (ChaCha8 seeded with `seed`), keeping its `x`/`y` counts. With
/// `b` draws at least as extreme as the observed statistic, the one-sided
/// p-value is `(1 + b) / (1 + B)`, which is valid (super-uniform under H0)
/// for any `B`; two-sided is `min(1, 2 * min(one-sided))`. `mc_std_error` is
/// `sqrt(p (1 - p) / B)` of the reported `p` (doubled for two-sided).
///
/// [`PermutationStatistic::RankSum`] compares integer (doubled mid-rank)
/// sums exactly; [`PermutationStatistic::MeanDifference`] counts draws within
/// `1e-10 * sum|values|` of the observed sum as ties (extreme), which can only
/// make the p-value larger. `statistic` and `null_mean` are those of the
/// chosen statistic (`sum_s U_s`, or `mean(x) - mean(y)`).
pub fn monte_carlo_permutation(
    strata: &[(Vec<f64>, Vec<f64>)],
    statistic: PermutationStatistic,
    alt: Alternative,
    permutations: u64,
    seed: u64,
) -> Result<PermutationTestResult> {
    let (profiles, n_x, n_y) = stratum_profiles(strata)?;
    if permutations == 0 {
        return Err(Error::InvalidArgument(
            "permutations must be positive".into(),
        ));
    }
    let mut st = mc_strata(strata, statistic);
    let observed: f64 = st.iter().map(|t| t.values[..t.m].iter().sum::<f64>()).sum();
    let expected: f64 = st
        .iter()
        .map(|t| t.total * t.m as f64 / t.values.len().max(1) as f64)
        .sum();
    let tol = match statistic {
        PermutationStatistic::RankSum => 0.0,
        PermutationStatistic::MeanDifference => {
            let scale: f64 = st.iter().flat_map(|t| &t.values).map(|v| v.abs()).sum();
            1e-10 * scale
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ge, mut le) = (0u64, 0u64);
    for _ in 0..permutations {
        let s: f64 = st.iter_mut().map(|t| t.draw(&mut rng)).sum();
        ge += u64::from(s >= observed - tol);
        le += u64::from(s <= observed + tol);
    }
    let (p_value, std_error) = mc_p_value(alt, ge, le, permutations);
    Ok(PermutationTestResult {
        statistic: mc_statistic(&st, statistic, observed),
        null_mean: mc_statistic(&st, statistic, expected),
        p_value,
        method: PValueMethod::MonteCarlo { permutations },
        mc_std_error: Some(std_error),
        n_x,
        n_y,
        strata: profiles.len(),
    })
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::gof::ks_uniform;
    use crate::tests::permutation_test;
    use Alternative::*;

    type Strata = Vec<(Vec<f64>, Vec<f64>)>;

    #[test]
    fn smallest_p_is_the_most_extreme_arrangement() {
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-9;
        // Ten classes with one released and one withheld each: 2^-10.
        assert!(close(smallest_rank_sum_p(&[(1, 1); 10]), 1.0 / 1024.0));
        assert!(close(smallest_rank_sum_p(&[(10, 10)]), 1.0 / 184_756.0));
        // A one-sided stratum is constant and costs nothing.
        assert!(close(smallest_rank_sum_p(&[(3, 0), (2, 2)]), 1.0 / 6.0));
        assert_eq!(smallest_rank_sum_p(&[]), 1.0);
        // It is what the exact test gives for that arrangement.
        let strata: Strata = (0..4).map(|k| (vec![10.0 + k as f64, 11.0 + k as f64], vec![1.0, 2.0])).collect();
        let r = stratified_rank_sum_exact(&strata, Greater).unwrap();
        assert!(close(r.p_value, smallest_rank_sum_p(&[(2, 2); 4])), "{}", r.p_value);
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / a.abs().max(b.abs())
        }
    }

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.gen::<f64>().max(1e-300), rng.gen());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Doubled U of `x` by direct pair comparison.
    fn pair_v(x: &[f64], y: &[f64]) -> usize {
        x.iter()
            .flat_map(|a| {
                y.iter()
                    .map(move |b| if a > b { 2 } else { usize::from(a == b) })
            })
            .sum()
    }

    /// Splits `pooled` by the bits of `mask` (set bit: x).
    fn split(pooled: &[f64], mask: u32) -> (Vec<f64>, Vec<f64>) {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (i, &v) in pooled.iter().enumerate() {
            if mask >> i & 1 == 1 {
                x.push(v)
            } else {
                y.push(v)
            }
        }
        (x, y)
    }

    /// Masks of `len` bits with `m` set.
    fn masks(len: usize, m: usize) -> Vec<u32> {
        (0u32..1 << len)
            .filter(|k| k.count_ones() as usize == m)
            .collect()
    }

    /// Brute-force (P(V <= v), P(V >= v)) for every v, over all relabellings.
    fn brute_tails(pooled: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
        let all = masks(pooled.len(), m);
        let vmax = 2 * m * (pooled.len() - m);
        let mut counts = vec![0.0; vmax + 1];
        for &mask in &all {
            let (x, y) = split(pooled, mask);
            counts[pair_v(&x, &y)] += 1.0;
        }
        let total = all.len() as f64;
        let le = (0..=vmax)
            .map(|v| counts[..=v].iter().sum::<f64>() / total)
            .collect();
        let ge = (0..=vmax)
            .map(|v| counts[v..].iter().sum::<f64>() / total)
            .collect();
        (le, ge)
    }

    /// Checks rank_sum_exact for (every `stride`-th) relabelling of `pooled`.
    fn check_against_brute(pooled: &[f64], m: usize, stride: usize, ties: bool) {
        let (le, ge) = brute_tails(pooled, m);
        for &mask in masks(pooled.len(), m).iter().step_by(stride) {
            let (x, y) = split(pooled, mask);
            let v = pair_v(&x, &y);
            let want = [le[v], ge[v], (2.0 * le[v].min(ge[v])).min(1.0)];
            for (alt, want) in [Less, Greater, TwoSided].into_iter().zip(want) {
                let r = rank_sum_exact(&x, &y, alt).unwrap();
                assert!(
                    rel(r.p_value, want) < 1e-12,
                    "{pooled:?} {mask:b} {alt:?}: {} vs {want}",
                    r.p_value
                );
                assert_eq!(r.statistic, v as f64 / 2.0);
                let method = if ties {
                    PValueMethod::ExactConditional
                } else {
                    PValueMethod::ExactNoTies
                };
                assert_eq!(r.method, method);
            }
        }
    }

    #[test]
    fn no_ties_equals_brute_force_enumeration() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for m in 1..=7 {
            for n in 1..=7 {
                let pooled: Vec<f64> = (0..m + n).map(|_| normal(&mut rng)).collect();
                check_against_brute(&pooled, m, 1 + (m + n) / 6, false);
            }
        }
    }

    #[test]
    fn ties_equal_brute_force_enumeration() {
        let hand: [(&[f64], usize); 4] = [
            (&[1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], 4),
            (&[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0], 3),
            (&[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1.0], 2),
            (
                &[1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 5.0, 6.0, 7.0, 7.0],
                6,
            ),
        ];
        for (pooled, m) in hand {
            check_against_brute(pooled, m, 1, true);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for case in 0..25 {
            let len = rng.gen_range(3..=12);
            let m = rng.gen_range(1..len);
            let levels = 2 + case % 3;
            let pooled: Vec<f64> = (0..len)
                .map(|_| rng.gen_range(0..levels) as f64 / 10.0)
                .collect();
            let ties = len > levels;
            if ties {
                check_against_brute(&pooled, m, 1 + len / 5, true);
            }
        }
    }

    #[test]
    fn hand_tied_example_is_one_seventh() {
        let r = rank_sum_exact(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0], Less).unwrap();
        assert!(rel(r.p_value, 1.0 / 7.0) < 1e-15, "{}", r.p_value);
        assert_eq!((r.statistic, r.null_mean, r.n_x, r.n_y), (3.0, 8.0, 4, 4));
        assert_eq!(r.method, PValueMethod::ExactConditional);
    }

    #[test]
    fn tiny_tails_keep_relative_accuracy() {
        // 1/C(200,100), 19/C(200,100), 1/C(400,200) from exact integers.
        let (c200, c400) = (1.104_380_346_599_751_4e-59, 9.713_217_247_611_181e-120);
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = (100..200).map(f64::from).collect();
        let r = rank_sum_exact(&x, &y, Less).unwrap();
        assert!(rel(r.p_value, c200) < 1e-9, "{}", r.p_value);
        assert!(rel(rank_sum_exact(&y, &x, Greater).unwrap().p_value, c200) < 1e-9);
        assert!(
            rel(
                rank_sum_exact(&x, &y, TwoSided).unwrap().p_value,
                2.0 * c200
            ) < 1e-9
        );
        assert_eq!(rank_sum_exact(&x, &y, Greater).unwrap().p_value, 1.0);
        // U = 5: #{U <= 5} = 1 + 1 + 2 + 3 + 5 + 7 partitions = 19.
        let mut x5 = x.clone();
        x5[99] = 104.5;
        let r = rank_sum_exact(&x5, &y, Less).unwrap();
        assert_eq!(r.statistic, 5.0);
        assert!(rel(r.p_value, 19.0 * c200) < 1e-9, "{}", r.p_value);
        // Same extremes with ties inside each sample (conditional algorithm).
        let xt: Vec<f64> = (0..100).map(|i| f64::from(i / 4)).collect();
        let yt: Vec<f64> = (0..100).map(|i| 100.0 + f64::from(i / 3)).collect();
        let r = rank_sum_exact(&xt, &yt, Less).unwrap();
        assert_eq!(r.method, PValueMethod::ExactConditional);
        assert!(rel(r.p_value, c200) < 1e-9, "{}", r.p_value);
        // p ~ 1e-119 at m = n = 200.
        let x: Vec<f64> = (0..200).map(f64::from).collect();
        let y: Vec<f64> = (200..400).map(f64::from).collect();
        assert!(rel(rank_sum_exact(&x, &y, Less).unwrap().p_value, c400) < 1e-9);
    }

    /// Strata for the stratified brute-force check, with per-stratum m.
    fn brute_strata() -> Vec<(Vec<f64>, usize)> {
        vec![
            (vec![1.0, 2.0, 2.0, 3.0, 5.0], 2),
            (vec![0.5, 0.5, 0.7, 0.9], 2),
            (vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0], 3),
        ]
    }

    #[test]
    fn stratified_equals_brute_force_enumeration() {
        for tied in [true, false] {
            let mut pools = brute_strata();
            if !tied {
                for (s, (p, _)) in pools.iter_mut().enumerate() {
                    p.iter_mut()
                        .enumerate()
                        .for_each(|(i, v)| *v += 1e-3 * (i + 7 * s) as f64);
                }
            }
            let sets: Vec<Vec<u32>> = pools.iter().map(|(p, m)| masks(p.len(), *m)).collect();
            let mut combos: Vec<(Strata, usize)> = Vec::new();
            for &a in &sets[0] {
                for &b in &sets[1] {
                    for &c in &sets[2] {
                        let strata: Vec<_> = pools
                            .iter()
                            .zip([a, b, c])
                            .map(|((p, _), k)| split(p, k))
                            .collect();
                        let v = strata.iter().map(|(x, y)| pair_v(x, y)).sum();
                        combos.push((strata, v));
                    }
                }
            }
            let total = combos.len() as f64;
            for (strata, v) in combos.iter().step_by(7) {
                let le = combos.iter().filter(|c| c.1 <= *v).count() as f64 / total;
                let ge = combos.iter().filter(|c| c.1 >= *v).count() as f64 / total;
                let want = [le, ge, (2.0 * le.min(ge)).min(1.0)];
                for (alt, want) in [Less, Greater, TwoSided].into_iter().zip(want) {
                    let r = stratified_rank_sum_exact(strata, alt).unwrap();
                    assert!(
                        rel(r.p_value, want) < 1e-12,
                        "{alt:?} tied={tied}: {} vs {want}",
                        r.p_value
                    );
                    assert_eq!(
                        (r.statistic, r.strata, r.n_x, r.n_y),
                        (*v as f64 / 2.0, 3, 7, 8)
                    );
                    assert_eq!(r.method, PValueMethod::ExactStratified);
                }
            }
        }
    }

    #[test]
    fn uninformative_strata_change_nothing() {
        let base = vec![
            (vec![1.0, 4.0, 4.0], vec![2.0, 3.0, 4.0, 6.0]),
            (vec![0.1], vec![0.2, 0.3]),
        ];
        let mut padded = base.clone();
        padded.push((vec![9.0, 8.0], vec![]));
        padded.push((vec![], vec![]));
        padded.push((vec![], vec![5.0]));
        for alt in [Less, Greater, TwoSided] {
            let a = stratified_rank_sum_exact(&base, alt).unwrap();
            let b = stratified_rank_sum_exact(&padded, alt).unwrap();
            assert_eq!(
                (a.p_value, a.statistic, a.strata),
                (b.p_value, b.statistic, b.strata)
            );
            assert_eq!((b.n_x, b.n_y), (a.n_x + 2, a.n_y + 1));
        }
        let only_x = vec![(vec![1.0], vec![]), (vec![], vec![2.0])];
        assert!(matches!(
            stratified_rank_sum_exact(&only_x, Less),
            Err(Error::Degenerate(_))
        ));
        assert!(matches!(
            stratified_rank_sum_exact(&[], Less),
            Err(Error::TooFew { .. })
        ));
        let nan = vec![(vec![1.0, f64::NAN], vec![2.0])];
        assert!(matches!(
            stratified_rank_sum_exact(&nan, Less),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn one_stratum_equals_unstratified() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for tied in [false, true] {
            for _ in 0..4 {
                let draw = |rng: &mut ChaCha8Rng, k: usize, shift: f64| -> Vec<f64> {
                    let v = (0..k).map(|_| normal(rng) + shift);
                    if tied {
                        v.map(|v| (v * 2.0).round()).collect()
                    } else {
                        v.collect()
                    }
                };
                let x = draw(&mut rng, 25, 0.4);
                let y = draw(&mut rng, 22, 0.0);
                for alt in [Less, Greater, TwoSided] {
                    let a = rank_sum_exact(&x, &y, alt).unwrap();
                    let b = stratified_rank_sum_exact(&[(x.clone(), y.clone())], alt).unwrap();
                    assert!(
                        rel(a.p_value, b.p_value) < 1e-12,
                        "{} vs {}",
                        a.p_value,
                        b.p_value
                    );
                    assert_eq!((a.statistic, a.null_mean), (b.statistic, b.null_mean));
                }
            }
        }
    }

    /// Data for the null simulations: 3 strata of 10 vs 10, all values iid
    /// (rounded to 1 decimal when `tied`).
    fn null_strata(rng: &mut ChaCha8Rng, tied: bool) -> Vec<(Vec<f64>, Vec<f64>)> {
        let mut draw = || {
            let v: f64 = rng.gen();
            if tied {
                (v * 10.0).round() / 10.0
            } else {
                v
            }
        };
        (0..3)
            .map(|_| {
                let x = (0..10).map(|_| draw()).collect();
                let y = (0..10).map(|_| draw()).collect();
                (x, y)
            })
            .collect()
    }

    /// Adds level `s` to stratum `s` (exchangeable within strata only).
    fn with_levels(strata: &[(Vec<f64>, Vec<f64>)]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let lift = |v: &Vec<f64>, s: usize| v.iter().map(|u| u + s as f64).collect();
        strata
            .iter()
            .enumerate()
            .map(|(s, (x, y))| (lift(x, s), lift(y, s)))
            .collect()
    }

    #[test]
    fn null_p_values_are_super_uniform() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let reps = 2000;
        for tied in [false, true] {
            let (mut strat, mut plain, mut randomised) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..reps {
                let base = null_strata(&mut rng, tied);
                let strata = with_levels(&base);
                let ge = stratified_rank_sum_exact(&strata, Greater).unwrap().p_value;
                let le = stratified_rank_sum_exact(&strata, Less).unwrap().p_value;
                // Randomised p = P(V > v) + u P(V = v): exactly U(0,1) under H0.
                let above = 1.0 - le;
                randomised.push(above + rng.gen::<f64>() * (ge - above));
                strat.push(ge);
                // Pooled test on the level-free data (with the levels it is
                // valid but very conservative).
                let x: Vec<f64> = base.iter().flat_map(|s| s.0.clone()).collect();
                let y: Vec<f64> = base.iter().flat_map(|s| s.1.clone()).collect();
                plain.push(rank_sum_exact(&x, &y, Greater).unwrap().p_value);
            }
            for (name, ps) in [("stratified", &strat), ("pooled", &plain)] {
                for a in [0.01, 0.05, 0.1, 0.5] {
                    let frac = ps.iter().filter(|&&p| p <= a).count() as f64 / reps as f64;
                    let sd = (a * (1.0 - a) / reps as f64).sqrt();
                    assert!(frac <= a + 3.0 * sd, "{name} tied={tied} a={a}: {frac}");
                    assert!(
                        frac >= a - 6.0 * sd - 0.02 * a,
                        "{name} too conservative: tied={tied} a={a}: {frac}"
                    );
                }
            }
            let (_, ks_p) = ks_uniform(&randomised).unwrap();
            assert!(
                ks_p > 0.001,
                "tied={tied}: randomised p-values not uniform, KS p = {ks_p}"
            );
        }
    }

    #[test]
    fn power_increases_with_shift() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut rates = Vec::new();
        for shift in [0.0, 0.3, 0.6, 1.0] {
            let mut hits = 0;
            for _ in 0..300 {
                let strata: Vec<_> = (0..3)
                    .map(|s| {
                        let x = (0..10)
                            .map(|_| normal(&mut rng) + shift + s as f64)
                            .collect();
                        let y = (0..10).map(|_| normal(&mut rng) + s as f64).collect();
                        (x, y)
                    })
                    .collect();
                hits += usize::from(
                    stratified_rank_sum_exact(&strata, Greater).unwrap().p_value < 0.05,
                );
            }
            rates.push(hits as f64 / 300.0);
        }
        assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
        assert!(rates[0] < 0.08 && rates[3] > 0.9, "{rates:?}");
    }

    #[test]
    fn monte_carlo_agrees_with_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let strata: Vec<_> = (0..3)
            .map(|_| {
                let x: Vec<f64> = (0..10)
                    .map(|_| (normal(&mut rng) * 3.0 + 0.8).round())
                    .collect();
                let y: Vec<f64> = (0..10).map(|_| (normal(&mut rng) * 3.0).round()).collect();
                (x, y)
            })
            .collect();
        for alt in [Greater, TwoSided] {
            let exact = stratified_rank_sum_exact(&strata, alt).unwrap();
            let mc =
                monte_carlo_permutation(&strata, PermutationStatistic::RankSum, alt, 20_000, 9)
                    .unwrap();
            let se = mc.mc_std_error.unwrap();
            assert!(
                (mc.p_value - exact.p_value).abs() < 4.0 * se + 1e-4,
                "{mc} vs {exact}"
            );
            assert_eq!(
                (mc.statistic, mc.null_mean),
                (exact.statistic, exact.null_mean)
            );
            assert_eq!(
                mc.method,
                PValueMethod::MonteCarlo {
                    permutations: 20_000
                }
            );
            let again =
                monte_carlo_permutation(&strata, PermutationStatistic::RankSum, alt, 20_000, 9)
                    .unwrap();
            assert_eq!(mc, again);
        }
        // Mean difference, one stratum: against full enumeration (C(12,6) = 924).
        let (x, y) = (
            vec![1.2, 0.4, 2.1, 1.5, 0.9, 1.8],
            vec![0.8, 0.2, 1.4, 0.6, 1.0, 0.1],
        );
        let exact = permutation_test(&x, &y, Greater, 0, 0).unwrap();
        let strata = [(x.clone(), y.clone())];
        let mc = monte_carlo_permutation(
            &strata,
            PermutationStatistic::MeanDifference,
            Greater,
            20_000,
            1,
        )
        .unwrap();
        assert!((mc.p_value - exact.p_value).abs() < 4.0 * mc.mc_std_error.unwrap() + 1e-4);
        assert!(rel(mc.statistic, exact.statistic) < 1e-12 && mc.null_mean.abs() < 1e-12);
    }

    #[test]
    fn monte_carlo_is_valid_and_stratified() {
        // p = (1 + b)/(1 + B) is never below 1/(1 + B) and is super-uniform.
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut small = 0;
        for rep in 0..400 {
            let strata = with_levels(&null_strata(&mut rng, false));
            let r = monte_carlo_permutation(
                &strata,
                PermutationStatistic::MeanDifference,
                Greater,
                99,
                rep,
            )
            .unwrap();
            assert!(r.p_value >= 0.01 && r.p_value <= 1.0);
            small += usize::from(r.p_value <= 0.1);
        }
        assert!(
            small as f64 <= 400.0 * 0.1 + 3.0 * (400.0f64 * 0.09).sqrt(),
            "{small}"
        );
        // Strata with very different levels: stratified null mean is exact.
        let strata = vec![
            (vec![100.0, 101.0], vec![102.0]),
            (vec![0.0], vec![1.0, 2.0, 3.0]),
        ];
        let r = monte_carlo_permutation(&strata, PermutationStatistic::MeanDifference, Less, 50, 0)
            .unwrap();
        // E[sum x] = 2 * 101 + 1 * 1.5 = 203.5, total 309 -> 203.5/3 - 105.5/4.
        assert!(
            (r.null_mean - (203.5 / 3.0 - 105.5 / 4.0)).abs() < 1e-12,
            "{}",
            r.null_mean
        );
        assert!(
            monte_carlo_permutation(&strata, PermutationStatistic::RankSum, Less, 0, 0).is_err()
        );
    }

    #[test]
    fn large_inputs_fall_back_to_monte_carlo() {
        let x: Vec<f64> = (0..2000).map(|i| f64::from(i % 50)).collect();
        let y: Vec<f64> = (0..2000).map(|i| f64::from(i % 40)).collect();
        assert!(matches!(
            rank_sum_exact(&x, &y, Greater),
            Err(Error::InvalidArgument(_))
        ));
        let r = rank_sum_test(&x, &y, Greater, 99, 3).unwrap();
        assert_eq!(r.method, PValueMethod::MonteCarlo { permutations: 99 });
        assert!(r.mc_std_error.unwrap() > 0.0 && r.method_description().contains("± "));
        let strata = [(x, y)];
        assert!(stratified_rank_sum_exact(&strata, Greater).is_err());
        let s = stratified_rank_sum_test(&strata, Greater, 99, 3).unwrap();
        assert_eq!(s.p_value, r.p_value);
    }

    #[test]
    fn method_display_and_serde() {
        assert_eq!(
            PValueMethod::ExactNoTies.to_string(),
            "exact (enumerated, no ties)"
        );
        assert_eq!(
            PValueMethod::ExactConditional.to_string(),
            "exact conditional on ties"
        );
        assert!(PValueMethod::ExactStratified
            .to_string()
            .starts_with("exact stratified"));
        let mc = PValueMethod::MonteCarlo { permutations: 999 };
        assert_eq!(
            mc.to_string(),
            "Monte-Carlo within-stratum permutation, B = 999"
        );
        assert!(!mc.is_exact() && PValueMethod::ExactNoTies.is_exact());
        assert_eq!(
            serde_json::to_string(&PValueMethod::ExactNoTies).unwrap(),
            "\"exact-no-ties\""
        );
        let json = serde_json::to_string(&mc).unwrap();
        assert_eq!(json, r#"{"monte-carlo":{"permutations":999}}"#);
        assert_eq!(serde_json::from_str::<PValueMethod>(&json).unwrap(), mc);
        let r = rank_sum_exact(&[3.0, 4.0], &[1.0, 2.0], Greater).unwrap();
        assert_eq!(r.to_string(), "p = 1.667e-1 (exact (enumerated, no ties))");
        let back: PermutationTestResult =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    /// Timing of the largest exact computations (best of 5); run with
    /// `cargo test --release -p honeyimage-stats -- --ignored --nocapture exact_timing`.
    #[test]
    #[ignore]
    fn exact_timing() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let mut sample = |k: usize, shift: f64, digits: f64| -> Vec<f64> {
            (0..k)
                .map(|_| ((normal(&mut rng) + shift) * digits).round() / digits)
                .collect()
        };
        let best = |f: &dyn Fn() -> PermutationTestResult| {
            let mut times = Vec::new();
            let mut r = None;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                r = Some(f());
                times.push(t.elapsed());
            }
            (times.into_iter().min().unwrap(), r.unwrap())
        };
        for (label, digits) in [
            ("no ties", 1e12),
            ("2 decimals", 100.0),
            ("1 decimal", 10.0),
            ("integers", 1.0),
        ] {
            for shift in [0.0, 0.2] {
                let x = sample(200, shift, digits);
                let y = sample(200, 0.0, digits);
                for alt in [Greater, Less, TwoSided] {
                    let (t, r) = best(&|| rank_sum_exact(&x, &y, alt).unwrap());
                    println!("200 vs 200, {label}, {alt:?}: {t:?}  {r}");
                }
            }
        }
        for (label, digits) in [("no ties", 1e12), ("1 decimal", 10.0)] {
            let strata: Vec<_> = (0..10)
                .map(|_| (sample(20, 0.3, digits), sample(20, 0.0, digits)))
                .collect();
            for alt in [Greater, Less, TwoSided] {
                let (t, r) = best(&|| stratified_rank_sum_exact(&strata, alt).unwrap());
                println!("10 strata of 20 vs 20, {label}, {alt:?}: {t:?}  {r}");
            }
        }
    }
}
