//! The "Robustness" section, shown when the run attacked its suspects: an
//! infringer who knows a dataset is marked will compress, filter, clean or
//! distil before training, or hide the model behind a label-only API. The
//! question a data owner asks is whether verification survives the attacks
//! that are cheap for the infringer, so the section opens with that count,
//! shows every (attack, method) pair as a heat map of TPR at α = 0.001, and
//! lists what each attack cost the attacker in test accuracy (and, for
//! cleaning attacks, what it removed) next to the clean models that went
//! through the same attack and must stay unflagged.

use maud::{html, Markup};

use crate::results::{AttackSummary, EvalResults, Removed};
use crate::Method;

use super::format::{alpha_str, fnum, p_short, pct, pct_fine, plural, DASH};

/// The significance level of the heat map and the finding.
const HEAT_ALPHA: f64 = 0.001;
/// The TPR at [`HEAT_ALPHA`] a method must keep to count as surviving an attack.
const KEEP_TPR: f64 = 0.9;
/// Test accuracy (points) below whose loss an attack is cheap for the
/// infringer, who would therefore happily use it.
const CHEAP_POINTS: f64 = 2.0;
/// The heat map's colour scale at TPR 0, 0.5 and 1: light red, light yellow,
/// green, all light enough for dark text.
const SCALE: [(u8, u8, u8); 3] = [(0xff, 0xc9, 0xc9), (0xff, 0xec, 0x99), (0x8c, 0xe9, 0x9a)];

/// The section, or nothing when the run recorded no attacks.
pub(super) fn section(r: &EvalResults) -> Markup {
    let rows = &r.robustness;
    if rows.is_empty() {
        return html! {};
    }
    let (finding, alarm) = finding(rows);
    let groups = grouped_attacks(rows);
    html! {
        section #robustness {
            h2 { "Robustness: the infringer's playbook" }
            p.finding.alarm[alarm] { (finding) }
            div.scroll { (heat_map(rows, &groups)) }
            (legend())
            h3 { "What each attack cost the attacker" }
            ul #robustness-costs .costs {
                @for (family, names) in &groups {
                    @for name in names {
                        @if let Some(a) = cost_row(rows, name) {
                            li { code { (name) } " (" (family) "): " (cost_text(a)) }
                        }
                    }
                }
            }
            (note(r.alpha))
        }
    }
}

/// The finding in one sentence, and whether it is an alarm (HoneyImage falls
/// below [`KEEP_TPR`] under a cheap attack, or an attacked clean model of any
/// method was flagged).
///
/// Rows without a TPR (no infringing suspects) are evidence neither way and
/// are not counted. An attack of unknown cost counts as cheap: not knowing
/// what it cost must not excuse a miss.
fn finding(rows: &[AttackSummary]) -> (String, bool) {
    let honey: Vec<&AttackSummary> = rows
        .iter()
        .filter(|a| a.method == Method::HoneyImage && a.tpr_001.is_finite())
        .collect();
    let cheap: Vec<&AttackSummary> = honey.iter().copied().filter(|a| is_cheap(a)).collect();
    let missed: Vec<&str> = cheap
        .iter()
        .filter(|a| a.tpr_001 < KEEP_TPR)
        .map(|a| a.attack.as_str())
        .collect();
    let alarm = !missed.is_empty() || rows.iter().any(|a| a.clean_flagged > 0);
    let s = format!(
        "{}; {}.",
        honey_clause(&honey, &cheap, &missed),
        clean_clause(rows)
    );
    (s, alarm)
}

/// How HoneyImage's TPR fares under the cheap attacks.
fn honey_clause(honey: &[&AttackSummary], cheap: &[&AttackSummary], missed: &[&str]) -> String {
    let keep = format!("TPR ≥ {KEEP_TPR} at α = {}", alpha_str(HEAT_ALPHA));
    if honey.is_empty() {
        return "No attack was measured against HoneyImage".into();
    }
    if cheap.is_empty() {
        let kept = honey.iter().filter(|a| a.tpr_001 >= KEEP_TPR).count();
        return format!(
            "Every attack cost the attacker at least {CHEAP_POINTS} points of test accuracy; \
             HoneyImage keeps {keep} under {kept} of {}",
            plural(honey.len(), "attack", "attacks")
        );
    }
    let unknown = cheap.iter().any(|a| !cost_points(a).is_finite());
    let (n, kept) = (cheap.len(), cheap.len() - missed.len());
    let what = format!(
        "{} the attacker less than {CHEAP_POINTS} points of test accuracy{}",
        if n == 1 {
            "attack that cost"
        } else {
            "attacks that cost"
        },
        if unknown {
            " (or an unknown amount)"
        } else {
            ""
        }
    );
    match (kept, n) {
        (1, 1) => format!("HoneyImage keeps {keep} under the one {what}"),
        (0, 1) => format!("HoneyImage does not keep {keep} under the one {what}"),
        (k, n) if k == n => format!("HoneyImage keeps {keep} under all {n} {what}"),
        (0, n) => format!("HoneyImage keeps {keep} under none of the {n} {what}"),
        (k, n) => format!(
            "HoneyImage keeps {keep} under {k} of {n} {what} (not under {})",
            and_list(missed)
        ),
    }
}

/// Whether the clean models given the same treatment stayed unflagged.
fn clean_clause(rows: &[AttackSummary]) -> String {
    let clean: usize = rows.iter().map(|a| a.clean).sum();
    let flagged: usize = rows.iter().map(|a| a.clean_flagged).sum();
    if flagged > 0 {
        let which: Vec<String> = rows
            .iter()
            .filter(|a| a.clean_flagged > 0)
            .map(|a| format!("{} under {}", a.method.label(), a.attack))
            .collect();
        let which: Vec<&str> = which.iter().map(String::as_str).collect();
        let verb = if flagged == 1 { "was" } else { "were" };
        format!(
            "{flagged} of {clean} attacked clean models {verb} flagged ({})",
            and_list(&which)
        )
    } else if clean == 0 {
        "no clean model was given the same treatment for comparison".into()
    } else {
        "no attacked clean model was flagged".into()
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the attack cost the infringer, in points of test accuracy (positive:
/// a loss; NaN: unknown).
fn cost_points(a: &AttackSummary) -> f64 {
    (a.base_test_accuracy - a.test_accuracy) * 100.0
}

/// Whether the attack cost less than [`CHEAP_POINTS`], or an unknown amount.
fn is_cheap(a: &AttackSummary) -> bool {
    let cost = cost_points(a);
    cost.is_nan() || cost < CHEAP_POINTS
}

/// The attacks in the order they first appear, grouped by family (families
/// in the order they first appear too).
fn grouped_attacks(rows: &[AttackSummary]) -> Vec<(&str, Vec<&str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for a in rows {
        if groups
            .iter()
            .any(|(_, names)| names.contains(&a.attack.as_str()))
        {
            continue;
        }
        match groups.iter_mut().find(|(family, _)| *family == a.family) {
            Some((_, names)) => names.push(&a.attack),
            None => groups.push((&a.family, vec![&a.attack])),
        }
    }
    groups
}

/// The methods in the order they first appear.
fn methods(rows: &[AttackSummary]) -> Vec<Method> {
    let mut methods = Vec::new();
    for a in rows {
        if !methods.contains(&a.method) {
            methods.push(a.method);
        }
    }
    methods
}

/// The row whose cost an attack's line reports: HoneyImage's, else the first.
fn cost_row<'a>(rows: &'a [AttackSummary], attack: &str) -> Option<&'a AttackSummary> {
    let mut of_attack = rows.iter().filter(|a| a.attack == attack);
    let first = of_attack.next()?;
    Some(
        std::iter::once(first)
            .chain(of_attack)
            .find(|a| a.method == Method::HoneyImage)
            .unwrap_or(first),
    )
}

fn heat_map(rows: &[AttackSummary], groups: &[(&str, Vec<&str>)]) -> Markup {
    let methods = methods(rows);
    let find = |name: &str, m: Method| rows.iter().find(|a| a.attack == name && a.method == m);
    html! {
        table #robustness-table .data.compact.heat {
            thead {
                tr {
                    th { "Attack" }
                    @for m in &methods { th.num { (m.label()) } }
                }
            }
            tbody {
                @for (family, names) in groups {
                    tr.family { th colspan=(1 + methods.len()) { (family) } }
                    @for name in names {
                        tr {
                            td.mono { (name) }
                            @for m in &methods { (heat_cell(find(name, *m))) }
                        }
                    }
                }
            }
        }
    }
}

/// One cell: TPR at α = 0.001 on its colour, the rest in the tooltip.
fn heat_cell(a: Option<&AttackSummary>) -> Markup {
    let Some(a) = a else {
        return html! { td.heat.muted title="not run" { (DASH) } };
    };
    let calibrated = a.calibrated.map_or(String::new(), |c| {
        format!(" · calibrated test: TPR {} (median p {}), {} of {} clean flagged", fnum(c.tpr, 2), p_short(c.median_p), c.clean_flagged, c.clean)
    });
    let title = format!(
        "TPR at α = 0.01: {} · median p: {} · AUROC: {} · {} infringing / {} of {} clean flagged{calibrated}",
        fnum(a.tpr_01, 2),
        p_short(a.median_p),
        fnum(a.auroc, 3),
        a.infringing,
        a.clean_flagged,
        a.clean
    );
    let style = heat_colour(a.tpr_001).map(|c| format!("background:{c}"));
    html! {
        td.heat style=[style] title=(title) {
            (fnum(a.tpr_001, 2))
            @if a.label_only { span.labels-mark { "labels" } }
        }
    }
}

/// The colour of a TPR on [`SCALE`] as `#rrggbb` (clamped to [0, 1]), or
/// none when there is no TPR.
fn heat_colour(tpr: f64) -> Option<String> {
    if !tpr.is_finite() {
        return None;
    }
    let t = tpr.clamp(0.0, 1.0) * 2.0;
    let (from, to, t) = if t <= 1.0 {
        (SCALE[0], SCALE[1], t)
    } else {
        (SCALE[1], SCALE[2], t - 1.0)
    };
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    Some(format!(
        "#{:02x}{:02x}{:02x}",
        mix(from.0, to.0),
        mix(from.1, to.1),
        mix(from.2, to.2)
    ))
}

/// The colour scale and the marks, under the heat map.
fn legend() -> Markup {
    let hex = |(r, g, b): (u8, u8, u8)| format!("#{r:02x}{g:02x}{b:02x}");
    let gradient = format!(
        "background:linear-gradient(to right, {}, {}, {})",
        hex(SCALE[0]),
        hex(SCALE[1]),
        hex(SCALE[2])
    );
    html! {
        div.legend {
            span { "TPR at α = " (alpha_str(HEAT_ALPHA)) ": 0" span.colorbar style=(gradient) {} "1" }
            span { span.labels-mark { "labels" } " the API answered with labels only" }
            span { (DASH) " not run" }
        }
    }
}

/// "test accuracy 85.1% → 84.3% (−0.8 points); clean models flagged 0 of 3",
/// then what a cleaning attack removed.
fn cost_text(a: &AttackSummary) -> String {
    let mut parts = vec![accuracy_text(a.base_test_accuracy, a.test_accuracy)];
    parts.push(if a.clean == 0 {
        "no clean model given the same treatment".into()
    } else {
        format!("clean models flagged {} of {}", a.clean_flagged, a.clean)
    });
    if let Some(removed) = a.removed {
        parts.push(removed_text(removed, a.method));
    }
    parts.join("; ")
}

/// "test accuracy 85.1% → 84.3% (−0.8 points)".
fn accuracy_text(base: f64, attacked: f64) -> String {
    if !base.is_finite() && !attacked.is_finite() {
        return "test accuracy not measured".into();
    }
    let mut s = format!("test accuracy {} → {}", pct(base), pct(attacked));
    let change = ((attacked - base) * 1000.0).round() / 10.0;
    if change == 0.0 {
        s += " (no change)";
    } else if change.is_finite() {
        let sign = if change < 0.0 { '−' } else { '+' };
        s += &format!(" ({sign}{:.1} points)", change.abs());
    }
    s
}

/// "removed 7.50% of the training set and 52.0% of the HoneyImages (6.9× the base rate)".
fn removed_text(r: Removed, method: Method) -> String {
    let mut s = format!("removed {} of the training set", pct_fine(r.all));
    if r.marked.is_finite() {
        let marked = match method {
            Method::HoneyImage => "the HoneyImages",
            _ => "the marked samples",
        };
        s += &format!(" and {} of {marked}", pct_fine(r.marked));
        let ratio = r.marked / r.all;
        if r.all > 0.0 && ratio.is_finite() {
            s += &format!(" ({ratio:.1}× the base rate)");
        }
    }
    s
}

fn note(run_alpha: f64) -> Markup {
    html! {
        p.note {
            "Each cell is the true-positive rate (TPR): the share of infringing models, trained on the release "
            "and then put through the attack, that the method flags at p < α = " (alpha_str(HEAT_ALPHA))
            " (α bounds the chance of flagging a model that never saw the release). Hover over a cell for the TPR at "
            "α = 0.01, the median p-value, the AUROC and the counts. Clean models given the same treatment were "
            "trained without the marked samples and went through the same attack; flagging one of them at the run's α = "
            (alpha_str(run_alpha)) " would be a false accusation. An attack's cost is the mean test accuracy of the "
            "attacked infringing models against the same architectures and seeds unattacked."
        }
        p.note {
            "Attacks: JPEG compression, bit-depth reduction and grayscale from Image Shortcut Squeezing "
            "(Liu et al., ICML 2023); loss and confidence filters and evasion attacks from DATABench (2025); "
            "mixup (Zhang et al., 2018), CutMix (Yun et al., 2019), PGD adversarial training (Madry et al., 2018), "
            "knowledge distillation (Hinton et al., 2015) and confident learning (Northcutt et al., 2021)."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row with every number set: TPR 0.95, base accuracy 85.1%, attacked 84.3%.
    fn row(attack: &str, family: &str, method: Method) -> AttackSummary {
        AttackSummary {
            attack: attack.into(),
            family: family.into(),
            method,
            calibrated: None,
            label_only: false,
            infringing: 4,
            tpr_001: 0.95,
            tpr_01: 1.0,
            median_p: 1.2e-5,
            auroc: 0.998,
            clean: 3,
            clean_flagged: 0,
            test_accuracy: 0.843,
            base_test_accuracy: 0.851,
            removed: None,
        }
    }

    fn honey(attack: &str, tpr_001: f64, cost_points: f64) -> AttackSummary {
        AttackSummary {
            tpr_001,
            test_accuracy: 0.851 - cost_points / 100.0,
            ..row(attack, "data", Method::HoneyImage)
        }
    }

    const KEEPS: &str = "HoneyImage keeps TPR ≥ 0.9 at α = 0.001 under";

    #[test]
    fn the_finding_counts_cheap_attacks_kept() {
        let mut rows = vec![
            honey("jpeg-q75", 0.95, 0.8),
            honey("grayscale", 0.6, 0.5),
            honey("pgd-at", 0.1, 9.0),
            honey("labels-only", 0.5, 0.0),
            honey("mixup", 1.0, -0.3),
        ];
        let (s, alarm) = finding(&rows);
        assert_eq!(
            s,
            format!(
                "{KEEPS} 2 of 4 attacks that cost the attacker less than 2 points of test accuracy \
                 (not under grayscale and labels-only); no attacked clean model was flagged."
            )
        );
        assert!(alarm);
        // Only the expensive attack is missed: no alarm.
        rows.retain(|a| a.tpr_001 >= 0.9 || a.attack == "pgd-at");
        let (s, alarm) = finding(&rows);
        assert!(
            s.starts_with(&format!("{KEEPS} all 2 attacks that cost")),
            "{s}"
        );
        assert!(!alarm, "{s}");
        let (s, alarm) = finding(&[honey("grayscale", 0.2, 0.5), honey("jpeg", 0.3, 1.0)]);
        assert!(
            s.starts_with(&format!("{KEEPS} none of the 2 attacks that cost")),
            "{s}"
        );
        assert!(alarm);
    }

    #[test]
    fn the_finding_handles_one_expensive_unknown_and_absent_attacks() {
        let (s, _) = finding(&[honey("jpeg-q75", 0.95, 0.8)]);
        assert!(
            s.starts_with(&format!(
                "{KEEPS} the one attack that cost the attacker less than 2 points"
            )),
            "{s}"
        );
        let (s, alarm) = finding(&[honey("jpeg-q75", 0.5, f64::NAN)]);
        assert!(
            s.starts_with("HoneyImage does not keep TPR ≥ 0.9 at α = 0.001 under the one attack that cost the attacker less than 2 points of test accuracy (or an unknown amount);"),
            "{s}"
        );
        assert!(alarm);
        let (s, alarm) = finding(&[honey("pgd-at", 0.5, 9.0), honey("distill", 0.95, 3.0)]);
        assert!(s.starts_with("Every attack cost the attacker at least 2 points of test accuracy; HoneyImage keeps TPR ≥ 0.9 at α = 0.001 under 1 of 2 attacks;"), "{s}");
        assert!(!alarm);
        // No HoneyImage row, and a HoneyImage row without a TPR: nothing to count.
        let (s, _) = finding(&[
            row("jpeg", "data", Method::BadNets),
            honey("x", f64::NAN, 0.0),
        ]);
        assert!(
            s.starts_with("No attack was measured against HoneyImage;"),
            "{s}"
        );
    }

    #[test]
    fn flagged_clean_models_are_counted_named_and_alarming() {
        let mut bad = row("jpeg-q75", "data", Method::BadNets);
        bad.clean_flagged = 1;
        let (s, alarm) = finding(&[honey("jpeg-q75", 0.95, 0.8), bad.clone()]);
        assert!(
            s.ends_with("; 1 of 6 attacked clean models was flagged (BadNets under jpeg-q75)."),
            "{s}"
        );
        assert!(alarm);
        let mut more = honey("mixup", 1.0, 0.0);
        more.clean_flagged = 2;
        let (s, _) = finding(&[more, bad]);
        assert!(s.ends_with("3 of 6 attacked clean models were flagged (HoneyImage under mixup and BadNets under jpeg-q75)."), "{s}");
        let mut lonely = honey("mixup", 1.0, 0.0);
        lonely.clean = 0;
        assert!(finding(&[lonely])
            .0
            .ends_with("no clean model was given the same treatment for comparison."));
    }

    #[test]
    fn heat_colours_run_from_light_red_to_green_and_nan_has_none() {
        assert_eq!(heat_colour(0.0).as_deref(), Some("#ffc9c9"));
        assert_eq!(heat_colour(0.5).as_deref(), Some("#ffec99"));
        assert_eq!(heat_colour(1.0).as_deref(), Some("#8ce99a"));
        assert_eq!(heat_colour(-0.2), heat_colour(0.0), "clamped");
        assert_eq!(heat_colour(1.7), heat_colour(1.0), "clamped");
        assert_eq!(heat_colour(f64::NAN), None);
        assert_eq!(heat_colour(f64::INFINITY), None);
        let nan = heat_cell(Some(&honey("jpeg", f64::NAN, 0.0))).into_string();
        assert!(
            nan.starts_with("<td class=\"heat\" title=") && nan.contains(&format!(">{DASH}</td>")),
            "{nan}"
        );
        let cell = heat_cell(Some(&AttackSummary {
            label_only: true,
            ..honey("jpeg", 0.95, 0.0)
        }))
        .into_string();
        assert!(cell.contains("style=\"background:#"), "{cell}");
        assert!(
            cell.contains(">0.95<span class=\"labels-mark\">labels</span></td>"),
            "{cell}"
        );
        assert!(cell.contains("TPR at α = 0.01: 1.00 · median p: 1.2e-5 · AUROC: 0.998 · 4 infringing / 0 of 3 clean flagged"), "{cell}");
        assert_eq!(
            heat_cell(None).into_string(),
            format!("<td class=\"heat muted\" title=\"not run\">{DASH}</td>")
        );
    }

    #[test]
    fn cost_lines_sign_the_accuracy_change() {
        assert_eq!(
            cost_text(&row("jpeg-q75", "data", Method::HoneyImage)),
            "test accuracy 85.1% → 84.3% (−0.8 points); clean models flagged 0 of 3"
        );
        assert_eq!(
            accuracy_text(0.851, 0.866),
            "test accuracy 85.1% → 86.6% (+1.5 points)"
        );
        assert_eq!(
            accuracy_text(0.851, 0.8512),
            "test accuracy 85.1% → 85.1% (no change)"
        );
        assert_eq!(
            accuracy_text(f64::NAN, 0.8),
            format!("test accuracy {DASH} → 80.0%")
        );
        assert_eq!(
            accuracy_text(f64::NAN, f64::NAN),
            "test accuracy not measured"
        );
    }

    #[test]
    fn removed_lines_compare_marked_with_all() {
        let r = Removed {
            all: 0.075,
            marked: 0.525,
        };
        assert_eq!(
            removed_text(r, Method::HoneyImage),
            "removed 7.50% of the training set and 52.5% of the HoneyImages (7.0× the base rate)"
        );
        assert_eq!(
            removed_text(
                Removed {
                    all: 0.0,
                    marked: 0.0
                },
                Method::RandomPgd
            ),
            "removed 0% of the training set and 0% of the marked samples"
        );
        assert_eq!(
            removed_text(
                Removed {
                    all: 0.05,
                    marked: f64::NAN
                },
                Method::HoneyImage
            ),
            "removed 5.00% of the training set"
        );
        let mut a = row("loss-filter-0p05-f4", "cleaning", Method::HoneyImage);
        a.removed = Some(r);
        assert!(cost_text(&a).ends_with("; clean models flagged 0 of 3; removed 7.50% of the training set and 52.5% of the HoneyImages (7.0× the base rate)"));
    }

    #[test]
    fn attacks_group_by_family_and_costs_prefer_honeyimage() {
        let rows = vec![
            row("jpeg", "data", Method::BadNets),
            row("mixup", "training", Method::BadNets),
            row("jpeg", "data", Method::HoneyImage),
            row("gray", "data", Method::HoneyImage),
        ];
        assert_eq!(
            grouped_attacks(&rows),
            [("data", vec!["jpeg", "gray"]), ("training", vec!["mixup"])]
        );
        assert_eq!(methods(&rows), [Method::BadNets, Method::HoneyImage]);
        assert_eq!(
            cost_row(&rows, "jpeg").map(|a| a.method),
            Some(Method::HoneyImage)
        );
        assert_eq!(
            cost_row(&rows, "mixup").map(|a| a.method),
            Some(Method::BadNets)
        );
        assert!(cost_row(&rows, "nope").is_none());
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
        assert!(section(&crate::testutil::results(vec![]))
            .into_string()
            .is_empty());
    }
}
