//! The three plot sections — ROC curves, where the suspects fall, training
//! length — each a short explanation above an inline SVG drawn by `plots`.
//! Inline SVG needs no namespace, so it is dropped and the page holds no URL.

use maud::{html, Markup, PreEscaped};

use crate::results::{EvalResults, SuspectResult};

use super::format::{fnum, pval, trim_num, DASH};
use super::plots::{self, hex, method_color, CurveSeries, Histogram, CLEAN, INFRINGING};

/// A plot's SVG, or the reason it is missing.
pub(super) fn embed(svg: Result<String, String>) -> Markup {
    match svg {
        Ok(svg) => PreEscaped(svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)),
        Err(e) => html! { p.note { "This plot could not be drawn: " (e) } },
    }
}

/// Threshold of the decision rule p < α on the −log10(p) scale.
fn threshold(alpha: f64) -> Option<f64> {
    (alpha.is_finite() && alpha > 0.0 && alpha < 1.0).then(|| -alpha.log10())
}

/// −log10(p) of a suspect for plots: a missing statistic is recomputed from p.
fn statistic(s: &SuspectResult) -> f64 {
    if s.statistic.is_nan() && s.p_value.is_finite() && s.p_value > 0.0 {
        -s.p_value.log10()
    } else {
        s.statistic
    }
}

/// ROC curves of all methods in one plot.
pub(super) fn roc_section(r: &EvalResults) -> Markup {
    let svg = plots::svg((720, 540), |area| plots::roc(area, &r.methods));
    html! {
        section {
            h2 { "ROC curves" }
            p.note {
                "Each curve ranks that method's suspects by the exact test's statistic (−log" sub { "10" } " p). "
                "The dashed diagonal is a coin flip; a perfect detector hugs the top-left corner."
            }
            div #roc-plot .plot { (embed(svg)) }
        }
    }
}

/// One histogram of the statistic per method, under one shared legend.
pub(super) fn histograms_section(r: &EvalResults) -> Markup {
    let thr = threshold(r.alpha);
    let thr_text = thr.map_or_else(|| DASH.to_string(), trim_num);
    html! {
        section {
            h2 { "Where the suspects fall" }
            p.note {
                "Distribution of the test statistic −log" sub { "10" } " p over each method's suspects; "
                "models right of the dashed line (p < α) are flagged."
            }
            p.legend {
                span { span.chip style={ "background:" (hex(INFRINGING)) } {} "infringing" } " "
                span { span.chip style={ "background:" (hex(CLEAN)) } {} "clean" } " "
                span {
                    span.dash {}
                    span { "threshold −log" sub { "10" } " α = " (thr_text) }
                }
            }
            div #histograms .grid-plots {
                @if r.methods.is_empty() {
                    p.note { "No methods were evaluated." }
                }
                @for i in 0..r.methods.len() {
                    div.plot { (embed(method_histogram(r, i, thr))) }
                }
            }
        }
    }
}

/// The `i`-th method's histogram: infringing and clean suspects' statistics
/// under the main key (further keys' judgements are in the key section).
fn method_histogram(r: &EvalResults, i: usize, thr: Option<f64>) -> Result<String, String> {
    let method = r.methods[i].method;
    let (mut infringing, mut clean) = (Vec::new(), Vec::new());
    for s in r.main_key_suspects().filter(|s| s.method == method) {
        let v = statistic(s);
        if v.is_nan() {
            continue;
        }
        if s.role.is_infringing() {
            infringing.push(v);
        } else if s.role.is_clean() {
            clean.push(v);
        }
    }
    let size = if r.methods.len() == 1 {
        (760, 300)
    } else {
        (530, 280)
    };
    let title = format!(
        "{} · {} infringing, {} clean",
        method.label(),
        infringing.len(),
        clean.len()
    );
    let hist = Histogram::new(&infringing, &clean, thr);
    plots::svg(size, |area| {
        plots::histogram(area, &title, method_color(i), &hist, thr)
    })
}

/// Verification power against training length (HoneyImage).
pub(super) fn curve_section(r: &EvalResults) -> Markup {
    if r.curve.is_empty() {
        return html! {
            section {
                h2 { "Training length" }
                div #curve-plot { p.note { "No training-length curve was recorded in this run." } }
            }
        };
    }
    let series = CurveSeries::new(&r.curve);
    let thr = threshold(r.alpha);
    let svg = plots::svg((1060, 360), |area| plots::curve(area, &series, thr));
    html! {
        section {
            h2 { "Training length" }
            p.note {
                "How verification power grows as a suspect trains longer on the release. "
                "Left: median p-value (as −log" sub { "10" } " p; up is more significant) of infringing and clean suspects. "
                "Right: AUROC of HoneyImage and the infringing models' training accuracy."
            }
            div #curve-plot .plot { (embed(svg)) }
            (method_curve_table(r))
        }
    }
}

/// Every key-based method's power against training length, when the run
/// has baselines: median p of its infringing suspects, and its AUROC.
fn method_curve_table(r: &EvalResults) -> Markup {
    if r.method_curves.len() < 2 {
        return html! {};
    }
    let mut epochs: Vec<usize> = r.method_curves.iter().flat_map(|c| c.points.iter().map(|p| p.epoch)).collect();
    epochs.sort_unstable();
    epochs.dedup();
    html! {
        p.note { "Every method against training length: median p of its infringing suspects (its own key), and AUROC against the clean suspects judged by the same key." }
        div.scroll { table.data.compact {
            thead { tr { th { "epoch" } @for c in &r.method_curves { th.num { (c.method.label()) " median p" } th.num { "AUROC" } } } }
            tbody { @for e in &epochs { tr {
                td.num { (e) }
                @for c in &r.method_curves {
                    @match c.points.iter().find(|p| p.epoch == *e) {
                        Some(p) => { td.num { (pval(p.median_p_infringing)) } td.num { (fnum(p.auroc, 3)) } }
                        None => { td.num { (DASH) } td.num { (DASH) } }
                    }
                }
            } } }
        } }
    }
}
