//! `honeyimage eval`: the paper's evaluation protocol on real data, with
//! baselines, a results table and an HTML report. Resumable: finished
//! releases, suspects and verifications are cached in the run folder.
use std::path::PathBuf;

use anyhow::{Context, Result};
use honeyimage::eval::{evaluate, ArchSpec, EvalConfig, EvalEvent};
use honeyimage::protect::ProtectEvent;
use honeyimage::TrainEvent;

use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// Experiment file (TOML; every field optional, see examples/fashion-mnist.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run folder (results.json, results.csv, report.html, cached models).
    #[arg(long)]
    out: PathBuf,
    /// Override: dataset path.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override: size of the private dataset.
    #[arg(long)]
    private_size: Option<usize>,
    /// Override: N HoneyImages.
    #[arg(long)]
    count: Option<usize>,
    /// Override: suspect training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override: seeds per architecture (0..S).
    #[arg(long)]
    seeds: Option<u64>,
    /// Override: master seed.
    #[arg(long)]
    seed: Option<u64>,
    /// LPIPS AlexNet weights (state dict or safetensors; see
    /// scripts/lpips_weights.py): adds STL = 1 - LPIPS to the results.
    #[arg(long)]
    lpips_weights: Option<PathBuf>,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    let mut config: EvalConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: invalid experiment file", p.display()))?
        }
        None => EvalConfig::default(),
    };
    if let Some(d) = args.data {
        config.data = d;
    }
    if let Some(w) = args.lpips_weights {
        config.lpips_weights = Some(w);
    }
    if let Some(s) = args.private_size {
        config.private_size = Some(s);
    }
    if let Some(c) = args.count {
        config.protect.count = c;
    }
    if let Some(e) = args.epochs {
        config.suspect_train.epochs = e;
    }
    if let Some(s) = args.seed {
        config.seed = s;
        config.protect.seed = s;
    }
    if let Some(s) = args.seeds {
        config.archs = config.archs.into_iter().map(|a| ArchSpec { seeds: (0..s).collect(), ..a }).collect();
    }
    config.validate()?;
    let mut bar = None;
    let mut done = 0u64;
    let mut train_line = String::new();
    let results = evaluate(&config, &args.out, &mut |ev| match ev {
        EvalEvent::Plan { total } => {
            ui.status(format!("evaluation plan: {total} jobs (releases and suspects) into {}", args.out.display()));
            bar = Some(ui.bar(total as u64, "eval"));
        }
        EvalEvent::JobStart { name } => {
            if let Some(b) = &bar {
                b.set_message(name);
            }
        }
        EvalEvent::JobDone { name, cached, outcome } => {
            done += 1;
            if let Some(b) = &bar {
                b.set_position(done);
                ui.line(b, format!("[{done}/{}] {name}{}: {outcome}", b.length().unwrap_or(0), if cached { " (cached)" } else { "" }));
            }
        }
        EvalEvent::Train(TrainEvent::Step { epoch, loss, accuracy, step, .. }) if step % 20 == 0 => {
            train_line = format!("epoch {} loss {loss:.3} acc {accuracy:.3}", epoch + 1);
            if let Some(b) = &bar {
                b.set_message(train_line.clone());
            }
        }
        EvalEvent::Protect(ProtectEvent::StageDone { name, seconds, .. }) => {
            if let Some(b) = &bar {
                ui.line(b, format!("  protect stage {name}: {seconds:.1}s"));
            }
        }
        _ => {}
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    println!("{:<18} {:>5} {:>5} {:>7} {:>6} {:>6} {:>9} {:>9} {:>10}", "method", "#inf", "#clean", "AUROC", "TPR", "TNR", "tauAUROC", "test acc", "acc drop");
    for m in &results.methods {
        println!(
            "{:<18} {:>5} {:>5} {:>7.3} {:>6.2} {:>6.2} {:>9} {:>9.4} {:>10}",
            m.method,
            m.n_infringing,
            m.n_clean,
            m.auroc,
            m.tpr,
            m.tnr,
            m.tau_auroc.map_or("-".into(), |a| format!("{a:.3}")),
            m.infringing_test_accuracy,
            m.accuracy_drop_points.map_or("-".into(), |d| format!("{d:+.2} pt")),
        );
    }
    for m in &results.methods {
        if let (Some(d), Some((lo, hi))) = (m.accuracy_drop_points, m.accuracy_drop_ci95) {
            println!("{}: accuracy drop {d:+.2} points, 95% CI [{lo:+.2}, {hi:+.2}] over {} pairs", m.method, m.accuracy_drop_pairs);
        }
    }
    let s = &results.stealth;
    println!(
        "stealthiness: SSIM mean {:.4} min {:.4}, PSNR {:.1} dB, L-inf {}{}",
        s.ssim_mean,
        s.ssim_min,
        s.psnr_mean,
        s.linf_max,
        s.lpips_stl.map(|v| format!(", LPIPS-STL {v:.4}")).unwrap_or_default()
    );
    println!("report: {}", args.out.join("report.html").display());
    Ok(ExitStatus::Success)
}
