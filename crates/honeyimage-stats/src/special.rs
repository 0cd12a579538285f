//! Special functions (log-gamma, incomplete beta/gamma, normal and Student-t
//! CDFs) implemented locally so the crate needs no numerics dependency.
//! Accuracy is close to `f64` precision, far beyond what p-values need.

/// Natural log of the gamma function for `x > 0` (Lanczos, g = 7, n = 9).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        let s = (std::f64::consts::PI * x).sin().abs();
        return std::f64::consts::PI.ln() - s.ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let a = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, &c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// Regularised incomplete beta function I_x(a, b) for a, b > 0, x in [0, 1].
pub(crate) fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Inverse of [`beta_inc`] in `x`: the `x` in `[0, 1]` with
/// `I_x(a, b) = p`, by bisection (`I_x` is increasing in `x`) to a relative
/// width of ~4e-16, so small quantiles keep their relative accuracy.
pub(crate) fn beta_inc_inv(a: f64, b: f64, p: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..2_000 {
        // Geometric steps while the bracket spans orders of magnitude.
        let mid = if lo > 0.0 && hi / lo > 4.0 {
            (lo * hi).sqrt()
        } else if lo == 0.0 && hi < 1e-3 {
            hi / 64.0
        } else {
            0.5 * (lo + hi)
        };
        if mid <= lo || mid >= hi {
            break;
        }
        if beta_inc(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 4e-16 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Regularised upper incomplete gamma Q(a, x) for a > 0, x >= 0.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        // Continued fraction for Q(a, x) (modified Lentz).
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// Complementary error function, accurate to ~1e-15 relative.
fn erfc(x: f64) -> f64 {
    if x >= 0.0 {
        gamma_q(0.5, x * x)
    } else {
        2.0 - gamma_q(0.5, x * x)
    }
}

/// Standard normal CDF Φ(z). Tails are computed directly (no `1 - x`
/// cancellation), so tiny p-values stay accurate.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Student-t CDF with `df > 0` degrees of freedom (±∞ `t` give 0 / 1).
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    // P(|T| > |t|) = I_{df/(df+t²)}(df/2, 1/2).
    let tail = 0.5 * beta_inc(df / 2.0, 0.5, df / (df + t * t));
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn ln_gamma_matches_factorials() {
        // ln(10!) = ln(3628800); Γ(0.5) = √π.
        assert!((ln_gamma(11.0) - 3_628_800f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - PI.sqrt().ln()).abs() < 1e-13);
        // Large argument: ln(1000!) = 5912.128178488163 (Python math.lgamma).
        assert!((ln_gamma(1001.0) - 5_912.128_178_488_163).abs() < 1e-8);
    }

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-13);
        assert!((normal_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-13);
        // Φ(-10) = 7.619853024160527e-24: relative accuracy in the tail.
        assert!((normal_cdf(-10.0) / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-10);
    }

    #[test]
    fn beta_inc_inv_round_trips() {
        for &(a, b) in &[
            (1.0, 1.0),
            (0.5, 3.0),
            (3.0, 48.0),
            (200.0, 800.0),
            (1.0, 1000.0),
        ] {
            for &p in &[1e-12, 0.025, 0.5, 0.975, 1.0 - 1e-9] {
                let x = beta_inc_inv(a, b, p);
                assert!(
                    (beta_inc(a, b, x) - p).abs() <= 1e-12 * p.max(1e-3),
                    "a={a} b={b} p={p}"
                );
            }
        }
        // I_x(1, 1) = x; I_x(1, b) = 1 - (1 - x)^b.
        assert!((beta_inc_inv(1.0, 1.0, 0.3) - 0.3).abs() < 1e-15);
        assert!((beta_inc_inv(1.0, 10.0, 0.5) - (1.0 - 0.5f64.powf(0.1))).abs() < 1e-15);
        assert_eq!(
            (beta_inc_inv(2.0, 3.0, 0.0), beta_inc_inv(2.0, 3.0, 1.0)),
            (0.0, 1.0)
        );
    }

    #[test]
    fn t_cdf_closed_forms() {
        for &t in &[-3.0, -0.7, 0.0, 0.4, 1.5, 6.0] {
            // df = 1 is Cauchy; df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t²)).
            let cauchy = 0.5 + f64::atan(t) / PI;
            assert!((student_t_cdf(t, 1.0) - cauchy).abs() < 1e-12, "df1 t={t}");
            let df2 = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!((student_t_cdf(t, 2.0) - df2).abs() < 1e-12, "df2 t={t}");
        }
        // Large df approaches the normal.
        assert!((student_t_cdf(1.0, 1e7) - normal_cdf(1.0)).abs() < 1e-7);
    }
}
