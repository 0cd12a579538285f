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
    /// The released samples, for an in-memory input (None: written to disk).
    pub released: Option<Dataset>,
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

/// What protect reads: a dataset on disk, whose release is written in its
/// own format, or arrays in memory (the Python package), whose release is
/// returned in [`ProtectOutcome::released`] with nothing written but the
/// work folder.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// A split of a dataset on disk.
    Files {
        /// The opened dataset.
        src: &'a DataSource,
        /// The split to protect.
        split: Split,
    },
    /// Samples in memory.
    Memory {
        /// The samples.
        ds: &'a Dataset,
        /// What the key records as the data's source.
        name: &'a str,
    },
}

impl Input<'_> {
    /// The data's source, for the key and for messages.
    fn source(&self) -> String {
        match self {
            Input::Files { src, .. } => src.path().display().to_string(),
            Input::Memory { name, .. } => name.to_string(),
        }
    }
    /// The split protected (arrays count as a training split).
    fn split(&self) -> Split {
        match self {
            Input::Files { split, .. } => *split,
            Input::Memory { .. } => Split::Train,
        }
    }
    /// The format the key records: the dataset's, or "arrays".
    fn format(&self) -> String {
        match self {
            Input::Files { src, .. } => src.format().to_string(),
            Input::Memory { .. } => "arrays".into(),
        }
    }
}

/// Loads the split to protect and checks it is large enough for 2N
/// candidates per release (and as many ordinary samples).
fn load(input: Input, config: &ProtectConfig, releases: usize) -> Result<Dataset> {
    config.validate()?;
    let mut ds = match input {
        Input::Files { src, split } => src.load(split)?,
        Input::Memory { ds, .. } => {
            ds.validate()?;
            ds.clone()
        }
    };
    let (source, split) = (input.source(), input.split());
    ds.check_classes(config.num_classes).map_err(|e| Error::invalid("classes", format!("{source} ({split} split): {e}")))?;
    let needed = 4 * config.count * releases;
    if ds.len() < needed {
        let per = if releases > 1 { format!(" for each of {releases} recipients") } else { String::new() };
        let msg = format!("N = {}{per} needs at least {needed} samples; {source} has {}", config.count, ds.len());
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
fn prepare(input: Input, work: &Path, config: &ProtectConfig, recipients: &[String], st: &mut Stages) -> Result<Prepared> {
    let (ds, fingerprint, wd) = open_work(input, work, config, recipients)?;
    let data = TensorSet::from_dataset(&ds, crate::default_device())?;
    let folds = honeyimage_data::kfold(ds.len(), config.folds, config.seed);
    let proxies = st.run("proxies", |ev| Ok((proxies::train_proxies(&ds, &data, &folds, config, &wd, ev)?, false)))?;
    let hardness = st.run("hardness", |_| wd.cached("hardness.json", || hardness::score(&proxies, &data, &folds)))?;
    Ok(Prepared { ds, fingerprint, data, folds, proxies, hardness, wd })
}

/// Loads the data and opens the work folder bound to it and to `config`.
fn open_work(input: Input, work: &Path, config: &ProtectConfig, recipients: &[String]) -> Result<(Dataset, String, WorkDir)> {
    let ds = load(input, config, recipients.len().max(1))?;
    let fingerprint = key::fingerprint_dataset(&ds);
    let params = WorkParams { config: config.clone(), dataset_fingerprint: fingerprint.clone(), split: input.split().to_string(), recipients: recipients.to_vec() };
    let wd = WorkDir::open(work, &params)?;
    Ok((ds, fingerprint, wd))
}

/// Trains one out-of-fold proxy (fold `fold`, architecture number `arch`
/// of `config.proxy_archs`) into `work`, as the first stage of a later
/// [`protect`] with the same input, work folder and settings would: so the
/// K x A proxies can be trained as separate jobs (on other machines
/// sharing the folder), and `protect` then finds them. `recipients` are
/// those of a later per-recipient protection (empty: one release).
/// Returns whether it trained the proxy (false: the work folder had it).
pub fn train_proxy(input: Input, work: &Path, config: &ProtectConfig, recipients: &[String], (fold, arch): (usize, usize), on_event: &mut dyn FnMut(ProtectEvent)) -> Result<bool> {
    if fold >= config.folds || arch >= config.proxy_archs.len() {
        let what = format!("fold {fold} of {} / architecture {arch} of {}", config.folds, config.proxy_archs.len());
        return Err(Error::invalid("proxy", format!("{what}: no such proxy")));
    }
    let (ds, _, wd) = open_work(input, work, config, recipients)?;
    let data = TensorSet::from_dataset(&ds, crate::default_device())?;
    let folds = honeyimage_data::kfold(ds.len(), config.folds, config.seed);
    proxies::ensure_proxy(&ds, &data, &folds, (fold, arch), config, &wd, on_event)
}

/// Runs fold `fold`'s share of the optimisation into `work` (after the
/// proxies, which it trains if `work` lacks them, hardness and candidates),
/// as a later [`protect`] with the same input, work folder and settings
/// would: so the folds can run as separate jobs, and `protect` then finds
/// them. Single releases only. Returns whether it ran (false: `work` had it).
pub fn optimise_fold(input: Input, work: &Path, config: &ProtectConfig, fold: usize, on_event: &mut dyn FnMut(ProtectEvent)) -> Result<bool> {
    if fold >= config.folds {
        return Err(Error::invalid("fold", format!("{fold}: the protection has folds 0..{}", config.folds.saturating_sub(1))));
    }
    let mut st = Stages { on_event, done: Vec::new() };
    let p = prepare(input, work, config, &[], &mut st)?;
    let cands = candidates::choose(&p.hardness, &p.ds.labels, p.ds.num_classes(), config)?;
    let name = format!("honey-fold{fold}.json");
    let (_, cached) = p.wd.cached(&name, || optimise::run(&p.data, &p.folds, &p.proxies, &cands, config, Some(fold), st.on_event))?;
    Ok(!cached)
}

/// One release to make from prepared stages: its candidates, where it
/// goes, and the names of its entries in the work folder.
struct Job<'a> {
    cands: &'a candidates::Candidates,
    /// Release folder and key file (None: an in-memory input, nothing written).
    files: Option<(&'a Path, &'a Path)>,
    /// Suffix of this release's work-folder entries ("" for a single release).
    tag: String,
    recipient: Option<String>,
}

/// Makes the release: written in the input's format, or built in memory.
/// Returns its fingerprint (over the files, or over the samples) and, for
/// an in-memory input, the released samples.
fn make_release(input: Input, p: &Prepared, job: &Job, edits: &honeyimage_data::Edits, entry: &str) -> Result<(String, Option<Dataset>)> {
    match (input, job.files) {
        (Input::Files { src, split }, Some((out, _))) => Ok((release::write(src, split, out, edits, &p.wd, entry)?, None)),
        (Input::Memory { .. }, None) => {
            let released = p.ds.edited(edits)?;
            Ok((key::fingerprint_dataset(&released), Some(released)))
        }
        _ => unreachable!("files go with file inputs, memory with memory"),
    }
}

/// The optimisation fold by fold, each fold's share cached under
/// `entry(k)` (where [`optimise_fold`] jobs leave theirs), put together.
fn optimise_by_fold(p: &Prepared, cands: &candidates::Candidates, config: &ProtectConfig, entry: &dyn Fn(usize) -> String, ev: &mut dyn FnMut(ProtectEvent)) -> Result<optimise::Optimised> {
    let mut all: Option<optimise::Optimised> = None;
    for k in 0..p.folds.len() {
        let (part, _) = p.wd.cached(&entry(k), || optimise::run(&p.data, &p.folds, &p.proxies, cands, config, Some(k), ev))?;
        match &mut all {
            None => all = Some(part),
            Some(a) => a.append(part),
        }
    }
    all.ok_or_else(|| Error::invalid("folds", "no folds to optimise"))
}

/// The stages of one release: optimisation, release, key and commitment.
/// The summary's stage list holds this release's stages only.
fn finish(input: Input, p: &Prepared, job: &Job, config: &ProtectConfig, passphrase: Option<&SecretString>, st: &mut Stages) -> Result<ProtectOutcome> {
    let (wd, tag, mark) = (&p.wd, &job.tag, st.done.len());
    let suffix = |stage: &str| if tag.is_empty() { stage.to_string() } else { format!("{stage} {tag}") };
    let entry = |name: &str| if tag.is_empty() { format!("{name}.json") } else { format!("{name}-{tag}.json") };
    let opt = st.run(&suffix("optimisation"), |ev| wd.cached(&entry("honey"), || optimise_by_fold(p, job.cands, config, &|k| entry(&format!("honey-fold{k}")), ev)))?;
    let edits = release::edits(job.cands, &opt.honey);
    let (release_fp, released) = st.run(&suffix("release"), |_| Ok((make_release(input, p, job, &edits, &entry("release"))?, false)))?;
    let mut summary = summary::summarise(&p.ds, job.cands, &p.hardness, &opt);
    let (nonce, _) = wd.cached(&entry("nonce"), || Ok(keygen::fresh_nonce()))?;
    let origin = keygen::Origin { format: input.format(), source: input.source(), split: input.split(), ds: &p.ds, fingerprint: p.fingerprint.clone(), nonce };
    let mut body = keygen::build(&origin, config, job.cands, &p.hardness, &opt.honey, release_fp, &summary);
    body.recipient = job.recipient.clone();
    if let Some((release, key_path)) = job.files {
        st.run(&suffix("key"), |_| Ok((key::save_with(&body, key_path, passphrase)?, false)))?;
        honeyimage_data::write_atomic(&commitment_path(release), key::public_statement(&body).as_bytes())?;
    }
    summary.stages = st.done[mark..].to_vec();
    Ok(ProtectOutcome { key: body, summary, released })
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
    run_single(Input::Files { src, split }, Some((outputs.release, outputs.key)), outputs.work, config, passphrase, on_event)
}

/// [`protect`] for samples in memory: the same stages and results (the
/// released pixels equal those of the same samples protected from a file),
/// with the release in [`ProtectOutcome::released`] and the key returned,
/// not written. `name` is what the key records as the source; `work` holds
/// the resumable intermediate results.
pub fn protect_memory(ds: &Dataset, name: &str, work: &Path, config: &ProtectConfig, on_event: &mut dyn FnMut(ProtectEvent)) -> Result<ProtectOutcome> {
    run_single(Input::Memory { ds, name }, None, work, config, None, on_event)
}

/// One release from one input.
fn run_single(
    input: Input,
    files: Option<(&Path, &Path)>,
    work: &Path,
    config: &ProtectConfig,
    passphrase: Option<&SecretString>,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<ProtectOutcome> {
    let mut st = Stages { on_event, done: Vec::new() };
    let p = prepare(input, work, config, &[], &mut st)?;
    let cands = st.run("candidates", |_| Ok((candidates::choose(&p.hardness, &p.ds.labels, p.ds.num_classes(), config)?, false)))?;
    let shared = st.done.clone();
    let job = Job { cands: &cands, files, tag: String::new(), recipient: None };
    let mut outcome = finish(input, &p, &job, config, passphrase, &mut st)?;
    outcome.summary.stages.splice(0..0, shared);
    Ok(outcome)
}
