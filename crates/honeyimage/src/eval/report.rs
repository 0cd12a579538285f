//! Renders an evaluation run as something a person would rather look at than
//! read: one self-contained HTML page (inline CSS, inline SVG plots drawn with
//! `plotters`, example images as PNG `data:` URIs — nothing is fetched from the
//! network, so the file can be mailed or archived as is), plus the per-suspect
//! `results.csv` for spreadsheets.
//!
//! Rendering never fails and never panics on odd data: NaN, infinite or
//! missing values are shown as "–", empty sections say so, and a plot that
//! cannot be drawn is replaced by a short note.
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use plotters::prelude::*;

use crate::eval::results::{CurvePoint, EvalResults, Example, MethodSummary, SuspectResult};

/// Shown for every missing or non-finite number.
const DASH: &str = "–";
/// Infringing suspects (and "flagged" verdicts).
const INFRINGING: RGBColor = RGBColor(0xe8, 0x59, 0x0c);
/// Clean suspects (and "not flagged" verdicts).
const CLEAN: RGBColor = RGBColor(0x1c, 0x7e, 0xd6);
/// Axis and reference-line grey.
const REF_GREY: RGBColor = RGBColor(0x86, 0x8e, 0x96);
/// One colour per method, HoneyImage (honey orange) first.
const METHOD_COLORS: [RGBColor; 6] = [
    RGBColor(0xe6, 0x77, 0x00),
    RGBColor(0x1c, 0x7e, 0xd6),
    RGBColor(0x2f, 0x9e, 0x44),
    RGBColor(0x70, 0x48, 0xe8),
    RGBColor(0xc2, 0x25, 0x5c),
    RGBColor(0x49, 0x50, 0x57),
];
const FONT: &str = "sans-serif";

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Renders `results` to one self-contained HTML page (no network: inline SVG
/// plots, PNG images as `data:` URIs, inline CSS).
pub fn render_html(results: &EvalResults) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>HoneyImage evaluation</title>\n<style>\n");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n<main>\n");
    section_header(&mut h, results);
    section_results(&mut h, results);
    section_roc(&mut h, results);
    section_histograms(&mut h, results);
    section_curve(&mut h, results);
    section_suspects(&mut h, results);
    section_examples(&mut h, results);
    section_footer(&mut h, results);
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// Writes [`render_html`]'s page atomically to `path`.
pub fn write_report(results: &EvalResults, path: &Path) -> crate::Result<()> {
    honeyimage_data::write_atomic(path, render_html(results).as_bytes())?;
    Ok(())
}

/// `results.csv`: a header row, then one row per suspect with the columns
/// `name, method, role, arch, seed, epochs, train_accuracy, test_accuracy,
/// p_value, statistic, tau_score, effect_size, label_only_p, verdict`.
/// Fields are quoted when they hold a comma, quote or line break; NaN is an
/// empty field, infinities are `inf`/`-inf`, the verdict is `true`/`false`.
pub fn suspects_csv(results: &EvalResults) -> String {
    let mut out = String::from(
        "name,method,role,arch,seed,epochs,train_accuracy,test_accuracy,p_value,statistic,\
         tau_score,effect_size,label_only_p,verdict\n",
    );
    for s in &results.suspects {
        let fields = [
            csv_field(&s.name),
            csv_field(&s.method),
            csv_field(&s.role),
            csv_field(&s.arch),
            s.seed.to_string(),
            s.epochs.to_string(),
            csv_num(s.train_accuracy),
            csv_num(s.test_accuracy),
            csv_num(s.p_value),
            csv_num(s.statistic),
            csv_num(s.tau_score),
            csv_num(s.effect_size),
            csv_num(s.label_only_p),
            s.verdict.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        x.to_string()
    }
}

// ---------------------------------------------------------------- formatting

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fnum(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        DASH.to_string()
    }
}

fn fopt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| DASH.to_string(), |x| fnum(x, decimals))
}

/// A rate or accuracy in [0, 1] as a percentage.
fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        DASH.to_string()
    }
}

fn pct_opt(x: Option<f64>) -> String {
    x.map_or_else(|| DASH.to_string(), pct)
}

/// A p-value in scientific notation.
fn pval(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.2e}")
    } else {
        DASH.to_string()
    }
}

fn alpha_str(a: f64) -> String {
    if a.is_finite() {
        let s = format!("{a}");
        if s.len() <= 8 {
            s
        } else {
            format!("{a:.2e}")
        }
    } else {
        DASH.to_string()
    }
}

fn duration(s: f64) -> String {
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

/// Human name of a method identifier.
fn method_name(m: &str) -> String {
    match m {
        "honeyimage" => "HoneyImage".into(),
        "random-pgd" => "Random PGD".into(),
        "hard-unperturbed" => "Hard unperturbed".into(),
        "badnets" => "BadNets".into(),
        other => other.to_string(),
    }
}

fn method_color(i: usize) -> RGBColor {
    METHOD_COLORS[i % METHOD_COLORS.len()]
}

fn hex(c: RGBColor) -> String {
    hex_rgb([c.0, c.1, c.2])
}

fn hex_rgb(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn is_infringing(role: &str) -> bool {
    role == "infringing"
}

fn is_clean(role: &str) -> bool {
    role.starts_with("clean")
}

/// -log10(p) for plots: non-finite statistics are recomputed from p, and an
/// infinite one (p = 0) is capped by the caller.
fn statistic(s: &SuspectResult) -> f64 {
    if s.statistic.is_nan() && s.p_value.is_finite() && s.p_value > 0.0 {
        -s.p_value.log10()
    } else {
        s.statistic
    }
}

/// Threshold of the decision rule on the -log10(p) scale.
fn threshold(alpha: f64) -> Option<f64> {
    (alpha.is_finite() && alpha > 0.0 && alpha < 1.0).then(|| -alpha.log10())
}

/// Verdict counts of one method's suspects.
#[derive(Default)]
struct Counts {
    infringing: usize,
    infringing_flagged: usize,
    clean: usize,
    clean_flagged: usize,
}

fn counts(results: &EvalResults, m: &MethodSummary) -> Counts {
    let mut c = Counts::default();
    for s in results.suspects.iter().filter(|s| s.method == m.method) {
        if is_infringing(&s.role) {
            c.infringing += 1;
            c.infringing_flagged += s.verdict as usize;
        } else if is_clean(&s.role) {
            c.clean += 1;
            c.clean_flagged += s.verdict as usize;
        }
    }
    if c.infringing + c.clean == 0 {
        // No per-suspect rows: reconstruct from the summary's rates.
        let n = |rate: f64, total: usize| {
            if rate.is_finite() {
                (rate.clamp(0.0, 1.0) * total as f64).round() as usize
            } else {
                0
            }
        };
        c.infringing = m.n_infringing;
        c.clean = m.n_clean;
        c.infringing_flagged = n(m.tpr, m.n_infringing);
        c.clean_flagged = n(1.0 - m.tnr, m.n_clean);
    }
    c
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

// ------------------------------------------------------------------ sections

fn section_header(h: &mut String, r: &EvalResults) {
    h.push_str("<header>\n<h1>HoneyImage evaluation</h1>\n");
    let _ = writeln!(h, "<p class=\"summary\">{}</p>", summary_text(r));
    // Key-number tiles.
    if let Some(m) = r.methods.first() {
        let c = counts(r, m);
        let name = esc(&method_name(&m.method));
        h.push_str("<div class=\"tiles\">\n");
        let tile = |h: &mut String, class: &str, value: String, label: String| {
            let _ = writeln!(
                h,
                "<div class=\"tile {class}\"><div class=\"value\">{value}</div><div class=\"label\">{label}</div></div>"
            );
        };
        let caught_class = if c.infringing > 0 && c.infringing_flagged == c.infringing {
            "good"
        } else if c.infringing_flagged == 0 {
            "bad"
        } else {
            "warn"
        };
        tile(
            h,
            caught_class,
            format!("{}/{}", c.infringing_flagged, c.infringing),
            "infringing models flagged".into(),
        );
        let fa_class = if c.clean_flagged == 0 { "good" } else { "bad" };
        tile(
            h,
            fa_class,
            format!("{}/{}", c.clean_flagged, c.clean),
            "clean models falsely flagged".into(),
        );
        tile(h, "", fnum(m.auroc, 3), format!("{name} AUROC"));
        tile(
            h,
            "",
            format!("{}/255", r.stealth.linf_max),
            "largest pixel change".into(),
        );
        tile(
            h,
            "",
            fnum(r.stealth.ssim_mean, 4),
            "mean SSIM to the original".into(),
        );
        h.push_str("</div>\n");
    }
    // Configuration line: the top-level scalar fields, generically.
    let mut items = Vec::new();
    if let Some(obj) = r.config.as_object() {
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => "null".into(),
                _ => continue,
            };
            items.push(format!("<code>{}={}</code>", esc(k), esc(&v)));
        }
    }
    let _ = write!(h, "<p class=\"meta\">");
    if !items.is_empty() {
        let _ = write!(
            h,
            "<span class=\"meta-label\">Configuration</span> {} · ",
            items.join(" ")
        );
    }
    let _ = writeln!(
        h,
        "<span class=\"meta-label\">α</span> {} · <span class=\"meta-label\">Wall time</span> {}</p>",
        esc(&alpha_str(r.alpha)),
        duration(r.wall_seconds)
    );
    h.push_str("</header>\n");
}

/// The plain-language verdict paragraph (already HTML-escaped).
fn summary_text(r: &EvalResults) -> String {
    let Some(m) = r.methods.first() else {
        return if r.suspects.is_empty() {
            "No suspect models were evaluated in this run.".into()
        } else {
            format!(
                "{} were evaluated, but no method summary was recorded.",
                plural(r.suspects.len(), "suspect model", "suspect models")
            )
        };
    };
    let c = counts(r, m);
    let name = method_name(&m.method);
    let mut s = format!(
        "{name} flagged {} of {} infringing models and {} of {} clean models at α = {}",
        c.infringing_flagged,
        c.infringing,
        c.clean_flagged,
        c.clean,
        alpha_str(r.alpha)
    );
    if m.auroc.is_finite() {
        let _ = write!(s, " (AUROC {:.3}", m.auroc);
        if m.auroc_ci.0.is_finite() && m.auroc_ci.1.is_finite() {
            let _ = write!(s, ", 95% CI {:.3}–{:.3}", m.auroc_ci.0, m.auroc_ci.1);
        }
        s.push(')');
    }
    s.push_str(". ");
    let missed = c.infringing - c.infringing_flagged;
    if c.infringing > 0 && missed == 0 && c.clean_flagged == 0 {
        s.push_str("Every model trained on the protected release was caught, and no clean model was falsely accused. ");
    } else {
        if missed > 0 {
            let _ = write!(
                s,
                "{} went undetected. ",
                plural(missed, "infringing model", "infringing models")
            );
        }
        if c.clean_flagged > 0 {
            let _ = write!(
                s,
                "{} falsely flagged. ",
                plural(c.clean_flagged, "clean model was", "clean models were")
            );
        }
    }
    let baselines: Vec<String> = r.methods[1..]
        .iter()
        .map(|b| format!("{} ({})", fnum(b.auroc, 3), method_name(&b.method)))
        .collect();
    if !baselines.is_empty() {
        let _ = write!(
            s,
            "For comparison, the baselines reach AUROC {}. ",
            baselines.join(", ")
        );
    }
    if let Some(d) = m.accuracy_drop_points.filter(|d| d.is_finite()) {
        if d > 0.05 {
            let _ = write!(
                s,
                "Training on the release cost {d:.1} points of test accuracy on average"
            );
        } else if d < -0.05 {
            let _ = write!(
                s,
                "Training on the release did not cost test accuracy ({:+.1} points on average)",
                -d
            );
        } else {
            s.push_str("Training on the release left test accuracy unchanged on average");
        }
        if m.infringing_test_accuracy.is_finite() {
            let _ = write!(
                s,
                " (infringing models: {} test accuracy)",
                pct(m.infringing_test_accuracy)
            );
        }
        s.push_str(". ");
    }
    let st = &r.stealth;
    if st.ssim_mean.is_finite() {
        let _ = write!(
            s,
            "The released HoneyImages differ from the originals by at most {}/255 per pixel (mean SSIM {:.4}",
            st.linf_max, st.ssim_mean
        );
        if st.psnr_mean.is_finite() {
            let _ = write!(s, ", PSNR {:.1} dB", st.psnr_mean);
        }
        s.push_str(").");
    }
    esc(s.trim_end())
}

/// Column values where larger (or, with `min`, smaller) is better.
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
    // Only highlight when someone is actually better.
    let all_equal = finite.iter().all(|v| (v - best).abs() < 1e-9) && finite.len() == values.len();
    values
        .iter()
        .map(|v| !all_equal && matches!(v, Some(v) if v.is_finite() && (v - best).abs() < 1e-9))
        .collect()
}

fn section_results(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>Detection</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">Exact test: a suspect is flagged when p &lt; α = {}. τ rule: the paper's loss-gap score against a threshold τ calibrated on the clean suspects (optimistic: calibrated on the same models). Best value per column in <span class=\"best-key\">bold</span>.</p>",
        esc(&alpha_str(r.alpha))
    );
    let ms = &r.methods;
    let col = |f: &dyn Fn(&MethodSummary) -> Option<f64>| -> Vec<Option<f64>> {
        ms.iter().map(f).collect()
    };
    let auroc = col(&|m| Some(m.auroc));
    let tpr = col(&|m| Some(m.tpr));
    let tnr = col(&|m| Some(m.tnr));
    let t1 = col(&|m| m.tpr_at_1pct_fpr);
    let t01 = col(&|m| m.tpr_at_01pct_fpr);
    let tau_auroc = col(&|m| m.tau_auroc);
    let tau_tpr = col(&|m| m.tau_tpr);
    let tau_tnr = col(&|m| m.tau_tnr);
    let acc = col(&|m| Some(m.infringing_test_accuracy));
    let drop = col(&|m| m.accuracy_drop_points);
    let best = [
        best_flags(&auroc, false),
        best_flags(&tpr, false),
        best_flags(&tnr, false),
        best_flags(&t1, false),
        best_flags(&t01, false),
        best_flags(&tau_auroc, false),
        best_flags(&tau_tpr, false),
        best_flags(&tau_tnr, false),
        best_flags(&acc, false),
        best_flags(&drop, true),
    ];
    h.push_str("<div class=\"scroll\">\n<table id=\"results-table\" class=\"data\">\n<thead>\n");
    h.push_str("<tr class=\"group\"><th colspan=\"3\"></th><th colspan=\"5\">Exact test</th><th colspan=\"3\">τ rule</th><th colspan=\"2\">Harmlessness</th></tr>\n");
    h.push_str("<tr><th>Method</th><th class=\"num\">Infringing</th><th class=\"num\">Clean</th>\
        <th class=\"num\">AUROC<br><span class=\"sub\">[95% CI]</span></th><th class=\"num\">TPR</th><th class=\"num\">TNR</th>\
        <th class=\"num\">TPR @<br>1% FPR</th><th class=\"num\">TPR @<br>0.1% FPR</th>\
        <th class=\"num\">AUROC</th><th class=\"num\">TPR</th><th class=\"num\">TNR</th>\
        <th class=\"num\">Test acc.<br><span class=\"sub\">(infringing)</span></th><th class=\"num\">Acc. drop<br><span class=\"sub\">(points)</span></th></tr>\n</thead>\n<tbody>\n");
    if ms.is_empty() {
        h.push_str("<tr><td colspan=\"13\" class=\"empty\">No methods were evaluated.</td></tr>\n");
    }
    for (i, m) in ms.iter().enumerate() {
        let cell = |h: &mut String, k: usize, text: String| {
            let class = if best[k][i] { "num best" } else { "num" };
            let _ = write!(h, "<td class=\"{class}\">{text}</td>");
        };
        let _ = write!(
            h,
            "<tr><td class=\"method\"><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            hex(method_color(i)),
            esc(&method_name(&m.method)),
            m.n_infringing,
            m.n_clean
        );
        let ci = if m.auroc_ci.0.is_finite() && m.auroc_ci.1.is_finite() {
            format!(
                "<br><span class=\"sub\">[{:.3}, {:.3}]</span>",
                m.auroc_ci.0, m.auroc_ci.1
            )
        } else {
            String::new()
        };
        cell(h, 0, format!("{}{ci}", fnum(m.auroc, 3)));
        cell(h, 1, pct(m.tpr));
        cell(h, 2, pct(m.tnr));
        cell(h, 3, pct_opt(m.tpr_at_1pct_fpr));
        cell(h, 4, pct_opt(m.tpr_at_01pct_fpr));
        cell(h, 5, fopt(m.tau_auroc, 3));
        cell(h, 6, pct_opt(m.tau_tpr));
        cell(h, 7, pct_opt(m.tau_tnr));
        cell(h, 8, pct(m.infringing_test_accuracy));
        let drop_text = match (m.accuracy_drop_points, m.accuracy_drop_ci95) {
            (Some(d), Some((lo, hi))) if d.is_finite() => format!("{d:.2} [{lo:.2}, {hi:.2}] ({} pairs)", m.accuracy_drop_pairs),
            (Some(d), _) if d.is_finite() => format!("{d:.2} ({} pair{})", m.accuracy_drop_pairs, if m.accuracy_drop_pairs == 1 { "" } else { "s" }),
            _ => DASH.to_string(),
        };
        cell(h, 9, drop_text);
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</div>\n");

    // Stealthiness.
    let st = &r.stealth;
    h.push_str("<h3>Stealthiness of the released HoneyImages</h3>\n");
    h.push_str("<table id=\"stealth-table\" class=\"data compact\">\n<thead><tr><th>Measure</th><th class=\"num\">Value</th><th>Meaning</th></tr></thead>\n<tbody>\n");
    let row = |h: &mut String, name: &str, value: String, meaning: &str| {
        let _ = writeln!(h, "<tr><td>{name}</td><td class=\"num\">{value}</td><td class=\"muted\">{meaning}</td></tr>");
    };
    row(
        h,
        "SSIM (mean)",
        fnum(st.ssim_mean, 4),
        "structural similarity to the original; 1 = identical",
    );
    row(
        h,
        "SSIM (min)",
        fnum(st.ssim_min, 4),
        "the least similar released image",
    );
    row(
        h,
        "PSNR (mean)",
        if st.psnr_mean.is_finite() {
            format!("{:.2} dB", st.psnr_mean)
        } else {
            DASH.into()
        },
        "higher = smaller change",
    );
    row(
        h,
        "L∞ (max)",
        format!("{}/255", st.linf_max),
        "largest change of any pixel value",
    );
    let lpips = match st.lpips_stl {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(_) => DASH.into(),
        None => {
            "<span class=\"muted\">not measured (pass <code>--lpips-weights</code>)</span>".into()
        }
    };
    row(
        h,
        "LPIPS-STL",
        lpips,
        "1 − LPIPS(AlexNet); 1 = perceptually identical",
    );
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// Wraps a plot's SVG (or the reason it is missing) for embedding.
fn embed_svg(result: Result<String, String>) -> String {
    match result {
        // Inline SVG in HTML needs no namespace declaration; dropping it keeps
        // the page free of any URL.
        Ok(svg) => svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1),
        Err(e) => format!(
            "<p class=\"note\">This plot could not be drawn: {}</p>",
            esc(&e)
        ),
    }
}

fn draw_svg(f: impl FnOnce(&mut String) -> PlotResult) -> Result<String, String> {
    let mut s = String::new();
    // Plotters should not panic on finite data, but a report must not take the
    // evaluation down with it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut s)));
    match outcome {
        Ok(Ok(())) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the plotting library panicked".into()),
    }
}

fn section_roc(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>ROC curves</h2>\n");
    h.push_str("<p class=\"note\">Each curve ranks that method's suspects by the exact test's statistic (−log<sub>10</sub> p). The dashed diagonal is a coin flip; a perfect detector hugs the top-left corner.</p>\n");
    let size = (720, 540);
    let svg = draw_svg(|buf| roc_plot(buf, size, &r.methods));
    let _ = writeln!(
        h,
        "<div id=\"roc-plot\" class=\"plot\">{}</div>",
        embed_svg(svg)
    );
    h.push_str("</section>\n");
}

fn roc_plot(buf: &mut String, size: (u32, u32), methods: &[MethodSummary]) -> PlotResult {
    let root = SVGBackend::with_string(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(54)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.01f64..1.01f64, -0.01f64..1.01f64)?;
    chart
        .configure_mesh()
        .x_desc("False-positive rate (clean models flagged)")
        .y_desc("True-positive rate (infringing models flagged)")
        .axis_desc_style((FONT, 19))
        .label_style((FONT, 16))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .bold_line_style(RGBColor(0xe9, 0xec, 0xef))
        .light_line_style(TRANSPARENT)
        .axis_style(REF_GREY)
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        6,
        5,
        REF_GREY.stroke_width(1),
    ))?;
    if methods.iter().all(|m| m.roc.is_empty()) {
        chart.draw_series(std::iter::once(Text::new(
            "no ROC data",
            (0.38, 0.55),
            (FONT, 22).into_font().color(&REF_GREY),
        )))?;
    }
    for (i, m) in methods.iter().enumerate() {
        let pts: Vec<(f64, f64)> = m
            .roc
            .iter()
            .filter(|p| p.fpr.is_finite() && p.tpr.is_finite())
            .map(|p| (p.fpr.clamp(0.0, 1.0), p.tpr.clamp(0.0, 1.0)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let color = method_color(i);
        // The first method (HoneyImage) is drawn thickest so that it still
        // shows where curves coincide.
        let width = if i == 0 { 5 } else { 2 };
        let label = format!("{}  AUROC {}", method_name(&m.method), fnum(m.auroc, 3));
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(width)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
    }
    if methods.iter().any(|m| !m.roc.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(12)
            .legend_area_size(30)
            .background_style(WHITE.mix(0.92))
            .border_style(RGBColor(0xce, 0xd4, 0xda))
            .label_font((FONT, 18))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn section_histograms(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>Where the suspects fall</h2>\n");
    let thr = threshold(r.alpha);
    let _ = writeln!(
        h,
        "<p class=\"note\">Distribution of the test statistic −log<sub>10</sub> p over each method's suspects; models right of the dashed line (p &lt; α) are flagged.</p>\n\
         <p class=\"legend\"><span><span class=\"chip\" style=\"background:{}\"></span>infringing</span> \
         <span><span class=\"chip\" style=\"background:{}\"></span>clean</span> \
         <span><span class=\"dash\"></span><span>threshold −log<sub>10</sub> α = {}</span></span></p>",
        hex(INFRINGING),
        hex(CLEAN),
        thr.map_or_else(|| DASH.to_string(), trim_num)
    );
    h.push_str("<div id=\"histograms\" class=\"grid-plots\">\n");
    if r.methods.is_empty() {
        h.push_str("<p class=\"note\">No methods were evaluated.</p>\n");
    }
    for (i, m) in r.methods.iter().enumerate() {
        let mut inf = Vec::new();
        let mut clean = Vec::new();
        for s in r.suspects.iter().filter(|s| s.method == m.method) {
            let v = statistic(s);
            if v.is_nan() {
                continue;
            }
            if is_infringing(&s.role) {
                inf.push(v);
            } else if is_clean(&s.role) {
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
            method_name(&m.method),
            inf.len(),
            clean.len()
        );
        let svg =
            draw_svg(|buf| histogram_plot(buf, size, &title, method_color(i), &inf, &clean, thr));
        let _ = writeln!(h, "<div class=\"plot\">{}</div>", embed_svg(svg));
    }
    h.push_str("</div>\n</section>\n");
}

fn histogram_plot(
    buf: &mut String,
    size: (u32, u32),
    title: &str,
    title_color: RGBColor,
    inf: &[f64],
    clean: &[f64],
    thr: Option<f64>,
) -> PlotResult {
    // Range: finite values and the threshold; infinite statistics (p = 0)
    // go in the last bin.
    let finite_max = inf
        .iter()
        .chain(clean)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(thr.unwrap_or(0.0));
    let x_max = if finite_max > 0.0 {
        finite_max * 1.06
    } else {
        1.0
    };
    let finite_min = inf
        .iter()
        .chain(clean)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::min);
    let x_min = finite_min.min(0.0);
    let bins = 24usize;
    let width = (x_max - x_min) / bins as f64;
    let bin_of = |v: f64| -> usize {
        if v.is_infinite() {
            if v > 0.0 {
                bins - 1
            } else {
                0
            }
        } else {
            (((v - x_min) / width).floor().max(0.0) as usize).min(bins - 1)
        }
    };
    let count = |vals: &[f64]| {
        let mut c = vec![0usize; bins];
        for &v in vals {
            c[bin_of(v)] += 1;
        }
        c
    };
    let (ci, cc) = (count(inf), count(clean));
    let y_max = ci.iter().chain(&cc).copied().max().unwrap_or(0).max(1) as f64 * 1.18;

    let root = SVGBackend::with_string(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .caption(title, (FONT, 19).into_font().color(&title_color))
        .x_label_area_size(48)
        .y_label_area_size(50)
        .build_cartesian_2d(x_min..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("−log10 p")
        .y_desc("suspects")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&|v| trim_num(*v))
        .y_label_formatter(&|v| {
            if v.fract().abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .bold_line_style(RGBColor(0xe9, 0xec, 0xef))
        .light_line_style(TRANSPARENT)
        .disable_x_mesh()
        .axis_style(REF_GREY)
        .draw()?;
    // The legend is HTML above the grid, shared by all panels.
    for (counts, color) in [(&cc, CLEAN), (&ci, INFRINGING)] {
        let fill = color.mix(0.55).filled();
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(b, &c)| {
                    let x0 = x_min + b as f64 * width;
                    Rectangle::new(
                        [(x0 + width * 0.04, 0.0), (x0 + width * 0.96, c as f64)],
                        fill,
                    )
                }),
        )?;
    }
    if let Some(t) = thr {
        chart.draw_series(DashedLineSeries::new(
            vec![(t, 0.0), (t, y_max)],
            5,
            4,
            RGBColor(0x21, 0x25, 0x29).stroke_width(2),
        ))?;
    }
    if inf.is_empty() && clean.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "no suspects",
            (x_min + (x_max - x_min) * 0.4, y_max * 0.5),
            (FONT, 20).into_font().color(&REF_GREY),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// Axis tick label without needless decimals.
fn trim_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn section_curve(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>Training length</h2>\n");
    let points: Vec<&CurvePoint> = r.curve.iter().collect();
    if points.is_empty() {
        h.push_str("<div id=\"curve-plot\"><p class=\"note\">No training-length curve was recorded in this run.</p></div>\n</section>\n");
        return;
    }
    h.push_str("<p class=\"note\">How verification power grows as a suspect trains longer on the release. Left: median p-value (as −log<sub>10</sub> p; up is more significant) of infringing and clean suspects. Right: AUROC of HoneyImage and the infringing models' training accuracy.</p>\n");
    let size = (1060, 360);
    let thr = threshold(r.alpha);
    let svg = draw_svg(|buf| curve_plot(buf, size, &points, thr));
    let _ = writeln!(
        h,
        "<div id=\"curve-plot\" class=\"plot\">{}</div>",
        embed_svg(svg)
    );
    h.push_str("</section>\n");
}

fn neg_log10(p: f64) -> f64 {
    if p.is_finite() && p > 0.0 {
        -p.log10()
    } else if p == 0.0 {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

fn curve_plot(
    buf: &mut String,
    size: (u32, u32),
    points: &[&CurvePoint],
    thr: Option<f64>,
) -> PlotResult {
    let mut pts: Vec<&CurvePoint> = points.to_vec();
    pts.sort_by_key(|p| p.epoch);
    let e_min = pts.first().map_or(0, |p| p.epoch) as f64;
    let e_max = pts.last().map_or(1, |p| p.epoch) as f64;
    let (x0, x1) = if e_max > e_min {
        let pad = (e_max - e_min) * 0.03;
        (e_min - pad, e_max + pad)
    } else {
        (e_min - 0.5, e_min + 0.5)
    };
    let series = |f: &dyn Fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
        pts.iter()
            .map(|p| (p.epoch as f64, f(p)))
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let inf = series(&|p| neg_log10(p.median_p_infringing));
    let clean = series(&|p| neg_log10(p.median_p_clean));
    let auroc = series(&|p| p.auroc);
    let acc = series(&|p| p.mean_train_accuracy);
    let y_top = inf
        .iter()
        .chain(&clean)
        .map(|p| p.1)
        .fold(thr.unwrap_or(1.0), f64::max)
        * 1.12;
    let y_bottom = inf.iter().chain(&clean).map(|p| p.1).fold(0.0f64, f64::min);
    let x_fmt = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };

    let root = SVGBackend::with_string(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(size.0 / 2);

    let mut chart = ChartBuilder::on(&left)
        .margin(14)
        .caption("Median significance", (FONT, 20))
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, y_bottom..y_top)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("−log10 median p")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| trim_num(*v))
        .bold_line_style(RGBColor(0xe9, 0xec, 0xef))
        .light_line_style(TRANSPARENT)
        .axis_style(REF_GREY)
        .draw()?;
    if let Some(t) = thr {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, t), (x1, t)],
                5,
                4,
                RGBColor(0x21, 0x25, 0x29).stroke_width(1),
            ))?
            .label("α threshold")
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    RGBColor(0x21, 0x25, 0x29).stroke_width(1),
                )
            });
    }
    for (data, color, name) in [(&inf, INFRINGING, "infringing"), (&clean, CLEAN, "clean")] {
        chart
            .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(3)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        chart.draw_series(data.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(8)
        .legend_area_size(24)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xce, 0xd4, 0xda))
        .label_font((FONT, 16))
        .draw()?;

    let y_lo = auroc
        .iter()
        .chain(&acc)
        .map(|p| p.1)
        .fold(0.4f64, f64::min)
        .max(0.0)
        - 0.02;
    let mut chart = ChartBuilder::on(&right)
        .margin(14)
        .caption("AUROC and training accuracy", (FONT, 20))
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, y_lo..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("AUROC / accuracy")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .bold_line_style(RGBColor(0xe9, 0xec, 0xef))
        .light_line_style(TRANSPARENT)
        .axis_style(REF_GREY)
        .draw()?;
    let honey = METHOD_COLORS[0];
    chart
        .draw_series(LineSeries::new(
            auroc.iter().copied(),
            honey.stroke_width(3),
        ))?
        .label("AUROC (HoneyImage)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], honey.stroke_width(3)));
    chart.draw_series(auroc.iter().map(|&p| Circle::new(p, 4, honey.filled())))?;
    let grey = REF_GREY;
    chart
        .draw_series(DashedLineSeries::new(
            acc.iter().copied(),
            6,
            4,
            grey.stroke_width(2),
        ))?
        .label("train accuracy (infringing)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .margin(8)
        .legend_area_size(24)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xce, 0xd4, 0xda))
        .label_font((FONT, 16))
        .draw()?;
    root.present()?;
    Ok(())
}

fn section_suspects(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>Suspect models</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">{} in total. Rows where the verdict contradicts the suspect's role are tinted red.</p>",
        plural(r.suspects.len(), "suspect", "suspects")
    );
    h.push_str("<div class=\"scroll tall\">\n<table id=\"suspects-table\" class=\"data\">\n<thead><tr><th>Name</th><th>Role</th><th>Arch</th>\
        <th class=\"num\">Seed</th><th class=\"num\">Epochs</th><th class=\"num\">Train acc.</th><th class=\"num\">Test acc.</th>\
        <th class=\"num\">p-value</th><th>Verdict</th></tr></thead>\n<tbody>\n");
    if r.suspects.is_empty() {
        h.push_str("<tr><td colspan=\"9\" class=\"empty\">No suspects were evaluated.</td></tr>\n");
    }
    for s in &r.suspects {
        let wrong = (is_infringing(&s.role) && !s.verdict) || (is_clean(&s.role) && s.verdict);
        let note = if !wrong {
            ""
        } else if s.verdict {
            " <span class=\"wrong\">false alarm</span>"
        } else {
            " <span class=\"wrong\">missed</span>"
        };
        let badge = if s.verdict {
            "<span class=\"badge flagged\">flagged</span>"
        } else {
            "<span class=\"badge cleared\">not flagged</span>"
        };
        let role_class = if is_infringing(&s.role) {
            "role-inf"
        } else if is_clean(&s.role) {
            "role-clean"
        } else {
            "role-other"
        };
        let _ = writeln!(
            h,
            "<tr{}><td class=\"name\">{}</td><td><span class=\"role {role_class}\">{}</span></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num mono\">{}</td><td>{badge}{note}</td></tr>",
            if wrong { " class=\"wrong-row\"" } else { "" },
            // Break long names after a slash only when space runs out.
            esc(&s.name).replace('/', "/<wbr>"),
            esc(&s.role),
            esc(&s.arch),
            s.seed,
            s.epochs,
            pct(s.train_accuracy),
            pct(s.test_accuracy),
            pval(s.p_value),
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn section_examples(h: &mut String, r: &EvalResults) {
    h.push_str("<section>\n<h2>What the HoneyImages look like</h2>\n");
    h.push_str("<p class=\"note\">Original, released HoneyImage, and the difference |HoneyImage − original| amplified 32× (largest change over the colour channels).</p>\n");
    // Colour bar of the difference heat map, from the same colour map.
    let stops: Vec<String> = (0..=8)
        .map(|k| hex_rgb(heat((k * 255 / 8) as u8)))
        .collect();
    let _ = writeln!(
        h,
        "<p class=\"legend\"><span>difference</span> <span class=\"colorbar\" style=\"background:linear-gradient(to right,{})\"></span> \
         <span class=\"muted\">0 (unchanged) → 4 → ≥ 8 grey levels</span></p>",
        stops.join(",")
    );
    h.push_str("<div id=\"examples\">\n");
    if r.examples.is_empty() {
        h.push_str("<p class=\"note\">No examples were recorded in this run.</p>\n");
    }
    for ex in &r.examples {
        let img = |png: Option<String>, alt: &str| match png {
            Some(uri) => format!("<img src=\"{uri}\" alt=\"{alt}\">"),
            None => format!("<div class=\"missing\" title=\"{alt}\">{DASH}</div>"),
        };
        let orig = png_data_uri(ex, &ex.original);
        let honey = png_data_uri(ex, &ex.honey);
        let diff = diff_data_uri(ex);
        let _ = writeln!(
            h,
            "<figure class=\"example\"><figcaption>{}</figcaption><div class=\"triple\">\
             <div>{}<span>original</span></div><div>{}<span>HoneyImage</span></div><div>{}<span>|Δ| × 32</span></div></div></figure>",
            esc(&ex.class_name),
            img(orig, "original"),
            img(honey, "HoneyImage"),
            img(diff, "difference"),
        );
    }
    h.push_str("</div>\n</section>\n");
}

/// Checks an example's geometry against a pixel buffer.
fn valid_pixels(ex: &Example, pixels: &[u8]) -> bool {
    ex.width > 0
        && ex.height > 0
        && ex.width <= 4096
        && ex.height <= 4096
        && (1..=4).contains(&ex.channels)
        && ex
            .width
            .checked_mul(ex.height)
            .and_then(|n| n.checked_mul(ex.channels))
            == Some(pixels.len())
}

fn png_data_uri(ex: &Example, pixels: &[u8]) -> Option<String> {
    if !valid_pixels(ex, pixels) {
        return None;
    }
    let color = match ex.channels {
        1 => image::ExtendedColorType::L8,
        2 => image::ExtendedColorType::La8,
        3 => image::ExtendedColorType::Rgb8,
        _ => image::ExtendedColorType::Rgba8,
    };
    encode_png(pixels, ex.width as u32, ex.height as u32, color)
}

fn encode_png(pixels: &[u8], w: u32, h: u32, color: image::ExtendedColorType) -> Option<String> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(pixels, w, h, color)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    ))
}

/// The amplified difference as an "inferno"-like heat map (RGB PNG).
fn diff_data_uri(ex: &Example) -> Option<String> {
    if !valid_pixels(ex, &ex.original) || !valid_pixels(ex, &ex.honey) {
        return None;
    }
    let c = ex.channels;
    let colour_channels = if c == 2 || c == 4 { c - 1 } else { c };
    let mut rgb = Vec::with_capacity(ex.width * ex.height * 3);
    for (o, hp) in ex.original.chunks_exact(c).zip(ex.honey.chunks_exact(c)) {
        let d = o[..colour_channels]
            .iter()
            .zip(&hp[..colour_channels])
            .map(|(a, b)| a.abs_diff(*b) as u32)
            .max()
            .unwrap_or(0);
        rgb.extend_from_slice(&heat((d * 32).min(255) as u8));
    }
    encode_png(
        &rgb,
        ex.width as u32,
        ex.height as u32,
        image::ExtendedColorType::Rgb8,
    )
}

fn heat(v: u8) -> [u8; 3] {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [0.0, 0.0, 4.0]),
        (0.25, [87.0, 16.0, 110.0]),
        (0.5, [188.0, 55.0, 84.0]),
        (0.75, [249.0, 142.0, 9.0]),
        (1.0, [252.0, 255.0, 164.0]),
    ];
    let t = v as f64 / 255.0;
    let i = STOPS
        .iter()
        .rposition(|(s, _)| *s <= t)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (t0, c0) = STOPS[i];
    let (t1, c1) = STOPS[i + 1];
    let f = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
    let mix = |k: usize| (c0[k] + (c1[k] - c0[k]) * f).round() as u8;
    [mix(0), mix(1), mix(2)]
}

fn section_footer(h: &mut String, r: &EvalResults) {
    let pretty =
        |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    h.push_str("<footer>\n");
    let _ = writeln!(
        h,
        "<details><summary>Versions</summary><pre>{}</pre></details>",
        esc(&pretty(&r.versions))
    );
    let _ = writeln!(
        h,
        "<details><summary>Full configuration</summary><pre>{}</pre></details>",
        esc(&pretty(&r.config))
    );
    let _ = writeln!(
        h,
        "<p class=\"muted\">Generated by honeyimage {} · HoneyImage: dataset ownership verification (arXiv 2508.00892).</p>",
        env!("CARGO_PKG_VERSION")
    );
    h.push_str("</footer>\n");
}

const CSS: &str = r#"
:root { --fg: #212529; --muted: #6c757d; --line: #dee2e6; --stripe: #f8f9fa; --accent: #e67700;
        --inf: #e8590c; --clean: #1c7ed6; --good: #2b8a3e; --bad: #c92a2a; }
* { box-sizing: border-box; }
html { background: #f1f3f5; }
body { margin: 0; color: var(--fg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif; }
main { max-width: 1100px; margin: 24px auto; padding: 28px 36px 20px; background: #fff;
       border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { font-size: 28px; margin: 0 0 10px; letter-spacing: -0.01em; }
h1::before { content: ""; display: inline-block; width: 14px; height: 14px; margin-right: 10px;
             background: var(--accent); border-radius: 3px; transform: rotate(45deg) translateY(-3px); }
h2 { font-size: 20px; margin: 0 0 6px; padding-top: 6px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
section { margin-top: 30px; padding-top: 16px; border-top: 1px solid var(--line); }
.summary { font-size: 16.5px; margin: 0 0 18px; max-width: 88ch; }
.meta { color: var(--muted); font-size: 13px; margin: 14px 0 0; }
.meta code { background: var(--stripe); border: 1px solid var(--line); border-radius: 4px; padding: 0 5px;
             margin-right: 4px; font-size: 12px; color: var(--fg); white-space: nowrap; }
.meta-label { font-weight: 600; color: var(--fg); }
.note { color: var(--muted); font-size: 13.5px; margin: 0 0 12px; }
.muted { color: var(--muted); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--stripe);
        border-left: 5px solid var(--line); }
.tile .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .label { font-size: 12.5px; color: var(--muted); }
.tile.good { border-left-color: var(--good); } .tile.good .value { color: var(--good); }
.tile.bad { border-left-color: var(--bad); } .tile.bad .value { color: var(--bad); }
.tile.warn { border-left-color: var(--accent); } .tile.warn .value { color: var(--accent); }
.scroll { overflow-x: auto; }
.scroll.tall { max-height: 640px; overflow-y: auto; border: 1px solid var(--line); border-radius: 6px; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
table.data.compact { width: auto; min-width: 60%; }
table.data th, table.data td { padding: 6px 7px; text-align: left; border-bottom: 1px solid var(--line); }
table.data thead th { background: #fff; font-weight: 600; border-bottom: 2px solid #adb5bd;
                      position: sticky; top: 0; z-index: 1; }
table.data tr.group th { border-bottom: 1px solid var(--line); text-align: center; color: var(--muted);
                         font-weight: 600; font-size: 12.5px; letter-spacing: .02em; position: static; }
table.data tbody tr:nth-child(even) { background: var(--stripe); }
table.data tbody tr:hover { background: #fff4e6; }
table.data td.num, table.data th.num { text-align: right; white-space: nowrap; }
table.data thead th { vertical-align: bottom; line-height: 1.25; }
td.best { font-weight: 700; background: rgba(43,138,62,.10); }
.best-key { font-weight: 700; background: rgba(43,138,62,.12); padding: 0 4px; border-radius: 3px; }
td.empty { text-align: center; color: var(--muted); padding: 18px; }
td.method { font-weight: 600; white-space: nowrap; }
td.name { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
td.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.sub { color: var(--muted); font-weight: 400; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.flagged { background: #fff0e6; color: #c2410c; border: 1px solid #ffc9a8; }
.badge.cleared { background: #e7f1fb; color: #1864ab; border: 1px solid #b6d4f2; }
.role { font-size: 12.5px; white-space: nowrap; }
#suspects-table td { white-space: nowrap; }
.legend { font-size: 13px; color: var(--fg); margin: -4px 0 10px; display: flex; align-items: center; gap: 18px; flex-wrap: wrap; }
.legend > span { display: inline-flex; align-items: baseline; gap: 6px; }
.chip { display: inline-block; width: 14px; height: 11px; border-radius: 2px; opacity: .7; }
.dash { display: inline-block; width: 22px; border-top: 2px dashed #212529; transform: translateY(-4px); }
.colorbar { display: inline-block; width: 160px; height: 11px; border-radius: 2px; border: 1px solid var(--line); }
.role-inf { color: var(--inf); } .role-clean { color: var(--clean); } .role-other { color: var(--muted); }
.wrong { color: var(--bad); font-size: 12px; font-weight: 600; margin-left: 6px; }
tr.wrong-row td { background: #fff5f5 !important; }
.key-inf { color: var(--inf); font-weight: 600; } .key-clean { color: var(--clean); font-weight: 600; }
.plot { text-align: center; }
.plot svg { max-width: 100%; height: auto; }
.grid-plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(470px, 1fr)); gap: 10px; }
#examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(310px, 1fr)); gap: 14px; }
figure.example { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: var(--stripe); }
figure.example figcaption { font-weight: 600; margin-bottom: 8px; }
.triple { display: flex; gap: 10px; justify-content: space-between; }
.triple > div { display: flex; flex-direction: column; align-items: center; font-size: 12px; color: var(--muted); }
.triple img, .triple .missing { image-rendering: pixelated; width: 84px; height: auto; border-radius: 3px;
        border: 1px solid var(--line); background: #fff; margin-bottom: 4px; }
.triple .missing { height: 84px; display: flex; align-items: center; justify-content: center; }
footer { margin-top: 34px; padding-top: 14px; border-top: 1px solid var(--line); font-size: 13px; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--stripe); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      font-size: 12px; overflow-x: auto; max-height: 420px; }
"#;
