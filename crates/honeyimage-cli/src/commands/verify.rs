//! `honeyimage verify`: query a suspect with the key's HoneyImages and
//! decide, with a p-value, whether it trained on the protected release.
//! Exit 0: no evidence; 1: trained on the protected dataset; 2: error.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::verify::{check_release, verify, VerifyConfig};

use crate::progress::Ui;
use crate::settings::ExitStatus;
use crate::query_args::{open_options, HttpArgs, PreArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The secret key written by `protect`.
    #[arg(long, required_unless_present = "keys")]
    key: Option<PathBuf>,
    /// Attribution: a key folder written by `protect --recipients`; the
    /// suspect is tested against every recipient's key (Holm-corrected) and
    /// the recipients whose releases it trained on are named.
    #[arg(long, conflicts_with_all = ["key", "release", "commitment"])]
    keys: Option<PathBuf>,
    /// With --keys: write the per-recipient table as an HTML page.
    #[arg(long, requires = "keys", value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Suspect: a model folder, a TorchScript .pt file or an .onnx file.
    #[arg(long, conflicts_with_all = ["endpoint", "answers"], required_unless_present_any = ["endpoint", "answers"])]
    model: Option<String>,
    /// Suspect: an http(s) endpoint: our protocol (docs/HTTP_PROTOCOL.md), an
    /// Open Inference Protocol model URL (.../v2/models/NAME), TF Serving
    /// (.../v1/models/NAME) or TorchServe (.../predictions/NAME).
    #[arg(long, conflicts_with = "answers")]
    endpoint: Option<String>,
    /// Suspect: its answers recorded elsewhere, a CSV with one row per image
    /// that `honeyimage key queries` exported (`image,<class scores>` or
    /// `image,label`); --output says what the scores are.
    #[arg(long, conflicts_with = "tta")]
    answers: Option<PathBuf>,
    /// Significance level of the verdict.
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Use only the suspect's top-1 class (Fisher's exact test).
    #[arg(long)]
    label_only: bool,
    /// Threshold of the paper's rule (from `honeyimage calibrate`).
    #[arg(long)]
    tau: Option<f64>,
    /// Check that this release folder is the one the key belongs to.
    #[arg(long)]
    release: Option<PathBuf>,
    /// The commitment published with the release (the statement file that
    /// `protect` wrote, or the value): the key must match it.
    #[arg(long)]
    commitment: Option<String>,
    /// Test-time augmentation: average each image's loss over its shifts by
    /// up to PAD pixels and their mirror images (for suspects trained with
    /// random crop + flip); 2 (2 PAD + 1)^2 views, as many times the queries.
    #[arg(long, value_name = "PAD", conflicts_with = "label_only")]
    tta: Option<usize>,
    /// With --tta: shifts only, no mirrored views.
    #[arg(long, requires = "tta")]
    tta_no_flip: bool,
    /// Test each image's loss minus the key's proxy loss on it (the loss of
    /// a model that never saw it), so part of the per-image difficulty
    /// cancels out; still exact. See RESULTS.md before relying on it.
    #[arg(long, conflicts_with = "label_only")]
    calibrate: bool,
    /// Permutations of the mean-difference test.
    #[arg(long, default_value_t = 200_000)]
    permutations: usize,
    /// Print a JSON document.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: crate::key_args::PassphraseArgs,
    #[command(flatten)]
    pre: PreArgs,
    #[command(flatten)]
    http: HttpArgs,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitStatus> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha {} must be in (0, 1)", args.alpha);
    }
    if let Some(folder) = &args.keys {
        return attribution(&args, folder);
    }
    let key_path = args.key.as_ref().expect("clap requires --key without --keys");
    let key = args.pass.load_key(key_path)?;
    if let Some(published) = &args.commitment {
        crate::commitment_args::check(&honeyimage::key::commitment(&key), published).with_context(|| format!("key {}", key_path.display()))?;
    }
    if let Some(rel) = &args.release {
        check_release(&key, rel, key_path)?;
    }
    let (target, mut oracle) = open_suspect(&args)?;
    let v = verify(&key, oracle.as_mut(), &config(&args))?;
    let traffic = oracle.traffic();
    if args.json {
        let mut doc = serde_json::to_value(&v)?;
        if let Some((requests, seconds)) = traffic {
            let protocol = match args.http.protocol {
                honeyimage::query::Protocol::Auto => honeyimage::query::Protocol::detect(&target),
                p => p,
            };
            doc["http"] = serde_json::json!({ "protocol": protocol.to_string(), "requests": requests, "seconds": seconds });
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{}: {} (p = {:.3e} < alpha {}? {}; mean loss R {:.3} vs W {:.3}, effect {:.3}; top-1 R {}/{} vs W {}/{}; {} queries)",
            honeyimage::query::shown_target(&target),
            v.verdict_text,
            v.p_value,
            v.alpha,
            if v.verdict { "yes" } else { "no" },
            v.mean_loss_released,
            v.mean_loss_withheld,
            v.effect_size,
            v.label_only.correct_released,
            v.n_released,
            v.label_only.correct_withheld,
            v.n_withheld,
            v.queries
        );
        println!("test: {} (smallest p this key can give: {:.2e})", v.method, v.smallest_p);
        if v.smallest_p >= v.alpha {
            eprintln!("warning: this key's test cannot give a p-value below {:.2e}, not below alpha {}: no suspect can be flagged; protect with a larger --count", v.smallest_p, v.alpha);
        }
        if let Some((requests, seconds)) = traffic {
            println!("http: {requests} requests, {seconds:.2} s");
        }
        println!("key commitment: {}{}", v.commitment, if args.commitment.is_some() { " (matches the published one)" } else { "" });
        match v.tau_rule.tau {
            Some(t) => println!("paper's rule: score {:.3} vs tau {:.3}: {}", v.tau_rule.score, t, if v.tau_rule.score > t { "infringing" } else { "not infringing" }),
            None => println!("paper's rule: score {:.3} (no --tau given; calibrate one with `honeyimage calibrate`)", v.tau_rule.score),
        }
    }
    Ok(if v.verdict { ExitStatus::Trained } else { ExitStatus::Success })
}

/// The suspect named by --model, --endpoint or --answers, opened.
fn open_suspect(args: &Args) -> Result<(String, Box<dyn honeyimage::query::Oracle>)> {
    if let Some(path) = &args.answers {
        let answers = honeyimage::query::answers::RecordedAnswers::open(path, args.pre.output)?;
        return Ok((path.display().to_string(), Box::new(answers)));
    }
    let target = args.model.clone().or(args.endpoint.clone()).expect("clap requires one");
    let opts = open_options(&args.pre, &args.http)?;
    let oracle = honeyimage::query::open(&target, &opts, honeyimage::default_device()).with_context(|| format!("opening suspect {}", honeyimage::query::shown_target(&target)))?;
    Ok((target, oracle))
}

/// The verification settings from the flags.
fn config(args: &Args) -> VerifyConfig {
    VerifyConfig {
        alpha: args.alpha,
        label_only: args.label_only,
        permutations: args.permutations,
        tau: args.tau,
        batch: args.http.batch,
        tta: args.tta.map(|pad| honeyimage::verify::Tta { pad, flip: !args.tta_no_flip }),
        calibrate: args.calibrate,
        ..Default::default()
    }
}

/// `verify --keys`: which recipients' releases the suspect trained on.
fn attribution(args: &Args, folder: &std::path::Path) -> Result<ExitStatus> {
    let keys = args.pass.load_key_folder(folder)?;
    let (target, mut oracle) = open_suspect(args)?;
    let a = honeyimage::attribution::attribute(&keys, oracle.as_mut(), &config(args))?;
    let shown = honeyimage::query::shown_target(&target);
    if let Some(path) = &args.report {
        honeyimage_report::write_leak_page(&attribution_page(&a, &shown), path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&a)?);
    } else {
        println!("{shown}: tested against {} recipients' keys (Holm-corrected, family-wise alpha {})", a.recipients.len(), a.alpha);
        println!("  {:<16} {:>10} {:>10}  {:>7} {:>7}  verdict", "recipient", "p", "p (Holm)", "loss R", "loss W");
        for r in &a.recipients {
            let v = &r.verification;
            let verdict = if r.flagged { "trained on this recipient's release" } else { "no evidence" };
            println!("  {:<16} {:>10.2e} {:>10.2e}  {:>7.3} {:>7.3}  {verdict}", r.recipient, v.p_value, r.p_holm, v.mean_loss_released, v.mean_loss_withheld);
        }
        match a.attributed.as_slice() {
            [] => println!("attribution: none (no recipient's release is implicated)"),
            names => println!("attribution: {}", names.join(", ")),
        }
    }
    Ok(if a.attributed.is_empty() { ExitStatus::Success } else { ExitStatus::Trained })
}

/// The report page of an attribution.
fn attribution_page(a: &honeyimage::attribution::Attribution, shown: &str) -> honeyimage_report::LeakPage {
    let summary = match a.attributed.as_slice() {
        [] => format!("No recipient's release is implicated: no key reaches p < {} after Holm's correction over {} keys.", a.alpha, a.recipients.len()),
        names => format!("The suspect trained on the release given to {}.", names.join(" and ")),
    };
    honeyimage_report::LeakPage {
        title: "HoneyImage attribution".into(),
        summary,
        subject: shown.to_string(),
        alpha: a.alpha,
        columns: vec!["mean loss R".into(), "mean loss W".into(), "top-1 R".into(), "top-1 W".into()],
        rows: a
            .recipients
            .iter()
            .map(|r| {
                let v = &r.verification;
                honeyimage_report::LeakRow {
                    recipient: r.recipient.clone(),
                    p_value: v.p_value,
                    p_holm: r.p_holm,
                    flagged: r.flagged,
                    cells: vec![
                        format!("{:.3}", v.mean_loss_released),
                        format!("{:.3}", v.mean_loss_withheld),
                        format!("{}/{}", v.label_only.correct_released, v.n_released),
                        format!("{}/{}", v.label_only.correct_withheld, v.n_withheld),
                    ],
                }
            })
            .collect(),
        notes: vec![format!("Test per key: {}.", a.recipients.first().map_or("–", |r| r.verification.method.as_str()))],
        examples: vec![],
        gain: 0.0,
    }
}
