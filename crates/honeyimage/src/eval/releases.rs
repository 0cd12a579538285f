//! One release (and the key or watermark that judges it) per method:
//! HoneyImage, its baselines through the same `protect` with other
//! selection or no optimisation (reusing the HoneyImage run's proxies), and
//! the BadNets watermark. Finished releases are found in the run folder and
//! reused.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use honeyimage_data::{DataSource, Dataset, Edits, Split};
use honeyimage_report::Method;
use serde::{Deserialize, Serialize};

use super::data::EvalData;
use super::EvalEvent;
use crate::config::{BadNets, EvalConfig, ProtectConfig, Selection};
use crate::fsio::{copy_dir_atomic, copy_file_atomic, read_json, write_json};
use crate::key::{self, KeyBody};
use crate::protect::{protect, Outputs};
use crate::{Error, Result};

/// What judges a method's suspects.
#[derive(Debug, Clone)]
pub enum Judge {
    /// A HoneyImage-style key (HoneyImage and its PGD/unperturbed baselines).
    Key(Box<KeyBody>),
    /// The BadNets watermark and the samples it poisoned (relabelled to its target).
    Watermark(BadNetsRecord),
}

/// `badnets.json`: the watermark and which samples of D it poisoned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadNetsRecord {
    /// The watermark's settings.
    pub config: BadNets,
    /// Indices (into D) of the poisoned samples.
    pub poisoned: Vec<usize>,
}

/// Every method's release folder and judge.
pub struct Releases {
    /// Release folder per method.
    pub dirs: BTreeMap<Method, PathBuf>,
    /// Judge per method.
    pub judges: BTreeMap<Method, Judge>,
    /// HoneyImage keys 1..K (key 0 is the HoneyImage method's).
    pub extra_keys: Vec<KeyBody>,
}

impl Releases {
    /// The HoneyImage key.
    pub fn honey_key(&self) -> &KeyBody {
        match self.judges.get(&Method::HoneyImage) {
            Some(Judge::Key(k)) => k,
            _ => unreachable!("HoneyImage is always a method"),
        }
    }

    /// HoneyImage key `j` (0: the method's own).
    pub fn key(&self, j: usize) -> &KeyBody {
        if j == 0 {
            self.honey_key()
        } else {
            &self.extra_keys[j - 1]
        }
    }

    /// A method's release as training data (BadNets relabelled as the attack does).
    pub fn load(&self, method: Method, format: Option<honeyimage_data::Format>) -> Result<Dataset> {
        let mut ds = DataSource::open(&self.dirs[&method], format)?.load(Split::Train)?;
        if let Some(Judge::Watermark(r)) = self.judges.get(&method) {
            r.poisoned.iter().for_each(|&i| ds.labels[i] = r.config.target);
        }
        Ok(ds)
    }
}

/// The protection settings of a key-based method.
pub fn protect_config(method: Method, base: &ProtectConfig) -> ProtectConfig {
    match method {
        Method::RandomPgd => ProtectConfig { selection: Selection::Random, random_baseline: false, ..base.clone() },
        Method::HardUnperturbed => ProtectConfig { steps: 0, random_baseline: false, ..base.clone() },
        _ => base.clone(),
    }
}

/// Seeds a baseline's work folder with the HoneyImage run's proxies and
/// hardness (same data, folds, seed and proxy settings).
fn reuse_proxies(honey_work: &Path, work: &Path) -> Result<()> {
    std::fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    for e in std::fs::read_dir(honey_work).map_err(|e| Error::io(honey_work, e))? {
        let p = e.map_err(|e| Error::io(honey_work, e))?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        // Atomic copies: a run killed mid-copy must not leave a proxy
        // folder that looks finished.
        if name.starts_with("proxy-") && !name.contains(".tmp-") && !work.join(&name).exists() {
            copy_dir_atomic(&p, &work.join(&name))?;
        } else if name == "hardness.json" {
            copy_file_atomic(&p, &work.join(&name))?;
        }
    }
    Ok(())
}

/// Protects D with `pc` into `dir` (once) and loads the key.
fn protect_once(pc: &ProtectConfig, config: &EvalConfig, data: &EvalData, dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<KeyBody> {
    let (rel, key_path, work) = (dir.join("release"), dir.join("key.hkey"), dir.join("work"));
    if !key_path.exists() {
        if rel.exists() && !work.join("release.json").exists() {
            std::fs::remove_dir_all(&rel).map_err(|e| Error::io(&rel, e))?;
        }
        let src = DataSource::open(&data.private_dir, config.format)?;
        protect(&src, Split::Train, Outputs { release: &rel, key: &key_path, work: &work }, pc, None, &mut |e| on_event(EvalEvent::Protect(e)))?;
    }
    key::load(&key_path)
}

/// Protects D with a key-based method (once) and loads its key.
fn keyed(method: Method, config: &EvalConfig, data: &EvalData, dir: &Path, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<KeyBody> {
    if method != Method::HoneyImage && !dir.join("key.hkey").exists() {
        reuse_proxies(&run_dir.join(Method::HoneyImage.as_str()).join("work"), &dir.join("work"))?;
    }
    protect_once(&protect_config(method, &config.protect), config, data, dir, on_event)
}

/// The protection settings of HoneyImage key `j` >= 1: the method's, with
/// another seed (so other folds, proxies, candidates, split and nonce).
pub fn extra_key_config(base: &ProtectConfig, j: usize) -> ProtectConfig {
    ProtectConfig { seed: base.seed.wrapping_add(7919 * j as u64), random_baseline: false, ..base.clone() }
}

/// Makes (or finds) HoneyImage keys 1..K.
fn extra_keys(config: &EvalConfig, data: &EvalData, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<KeyBody>> {
    (1..config.keys)
        .map(|j| {
            let dir = ReleaseRef::Key(j).dir(run_dir);
            let name = format!("key {j}/release");
            on_event(EvalEvent::JobStart { name: name.clone() });
            let cached = dir.join("key.hkey").exists();
            let k = protect_once(&extra_key_config(&config.protect, j), config, data, &dir, on_event)?;
            on_event(EvalEvent::JobDone { name, cached, outcome: "ready".into() });
            Ok(k)
        })
        .collect()
}

/// Poisons D with the BadNets watermark (once).
fn watermarked(config: &EvalConfig, data: &EvalData, dir: &Path) -> Result<BadNetsRecord> {
    let path = dir.join("badnets.json");
    if let Some(r) = read_json::<BadNetsRecord>(&path)? {
        return Ok(r);
    }
    let wm = BadNets { seed: config.seed, ..config.baselines.badnets_config.clone() };
    let poisoned = wm.poison(&data.original);
    let rel = dir.join("release");
    let _ = std::fs::remove_dir_all(&rel);
    // Pixels go through the release writer; the relabelling is applied
    // when the release is loaded for training (see `Releases::load`).
    let edits = Edits { replace: poisoned.iter().cloned().collect(), ..Edits::default() };
    DataSource::open(&data.private_dir, config.format)?.write_release(Split::Train, &rel, &edits)?;
    let record = BadNetsRecord { config: wm, poisoned: poisoned.iter().map(|(i, _)| *i).collect() };
    write_json(&path, &record)?;
    Ok(record)
}

/// One release of a run: a method's, or HoneyImage key `j` >= 1 (the
/// key population of the trust measurements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseRef {
    /// A method's release (key 0 for HoneyImage).
    Method(Method),
    /// HoneyImage key `j` >= 1.
    Key(usize),
}

impl ReleaseRef {
    /// Its folder in the run: release, key and work folder.
    pub fn dir(self, run_dir: &Path) -> PathBuf {
        match self {
            ReleaseRef::Method(m) => run_dir.join(m.as_str()),
            ReleaseRef::Key(j) => run_dir.join("keys").join(format!("k{j}")),
        }
    }

    /// Its protection settings (None: the BadNets watermark, no protect).
    pub fn protect_config(self, config: &EvalConfig) -> Option<ProtectConfig> {
        match self {
            ReleaseRef::Method(Method::BadNets) => None,
            ReleaseRef::Method(m) => Some(protect_config(m, &config.protect)),
            ReleaseRef::Key(j) => Some(extra_key_config(&config.protect, j)),
        }
    }

    /// Whether it trains proxies of its own (the PGD and unperturbed
    /// baselines reuse HoneyImage's; BadNets has none).
    pub fn has_own_proxies(self) -> bool {
        matches!(self, ReleaseRef::Method(Method::HoneyImage) | ReleaseRef::Key(_))
    }

    /// `honeyimage`, `badnets`, `key-3`: as job names show it.
    pub fn label(self) -> String {
        match self {
            ReleaseRef::Method(m) => m.as_str().to_string(),
            ReleaseRef::Key(j) => format!("key-{j}"),
        }
    }

    /// Whether its key (or watermark record) is in the run folder.
    pub fn is_made(self, run_dir: &Path) -> bool {
        let dir = self.dir(run_dir);
        dir.join("key.hkey").exists() || dir.join("badnets.json").exists()
    }
}

/// Trains one out-of-fold proxy of a release's protection into its work
/// folder (the first stage of [`make`], as a job of its own).
pub fn proxy(which: ReleaseRef, (fold, arch): (usize, usize), config: &EvalConfig, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<bool> {
    let pc = which.protect_config(config).filter(|_| which.has_own_proxies());
    let pc = pc.ok_or_else(|| Error::invalid("proxy", format!("the {} release trains no proxies of its own", which.label())))?;
    let src = DataSource::open(&super::data::private_dir(run_dir), config.format)?;
    let input = crate::protect::Input::Files { src: &src, split: Split::Train };
    crate::protect::train_proxy(input, &which.dir(run_dir).join("work"), &pc, &[], (fold, arch), &mut |e| on_event(EvalEvent::Protect(e)))
}

/// Makes (or finds) one release and its key or watermark.
pub fn make(which: ReleaseRef, config: &EvalConfig, data: &EvalData, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<()> {
    let dir = which.dir(run_dir);
    match which {
        ReleaseRef::Method(Method::BadNets) => watermarked(config, data, &dir).map(drop),
        ReleaseRef::Method(m) => keyed(m, config, data, &dir, run_dir, on_event).map(drop),
        ReleaseRef::Key(j) => protect_once(&extra_key_config(&config.protect, j), config, data, &dir, on_event).map(drop),
    }
}

/// Makes (or finds) every method's release.
pub fn prepare(config: &EvalConfig, methods: &[Method], data: &EvalData, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Releases> {
    let mut out = Releases { dirs: BTreeMap::new(), judges: BTreeMap::new(), extra_keys: Vec::new() };
    for &m in methods {
        let dir = ReleaseRef::Method(m).dir(run_dir);
        let name = format!("{m}/release");
        on_event(EvalEvent::JobStart { name: name.clone() });
        let cached = dir.join("key.hkey").exists() || dir.join("badnets.json").exists();
        let judge = match m {
            Method::BadNets => Judge::Watermark(watermarked(config, data, &dir)?),
            _ => Judge::Key(Box::new(keyed(m, config, data, &dir, run_dir, on_event)?)),
        };
        out.judges.insert(m, judge);
        out.dirs.insert(m, dir.join("release"));
        on_event(EvalEvent::JobDone { name, cached, outcome: "ready".into() });
    }
    out.extra_keys = extra_keys(config, data, run_dir, on_event)?;
    Ok(out)
}
