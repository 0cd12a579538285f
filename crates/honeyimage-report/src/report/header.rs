//! The top of the page, for the reader who stops there: the verdict in one
//! paragraph, the key numbers of the first method (HoneyImage) as tiles, and
//! the run's configuration, significance level and wall time on one line.

use maud::{html, Markup};

use crate::results::{EvalResults, MethodSummary};

use super::format::{alpha_str, duration, fnum};
use super::summary::{self, Counts};

/// The page header.
pub(super) fn section(r: &EvalResults) -> Markup {
    html! {
        header {
            h1 { "HoneyImage evaluation" }
            p.summary { (summary::text(r)) }
            @if let Some(m) = r.methods.first() {
                (tiles(r, m))
            }
            (meta_line(r))
        }
    }
}

fn tiles(r: &EvalResults, m: &MethodSummary) -> Markup {
    let c = Counts::of(r, m);
    let caught = if c.infringing > 0 && c.infringing_flagged == c.infringing {
        "good"
    } else if c.infringing_flagged == 0 {
        "bad"
    } else {
        "warn"
    };
    let false_alarms = if c.clean_flagged == 0 { "good" } else { "bad" };
    let caught_value = format!("{}/{}", c.infringing_flagged, c.infringing);
    let false_alarm_value = format!("{}/{}", c.clean_flagged, c.clean);
    let linf = format!("{}/255", r.stealth.linf_max);
    html! {
        div.tiles {
            (tile(Some(caught), &caught_value, "infringing models flagged"))
            (tile(Some(false_alarms), &false_alarm_value, "clean models falsely flagged"))
            (tile(None, &fnum(m.auroc, 3), &format!("{} AUROC", m.method.label())))
            (tile(None, &linf, "largest pixel change"))
            (tile(None, &fnum(r.stealth.ssim_mean, 4), "mean SSIM to the original"))
        }
    }
}

/// One key number; `mood` (`good`, `bad`, `warn`) colours it.
fn tile(mood: Option<&str>, value: &str, label: &str) -> Markup {
    let class = match mood {
        Some(mood) => format!("tile {mood}"),
        None => "tile".to_string(),
    };
    html! {
        div class=(class) {
            div.value { (value) }
            div.label { (label) }
        }
    }
}

/// The top-level scalar fields of the configuration, generically (the
/// configuration's type lives in the method crate).
fn config_items(config: &serde_json::Value) -> Vec<(String, String)> {
    let Some(obj) = config.as_object() else {
        return Vec::new();
    };
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => Some("null".into()),
        _ => None,
    };
    obj.iter()
        .filter_map(|(k, v)| Some((k.clone(), scalar(v)?)))
        .collect()
}

fn meta_line(r: &EvalResults) -> Markup {
    let items = config_items(&r.config);
    html! {
        p.meta {
            @if !items.is_empty() {
                span.meta-label { "Configuration" } " "
                @for (k, v) in &items {
                    code { (k) "=" (v) } " "
                }
                "· "
            }
            span.meta-label { "α" } " " (alpha_str(r.alpha)) " · "
            span.meta-label { "Wall time" } " " (duration(r.wall_seconds))
        }
    }
}
