//! `protect`: the owner's pipeline from a private dataset to a release and a
//! secret key (SPEC sections 1-3). Every stage's result is cached in a work
//! directory (written atomically), so a run killed at any point resumes where
//! it stopped and gives the same outputs as an uninterrupted one: proxies
//! are always reloaded from their saved weights, and every random choice
//! derives from the recorded seed.
use std::path::{Path, PathBuf};
use std::time::Instant;

use honeyimage_data::{DataSource, Dataset, Edits, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fsio::{read_json, write_json};
use crate::hardness::select_hardest;
use crate::honey::{optimise, FoldGroup, HoneyConfig, HoneyOutcome};
use crate::key::{self, DatasetInfo, KeyBody, KeySample, ReleaseInfo};
use crate::model::{channel_stats, Model, ModelConfig};
use crate::tensors::{to_vec_f64, TensorSet};
use crate::train::{train, TrainConfig, TrainEvent};
use crate::{Arch, Error, Result};

/// How candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The hardest (the method).
    #[default]
    Hard,
    /// Uniformly at random, stratified by class (a baseline).
    Random,
}

/// Protection parameters; recorded in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtectConfig {
    /// N: HoneyImages released (as many more are withheld as controls).
    pub count: usize,
    /// L-inf budget in 8-bit units (4 = 4/255).
    pub epsilon: f64,
    /// PGD step in 8-bit units.
    pub alpha: f64,
    /// Outer iterations T.
    pub steps: usize,
    /// K folds of out-of-fold proxies.
    pub folds: usize,
    /// Proxy architectures (each fold gets one proxy per architecture).
    pub proxy_archs: Vec<Arch>,
    /// Width parameter of the proxies (None: each architecture's default).
    pub proxy_width: Option<usize>,
    /// Proxy training settings.
    pub proxy_train: TrainConfig,
    /// In-model SGD steps per outer iteration.
    pub inner_steps: usize,
    /// In-model learning rate.
    pub inner_lr: f64,
    /// Ordinary samples mixed into each in-model batch.
    pub inner_batch: usize,
    /// Skip this fraction of the hardest samples of each class.
    pub skip_hardest: f64,
    /// How candidates are chosen (`random` is the random-sample baseline).
    pub selection: Selection,
    /// Stealthiness floor: every HoneyImage keeps SSIM >= this to its original (0 disables).
    pub min_ssim: f64,
    /// Also run the same optimisation on random (not hard) samples, to show
    /// that hardness matters (reported in the summary, not released).
    pub random_baseline: bool,
    /// Master seed: folds, R/W split, proxies, optimisation.
    pub seed: u64,
}

impl Default for ProtectConfig {
    fn default() -> Self {
        ProtectConfig {
            count: 100,
            epsilon: 4.0,
            alpha: 0.4,
            steps: 20,
            folds: 2,
            proxy_archs: vec![Arch::SmallCnn],
            proxy_width: None,
            proxy_train: TrainConfig { epochs: 4, ..TrainConfig::default() },
            inner_steps: 2,
            inner_lr: 0.01,
            inner_batch: 128,
            skip_hardest: 0.0,
            selection: Selection::Hard,
            min_ssim: 0.99,
            random_baseline: true,
            seed: 0,
        }
    }
}

impl ProtectConfig {
    /// Range checks, before anything runs.
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &str, m: String| Err(Error::invalid(w, m));
        if self.count == 0 {
            return bad("count", "must be >= 1".into());
        }
        if !(self.epsilon > 0.0 && self.epsilon <= 255.0) {
            return bad("epsilon", format!("{} (8-bit units, must be in (0, 255])", self.epsilon));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad("alpha", format!("{} (must be > 0)", self.alpha));
        }
        if self.folds < 2 {
            return bad("folds", format!("{} (need at least 2 so every sample has a proxy that never saw it)", self.folds));
        }
        if self.proxy_archs.is_empty() {
            return bad("proxy architectures", "none given".into());
        }
        if !(0.0..1.0).contains(&self.min_ssim) {
            return bad("min-ssim", format!("{} (must be in [0, 1))", self.min_ssim));
        }
        if !(0.0..0.5).contains(&self.skip_hardest) {
            return bad("skip-hardest", format!("{} (must be in [0, 0.5))", self.skip_hardest));
        }
        self.proxy_train.validate()
    }
}

/// Progress of a run, for the caller to render.
#[derive(Debug, Clone)]
pub enum ProtectEvent {
    /// A stage started.
    Stage {
        /// Stage name.
        name: String,
        /// Whether its result came from the work directory.
        cached: bool,
    },
    /// A stage finished.
    StageDone {
        /// Stage name.
        name: String,
        /// Wall time.
        seconds: f64,
        /// Peak resident memory of the process so far, in MiB.
        peak_mib: f64,
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

/// Timing and memory of one stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageStat {
    /// Stage name.
    pub name: String,
    /// Seconds (0 when cached).
    pub seconds: f64,
    /// Peak resident memory so far, MiB.
    pub peak_mib: f64,
    /// Whether it came from the work directory.
    pub cached: bool,
}

/// What `protect` reports at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtectSummary {
    /// N.
    pub count: usize,
    /// Class counts of R.
    pub released_class_counts: Vec<usize>,
    /// Class counts of W.
    pub withheld_class_counts: Vec<usize>,
    /// Largest pixel change, 8-bit units.
    pub linf_max: u8,
    /// Mean PSNR (dB) over candidates with a change.
    pub psnr_mean: f64,
    /// Mean SSIM over all candidates.
    pub ssim_mean: f64,
    /// Minimum SSIM.
    pub ssim_min: f64,
    /// Test accuracy of each proxy (on the held-out fold).
    pub proxy_fold_accuracy: Vec<f64>,
    /// Mean in-vs-out loss gap on the hard candidates, fine-tuned without perturbation.
    pub gap_before: f64,
    /// The same after the bi-level optimisation (quantised HoneyImages).
    pub gap_after: f64,
    /// Random (not hard) samples, unperturbed.
    pub random_gap_before: Option<f64>,
    /// Random samples, same optimisation.
    pub random_gap_after: Option<f64>,
    /// Per-stage time and memory.
    pub stages: Vec<StageStat>,
}

/// The outcome of `protect`.
pub struct ProtectOutcome {
    /// The key as written.
    pub key: KeyBody,
    /// The summary (also inside the key).
    pub summary: ProtectSummary,
}

/// Peak resident set size of this process, MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

#[derive(Serialize, Deserialize, PartialEq)]
struct WorkParams {
    config: ProtectConfig,
    dataset_fingerprint: String,
    split: String,
}

#[derive(Serialize, Deserialize)]
struct HardnessCache {
    hardness: Vec<f64>,
    proxy_fold_accuracy: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct HoneyCache {
    honey: HoneyOutcome,
    unperturbed: HoneyOutcome,
    random: Option<(HoneyOutcome, HoneyOutcome)>,
}



/// Where a run keeps its intermediate results.
pub struct WorkDir(PathBuf);

impl WorkDir {
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

/// Runs the whole pipeline: proxies, hardness, selection, optimisation,
/// release (written to `out`) and key (written to `key_path`, encrypted
/// when a passphrase is given).
pub fn protect(
    src: &DataSource,
    split: Split,
    out: &Path,
    key_path: &Path,
    work: &Path,
    config: &ProtectConfig,
    passphrase: Option<&key::SecretString>,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<ProtectOutcome> {
    config.validate()?;
    let device = crate::default_device();
    let ds = src.load(split)?;
    let n = ds.len();
    if n < 4 * config.count {
        return Err(Error::invalid("count", format!("N = {} needs at least {} samples; {} has {n}", config.count, 4 * config.count, src.path().display())));
    }
    std::fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    let wd = WorkDir(work.to_path_buf());
    let fingerprint = key::fingerprint_dataset(&ds);
    let params = WorkParams { config: config.clone(), dataset_fingerprint: fingerprint.clone(), split: split.to_string() };
    match read_json::<WorkParams>(&wd.path("params.json"))? {
        Some(p) if p != params => {
            return Err(Error::invalid(
                "work directory",
                format!("{} was made by a run with other parameters or data; use another --work or delete it", work.display()),
            ))
        }
        Some(_) => {}
        None => write_json(&wd.path("params.json"), &params)?,
    }
    let mut stages = Vec::new();
    let mut stage = |name: &str, cached: bool, start: Instant, on_event: &mut dyn FnMut(ProtectEvent)| {
        let s = StageStat { name: name.into(), seconds: start.elapsed().as_secs_f64(), peak_mib: peak_rss_mib(), cached };
        on_event(ProtectEvent::StageDone { name: name.into(), seconds: s.seconds, peak_mib: s.peak_mib });
        stages.push(s);
    };
    let data = TensorSet::from_dataset(&ds, device)?;
    let folds = honeyimage_data::kfold(n, config.folds, config.seed);

    // Stage 1: out-of-fold proxies and hardness.
    let t0 = Instant::now();
    let cached = read_json::<HardnessCache>(&wd.path("hardness.json"))?;
    on_event(ProtectEvent::Stage { name: "proxies".into(), cached: cached.is_some() });
    let mut proxies: Vec<Vec<Model>> = Vec::new(); // [fold][arch]
    let stats = channel_stats(&ds);
    for (k, fold) in folds.iter().enumerate() {
        let mut in_fold = vec![false; n];
        fold.iter().for_each(|&i| in_fold[i] = true);
        let train_idx: Vec<usize> = (0..n).filter(|&i| !in_fold[i]).collect();
        let mut row = Vec::new();
        for (a, &arch) in config.proxy_archs.iter().enumerate() {
            let dir = wd.path(&format!("proxy-fold{k}-{arch}"));
            if !dir.join("config.json").exists() {
                let mut mc = ModelConfig::new(arch, ds.channels, ds.height, ds.width, ds.class_names.clone(), stats.clone());
                if let Some(w) = config.proxy_width {
                    mc.arch_width = w;
                }
                let seed = config.seed.wrapping_mul(1000).wrapping_add((k * 100 + a) as u64 + 1);
                let model = Model::new(mc, device, seed)?;
                let tc = TrainConfig { seed, ..config.proxy_train.clone() };
                let label = format!("fold {}/{} {arch}", k + 1, config.folds);
                let report = train(&model, &data.select(&train_idx), &tc, &mut |event| on_event(ProtectEvent::Train { label: label.clone(), event }))?;
                model.save(&dir, &serde_json::json!({ "report": report, "fold": k, "role": "out-of-fold proxy" }))?;
            }
            row.push(Model::load(&dir, device)?.0);
        }
        proxies.push(row);
    }
    let hc = match cached {
        Some(h) => h,
        None => {
            let mut hardness = vec![0.0; n];
            let mut accs = Vec::new();
            for (k, fold) in folds.iter().enumerate() {
                let held = data.select(fold);
                let mut sum = vec![0.0; fold.len()];
                for m in &proxies[k] {
                    accs.push(m.accuracy(&held, 512));
                    for (s, l) in sum.iter_mut().zip(to_vec_f64(&m.losses(&held, 512))?) {
                        *s += l / proxies[k].len() as f64;
                    }
                }
                for (&i, l) in fold.iter().zip(sum) {
                    hardness[i] = l;
                }
            }
            let h = HardnessCache { hardness, proxy_fold_accuracy: accs };
            write_json(&wd.path("hardness.json"), &h)?;
            h
        }
    };
    stage("proxies+hardness", false, t0, on_event);

    // Stage 2: selection and R/W split (cheap, deterministic: not cached).
    let t0 = Instant::now();
    let hard = match config.selection {
        Selection::Hard => select_hardest(&hc.hardness, &ds.labels, ds.num_classes(), 2 * config.count, config.skip_hardest)?,
        Selection::Random => {
            // Same stratification, with seeded random scores in place of hardness.
            use rand::Rng;
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7a2d);
            let scores: Vec<f64> = (0..n).map(|_| rng.gen::<f64>()).collect();
            select_hardest(&scores, &ds.labels, ds.num_classes(), 2 * config.count, 0.0)?
        }
    };
    let mut shuffled = hard.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed ^ 0x00c0_ffee));
    let (released, withheld) = shuffled.split_at(config.count);
    let (released, withheld) = (released.to_vec(), withheld.to_vec());
    stage("selection", false, t0, on_event);

    // Stage 3: bi-level optimisation.
    let t0 = Instant::now();
    let cached = read_json::<HoneyCache>(&wd.path("honey.json"))?;
    on_event(ProtectEvent::Stage { name: "optimisation".into(), cached: cached.is_some() });
    let groups_for = |cands: &[usize], exclude: &[usize]| -> Vec<FoldGroup> {
        let mut is_cand = vec![false; n];
        cands.iter().chain(exclude).for_each(|&i| is_cand[i] = true);
        folds
            .iter()
            .enumerate()
            .map(|(k, fold)| {
                let mut in_fold = vec![false; n];
                fold.iter().for_each(|&i| in_fold[i] = true);
                FoldGroup {
                    candidates: cands.iter().copied().filter(|&i| in_fold[i]).collect(),
                    pool: (0..n).filter(|&i| !in_fold[i] && !is_cand[i]).collect(),
                    out_models: proxies[k].iter().collect(),
                }
            })
            .collect()
    };
    let hcfg = HoneyConfig {
        epsilon: config.epsilon / 255.0,
        alpha: config.alpha / 255.0,
        steps: config.steps,
        inner_steps: config.inner_steps,
        inner_lr: config.inner_lr,
        inner_batch: config.inner_batch,
        perturb: true,
        seed: config.seed ^ 0xb1e5,
        min_ssim: config.min_ssim,
    };
    let hcache = match cached {
        Some(c) => c,
        None => {
            let mut run = |label: &str, cands: &[usize], exclude: &[usize], perturb: bool| {
                let cfg = HoneyConfig { perturb, ..hcfg.clone() };
                optimise(&data, &groups_for(cands, exclude), &cfg, &mut |iter, total, _| {
                    on_event(ProtectEvent::Pgd { label: label.into(), iter, total })
                })
            };
            let honey = run("honey", &hard, &[], true)?;
            let unperturbed = run("unperturbed", &hard, &[], false)?;
            let random = if config.random_baseline {
                let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5a5a);
                let mut is_hard = vec![false; n];
                hard.iter().for_each(|&i| is_hard[i] = true);
                let mut pool: Vec<usize> = (0..n).filter(|&i| !is_hard[i]).collect();
                pool.shuffle(&mut rng);
                let rand_c: Vec<usize> = pool[..2 * config.count].to_vec();
                Some((run("random honey", &rand_c, &hard, true)?, run("random unperturbed", &rand_c, &hard, false)?))
            } else {
                None
            };
            let c = HoneyCache { honey, unperturbed, random };
            write_json(&wd.path("honey.json"), &c)?;
            c
        }
    };
    stage("optimisation", false, t0, on_event);

    // Stage 4: release and key.
    let t0 = Instant::now();
    let pos: std::collections::HashMap<usize, usize> = hcache.honey.indices.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let sample = |i: usize| -> KeySample {
        let j = pos[&i];
        KeySample {
            id: ds.ids[i].clone(),
            index: i,
            label: ds.labels[i],
            hardness: hc.hardness[i],
            proxy_loss: hcache.honey.out_loss[j],
            honey: key::Bytes(hcache.honey.images[j].clone()),
            original: key::Bytes(ds.image(i).to_vec()),
        }
    };
    let mut edits = Edits::new();
    edits.remove.extend(withheld.iter().copied());
    for &i in &released {
        edits.replace.insert(i, hcache.honey.images[pos[&i]].clone());
    }
    let release_fp = match read_json::<String>(&wd.path("release.json"))? {
        Some(fp) if out.exists() && key::fingerprint_dir(out)? == fp => fp,
        _ => {
            if out.exists() {
                return Err(Error::invalid("output", format!("{} already exists", out.display())));
            }
            src.write_release(split, out, &edits)?;
            let fp = key::fingerprint_dir(out)?;
            write_json(&wd.path("release.json"), &fp)?;
            fp
        }
    };
    let summary = summarise(&ds, &released, &withheld, &hc, &hcache, &pos, config, Vec::new());
    let body = KeyBody {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        params: config.clone(),
        dataset: DatasetInfo {
            format: src.format().to_string(),
            split: split.to_string(),
            source: src.path().display().to_string(),
            samples: n,
            height: ds.height,
            width: ds.width,
            channels: ds.channels,
            class_names: ds.class_names.clone(),
            fingerprint,
        },
        release: ReleaseInfo { samples: n - withheld.len(), fingerprint: release_fp },
        released: released.iter().map(|&i| sample(i)).collect(),
        withheld: withheld.iter().map(|&i| sample(i)).collect(),
        summary: serde_json::to_value(&summary).expect("serialisable"),
    };
    key::save_with(&body, key_path, passphrase)?;
    stage("release+key", false, t0, on_event);
    let mut summary = summary;
    summary.stages = stages;
    Ok(ProtectOutcome { key: body, summary })
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    ds: &Dataset,
    released: &[usize],
    withheld: &[usize],
    hc: &HardnessCache,
    h: &HoneyCache,
    pos: &std::collections::HashMap<usize, usize>,
    config: &ProtectConfig,
    stages: Vec<StageStat>,
) -> ProtectSummary {
    let k = ds.num_classes();
    let counts = |idx: &[usize]| {
        let mut c = vec![0; k];
        idx.iter().for_each(|&i| c[ds.labels[i] as usize] += 1);
        c
    };
    let sim = similarity(pos.iter().map(|(&i, &j)| (ds.image(i), &h.honey.images[j][..])), ds.height, ds.width, ds.channels);
    let _ = config;
    ProtectSummary {
        count: released.len(),
        released_class_counts: counts(released),
        withheld_class_counts: counts(withheld),
        linf_max: sim.linf_max,
        psnr_mean: sim.psnr_mean,
        ssim_mean: sim.ssim_mean,
        ssim_min: sim.ssim_min,
        proxy_fold_accuracy: hc.proxy_fold_accuracy.clone(),
        gap_before: h.unperturbed.mean_gap(),
        gap_after: h.honey.mean_gap(),
        random_gap_before: h.random.as_ref().map(|r| r.1.mean_gap()),
        random_gap_after: h.random.as_ref().map(|r| r.0.mean_gap()),
        stages,
    }
}

/// How close HoneyImages are to their originals.
#[derive(Debug, Clone, Copy)]
pub struct Similarity {
    /// Largest pixel change, 8-bit units.
    pub linf_max: u8,
    /// Mean PSNR (dB) over pairs that differ (infinite when none do).
    pub psnr_mean: f64,
    /// Mean SSIM.
    pub ssim_mean: f64,
    /// Minimum SSIM.
    pub ssim_min: f64,
}

/// L-inf, PSNR and SSIM over (original, HoneyImage) pairs of HWC u8 images.
pub fn similarity<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>, h: usize, w: usize, c: usize) -> Similarity {
    let (mut linf, mut psnr, mut npsnr, mut ssim_sum, mut ssim_min, mut n) = (0u8, 0.0, 0usize, 0.0, f64::INFINITY, 0usize);
    for (a, b) in pairs {
        linf = linf.max(honeyimage_stats::linf(a, b).unwrap_or(0));
        if let Ok(p) = honeyimage_stats::psnr(a, b) {
            if p.is_finite() {
                psnr += p;
                npsnr += 1;
            }
        }
        let s = honeyimage_stats::ssim(a, b, h, w, c).unwrap_or(f64::NAN);
        ssim_sum += s;
        ssim_min = ssim_min.min(s);
        n += 1;
    }
    Similarity {
        linf_max: linf,
        psnr_mean: if npsnr > 0 { psnr / npsnr as f64 } else { f64::INFINITY },
        ssim_mean: ssim_sum / n.max(1) as f64,
        ssim_min,
    }
}
