//! `honeyimage protect`: turn a private dataset into a release with
//! HoneyImages in place, plus the owner's secret key.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use honeyimage::protect::{protect, ProtectConfig, ProtectEvent};
use honeyimage::{Arch, TrainConfig, TrainEvent};
use honeyimage_data::{Format, Split};
use indicatif::ProgressBar;

use crate::progress::Ui;

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
    /// Release folder to write (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Secret key file to write.
    #[arg(long)]
    key: PathBuf,
    /// Work folder for resumable intermediate results (default: <out>.work).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Encrypt the key with a passphrase (age, scrypt); the work folder,
    /// which holds the same secrets, is deleted once the key is written.
    #[arg(long)]
    encrypt_key: bool,
    #[command(flatten)]
    pass: crate::key_args::PassphraseArgs,
    /// N: HoneyImages released (N more are withheld as controls).
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// L-inf budget in 8-bit units.
    #[arg(long, default_value_t = 4.0)]
    epsilon: f64,
    /// PGD step size in 8-bit units.
    #[arg(long, default_value_t = 0.4)]
    alpha: f64,
    /// Outer iterations T of the bi-level optimisation.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// K folds of out-of-fold proxies.
    #[arg(long, default_value_t = 2)]
    folds: usize,
    /// Proxy architectures, comma-separated (e.g. small-cnn,resnet18).
    #[arg(long, value_delimiter = ',', default_value = "small-cnn")]
    proxy_arch: Vec<Arch>,
    /// Width parameter of the proxies.
    #[arg(long)]
    proxy_width: Option<usize>,
    /// Proxy training epochs.
    #[arg(long, default_value_t = 4)]
    proxy_epochs: usize,
    /// In-model SGD steps per outer iteration.
    #[arg(long, default_value_t = 2)]
    inner_steps: usize,
    /// In-model learning rate.
    #[arg(long, default_value_t = 0.01)]
    inner_lr: f64,
    /// Skip this fraction of each class's hardest samples (often mislabelled).
    #[arg(long, default_value_t = 0.0)]
    skip_hardest: f64,
    /// Stealthiness floor: scale a HoneyImage's perturbation down until its SSIM to the original is at least this (0 disables).
    #[arg(long, default_value_t = 0.99)]
    min_ssim: f64,
    /// Do not run the random-sample baseline in the summary.
    #[arg(long)]
    no_baseline: bool,
    /// Master seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let config = ProtectConfig {
        count: args.count,
        epsilon: args.epsilon,
        alpha: args.alpha,
        steps: args.steps,
        folds: args.folds,
        proxy_archs: args.proxy_arch.clone(),
        proxy_width: args.proxy_width,
        proxy_train: TrainConfig { epochs: args.proxy_epochs, seed: args.seed, ..TrainConfig::default() },
        inner_steps: args.inner_steps,
        inner_lr: args.inner_lr,
        skip_hardest: args.skip_hardest,
        min_ssim: args.min_ssim,
        random_baseline: !args.no_baseline,
        seed: args.seed,
        ..ProtectConfig::default()
    };
    config.validate()?;
    if args.key.exists() {
        bail!("{} already exists: refusing to overwrite a key", args.key.display());
    }
    let work = args.work.clone().unwrap_or_else(|| {
        let mut w = args.out.clone().into_os_string();
        w.push(".work");
        PathBuf::from(w)
    });
    let passphrase = if args.encrypt_key { Some(args.pass.get(&args.key.display().to_string(), true)?) } else { None };
    let src = honeyimage_data::DataSource::open(&args.data, args.format).with_context(|| format!("opening {}", args.data.display()))?;
    ui.status(format!("protecting {} ({}, {} split): N = {}, epsilon {}/255, T = {}, work dir {}", args.data.display(), src.format(), args.split, args.count, args.epsilon, args.steps, work.display()));
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let mut on_event = |ev: ProtectEvent| match ev {
        ProtectEvent::Stage { name, cached } => {
            if cached {
                ui.status(format!("{name}: reusing results from the work dir"));
            }
        }
        ProtectEvent::StageDone { name, seconds, peak_mib } => {
            for (_, b) in bars.drain() {
                b.finish_and_clear();
            }
            ui.status(format!("{name}: {seconds:.1}s (peak memory {peak_mib:.0} MiB)"));
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
    };
    let outcome = protect(&src, args.split, &args.out, &args.key, &work, &config, passphrase.as_ref(), &mut on_event)?;
    if passphrase.is_some() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing the work folder {} (it holds the key's secrets)", work.display()))?;
        ui.status(format!("key encrypted; removed the work folder {}", work.display()));
    }
    let s = &outcome.summary;
    if args.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("released {} HoneyImages in {} and withheld {} controls; key {}", s.count, args.out.display(), s.count, args.key.display());
    println!("  class counts  R {:?}", s.released_class_counts);
    println!("                W {:?}", s.withheld_class_counts);
    println!("  L-inf {} (budget {}), PSNR mean {:.1} dB, SSIM mean {:.4} min {:.4}", s.linf_max, args.epsilon, s.psnr_mean, s.ssim_mean, s.ssim_min);
    println!("  proxy accuracy on held-out folds {:?}", s.proxy_fold_accuracy.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>());
    println!("  loss gap out-in on hard candidates: {:.3} before, {:.3} after optimisation", s.gap_before, s.gap_after);
    if let (Some(b), Some(a)) = (s.random_gap_before, s.random_gap_after) {
        println!("  loss gap on random candidates (same treatment): {b:.3} before, {a:.3} after");
    }
    for st in &s.stages {
        println!("  stage {:<18} {:>8.1}s  peak {:>6.0} MiB{}", st.name, st.seconds, st.peak_mib, if st.cached { " (cached)" } else { "" });
    }
    Ok(ExitCode::SUCCESS)
}
