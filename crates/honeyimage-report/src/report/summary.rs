//! The plain-language verdict at the top of the page: who was caught, who was
//! falsely accused, how the baselines compare, and what the release cost in
//! accuracy and image quality, one sentence each.

use crate::results::{EvalResults, MethodSummary, Stealth};

use super::format::{alpha_str, fnum, pct, plural};

/// Verdict counts of one method's suspects.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub infringing: usize,
    pub infringing_flagged: usize,
    pub clean: usize,
    pub clean_flagged: usize,
}

impl Counts {
    /// Counts the suspects judged by `m` with the main key (a clean model
    /// judged by further keys counts once); without suspect rows, falls back
    /// to the summary's rates.
    pub fn of(results: &EvalResults, m: &MethodSummary) -> Counts {
        let mut c = Counts::default();
        for s in results.main_key_suspects().filter(|s| s.method == m.method) {
            if s.role.is_infringing() {
                c.infringing += 1;
                c.infringing_flagged += usize::from(s.verdict);
            } else if s.role.is_clean() {
                c.clean += 1;
                c.clean_flagged += usize::from(s.verdict);
            }
        }
        if c.infringing + c.clean == 0 {
            c = Counts::from_rates(m);
        }
        c
    }

    fn from_rates(m: &MethodSummary) -> Counts {
        let n = |rate: f64, total: usize| {
            if rate.is_finite() {
                (rate.clamp(0.0, 1.0) * total as f64).round() as usize
            } else {
                0
            }
        };
        Counts {
            infringing: m.n_infringing,
            infringing_flagged: n(m.tpr, m.n_infringing),
            clean: m.n_clean,
            clean_flagged: n(1.0 - m.tnr, m.n_clean),
        }
    }
}

/// The verdict paragraph (plain text; the template escapes it).
pub(super) fn text(r: &EvalResults) -> String {
    let Some(m) = r.methods.first() else {
        return no_method_text(r);
    };
    let c = Counts::of(r, m);
    let sentences = [
        Some(detection_sentence(&c, m, r.alpha)),
        outcome_sentence(&c),
        baselines_sentence(&r.methods[1..]),
        harmlessness_sentence(m),
        stealth_sentence(&r.stealth),
    ];
    sentences
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

fn no_method_text(r: &EvalResults) -> String {
    match r.main_key_suspects().count() {
        0 => "No suspect models were evaluated in this run.".into(),
        n => format!(
            "{} were evaluated, but no method summary was recorded.",
            plural(n, "suspect model", "suspect models")
        ),
    }
}

fn detection_sentence(c: &Counts, m: &MethodSummary, alpha: f64) -> String {
    let mut s = format!(
        "{} flagged {} of {} infringing models and {} of {} clean models at α = {}",
        m.method.label(),
        c.infringing_flagged,
        c.infringing,
        c.clean_flagged,
        c.clean,
        alpha_str(alpha)
    );
    if m.auroc.is_finite() {
        s += &format!(" (AUROC {:.3}", m.auroc);
        if m.auroc_ci.0.is_finite() && m.auroc_ci.1.is_finite() {
            s += &format!(", 95% CI {:.3}–{:.3}", m.auroc_ci.0, m.auroc_ci.1);
        }
        s.push(')');
    }
    s + "."
}

fn outcome_sentence(c: &Counts) -> Option<String> {
    let missed = c.infringing - c.infringing_flagged;
    if c.infringing > 0 && missed == 0 && c.clean_flagged == 0 {
        return Some(
            "Every model trained on the protected release was caught, and no clean model was falsely accused."
                .into(),
        );
    }
    let mut parts = Vec::new();
    if missed > 0 {
        parts.push(format!(
            "{} went undetected.",
            plural(missed, "infringing model", "infringing models")
        ));
    }
    if c.clean_flagged > 0 {
        parts.push(format!(
            "{} falsely flagged.",
            plural(c.clean_flagged, "clean model was", "clean models were")
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn baselines_sentence(baselines: &[MethodSummary]) -> Option<String> {
    let aurocs: Vec<String> = baselines
        .iter()
        .map(|b| format!("{} ({})", fnum(b.auroc, 3), b.method.label()))
        .collect();
    (!aurocs.is_empty()).then(|| {
        format!(
            "For comparison, the baselines reach AUROC {}.",
            aurocs.join(", ")
        )
    })
}

fn harmlessness_sentence(m: &MethodSummary) -> Option<String> {
    let d = m.accuracy_drop_points.filter(|d| d.is_finite())?;
    let mut s = if d > 0.05 {
        format!("Training on the release cost {d:.1} points of test accuracy on average")
    } else if d < -0.05 {
        format!(
            "Training on the release did not cost test accuracy ({:+.1} points on average)",
            -d
        )
    } else {
        "Training on the release left test accuracy unchanged on average".into()
    };
    if m.infringing_test_accuracy.is_finite() {
        s += &format!(
            " (infringing models: {} test accuracy)",
            pct(m.infringing_test_accuracy)
        );
    }
    Some(s + ".")
}

fn stealth_sentence(st: &Stealth) -> Option<String> {
    if !st.ssim_mean.is_finite() {
        return None;
    }
    let mut s = format!(
        "The released HoneyImages differ from the originals by at most {}/255 per pixel (mean SSIM {:.4}",
        st.linf_max, st.ssim_mean
    );
    if st.psnr_mean.is_finite() {
        s += &format!(", PSNR {:.1} dB", st.psnr_mean);
    }
    Some(s + ").")
}
