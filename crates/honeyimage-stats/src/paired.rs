//! Paired comparisons of two verification methods judged on the same
//! suspects (same candidates, same training seeds): the difference of their
//! true-positive rates with Newcombe's interval for paired proportions, and
//! the mean paired difference of a score with its t interval. Two separate
//! rates with two separate intervals hide the pairing, which is where most
//! of the precision of such a comparison comes from.
use crate::special::normal_cdf;
use crate::tests::{mean, mean_t_interval};
use crate::{Error, Result};

/// A paired difference (first minus second) with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDifference {
    /// Point estimate.
    pub difference: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Number of pairs.
    pub pairs: usize,
}

/// Two-sided standard-normal quantile `z` with `P(|Z| <= z) = level`
/// (bisection on the CDF; |error| < 1e-12).
fn normal_two_sided(level: f64) -> f64 {
    let target = 0.5 + level / 2.0;
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("confidence level {level} is not in (0, 1)")))
    }
}

/// Wilson score interval at `level` for `k` successes in `n` trials.
/// Errors: `n = 0`, `k > n`, `level` outside `(0, 1)`.
pub fn wilson_ci(k: u64, n: u64, level: f64) -> Result<(f64, f64)> {
    if n == 0 {
        return Err(Error::TooFew { what: "binomial trials", need: 1, got: 0 });
    }
    if k > n {
        return Err(Error::InvalidArgument(format!("{k} successes in {n} trials")));
    }
    check_level(level)?;
    let z = normal_two_sided(level);
    let (kf, nf) = (k as f64, n as f64);
    let p = kf / nf;
    let d = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / d;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / d;
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Difference of two paired proportions, `P(first) - P(second)`, with
/// Newcombe's score interval (Newcombe 1998, Stat. Med. 17:2635, method 10:
/// the two Wilson intervals combined with the pairs' phi correlation).
///
/// The four counts are the pairs where both methods succeed, only the
/// first, only the second, and neither. Errors: no pairs, `level` outside
/// `(0, 1)`.
pub fn paired_proportion_difference(both: u64, first_only: u64, second_only: u64, neither: u64, level: f64) -> Result<PairedDifference> {
    let (a, b, c, d) = (both as f64, first_only as f64, second_only as f64, neither as f64);
    let n = both + first_only + second_only + neither;
    let (l1, u1) = wilson_ci(both + first_only, n, level)?;
    let (l2, u2) = wilson_ci(both + second_only, n, level)?;
    let nf = n as f64;
    let (p1, p2) = ((a + b) / nf, (a + c) / nf);
    let den = (a + b) * (c + d) * (a + c) * (b + d);
    let phi = if den == 0.0 { 0.0 } else { (a * d - b * c) / den.sqrt() };
    let dl = ((p1 - l1).powi(2) - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2).powi(2)).max(0.0).sqrt();
    let du = ((u1 - p1).powi(2) - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2).powi(2)).max(0.0).sqrt();
    let difference = p1 - p2;
    Ok(PairedDifference { difference, lower: (difference - dl).max(-1.0), upper: (difference + du).min(1.0), pairs: n as usize })
}

/// Difference of the rates at which two methods flag the same suspects:
/// `first[i]` and `second[i]` are the verdicts on pair `i`.
pub fn paired_rate_difference(first: &[bool], second: &[bool], level: f64) -> Result<PairedDifference> {
    if first.len() != second.len() {
        return Err(Error::LengthMismatch { left: first.len(), right: second.len() });
    }
    let count = |f: fn(bool, bool) -> bool| first.iter().zip(second).filter(|(&x, &y)| f(x, y)).count() as u64;
    paired_proportion_difference(count(|x, y| x && y), count(|x, y| x && !y), count(|x, y| !x && y), count(|x, y| !x && !y), level)
}

/// Mean of the paired differences `first[i] - second[i]` with its t
/// interval at `level` (needs two pairs or more; an interval of width zero
/// when every difference is the same).
pub fn paired_mean_difference(first: &[f64], second: &[f64], level: f64) -> Result<PairedDifference> {
    if first.len() != second.len() {
        return Err(Error::LengthMismatch { left: first.len(), right: second.len() });
    }
    let diffs: Vec<f64> = first.iter().zip(second).map(|(x, y)| x - y).collect();
    let (lower, upper) = mean_t_interval(&diffs, level)?;
    Ok(PairedDifference { difference: mean(&diffs), lower, upper, pairs: diffs.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn normal_quantile_is_the_textbook_one() {
        assert!((normal_two_sided(0.95) - 1.959964).abs() < 1e-6);
        assert!((normal_two_sided(0.99) - 2.575829).abs() < 1e-6);
    }

    #[test]
    fn wilson_matches_its_closed_form() {
        // 0 of 10 at 95%: (0, z^2 / (n + z^2)) = (0, 0.27753).
        let (lo, hi) = wilson_ci(0, 10, 0.95).unwrap();
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.277533), "{hi}");
        // 5 of 10: symmetric about 1/2, (0.236593, 0.763407).
        let (lo, hi) = wilson_ci(5, 10, 0.95).unwrap();
        assert!(close(lo, 0.236593) && close(hi, 0.763407), "{lo} {hi}");
        assert!(wilson_ci(3, 2, 0.95).is_err() && wilson_ci(0, 0, 0.95).is_err() && wilson_ci(1, 2, 1.0).is_err());
    }

    #[test]
    fn newcombe_paired_interval_matches_an_independent_implementation() {
        // Values from scripts/paired_compare.py (Python, z = 1.96) for the
        // same tables; the Rust z is 1.959964, hence the tolerance.
        let r = paired_proportion_difference(12, 9, 2, 21, 0.95).unwrap();
        assert!((r.difference - 0.159091).abs() < 1e-6);
        assert!((r.lower - 0.018208).abs() < 1e-4 && (r.upper - 0.289159).abs() < 1e-4, "{r:?}");
        let r = paired_proportion_difference(1, 1, 0, 2, 0.95).unwrap();
        assert!((r.difference - 0.25).abs() < 1e-12);
        assert!((r.lower + 0.127906).abs() < 1e-4 && (r.upper - 0.535754).abs() < 1e-4, "{r:?}");
    }

    #[test]
    fn newcombe_interval_contains_the_estimate_and_mirrors() {
        for (a, b, c, d) in [(0, 0, 0, 5), (5, 0, 0, 0), (0, 5, 0, 0), (2, 3, 1, 4), (0, 0, 3, 0)] {
            let r = paired_proportion_difference(a, b, c, d, 0.95).unwrap();
            assert!(r.lower <= r.difference && r.difference <= r.upper && r.lower >= -1.0 && r.upper <= 1.0, "{r:?}");
            let m = paired_proportion_difference(a, c, b, d, 0.95).unwrap();
            assert!(close(m.difference, -r.difference) && close(m.lower, -r.upper) && close(m.upper, -r.lower), "{r:?} {m:?}");
        }
        // Identical verdicts: the interval straddles 0.
        let r = paired_proportion_difference(3, 0, 0, 3, 0.95).unwrap();
        assert!(r.difference == 0.0 && r.lower < 0.0 && r.upper > 0.0);
        assert!(paired_proportion_difference(0, 0, 0, 0, 0.95).is_err());
    }

    #[test]
    fn verdict_lists_count_into_the_table() {
        let f = [true, true, false, true];
        let s = [true, false, false, false];
        let r = paired_rate_difference(&f, &s, 0.95).unwrap();
        assert_eq!(r, paired_proportion_difference(1, 2, 0, 1, 0.95).unwrap());
        assert!(paired_rate_difference(&f, &s[..3], 0.95).is_err());
    }

    #[test]
    fn mean_difference_is_paired() {
        let r = paired_mean_difference(&[3.0, 5.0, 7.0], &[1.0, 2.0, 3.0], 0.95).unwrap();
        // Differences 2, 3, 4: mean 3, sd 1, t(0.975, 2) = 4.302653.
        assert!(close(r.difference, 3.0) && close(r.lower, 3.0 - 4.302653 / 3f64.sqrt()) && r.pairs == 3, "{r:?}");
        assert!(paired_mean_difference(&[1.0], &[0.0], 0.95).is_err());
    }
}
