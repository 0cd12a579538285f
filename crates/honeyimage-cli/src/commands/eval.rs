//! `honeyimage eval`: the paper's evaluation protocol on real data, with
//! baselines, a results table and an HTML report. Resumable: finished
//! releases, suspects and verifications are cached in the run folder.
use std::path::PathBuf;

use anyhow::Result;
use honeyimage::config::SweepParameter;
use honeyimage::eval::sweep::{evaluate_sweep, SweepResults};
use honeyimage::eval::{evaluate, ArchSpec, EvalConfig, EvalEvent, EvalResults};
use honeyimage::protect::ProtectEvent;
use honeyimage::TrainEvent;

use crate::progress::Ui;
use crate::settings::{from_toml, set};
use crate::settings::ExitStatus;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<super::eval_jobs::Command>,
    #[command(flatten)]
    settings: Settings,
    /// Run the plan's jobs J at a time, each a separate process with one
    /// libtorch thread (1: everything in this process).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: u32,
}

/// The experiment: a file, a run folder and overrides.
#[derive(clap::Args)]
pub struct Settings {
    /// Experiment file (TOML; every field optional, see examples/fashion-mnist.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run folder (results.json, results.csv, report.html, cached models).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
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

impl Settings {
    /// The run folder (clap requires it).
    pub fn out(&self) -> &std::path::Path {
        self.out.as_deref().expect("--out is required")
    }
}

/// The library's defaults, then `--config`, then the flags.
pub fn settings(args: &Settings) -> Result<EvalConfig> {
    let mut config: EvalConfig = from_toml(args.config.as_deref())?;
    set(&mut config.data, args.data.clone());
    set(&mut config.lpips_weights, args.lpips_weights.clone().map(Some));
    set(&mut config.private_size, args.private_size.map(Some));
    set(&mut config.protect.count, args.count);
    set(&mut config.suspect_train.epochs, args.epochs);
    if let Some(s) = args.seed {
        config.seed = s;
        config.protect.seed = s;
    }
    if let Some(s) = args.seeds {
        config.archs = config.archs.into_iter().map(|a| ArchSpec { seeds: (0..s).collect(), ..a }).collect();
    }
    config.validate()?;
    if let Some(sweep) = &config.sweep {
        let flag = match sweep.parameter {
            SweepParameter::Count => args.count.is_some().then_some("--count"),
            SweepParameter::PrivateSize => args.private_size.is_some().then_some("--private-size"),
            SweepParameter::Epochs => args.epochs.is_some().then_some("--epochs"),
        };
        if let Some(flag) = flag {
            anyhow::bail!("{flag} conflicts with the configuration's sweep over {}", sweep.parameter.as_str());
        }
        honeyimage::eval::sweep::of(&config)?;
    }
    Ok(config)
}

/// The per-method table and the stealth and key-population lines.
pub fn print_summary(results: &EvalResults, out: &std::path::Path) {
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
        if let Some(c) = &m.calibrated {
            println!("{}: calibrated test TPR {:.2} (median p {:.2e}), TNR {:.2} ({} of {} clean flagged)", m.method, c.tpr, c.median_p, c.tnr(), c.clean_flagged, c.clean);
        }
    }
    for m in &results.methods {
        if let (Some(d), Some((lo, hi))) = (m.accuracy_drop_points, m.accuracy_drop_ci95) {
            println!("{}: accuracy drop {d:+.2} points, 95% CI [{lo:+.2}, {hi:+.2}] over {} pairs", m.method, m.accuracy_drop_pairs);
        }
    }
    let s = &results.stealth;
    let lpips = s.lpips_stl.map(|v| format!(", LPIPS-STL {v:.4}")).unwrap_or_default();
    println!("stealthiness: SSIM mean {:.4} min {:.4}, PSNR {:.1} dB, L-inf {}{lpips}", s.ssim_mean, s.ssim_min, s.psnr_mean, s.linf_max);
    if let Some(k) = &results.key_population {
        println!("clean p-values over {} keys x {} clean models ({} pairs): KS D {:.4}, p {:.3}", k.keys, k.clean_models, k.pairs, k.ks_d, k.ks_p);
        if let Some(l) = &k.key_level {
            let reuse = if l.models_reused { ", models reused across keys" } else { "" };
            println!("  one pair per key ({} keys{reuse}): KS D {:.4}, p {:.3}; between-key share of variance {:.2}", l.n, l.ks_d, l.ks_p, l.between_key_share);
        }
        for f in &k.fpr {
            println!("  alpha {}: {} flagged, rate {:.4} (95% CI [{:.4}, {:.4}], by-key bootstrap [{:.4}, {:.4}])", f.alpha, f.flagged, f.rate, f.ci95.0, f.ci95.1, f.key_bootstrap_ci95.0, f.key_bootstrap_ci95.1);
        }
    }
    print_robustness(results);
    println!("report: {}", out.join("report.html").display());
}

/// One line per (attack, method) of the robustness suite.
fn print_robustness(results: &EvalResults) {
    if results.robustness.is_empty() {
        return;
    }
    println!("{:<26} {:<18} {:>4} {:>8} {:>7} {:>9} {:>7} {:>7} {:>16}", "attack", "method", "#inf", "TPR.001", "TPR.01", "median p", "AUROC", "clean+", "test acc");
    for a in &results.robustness {
        let removed = a.removed.map(|r| format!("  removed {:.1}% of all, {:.1}% of marked", 100.0 * r.all, 100.0 * r.marked)).unwrap_or_default();
        let calibrated = a.calibrated.map(|c| format!("  calibrated TPR.001 {:.2}, clean+ {}/{}", c.tpr, c.clean_flagged, c.clean)).unwrap_or_default();
        println!(
            "{:<26} {:<18} {:>4} {:>8.2} {:>7.2} {:>9.2e} {:>7.3} {:>7} {:>7.4} ({:+.2}){removed}{calibrated}",
            a.attack,
            a.method,
            a.infringing,
            a.tpr_001,
            a.tpr_01,
            a.median_p,
            a.auroc,
            format!("{}/{}", a.clean_flagged, a.clean),
            a.test_accuracy,
            100.0 * (a.test_accuracy - a.base_test_accuracy),
        );
    }
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    if let Some(c) = args.command {
        return super::eval_jobs::run(c, ui);
    }
    let (config, out) = (settings(&args.settings)?, args.settings.out());
    let jobs = args.jobs as usize;
    let run_point = |config: &EvalConfig, out: &std::path::Path| -> Result<EvalResults> {
        if jobs > 1 {
            super::eval_jobs::run_local(config, out, jobs, ui)
        } else {
            in_process(config, out, ui)
        }
    };
    if config.sweep.is_some() {
        let sweep = evaluate_sweep(&config, out, &mut |c, o| {
            ui.status(format!("sweep point: {}", o.display()));
            run_point(c, o).map_err(|e| honeyimage::Error::invalid("sweep point", format!("{}: {e:#}", o.display())))
        })?;
        print_sweep(&sweep, out);
    } else {
        print_summary(&run_point(&config, out)?, out);
    }
    Ok(ExitStatus::Success)
}

/// One line per (point, recipe, method), then HoneyImage's paired differences.
fn print_sweep(s: &SweepResults, out: &std::path::Path) {
    if let Some(k) = s.points.iter().map(|p| p.keys).max().filter(|&k| k > 1) {
        println!("each point pools {k} keys; twins are paired within a key");
    }
    println!("{:>8} {:<14} {:<18} {:>8} {:>9} {:>7}", s.parameter, "recipe", "method", "flagged", "median p", "clean+");
    for p in &s.points {
        for r in &p.rows {
            let recipe = if r.attack.is_empty() { "plain" } else { &r.attack };
            println!("{:>8} {:<14} {:<18} {:>8} {:>9.2e} {:>7}", p.value, recipe, r.method, format!("{}/{}", r.flagged, r.infringing), r.median_p, format!("{}/{}", r.clean_flagged, r.clean));
        }
        // A bound that rounds to zero prints as +0.00, not -0.00.
        let z = |x: f64| if x.abs() < 0.005 { 0.0 } else { x };
        for d in &p.paired {
            let recipe = if d.attack.is_empty() { "plain" } else { &d.attack };
            println!(
                "{:>8} {:<14} honeyimage - {}: TPR {:+.2} [{:+.2}, {:+.2}], -log10 p {:+.2} [{:+.2}, {:+.2}] over {} pairs",
                p.value, recipe, d.baseline, z(d.tpr_difference), z(d.tpr_ci.0), z(d.tpr_ci.1), z(d.log_p_difference), z(d.log_p_ci.0), z(d.log_p_ci.1), d.pairs
            );
        }
    }
    println!("power curves: {}", out.join("sweep.html").display());
}

/// The whole evaluation in this process, with a progress bar.
pub fn in_process(config: &EvalConfig, out: &std::path::Path, ui: &Ui) -> Result<EvalResults> {
    let mut bar = None;
    let mut done = 0u64;
    let results = evaluate(config, out, &mut |ev| match ev {
        EvalEvent::Plan { total } => {
            ui.status(format!("evaluation plan: {total} jobs (releases and suspects) into {}", out.display()));
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
            if let Some(b) = &bar {
                b.set_message(format!("epoch {} loss {loss:.3} acc {accuracy:.3}", epoch + 1));
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
    Ok(results)
}
