//! `honeyimage protect`: turn a private dataset into a release with
//! HoneyImages in place, plus the owner's secret key.
use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::protect::recipients::{parse_recipients, protect_recipients, RecipientOutputs, MANIFEST};
use honeyimage::protect::{protect, Outputs, ProtectConfig, ProtectEvent, ProtectOutcome};
use honeyimage::{Arch, TrainEvent};
use honeyimage_data::{Format, Split};
use indicatif::ProgressBar;

use crate::progress::Ui;
use crate::settings::{from_toml, set, ExitStatus};

#[derive(clap::Args)]
pub struct Args {
    /// The private dataset (any supported format).
    #[arg(long)]
    data: PathBuf,
    /// Override format detection.
    #[arg(long)]
    format: Option<Format>,
    /// Split to protect.
    #[arg(long, default_value = "train")]
    split: Split,
    /// Release folder to write (must not exist); with --recipients, the
    /// folder that receives one release per recipient (`OUT/NAME/`).
    #[arg(long)]
    out: PathBuf,
    /// Secret key file to write; with --recipients, the key folder
    /// (`KEY/NAME.key` each, and `KEY/recipients.json`).
    #[arg(long)]
    key: PathBuf,
    /// One release per recipient (a file with one name a line): shared
    /// hardness scoring, then each recipient gets its own candidates, R/W
    /// split and perturbations, so each release and key identifies one
    /// recipient (`verify --keys`, `trace`).
    #[arg(long, value_name = "FILE")]
    recipients: Option<PathBuf>,
    /// Work folder for resumable intermediate results (default: <out>.work).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Encrypt the key with a passphrase (age, scrypt); the work folder,
    /// which holds the same secrets, is deleted once the key is written.
    #[arg(long)]
    encrypt_key: bool,
    #[command(flatten)]
    pass: crate::key_args::PassphraseArgs,
    /// Protection settings file (TOML, fields of `ProtectConfig`; flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// N: HoneyImages released (N more are withheld as controls).
    #[arg(long)]
    count: Option<usize>,
    /// L-inf budget in 8-bit units.
    #[arg(long)]
    epsilon: Option<f64>,
    /// PGD step size in 8-bit units.
    #[arg(long)]
    alpha: Option<f64>,
    /// Outer iterations T of the bi-level optimisation.
    #[arg(long)]
    steps: Option<usize>,
    /// K folds of out-of-fold proxies.
    #[arg(long)]
    folds: Option<usize>,
    /// Proxy architectures, comma-separated (e.g. small-cnn,resnet18).
    #[arg(long, value_delimiter = ',')]
    proxy_arch: Option<Vec<Arch>>,
    /// Width parameter of the proxies.
    #[arg(long)]
    proxy_width: Option<usize>,
    /// Proxy training epochs.
    #[arg(long)]
    proxy_epochs: Option<usize>,
    /// In-model SGD steps per outer iteration.
    #[arg(long)]
    inner_steps: Option<usize>,
    /// In-model learning rate.
    #[arg(long)]
    inner_lr: Option<f64>,
    /// Skip this fraction of each class's hardest samples (often mislabelled).
    #[arg(long)]
    skip_hardest: Option<f64>,
    /// Stealthiness floor: scale a HoneyImage's perturbation down until its SSIM to the original is at least this (0 disables).
    #[arg(long)]
    min_ssim: Option<f64>,
    /// Do not run the random-sample baseline in the summary.
    #[arg(long)]
    no_baseline: bool,
    /// Release the hard samples unperturbed (zero distortion): verification
    /// rests on selection and the withheld twins alone. See RESULTS.md for
    /// when this is as strong as perturbing.
    #[arg(long, conflicts_with_all = ["eot", "objective", "step"])]
    no_perturb: bool,
    /// Expectation over transformations: average each PGD step's loss gap
    /// over this many random crops (padding 2) and flips, and train the
    /// in-models with the same augmentation (for infringers who augment).
    #[arg(long)]
    eot: Option<usize>,
    /// What each PGD step maximises: `gap` (the loss gap between out- and
    /// in-models, the method) or `fit` (the in-models' loss only: easy to
    /// fit for a model that trains on it, not adversarial to others).
    #[arg(long, value_name = "gap|fit")]
    objective: Option<honeyimage::config::Objective>,
    /// How each outer iteration moves the perturbation: `sign` (PGD) or
    /// `momentum` (MI-FGSM).
    #[arg(long, value_name = "sign|momentum")]
    step: Option<honeyimage::config::Step>,
    /// Master seed (also seeds the proxies' training).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of classes, when it must not be inferred from the labels.
    #[arg(long)]
    num_classes: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Train only out-of-fold proxy I (fold I / A, architecture I % A of
    /// the A proxy architectures) into the work folder, and stop: one job
    /// of a job array. `array` takes I from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX. The same command without --proxy then finds
    /// the proxies and finishes.
    #[arg(long, value_name = "I|array")]
    proxy: Option<String>,
    /// Run only fold K's share of the optimisation into the work folder
    /// (after the proxies, hardness and candidates), and stop: one job of
    /// a job array (`array`: K from the array index). The same command
    /// without it then finds every fold's share and finishes.
    #[arg(long, value_name = "K|array", conflicts_with_all = ["proxy", "recipients"])]
    optimise_fold: Option<String>,
    /// libtorch threads (default: libtorch's own choice).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Arithmetic of the proxies' training, the in-models and the input
    /// gradients: `auto` (the default unless `--config` sets
    /// `proxy_train.precision`: bf16 where the CPU has bf16 units or on a
    /// GPU, fp32 elsewhere), `bf16` (mixed precision, fp32 weights) or
    /// `fp32`. Hardness scores and reported losses are fp32 either way; the
    /// key records the choice.
    #[arg(long, value_name = "auto|fp32|bf16")]
    precision: Option<crate::settings::PrecisionFlag>,
}

/// The library's defaults, then `--config`, then the flags.
fn settings(args: &Args) -> Result<ProtectConfig> {
    let mut c: ProtectConfig = from_toml(args.config.as_deref())?;
    set(&mut c.count, args.count);
    set(&mut c.epsilon, args.epsilon);
    set(&mut c.alpha, args.alpha);
    set(&mut c.steps, args.steps);
    set(&mut c.folds, args.folds);
    set(&mut c.proxy_archs, args.proxy_arch.clone());
    set(&mut c.proxy_width, args.proxy_width.map(Some));
    set(&mut c.proxy_train.epochs, args.proxy_epochs);
    set(&mut c.inner_steps, args.inner_steps);
    set(&mut c.inner_lr, args.inner_lr);
    set(&mut c.skip_hardest, args.skip_hardest);
    set(&mut c.min_ssim, args.min_ssim);
    set(&mut c.num_classes, args.num_classes.map(Some));
    set(&mut c.objective, args.objective);
    set(&mut c.step, args.step);
    if args.no_baseline {
        c.random_baseline = false;
    }
    if args.no_perturb {
        c.perturb = false;
    }
    if let Some(samples) = args.eot {
        c.eot = Some(honeyimage::config::Eot { samples, ..c.eot.unwrap_or_default() });
    }
    if let Some(s) = args.seed {
        c.seed = s;
        c.proxy_train.seed = s;
    }
    // protect's one default that is not the library's: the fastest
    // arithmetic the machine has (BENCHMARKS.md, "bf16 mixed precision"),
    // unless the settings file names one.
    let from_file = crate::settings::file_sets(args.config.as_deref(), &["proxy_train", "precision"])?;
    let precision = args.precision.or((!from_file).then_some(crate::settings::PrecisionFlag::Auto));
    set(&mut c.proxy_train.precision, precision.map(|p| p.resolve()));
    Ok(c)
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    let config = settings(&args)?;
    config.validate()?;
    let recipients = recipients(&args)?;
    let work = args.work.clone().unwrap_or_else(|| {
        let mut w = args.out.clone().into_os_string();
        w.push(".work");
        PathBuf::from(w)
    });
    if let Some(t) = args.threads {
        honeyimage::set_threads(t as usize);
    }
    let src = honeyimage_data::DataSource::open(&args.data, args.format).with_context(|| format!("opening {}", args.data.display()))?;
    if let Some(p) = &args.proxy {
        return train_one_proxy(&args, &config, &src, &work, recipients.as_deref().unwrap_or_default(), p, ui);
    }
    if let Some(k) = &args.optimise_fold {
        return optimise_one_fold(&args, &config, &src, &work, k, ui);
    }
    let passphrase = if args.encrypt_key { Some(args.pass.get(&args.key.display().to_string(), true)?) } else { None };
    ui.status(format!(
        "protecting {} ({}, {} split): N = {}, epsilon {}/255, T = {}, {}, work dir {}",
        args.data.display(),
        src.format(),
        args.split,
        config.count,
        config.epsilon,
        config.steps,
        config.proxy_train.precision,
        work.display()
    ));
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let mut on_event = |ev: ProtectEvent| show_event(ev, &mut bars, ui);
    let outcome = match &recipients {
        Some(names) => {
            let outputs = RecipientOutputs { releases: &args.out, keys: &args.key, work: &work };
            let outcomes = protect_recipients(&src, args.split, outputs, &config, names, passphrase.as_ref(), &mut on_event)?;
            drop(on_event);
            forget_work(&work, passphrase.is_some(), ui)?;
            return report_recipients(&args, names, &outcomes);
        }
        None => {
            let outputs = Outputs { release: &args.out, key: &args.key, work: &work };
            protect(&src, args.split, outputs, &config, passphrase.as_ref(), &mut on_event)?
        }
    };
    forget_work(&work, passphrase.is_some(), ui)?;
    let s = &outcome.summary;
    // protect always splits R and W within classes.
    let smallest = honeyimage::verify::smallest_p(honeyimage::key::RwSplit::ClassStratified, &s.released_class_counts, &s.withheld_class_counts, false);
    let alpha = honeyimage::verify::VerifyConfig::default().alpha;
    if smallest >= alpha {
        eprintln!("warning: with N = {} the exact test cannot give a p-value below {smallest:.2e}, not below verify's alpha {alpha}: no suspect could be flagged; use a larger --count", s.count);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(ExitStatus::Success);
    }
    println!("released {} HoneyImages in {} and withheld {} controls; key {}", s.count, args.out.display(), s.count, args.key.display());
    println!("  class counts  R {:?}", s.released_class_counts);
    println!("                W {:?}", s.withheld_class_counts);
    println!("  smallest p-value verify can give with this key: {smallest:.2e}");
    println!("  L-inf {} (budget {}), PSNR mean {:.1} dB, SSIM mean {:.4} min {:.4}", s.linf_max, config.epsilon, s.psnr_mean, s.ssim_mean, s.ssim_min);
    println!("  proxy accuracy on held-out folds {:?}", s.proxy_fold_accuracy.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>());
    println!("  loss gap out-in on hard candidates: {:.3} before, {:.3} after optimisation", s.gap_before, s.gap_after);
    if let (Some(b), Some(a)) = (s.random_gap_before, s.random_gap_after) {
        println!("  loss gap on random candidates (same treatment): {b:.3} before, {a:.3} after");
    }
    for st in &s.stages {
        println!("  stage {:<18} {:>8.1}s  peak {:>6.0} MiB{}", st.name, st.seconds, st.peak_mib, if st.cached { " (cached)" } else { "" });
    }
    Ok(ExitStatus::Success)
}

/// The number a `--proxy` or `--optimise-fold` job runs: given, or the
/// scheduler's array index for `array`; below `count`.
fn job_number(flag: &str, arg: &str, count: usize, what: &str) -> Result<usize> {
    let text = if arg == "array" {
        super::eval_jobs::array_index().with_context(|| format!("{flag} array: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set"))?.1
    } else {
        arg.to_string()
    };
    let i: usize = text.trim().parse().with_context(|| format!("{flag} {text:?}: not a number"))?;
    if i >= count {
        bail!("{flag} {i}: {what} 0..{}", count.saturating_sub(1));
    }
    Ok(i)
}

/// `--proxy I`: (fold, architecture) of proxy I.
fn proxy_index(arg: &str, config: &ProtectConfig) -> Result<(usize, usize)> {
    let archs = config.proxy_archs.len();
    let what = format!("{} folds x {archs} architectures make proxies", config.folds);
    let i = job_number("--proxy", arg, config.folds * archs, &what)?;
    Ok((i / archs, i % archs))
}

/// Runs one fold's share of the optimisation into the work folder.
fn optimise_one_fold(args: &Args, config: &ProtectConfig, src: &honeyimage_data::DataSource, work: &std::path::Path, arg: &str, ui: &Ui) -> Result<ExitStatus> {
    let k = job_number("--optimise-fold", arg, config.folds, "the protection has folds")?;
    let started = std::time::Instant::now();
    let input = honeyimage::protect::Input::Files { src, split: args.split };
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let ran = honeyimage::protect::optimise_fold(input, work, config, k, &mut |ev| show_event(ev, &mut bars, ui))?;
    match ran {
        true => println!("optimisation of fold {k} in {}: done in {:.1}s", work.display(), started.elapsed().as_secs_f64()),
        false => println!("optimisation of fold {k} in {}: already there", work.display()),
    }
    Ok(ExitStatus::Success)
}

/// Trains one proxy into the work folder (a job of a job array).
fn train_one_proxy(args: &Args, config: &ProtectConfig, src: &honeyimage_data::DataSource, work: &std::path::Path, recipients: &[String], arg: &str, ui: &Ui) -> Result<ExitStatus> {
    let (fold, arch) = proxy_index(arg, config)?;
    let started = std::time::Instant::now();
    let input = honeyimage::protect::Input::Files { src, split: args.split };
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let trained = honeyimage::protect::train_proxy(input, work, config, recipients, (fold, arch), &mut |ev| show_event(ev, &mut bars, ui))?;
    let what = format!("proxy fold {fold} {} in {}", config.proxy_archs[arch], work.display());
    match trained {
        true => println!("{what}: trained in {:.1}s", started.elapsed().as_secs_f64()),
        false => println!("{what}: already there"),
    }
    Ok(ExitStatus::Success)
}

/// The recipients list, when given, checked against what the key path holds.
fn recipients(args: &Args) -> Result<Option<Vec<String>>> {
    let recipients = match &args.recipients {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading the recipients list {}", path.display()))?;
            Some(parse_recipients(&text, path)?)
        }
        None => None,
    };
    if recipients.is_none() && args.key.exists() {
        bail!("{} already exists: refusing to overwrite a key", args.key.display());
    }
    if recipients.is_some() && args.key.join(MANIFEST).exists() {
        bail!("{} already holds a finished set of recipient keys: refusing to overwrite them", args.key.display());
    }
    Ok(recipients)
}

/// Renders one progress event: stage lines and progress bars.
fn show_event(ev: ProtectEvent, bars: &mut HashMap<String, ProgressBar>, ui: &Ui) {
    match ev {
        ProtectEvent::Stage { .. } => {}
        ProtectEvent::StageDone { name, seconds, peak_mib, cached } => {
            for (_, b) in bars.drain() {
                b.finish_and_clear();
            }
            let from = if cached { ", reused from the work dir" } else { "" };
            ui.status(format!("{name}: {seconds:.1}s (peak memory {peak_mib:.0} MiB){from}"));
        }
        ProtectEvent::Train { label, event } => {
            if let TrainEvent::Step { step, total_steps, loss, accuracy, images_per_s, .. } = event {
                let b = bars.entry(label.clone()).or_insert_with(|| ui.bar(total_steps as u64, &label));
                b.set_position(step as u64);
                if step % 10 == 0 || step == total_steps {
                    b.set_message(format!("loss {loss:.3} acc {accuracy:.3} {images_per_s:.0} img/s"));
                }
                if step == total_steps {
                    b.finish_and_clear();
                    ui.status(format!("  proxy {label}: trained, final train accuracy {accuracy:.3}"));
                }
            }
        }
        ProtectEvent::Pgd { label, iter, total } => {
            let b = bars.entry(label.clone()).or_insert_with(|| ui.bar(total as u64, &label));
            if iter == 1 {
                b.reset();
            }
            b.set_position(iter as u64);
        }
    }
}

/// Removes the work folder after an encrypted key was written (it holds the
/// same secrets in the clear).
fn forget_work(work: &std::path::Path, encrypted: bool, ui: &Ui) -> Result<()> {
    if encrypted {
        std::fs::remove_dir_all(work).with_context(|| format!("removing the work folder {} (it holds the key's secrets)", work.display()))?;
        ui.status(format!("key encrypted; removed the work folder {}", work.display()));
    }
    Ok(())
}

/// Prints what per-recipient protection made.
fn report_recipients(args: &Args, names: &[String], outcomes: &[ProtectOutcome]) -> Result<ExitStatus> {
    if args.json {
        let doc: Vec<serde_json::Value> = names
            .iter()
            .zip(outcomes)
            .map(|(n, o)| serde_json::json!({ "recipient": n, "commitment": honeyimage::key::commitment(&o.key).hex(), "summary": o.summary }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitStatus::Success);
    }
    println!("{} releases in {}, keys in {}", names.len(), args.out.display(), args.key.display());
    for (n, o) in names.iter().zip(outcomes) {
        let s = &o.summary;
        let opt: f64 = s.stages.iter().filter(|st| st.name.starts_with("optimisation")).map(|st| st.seconds).sum();
        println!(
            "  {n:<16} R {:>4}  W {:>4}  L-inf {}  SSIM mean {:.4}  gap {:.3} -> {:.3}  optimisation {opt:.1}s  commitment {}",
            o.key.released.len(),
            o.key.withheld.len(),
            s.linf_max,
            s.ssim_mean,
            s.gap_before,
            s.gap_after,
            &honeyimage::key::commitment(&o.key).hex()[..16]
        );
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use honeyimage::config::Precision;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn precision(extra: &[&str]) -> Precision {
        let argv = [&["protect", "--data", "d", "--out", "o", "--key", "k"], extra].concat();
        settings(&Cli::try_parse_from(argv).unwrap().args).unwrap().proxy_train.precision
    }

    #[test]
    fn precision_is_the_machines_best_unless_the_file_or_a_flag_names_one() {
        let best = honeyimage::precision::best_available(honeyimage::default_device());
        assert_eq!(precision(&[]), best);
        assert_eq!(precision(&["--precision", "fp32"]), Precision::Fp32);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "count = 10\n[proxy_train]\nepochs = 1\n").unwrap();
        assert_eq!(precision(&["--config", file.to_str().unwrap()]), best, "a file without precision keeps auto");
        std::fs::write(&file, "[proxy_train]\nprecision = \"fp32\"\n").unwrap();
        assert_eq!(precision(&["--config", file.to_str().unwrap()]), Precision::Fp32);
        assert_eq!(precision(&["--config", file.to_str().unwrap(), "--precision", "bf16"]), Precision::Bf16);
    }
}
