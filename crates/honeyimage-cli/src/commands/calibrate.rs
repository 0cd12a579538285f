//! `honeyimage calibrate`: the paper's tau from clean reference models, an
//! order statistic of their scores at a chosen false-positive rate.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use honeyimage::verify::{verify, VerifyConfig};

use crate::progress::Ui;
use crate::query_args::{open_options, HttpArgs, PreArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The secret key.
    #[arg(long)]
    key: PathBuf,
    /// Clean reference models (never trained on the release); repeat the flag.
    #[arg(long = "model", required = true)]
    models: Vec<String>,
    /// Target false-positive rate of the rule score > tau.
    #[arg(long, default_value_t = 0.05)]
    fpr: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pass: crate::key_args::PassphraseArgs,
    #[command(flatten)]
    pre: PreArgs,
    #[command(flatten)]
    http: HttpArgs,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    if !(args.fpr >= 0.0 && args.fpr < 1.0) {
        bail!("--fpr {} must be in [0, 1)", args.fpr);
    }
    let key = args.pass.load_key(&args.key)?;
    let opts = open_options(&args.pre, &args.http)?;
    let mut scores = Vec::new();
    for m in &args.models {
        let mut o = honeyimage::query::open(m, &opts, honeyimage::default_device()).with_context(|| format!("opening {m}"))?;
        let v = verify(&key, o.as_mut(), &VerifyConfig { permutations: 1000, ..Default::default() })?;
        scores.push(v.tau_rule.score);
    }
    let tau = honeyimage_stats::calibrate_threshold(&scores, args.fpr)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "tau": tau, "fpr": args.fpr, "reference_scores": scores, "models": args.models }))?);
    } else {
        println!("tau {tau:.4} (fpr {} over {} clean reference models; scores {:?})", args.fpr, scores.len(), scores.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
    }
    Ok(ExitCode::SUCCESS)
}
