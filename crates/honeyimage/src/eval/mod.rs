//! `evaluate`: the paper's protocol on real data (SPEC section 5). One run
//! protects a private dataset, trains a population of suspects — infringing
//! models on each method's release, clean models on disjoint data and on the
//! release minus the HoneyImages — over several architectures and seeds,
//! verifies every suspect through the same `Oracle` interface as `verify`,
//! and summarises AUROC / TPR / TNR, stealthiness and harmlessness for
//! HoneyImage and its baselines. Every trained model and verification is
//! cached in the run folder, so a rerun or a resumed run skips finished work.
pub mod report;
pub mod results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use honeyimage_data::{DataSource, Dataset, Edits, Format, Split};
use serde::{Deserialize, Serialize};

use crate::fsio::{copy_dir, read_json, write_json};
use crate::key::{self, KeyBody};
use crate::model::{channel_stats, Model, ModelConfig};
use crate::protect::{protect, ProtectConfig, ProtectEvent, Selection};
use crate::query::ModelOracle;
use crate::tensors::TensorSet;
use crate::train::{train, TrainConfig, TrainEvent};
use crate::verify::{verify, VerifyConfig};
use crate::watermark::BadNets;
use crate::{Arch, Error, Result};
use results::*;

/// One architecture of the suspect population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchSpec {
    /// Architecture.
    pub arch: Arch,
    /// Width parameter (None: the paper's).
    #[serde(default)]
    pub width: Option<usize>,
    /// Training seeds of infringing and clean suspects of this architecture.
    pub seeds: Vec<u64>,
}

/// Which baselines to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Baselines {
    /// Random (not hard) samples with the same optimisation.
    pub random_pgd: bool,
    /// Hard samples without perturbation (plain membership inference).
    pub hard_unperturbed: bool,
    /// BadNets-style patch watermark.
    pub badnets: bool,
    /// The watermark's settings.
    pub badnets_config: BadNets,
    /// Infringing suspects per architecture for each baseline (first seeds).
    pub seeds_per_arch: usize,
}

impl Default for Baselines {
    fn default() -> Self {
        Baselines { random_pgd: true, hard_unperturbed: true, badnets: true, badnets_config: BadNets::default(), seeds_per_arch: 1 }
    }
}

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// The dataset (its train split is the pool for the private data).
    pub data: PathBuf,
    /// Format override.
    pub format: Option<Format>,
    /// Size of the private dataset D (a class-stratified subset of the
    /// train split); the same number of disjoint samples trains the clean
    /// suspects. None: half the train split each.
    pub private_size: Option<usize>,
    /// Test images for accuracy and the watermark test (None: all).
    pub test_limit: Option<usize>,
    /// Master seed.
    pub seed: u64,
    /// Significance level of verdicts.
    pub alpha: f64,
    /// False-positive rate at which tau is calibrated on the clean suspects.
    pub tau_fpr: f64,
    /// Protection settings (HoneyImage).
    pub protect: ProtectConfig,
    /// Suspect architectures and seeds.
    pub archs: Vec<ArchSpec>,
    /// Suspect training settings (epochs, lr...; seed is per suspect).
    pub suspect_train: TrainConfig,
    /// Also train clean suspects on the release minus the HoneyImages (hardest negatives).
    pub minus_honey: bool,
    /// Verify HoneyImage suspects after these epochs too (training-length curve).
    pub curve_epochs: Vec<usize>,
    /// Baselines.
    pub baselines: Baselines,
    /// Seeds per architecture (the first ones) also trained on the original
    /// data, for the paired accuracy drop (harmlessness); more pairs give a
    /// tighter confidence interval.
    pub original_seeds: usize,
    /// LPIPS AlexNet weights (see [`crate::lpips`]); STL = 1 - LPIPS is
    /// reported when given.
    pub lpips_weights: Option<PathBuf>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            data: PathBuf::from("/usr/share/datasets/fashion-mnist"),
            format: None,
            private_size: Some(10_000),
            test_limit: Some(2000),
            seed: 0,
            alpha: 0.001,
            tau_fpr: 0.05,
            protect: ProtectConfig { count: 100, random_baseline: false, ..ProtectConfig::default() },
            archs: vec![
                ArchSpec { arch: Arch::SmallCnn, width: None, seeds: vec![0, 1, 2, 3] },
                ArchSpec { arch: Arch::Resnet18, width: Some(16), seeds: vec![0, 1, 2] },
                ArchSpec { arch: Arch::Vgg11, width: Some(16), seeds: vec![0, 1, 2] },
            ],
            suspect_train: TrainConfig { epochs: 20, ..TrainConfig::default() },
            minus_honey: true,
            curve_epochs: vec![2, 5, 10],
            baselines: Baselines::default(),
            original_seeds: 1,
            lpips_weights: None,
        }
    }
}

impl EvalConfig {
    /// Whether results cached under `self` are valid under `other`: same
    /// data, private split, protection, suspect training and curve points.
    /// The population (archs, seeds, baselines) may differ.
    pub fn same_material(&self, other: &EvalConfig) -> bool {
        (&self.data, self.format, self.private_size, self.test_limit, self.seed, self.alpha, &self.protect, &self.suspect_train, &self.curve_epochs)
            == (&other.data, other.format, other.private_size, other.test_limit, other.seed, other.alpha, &other.protect, &other.suspect_train, &other.curve_epochs)
            && self.baselines.badnets_config == other.baselines.badnets_config
    }

    /// Checks the configuration before anything runs.
    pub fn validate(&self) -> Result<()> {
        self.protect.validate()?;
        self.suspect_train.validate()?;
        if self.archs.is_empty() || self.archs.iter().any(|a| a.seeds.is_empty()) {
            return Err(Error::invalid("archs", "need at least one architecture with at least one seed"));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) || !(self.tau_fpr >= 0.0 && self.tau_fpr < 1.0) {
            return Err(Error::invalid("alpha / tau_fpr", format!("{} / {}", self.alpha, self.tau_fpr)));
        }
        Ok(())
    }
}

/// Progress of a run.
#[derive(Debug, Clone)]
pub enum EvalEvent {
    /// The plan: number of jobs (releases and suspects).
    Plan {
        /// Total jobs.
        total: usize,
    },
    /// A job started.
    JobStart {
        /// Job name.
        name: String,
    },
    /// A job finished.
    JobDone {
        /// Job name.
        name: String,
        /// Whether it was found finished in the run folder.
        cached: bool,
        /// One-line outcome.
        outcome: String,
    },
    /// Protection progress.
    Protect(ProtectEvent),
    /// Suspect training progress.
    Train(TrainEvent),
}

/// Where a suspect's training data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataRef {
    Release(&'static str),
    Disjoint,
    MinusHoney,
    Original,
}

struct Job {
    name: String,
    data: DataRef,
    role: &'static str,
    arch: Arch,
    width: Option<usize>,
    seed: u64,
    /// Methods whose keys judge this model.
    judged_by: Vec<&'static str>,
}

/// A method's key material.
enum Judge {
    Key(KeyBody),
    Watermark(BadNets),
}



/// Runs (or resumes) an evaluation into `run_dir`.
pub fn evaluate(config: &EvalConfig, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<EvalResults> {
    config.validate()?;
    let started = Instant::now();
    let device = crate::default_device();
    if let Some(p) = &config.lpips_weights {
        // Fail now, not after hours of training.
        crate::lpips::Lpips::load(p, device)?;
    }
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let cfg_path = run_dir.join("config.json");
    match read_json::<EvalConfig>(&cfg_path)? {
        // The population (archs, seeds, baselines) may grow or shrink between
        // runs: cached suspects are keyed by name. Everything that changes
        // what a cached suspect or release means must stay the same.
        Some(c) if !c.same_material(config) => {
            return Err(Error::invalid(
                "run folder",
                format!("{} holds a run with another configuration (data, protection or training settings); use a new --out", run_dir.display()),
            ))
        }
        _ => write_json(&cfg_path, config)?,
    }

    // Private data D and disjoint clean data, written in the input's format.
    let src = DataSource::open(&config.data, config.format)?;
    let pool = src.load(Split::Train)?;
    let per = config.private_size.unwrap_or(pool.len() / 2).min(pool.len() / 2);
    let order = honeyimage_data::stratified_limit(&pool.labels, 2 * per, config.seed);
    let mut shuffled = order.clone();
    {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ 0xd15));
    }
    let (mut private_idx, mut disjoint_idx) = (shuffled[..per].to_vec(), shuffled[per..].to_vec());
    private_idx.sort_unstable();
    disjoint_idx.sort_unstable();
    let subset_dir = |name: &str, keep: &[usize]| -> Result<PathBuf> {
        let dir = run_dir.join("data").join(name);
        if !dir.exists() {
            let mut is_kept = vec![false; pool.len()];
            keep.iter().for_each(|&i| is_kept[i] = true);
            let edits = Edits { remove: (0..pool.len()).filter(|&i| !is_kept[i]).collect(), ..Edits::default() };
            std::fs::create_dir_all(dir.parent().expect("has parent")).map_err(|e| Error::io(&dir, e))?;
            src.write_release(Split::Train, &dir, &edits)?;
        }
        Ok(dir)
    };
    let private_dir = subset_dir("private", &private_idx)?;
    let original = pool.subset(&private_idx);
    let disjoint = pool.subset(&disjoint_idx);
    drop(pool);
    let test = match src.has_split(Split::Test) {
        true => {
            let t = src.load(Split::Test)?;
            match config.test_limit {
                Some(l) if l < t.len() => t.subset(&honeyimage_data::stratified_limit(&t.labels, l, config.seed)),
                _ => t,
            }
        }
        false => {
            // No test split: hold out part of the disjoint data.
            let n = config.test_limit.unwrap_or(1000).min(disjoint.len() / 5);
            disjoint.subset(&(disjoint.len() - n..disjoint.len()).collect::<Vec<_>>())
        }
    };

    // Plan.
    let b = &config.baselines;
    let mut methods: Vec<&'static str> = vec!["honeyimage"];
    if b.random_pgd {
        methods.push("random-pgd");
    }
    if b.hard_unperturbed {
        methods.push("hard-unperturbed");
    }
    if b.badnets {
        methods.push("badnets");
    }
    let mut jobs = Vec::new();
    for spec in &config.archs {
        for &seed in &spec.seeds {
            let mk = |m: &str, role: &'static str, data: DataRef, judged_by: Vec<&'static str>| Job {
                name: format!("{m}/{role}/{}{}/s{seed}", spec.arch, spec.width.map(|w| format!("-w{w}")).unwrap_or_default()),
                data,
                role,
                arch: spec.arch,
                width: spec.width,
                seed,
                judged_by,
            };
            jobs.push(mk("honeyimage", "infringing", DataRef::Release("honeyimage"), vec!["honeyimage"]));
            jobs.push(mk("all", "clean-disjoint", DataRef::Disjoint, methods.clone()));
            if config.minus_honey {
                jobs.push(mk("honeyimage", "clean-minus-honey", DataRef::MinusHoney, vec!["honeyimage"]));
            }
            if spec.seeds.iter().take(config.original_seeds.max(1)).any(|&s| s == seed) {
                jobs.push(mk("all", "original", DataRef::Original, methods.clone()));
            }
        }
        for &seed in spec.seeds.iter().take(b.seeds_per_arch) {
            for &m in &methods[1..] {
                jobs.push(Job {
                    name: format!("{m}/infringing/{}{}/s{seed}", spec.arch, spec.width.map(|w| format!("-w{w}")).unwrap_or_default()),
                    data: DataRef::Release(m),
                    role: "infringing",
                    arch: spec.arch,
                    width: spec.width,
                    seed,
                    judged_by: vec![m],
                });
            }
        }
    }
    on_event(EvalEvent::Plan { total: jobs.len() + methods.len() });

    // Releases and keys, one per method.
    let mut judges: BTreeMap<&'static str, Judge> = BTreeMap::new();
    let mut releases: BTreeMap<&'static str, PathBuf> = BTreeMap::new();
    let honey_work = run_dir.join("honeyimage").join("work");
    for &m in &methods {
        let dir = run_dir.join(m);
        let (rel, key_path) = (dir.join("release"), dir.join("key.hkey"));
        on_event(EvalEvent::JobStart { name: format!("{m}/release") });
        let cached = key_path.exists() || dir.join("badnets.json").exists();
        if m == "badnets" {
            let wm = BadNets { seed: config.seed, ..b.badnets_config.clone() };
            if !dir.join("badnets.json").exists() {
                let poisoned = wm.poison(&original);
                let psrc = DataSource::open(&private_dir, config.format)?;
                let edits = Edits { replace: poisoned.iter().cloned().collect(), ..Edits::default() };
                // Relabelling is part of the attack; write pixels via the
                // release writer, then labels through a relabelled copy.
                let _ = std::fs::remove_dir_all(&rel);
                psrc.write_release(Split::Train, &rel, &edits)?;
                write_json(&dir.join("badnets.json"), &serde_json::json!({ "config": wm, "poisoned": poisoned.iter().map(|(i, _)| i).collect::<Vec<_>>() }))?;
            }
            judges.insert(m, Judge::Watermark(wm));
        } else {
            if !key_path.exists() {
                let pc = match m {
                    "honeyimage" => config.protect.clone(),
                    "random-pgd" => ProtectConfig { selection: Selection::Random, random_baseline: false, ..config.protect.clone() },
                    _ => ProtectConfig { steps: 0, random_baseline: false, ..config.protect.clone() },
                };
                let work = dir.join("work");
                if m != "honeyimage" {
                    // Same data, folds, seed and proxy settings: reuse the trained proxies.
                    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
                    for e in std::fs::read_dir(&honey_work).map_err(|e| Error::io(&honey_work, e))? {
                        let p = e.map_err(|e| Error::io(&honey_work, e))?.path();
                        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                        if name.starts_with("proxy-") && !work.join(&name).exists() {
                            copy_dir(&p, &work.join(&name))?;
                        } else if name == "hardness.json" {
                            std::fs::copy(&p, work.join(&name)).map_err(|e| Error::io(&p, e))?;
                        }
                    }
                }
                if rel.exists() && !work.join("release.json").exists() {
                    std::fs::remove_dir_all(&rel).map_err(|e| Error::io(&rel, e))?;
                }
                let psrc = DataSource::open(&private_dir, config.format)?;
                protect(&psrc, Split::Train, &rel, &key_path, &work, &pc, None, &mut |e| on_event(EvalEvent::Protect(e)))?;
            }
            judges.insert(m, Judge::Key(key::load(&key_path)?));
        }
        releases.insert(m, rel);
        on_event(EvalEvent::JobDone { name: format!("{m}/release"), cached, outcome: "ready".into() });
    }
    let mut badnets_labels: Option<Vec<usize>> = None;
    if let Some(Judge::Watermark(_)) = judges.get("badnets") {
        let doc: serde_json::Value = read_json(&run_dir.join("badnets").join("badnets.json"))?.unwrap_or_default();
        badnets_labels = Some(doc["poisoned"].as_array().map(|a| a.iter().filter_map(|v| v.as_u64().map(|x| x as usize)).collect()).unwrap_or_default());
    }

    // Suspects.
    let stats = channel_stats(&original);
    let test_set = TensorSet::from_dataset(&test, device)?;
    let honey_key = match judges.get("honeyimage") {
        Some(Judge::Key(k)) => k.clone(),
        _ => unreachable!("honeyimage is always a method"),
    };
    let vcfg = VerifyConfig { alpha: config.alpha, permutations: 20_000, ..VerifyConfig::default() };
    let mut data_cache: BTreeMap<String, Dataset> = BTreeMap::new();
    let mut suspects = Vec::new();
    for job in &jobs {
        let res_path = run_dir.join("suspects").join(format!("{}.json", job.name.replace('/', "__")));
        on_event(EvalEvent::JobStart { name: job.name.clone() });
        if let Some(r) = read_json::<Vec<SuspectResult>>(&res_path)? {
            on_event(EvalEvent::JobDone { name: job.name.clone(), cached: true, outcome: outcome_line(&r) });
            suspects.extend(r);
            continue;
        }
        let t0 = Instant::now();
        let key_name = match job.data {
            DataRef::Release(m) => format!("release:{m}"),
            DataRef::Disjoint => "disjoint".into(),
            DataRef::MinusHoney => "minus-honey".into(),
            DataRef::Original => "original".into(),
        };
        if !data_cache.contains_key(&key_name) {
            let ds = match job.data {
                DataRef::Release("badnets") => {
                    let mut ds = DataSource::open(&releases["badnets"], config.format)?.load(Split::Train)?;
                    if let (Some(idx), Some(Judge::Watermark(wm))) = (&badnets_labels, judges.get("badnets")) {
                        idx.iter().for_each(|&i| ds.labels[i] = wm.target);
                    }
                    ds
                }
                DataRef::Release(m) => DataSource::open(&releases[m], config.format)?.load(Split::Train)?,
                DataRef::Disjoint => disjoint.clone(),
                DataRef::Original => original.clone(),
                DataRef::MinusHoney => {
                    let rel = DataSource::open(&releases["honeyimage"], config.format)?.load(Split::Train)?;
                    let withheld: Vec<usize> = honey_key.withheld.iter().map(|s| s.index).collect();
                    let pos = |i: usize| i - withheld.iter().filter(|&&w| w < i).count();
                    let mut drop = vec![false; rel.len()];
                    honey_key.released.iter().for_each(|s| drop[pos(s.index)] = true);
                    rel.subset(&(0..rel.len()).filter(|&i| !drop[i]).collect::<Vec<_>>())
                }
            };
            data_cache.insert(key_name.clone(), ds);
        }
        let ds = &data_cache[&key_name];
        let mut mc = ModelConfig::new(job.arch, ds.channels, ds.height, ds.width, ds.class_names.clone(), stats.clone());
        if let Some(w) = job.width {
            mc.arch_width = w;
        }
        let model = Model::new(mc, device, job.seed.wrapping_add(1000))?;
        let tc = TrainConfig { seed: job.seed, ..config.suspect_train.clone() };
        let set = TensorSet::from_dataset(ds, device)?;
        let mut curve = Vec::new();
        let judged_by_honey = job.judged_by.contains(&"honeyimage");
        let mut curve_err = None;
        let report = train(&model, &set, &tc, &mut |ev| {
            if let TrainEvent::Epoch { epoch, accuracy, .. } = &ev {
                let e = epoch + 1;
                if judged_by_honey && config.curve_epochs.contains(&e) && e < tc.epochs {
                    let mut o = ModelOracle { model: &model, name: job.name.clone() };
                    match verify(&honey_key, &mut o, &VerifyConfig { permutations: 1000, ..vcfg.clone() }) {
                        Ok(v) => curve.push(EpochPoint { epoch: e, p_value: v.p_value, tau_score: v.tau_rule.score, train_accuracy: *accuracy }),
                        Err(err) => curve_err = Some(err),
                    }
                }
            }
            on_event(EvalEvent::Train(ev));
        })?;
        if let Some(e) = curve_err {
            return Err(e);
        }
        let test_accuracy = model.accuracy(&test_set, 512);
        let mut out = Vec::new();
        for &m in &job.judged_by {
            let mut o = ModelOracle { model: &model, name: job.name.clone() };
            let mut r = SuspectResult {
                name: job.name.replace("all/", &format!("{m}/")),
                method: m.into(),
                role: job.role.into(),
                arch: format!("{}{}", job.arch, job.width.map(|w| format!("-w{w}")).unwrap_or_default()),
                seed: job.seed,
                epochs: tc.epochs,
                train_accuracy: report.final_train_accuracy,
                test_accuracy,
                p_value: f64::NAN,
                statistic: f64::NAN,
                tau_score: f64::NAN,
                effect_size: f64::NAN,
                label_only_p: f64::NAN,
                verdict: false,
                curve: Vec::new(),
            };
            match &judges[m] {
                Judge::Key(k) => {
                    let v = verify(k, &mut o, &vcfg)?;
                    r.p_value = v.p_value;
                    r.tau_score = v.tau_rule.score;
                    r.effect_size = v.effect_size;
                    r.label_only_p = v.label_only.fisher_p;
                    if m == "honeyimage" {
                        r.curve = curve.clone();
                        r.curve.push(EpochPoint { epoch: tc.epochs, p_value: v.p_value, tau_score: v.tau_rule.score, train_accuracy: report.final_train_accuracy });
                    }
                }
                Judge::Watermark(wm) => {
                    let (p, lift) = wm.verify(&mut o, &test, 500)?;
                    r.p_value = p;
                    r.effect_size = lift;
                }
            }
            r.statistic = -r.p_value.max(1e-300).log10();
            r.verdict = r.p_value < config.alpha;
            out.push(r);
        }
        write_json(&res_path, &out)?;
        let _ = t0;
        on_event(EvalEvent::JobDone { name: job.name.clone(), cached: false, outcome: outcome_line(&out) });
        suspects.extend(out);
    }

    let method_summaries = methods.iter().map(|&m| summarise_method(m, &suspects, config)).collect::<Result<Vec<_>>>()?;
    let results = EvalResults {
        config: serde_json::to_value(config).expect("serialisable"),
        versions: serde_json::json!({
            "honeyimage": env!("CARGO_PKG_VERSION"),
            "libtorch": "2.13.0",
            "device": format!("{device:?}"),
            "threads": tch::get_num_threads(),
        }),
        alpha: config.alpha,
        methods: method_summaries,
        stealth: stealth(&honey_key, config.lpips_weights.as_deref())?,
        curve: curve_points(&suspects, config),
        examples: examples(&honey_key),
        suspects,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&run_dir.join("results.json"), &results)?;
    honeyimage_data::write_atomic(&run_dir.join("results.csv"), report::suspects_csv(&results).as_bytes())?;
    report::write_report(&results, &run_dir.join("report.html"))?;
    Ok(results)
}


fn outcome_line(r: &[SuspectResult]) -> String {
    r.iter()
        .map(|s| format!("{}: train acc {:.3}, test acc {:.3}, p {:.2e}{}", s.method, s.train_accuracy, s.test_accuracy, s.p_value, if s.verdict { " FLAGGED" } else { "" }))
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_clean(role: &str) -> bool {
    role.starts_with("clean")
}

fn summarise_method(m: &str, suspects: &[SuspectResult], config: &EvalConfig) -> Result<MethodSummary> {
    let mine: Vec<&SuspectResult> = suspects.iter().filter(|s| s.method == m).collect();
    let pos: Vec<&SuspectResult> = mine.iter().copied().filter(|s| s.role == "infringing").collect();
    let neg: Vec<&SuspectResult> = mine.iter().copied().filter(|s| is_clean(&s.role)).collect();
    let ps: Vec<f64> = pos.iter().map(|s| s.statistic).collect();
    let ns: Vec<f64> = neg.iter().map(|s| s.statistic).collect();
    let have = !ps.is_empty() && !ns.is_empty();
    let auroc = if have { honeyimage_stats::auroc(&ps, &ns)? } else { f64::NAN };
    let auroc_ci = if have { honeyimage_stats::auroc_bootstrap_ci(&ps, &ns, 2000, 0.95, config.seed)? } else { (f64::NAN, f64::NAN) };
    let frac = |v: &[&SuspectResult], f: &dyn Fn(&SuspectResult) -> bool| v.iter().filter(|s| f(s)).count() as f64 / v.len().max(1) as f64;
    let tpr = frac(&pos, &|s| s.verdict);
    let tnr = frac(&neg, &|s| !s.verdict);
    let at = |fpr: f64| -> Result<Option<f64>> { Ok(if have { honeyimage_stats::tpr_at_fpr(&ps, &ns, fpr)?.map(|x| x.0) } else { None }) };
    let roc = if have { honeyimage_stats::roc_curve(&ps, &ns)? } else { vec![] };
    let tau_p: Vec<f64> = pos.iter().map(|s| s.tau_score).filter(|x| x.is_finite()).collect();
    let tau_n: Vec<f64> = neg.iter().map(|s| s.tau_score).filter(|x| x.is_finite()).collect();
    let (tau_auroc, tau, tau_tpr, tau_tnr, tau_roc) = if !tau_p.is_empty() && !tau_n.is_empty() {
        let tau = honeyimage_stats::calibrate_threshold(&tau_n, config.tau_fpr)?;
        (
            Some(honeyimage_stats::auroc(&tau_p, &tau_n)?),
            Some(tau),
            Some(tau_p.iter().filter(|&&x| x > tau).count() as f64 / tau_p.len() as f64),
            Some(tau_n.iter().filter(|&&x| x <= tau).count() as f64 / tau_n.len() as f64),
            honeyimage_stats::roc_curve(&tau_p, &tau_n)?,
        )
    } else {
        (None, None, None, None, vec![])
    };
    let infringing_test_accuracy = pos.iter().map(|s| s.test_accuracy).sum::<f64>() / pos.len().max(1) as f64;
    let drops: Vec<f64> = pos
        .iter()
        .filter_map(|s| mine.iter().find(|o| o.role == "original" && o.arch == s.arch && o.seed == s.seed).map(|o| 100.0 * (o.test_accuracy - s.test_accuracy)))
        .collect();
    Ok(MethodSummary {
        method: m.into(),
        n_infringing: pos.len(),
        n_clean: neg.len(),
        auroc,
        auroc_ci,
        tpr,
        tnr,
        tpr_at_1pct_fpr: at(0.01)?,
        tpr_at_01pct_fpr: at(0.001)?,
        roc,
        tau_auroc,
        tau,
        tau_tpr,
        tau_tnr,
        tau_roc,
        infringing_test_accuracy,
        accuracy_drop_points: (!drops.is_empty()).then(|| drops.iter().sum::<f64>() / drops.len() as f64),
        accuracy_drop_ci95: honeyimage_stats::mean_t_interval(&drops, 0.95).ok(),
        accuracy_drop_pairs: drops.len(),
    })
}

fn stealth(k: &KeyBody, lpips_weights: Option<&std::path::Path>) -> Result<Stealth> {
    let d = &k.dataset;
    let samples: Vec<_> = k.released.iter().chain(&k.withheld).collect();
    let sim = crate::protect::similarity(samples.iter().map(|s| (&s.original.0[..], &s.honey.0[..])), d.height, d.width, d.channels);
    let lpips_stl = match lpips_weights {
        Some(p) => {
            let net = crate::lpips::Lpips::load(p, crate::default_device())?;
            let (a, b): (Vec<u8>, Vec<u8>) = (samples.iter().flat_map(|s| s.original.0.clone()).collect(), samples.iter().flat_map(|s| s.honey.0.clone()).collect());
            let dist = net.distance(&a, &b, samples.len(), d.height, d.width, d.channels)?;
            Some(1.0 - dist.iter().sum::<f64>() / dist.len() as f64)
        }
        None => None,
    };
    Ok(Stealth { ssim_mean: sim.ssim_mean, ssim_min: sim.ssim_min, psnr_mean: sim.psnr_mean, linf_max: sim.linf_max, lpips_stl })
}

fn examples(k: &KeyBody) -> Vec<Example> {
    let mut out = Vec::new();
    for (ci, name) in k.dataset.class_names.iter().enumerate() {
        if let Some(s) = k.released.iter().find(|s| s.label as usize == ci) {
            out.push(Example {
                class_name: name.clone(),
                height: k.dataset.height,
                width: k.dataset.width,
                channels: k.dataset.channels,
                original: s.original.0.clone(),
                honey: s.honey.0.clone(),
            });
        }
    }
    out
}

fn curve_points(suspects: &[SuspectResult], config: &EvalConfig) -> Vec<CurvePoint> {
    let mut epochs: Vec<usize> = config.curve_epochs.iter().copied().filter(|&e| e < config.suspect_train.epochs).collect();
    epochs.push(config.suspect_train.epochs);
    let honey: Vec<&SuspectResult> = suspects.iter().filter(|s| s.method == "honeyimage").collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    epochs
        .into_iter()
        .filter_map(|e| {
            let at = |s: &&SuspectResult| s.curve.iter().find(|p| p.epoch == e).cloned();
            let pos: Vec<EpochPoint> = honey.iter().filter(|s| s.role == "infringing").filter_map(at).collect();
            let neg: Vec<EpochPoint> = honey.iter().filter(|s| is_clean(&s.role)).filter_map(at).collect();
            if pos.is_empty() || neg.is_empty() {
                return None;
            }
            let st = |p: &EpochPoint| -p.p_value.max(1e-300).log10();
            let auroc = honeyimage_stats::auroc(&pos.iter().map(st).collect::<Vec<_>>(), &neg.iter().map(st).collect::<Vec<_>>()).unwrap_or(f64::NAN);
            Some(CurvePoint {
                epoch: e,
                auroc,
                median_p_infringing: median(pos.iter().map(|p| p.p_value).collect()),
                median_p_clean: median(neg.iter().map(|p| p.p_value).collect()),
                mean_train_accuracy: pos.iter().map(|p| p.train_accuracy).sum::<f64>() / pos.len() as f64,
            })
        })
        .collect()
}
