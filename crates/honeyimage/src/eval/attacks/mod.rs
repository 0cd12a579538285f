//! The infringer's playbook: how an attacked suspect is made. Every attack
//! of `[[attacks]]` turns the data a suspect would train on, its training
//! recipe, the trained model or the API in front of it into what an
//! infringer who wants to escape verification would run; clean suspects go
//! through the same attack, so a verdict that flags them is seen.
//!
//! | family | attacks | module |
//! |---|---|---|
//! | data | JPEG, bit depth, blur, median, grayscale, partial use | [`pixels`] |
//! | training | crop + flip, mixup, CutMix, label smoothing, weight decay, PGD-AT | [`recipes`] |
//! | cleaning | loss filter (confident learning), spectral signatures | [`cleaning`] |
//! | model | pruning, int8, fine-tuning away, pre-trained fine-tuning, distillation | [`recipes`] |
//! | query | labels only, top-k rounded, output noise, JPEG queries | [`api`] |
//!
//! Every attack is deterministic for the suspect's seed; the cleaning
//! models' scores are cached in the run folder and shared by all suspects
//! of the same data.
pub mod api;
pub mod cleaning;
pub mod pixels;
pub mod recipes;

use std::path::Path;

use honeyimage_data::{shuffled_indices, Dataset};
use honeyimage_report::results::Removed;

use super::plan::Job;
use super::EvalEvent;
use crate::config::{Attack, ModelConfig, TrainConfig};
use crate::fsio::cached;
use crate::model::{channel_stats, Model};
use crate::tensors::TensorSet;
use crate::train::{train, TrainReport};
use crate::Result;

/// What an attack needs besides the suspect.
pub struct Inputs<'a> {
    /// The data the suspect would train on unattacked.
    pub data: &'a Dataset,
    /// Its name, for cached cleaning scores (`release-honeyimage`, `disjoint`).
    pub data_name: String,
    /// Positions of the marked samples (R) in `data` (empty for clean data).
    pub marked: Vec<usize>,
    /// Other data of the same distribution (fine-tuning away, distillation).
    pub other: &'a Dataset,
    /// The suspect's training settings (its seed included).
    pub train: TrainConfig,
    /// The run folder.
    pub run_dir: &'a Path,
}

/// An attacked suspect, ready to be judged.
pub struct Attacked {
    /// The model.
    pub model: Model,
    /// How its last training went (the base model's when reused unchanged).
    pub report: TrainReport,
    /// Its training settings.
    pub config: TrainConfig,
    /// What cleaning removed.
    pub removed: Option<Removed>,
    /// The query-side attack to put in front of it, if any.
    pub api: Option<Attack>,
}

/// A fresh, untrained model for a suspect of `job`'s architecture on `ds`.
pub fn suspect_model(job: &Job, ds: &Dataset) -> Result<Model> {
    let mut mc = ModelConfig::new(job.arch, ds.channels, ds.height, ds.width, ds.class_names.clone(), channel_stats(ds));
    if let Some(w) = job.width {
        mc.arch_width = w;
    }
    Model::new(mc, crate::default_device(), job.seed.wrapping_add(1000))
}

/// The unattacked models an attack may start from: `base(job)` returns the
/// trained model of `job` (which has no attack) and its training report.
pub type BaseModels<'a> = dyn FnMut(&Job) -> Result<(Model, TrainReport)> + 'a;

/// The suspect `job` (which has an attack) as the infringer makes it.
pub fn make(job: &Job, attack: &Attack, inp: &Inputs, base: &mut BaseModels, on_event: &mut dyn FnMut(EvalEvent)) -> Result<Attacked> {
    let ev = &mut |e| on_event(EvalEvent::Train(e));
    let tc = inp.train.clone();
    let fresh = |ds: &Dataset, tc: &TrainConfig, ev: &mut dyn FnMut(crate::train::TrainEvent)| -> Result<(Model, TrainReport)> {
        let model = suspect_model(job, ds)?;
        let report = train(&model, &TensorSet::from_dataset(ds, crate::default_device())?, tc, ev)?;
        Ok((model, report))
    };
    let done = |(model, report): (Model, TrainReport), config: TrainConfig| Attacked { model, report, config, removed: None, api: None };
    Ok(match attack {
        a if pixels::is_pixel_attack(a) && !matches!(a, Attack::QueryJpeg { .. }) => done(fresh(&pixels::transform_dataset(a, inp.data)?, &tc, ev)?, tc),
        Attack::Partial { fraction } => done(fresh(&partial(inp.data, *fraction, tc.seed), &tc, ev)?, tc),
        Attack::Augment { .. } | Attack::LabelSmoothing { .. } | Attack::WeightDecay { .. } => {
            let tc = recipe(attack, &tc);
            done(fresh(inp.data, &tc, ev)?, tc)
        }
        Attack::Mixup { .. } | Attack::Cutmix { .. } | Attack::Adversarial { .. } => done(train_special(job, attack, inp.data, &tc, ev)?, tc),
        Attack::LossFilter { .. } => clean_then_train(job, attack, inp, ev)?,
        Attack::Spectral { expected, factor } => {
            // The infringer's own model on the data it took: the unattacked suspect.
            let (model, _) = base(&job.unattacked())?;
            let feats = model.features(&TensorSet::from_dataset(inp.data, crate::default_device())?.images, 512);
            train_on_kept(job, inp, &cleaning::spectral_kept(&feats, &inp.data.labels, expected * factor)?, ev)?
        }
        Attack::Pretrained { epochs } => {
            let (model, _) = base(&pretraining_job(job))?;
            let ft = recipes::finetune_config(&tc, *epochs);
            let report = train(&model, &TensorSet::from_dataset(inp.data, crate::default_device())?, &ft, ev)?;
            done((model, report), ft)
        }
        _ => from_base(job, attack, inp, base, ev)?,
    })
}

/// The attacks that start from the unattacked model.
fn from_base(job: &Job, attack: &Attack, inp: &Inputs, base: &mut BaseModels, ev: &mut dyn FnMut(crate::train::TrainEvent)) -> Result<Attacked> {
    let (model, report) = base(&job.unattacked())?;
    let device = crate::default_device();
    let mut out = Attacked { model, report, config: inp.train.clone(), removed: None, api: None };
    match attack {
        Attack::Prune { fraction, finetune_epochs } => {
            let masks = recipes::prune(&out.model, *fraction)?;
            if *finetune_epochs > 0 {
                out.config = recipes::finetune_config(&inp.train, *finetune_epochs);
                out.report = recipes::finetune_masked(&out.model, &TensorSet::from_dataset(inp.data, device)?, &out.config, &masks, ev)?;
            }
        }
        Attack::QuantizeInt8 => recipes::quantize_int8(&out.model),
        Attack::FinetuneAway { epochs } => {
            out.config = recipes::finetune_config(&inp.train, *epochs);
            out.report = train(&out.model, &TensorSet::from_dataset(inp.other, device)?, &out.config, ev)?;
        }
        Attack::Distill { temperature, epochs } => {
            let student = suspect_model(job, inp.other)?;
            out.config = TrainConfig { epochs: *epochs, ..inp.train.clone() };
            out.report = recipes::distill(&student, &out.model, &TensorSet::from_dataset(inp.other, device)?, &out.config, *temperature, ev)?;
            out.model = student;
        }
        query => out.api = Some(query.clone()),
    }
    Ok(out)
}

/// The training settings a recipe attack changes.
pub fn recipe(attack: &Attack, tc: &TrainConfig) -> TrainConfig {
    match attack {
        Attack::Augment { crop_padding, flip } => TrainConfig { crop_padding: *crop_padding, flip: *flip, ..tc.clone() },
        Attack::LabelSmoothing { epsilon } => TrainConfig { label_smoothing: *epsilon, ..tc.clone() },
        Attack::WeightDecay { value } => TrainConfig { weight_decay: *value, ..tc.clone() },
        _ => tc.clone(),
    }
}

/// Mixup, CutMix or adversarial training of a fresh model.
fn train_special(job: &Job, attack: &Attack, ds: &Dataset, tc: &TrainConfig, ev: &mut dyn FnMut(crate::train::TrainEvent)) -> Result<(Model, TrainReport)> {
    let model = suspect_model(job, ds)?;
    let set = TensorSet::from_dataset(ds, crate::default_device())?;
    let report = match attack {
        Attack::Adversarial { eps, steps } => recipes::train_adversarial(&model, &set, tc, *eps, *steps, ev)?,
        _ => recipes::train_mixed(&model, &set, tc, attack, ev)?,
    };
    Ok((model, report))
}

/// A seeded random `fraction` of `ds`, in dataset order.
fn partial(ds: &Dataset, fraction: f64, seed: u64) -> Dataset {
    let mut idx = shuffled_indices(ds.len(), seed ^ 0x9a27);
    idx.truncate(((fraction * ds.len() as f64).round() as usize).max(1));
    idx.sort_unstable();
    ds.subset(&idx)
}

/// The clean-data model that the pre-trained attack fine-tunes: the
/// suspect of the same architecture and seed trained on disjoint data.
fn pretraining_job(job: &Job) -> Job {
    let role = honeyimage_report::Role::CleanDisjoint;
    Job { name: format!("all/{role}/{}/s{}", job.arch_label(), job.seed), data: super::plan::DataRef::Disjoint, role, attack: None, ..job.clone() }
}

/// The loss filter: out-of-fold scores (cached per data set and attack),
/// the kept samples, and a fresh model trained on them.
fn clean_then_train(job: &Job, attack: &Attack, inp: &Inputs, ev: &mut dyn FnMut(crate::train::TrainEvent)) -> Result<Attacked> {
    let Attack::LossFilter { folds, .. } = attack else { unreachable!("called for loss filters") };
    // The scores depend on the data and the folds only: loss filters of other strengths share them.
    let path = inp.run_dir.join("attacks").join(format!("{}__out-of-fold-f{folds}.json", inp.data_name));
    let cleaner = TrainConfig { seed: 0xc1ea, ..inp.train.clone() };
    let (oof, _) = cached(&path, || cleaning::out_of_fold(inp.data, *folds, &cleaner))?;
    train_on_kept(job, inp, &cleaning::kept(&oof, &inp.data.labels, attack)?, ev)
}

/// A fresh suspect trained on the samples a cleaner kept, with what it removed.
fn train_on_kept(job: &Job, inp: &Inputs, kept: &[usize], ev: &mut dyn FnMut(crate::train::TrainEvent)) -> Result<Attacked> {
    let (all, marked) = cleaning::removed_fractions(inp.data.len(), kept, &inp.marked);
    let ds = inp.data.subset(kept);
    let model = suspect_model(job, &ds)?;
    let report = train(&model, &TensorSet::from_dataset(&ds, crate::default_device())?, &inp.train, ev)?;
    Ok(Attacked { model, report, config: inp.train.clone(), removed: Some(Removed { all, marked }), api: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_change_only_their_setting() {
        let tc = TrainConfig::default();
        let a = recipe(&Attack::Augment { crop_padding: 2, flip: true }, &tc);
        assert_eq!((a.crop_padding, a.flip), (2, true));
        assert_eq!(TrainConfig { crop_padding: 0, flip: false, ..a }, tc);
        assert_eq!(recipe(&Attack::LabelSmoothing { epsilon: 0.1 }, &tc).label_smoothing, 0.1);
        assert_eq!(recipe(&Attack::WeightDecay { value: 5e-3 }, &tc).weight_decay, 5e-3);
    }

    #[test]
    fn partial_use_is_a_seeded_ordered_subset() {
        let ds = Dataset { images: (0..10).collect(), labels: vec![0; 10], height: 1, width: 1, channels: 1, class_names: vec!["a".into()], ids: (0..10).map(|i| i.to_string()).collect() };
        let a = partial(&ds, 0.5, 3);
        assert_eq!(a.len(), 5);
        assert!(a.images.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a.images, partial(&ds, 0.5, 3).images);
        assert_ne!(a.images, partial(&ds, 0.5, 4).images);
    }
}
