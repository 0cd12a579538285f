//! `honeyimage trace`: is a found dataset (images only, no model) derived
//! from one of our releases, and from whose? Exit 1 when some key is
//! implicated, 0 when none is, 2 on error.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::key::KeyBody;
use honeyimage::trace::{found, trace, TraceConfig, TraceOutcome};
use honeyimage_data::{Format, Split};

use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// One secret key written by `protect`.
    #[arg(long, required_unless_present = "keys", conflicts_with = "keys")]
    key: Option<PathBuf>,
    /// A key folder written by `protect --recipients` (every recipient is
    /// tested; Holm-corrected).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The found data: a dataset in any supported format, or a folder
    /// (searched recursively) of images of any size and encoding.
    #[arg(long)]
    data: PathBuf,
    /// Read the found data as this dataset format (default: detect, else a folder of images).
    #[arg(long)]
    format: Option<Format>,
    /// Only these splits of a found dataset (default: all it has).
    #[arg(long, value_delimiter = ',')]
    split: Vec<Split>,
    /// Family-wise significance level over all keys.
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Aligned correlation with an original from which a found image is a match.
    #[arg(long, default_value_t = TraceConfig::default().min_match)]
    min_match: f64,
    /// Largest crop, in pixels per side, tried when aligning a found image.
    #[arg(long, default_value_t = TraceConfig::default().max_crop)]
    max_crop: usize,
    /// Nearest neighbours (by thumbnail) examined for every key image.
    #[arg(long, default_value_t = TraceConfig::default().neighbours)]
    neighbours: usize,
    /// Largest Gaussian blur (pixels) tried to explain a found copy by
    /// (resampling and filtering blur; 0: brightness and contrast only).
    #[arg(long, default_value_t = TraceConfig::default().max_blur)]
    max_blur: f64,
    /// Write an HTML page: the per-key table and a grid of matched images.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Print a JSON document.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: crate::key_args::PassphraseArgs,
}

fn settings(args: &Args) -> Result<TraceConfig> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha {} must be in (0, 1)", args.alpha);
    }
    if !(args.min_match > 0.0 && args.min_match <= 1.0) {
        bail!("--min-match {} must be in (0, 1]", args.min_match);
    }
    if !(args.max_blur >= 0.0 && args.max_blur.is_finite()) {
        bail!("--max-blur {} must be a finite number >= 0", args.max_blur);
    }
    if args.neighbours == 0 {
        bail!("--neighbours must be at least 1");
    }
    Ok(TraceConfig { alpha: args.alpha, min_match: args.min_match, max_crop: args.max_crop, neighbours: args.neighbours, max_blur: args.max_blur, ..TraceConfig::default() })
}

/// The keys to test, named by recipient (or by the key file's name).
fn keys(args: &Args) -> Result<Vec<(String, KeyBody)>> {
    if let Some(folder) = &args.keys {
        return args.pass.load_key_folder(folder);
    }
    let path = args.key.as_ref().expect("clap requires --key or --keys");
    let key = args.pass.load_key(path)?;
    let name = key.recipient.clone().unwrap_or_else(|| path.file_stem().map_or("key".into(), |s| s.to_string_lossy().into_owned()));
    Ok(vec![(name, key)])
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    let cfg = settings(&args)?;
    let keys = keys(&args)?;
    let refs: Vec<(String, &KeyBody)> = keys.iter().map(|(n, k)| (n.clone(), k)).collect();
    let geometry = honeyimage::trace::geometry(&refs)?;
    ui.status(format!("reading {} at {}x{}...", args.data.display(), geometry.height, geometry.width));
    let found = found::read(&args.data, args.format, &args.split, geometry).with_context(|| format!("reading the found data {}", args.data.display()))?;
    ui.status(format!("{} images ({}); tracing {} key(s)", found.images.len(), found.read_as, keys.len()));
    for (file, why) in found.unreadable.iter().take(5) {
        eprintln!("warning: {file}: not readable ({why})");
    }
    if found.unreadable.len() > 5 {
        eprintln!("warning: {} more unreadable files", found.unreadable.len() - 5);
    }
    let outcome = trace(&refs, &found, &cfg)?;
    if let Some(path) = &args.report {
        honeyimage_report::write_leak_page(&page(&outcome, &args, &found), path)?;
    }
    if args.json {
        let mut doc = serde_json::to_value(&outcome)?;
        doc["data"] = serde_json::json!({ "path": args.data.display().to_string(), "read_as": found.read_as, "images": found.images.len(),
            "unreadable": found.unreadable.iter().map(|(f, why)| serde_json::json!({"file": f, "error": why})).collect::<Vec<_>>(), "other_files": found.other_files });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_text(&outcome, &args);
    }
    Ok(if outcome.attributed.is_empty() { ExitStatus::Success } else { ExitStatus::Trained })
}

fn print_text(o: &TraceOutcome, args: &Args) {
    println!("{}: {} images traced against {} key(s) (Holm-corrected, family-wise alpha {})", args.data.display(), o.found_images, o.keys.len(), o.alpha);
    println!("  {:<16} {:>10} {:>10}  {:>9} {:>9}  {:>7} {:>7}  verdict", "key", "p", "p (Holm)", "found R", "found W", "mark R", "mark W");
    for k in &o.keys {
        let verdict = if k.flagged { "derived from this release" } else { "no evidence" };
        println!(
            "  {:<16} {:>10.2e} {:>10.2e}  {:>9} {:>9}  {:>7.3} {:>7.3}  {verdict}",
            k.name,
            k.p_value,
            k.p_holm,
            format!("{}/{}", k.matched_released, k.released),
            format!("{}/{}", k.matched_withheld, k.withheld),
            k.median_mark_released,
            k.median_mark_withheld
        );
    }
    for k in o.keys.iter().filter(|k| k.flagged) {
        let shown: Vec<&str> = k.not_found.iter().take(10).map(String::as_str).collect();
        let more = if k.not_found.len() > 10 { format!(" and {} more", k.not_found.len() - 10) } else { String::new() };
        println!("{}: {} HoneyImages found; not found: {}{more}", k.name, k.matched_released, if shown.is_empty() { "none".into() } else { shown.join(", ") });
    }
    match o.attributed.as_slice() {
        [] => println!("trace: the found data do not derive from any of these releases (no evidence at alpha {})", o.alpha),
        names => println!("trace: the found data derive from the release of {}", names.join(", ")),
    }
    if let Some(k) = o.keys.first() {
        println!("test: {}", k.method);
    }
}

fn page(o: &TraceOutcome, args: &Args, found: &found::Found) -> honeyimage_report::LeakPage {
    let summary = match o.attributed.as_slice() {
        [] => format!("The found data do not derive from any of these {} release(s): no key reaches p < {} after Holm's correction.", o.keys.len(), o.alpha),
        names => format!("The found data derive from the release of {}.", names.join(" and ")),
    };
    honeyimage_report::LeakPage {
        title: "HoneyImage trace".into(),
        summary,
        subject: format!("{} ({}, {} images)", args.data.display(), found.read_as, o.found_images),
        alpha: o.alpha,
        columns: vec!["HoneyImages found".into(), "withheld twins found".into(), "median mark R".into(), "median mark W".into()],
        rows: o
            .keys
            .iter()
            .map(|k| honeyimage_report::LeakRow {
                recipient: k.name.clone(),
                p_value: k.p_value,
                p_holm: k.p_holm,
                flagged: k.flagged,
                cells: vec![
                    format!("{}/{}", k.matched_released, k.released),
                    format!("{}/{}", k.matched_withheld, k.withheld),
                    format!("{:.3}", k.median_mark_released),
                    format!("{:.3}", k.median_mark_withheld),
                ],
            })
            .collect(),
        notes: vec![
            "A key's HoneyImages (R) and withheld twins (W) are looked up in the found data; a match scores the partial correlation of the found image with the key's perturbation, through the blur (and brightness and contrast) fitted from original to found image (1: the HoneyImage itself; about 0: the original), and an unmatched one scores lowest. A release holds R perturbed and lacks W; the test compares R's scores with W's within classes (exact stratified rank-sum).".into(),
            format!("Test: {}.", o.keys.first().map_or("–", |k| k.method.as_str())),
        ],
        examples: o.examples.clone(),
        gain: honeyimage::trace::GAIN as f64,
    }
}
