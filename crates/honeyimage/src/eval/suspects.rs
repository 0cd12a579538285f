//! The suspects: each job's training data assembled, its model trained
//! (verified along the way, with each judging key, for the training-length
//! curves) and judged by
//! every method that the plan names, through the same `Oracle` interface as
//! `verify`. Each finished job's results are cached in the run folder.
use std::collections::BTreeMap;
use std::path::Path;

use honeyimage_data::Dataset;
use honeyimage_report::results::{EpochPoint, SuspectResult};
use honeyimage_report::{Method, Role};

use super::data::EvalData;
use super::plan::{DataRef, Job};
use super::releases::{Judge, Releases};
use super::attacks;
use super::EvalEvent;
use crate::config::{Attack, EvalConfig, TrainConfig, VerifyConfig};
use crate::fsio::{cached, read_json, write_json};
use crate::key::KeyBody;
use crate::model::Model;
use crate::query::ModelOracle;
use crate::tensors::TensorSet;
use crate::train::{train, TrainEvent, TrainReport};
use crate::verify::{calibrated_p, verify};
use crate::Result;

/// Training sets, loaded once and shared by the jobs that use them.
pub struct DataCache<'a> {
    data: &'a EvalData,
    releases: &'a Releases,
    format: Option<honeyimage_data::Format>,
    loaded: BTreeMap<DataRef, Dataset>,
}

impl<'a> DataCache<'a> {
    /// An empty cache over the run's data and releases.
    pub fn new(data: &'a EvalData, releases: &'a Releases, format: Option<honeyimage_data::Format>) -> Self {
        DataCache { data, releases, format, loaded: BTreeMap::new() }
    }

    /// The training set a job names.
    pub fn get(&mut self, what: DataRef) -> Result<&Dataset> {
        if !self.loaded.contains_key(&what) {
            let ds = match what {
                DataRef::Release(m) => self.releases.load(m, self.format)?,
                DataRef::Disjoint => self.data.disjoint.clone(),
                DataRef::Original => self.data.original.clone(),
                DataRef::MinusHoney => minus_released(&self.releases.load(Method::HoneyImage, self.format)?, self.releases.honey_key()),
            };
            self.loaded.insert(what, ds);
        }
        Ok(&self.loaded[&what])
    }
}

/// Positions of the released HoneyImages (R) in the release. Key indices
/// refer to D; the release lacks W, so they shift down.
pub fn released_positions(key: &KeyBody) -> Vec<usize> {
    let withheld: Vec<usize> = key.withheld.iter().map(|s| s.index).collect();
    key.released.iter().map(|s| s.index - withheld.iter().filter(|&&w| w < s.index).count()).collect()
}

/// The release without its HoneyImages (R): the hardest clean negative.
pub fn minus_released(release: &Dataset, key: &KeyBody) -> Dataset {
    let mut drop = vec![false; release.len()];
    released_positions(key).into_iter().for_each(|i| drop[i] = true);
    release.subset(&(0..release.len()).filter(|&i| !drop[i]).collect::<Vec<_>>())
}

/// A trained suspect.
struct Trained {
    model: Model,
    report: TrainReport,
    config: TrainConfig,
    /// Per judging method with a key, its verdicts at the curve's epochs.
    curves: BTreeMap<Method, Vec<EpochPoint>>,
}

/// The keys that follow a job's training along the curve's epochs: every
/// key-based method that judges it (an unattacked job only).
fn curve_keys<'r>(job: &Job, releases: &'r Releases) -> Vec<(Method, &'r KeyBody)> {
    if job.attack.is_some() {
        return Vec::new();
    }
    job.judged_by
        .iter()
        .filter_map(|m| match releases.judges.get(m) {
            Some(Judge::Key(k)) => Some((*m, k.as_ref())),
            _ => None,
        })
        .collect()
}

/// Trains a job's model, verifying it with each judging method's key at
/// the curve's epochs.
fn train_job(job: &Job, ds: &Dataset, config: &EvalConfig, releases: &Releases, vcfg: &VerifyConfig, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Trained> {
    let model = attacks::suspect_model(job, ds)?;
    let tc = TrainConfig { seed: job.seed, ..config.suspect_train.clone() };
    let set = TensorSet::from_dataset(ds, crate::default_device())?;
    let keys = curve_keys(job, releases);
    let (mut curves, mut curve_err) = (BTreeMap::<Method, Vec<EpochPoint>>::new(), None);
    let report = train(&model, &set, &tc, &mut |ev| {
        if let TrainEvent::Epoch { epoch, accuracy, .. } = &ev {
            let e = epoch + 1;
            if config.curve_epochs.contains(&e) && e < tc.epochs {
                for &(m, key) in &keys {
                    let mut o = ModelOracle { model: &model, name: job.name.clone() };
                    match verify(key, &mut o, &VerifyConfig { permutations: 1000, ..vcfg.clone() }) {
                        Ok(v) => curves.entry(m).or_default().push(EpochPoint { epoch: e, p_value: v.p_value, tau_score: v.tau_rule.score, train_accuracy: *accuracy }),
                        Err(err) => curve_err = Some(err),
                    }
                }
            }
        }
        on_event(EvalEvent::Train(ev));
    })?;
    match curve_err {
        Some(e) => Err(e),
        None => Ok(Trained { model, report, config: tc, curves }),
    }
}

/// What is known of a suspect before it is judged.
struct Facts<'a> {
    job: &'a Job,
    epochs: usize,
    train_accuracy: f64,
    test_accuracy: f64,
    /// Per judging method, its verdicts at the curve's epochs (unattacked jobs).
    curves: &'a BTreeMap<Method, Vec<EpochPoint>>,
    /// The API answers with labels only: only the label-only test applies.
    label_only: bool,
    removed: Option<honeyimage_report::results::Removed>,
}

/// One method's judgement of a suspect, through any oracle.
fn judge(f: &Facts, o: &mut dyn crate::query::Oracle, method: Method, cx: &Ctx) -> Result<SuspectResult> {
    let (releases, test, alpha) = (cx.releases, &cx.data.test, cx.config.alpha);
    let vcfg = VerifyConfig { label_only: f.label_only, ..cx.vcfg.clone() };
    let mut r = SuspectResult {
        seed: f.job.seed,
        epochs: f.epochs,
        train_accuracy: f.train_accuracy,
        test_accuracy: f.test_accuracy,
        attack: f.job.attack.as_ref().map(|a| a.label()).unwrap_or_default(),
        removed: f.removed,
        ..SuspectResult::unjudged(f.job.result_name(method), method, f.job.role, f.job.arch_label())
    };
    match &releases.judges[&method] {
        Judge::Key(k) => {
            let v = verify(k, o, &vcfg)?;
            (r.p_value, r.tau_score, r.effect_size, r.label_only_p) = (v.p_value, v.tau_rule.score, v.effect_size, v.label_only.fisher_p);
            r.calibrated_p = calibrated_p(k, &v, &vcfg)?;
            if f.job.attack.is_none() {
                r.curve = f.curves.get(&method).cloned().unwrap_or_default();
                r.curve.push(EpochPoint { epoch: f.epochs, p_value: v.p_value, tau_score: v.tau_rule.score, train_accuracy: f.train_accuracy });
            }
        }
        // The watermark test compares probabilities; a label-only API gives none.
        Judge::Watermark(_) if f.label_only => return Ok(r),
        Judge::Watermark(wm) => (r.p_value, r.effect_size) = wm.config.verify(o, test, 500)?,
    }
    r.statistic = -r.p_value.max(1e-300).log10();
    r.verdict = r.p_value < alpha;
    Ok(r)
}

/// One line per method for the progress display.
pub fn outcome_line(r: &[SuspectResult]) -> String {
    r.iter()
        .map(|s| format!("{}: train acc {:.3}, test acc {:.3}, p {:.2e}{}", s.method, s.train_accuracy, s.test_accuracy, s.p_value, if s.verdict { " FLAGGED" } else { "" }))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether every HoneyImage key judges this job's model: clean models
/// (including the owner's own model on D), never the infringing ones.
pub fn judged_by_all_keys(job: &Job) -> bool {
    job.judged_by.contains(&Method::HoneyImage) && (job.role.is_clean() || job.role == Role::Original)
}

/// `base` (a HoneyImage judgement of the same model) judged again with key `j`.
fn judge_with_key(oracle: &mut dyn crate::query::Oracle, base: &SuspectResult, key: &KeyBody, j: usize, alpha: f64, vcfg: &VerifyConfig) -> Result<SuspectResult> {
    let v = verify(key, oracle, vcfg)?;
    let name = if j == 0 { base.name.clone() } else { format!("{}@k{j}", base.name) };
    let mut r = SuspectResult { name, key: j, curve: Vec::new(), ..base.clone() };
    (r.p_value, r.tau_score, r.effect_size, r.label_only_p) = (v.p_value, v.tau_rule.score, v.effect_size, v.label_only.fisher_p);
    r.calibrated_p = calibrated_p(key, &v, vcfg)?;
    r.statistic = -r.p_value.max(1e-300).log10();
    r.verdict = r.p_value < alpha;
    Ok(r)
}

/// Where key `j`'s judgement of a job is cached.
fn key_result_path(run_dir: &Path, stem: &str, j: usize) -> std::path::PathBuf {
    run_dir.join("suspects").join(format!("{stem}@k{j}.json"))
}

/// Shared settings of the judging steps.
struct Ctx<'a> {
    config: &'a EvalConfig,
    releases: &'a Releases,
    data: &'a EvalData,
    run_dir: &'a Path,
    vcfg: VerifyConfig,
}

/// Where a job's model is kept.
fn model_dir(run_dir: &Path, job: &Job) -> std::path::PathBuf {
    run_dir.join("models").join(job.file_stem())
}

/// Whether a job's model is kept in the run folder: clean models judged by
/// many keys, and every unattacked model when attacks may start from it.
fn keeps_model(job: &Job, config: &EvalConfig) -> bool {
    (judged_by_all_keys(job) && config.keys > 1) || (!config.attacks.is_empty() && job.attack.is_none())
}

/// Saves a trained suspect's model with its card.
fn save_model(job: &Job, cx: &Ctx, model: &Model, config: &TrainConfig, report: &TrainReport) -> Result<()> {
    let card = crate::model::ModelCard { train_config: Some(config.clone()), report: Some(report.clone()), ..crate::model::ModelCard::new(format!("evaluation suspect {}", job.name)) };
    model.save(&model_dir(cx.run_dir, job), &card)
}

/// Trains (or finds) one job's model and judges it with every method and,
/// for clean models, every key.
fn run_job(job: &Job, cx: &Ctx, cache: &mut DataCache, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<SuspectResult>> {
    if job.attack.is_some() {
        return run_attacked(job, cx, cache, on_event);
    }
    let stem = job.file_stem();
    let res_path = cx.run_dir.join("suspects").join(format!("{stem}.json"));
    let model_dir = model_dir(cx.run_dir, job);
    let extra: Vec<usize> = if judged_by_all_keys(job) { (1..cx.config.keys).filter(|&j| !key_result_path(cx.run_dir, &stem, j).exists()).collect() } else { Vec::new() };
    let mut main = read_json::<Vec<SuspectResult>>(&res_path)?;
    let found = main.is_some() && extra.is_empty();
    let mut trained = None;
    if main.is_none() || (!extra.is_empty() && !model_dir.join("config.json").exists()) {
        let t = train_job(job, cache.get(job.data)?, cx.config, cx.releases, &cx.vcfg, on_event)?;
        if main.is_none() {
            let mut o = ModelOracle { model: &t.model, name: job.name.clone() };
            let facts = Facts { job, epochs: t.config.epochs, train_accuracy: t.report.final_train_accuracy, test_accuracy: oracle_accuracy(&mut o, &cx.data.test)?, curves: &t.curves, label_only: false, removed: None };
            let out = job.judged_by.iter().map(|&m| judge(&facts, &mut o, m, cx)).collect::<Result<Vec<_>>>()?;
            write_json(&res_path, &out)?;
            main = Some(out);
        }
        if keeps_model(job, cx.config) {
            save_model(job, cx, &t.model, &t.config, &t.report)?;
        }
        trained = Some(t.model);
    }
    let mut out = main.unwrap_or_default();
    if let Some(base) = out.iter().find(|r| r.method == Method::HoneyImage).cloned().filter(|_| judged_by_all_keys(job)) {
        let mut model = trained;
        for j in 1..cx.config.keys {
            let path = key_result_path(cx.run_dir, &stem, j);
            let (r, _) = cached(&path, || {
                if model.is_none() {
                    model = Some(Model::load(&model_dir, crate::default_device())?.0);
                }
                let m = model.as_ref().expect("loaded above");
                judge_with_key(&mut ModelOracle { model: m, name: job.name.clone() }, &base, cx.releases.key(j), j, cx.config.alpha, &cx.vcfg)
            })?;
            out.push(r);
        }
    }
    on_event(EvalEvent::JobDone { name: job.name.clone(), cached: found, outcome: outcome_line(&out[..job.judged_by.len().min(out.len())]) });
    Ok(out)
}

/// The trained model of an unattacked job: from the run folder, or trained
/// now (same seed, same weights) and kept there.
fn base_model(job: &Job, cx: &Ctx, cache: &mut DataCache, on_event: &mut dyn FnMut(EvalEvent)) -> Result<(Model, TrainReport)> {
    let dir = model_dir(cx.run_dir, job);
    if dir.join("config.json").exists() {
        let (model, card) = Model::load(&dir, crate::default_device())?;
        if let Some(report) = card.report {
            return Ok((model, report));
        }
    }
    let t = train_job(job, cache.get(job.data)?, cx.config, cx.releases, &cx.vcfg, on_event)?;
    save_model(job, cx, &t.model, &t.config, &t.report)?;
    Ok((t.model, t.report))
}

/// Where a method's marked samples sit in the data a job trains on: R,
/// or the samples the watermark poisoned (its release keeps D's order).
fn marked_positions(job: &Job, releases: &Releases) -> Vec<usize> {
    match (job.data, job.role) {
        (DataRef::Release(m), Role::Infringing) => match &releases.judges[&m] {
            Judge::Key(k) => released_positions(k),
            Judge::Watermark(w) => w.poisoned.clone(),
        },
        _ => Vec::new(),
    }
}

/// An attacked suspect: made as the infringer would, judged by every method.
fn run_attacked(job: &Job, cx: &Ctx, cache: &mut DataCache, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<SuspectResult>> {
    let attack = job.attack.clone().expect("an attacked job");
    let res_path = cx.run_dir.join("suspects").join(format!("{}.json", job.file_stem()));
    let (out, found) = cached(&res_path, || {
        let data = cache.get(job.data)?.clone();
        let other = cache.get(DataRef::Disjoint)?.clone();
        let data_name = match job.data {
            DataRef::Release(m) => format!("release-{m}"),
            d => format!("{d:?}").to_lowercase(),
        };
        let inp = attacks::Inputs { data: &data, data_name, marked: marked_positions(job, cx.releases), other: &other, train: TrainConfig { seed: job.seed, ..cx.config.suspect_train.clone() }, run_dir: cx.run_dir };
        // Both the base models and the attack report training progress.
        let sink = std::cell::RefCell::new(&mut *on_event);
        let a = attacks::make(job, &attack, &inp, &mut |j: &Job| base_model(j, cx, cache, &mut |e| (*sink.borrow_mut())(e)), &mut |e| (*sink.borrow_mut())(e))?;
        let mut plain = ModelOracle { model: &a.model, name: job.name.clone() };
        let mut api;
        let o: &mut dyn crate::query::Oracle = match &a.api {
            Some(q) => {
                api = attacks::api::AttackedApi::new(&mut plain, q, job.seed)?;
                &mut api
            }
            None => &mut plain,
        };
        let classes = a.model.config.class_names.len();
        let label_only = matches!(a.api, Some(Attack::LabelsOnly)) || matches!(a.api, Some(Attack::TopK { k, .. }) if k < classes);
        let facts = Facts { job, epochs: a.config.epochs, train_accuracy: a.report.final_train_accuracy, test_accuracy: oracle_accuracy(o, &cx.data.test)?, curves: &BTreeMap::new(), label_only, removed: a.removed };
        job.judged_by.iter().map(|&m| judge(&facts, o, m, cx)).collect::<Result<Vec<_>>>()
    })?;
    on_event(EvalEvent::JobDone { name: job.name.clone(), cached: found, outcome: outcome_line(&out) });
    Ok(out)
}

/// Trains and judges suspects one at a time, sharing loaded training sets.
pub struct Runner<'a> {
    cx: Ctx<'a>,
    cache: DataCache<'a>,
}

impl<'a> Runner<'a> {
    /// A runner over the run's data and finished releases.
    pub fn new(config: &'a EvalConfig, data: &'a EvalData, releases: &'a Releases, run_dir: &'a Path) -> Self {
        let vcfg = VerifyConfig { alpha: config.alpha, permutations: 20_000, ..VerifyConfig::default() };
        Runner { cx: Ctx { config, releases, data, run_dir, vcfg }, cache: DataCache::new(data, releases, config.format) }
    }

    /// Trains (or finds) one suspect and judges it.
    pub fn suspect(&mut self, job: &Job, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<SuspectResult>> {
        on_event(EvalEvent::JobStart { name: job.name.clone() });
        run_job(job, &self.cx, &mut self.cache, on_event)
    }

    /// Judges (or finds the judgements of) a model trained elsewhere.
    pub fn external(&mut self, ext: &crate::config::ExternalModel, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<SuspectResult>> {
        let name = format!("external/{}", ext.name);
        on_event(EvalEvent::JobStart { name: name.clone() });
        let out = run_external(ext, &self.cx)?;
        on_event(EvalEvent::JobDone { name, cached: false, outcome: outcome_line(&out[..1]) });
        Ok(out)
    }
}

/// Trains and judges every job not already finished in `run_dir`.
pub fn run_all(config: &EvalConfig, jobs: &[Job], data: &EvalData, releases: &Releases, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Vec<SuspectResult>> {
    let mut runner = Runner::new(config, data, releases, run_dir);
    let mut suspects = Vec::new();
    for job in jobs {
        suspects.extend(runner.suspect(job, on_event)?);
    }
    for ext in &config.external_clean {
        suspects.extend(runner.external(ext, on_event)?);
    }
    Ok(suspects)
}

/// Top-1 accuracy of any suspect on the test set (label-only APIs included).
fn oracle_accuracy(o: &mut dyn crate::query::Oracle, test: &Dataset) -> Result<f64> {
    let (h, w, c) = (test.height, test.width, test.channels);
    let mut correct = 0usize;
    for start in (0..test.len()).step_by(256) {
        let idx: Vec<usize> = (start..(start + 256).min(test.len())).collect();
        let px: Vec<u8> = idx.iter().flat_map(|&i| test.image(i).iter().copied()).collect();
        let top: Vec<usize> = match o.query(&px, idx.len(), h, w, c)? {
            crate::query::Answer::Labels(l) => l.into_iter().map(|l| l as usize).collect(),
            crate::query::Answer::Scores { rows, .. } => rows.iter().map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)).collect(),
        };
        correct += idx.iter().zip(&top).filter(|(&i, &t)| t == test.labels[i] as usize).count();
    }
    Ok(correct as f64 / test.len().max(1) as f64)
}

/// A model trained elsewhere, judged by every HoneyImage key (cached per key).
fn run_external(ext: &crate::config::ExternalModel, cx: &Ctx) -> Result<Vec<SuspectResult>> {
    let target = ext.path.display().to_string();
    let mut o = crate::query::open(&target, &crate::query::OpenOptions::default(), crate::default_device())?;
    let stem = format!("external__{}", ext.name.replace('/', "_"));
    let base_path = cx.run_dir.join("suspects").join(format!("{stem}.json"));
    let (base, _) = cached(&base_path, || {
        let name = format!("honeyimage/{}/external-{}/{}", ext.role, ext.arch, ext.name);
        let blank = SuspectResult {
            test_accuracy: oracle_accuracy(o.as_mut(), &cx.data.test)?,
            ..SuspectResult::unjudged(name, Method::HoneyImage, ext.role, format!("external-{}", ext.arch))
        };
        judge_with_key(o.as_mut(), &blank, cx.releases.key(0), 0, cx.config.alpha, &cx.vcfg)
    })?;
    let mut out = vec![base.clone()];
    for j in 1..cx.config.keys {
        let path = key_result_path(cx.run_dir, &stem, j);
        let (r, _) = cached(&path, || judge_with_key(o.as_mut(), &base, cx.releases.key(j), j, cx.config.alpha, &cx.vcfg))?;
        out.push(r);
    }
    Ok(out)
}
