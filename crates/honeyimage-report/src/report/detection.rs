//! The "Detection" section: how well each method separates infringing from
//! clean suspects (exact test and τ rule) and what it costs in accuracy, one
//! row per method with the best value of each column highlighted; then the
//! stealthiness of the released HoneyImages.

use maud::{html, Markup};

use crate::results::{EvalResults, MethodSummary, Stealth};

use super::format::{alpha_str, fnum, fopt, pct, pct_opt, plural, DASH};
use super::plots::{hex, method_color};

/// A number column of the methods table: where its value comes from, and
/// whether smaller is better.
type Column = (fn(&MethodSummary) -> Option<f64>, bool);

/// The number columns, in table order (after method, infringing, clean).
const COLUMNS: [Column; 12] = [
    (|m| Some(m.auroc), false),
    (|m| Some(m.tpr), false),
    (|m| Some(m.tnr), false),
    (|m| m.tpr_at_1pct_fpr, false),
    (|m| m.tpr_at_01pct_fpr, false),
    (|m| m.calibrated.map(|c| c.tpr), false),
    (|m| m.calibrated.map(|c| c.tnr()), false),
    (|m| m.tau_auroc, false),
    (|m| m.tau_tpr, false),
    (|m| m.tau_tnr, false),
    (|m| Some(m.infringing_test_accuracy), false),
    (|m| m.accuracy_drop_points, true),
];

/// The section.
pub(super) fn section(r: &EvalResults) -> Markup {
    html! {
        section {
            h2 { "Detection" }
            p.note {
                "Exact test: a suspect is flagged when p < α = " (alpha_str(r.alpha)) ". "
                "τ rule: the paper's loss-gap score against a threshold τ calibrated on the clean suspects "
                "(its TNR is leave-one-out: each clean model judged by a τ calibrated on the others). "
                "Calibrated test: the same exact test on each image's loss minus the key's proxy loss, "
                "on the same answers (verify --calibrate). Best value per column in "
                span.best-key { "bold" } "."
            }
            div.scroll {
                table #results-table .data {
                    (methods_head())
                    tbody { (methods_body(&r.methods)) }
                }
            }
            (stealth_table(&r.stealth))
        }
    }
}

fn methods_head() -> Markup {
    html! {
        thead {
            tr.group {
                th colspan="3" {}
                th colspan="5" { "Exact test" }
                th colspan="2" { "Calibrated" }
                th colspan="3" { "τ rule" }
                th colspan="2" { "Harmlessness" }
            }
            tr {
                th { "Method" }
                th.num { "Infringing" }
                th.num { "Clean" }
                th.num { "AUROC" br; span.sub { "[95% CI]" } }
                th.num { "TPR" }
                th.num { "TNR" }
                th.num { "TPR @" br; "1% FPR" }
                th.num { "TPR @" br; "0.1% FPR" }
                th.num { "TPR" }
                th.num { "TNR" }
                th.num { "AUROC" }
                th.num { "TPR" }
                th.num { "TNR" }
                th.num { "Test acc." br; span.sub { "(infringing)" } }
                th.num { "Acc. drop" br; span.sub { "(points) [95% CI]" } }
            }
        }
    }
}

fn methods_body(ms: &[MethodSummary]) -> Markup {
    let best: Vec<Vec<bool>> = COLUMNS
        .iter()
        .map(|(value, min)| best_flags(&ms.iter().map(value).collect::<Vec<_>>(), *min))
        .collect();
    html! {
        @if ms.is_empty() {
            tr { td.empty colspan="15" { "No methods were evaluated." } }
        }
        @for (i, m) in ms.iter().enumerate() {
            tr {
                td.method {
                    span.swatch style={ "background:" (hex(method_color(i))) } {}
                    (m.method.label())
                }
                td.num { (m.n_infringing) }
                td.num { (m.n_clean) }
                @for (k, cell) in method_cells(m).into_iter().enumerate() {
                    td.num.best[best[k][i]] { (cell) }
                }
            }
        }
    }
}

/// The number cells of one method's row, in [`COLUMNS`] order.
fn method_cells(m: &MethodSummary) -> [Markup; 12] {
    let (lo, hi) = m.auroc_ci;
    let auroc = html! {
        (fnum(m.auroc, 3))
        @if lo.is_finite() && hi.is_finite() {
            br; span.sub { (format!("[{lo:.3}, {hi:.3}]")) }
        }
    };
    let text = |s: String| html! { (s) };
    [
        auroc,
        text(pct(m.tpr)),
        text(pct(m.tnr)),
        text(pct_opt(m.tpr_at_1pct_fpr)),
        text(pct_opt(m.tpr_at_01pct_fpr)),
        text(pct_opt(m.calibrated.map(|c| c.tpr))),
        text(pct_opt(m.calibrated.map(|c| c.tnr()))),
        text(fopt(m.tau_auroc, 3)),
        text(pct_opt(m.tau_tpr)),
        text(pct_opt(m.tau_tnr)),
        text(pct(m.infringing_test_accuracy)),
        accuracy_drop(m),
    ]
}

/// The mean drop and its number of pairs, with the interval on a second line
/// (like the AUROC's) so that the table fits the page.
fn accuracy_drop(m: &MethodSummary) -> Markup {
    let pairs = plural(m.accuracy_drop_pairs, "pair", "pairs");
    match (m.accuracy_drop_points, m.accuracy_drop_ci95) {
        (Some(d), ci) if d.is_finite() => html! {
            (format!("{d:.2} ({pairs})"))
            @if let Some((lo, hi)) = ci {
                br; span.sub { (format!("[{lo:.2}, {hi:.2}]")) }
            }
        },
        _ => html! { (DASH) },
    }
}

/// Which values of a column are the best (largest, or with `min` smallest);
/// none when there is nothing to compare or every method is equal.
fn best_flags(values: &[Option<f64>], min: bool) -> Vec<bool> {
    let finite: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if values.len() < 2 || finite.is_empty() {
        return vec![false; values.len()];
    }
    let best = if min {
        finite.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let is_best = |v: f64| (v - best).abs() < 1e-9;
    // Only highlight when someone is actually better.
    let all_equal = finite.len() == values.len() && finite.iter().all(|&v| is_best(v));
    values
        .iter()
        .map(|v| !all_equal && matches!(v, Some(v) if v.is_finite() && is_best(*v)))
        .collect()
}

fn stealth_table(st: &Stealth) -> Markup {
    let psnr = if st.psnr_mean.is_finite() {
        format!("{:.2} dB", st.psnr_mean)
    } else {
        DASH.into()
    };
    let lpips = match st.lpips_stl {
        Some(v) if v.is_finite() => html! { (format!("{v:.4}")) },
        Some(_) => html! { (DASH) },
        None => html! { span.muted { "not measured (pass " code { "--lpips-weights" } ")" } },
    };
    let rows = [
        (
            "SSIM (mean)",
            html! { (fnum(st.ssim_mean, 4)) },
            "structural similarity to the original; 1 = identical",
        ),
        (
            "SSIM (min)",
            html! { (fnum(st.ssim_min, 4)) },
            "the least similar released image",
        ),
        ("PSNR (mean)", html! { (psnr) }, "higher = smaller change"),
        (
            "L∞ (max)",
            html! { (st.linf_max) "/255" },
            "largest change of any pixel value",
        ),
        (
            "LPIPS-STL",
            lpips,
            "1 − LPIPS(AlexNet); 1 = perceptually identical",
        ),
    ];
    html! {
        h3 { "Stealthiness of the released HoneyImages" }
        table #stealth-table .data.compact {
            thead { tr { th { "Measure" } th.num { "Value" } th { "Meaning" } } }
            tbody {
                @for (name, value, meaning) in rows {
                    tr { td { (name) } td.num { (value) } td.muted { (meaning) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::best_flags;

    #[test]
    fn best_flags_mark_the_best_unless_all_equal() {
        assert_eq!(
            best_flags(&[Some(0.9), Some(0.7), None], false),
            [true, false, false]
        );
        assert_eq!(best_flags(&[Some(0.9), Some(0.7)], true), [false, true]);
        assert_eq!(best_flags(&[Some(1.0), Some(1.0)], false), [false, false]);
        assert_eq!(
            best_flags(&[Some(1.0), Some(1.0), None], false),
            [true, true, false]
        );
        assert_eq!(
            best_flags(&[Some(f64::NAN), Some(0.2)], false),
            [false, true]
        );
        assert_eq!(best_flags(&[Some(0.5)], false), [false]);
        assert_eq!(best_flags(&[None, None], false), [false, false]);
    }
}
