//! The "Suspect models" section: every suspect judged by the main key with
//! its role, training, p-value and verdict, with the rows where the verdict
//! contradicts the role tinted. Further keys' judgements of the clean models
//! and attacked suspects are only counted here; they are summarised in the
//! key and robustness sections and listed in `results.csv`.

use maud::{html, Markup};

use crate::results::{EvalResults, SuspectResult};
use crate::Role;

use super::format::{pct, plural, pval};

/// The section.
pub(super) fn section(r: &EvalResults) -> Markup {
    let main: Vec<&SuspectResult> = r.main_key_suspects().collect();
    html! {
        section {
            h2 { "Suspect models" }
            p.note {
                (plural(main.len(), "suspect", "suspects"))
                " in total. Rows where the verdict contradicts the suspect's role are tinted red."
                (further_keys_note(r, main.len()))
            }
            div.scroll.tall {
                table #suspects-table .data {
                    thead {
                        tr {
                            th { "Name" } th { "Role" } th { "Arch" }
                            th.num { "Seed" } th.num { "Epochs" }
                            th.num { "Train acc." } th.num { "Test acc." }
                            th.num { "p-value" } th { "Verdict" }
                        }
                    }
                    tbody {
                        @if main.is_empty() {
                            tr { td.empty colspan="9" { "No suspects were evaluated." } }
                        }
                        @for s in &main { (row(s)) }
                    }
                }
            }
        }
    }
}

/// Where the rows of further keys and of attacked suspects went, when there
/// are any.
fn further_keys_note(r: &EvalResults, main: usize) -> Markup {
    let attacked = r.suspects.iter().filter(|s| !s.attack.is_empty()).count();
    let extra = r.suspects.len() - main - attacked;
    let mut keys: Vec<usize> = r
        .suspects
        .iter()
        .filter(|s| s.attack.is_empty())
        .map(|s| s.key)
        .filter(|&k| k > 0)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    html! {
        @if extra > 0 {
            " The main key's verdicts only: "
            (plural(extra, "further judgement", "further judgements"))
            " of clean models by " (plural(keys.len(), "further key", "further keys"))
            @if r.key_population.is_some() {
                " are summarised under " a href="#key-population" { "False positives over keys" }
                " and listed in results.csv."
            } @else {
                " are listed in results.csv."
            }
        }
        @if attacked > 0 {
            " Unattacked suspects only: " (plural(attacked, "attacked suspect", "attacked suspects"))
            @if r.robustness.is_empty() {
                " are listed in results.csv."
            } @else {
                " are summarised under " a href="#robustness" { "Robustness" }
                " and listed in results.csv."
            }
        }
    }
}

fn role_class(role: Role) -> &'static str {
    if role.is_infringing() {
        "role role-inf"
    } else if role.is_clean() {
        "role role-clean"
    } else {
        "role role-other"
    }
}

fn row(s: &SuspectResult) -> Markup {
    let missed = s.role.is_infringing() && !s.verdict;
    let false_alarm = s.role.is_clean() && s.verdict;
    html! {
        tr.wrong-row[missed || false_alarm] {
            // Long names break after a slash, only when space runs out.
            td.name {
                @for (i, part) in s.name.split('/').enumerate() {
                    @if i > 0 { "/" wbr; }
                    (part)
                }
            }
            td { span class=(role_class(s.role)) { (s.role) } }
            td { (s.arch) }
            td.num { (s.seed) }
            td.num { (s.epochs) }
            td.num { (pct(s.train_accuracy)) }
            td.num { (pct(s.test_accuracy)) }
            td.num.mono { (pval(s.p_value)) }
            td {
                @if s.verdict {
                    span.badge.flagged { "flagged" }
                } @else {
                    span.badge.cleared { "not flagged" }
                }
                @if false_alarm {
                    " " span.wrong { "false alarm" }
                } @else if missed {
                    " " span.wrong { "missed" }
                }
            }
        }
    }
}
