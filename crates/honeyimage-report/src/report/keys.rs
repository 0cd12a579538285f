//! The "False positives over keys" section, shown when the run judged its
//! clean models with many independent keys: one sentence saying whether the
//! clean p-values keep their promise (uniform, and a false-positive rate no
//! higher than α), a table of the rate at each α with two intervals, and a QQ
//! plot of the clean p-values against U(0, 1).

use maud::{html, Markup};

use crate::results::{EvalResults, FprAt, KeyPopulation};

use super::figures::embed;
use super::format::{alpha_str, fnum, p_short, pct_fine, plural, DASH};
use super::plots::{self, QqSeries};

/// Below this KS p-value the clean p-values are called not uniform.
const KS_REJECT: f64 = 0.01;

/// The section, or nothing when the run recorded no key population.
pub(super) fn section(r: &EvalResults) -> Markup {
    let Some(kp) = &r.key_population else {
        return html! {};
    };
    let (finding, alarm) = finding(kp, r.alpha);
    let qq = QqSeries::new(&kp.clean_p_values);
    let svg = plots::svg((640, 560), |area| plots::qq(area, &qq));
    html! {
        section #key-population {
            h2 { "False positives over keys" }
            p.finding.alarm[alarm] { (finding) }
            p.note {
                "Every clean model was judged again by each of the run's independently drawn keys. "
                "A p-value keeps its promise when a clean model is flagged at p < α with probability at most α. "
                "The Clopper-Pearson interval treats the pairs as independent; "
                "the bootstrap interval resamples whole keys, since pairs that share a key are correlated."
            }
            @if let Some(kl) = &kp.key_level {
                p.note {
                    "Pairs that share a key are correlated: "
                    (pct_fine(kl.between_key_share)) " of the variance of the clean p-values lies between keys. "
                    "The uniformity test therefore uses one pair per key (key j with the j-th clean model"
                    @if kl.models_reused { ", cycling through the models, so a model serves several keys" }
                    "), and a rate counts as above α when its bootstrap interval over keys lies above α."
                }
            }
            div.scroll { (fpr_table(kp)) }
            p.note {
                span.ci-mark.ci-above { "▲ above α" } ": the whole interval lies above α (more false positives than α promises). "
                span.ci-mark.ci-below { "▼ below α" } ": the whole interval lies below α (conservative)."
            }
            h3 { "Clean p-values against uniform" }
            p.note {
                "One dot per (key, clean model) pair: the i-th smallest p-value (up) against (i − 0.5)/n, "
                "where it is expected if p-values are uniform (across), both on log scales. "
                "Dots below the dashed diagonal are smaller than promised (false positives at small α); dots above it are conservative. "
                "The shaded band holds each dot with 95% probability if the pairs were independent (pointwise); "
                "pairs sharing a key are correlated, so expect them to stray from it more."
            }
            div #qq-plot .plot { (embed(svg)) }
        }
    }
}

/// The finding in one sentence, and whether it is an alarm (the p-values
/// are not uniform, or some rate is above its α).
///
/// The rate it cites is the first whose interval lies above its α; if none
/// does, the run's own α if it is among the rates, else the smallest α.
fn finding(kp: &KeyPopulation, run_alpha: f64) -> (String, bool) {
    if kp.pairs == 0 {
        let s = "No (key, clean model) pair was judged, so the false-positive rate over keys is unknown.";
        return (s.into(), false);
    }
    let over = format!(
        "Over {} — {} × {} —",
        plural(
            kp.pairs,
            "(key, clean model) pair",
            "(key, clean model) pairs"
        ),
        plural(kp.keys, "key", "keys"),
        plural(kp.clean_models, "clean model", "clean models"),
    );
    let ks = format!("KS D = {}, p = {}", fnum(kp.ks_d, 3), p_short(kp.ks_p));
    let (ks, ks_p, interval): (String, f64, Interval) = match &kp.key_level {
        None => (ks, kp.ks_p, |f| f.ci95),
        Some(kl) => (
            format!(
                "one pair per key, n = {}: KS D = {}, p = {}; over all pairs, which share keys, {ks}",
                kl.n,
                fnum(kl.ks_d, 3),
                p_short(kl.ks_p)
            ),
            kl.ks_p,
            |f| f.key_bootstrap_ci95,
        ),
    };
    let uniform = ks_p.is_finite().then_some(ks_p >= KS_REJECT);
    let p_values = match uniform {
        Some(true) => format!("the clean p-values are consistent with uniform ({ks})"),
        Some(false) => format!("the clean p-values are not consistent with uniform ({ks})"),
        None => "the clean p-values could not be tested for uniformity".into(),
    };
    let excess = kp.fpr.iter().find(|f| above(interval(f), f.alpha));
    let alarm = uniform == Some(false) || excess.is_some();
    let Some(cited) = excess.or_else(|| cited_rate(&kp.fpr, run_alpha)) else {
        return (format!("{over} {p_values}."), alarm);
    };
    let rate = rate_clause(cited, kp.pairs);
    let tail = match (uniform, excess.is_some()) {
        (Some(false), false) => {
            format!(", but no false-positive rate is significantly above its α: {rate}")
        }
        (_, false) => format!("; {rate}"),
        (Some(false), true) => format!(", and {rate}, more than α allows"),
        (_, true) => format!(", yet {rate}, more than α allows"),
    };
    (format!("{over} {p_values}{tail}."), alarm)
}

/// Which of a rate's two intervals decides whether it lies above α.
type Interval = fn(&FprAt) -> (f64, f64);

/// The run's α among the rates, else the smallest α.
fn cited_rate(fpr: &[FprAt], run_alpha: f64) -> Option<&FprAt> {
    let close = |a: f64| (a - run_alpha).abs() <= 1e-9 * run_alpha.abs();
    fpr.iter()
        .find(|f| close(f.alpha))
        .or_else(|| fpr.iter().min_by(|a, b| a.alpha.total_cmp(&b.alpha)))
}

/// "at α = 0.01, 3 of 240 were flagged (1.25%; 95% interval 0.26% to 3.61%)".
fn rate_clause(f: &FprAt, pairs: usize) -> String {
    let verb = if f.flagged == 1 { "was" } else { "were" };
    let mut s = format!(
        "at α = {}, {} of {pairs} {verb} flagged",
        alpha_str(f.alpha),
        f.flagged
    );
    let mut details = Vec::new();
    if f.flagged > 0 {
        details.push(pct_fine(f.rate));
    }
    let (lo, hi) = f.ci95;
    if lo.is_finite() && hi.is_finite() {
        details.push(format!("95% interval {} to {}", pct_fine(lo), pct_fine(hi)));
    }
    if !details.is_empty() {
        s += &format!(" ({})", details.join("; "));
    }
    s
}

/// Whether the whole interval lies above α.
fn above((lo, _): (f64, f64), alpha: f64) -> bool {
    lo.is_finite() && lo > alpha
}

/// Whether the whole interval lies below α.
fn below((_, hi): (f64, f64), alpha: f64) -> bool {
    hi.is_finite() && hi < alpha
}

fn fpr_table(kp: &KeyPopulation) -> Markup {
    html! {
        table #key-fpr-table .data.compact {
            thead {
                tr {
                    th.num { "α" }
                    th.num { "Flagged" br; span.sub { "(of pairs)" } }
                    th.num { "Rate" }
                    th.num { "95% interval" br; span.sub { "Clopper-Pearson" } }
                    th.num { "95% interval" br; span.sub { "bootstrap over keys" } }
                }
            }
            tbody {
                @if kp.fpr.is_empty() {
                    tr { td.empty colspan="5" { "No false-positive rates were recorded." } }
                }
                @for f in &kp.fpr {
                    @let high = above(f.ci95, f.alpha) || above(f.key_bootstrap_ci95, f.alpha);
                    tr class=[high.then_some("wrong-row")] {
                        td.num { (alpha_str(f.alpha)) }
                        td.num { (f.flagged) " / " (kp.pairs) }
                        td.num { (pct_fine(f.rate)) }
                        (interval_cell(f.ci95, f.alpha))
                        (interval_cell(f.key_bootstrap_ci95, f.alpha))
                    }
                }
            }
        }
    }
}

/// An interval, marked when α lies outside it.
fn interval_cell(ci: (f64, f64), alpha: f64) -> Markup {
    let (lo, hi) = ci;
    html! {
        td.num {
            @if lo.is_finite() && hi.is_finite() {
                "[" (pct_fine(lo)) ", " (pct_fine(hi)) "]"
            } @else {
                (DASH)
            }
            @if above(ci, alpha) {
                span.ci-mark.ci-above title="α lies below the interval" { "▲ above α" }
            } @else if below(ci, alpha) {
                span.ci-mark.ci-below title="α lies above the interval" { "▼ below α" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(alpha: f64, flagged: usize, ci95: (f64, f64)) -> FprAt {
        FprAt {
            alpha,
            flagged,
            rate: flagged as f64 / 240.0,
            ci95,
            key_bootstrap_ci95: ci95,
        }
    }

    fn population(ks_p: f64, fpr: Vec<FprAt>) -> KeyPopulation {
        KeyPopulation {
            keys: 12,
            clean_models: 20,
            pairs: 240,
            ks_d: 0.041,
            ks_p,
            fpr,
            clean_p_values: vec![],
            key_level: None,
        }
    }

    fn calm() -> Vec<FprAt> {
        vec![
            rate(0.05, 11, (0.0231, 0.0805)),
            rate(0.01, 2, (0.0010, 0.0298)),
            rate(0.001, 0, (0.0, 0.0153)),
        ]
    }

    const OVER: &str = "Over 240 (key, clean model) pairs — 12 keys × 20 clean models —";

    #[test]
    fn a_calm_population_cites_the_runs_alpha() {
        let (s, alarm) = finding(&population(0.79, calm()), 0.01);
        assert_eq!(
            s,
            format!(
                "{OVER} the clean p-values are consistent with uniform (KS D = 0.041, p = 0.79); \
                 at α = 0.01, 2 of 240 were flagged (0.83%; 95% interval 0.10% to 2.98%)."
            )
        );
        assert!(!alarm);
        // An α the rates do not include: the smallest one is cited.
        let (s, _) = finding(&population(0.79, calm()), 0.02);
        assert!(
            s.ends_with("at α = 0.001, 0 of 240 were flagged (95% interval 0% to 1.53%)."),
            "{s}"
        );
    }

    #[test]
    fn the_wording_flips_when_ks_rejects_or_a_rate_is_above_alpha() {
        let (s, alarm) = finding(&population(0.004, calm()), 0.01);
        assert!(alarm);
        assert!(s.contains("are not consistent with uniform (KS D = 0.041, p = 0.0040), but no false-positive rate is significantly above its α: at α = 0.01, 2 of 240"), "{s}");

        let mut high = calm();
        high[1] = rate(0.01, 9, (0.0173, 0.0701));
        let (s, alarm) = finding(&population(0.3, high.clone()), 0.05);
        assert!(alarm);
        assert!(s.contains("consistent with uniform (KS D = 0.041, p = 0.30), yet at α = 0.01, 9 of 240 were flagged (3.75%; 95% interval 1.73% to 7.01%), more than α allows."), "{s}");

        let (s, _) = finding(&population(2e-7, high), 0.05);
        assert!(s.contains("not consistent with uniform (KS D = 0.041, p = 2.0e-7), and at α = 0.01, 9 of 240 were flagged"), "{s}");
    }

    #[test]
    fn odd_populations_still_read() {
        let (s, alarm) = finding(&population(f64::NAN, vec![]), 0.01);
        assert_eq!(
            s,
            format!("{OVER} the clean p-values could not be tested for uniformity.")
        );
        assert!(!alarm);
        let mut none = population(0.5, calm());
        none.pairs = 0;
        assert!(finding(&none, 0.01)
            .0
            .starts_with("No (key, clean model) pair"));
        let mut one = calm();
        one[2] = rate(0.001, 1, (f64::NAN, f64::NAN));
        let (s, _) = finding(&population(0.5, one), 0.001);
        assert!(
            s.ends_with("at α = 0.001, 1 of 240 was flagged (0.42%)."),
            "{s}"
        );
    }

    #[test]
    fn intervals_are_marked_when_alpha_lies_outside() {
        let cell = |ci, a| interval_cell(ci, a).into_string();
        assert!(cell((0.02, 0.07), 0.01).contains("▲ above α"));
        assert!(cell((0.0, 0.004), 0.01).contains("▼ below α"));
        let inside = cell((0.001, 0.03), 0.01);
        assert!(
            inside.contains("[0.10%, 3.00%]") && !inside.contains("ci-mark"),
            "{inside}"
        );
        assert_eq!(
            cell((f64::NAN, 0.1), 0.01),
            format!("<td class=\"num\">{DASH}</td>")
        );
    }

    #[test]
    fn a_key_level_test_decides_uniformity_when_present() {
        let mut kp = population(1e-5, calm());
        kp.key_level = Some(crate::results::KeyLevel {
            n: 100,
            models_reused: true,
            ks_d: 0.08,
            ks_p: 0.52,
            between_key_share: 0.61,
        });
        let (s, alarm) = finding(&kp, 0.01);
        assert!(!alarm, "{s}");
        assert!(
            s.contains("consistent with uniform (one pair per key, n = 100: KS D = 0.080, p = 0.52; over all pairs, which share keys, KS D = 0.041, p = 1.0e-5)"),
            "{s}"
        );
        // The by-key interval, not Clopper-Pearson, decides an excess.
        kp.fpr[1].key_bootstrap_ci95 = (0.012, 0.05);
        assert!(finding(&kp, 0.01).1);
    }
}
