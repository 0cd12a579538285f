//! Hypothesis tests used to decide whether a suspect model trained on the
//! released honey samples: its per-sample losses on the release (R) should be
//! lower than on the withheld controls (W). The primary test is a
//! permutation test on the difference of means (exact when feasible);
//! Mann-Whitney U (exact, via [`crate::exact`]), Fisher's exact test and
//! t-tests support ablations and the backdoor-watermark baseline. All
//! p-values are for the stated [`Alternative`] about the *first* argument.

use crate::special::{ln_gamma, student_t_cdf};
use crate::{check, Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Direction of the alternative hypothesis, stated for the first sample `x`
/// (or group 1) relative to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alternative {
    /// `x` tends to be larger than `y`.
    Greater,
    /// `x` tends to be smaller than `y`.
    Less,
    /// `x` and `y` differ in either direction.
    TwoSided,
}

/// Outcome of a hypothesis test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestResult {
    /// Test statistic (documented per test).
    pub statistic: f64,
    /// p-value in `[0, 1]`.
    pub p_value: f64,
    /// Human-readable name of the procedure actually used.
    pub method: String,
}

/// Largest number of arrangements [`permutation_test`] enumerates exactly.
pub const DEFAULT_MAX_EXACT: u64 = 200_000;

/// Arithmetic mean; `NaN` for an empty slice.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sum of squared deviations from the mean (two-pass).
fn sum_sq_dev(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum()
}

/// Sample standard deviation (divisor `n - 1`); `NaN` when `n < 2`.
pub fn std_dev(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    (sum_sq_dev(x) / (x.len() - 1) as f64).sqrt()
}

/// Median (mean of the two middle values for even `n`); `NaN` when empty.
pub fn median(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// `C(n, k)`, or `cap + 1` if it exceeds `cap`.
fn binom_capped(n: usize, k: usize, cap: u64) -> u64 {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // C(n, i+1) = C(n, i) (n - i) / (i + 1), exact; increasing for i < n/2.
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > cap as u128 {
            return cap.saturating_add(1);
        }
    }
    c as u64
}

/// [`permutation_test_with`] with `max_exact` = [`DEFAULT_MAX_EXACT`].
pub fn permutation_test(
    x: &[f64],
    y: &[f64],
    alt: Alternative,
    n_perm: usize,
    seed: u64,
) -> Result<TestResult> {
    permutation_test_with(x, y, alt, n_perm, seed, DEFAULT_MAX_EXACT)
}

/// Two-sample permutation test on the difference of means.
///
/// `statistic = mean(x) - mean(y)`. Under exchangeability every split of the
/// pooled data into groups of sizes `nx`, `ny` is equally likely; the p-value
/// is the probability of a permuted statistic at least as extreme as the
/// observed one (`>=` for `Greater`, `<=` for `Less`, `|.| >=` for
/// `TwoSided`). Comparisons allow a tolerance of `1e-9 * max|value|` so that
/// arrangements tying the observed statistic are not lost to rounding.
///
/// When `C(nx + ny, nx) <= max_exact` all splits are enumerated and the
/// p-value is exact (`n_perm` and `seed` are unused). Otherwise `n_perm`
/// random splits are drawn (ChaCha8 seeded with `seed`) and
/// `p = (1 + #extreme) / (1 + n_perm)`, which is a valid p-value.
pub fn permutation_test_with(
    x: &[f64],
    y: &[f64],
    alt: Alternative,
    n_perm: usize,
    seed: u64,
    max_exact: u64,
) -> Result<TestResult> {
    check(x, "x", 1)?;
    check(y, "y", 1)?;
    let (nx, ny) = (x.len(), y.len());
    let n = nx + ny;
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let total: f64 = pooled.iter().sum();
    let tol = 1e-9 * pooled.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = |s: f64| s / nx as f64 - (total - s) / ny as f64;
    let observed = mean(x) - mean(y);
    let extreme = |d: f64| match alt {
        Alternative::Greater => d >= observed - tol,
        Alternative::Less => d <= observed + tol,
        Alternative::TwoSided => d.abs() >= observed.abs() - tol,
    };
    let combos = binom_capped(n, nx, max_exact);
    if combos <= max_exact {
        let mut idx: Vec<usize> = (0..nx).collect();
        let mut hits = 0u64;
        loop {
            let s: f64 = idx.iter().map(|&i| pooled[i]).sum();
            hits += u64::from(extreme(diff(s)));
            // Advance to the next combination in lexicographic order.
            let Some(i) = (0..nx).rev().find(|&i| idx[i] < n - nx + i) else {
                break;
            };
            idx[i] += 1;
            for j in i + 1..nx {
                idx[j] = idx[j - 1] + 1;
            }
        }
        return Ok(TestResult {
            statistic: observed,
            p_value: hits as f64 / combos as f64,
            method: format!("exact permutation test, difference of means ({combos} splits)"),
        });
    }
    if n_perm == 0 {
        return Err(Error::InvalidArgument(
            "n_perm must be positive when exact enumeration is too large".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = pooled;
    let mut hits = 0usize;
    for _ in 0..n_perm {
        // Partial Fisher-Yates: buf[..nx] becomes a uniform random subset.
        for i in 0..nx {
            let j = rng.gen_range(i..n);
            buf.swap(i, j);
        }
        let s: f64 = buf[..nx].iter().sum();
        hits += usize::from(extreme(diff(s)));
    }
    Ok(TestResult {
        statistic: observed,
        p_value: (1 + hits) as f64 / (1 + n_perm) as f64,
        method: format!(
            "Monte Carlo permutation test, difference of means ({n_perm} permutations)"
        ),
    })
}

/// Random permutations [`mann_whitney_u`] draws (seed 0) in the rare case
/// that the exact distribution is beyond [`crate::exact::EXACT_MAX_WORK`].
pub const MANN_WHITNEY_MC_PERMUTATIONS: u64 = 99_999;

/// Mann-Whitney U test of `x` against `y`; `statistic` is `U` of `x`
/// (`#{x_i > y_j} + 0.5 #{x_i == y_j}`, via mid-ranks).
///
/// A thin wrapper over [`crate::exact::rank_sum_test`] kept for existing
/// callers (new code should use that, or [`crate::exact::rank_sum_exact`],
/// which also return how the p-value was obtained as a typed value). The
/// p-value is exact for any sizes the exact algorithms handle (e.g. 200 vs
/// 200, ties or not): enumerated without ties, exact conditional on the ties
/// otherwise. Beyond [`crate::exact::EXACT_MAX_WORK`] it is a Monte-Carlo
/// permutation p-value (`B` = [`MANN_WHITNEY_MC_PERMUTATIONS`], seed 0) with
/// its standard error in `method`. Never a normal approximation. Two-sided
/// p-values are `min(1, 2 * min(tails))`; if every value is tied `p = 1`.
pub fn mann_whitney_u(x: &[f64], y: &[f64], alt: Alternative) -> Result<TestResult> {
    let r = crate::exact::rank_sum_test(x, y, alt, MANN_WHITNEY_MC_PERMUTATIONS, 0)?;
    Ok(TestResult {
        statistic: r.statistic,
        p_value: r.p_value,
        method: format!("Mann-Whitney U, {}", r.method_description()),
    })
}

/// Fisher's exact test on the 2x2 table `[[a, b], [c, d]]` (rows: group 1
/// successes/failures, group 2 successes/failures).
///
/// `Greater`: group 1 has higher success odds, `p = P(A >= a)` under the
/// hypergeometric law with fixed margins; `Less`: `P(A <= a)`; `TwoSided`:
/// sum of the probabilities of tables no more likely than the observed one
/// (relative tolerance 1e-7, as SciPy). Probabilities use log-factorials, so
/// counts in the millions work. `statistic` is the sample odds ratio
/// `ad / bc` (`inf` when only `bc = 0`, `NaN` when `ad = bc = 0`).
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64, alt: Alternative) -> Result<TestResult> {
    let sum = [b, c, d].iter().try_fold(a, |s, &v| s.checked_add(v));
    let n = match sum {
        None => return Err(Error::InvalidArgument("table counts overflow u64".into())),
        Some(0) => {
            return Err(Error::TooFew {
                what: "2x2 table total",
                need: 1,
                got: 0,
            })
        }
        Some(n) => n,
    };
    let (r1, r2, c1) = (a + b, c + d, a + c);
    let ln_c = |n: u64, k: u64| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
    };
    let base = ln_c(n, c1);
    let pmf = |k: u64| (ln_c(r1, k) + ln_c(r2, c1 - k) - base).exp();
    let (lo, hi) = (c1.saturating_sub(r2), r1.min(c1));
    let p = match alt {
        Alternative::Greater => (a..=hi).map(pmf).sum::<f64>(),
        Alternative::Less => (lo..=a).map(pmf).sum::<f64>(),
        Alternative::TwoSided => {
            let cut = pmf(a) * (1.0 + 1e-7);
            (lo..=hi).map(pmf).filter(|&q| q <= cut).sum::<f64>()
        }
    };
    let (ad, bc) = (a as f64 * d as f64, b as f64 * c as f64);
    let odds = if bc == 0.0 {
        if ad == 0.0 {
            f64::NAN
        } else {
            f64::INFINITY
        }
    } else {
        ad / bc
    };
    Ok(TestResult {
        statistic: odds,
        p_value: p.clamp(0.0, 1.0),
        method: "Fisher exact test".into(),
    })
}

/// p-value of a Student-t statistic with `df` degrees of freedom.
fn t_p_value(t: f64, df: f64, alt: Alternative) -> f64 {
    match alt {
        Alternative::Greater => student_t_cdf(-t, df),
        Alternative::Less => student_t_cdf(t, df),
        Alternative::TwoSided => (2.0 * student_t_cdf(-t.abs(), df)).min(1.0),
    }
}

/// Paired t-test on `d_i = x_i - y_i` (H1 for `Greater`: mean difference
/// `> 0`); `statistic` is `t = mean(d) / (sd(d) / sqrt(n))`, `df = n - 1`.
/// Needs `n >= 2` pairs; zero spread of the differences is
/// [`Error::Degenerate`].
pub fn paired_t_test(x: &[f64], y: &[f64], alt: Alternative) -> Result<TestResult> {
    if x.len() != y.len() {
        return Err(Error::LengthMismatch {
            left: x.len(),
            right: y.len(),
        });
    }
    check(x, "x", 2)?;
    check(y, "y", 2)?;
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    check(&d, "x - y", 2)?;
    let sd = std_dev(&d);
    if sd == 0.0 {
        return Err(Error::Degenerate(
            "paired differences have zero variance".into(),
        ));
    }
    let n = d.len() as f64;
    let t = mean(&d) / (sd / n.sqrt());
    Ok(TestResult {
        statistic: t,
        p_value: t_p_value(t, n - 1.0, alt),
        method: "paired t-test".into(),
    })
}

/// Two-sided t confidence interval for the mean of `x` at `level` (e.g.
/// 0.95): `mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)`. Needs `n >= 2`.
pub fn mean_t_interval(x: &[f64], level: f64) -> Result<(f64, f64)> {
    check(x, "x", 2)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::Degenerate(format!(
            "confidence level {level} is not in (0, 1)"
        )));
    }
    let n = x.len() as f64;
    let q = student_t_quantile(0.5 + level / 2.0, n - 1.0);
    let half = q * std_dev(x) / n.sqrt();
    let m = mean(x);
    Ok((m - half, m + half))
}

/// Quantile of Student's t distribution (bisection on the CDF; |error| < 1e-10).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (-1e3, 1e3);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-10 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Welch's unequal-variance two-sample t-test; `statistic` is
/// `(mean(x) - mean(y)) / sqrt(vx/nx + vy/ny)` with Welch-Satterthwaite
/// degrees of freedom. Each sample needs `>= 2` values; two constant samples
/// are [`Error::Degenerate`].
pub fn welch_t_test(x: &[f64], y: &[f64], alt: Alternative) -> Result<TestResult> {
    check(x, "x", 2)?;
    check(y, "y", 2)?;
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let vx = std_dev(x).powi(2) / nx;
    let vy = std_dev(y).powi(2) / ny;
    let se2 = vx + vy;
    if se2 == 0.0 || !se2.is_finite() {
        return Err(Error::Degenerate("both samples have zero variance".into()));
    }
    let t = (mean(x) - mean(y)) / se2.sqrt();
    let df = se2 * se2 / (vx * vx / (nx - 1.0) + vy * vy / (ny - 1.0));
    Ok(TestResult {
        statistic: t,
        p_value: t_p_value(t, df, alt),
        method: "Welch t-test".into(),
    })
}

/// Cohen's d of `x` vs `y`: `(mean(x) - mean(y)) / s_pooled`, with
/// `s_pooled² = (SS_x + SS_y) / (nx + ny - 2)`. Needs `nx + ny >= 3`; zero
/// pooled spread is [`Error::Degenerate`].
pub fn cohens_d(x: &[f64], y: &[f64]) -> Result<f64> {
    check(x, "x", 1)?;
    check(y, "y", 1)?;
    let dof = x.len() + y.len() - 2;
    if dof == 0 {
        return Err(Error::TooFew {
            what: "x and y combined",
            need: 3,
            got: 2,
        });
    }
    let pooled = ((sum_sq_dev(x) + sum_sq_dev(y)) / dof as f64).sqrt();
    if pooled == 0.0 || !pooled.is_finite() {
        return Err(Error::Degenerate(
            "pooled standard deviation is zero".into(),
        ));
    }
    Ok((mean(x) - mean(y)) / pooled)
}

#[cfg(test)]
mod unit {
    use super::*;
    use Alternative::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn descriptive_statistics() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert!(close(
            std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            (32.0f64 / 7.0).sqrt(),
            1e-12
        ));
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(mean(&[]).is_nan() && std_dev(&[1.0]).is_nan() && median(&[]).is_nan());
    }

    #[test]
    fn t_quantiles_and_mean_interval_match_tables() {
        // R: qt(0.975, c(1, 5, 30)) = 12.706205, 2.570582, 2.042272
        assert!(close(student_t_quantile(0.975, 1.0), 12.706205, 1e-5));
        assert!(close(student_t_quantile(0.975, 5.0), 2.570582, 1e-5));
        assert!(close(student_t_quantile(0.025, 30.0), -2.042272, 1e-5));
        // mean 0.125 ± qt(0.975, 3) = 3.182446 times sd 0.3304038 / sqrt(4)
        let (lo, hi) = mean_t_interval(&[0.1, -0.3, 0.5, 0.2], 0.95).unwrap();
        assert!(
            close(lo, -0.4007461, 1e-6) && close(hi, 0.6507461, 1e-6),
            "{lo} {hi}"
        );
        assert!(mean_t_interval(&[1.0], 0.95).is_err());
    }

    #[test]
    fn permutation_exact_hand_case() {
        // Pool {1,2,3,4}, C(4,2) = 6 splits; x-group sums 3,4,5,5,6,7 give
        // mean differences -2,-1,0,0,1,2. Observed {3,4} vs {1,2}: diff 2.
        let r = permutation_test(&[3.0, 4.0], &[1.0, 2.0], Greater, 0, 0).unwrap();
        assert_eq!(r.statistic, 2.0);
        assert!(close(r.p_value, 1.0 / 6.0, 1e-15), "{}", r.p_value);
        assert!(r.method.starts_with("exact"));
        let less = permutation_test(&[3.0, 4.0], &[1.0, 2.0], Less, 0, 0).unwrap();
        assert_eq!(less.p_value, 1.0);
        let two = permutation_test(&[3.0, 4.0], &[1.0, 2.0], TwoSided, 0, 0).unwrap();
        assert!(close(two.p_value, 2.0 / 6.0, 1e-15));
    }

    #[test]
    fn permutation_monte_carlo_matches_exact() {
        let x = [1.2, 0.4, 2.1, 1.5, 0.9, 1.8, 0.3, 1.1];
        let y = [0.8, 0.2, 1.4, 0.6, 1.0, 0.1, 0.7, 1.3];
        for alt in [Greater, TwoSided] {
            let exact = permutation_test(&x, &y, alt, 0, 0).unwrap(); // C(16,8) = 12870
            assert!(exact.method.starts_with("exact"));
            assert!(
                exact.p_value > 0.01 && exact.p_value < 0.5,
                "{}",
                exact.p_value
            );
            let mc = permutation_test_with(&x, &y, alt, 50_000, 7, 0).unwrap();
            assert!(mc.method.starts_with("Monte Carlo"));
            assert!(
                close(mc.p_value, exact.p_value, 0.01),
                "{} vs {}",
                mc.p_value,
                exact.p_value
            );
            // Deterministic given the seed.
            assert_eq!(
                mc,
                permutation_test_with(&x, &y, alt, 50_000, 7, 0).unwrap()
            );
        }
    }

    #[test]
    fn permutation_null_p_values_roughly_uniform() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let reps = 500;
        let mut rejections = 0;
        for rep in 0..reps {
            let x: Vec<f64> = (0..15).map(|_| rng.gen::<f64>()).collect();
            let y: Vec<f64> = (0..15).map(|_| rng.gen::<f64>()).collect();
            // C(30,15) > 200_000, so this is the Monte Carlo path.
            let r = permutation_test(&x, &y, Greater, 499, rep).unwrap();
            rejections += usize::from(r.p_value < 0.05);
        }
        let frac = rejections as f64 / reps as f64;
        assert!((0.02..=0.09).contains(&frac), "rejection rate {frac}");
    }

    #[test]
    fn permutation_rejects_bad_input() {
        assert!(matches!(
            permutation_test(&[], &[1.0], Greater, 10, 0),
            Err(Error::TooFew { .. })
        ));
        assert!(matches!(
            permutation_test(&[1.0], &[f64::NAN], Greater, 10, 0),
            Err(Error::NonFinite {
                what: "y",
                index: 0
            })
        ));
        assert!(permutation_test_with(&[1.0, 2.0], &[3.0], Greater, 0, 0, 0).is_err());
    }

    #[test]
    fn mann_whitney_exact_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [6.0, 7.0, 8.0, 9.0, 10.0];
        // U = 0 is the single most extreme of C(10,5) = 252 arrangements.
        let r = mann_whitney_u(&x, &y, Less).unwrap();
        assert_eq!(r.statistic, 0.0);
        assert!(close(r.p_value, 1.0 / 252.0, 1e-15), "{}", r.p_value);
        assert!(close(
            mann_whitney_u(&y, &x, Greater).unwrap().p_value,
            1.0 / 252.0,
            1e-15
        ));
        assert!(close(
            mann_whitney_u(&x, &y, TwoSided).unwrap().p_value,
            2.0 / 252.0,
            1e-15
        ));
        assert_eq!(mann_whitney_u(&x, &y, Greater).unwrap().p_value, 1.0);
        // x = {1,3,5}, y = {2,4,6,8}: U = 0 + 1 + 2 = 3. Of C(7,3) = 35
        // arrangements, #U=0,1,2,3 = 1,1,2,3, so P(U<=3) = 7/35, P(U>=3) = 31/35.
        let (x, y) = ([1.0, 3.0, 5.0], [2.0, 4.0, 6.0, 8.0]);
        let r = mann_whitney_u(&x, &y, Less).unwrap();
        assert_eq!(r.statistic, 3.0);
        assert!(close(r.p_value, 7.0 / 35.0, 1e-15));
        assert!(close(
            mann_whitney_u(&x, &y, Greater).unwrap().p_value,
            31.0 / 35.0,
            1e-15
        ));
        assert!(r.method.contains("exact"), "{}", r.method);
    }

    #[test]
    fn mann_whitney_ties_are_exact_conditional() {
        // Pooled 1,2,2,2,3,3,3,4: mid-ranks 1, 3, 6, 8; R_x = 1+3+3+6 = 13,
        // U = 13 - 10 = 3. This test used to pin the normal approximation
        // (0.0860); the exact conditional p-value given the ties is
        // P(U <= 3) = 10/70 = 1/7 over the C(8,4) = 70 relabellings.
        let r = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0], Less).unwrap();
        assert_eq!(r.statistic, 3.0);
        assert!(close(r.p_value, 1.0 / 7.0, 1e-15), "{}", r.p_value);
        assert!(r.method.contains("exact conditional"), "{}", r.method);
        let all_tied = mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0, 1.0], Greater).unwrap();
        assert_eq!((all_tied.statistic, all_tied.p_value), (3.0, 1.0));
        assert!(mann_whitney_u(&[1.0], &[], Greater).is_err());
        assert!(mann_whitney_u(&[f64::INFINITY], &[1.0], Greater).is_err());
    }

    #[test]
    fn fisher_exact_hand_values() {
        // Margins r1=10, r2=6, c1=9, n=16; P(A=k) = C(10,k) C(6,9-k) / C(16,9),
        // C(16,9) = 11440; numerators for k=3..9: 120,1260,3780,4200,1800,270,10.
        let g = fisher_exact(8, 2, 1, 5, Greater).unwrap();
        assert!(close(g.p_value, 280.0 / 11440.0, 1e-12), "{}", g.p_value);
        assert_eq!(g.statistic, 20.0);
        // Two-sided: tables with numerator <= 270 -> 270 + 10 + 120 = 400
        // (0.0349650..., SciPy's documented value).
        let t = fisher_exact(8, 2, 1, 5, TwoSided).unwrap();
        assert!(close(t.p_value, 400.0 / 11440.0, 1e-12), "{}", t.p_value);
        let l = fisher_exact(8, 2, 1, 5, Less).unwrap();
        assert!(close(l.p_value, 11430.0 / 11440.0, 1e-12));
    }

    #[test]
    fn fisher_exact_large_counts() {
        let (a, b, c, d) = (1500, 1400, 1420, 1500);
        let g = fisher_exact(a, b, c, d, Greater).unwrap().p_value;
        let l = fisher_exact(a, b, c, d, Less).unwrap().p_value;
        let t = fisher_exact(a, b, c, d, TwoSided).unwrap().p_value;
        assert!(
            g > 0.0 && g < 0.1 && l > 0.9 && t > g && t < 2.5 * g,
            "{g} {l} {t}"
        );
        // Swapping success/failure columns mirrors the alternative.
        let mirrored = fisher_exact(b, a, d, c, Less).unwrap().p_value;
        assert!(close(g, mirrored, 1e-12));
        // Greater and Less overlap exactly at the observed table: sum >= 1.
        assert!(g + l > 1.0 && g + l < 1.1);
        assert!(fisher_exact(0, 0, 0, 0, Greater).is_err());
        assert!(fisher_exact(u64::MAX, 1, 0, 0, Greater).is_err());
        assert!(fisher_exact(0, 3, 0, 4, TwoSided)
            .unwrap()
            .statistic
            .is_nan());
    }

    #[test]
    fn paired_t_hand_value() {
        // d = [1,2,4]: mean 7/3, var 7/3, t = sqrt(7); df 2 CDF
        // F(t) = 1/2 + t / (2 sqrt(2 + t²)) = 1/2 + sqrt(7)/6.
        let r = paired_t_test(&[2.0, 4.0, 7.0], &[1.0, 2.0, 3.0], Greater).unwrap();
        assert!(close(r.statistic, 7f64.sqrt(), 1e-12));
        assert!(
            close(r.p_value, 0.5 - 7f64.sqrt() / 6.0, 1e-12),
            "{}",
            r.p_value
        );
        let two = paired_t_test(&[2.0, 4.0, 7.0], &[1.0, 2.0, 3.0], TwoSided).unwrap();
        assert!(close(two.p_value, 2.0 * (0.5 - 7f64.sqrt() / 6.0), 1e-12));
        assert!(matches!(
            paired_t_test(&[1.0, 2.0], &[1.0], Greater),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            paired_t_test(&[2.0, 3.0], &[1.0, 2.0], Greater),
            Err(Error::Degenerate(_))
        ));
        assert!(paired_t_test(&[1.0], &[0.0], Greater).is_err());
        assert!(paired_t_test(&[1.0, f64::NAN], &[0.0, 0.0], Greater).is_err());
    }

    #[test]
    fn welch_t_hand_values() {
        // x = {1,2,3}, y = {3,4,5}: t = -2 / sqrt(2/3) = -sqrt(6), df = 4.
        // Student t df=4: F(t) = 1/2 + 3/8 · t/sqrt(1+t²/4) · (1 - t²/(12 (1+t²/4)))
        // = 0.03524199845511 at t = -sqrt(6).
        let r = welch_t_test(&[1.0, 2.0, 3.0], &[3.0, 4.0, 5.0], Less).unwrap();
        assert!(close(r.statistic, -6f64.sqrt(), 1e-12));
        assert!(
            close(r.p_value, 0.035_241_998_455_11, 1e-11),
            "{}",
            r.p_value
        );
        // Unequal variances: x = {1,2,3,4} (var 5/3), y = {2,4,6} (var 4):
        // se² = 5/12 + 4/3 = 1.75, t = -1.5/sqrt(1.75),
        // df = 1.75² / ((5/12)²/3 + (4/3)²/2) = 3.0625 / 0.946759259 = 3.2347188.
        let r = welch_t_test(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0], Less).unwrap();
        assert!(close(r.statistic, -1.5 / 1.75f64.sqrt(), 1e-12));
        let df = 3.0625 / ((5.0f64 / 12.0).powi(2) / 3.0 + (4.0f64 / 3.0).powi(2) / 2.0);
        assert!(close(r.p_value, student_t_cdf(r.statistic, df), 1e-15));
        assert!(r.p_value > 0.1 && r.p_value < 0.25);
        assert!(matches!(
            welch_t_test(&[1.0, 1.0], &[2.0, 2.0], Greater),
            Err(Error::Degenerate(_))
        ));
        assert!(welch_t_test(&[1.0], &[2.0, 3.0], Greater).is_err());
    }

    #[test]
    fn cohens_d_hand_value() {
        // SS_x = SS_y = 2, pooled sd = sqrt(4/4) = 1, d = (2 - 4)/1.
        assert_eq!(cohens_d(&[1.0, 2.0, 3.0], &[3.0, 4.0, 5.0]).unwrap(), -2.0);
        assert!(cohens_d(&[1.0], &[2.0]).is_err());
        assert!(cohens_d(&[1.0, 1.0], &[1.0]).is_err());
        assert!(cohens_d(&[], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn test_result_serializes() {
        let r = fisher_exact(8, 2, 1, 5, Greater).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"p_value\"") && json.contains("Fisher"));
    }
}
