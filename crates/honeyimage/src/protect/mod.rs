//! `protect`: the owner's pipeline from a private dataset to a release and a
//! secret key (SPEC sections 1-3), as a sequence of stages that each take
//! typed input and give typed output, so each can be run and tested alone:
//!
//! | stage | module | result |
//! |---|---|---|
//! | out-of-fold proxies | [`proxies`] | K x A trained models |
//! | hardness | [`hardness`] | per-sample out-of-fold loss |
//! | candidates | [`candidates`] | 2N hardest, split into R and W |
//! | optimisation | [`optimise`] (the algorithm: [`honey`]) | HoneyImages |
//! | release | [`release`] | the dataset in its own format |
//! | key | [`keygen`] | the owner's secret key |
//!
//! Every costly stage's result is cached in a [`WorkDir`] (written
//! atomically), so a run killed at any point resumes where it stopped and
//! gives the same outputs as an uninterrupted one: proxies are always
//! reloaded from their saved weights, and every random choice derives from
//! the recorded seed.
pub mod candidates;
pub mod hardness;
pub mod honey;
pub mod keygen;
pub mod optimise;
pub mod proxies;
pub mod recipients;
pub mod release;
pub mod summary;
pub mod workdir;

use std::path::Path;
use std::time::Instant;

use honeyimage_data::{DataSource, Dataset, Split};
use serde::{Deserialize, Serialize};

pub use crate::config::{ProtectConfig, Selection};
pub use summary::{similarity, ProtectSummary, Similarity, StageStat};
pub use workdir::WorkDir;

use crate::key::{self, KeyBody, SecretString};
use crate::tensors::TensorSet;
use crate::train::TrainEvent;
use crate::{Error, Result};

/// Progress of a run, for the caller to render.
#[derive(Debug, Clone)]
pub enum ProtectEvent {
    /// A stage started.
    Stage {
        /// Stage name.
        name: String,
    },
    /// A stage finished.
    StageDone {
        /// Stage name.
        name: String,
        /// Wall time.
        seconds: f64,
        /// Peak resident memory of the process so far, in MiB.
        peak_mib: f64,
        /// Whether its result came from the work directory.
        cached: bool,
    },
    /// A proxy is training.
    Train {
        /// Which proxy.
        label: String,
        /// The training event.
        event: TrainEvent,
    },
    /// An outer iteration of the optimisation finished.
    Pgd {
        /// Which run (honey, unperturbed, random...).
        label: String,
        /// Iteration (1-based).
        iter: usize,
        /// Iterations.
        total: usize,
    },
}

/// The outcome of `protect`.
pub struct ProtectOutcome {
    /// The key as written.
    pub key: KeyBody,
    /// The summary (also inside the key, without the stage timings).
    pub summary: ProtectSummary,
}

/// Where `protect` writes.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    /// The release folder (must not exist).
    pub release: &'a Path,
    /// The key file.
    pub key: &'a Path,
    /// The work folder for resumable intermediate results.
    pub work: &'a Path,
}

/// Where protect writes the public commitment statement: beside the
/// release (`RELEASE.commitment.txt`), not inside it, since the commitment
/// covers the release's fingerprint.
pub fn commitment_path(release: &Path) -> std::path::PathBuf {
    let mut name = release.as_os_str().to_os_string();
    name.push(".commitment.txt");
    name.into()
}

/// Peak resident set size of this process, MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// What a work folder is bound to.
#[derive(Serialize, Deserialize, PartialEq)]
struct WorkParams {
    config: ProtectConfig,
    dataset_fingerprint: String,
    split: String,
    /// Recipients of per-recipient releases (empty: one release).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    recipients: Vec<String>,
}

/// Times stages and reports them.
struct Stages<'a> {
    on_event: &'a mut dyn FnMut(ProtectEvent),
    done: Vec<StageStat>,
}

impl Stages<'_> {
    /// Runs one stage; `f` gets the event sink and says whether its result was cached.
    fn run<T>(&mut self, name: &str, f: impl FnOnce(&mut dyn FnMut(ProtectEvent)) -> Result<(T, bool)>) -> Result<T> {
        (self.on_event)(ProtectEvent::Stage { name: name.into() });
        let start = Instant::now();
        let (value, cached) = f(&mut *self.on_event)?;
        let stat = StageStat { name: name.into(), seconds: start.elapsed().as_secs_f64(), peak_mib: peak_rss_mib(), cached };
        (self.on_event)(ProtectEvent::StageDone { name: name.into(), seconds: stat.seconds, peak_mib: stat.peak_mib, cached });
        self.done.push(stat);
        Ok(value)
    }
}

/// Loads the split to protect and checks it is large enough for 2N
/// candidates per release (and as many ordinary samples).
fn load(src: &DataSource, split: Split, config: &ProtectConfig, releases: usize) -> Result<Dataset> {
    config.validate()?;
    let mut ds = src.load(split)?;
    ds.check_classes(config.num_classes).map_err(|e| Error::invalid("classes", format!("{} ({split} split): {e}", src.path().display())))?;
    let needed = 4 * config.count * releases;
    if ds.len() < needed {
        let per = if releases > 1 { format!(" for each of {releases} recipients") } else { String::new() };
        let msg = format!("N = {}{per} needs at least {needed} samples; {} has {}", config.count, src.path().display(), ds.len());
        return Err(Error::invalid("count", msg));
    }
    Ok(ds)
}

/// The shared stages' results: the data, its folds, the proxies and every
/// sample's hardness.
struct Prepared {
    ds: Dataset,
    fingerprint: String,
    data: TensorSet,
    folds: Vec<Vec<usize>>,
    proxies: proxies::Proxies,
    hardness: hardness::Hardness,
    wd: WorkDir,
}

/// Loads the data, opens the work folder and runs the shared stages
/// (proxies and hardness).
fn prepare(src: &DataSource, split: Split, work: &Path, config: &ProtectConfig, recipients: &[String], st: &mut Stages) -> Result<Prepared> {
    let ds = load(src, split, config, recipients.len().max(1))?;
    let fingerprint = key::fingerprint_dataset(&ds);
    let params = WorkParams { config: config.clone(), dataset_fingerprint: fingerprint.clone(), split: split.to_string(), recipients: recipients.to_vec() };
    let wd = WorkDir::open(work, &params)?;
    let data = TensorSet::from_dataset(&ds, crate::default_device())?;
    let folds = honeyimage_data::kfold(ds.len(), config.folds, config.seed);
    let proxies = st.run("proxies", |ev| Ok((proxies::train_proxies(&ds, &data, &folds, config, &wd, ev)?, false)))?;
    let hardness = st.run("hardness", |_| wd.cached("hardness.json", || hardness::score(&proxies, &data, &folds)))?;
    Ok(Prepared { ds, fingerprint, data, folds, proxies, hardness, wd })
}

/// One release to make from prepared stages: its candidates, where it
/// goes, and the names of its entries in the work folder.
struct Job<'a> {
    cands: &'a candidates::Candidates,
    outputs: Outputs<'a>,
    /// Suffix of this release's work-folder entries ("" for a single release).
    tag: String,
    recipient: Option<String>,
}

/// The stages of one release: optimisation, release, key and commitment.
/// The summary's stage list holds this release's stages only.
fn finish(src: &DataSource, split: Split, p: &Prepared, job: &Job, config: &ProtectConfig, passphrase: Option<&SecretString>, st: &mut Stages) -> Result<ProtectOutcome> {
    let (wd, tag, mark) = (&p.wd, &job.tag, st.done.len());
    let suffix = |stage: &str| if tag.is_empty() { stage.to_string() } else { format!("{stage} {tag}") };
    let entry = |name: &str| if tag.is_empty() { format!("{name}.json") } else { format!("{name}-{tag}.json") };
    let opt = st.run(&suffix("optimisation"), |ev| wd.cached(&entry("honey"), || optimise::run(&p.data, &p.folds, &p.proxies, job.cands, config, ev)))?;
    let edits = release::edits(job.cands, &opt.honey);
    let release_fp = st.run(&suffix("release"), |_| Ok((release::write(src, split, job.outputs.release, &edits, wd, &entry("release"))?, false)))?;
    let mut summary = summary::summarise(&p.ds, job.cands, &p.hardness, &opt);
    let (nonce, _) = wd.cached(&entry("nonce"), || Ok(keygen::fresh_nonce()))?;
    let origin = keygen::Origin { src, split, ds: &p.ds, fingerprint: p.fingerprint.clone(), nonce };
    let mut body = keygen::build(&origin, config, job.cands, &p.hardness, &opt.honey, release_fp, &summary);
    body.recipient = job.recipient.clone();
    st.run(&suffix("key"), |_| Ok((key::save_with(&body, job.outputs.key, passphrase)?, false)))?;
    honeyimage_data::write_atomic(&commitment_path(job.outputs.release), key::public_statement(&body).as_bytes())?;
    summary.stages = st.done[mark..].to_vec();
    Ok(ProtectOutcome { key: body, summary })
}

/// Runs the whole pipeline: proxies, hardness, candidates, optimisation,
/// release and key (encrypted when a passphrase is given).
pub fn protect(
    src: &DataSource,
    split: Split,
    outputs: Outputs,
    config: &ProtectConfig,
    passphrase: Option<&SecretString>,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<ProtectOutcome> {
    let mut st = Stages { on_event, done: Vec::new() };
    let p = prepare(src, split, outputs.work, config, &[], &mut st)?;
    let cands = st.run("candidates", |_| Ok((candidates::choose(&p.hardness, &p.ds.labels, p.ds.num_classes(), config)?, false)))?;
    let shared = st.done.clone();
    let mut outcome = finish(src, split, &p, &Job { cands: &cands, outputs, tag: String::new(), recipient: None }, config, passphrase, &mut st)?;
    outcome.summary.stages.splice(0..0, shared);
    Ok(outcome)
}
