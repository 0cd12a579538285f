//! An evaluation as a plan of independent jobs, so that it runs wherever
//! work can be spread: several processes on one machine, Slurm job arrays,
//! Kubernetes Indexed Jobs. A job reads and writes only the run folder (a
//! shared file system on a cluster), and its outputs are the very cache
//! files the one-process [`super::evaluate`] writes, each written
//! atomically: a job killed or run twice leaves correct results, and
//! [`merge`] assembles them exactly as one process would.
//!
//! | stage | one job per | needs |
//! |---|---|---|
//! | `data` | the run (D and the disjoint set) | - |
//! | `proxies` | out-of-fold proxy of HoneyImage and of keys 1..K | data |
//! | `releases` | HoneyImage, BadNets, key 1..K: optimisation, release, key | its proxies |
//! | `baselines` | random-PGD, hard-unperturbed (HoneyImage's proxies reused) | HoneyImage's release |
//! | `suspects` | unattacked suspect or external model: train, judge | every release |
//! | `attacks` | attacked suspect (from its unattacked model) | that suspect |
//!
//! The plan is `plan.json` in the run folder; a finished job leaves
//! `jobs/done/NAME.json` (its wall time, host and peak memory), a failed
//! one `jobs/failed/NAME.json` (its error).
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::releases::{self, ReleaseRef};
use super::{data, plan, EvalEvent, EvalResults};
use crate::config::EvalConfig;
use crate::fsio::{read_json, write_json};
use crate::{Error, Result};
use honeyimage_report::Method;

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Work {
    /// Split the source into D and the disjoint set, written to the run.
    Data,
    /// Train one out-of-fold proxy of a release's protection.
    Proxy {
        /// Whose protection.
        release: ReleaseRef,
        /// Fold.
        fold: usize,
        /// Index into the protection's proxy architectures.
        arch: usize,
    },
    /// The rest of a protection (or the watermark): release and key.
    Release {
        /// Which release.
        release: ReleaseRef,
    },
    /// Train and judge one suspect of the population.
    Suspect {
        /// Its name in the population ([`plan::Job::name`]).
        suspect: String,
    },
    /// Judge a model trained elsewhere (`external_clean`).
    External {
        /// Its name in the configuration.
        model: String,
    },
}

/// One job of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Position in the plan (a Slurm array index).
    pub id: usize,
    /// Unique, stable name (also the name of its markers).
    pub name: String,
    /// Its stage.
    pub stage: String,
    /// What it does.
    pub work: Work,
    /// Jobs that must have finished first (all earlier in the plan).
    pub after: Vec<usize>,
}

/// A stage: a contiguous range of jobs, each needing only earlier stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// `data`, `proxies`, `releases`, `baselines`, `suspects` or `attacks`.
    pub name: String,
    /// Its first job's id.
    pub first: usize,
    /// Number of jobs.
    pub len: usize,
}

/// The whole plan (`plan.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPlan {
    /// Every job, in an order that respects `after`.
    pub units: Vec<Unit>,
    /// The non-empty stages, in order.
    pub stages: Vec<Stage>,
}

impl JobPlan {
    /// A stage by name.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// Builds the plan a stage at a time.
#[derive(Default)]
struct Builder {
    plan: Vec<Unit>,
    stages: Vec<Stage>,
}

impl Builder {
    fn push(&mut self, stage: &str, name: String, work: Work, after: Vec<usize>) -> usize {
        let id = self.plan.len();
        match self.stages.last_mut() {
            Some(s) if s.name == stage => s.len += 1,
            _ => self.stages.push(Stage { name: stage.into(), first: id, len: 1 }),
        }
        self.plan.push(Unit { id, name, stage: stage.into(), work, after });
        id
    }
}

/// The releases that judge suspects, with their own proxies first.
fn release_order(config: &EvalConfig, methods: &[Method]) -> (Vec<ReleaseRef>, Vec<ReleaseRef>) {
    let keys = (1..config.keys).map(ReleaseRef::Key);
    let (own, reuse): (Vec<Method>, Vec<Method>) = methods.iter().partition(|&&m| !matches!(m, Method::RandomPgd | Method::HardUnperturbed));
    (own.into_iter().map(ReleaseRef::Method).chain(keys).collect(), reuse.into_iter().map(ReleaseRef::Method).collect())
}

/// The plan of an evaluation (pure: nothing is read or written).
pub fn build(config: &EvalConfig) -> JobPlan {
    let population = plan::plan(config);
    let mut b = Builder::default();
    let data = b.push("data", "data".into(), Work::Data, vec![]);
    let (first, reusing) = release_order(config, &population.methods);
    let mut proxies: Vec<Vec<usize>> = Vec::new();
    for &r in &first {
        let mut ids = Vec::new();
        if let Some(pc) = r.protect_config(config).filter(|_| r.has_own_proxies()) {
            for fold in 0..pc.folds {
                for (arch, a) in pc.proxy_archs.iter().enumerate() {
                    let name = format!("proxy/{}/fold{fold}-{a}", r.label());
                    ids.push(b.push("proxies", name, Work::Proxy { release: r, fold, arch }, vec![data]));
                }
            }
        }
        proxies.push(ids);
    }
    let mut made: Vec<usize> = Vec::new();
    for (&r, own) in first.iter().zip(proxies) {
        made.push(b.push("releases", format!("release/{}", r.label()), Work::Release { release: r }, [vec![data], own].concat()));
    }
    let honey = made[0];
    for &r in &reusing {
        made.push(b.push("baselines", format!("release/{}", r.label()), Work::Release { release: r }, vec![honey]));
    }
    let mut suspect_ids = std::collections::BTreeMap::new();
    for job in population.jobs.iter().filter(|j| j.attack.is_none()) {
        suspect_ids.insert(job.name.clone(), b.push("suspects", format!("suspect/{}", job.name), Work::Suspect { suspect: job.name.clone() }, made.clone()));
    }
    for ext in &config.external_clean {
        b.push("suspects", format!("external/{}", ext.name), Work::External { model: ext.name.clone() }, made.clone());
    }
    for job in population.jobs.iter().filter(|j| j.attack.is_some()) {
        // Its unattacked model, and the clean model of its architecture and
        // seed (which fine-tuning attacks start from), when the population
        // has them; otherwise the job trains them itself.
        let clean = format!("all/{}/{}/s{}", honeyimage_report::Role::CleanDisjoint, job.arch_label(), job.seed);
        let mut after: Vec<usize> = [job.unattacked().name, clean].iter().filter_map(|n| suspect_ids.get(n).copied()).collect();
        after.dedup();
        if after.is_empty() {
            after = made.clone();
        }
        b.push("attacks", format!("suspect/{}", job.name), Work::Suspect { suspect: job.name.clone() }, after);
    }
    JobPlan { units: b.plan, stages: b.stages }
}

/// `plan.json` of a run folder.
fn plan_path(run_dir: &Path) -> PathBuf {
    run_dir.join("plan.json")
}

/// Checks `config`, binds the run folder to it and writes `plan.json`.
pub fn write_plan(config: &EvalConfig, run_dir: &Path) -> Result<JobPlan> {
    config.single()?;
    config.validate()?;
    super::bind_run_dir(config, run_dir)?;
    let plan = build(config);
    write_json(&plan_path(run_dir), &plan)?;
    Ok(plan)
}

/// The configuration and plan of a planned run folder.
pub fn open(run_dir: &Path) -> Result<(EvalConfig, JobPlan)> {
    let missing = || Error::invalid("run folder", format!("{} has no plan; run `honeyimage eval plan --out {}` first", run_dir.display(), run_dir.display()));
    let config: EvalConfig = read_json(&run_dir.join("config.json"))?.ok_or_else(missing)?;
    let plan: JobPlan = read_json(&plan_path(run_dir))?.ok_or_else(missing)?;
    if plan != build(&config) {
        return Err(Error::invalid("run folder", format!("{}: plan.json does not match config.json; run `honeyimage eval plan` again", run_dir.display())));
    }
    Ok((config, plan))
}

/// What a finished job leaves (`jobs/done/NAME.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// Job id.
    pub id: usize,
    /// Job name.
    pub name: String,
    /// Wall time of the job's own work, seconds (0 when nothing was left to do).
    pub seconds: f64,
    /// Peak resident memory of its process, MiB.
    pub peak_mib: f64,
    /// Host that ran it.
    pub host: String,
    /// libtorch threads it used.
    pub threads: i32,
}

/// What a failed job leaves (`jobs/failed/NAME.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    /// Job id.
    pub id: usize,
    /// Job name.
    pub name: String,
    /// The error, one line.
    pub error: String,
    /// Host that ran it.
    pub host: String,
}

/// Where a job's marker lives (`state`: `done` or `failed`).
fn marker(run_dir: &Path, state: &str, name: &str) -> PathBuf {
    run_dir.join("jobs").join(state).join(format!("{}.json", name.replace('/', "__")))
}

/// Where the local runner and the Slurm scripts write a job's log.
pub fn log_path(run_dir: &Path, unit: &Unit) -> PathBuf {
    run_dir.join("logs").join(format!("{}-{}.log", unit.stage, unit.id))
}

/// A job's state as its markers say.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Finished.
    Done(Done),
    /// Its last attempt failed (and none finished since).
    Failed(Failed),
    /// Not run, running, or killed.
    Pending,
}

/// The state of every job of the plan.
pub fn states(run_dir: &Path, plan: &JobPlan) -> Result<Vec<State>> {
    plan.units
        .iter()
        .map(|u| {
            if let Some(d) = read_json::<Done>(&marker(run_dir, "done", &u.name))? {
                return Ok(State::Done(d));
            }
            Ok(read_json::<Failed>(&marker(run_dir, "failed", &u.name))?.map_or(State::Pending, State::Failed))
        })
        .collect()
}

/// The jobs that can start now: not finished, not in `running`, and every
/// job they need finished.
pub fn ready(plan: &JobPlan, states: &[State], running: &[usize]) -> Vec<usize> {
    let done = |i: usize| matches!(states[i], State::Done(_));
    plan.units.iter().filter(|u| !done(u.id) && !running.contains(&u.id) && u.after.iter().all(|&a| done(a))).map(|u| u.id).collect()
}

/// This machine's name.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

/// How [`run`] found or left a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// It had finished before.
    AlreadyDone,
    /// It ran now.
    Done(Done),
}

/// Runs job `id` of a planned run folder (once: a finished job returns at
/// once). The jobs it needs must have finished.
pub fn run(run_dir: &Path, id: usize, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Ran> {
    let (config, plan) = open(run_dir)?;
    let unit = plan.units.get(id).ok_or_else(|| Error::invalid("job", format!("{id}: the plan of {} has jobs 0..{}", run_dir.display(), plan.units.len())))?;
    if marker(run_dir, "done", &unit.name).exists() {
        return Ok(Ran::AlreadyDone);
    }
    if let Some(&n) = unit.after.iter().find(|&&a| !marker(run_dir, "done", &plan.units[a].name).exists()) {
        let msg = format!("{} ({id}) needs {} ({n}), which has not finished", unit.name, plan.units[n].name);
        return Err(Error::invalid("job", msg));
    }
    let started = Instant::now();
    match execute(&config, unit, run_dir, on_event) {
        Ok(()) => {
            let d = Done {
                id,
                name: unit.name.clone(),
                seconds: started.elapsed().as_secs_f64(),
                peak_mib: crate::protect::peak_rss_mib(),
                host: host(),
                threads: tch::get_num_threads(),
            };
            write_json(&marker(run_dir, "done", &unit.name), &d)?;
            let _ = std::fs::remove_file(marker(run_dir, "failed", &unit.name));
            Ok(Ran::Done(d))
        }
        Err(e) => {
            let f = Failed { id, name: unit.name.clone(), error: e.to_string().replace('\n', " "), host: host() };
            write_json(&marker(run_dir, "failed", &unit.name), &f)?;
            Err(e)
        }
    }
}

/// Does a job's work.
fn execute(config: &EvalConfig, unit: &Unit, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<()> {
    match &unit.work {
        Work::Data => data::prepare(config, run_dir).map(drop),
        Work::Proxy { release, fold, arch } => releases::proxy(*release, (*fold, *arch), config, run_dir, on_event).map(drop),
        Work::Release { release } => releases::make(*release, config, &data::prepare(config, run_dir)?, run_dir, on_event),
        Work::Suspect { suspect } => {
            let population = plan::plan(config);
            let job = population.jobs.iter().find(|j| &j.name == suspect).ok_or_else(|| Error::invalid("job", format!("no suspect {suspect} in the population")))?;
            with_runner(config, &population.methods, run_dir, on_event, |r, ev| r.suspect(job, ev).map(drop))
        }
        Work::External { model } => {
            let ext = config.external_clean.iter().find(|e| &e.name == model).ok_or_else(|| Error::invalid("job", format!("no external model {model} in the configuration")))?;
            with_runner(config, &plan::methods(config), run_dir, on_event, |r, ev| r.external(ext, ev).map(drop))
        }
    }
}

/// Opens the run's data and its finished releases for judging suspects.
fn with_runner(
    config: &EvalConfig,
    methods: &[Method],
    run_dir: &Path,
    on_event: &mut dyn FnMut(EvalEvent),
    f: impl FnOnce(&mut super::suspects::Runner, &mut dyn FnMut(EvalEvent)) -> Result<()>,
) -> Result<()> {
    let (first, reusing) = release_order(config, methods);
    if let Some(r) = first.iter().chain(&reusing).find(|r| !r.is_made(run_dir)) {
        return Err(Error::invalid("job", format!("the {} release has not been made", r.label())));
    }
    let data = data::prepare(config, run_dir)?;
    // Every release is made: this only loads keys and watermarks.
    let rel = releases::prepare(config, methods, &data, run_dir, &mut |_| {})?;
    f(&mut super::suspects::Runner::new(config, &data, &rel, run_dir), on_event)
}

/// The jobs not finished, with their state.
pub fn unfinished<'a>(plan: &'a JobPlan, states: &'a [State]) -> Vec<(&'a Unit, &'a State)> {
    plan.units.iter().zip(states).filter(|(_, s)| !matches!(s, State::Done(_))).collect()
}

/// Assembles results, CSV and report from a run whose jobs have all
/// finished: the one-process evaluation, which finds every job's outputs
/// cached and computes nothing but the summaries.
pub fn merge(run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<EvalResults> {
    let (config, plan) = open(run_dir)?;
    let states = states(run_dir, &plan)?;
    let left = unfinished(&plan, &states);
    if let Some((u, _)) = left.first() {
        let msg = format!("{} of {} jobs have not finished (first: {} ({})); `honeyimage eval status` lists them", left.len(), plan.units.len(), u.name, u.id);
        return Err(Error::invalid("run", msg));
    }
    super::evaluate(&config, run_dir, on_event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, ArchSpec, Attack, Baselines};

    fn config() -> EvalConfig {
        let mut c = EvalConfig {
            archs: vec![ArchSpec { arch: Arch::SmallCnn, width: None, seeds: vec![0, 1] }],
            attacks: vec![Attack::Jpeg { quality: 75 }],
            keys: 2,
            baselines: Baselines { random_pgd: false, ..Default::default() },
            ..EvalConfig::default()
        };
        c.protect.folds = 2;
        c
    }

    #[test]
    fn stages_follow_each_other_and_every_job_needs_only_earlier_ones() {
        let p = build(&config());
        let stages: Vec<(&str, usize)> = p.stages.iter().map(|s| (s.name.as_str(), s.len)).collect();
        assert_eq!(stages, [("data", 1), ("proxies", 4), ("releases", 3), ("baselines", 1), ("suspects", 9), ("attacks", 4)]);
        for u in &p.units {
            assert!(u.after.iter().all(|&a| a < u.id), "{u:?}");
            let s = p.stage(&u.stage).unwrap();
            assert!((s.first..s.first + s.len).contains(&u.id));
        }
        let names: Vec<&str> = p.units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(&names[1..3], ["proxy/honeyimage/fold0-small-cnn", "proxy/honeyimage/fold1-small-cnn"]);
        assert_eq!(&names[5..9], ["release/honeyimage", "release/badnets", "release/key-1", "release/hard-unperturbed"]);
        assert_eq!(p.units[5].after, [0, 1, 2]);
        assert_eq!(p.units[7].after, [0, 3, 4]);
        assert_eq!(p.units[8].after, [5]);
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn every_suspect_of_the_population_is_one_job_and_attacks_start_from_their_model() {
        let c = config();
        let p = build(&c);
        let population = plan::plan(&c);
        let jobs: Vec<String> = p.units.iter().filter_map(|u| match &u.work { Work::Suspect { suspect } => Some(suspect.clone()), _ => None }).collect();
        let mut expect: Vec<String> = population.jobs.iter().map(|j| j.name.clone()).collect();
        let mut got = jobs.clone();
        expect.sort();
        got.sort();
        assert_eq!(got, expect);
        let attacked = p.units.iter().find(|u| u.name == "suspect/honeyimage/infringing/small-cnn/s0/jpeg-q75").unwrap();
        let needs: Vec<&str> = attacked.after.iter().map(|&a| p.units[a].name.as_str()).collect();
        assert_eq!(needs, ["suspect/honeyimage/infringing/small-cnn/s0", "suspect/all/clean-disjoint/small-cnn/s0"]);
        // The clean suspect's attacked twin waits for it alone.
        let clean = p.units.iter().find(|u| u.name == "suspect/all/clean-disjoint/small-cnn/s0/jpeg-q75").unwrap();
        assert_eq!(clean.after.len(), 1);
    }

    #[test]
    fn ready_jobs_wait_for_what_they_need() {
        let p = build(&config());
        let mut st = vec![State::Pending; p.units.len()];
        assert_eq!(ready(&p, &st, &[]), [0]);
        assert!(ready(&p, &st, &[0]).is_empty());
        let done = |id: usize| State::Done(Done { id, name: String::new(), seconds: 1.0, peak_mib: 0.0, host: String::new(), threads: 1 });
        st[0] = done(0);
        assert_eq!(ready(&p, &st, &[2]), [1, 3, 4, 6]);
        st[1] = done(1);
        st[2] = State::Failed(Failed { id: 2, name: String::new(), error: "x".into(), host: String::new() });
        assert!(!ready(&p, &st, &[]).contains(&5));
        assert!(ready(&p, &st, &[]).contains(&2));
    }

    #[test]
    fn a_run_folder_without_a_plan_or_with_another_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let err = open(t.path()).unwrap_err().to_string();
        assert!(err.contains("no plan") && err.contains("eval plan"), "{err}");
        let c = config();
        write_json(&t.path().join("config.json"), &c).unwrap();
        let mut other = c.clone();
        other.archs[0].seeds.push(2);
        write_json(&plan_path(t.path()), &build(&other)).unwrap();
        let err = open(t.path()).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        write_json(&plan_path(t.path()), &build(&c)).unwrap();
        assert_eq!(open(t.path()).unwrap().1, build(&c));
        assert!(run(t.path(), 999, &mut |_| {}).unwrap_err().to_string().contains("999"));
        let err = run(t.path(), 1, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("needs data (0)"), "{err}");
    }
}
