//! How numbers read in the report. Every formatter turns NaN, infinities and
//! missing values into [`DASH`], so that no section has to check for them.

/// Shown for every missing or non-finite number.
pub(super) const DASH: &str = "–";

/// `x` with `decimals` decimals.
pub(super) fn fnum(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        no_negative_zero(format!("{x:.decimals$}"))
    } else {
        DASH.to_string()
    }
}

/// `x` with an explicit sign (`+0.50`, `-0.33`); a value that rounds to
/// zero reads `+0.00`, never `-0.00`.
pub(super) fn signed(x: f64, decimals: usize) -> String {
    let s = format!("{x:+.decimals$}");
    match negative_zero(&s) {
        Some(zero) => format!("+{zero}"),
        None => s,
    }
}

/// `-0`, `-0.00` and the like (a tiny negative rounded) as `0`, `0.00`.
fn no_negative_zero(s: String) -> String {
    negative_zero(&s).map_or(s.clone(), str::to_string)
}

/// The digits of a formatted zero that carries a minus sign.
fn negative_zero(s: &str) -> Option<&str> {
    s.strip_prefix('-').filter(|rest| rest.chars().all(|c| c == '0' || c == '.'))
}

/// [`fnum`] of an optional value.
pub(super) fn fopt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| DASH.to_string(), |x| fnum(x, decimals))
}

/// A rate or accuracy in [0, 1] as a percentage.
pub(super) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        DASH.to_string()
    }
}

/// [`pct`] of an optional value.
pub(super) fn pct_opt(x: Option<f64>) -> String {
    x.map_or_else(|| DASH.to_string(), pct)
}

/// A rate that may be small, as a percentage with the precision it needs:
/// `0%`, `0.042%`, `1.53%`, `12.5%`.
pub(super) fn pct_fine(x: f64) -> String {
    if !x.is_finite() {
        return DASH.to_string();
    }
    let v = x * 100.0;
    let decimals = if v == 0.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 0.1 {
        2
    } else {
        // Two significant digits.
        (1 - v.abs().log10().floor() as i32).clamp(2, 8) as usize
    };
    format!("{v:.decimals$}%")
}

/// A test's p-value in a sentence: two significant digits down to 0.001,
/// then scientific notation (`0.79`, `0.012`, `3.2e-5`).
pub(super) fn p_short(p: f64) -> String {
    if !p.is_finite() {
        DASH.to_string()
    } else if p == 0.0 {
        "0".into()
    } else if p >= 0.001 {
        let decimals = (1 - p.log10().floor() as i32).max(1) as usize;
        format!("{p:.decimals$}")
    } else {
        format!("{p:.1e}")
    }
}

/// A p-value in scientific notation.
pub(super) fn pval(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.2e}")
    } else {
        DASH.to_string()
    }
}

/// The significance level as written in the configuration, unless that is long.
pub(super) fn alpha_str(a: f64) -> String {
    if !a.is_finite() {
        return DASH.to_string();
    }
    let s = format!("{a}");
    if s.len() <= 8 {
        s
    } else {
        format!("{a:.2e}")
    }
}

/// A wall time: seconds below a minute, then minutes, then hours.
pub(super) fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return DASH.to_string();
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let total = s.round() as u64;
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    if hours > 0 {
        format!("{hours} h {minutes:02} min")
    } else {
        format!("{minutes} min {secs:02} s")
    }
}

/// An axis tick or threshold without needless decimals.
pub(super) fn trim_num(v: f64) -> String {
    let s = if (v - v.round()).abs() < 1e-9 || v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_string()
    };
    no_negative_zero(s)
}

/// `n` and the noun in the right number.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_never_reads_negative() {
        assert_eq!(fnum(-0.0, 2), "0.00");
        assert_eq!(fnum(-1e-17, 2), "0.00");
        assert_eq!(fnum(-0.004, 2), "0.00");
        assert_eq!(fnum(-0.006, 2), "-0.01");
        assert_eq!(signed(-1e-17, 2), "+0.00");
        assert_eq!(signed(-0.33, 2), "-0.33");
        assert_eq!(signed(0.5, 2), "+0.50");
        assert_eq!(trim_num(-1e-17), "0");
        assert_eq!(trim_num(-0.25), "-0.25");
    }

    #[test]
    fn non_finite_numbers_are_a_dash() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(fnum(x, 3), DASH);
            assert_eq!(pct(x), DASH);
            assert_eq!(pval(x), DASH);
            assert_eq!(alpha_str(x), DASH);
            assert_eq!(duration(x), DASH);
        }
        assert_eq!(fopt(None, 2), DASH);
        assert_eq!(pct_fine(f64::NAN), DASH);
        assert_eq!(p_short(f64::INFINITY), DASH);
        assert_eq!(pct_opt(None), DASH);
    }

    #[test]
    fn numbers_read_as_before() {
        assert_eq!(fnum(0.98765, 3), "0.988");
        assert_eq!(pct(0.9), "90.0%");
        assert_eq!(pval(0.000123), "1.23e-4");
        assert_eq!(alpha_str(0.01), "0.01");
        assert_eq!(alpha_str(1.0 / 3.0), "3.33e-1");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3725.0), "1 h 02 min");
        assert_eq!(duration(-1.0), DASH);
        assert_eq!(trim_num(2.0), "2");
        assert_eq!(trim_num(2.5), "2.5");
        assert_eq!(trim_num(12.7), "13");
        assert_eq!(plural(1, "model", "models"), "1 model");
        assert_eq!(plural(2, "model", "models"), "2 models");
        assert_eq!(pct_fine(0.0), "0%");
        assert_eq!(pct_fine(0.00042), "0.042%");
        assert_eq!(pct_fine(0.0153), "1.53%");
        assert_eq!(pct_fine(0.125), "12.5%");
        assert_eq!(p_short(0.79), "0.79");
        assert_eq!(p_short(0.0123), "0.012");
        assert_eq!(p_short(1.0), "1.0");
        assert_eq!(p_short(3.21e-5), "3.2e-5");
    }
}
