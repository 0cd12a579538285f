//! Goodness-of-fit and binomial helpers for the evaluation protocol: is a
//! batch of null p-values uniform (one-sample Kolmogorov-Smirnov test against
//! U(0, 1)), and how precisely is an observed rate (false-positive rate,
//! detection rate) known (exact binomial tail and Clopper-Pearson interval).

use crate::special::{beta_inc, beta_inc_inv, ln_gamma};
use crate::{check, Error, Result};

/// One-sample Kolmogorov-Smirnov test of `p_values` against U(0, 1):
/// returns `(D, p)` with `D = sup |F_n(t) - t|` and `p = P(D_n >= D)` under
/// H0 (two-sided).
///
/// The p-value is exact for continuous data:
/// - if `n D² < 3.76` (p above roughly 1e-3), `1 - K_n(D)` with `K_n` the
///   exact CDF of `D_n` by the Marsaglia-Tsang-Wang (2003) matrix-power
///   method (about 13 significant digits);
/// - otherwise `2 P(D_n⁺ >= D)` with the one-sided tail by the exact
///   Birnbaum-Tingey sum. This equals the two-sided tail for `D >= 1/2` and
///   otherwise exceeds it by `P(D⁺ >= D, D⁻ >= D)`, a relative `< 1e-10`
///   here (checked against SciPy's `kstwo`), so tiny p-values keep their
///   relative accuracy;
/// - only when the Marsaglia-Tsang-Wang matrix would exceed 400 rows (n above
///   about 10 000 with a moderate `D`) the asymptotic Kolmogorov
///   distribution with Stephens' correction `D (sqrt n + 0.12 + 0.11 / sqrt n)`
///   is used (absolute error about 1e-3 there, less in the tail).
///
/// Errors: empty input, non-finite values or values outside `[0, 1]`.
pub fn ks_uniform(p_values: &[f64]) -> Result<(f64, f64)> {
    check(p_values, "p_values", 1)?;
    if let Some(i) = p_values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(Error::InvalidArgument(format!(
            "p_values[{i}] = {} is outside [0, 1]",
            p_values[i]
        )));
    }
    let mut u = p_values.to_vec();
    u.sort_by(f64::total_cmp);
    let n = u.len() as f64;
    let d = u.iter().enumerate().fold(0.0f64, |d, (i, &v)| {
        d.max((i + 1) as f64 / n - v).max(v - i as f64 / n)
    });
    Ok((d, kolmogorov_sf(u.len(), d)))
}

/// `P(D_n >= d)` for the two-sided one-sample statistic (see [`ks_uniform`]).
fn kolmogorov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    if d * nf <= 0.5 {
        return 1.0; // D_n >= 1/(2n) always.
    }
    if d >= 1.0 {
        return 0.0;
    }
    if nf * d * d >= 3.76 || d >= 0.5 {
        return (2.0 * smirnov_sf(n, d)).min(1.0);
    }
    if 2.0 * (nf * d).floor() + 1.0 > 400.0 {
        let lambda = d * (nf.sqrt() + 0.12 + 0.11 / nf.sqrt());
        return kolmogorov_asymptotic_sf(lambda);
    }
    (1.0 - mtw_cdf(n, d)).clamp(0.0, 1.0)
}

/// One-sided `P(D_n⁺ >= d)`, `0 < d < 1` (Birnbaum & Tingey 1951):
/// `d sum_{j=0}^{floor(n(1-d))} C(n,j) (1-d-j/n)^(n-j) (d+j/n)^(j-1)`;
/// all terms are positive, summed from their logarithms.
fn smirnov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let jmax = (nf * (1.0 - d)).floor() as usize;
    let ln_fact_n = ln_gamma(nf + 1.0);
    let mut sum = 0.0;
    for j in 0..=jmax.min(n) {
        let jf = j as f64;
        let a = 1.0 - d - jf / nf;
        if a <= 0.0 && j < n {
            continue; // the factor a^(n-j) is 0
        }
        let ln_c = ln_fact_n - ln_gamma(jf + 1.0) - ln_gamma(nf - jf + 1.0);
        let ln_a = if j < n { (nf - jf) * a.ln() } else { 0.0 };
        sum += (ln_c + ln_a + (jf - 1.0) * (d + jf / nf).ln()).exp();
    }
    d * sum
}

/// Asymptotic Kolmogorov tail `2 sum_{k>=1} (-1)^(k-1) exp(-2 k² λ²)`.
fn kolmogorov_asymptotic_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut s = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * lambda * lambda).exp();
        s += if k % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

/// Exact `P(D_n < d)` by Marsaglia, Tsang & Wang (2003), "Evaluating
/// Kolmogorov's distribution", J. Stat. Software 8(18): the (k,k) entry of
/// `H^n` times `n!/n^n`, with `k = floor(nd) + 1`, powers scaled by 1e140.
fn mtw_cdf(n: usize, d: f64) -> f64 {
    let nd = n as f64 * d;
    let k = nd.floor() as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nd;
    let mut hm = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=(i + 1).min(m - 1) {
            hm[i * m + j] = 1.0;
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..=i {
            let mut v = hm[i * m + j];
            for g in 1..=(i - j + 1) {
                v /= g as f64;
            }
            hm[i * m + j] = v;
        }
    }
    let (q, mut e) = mat_pow(&hm, m, n);
    let mut s = q[(k - 1) * m + k - 1];
    for i in 1..=n {
        s = s * i as f64 / n as f64;
        if s < 1e-140 {
            s *= 1e140;
            e -= 140;
        }
    }
    s * 10f64.powi(e)
}

/// `a * b` for `m x m` row-major matrices.
fn mat_mul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for l in 0..m {
            let ail = a[i * m + l];
            if ail == 0.0 {
                continue;
            }
            for (cij, blj) in c[i * m..(i + 1) * m].iter_mut().zip(&b[l * m..(l + 1) * m]) {
                *cij += ail * blj;
            }
        }
    }
    c
}

/// `a^p` as `(matrix, e)` meaning `matrix * 10^e`, rescaled by 1e-140 when the
/// central entry grows past 1e140 (as in the paper's `mPower`).
fn mat_pow(a: &[f64], m: usize, p: usize) -> (Vec<f64>, i32) {
    if p == 1 {
        return (a.to_vec(), 0);
    }
    let (v, ev) = mat_pow(a, m, p / 2);
    let b = mat_mul(&v, &v, m);
    let (mut out, mut e) = if p % 2 == 0 {
        (b, 2 * ev)
    } else {
        (mat_mul(a, &b, m), 2 * ev)
    };
    if out[(m / 2) * m + m / 2] > 1e140 {
        out.iter_mut().for_each(|x| *x *= 1e-140);
        e += 140;
    }
    (out, e)
}

/// Validates a binomial `(k, n)` pair.
fn check_counts(k: u64, n: u64) -> Result<()> {
    if k > n {
        return Err(Error::InvalidArgument(format!("k = {k} exceeds n = {n}")));
    }
    Ok(())
}

/// Binomial upper tail `P(X >= k)` for `X ~ Bin(n, p)`, via the regularised
/// incomplete beta function `I_p(k, n - k + 1)` (no `1 - x` cancellation, so
/// tiny tails keep their relative accuracy). `k = 0` gives 1 and `k > n`
/// gives 0. Errors: `p` outside `[0, 1]`.
pub fn binomial_tail(k: u64, n: u64, p: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::InvalidArgument(format!(
            "probability {p} is not in [0, 1]"
        )));
    }
    Ok(if k == 0 {
        1.0
    } else if k > n {
        0.0
    } else {
        beta_inc(k as f64, (n - k + 1) as f64, p)
    })
}

/// Clopper-Pearson exact two-sided confidence interval at `level` (e.g. 0.95)
/// for a binomial proportion with `k` successes in `n` trials: `lo` is the
/// `(1-level)/2` quantile of Beta(k, n-k+1) (0 when `k = 0`), `hi` the
/// `(1+level)/2` quantile of Beta(k+1, n-k) (1 when `k = n`). Its coverage
/// is at least `level` for every true proportion. Errors: `n = 0`, `k > n`,
/// `level` outside `(0, 1)`.
pub fn binomial_ci(k: u64, n: u64, level: f64) -> Result<(f64, f64)> {
    if n == 0 {
        return Err(Error::TooFew {
            what: "binomial trials",
            need: 1,
            got: 0,
        });
    }
    check_counts(k, n)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "confidence level {level} is not in (0, 1)"
        )));
    }
    let alpha = 1.0 - level;
    let (kf, nf) = (k as f64, n as f64);
    let lo = if k == 0 {
        0.0
    } else {
        beta_inc_inv(kf, nf - kf + 1.0, alpha / 2.0)
    };
    let hi = if k == n {
        1.0
    } else {
        beta_inc_inv(kf + 1.0, nf - kf, 1.0 - alpha / 2.0)
    };
    Ok((lo, hi))
}

#[cfg(test)]
mod unit {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn kolmogorov_tail_matches_scipy() {
        // scipy.stats.kstwo.sf(d, n), SciPy 1.17.1, except n = 500 and 2000:
        // there SciPy uses the Pelz-Good approximation (off by 2e-7 and 2e-8
        // relative), so the reference is the Marsaglia-Tsang-Wang formula
        // evaluated with 60-digit arithmetic (mpmath).
        let cases = [
            (1, 0.7, 0.6),
            (2, 0.3, 0.98),
            (5, 0.3, 0.664),
            (10, 0.3, 0.270_535_574_799_999_46),
            (20, 0.2, 0.352_720_173_623_415),
            (100, 0.1, 0.252_692_757_006_387_4),
            (500, 0.05, 0.158_662_639_220_619_95),
            (2000, 0.02, 0.395_313_372_003_091_9),
            (10, 0.6, 0.000_568_167_200_000_000_3),
            (100, 0.25, 5.408_871_776_434_847e-6),
            (1000, 0.2, 1.552_862_920_425_053_8e-35),
        ];
        for (n, d, want) in cases {
            let got = kolmogorov_sf(n, d);
            assert!(rel(got, want) < 1e-9, "n={n} d={d}: {got} vs {want}");
        }
        assert_eq!(kolmogorov_sf(10, 0.04), 1.0);
        assert_eq!(kolmogorov_sf(10, 1.0), 0.0);
        // Asymptotic branch (n = 50000, nd = 200): SciPy's kstwo gives 0.39943.
        let p = kolmogorov_sf(50_000, 0.004);
        assert!((p - 0.399_431_664_675_573_1).abs() < 2e-3, "{p}");
        assert!(kolmogorov_asymptotic_sf(0.1) == 1.0 && kolmogorov_asymptotic_sf(3.0) < 1e-7);
    }

    #[test]
    fn ks_uniform_matches_scipy_kstest() {
        // scipy.stats.kstest(x, 'uniform', method='exact').
        let x = [0.05, 0.12, 0.31, 0.33, 0.47, 0.61, 0.62, 0.88, 0.9, 0.97];
        let (d, p) = ks_uniform(&x).unwrap();
        assert!(
            (d - 0.18).abs() < 1e-12 && rel(p, 0.847_280_627_321_946) < 1e-9,
            "{d} {p}"
        );
        let x = [0.01, 0.02, 0.03, 0.2, 0.25, 0.3, 0.5];
        let (d, p) = ks_uniform(&x).unwrap();
        assert!((d - 0.557_142_857_142_857_2).abs() < 1e-12, "{d}");
        assert!(rel(p, 0.014_259_221_262_277_738) < 1e-9, "{p}");
        assert!(ks_uniform(&[]).is_err());
        assert!(ks_uniform(&[0.5, 1.5]).is_err());
        assert!(ks_uniform(&[f64::NAN]).is_err());
    }

    #[test]
    fn ks_uniform_null_and_alternative() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut small = 0;
        for _ in 0..200 {
            let u: Vec<f64> = (0..50).map(|_| rng.gen::<f64>()).collect();
            small += usize::from(ks_uniform(&u).unwrap().1 < 0.05);
        }
        assert!(small <= 22, "{small} of 200 below 0.05");
        let skewed: Vec<f64> = (0..200).map(|_| rng.gen::<f64>().powi(2)).collect();
        assert!(ks_uniform(&skewed).unwrap().1 < 1e-6);
    }

    #[test]
    fn binomial_tail_values() {
        // scipy.stats.binom.sf(k - 1, n, p).
        assert!(rel(binomial_tail(3, 10, 0.1).unwrap(), 0.070_190_826_4) < 1e-10);
        assert_eq!(binomial_tail(0, 5, 0.3).unwrap(), 1.0);
        assert!(
            rel(
                binomial_tail(60, 100, 0.4).unwrap(),
                4.246_638_705_729_486e-5
            ) < 1e-9
        );
        assert!(
            rel(
                binomial_tail(990, 1000, 0.5).unwrap(),
                2.483_338_791_489_635_2e-278
            ) < 1e-8
        );
        assert!(
            rel(
                binomial_tail(50, 100, 0.5).unwrap(),
                0.539_794_618_693_588_9
            ) < 1e-12
        );
        assert_eq!(binomial_tail(11, 10, 0.5).unwrap(), 0.0);
        assert!(binomial_tail(1, 10, 1.5).is_err());
        // Against the direct sum of probabilities.
        let direct: f64 = (4..=12u32)
            .map(|j| {
                let c = crate::rank_null::binom_f64(12, j as usize);
                c * 0.3f64.powi(j as i32) * 0.7f64.powi(12 - j as i32)
            })
            .sum();
        assert!(rel(binomial_tail(4, 12, 0.3).unwrap(), direct) < 1e-12);
    }

    #[test]
    fn clopper_pearson_values() {
        // scipy.stats.beta.ppf quantiles.
        let cases = [
            (0, 10, 0.0, 0.308_497_107_818_760_7),
            (5, 10, 0.187_086_028_447_398_55, 0.812_913_971_552_601_5),
            (10, 10, 0.691_502_892_181_239_2, 1.0),
            (
                1,
                100,
                0.000_253_146_032_977_420_64,
                0.054_459_385_392_080_645,
            ),
            (37, 200, 0.133_728_660_179_761_62, 0.245_863_462_448_678_38),
            (0, 1000, 0.0, 0.003_682_083_896_865_671),
        ];
        for (k, n, lo, hi) in cases {
            let (a, b) = binomial_ci(k, n, 0.95).unwrap();
            assert!(
                (a == lo || rel(a, lo) < 1e-10) && rel(b, hi) < 1e-10,
                "{k}/{n}: {a} {b}"
            );
        }
        let (a, b) = binomial_ci(3, 50, 0.99).unwrap();
        assert!(
            rel(a, 0.006_872_485_332_951_645) < 1e-10 && rel(b, 0.202_706_269_468_643_23) < 1e-10
        );
        // k = 0 closed form: hi = 1 - (alpha/2)^(1/n).
        let (_, b) = binomial_ci(0, 10, 0.95).unwrap();
        assert!(rel(b, 1.0 - 0.025f64.powf(0.1)) < 1e-12);
        assert!(binomial_ci(3, 2, 0.95).is_err());
        assert!(binomial_ci(0, 0, 0.95).is_err());
        assert!(binomial_ci(1, 2, 1.0).is_err());
    }
}
