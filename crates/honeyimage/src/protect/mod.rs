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

/// Loads the split to protect and checks it is large enough for N.
fn load(src: &DataSource, split: Split, config: &ProtectConfig) -> Result<Dataset> {
    config.validate()?;
    let mut ds = src.load(split)?;
    ds.check_classes(config.num_classes).map_err(|e| Error::invalid("classes", format!("{} ({split} split): {e}", src.path().display())))?;
    if ds.len() < 4 * config.count {
        let msg = format!("N = {} needs at least {} samples; {} has {}", config.count, 4 * config.count, src.path().display(), ds.len());
        return Err(Error::invalid("count", msg));
    }
    Ok(ds)
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
    let ds = load(src, split, config)?;
    let fingerprint = key::fingerprint_dataset(&ds);
    let params = WorkParams { config: config.clone(), dataset_fingerprint: fingerprint.clone(), split: split.to_string() };
    let wd = WorkDir::open(outputs.work, &params)?;
    let data = TensorSet::from_dataset(&ds, crate::default_device())?;
    let folds = honeyimage_data::kfold(ds.len(), config.folds, config.seed);
    let mut st = Stages { on_event, done: Vec::new() };
    let proxies = st.run("proxies", |ev| Ok((proxies::train_proxies(&ds, &data, &folds, config, &wd, ev)?, false)))?;
    let hardness = st.run("hardness", |_| wd.cached("hardness.json", || hardness::score(&proxies, &data, &folds)))?;
    let cands = st.run("candidates", |_| Ok((candidates::choose(&hardness, &ds.labels, ds.num_classes(), config)?, false)))?;
    let opt = st.run("optimisation", |ev| wd.cached("honey.json", || optimise::run(&data, &folds, &proxies, &cands, config, ev)))?;
    let edits = release::edits(&cands, &opt.honey);
    let release_fp = st.run("release", |_| Ok((release::write(src, split, outputs.release, &edits, &wd)?, false)))?;
    let mut summary = summary::summarise(&ds, &cands, &hardness, &opt);
    let (nonce, _) = wd.cached("nonce.json", || Ok(keygen::fresh_nonce()))?;
    let origin = keygen::Origin { src, split, ds: &ds, fingerprint, nonce };
    let body = keygen::build(&origin, config, &cands, &hardness, &opt.honey, release_fp, &summary);
    st.run("key", |_| Ok((key::save_with(&body, outputs.key, passphrase)?, false)))?;
    honeyimage_data::write_atomic(&commitment_path(outputs.release), key::public_statement(&body).as_bytes())?;
    summary.stages = st.done;
    Ok(ProtectOutcome { key: body, summary })
}
