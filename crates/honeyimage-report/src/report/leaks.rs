//! The page of a leak investigation: which recipient's release a suspect
//! model trained on (`verify --keys`), or which release a found dataset
//! derives from (`trace`). One table row per recipient key, with its
//! p-value and the Holm-corrected one that decides, and for trace a grid of
//! matched images (found, original, the residual found - original
//! amplified, and the key's perturbation amplified the same way), so that a
//! person sees the mark the test measured. Self-contained like the
//! evaluation report.
use std::path::Path;

use maud::{html, Markup, DOCTYPE};
use serde::{Deserialize, Serialize};

use super::format::fnum;
use crate::{Error, Result};

/// One recipient key's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakRow {
    /// The recipient (or the key's file name).
    pub recipient: String,
    /// The key's own p-value.
    pub p_value: f64,
    /// Holm-corrected over all keys of the investigation.
    pub p_holm: f64,
    /// Whether `p_holm < alpha`.
    pub flagged: bool,
    /// Further cells, one per [`LeakPage::columns`].
    pub cells: Vec<String>,
}

/// One matched HoneyImage, as images of the key's size (HWC u8; the two
/// amplified images are centred on grey 128).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceExample {
    /// The recipient key it belongs to.
    pub recipient: String,
    /// Sample id in the key.
    pub id: String,
    /// Name of the found image.
    pub found_name: String,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Channels (1 or 3).
    pub channels: usize,
    /// The found image, aligned to the original.
    pub found: Vec<u8>,
    /// The original.
    pub original: Vec<u8>,
    /// Found minus original (after brightness/contrast fit), amplified.
    pub residual: Vec<u8>,
    /// The key's perturbation, amplified alike.
    pub perturbation: Vec<u8>,
    /// Mark score (partial correlation of the residual and the perturbation).
    pub score: f64,
    /// Correlation of found and original.
    pub similarity: f64,
}

/// The whole page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakPage {
    /// Page title.
    pub title: String,
    /// The verdict in one paragraph.
    pub summary: String,
    /// What was examined (a model, an endpoint, a folder).
    pub subject: String,
    /// Significance level (family-wise, over all keys).
    pub alpha: f64,
    /// Headers of the extra cells.
    pub columns: Vec<String>,
    /// One row per key.
    pub rows: Vec<LeakRow>,
    /// Further notes (one paragraph each).
    pub notes: Vec<String>,
    /// Matched images (trace only).
    pub examples: Vec<TraceExample>,
    /// How many times the residuals are amplified.
    pub gain: f64,
}

/// Renders the page (self-contained HTML).
pub fn render_leak_page(page: &LeakPage) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::head(&page.title))
            body { main {
                h1 { (page.title) }
                p.summary { (page.summary) }
                p.meta { span.meta-label { "Examined: " } code { (page.subject) } " α = " (page.alpha) " (family-wise, Holm over " (page.rows.len()) " keys)" }
                (table(page))
                @for n in &page.notes { p.note { (n) } }
                @if !page.examples.is_empty() { (grid(page)) }
            } }
        }
    }
    .into_string()
}

/// Writes [`render_leak_page`] atomically.
pub fn write_leak_page(page: &LeakPage, path: &Path) -> Result<()> {
    honeyimage_data::write_atomic(path, render_leak_page(page).as_bytes()).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

fn p_text(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.2e}")
    } else {
        fnum(p, 2)
    }
}

fn table(page: &LeakPage) -> Markup {
    html! {
        section { div.scroll { table.data.compact {
            thead { tr {
                th { "recipient" } th.num { "p" } th.num { "p (Holm)" } th { "verdict" }
                @for c in &page.columns { th.num { (c) } }
            } }
            tbody {
                @if page.rows.is_empty() { tr { td.empty colspan=(4 + page.columns.len()) { "no keys" } } }
                @for r in &page.rows {
                    tr {
                        td.name { (r.recipient) }
                        td.num { (p_text(r.p_value)) }
                        td.num { (p_text(r.p_holm)) }
                        @if r.flagged { td.best { "this recipient's release" } } @else { td.muted { "no evidence" } }
                        @for c in &r.cells { td.num { (c) } }
                    }
                }
            }
        } } }
    }
}

fn grid(page: &LeakPage) -> Markup {
    html! {
        section {
            h2 { "Matched HoneyImages" }
            p.note {
                "Each row: the found image (aligned to the original), the original, the residual found − original "
                "(after fitting the blur, brightness and contrast that best explain the found image), and the key's perturbation "
                "through the same blur, both amplified " (fnum(page.gain, 0)) "× around grey. "
                "A residual that looks like the perturbation is the mark surviving in the found copy."
            }
            div #examples.quads {
                @for ex in &page.examples {
                    figure.example {
                        figcaption { (ex.recipient) " · " (ex.id) " ← " (ex.found_name) " · score " (fnum(ex.score, 2)) }
                        div.triple {
                            @for (px, what) in [(&ex.found, "found"), (&ex.original, "original"), (&ex.residual, "residual"), (&ex.perturbation, "perturbation")] {
                                div {
                                    @match super::examples::png_uri(px, ex.width, ex.height, ex.channels) {
                                        Some(uri) => img src=(uri) alt=(what);,
                                        None => div.missing { "–" },
                                    }
                                    span { (what) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_shows_every_key_and_escapes_names() {
        let page = LeakPage {
            title: "Attribution".into(),
            summary: "r2 trained".into(),
            subject: "model <x>".into(),
            alpha: 0.001,
            columns: vec!["loss R".into()],
            rows: vec![
                LeakRow { recipient: "r1".into(), p_value: 0.5, p_holm: 1.0, flagged: false, cells: vec!["2.1".into()] },
                LeakRow { recipient: "r2".into(), p_value: 1e-9, p_holm: 2e-9, flagged: true, cells: vec!["0.4".into()] },
            ],
            notes: vec![],
            examples: vec![TraceExample {
                recipient: "r2".into(),
                id: "7".into(),
                found_name: "a.png".into(),
                height: 2,
                width: 2,
                channels: 1,
                found: vec![1, 2, 3, 4],
                original: vec![1, 2, 3, 4],
                residual: vec![128; 4],
                perturbation: vec![0; 3],
                score: 0.9,
                similarity: 0.99,
            }],
            gain: 16.0,
        };
        let html = render_leak_page(&page);
        assert!(html.contains("model &lt;x&gt;"));
        assert!(html.contains("2.00e-9") && html.contains("this recipient's release"));
        assert_eq!(html.matches("data:image/png").count(), 3, "the malformed image is a dash");
    }
}
