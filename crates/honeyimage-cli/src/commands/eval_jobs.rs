//! `honeyimage eval plan | run-job | merge | status | slurm | k8s`, and
//! `eval --jobs J`: an evaluation as a plan of jobs on a shared run folder,
//! run by separate processes here, by Slurm job arrays or by Kubernetes
//! Indexed Jobs, then merged into the results of a one-process run.
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use honeyimage::eval::cluster::{self, K8sOptions, SlurmOptions};
use honeyimage::eval::jobs::{self, JobPlan, Ran, State};
use honeyimage::eval::{schedule, EvalConfig, EvalEvent, EvalResults};
use honeyimage::protect::ProtectEvent;
use honeyimage::TrainEvent;

use super::eval::{print_summary, settings, Settings};
use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write the plan (every job, its stage and what it needs) into the run folder.
    Plan(Settings),
    /// Run one job of a planned run (its id from --job, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX).
    RunJob(RunJob),
    /// Check that every job finished and write results.json, results.csv and report.html.
    Merge {
        /// The run folder.
        run: PathBuf,
    },
    /// Jobs done, failed and pending, and how the run's time divides over machines.
    Status(StatusArgs),
    /// Write one sbatch script per stage (a job array of its unfinished jobs), and submit them with --submit.
    Slurm(SlurmArgs),
    /// Write one Kubernetes Indexed Job per stage and a script that applies them in order.
    K8s(K8sArgs),
}

#[derive(clap::Args)]
pub struct RunJob {
    /// The run folder.
    run: PathBuf,
    /// Job id (default: the array index of Slurm or Kubernetes).
    #[arg(long, conflicts_with = "stage")]
    job: Option<usize>,
    /// Count the index from this stage's first job (Kubernetes: one Indexed Job per stage).
    #[arg(long)]
    stage: Option<String>,
    /// libtorch threads (default: libtorch's own choice).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The run folder.
    run: PathBuf,
    /// Worker counts for the wall-time estimates.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32")]
    workers: Vec<usize>,
}

#[derive(clap::Args)]
pub struct SlurmArgs {
    /// The run folder (on a file system every node shares).
    run: PathBuf,
    /// --partition of every stage.
    #[arg(long)]
    partition: Option<String>,
    /// --time of each array task, e.g. 02:00:00.
    #[arg(long)]
    time: Option<String>,
    /// --cpus-per-task (also each job's libtorch threads).
    #[arg(long, default_value_t = 1)]
    cpus_per_task: usize,
    /// --mem of each array task, e.g. 8G.
    #[arg(long)]
    mem: Option<String>,
    /// --gres, e.g. gpu:1.
    #[arg(long)]
    gres: Option<String>,
    /// --account.
    #[arg(long)]
    account: Option<String>,
    /// At most this many tasks of a stage at once.
    #[arg(long)]
    max_parallel: Option<usize>,
    /// The honeyimage binary as the nodes see it (default: this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Submit the scripts with sbatch, each stage after the previous one (afterok).
    #[arg(long)]
    submit: bool,
}

#[derive(clap::Args)]
pub struct K8sArgs {
    /// The run folder (inside the claim, at the same path in the pods).
    run: PathBuf,
    /// Container image with honeyimage on its PATH.
    #[arg(long)]
    image: String,
    /// PersistentVolumeClaim holding the run folder and the dataset.
    #[arg(long)]
    claim: String,
    /// Where the pods mount the claim (default: the run folder's parent).
    #[arg(long)]
    mount: Option<PathBuf>,
    /// Pods of a stage at once.
    #[arg(long, default_value_t = 4)]
    parallelism: usize,
    /// CPUs per pod (also its libtorch threads).
    #[arg(long, default_value_t = 1)]
    cpus: usize,
    /// Memory per pod.
    #[arg(long, default_value = "8Gi")]
    memory: String,
    /// GPUs per pod.
    #[arg(long, default_value_t = 0)]
    gpus: usize,
}

pub fn run(c: Command, ui: &Ui) -> Result<ExitStatus> {
    match c {
        Command::Plan(s) => plan(&s, ui),
        Command::RunJob(a) => run_job(&a, ui),
        Command::Merge { run } => merge(&run, ui),
        Command::Status(a) => status(&a),
        Command::Slurm(a) => slurm(&a, ui),
        Command::K8s(a) => k8s(&a, ui),
    }
}

fn plan(s: &Settings, ui: &Ui) -> Result<ExitStatus> {
    let config = settings(s)?;
    let plan = jobs::write_plan(&config, s.out())?;
    let stages: Vec<String> = plan.stages.iter().map(|st| format!("{} {}", st.len, st.name)).collect();
    ui.status(format!("{}: {} jobs ({})", s.out().join("plan.json").display(), plan.units.len(), stages.join(", ")));
    Ok(ExitStatus::Success)
}

/// The index of this task in a Slurm job array or a Kubernetes Indexed
/// Job: the variable that holds it and its value.
pub fn array_index() -> Option<(&'static str, String)> {
    ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"].into_iter().find_map(|v| std::env::var(v).ok().map(|x| (v, x)))
}

/// The job id: --job, or the scheduler's array index (counted from
/// --stage's first job when given).
fn job_id(a: &RunJob, plan: &JobPlan) -> Result<usize> {
    if let Some(id) = a.job {
        return Ok(id);
    }
    let (var, value) = array_index().context("no job id: give --job ID, or run inside a Slurm array task or a Kubernetes Indexed Job")?;
    let index: usize = value.trim().parse().with_context(|| format!("{var}={value:?} is not a job index"))?;
    match &a.stage {
        None => Ok(index),
        Some(name) => {
            let st = plan.stage(name).with_context(|| format!("--stage {name}: the plan has no such stage"))?;
            if index >= st.len {
                bail!("{var}={index}: stage {name} has {} jobs", st.len);
            }
            Ok(st.first + index)
        }
    }
}

/// Progress of one job, as lines (a job's log is a file, not a terminal).
fn log_event(ui: &Ui, ev: EvalEvent) {
    match ev {
        EvalEvent::Protect(ProtectEvent::StageDone { name, seconds, cached, .. }) => ui.status(format!("protect stage {name}: {seconds:.1}s{}", if cached { " (cached)" } else { "" })),
        EvalEvent::Protect(ProtectEvent::Train { label, event: TrainEvent::Epoch { epoch, accuracy, .. } }) => ui.status(format!("proxy {label}: epoch {} train acc {accuracy:.3}", epoch + 1)),
        EvalEvent::Train(TrainEvent::Epoch { epoch, accuracy, .. }) => ui.status(format!("epoch {} train acc {accuracy:.3}", epoch + 1)),
        EvalEvent::JobDone { name, outcome, .. } => ui.status(format!("{name}: {outcome}")),
        _ => {}
    }
}

fn run_job(a: &RunJob, ui: &Ui) -> Result<ExitStatus> {
    if let Some(t) = a.threads {
        honeyimage::set_threads(t as usize);
    }
    let (_, plan) = jobs::open(&a.run)?;
    let id = job_id(a, &plan)?;
    let name = plan.units.get(id).map_or_else(String::new, |u| u.name.clone());
    ui.status(format!("job {id} {name}"));
    match jobs::run(&a.run, id, &mut |ev| log_event(ui, ev))? {
        Ran::AlreadyDone => ui.status(format!("job {id} {name}: already done")),
        Ran::Done(d) => ui.status(format!("job {id} {name}: done in {:.1}s on {} ({} threads, peak {:.0} MiB)", d.seconds, d.host, d.threads, d.peak_mib)),
    }
    Ok(ExitStatus::Success)
}

/// Lists unfinished jobs with their error and log on stderr.
fn report_unfinished(run: &Path, plan: &JobPlan, states: &[State], limit: usize) {
    let left = jobs::unfinished(plan, states);
    for (u, s) in left.iter().take(limit) {
        let log = jobs::log_path(run, u);
        let log = if log.exists() { format!(" (log {})", log.display()) } else { String::new() };
        match s {
            State::Failed(f) => eprintln!("  failed  {:>5} {} on {}: {}{log}", u.id, u.name, f.host, f.error),
            _ => eprintln!("  pending {:>5} {}{log}", u.id, u.name),
        }
    }
    if left.len() > limit {
        eprintln!("  ... and {} more", left.len() - limit);
    }
}

fn merge(run: &Path, ui: &Ui) -> Result<ExitStatus> {
    let (_, plan) = jobs::open(run)?;
    let states = jobs::states(run, &plan)?;
    if !jobs::unfinished(&plan, &states).is_empty() {
        report_unfinished(run, &plan, &states, 50);
    }
    let results = jobs::merge(run, &mut |_| {})?;
    ui.status(format!("merged {} jobs", plan.units.len()));
    print_summary(&results, run);
    Ok(ExitStatus::Success)
}

fn status(a: &StatusArgs) -> Result<ExitStatus> {
    let (_, plan) = jobs::open(&a.run)?;
    let states = jobs::states(&a.run, &plan)?;
    println!("{:<10} {:>5} {:>5} {:>7} {:>7} {:>10}", "stage", "jobs", "done", "failed", "pending", "work (s)");
    for st in &plan.stages {
        let range = &states[st.first..st.first + st.len];
        let (mut done, mut failed, mut secs) = (0, 0, 0.0);
        for s in range {
            match s {
                State::Done(d) => (done, secs) = (done + 1, secs + d.seconds),
                State::Failed(_) => failed += 1,
                State::Pending => {}
            }
        }
        println!("{:<10} {:>5} {:>5} {:>7} {:>7} {:>10.1}", st.name, st.len, done, failed, st.len - done - failed, secs);
    }
    report_unfinished(&a.run, &plan, &states, 20);
    match schedule::seconds(&plan, &states) {
        None => println!("wall-time estimate: needs at least one finished job of each kind"),
        Some((secs, estimated)) => {
            let est = if estimated > 0 { format!(" ({estimated} jobs not run yet: the median of their kind)") } else { String::new() };
            println!("total work {:.0}s, critical path {:.0}s{est}", secs.iter().sum::<f64>(), schedule::critical_path(&plan, &secs));
            println!("{:>8} {:>14} {:>14}", "workers", "slurm (s)", "by job (s)");
            for &w in &a.workers {
                println!("{:>8} {:>14.0} {:>14.0}", w, schedule::staged(&plan, &secs, w), schedule::by_job(&plan, &secs, w));
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Writes scripts into `dir` (emptied first: no stale stage lingers).
fn write_scripts(dir: &Path, scripts: &[cluster::Script]) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for s in scripts {
        honeyimage_data::write_atomic(&dir.join(&s.file), s.text.as_bytes())?;
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    p.canonicalize().with_context(|| format!("{}: not found", p.display()))
}

fn slurm(a: &SlurmArgs, ui: &Ui) -> Result<ExitStatus> {
    let run = absolute(&a.run)?;
    let (_, plan) = jobs::open(&run)?;
    let states = jobs::states(&run, &plan)?;
    let binary = match &a.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("locating this binary")?,
    };
    let o = SlurmOptions {
        binary,
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: a.cpus_per_task,
        mem: a.mem.clone(),
        gres: a.gres.clone(),
        account: a.account.clone(),
        max_parallel: a.max_parallel,
    };
    let scripts = cluster::slurm_scripts(&plan, &states, &run, &o)?;
    let dir = run.join("slurm");
    write_scripts(&dir, &scripts)?;
    // Slurm cannot open a log in a folder that does not exist.
    std::fs::create_dir_all(run.join("logs")).context("creating the logs folder")?;
    let pending: usize = scripts.iter().filter(|s| s.stage != "merge").map(|s| s.jobs).sum();
    ui.status(format!("{}: {} scripts, {pending} of {} jobs to run", dir.display(), scripts.len(), plan.units.len()));
    if !a.submit {
        ui.status("submit them in order with --submit (each stage --dependency=afterok on the one before)");
        return Ok(ExitStatus::Success);
    }
    let mut previous: Option<String> = None;
    for s in &scripts {
        let mut cmd = Process::new("sbatch");
        cmd.args(["--parsable", "--kill-on-invalid-dep=yes"]);
        if let Some(p) = &previous {
            cmd.arg(format!("--dependency=afterok:{p}"));
        }
        let out = cmd.arg(dir.join(&s.file)).output().context("running sbatch (is Slurm installed and SLURM_CONF set?)")?;
        if !out.status.success() {
            bail!("sbatch {}: {}", s.file, String::from_utf8_lossy(&out.stderr).trim());
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_string();
        println!("{} {} ({} jobs)", s.stage, id, s.jobs);
        previous = Some(id);
    }
    Ok(ExitStatus::Success)
}

fn k8s(a: &K8sArgs, ui: &Ui) -> Result<ExitStatus> {
    let run = absolute(&a.run)?;
    let (_, plan) = jobs::open(&run)?;
    let mount = match &a.mount {
        Some(m) => m.clone(),
        None => run.parent().context("the run folder has no parent")?.to_path_buf(),
    };
    let o = K8sOptions { image: a.image.clone(), claim: a.claim.clone(), mount, parallelism: a.parallelism, cpus: a.cpus, memory: a.memory.clone(), gpus: a.gpus };
    let manifests = cluster::k8s_manifests(&plan, &run, &o)?;
    let dir = run.join("k8s");
    write_scripts(&dir, &manifests)?;
    ui.status(format!("{}: {} manifests; apply them with sh {}/apply.sh, then run honeyimage eval merge", dir.display(), manifests.len() - 1, dir.display()));
    Ok(ExitStatus::Success)
}

/// One job as a child process writing its log.
fn spawn(run: &Path, plan: &JobPlan, id: usize) -> Result<Child> {
    let log_path = jobs::log_path(run, &plan.units[id]);
    std::fs::create_dir_all(log_path.parent().expect("logs folder")).context("creating the logs folder")?;
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let exe = std::env::current_exe().context("locating this binary")?;
    Process::new(exe)
        .args(["eval", "run-job"])
        .arg(run)
        .args(["--job", &id.to_string(), "--threads", "1"])
        .env("OMP_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting a job process")
}

/// The plan run here, `workers` jobs at a time, each job as soon as the
/// jobs it needs have finished; then merged.
pub fn run_local(config: &EvalConfig, out: &Path, workers: usize, ui: &Ui) -> Result<EvalResults> {
    let plan = jobs::write_plan(config, out)?;
    let started = Instant::now();
    let bar = ui.bar(plan.units.len() as u64, "eval");
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    loop {
        let states = jobs::states(out, &plan)?;
        bar.set_position(states.iter().filter(|s| matches!(s, State::Done(_))).count() as u64);
        let mut still = Vec::new();
        for (id, mut child) in running {
            match child.try_wait()? {
                Some(status) if !status.success() => failed.push(id),
                Some(_) => {
                    if let State::Done(d) = &states[id] {
                        ui.line(&bar, format!("{} ({id}): {:.1}s", d.name, d.seconds));
                    }
                }
                None => still.push((id, child)),
            }
        }
        running = still;
        if failed.is_empty() {
            let ids: Vec<usize> = running.iter().map(|(i, _)| *i).collect();
            for id in jobs::ready(&plan, &states, &ids).into_iter().take(workers.saturating_sub(running.len())) {
                running.push((id, spawn(out, &plan, id)?));
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bar.finish_and_clear();
    if let Some(&id) = failed.first() {
        bail!("job {} ({id}) failed; its log: {}", plan.units[id].name, jobs::log_path(out, &plan.units[id]).display());
    }
    ui.status(format!("{} jobs in {:.0}s on {workers} workers; merging", plan.units.len(), started.elapsed().as_secs_f64()));
    Ok(jobs::merge(out, &mut |_| {})?)
}
