//! `honeyimage calibrate`: the paper's tau from clean reference models, an
//! order statistic of their scores chosen so that a new clean model is
//! flagged with probability at most the requested rate (a finite-sample,
//! conformal guarantee; too few references for the rate is an error).
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::verify::{verify, VerifyConfig};

use crate::progress::Ui;
use crate::settings::ExitStatus;
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

pub fn run(args: Args, _ui: &Ui) -> Result<ExitStatus> {
    if !(args.fpr >= 0.0 && args.fpr < 1.0) {
        bail!("--fpr {} must be in [0, 1)", args.fpr);
    }
    let key = args.pass.load_key(&args.key)?;
    let opts = open_options(&args.pre, &args.http)?;
    let mut scores = Vec::new();
    for m in &args.models {
        let mut o = honeyimage::query::open(m, &opts, honeyimage::default_device()).with_context(|| format!("opening {}", honeyimage::query::shown_target(m)))?;
        let v = verify(&key, o.as_mut(), &VerifyConfig { permutations: 1000, ..Default::default() })?;
        scores.push(v.tau_rule.score);
    }
    let Some(t) = honeyimage_stats::order_statistic_threshold(&scores, args.fpr)? else {
        bail!(
            "{} clean reference models cannot guarantee a false-positive rate of {}: at least {} are needed (n + 1 >= 1 / fpr)",
            scores.len(),
            args.fpr,
            (1.0 / args.fpr).ceil() as usize - 1
        );
    };
    if args.json {
        let doc = serde_json::json!({
            "tau": t.threshold, "fpr": args.fpr, "k": t.k, "guaranteed_fpr_bound": t.guaranteed_bound,
            "n_reference": t.n_reference, "reference_scores": scores, "models": args.models,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "tau {:.4}: the {}-th largest of {} clean reference scores; a new clean model is flagged (score > tau) with probability at most (k+1)/(n+1) = {:.4} <= fpr {}",
            t.threshold, t.k + 1, t.n_reference, t.guaranteed_bound, args.fpr
        );
        println!("reference scores {:?}", scores.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>());
    }
    Ok(ExitStatus::Success)
}
