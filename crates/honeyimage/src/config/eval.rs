//! An evaluation experiment (SPEC section 5): the data, the protection, the
//! suspect population and the baselines, as read from an `EXP.toml`.
use std::path::PathBuf;

use honeyimage_data::Format;
use serde::{Deserialize, Serialize};

use super::{Arch, Attack, ProtectConfig, TrainConfig};
use crate::{Error, Result};

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
    /// LPIPS AlexNet weights (see the `lpips` module); STL = 1 - LPIPS is
    /// reported when given.
    pub lpips_weights: Option<PathBuf>,
    /// Independent HoneyImage keys (protections of D with other seeds).
    /// Key 0's release trains the infringing suspects; every clean suspect
    /// is judged by every key, so the false-positive rate is measured over
    /// keys x clean models, not one draw of R and W.
    pub keys: usize,
    /// Clean models trained elsewhere (e.g. by PyTorch on `RUN/data/disjoint`,
    /// exported as TorchScript or ONNX), judged by every key.
    pub external_clean: Vec<ExternalModel>,
    /// The robustness suite: every attack puts an infringing suspect of
    /// each method, and a clean suspect, through it (see `eval::attacks`).
    pub attacks: Vec<Attack>,
    /// Seeds per architecture (the first ones) that go through each attack.
    pub attack_seeds: usize,
    /// Power curves: one evaluation per value of a parameter (see `eval::sweep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
}

/// The parameter a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepParameter {
    /// N, the number of HoneyImages (`protect.count`).
    Count,
    /// The private set's size (`private_size`).
    PrivateSize,
    /// The suspects' training length (`suspect_train.epochs`).
    Epochs,
}

impl SweepParameter {
    /// The name in configuration files and run folders.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepParameter::Count => "count",
            SweepParameter::PrivateSize => "private_size",
            SweepParameter::Epochs => "epochs",
        }
    }

    /// What it means, for axes and headings.
    pub fn label(self) -> &'static str {
        match self {
            SweepParameter::Count => "N (marked samples)",
            SweepParameter::PrivateSize => "private set size",
            SweepParameter::Epochs => "suspect training epochs",
        }
    }
}

/// Power curves: the same experiment at each value of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The parameter varied.
    pub parameter: SweepParameter,
    /// Its values, in the order they run (the summary sorts them).
    pub values: Vec<usize>,
    /// Independent protections (keys) per point: key j protects with seed
    /// `protect.seed + j` (other folds, proxies, candidates and R/W split)
    /// and trains the same suspects on its release, so each point's power
    /// averages over keys rather than resting on one split's luck.
    #[serde(default = "Sweep::one_key", skip_serializing_if = "Sweep::is_one_key")]
    pub keys: usize,
}

impl Sweep {
    fn one_key() -> usize {
        1
    }

    fn is_one_key(k: &usize) -> bool {
        *k == 1
    }
}

/// A suspect model that the evaluation does not train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalModel {
    /// Name in the results.
    pub name: String,
    /// TorchScript (.pt) or ONNX file, or a model folder.
    pub path: PathBuf,
    /// Architecture label in the results.
    pub arch: String,
    /// What it was trained on: `clean-disjoint` (default) or `original`.
    #[serde(default = "ExternalModel::default_role")]
    pub role: honeyimage_report::Role,
}

impl ExternalModel {
    fn default_role() -> honeyimage_report::Role {
        honeyimage_report::Role::CleanDisjoint
    }
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
            keys: 1,
            external_clean: Vec::new(),
            attacks: Vec::new(),
            attack_seeds: 1,
            sweep: None,
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

    /// Refuses a sweep where one evaluation is meant.
    pub fn single(&self) -> Result<()> {
        match &self.sweep {
            Some(s) => Err(Error::invalid(
                "sweep",
                format!("this configuration sweeps {} over {:?}: `honeyimage eval --config FILE --out RUN` runs one evaluation per value (eval::sweep)", s.parameter.as_str(), s.values),
            )),
            None => Ok(()),
        }
    }

    /// Checks the configuration before anything runs.
    pub fn validate(&self) -> Result<()> {
        self.protect.validate()?;
        self.suspect_train.validate()?;
        if self.archs.is_empty() || self.archs.iter().any(|a| a.seeds.is_empty()) {
            return Err(Error::invalid("archs", "need at least one architecture with at least one seed"));
        }
        for a in &self.attacks {
            a.validate()?;
        }
        let mut labels: Vec<String> = self.attacks.iter().map(Attack::label).collect();
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid("attacks", format!("{} is listed twice", w[0])));
        }
        if self.keys == 0 || self.keys > 1000 {
            return Err(Error::invalid("keys", format!("{} (must be in 1..=1000)", self.keys)));
        }
        if let Some(e) = self.external_clean.iter().find(|e| !(e.role.is_clean() || e.role == honeyimage_report::Role::Original)) {
            return Err(Error::invalid("external_clean", format!("{}: role {} is not a clean role", e.name, e.role)));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) || !(self.tau_fpr >= 0.0 && self.tau_fpr < 1.0) {
            return Err(Error::invalid("alpha / tau_fpr", format!("{} / {}", self.alpha, self.tau_fpr)));
        }
        Ok(())
    }
}


/// Settings of the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadNets {
    /// Fraction of samples poisoned.
    pub rate: f64,
    /// Target class.
    pub target: u32,
    /// Side of the square patch in pixels (bottom-right corner).
    pub patch: usize,
    /// Seed of the poisoned samples.
    pub seed: u64,
}

impl Default for BadNets {
    fn default() -> Self {
        BadNets { rate: 0.01, target: 0, patch: 4, seed: 0 }
    }
}

