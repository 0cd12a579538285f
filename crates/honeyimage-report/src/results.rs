//! What an evaluation run measured, as plain data: written to
//! `results.json` / `results.csv` by the method crate and rendered by
//! [`crate::report`]. The field names and their serde forms are those of
//! earlier `results.json` files, which therefore still read.
use honeyimage_stats::RocPoint;
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::domain::{Method, Role};

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
pub(crate) fn nan_or_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A pair such as a confidence interval, with `null` halves read back as NaN.
pub(crate) fn nan_or_f64_pair<'de, D: Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
    let (lo, hi) = <(Option<f64>, Option<f64>)>::deserialize(d)?;
    Ok((lo.unwrap_or(f64::NAN), hi.unwrap_or(f64::NAN)))
}

/// A ROC curve. Its first point has threshold +inf, which JSON writes as
/// `null`: read a `null` threshold back as +inf (the only non-finite
/// threshold a curve has) and `null` rates as NaN.
fn roc_points<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RocPoint>, D::Error> {
    #[derive(Deserialize)]
    struct Stored {
        threshold: Option<f64>,
        fpr: Option<f64>,
        tpr: Option<f64>,
    }
    let stored = Vec::<Stored>::deserialize(d)?;
    let point = |p: Stored| RocPoint {
        threshold: p.threshold.unwrap_or(f64::INFINITY),
        fpr: p.fpr.unwrap_or(f64::NAN),
        tpr: p.tpr.unwrap_or(f64::NAN),
    };
    Ok(stored.into_iter().map(point).collect())
}

/// Verification at one point of a suspect's training (training-length curve).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochPoint {
    /// Epochs trained so far.
    pub epoch: usize,
    /// Decision p-value of the exact test.
    #[serde(deserialize_with = "nan_or_f64")]
    pub p_value: f64,
    /// The paper's score (mean proxy loss minus suspect loss over R).
    #[serde(deserialize_with = "nan_or_f64")]
    pub tau_score: f64,
    /// Training accuracy of that epoch (training mode, augmented batches).
    #[serde(deserialize_with = "nan_or_f64")]
    pub train_accuracy: f64,
}

/// One suspect model and its verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuspectResult {
    /// Unique name, e.g. `honeyimage/infringing/resnet18/s1`.
    pub name: String,
    /// Which of the run's keys judged it (0: the main key, whose release
    /// the infringing suspects trained on; 1..K: further keys that judge
    /// the clean suspects, for the false-positive rate over keys).
    #[serde(default)]
    pub key: usize,
    /// Method whose release or key it is judged with.
    pub method: Method,
    /// What it was trained on (`original`: the private data, for harmlessness).
    pub role: Role,
    /// Architecture name.
    pub arch: String,
    /// Training seed.
    pub seed: u64,
    /// Training epochs.
    pub epochs: usize,
    /// Final training accuracy.
    #[serde(deserialize_with = "nan_or_f64")]
    pub train_accuracy: f64,
    /// Clean test accuracy.
    #[serde(deserialize_with = "nan_or_f64")]
    pub test_accuracy: f64,
    /// Decision p-value (exact test; paired t-test for badnets).
    #[serde(deserialize_with = "nan_or_f64")]
    pub p_value: f64,
    /// -log10(p): the exact test's score for ROC curves.
    #[serde(deserialize_with = "nan_or_f64")]
    pub statistic: f64,
    /// The paper's score (NaN for badnets).
    #[serde(deserialize_with = "nan_or_f64")]
    pub tau_score: f64,
    /// mean(loss W) - mean(loss R) (badnets: mean target-probability lift).
    #[serde(deserialize_with = "nan_or_f64")]
    pub effect_size: f64,
    /// Label-only p-value (Fisher; NaN for badnets).
    #[serde(deserialize_with = "nan_or_f64")]
    pub label_only_p: f64,
    /// Verdict at the run's alpha.
    pub verdict: bool,
    /// Verification along training.
    pub curve: Vec<EpochPoint>,
    /// The robustness attack it went through (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attack: String,
    /// What a cleaning attack removed from its training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    /// p-value of the calibrated exact test (`verify --calibrate`: each
    /// image's loss minus the key's proxy loss) on the same answers; None
    /// where it does not apply (label-only answers, the watermark baseline)
    /// or in results judged before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated_p: Option<f64>,
}

/// What a cleaning attack removed: of all training samples, and of the
/// method's marked samples (R) among them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    /// Fraction of all training samples removed.
    pub all: f64,
    /// Fraction of the marked samples removed (NaN: no marked samples).
    #[serde(deserialize_with = "nan_or_f64")]
    pub marked: f64,
}

impl SuspectResult {
    /// A suspect before any judgement: no seed, epochs or accuracies,
    /// every measurement NaN, no verdict (fill in what is known with
    /// struct-update syntax).
    pub fn unjudged(name: String, method: Method, role: Role, arch: String) -> Self {
        SuspectResult {
            name,
            key: 0,
            method,
            role,
            arch,
            seed: 0,
            epochs: 0,
            train_accuracy: f64::NAN,
            test_accuracy: f64::NAN,
            p_value: f64::NAN,
            statistic: f64::NAN,
            tau_score: f64::NAN,
            effect_size: f64::NAN,
            label_only_p: f64::NAN,
            verdict: false,
            curve: Vec::new(),
            attack: String::new(),
            removed: None,
            calibrated_p: None,
        }
    }
}

impl SuspectResult {
    /// Whether the run's main key judged it. Rows of further keys only feed
    /// the false-positive rate over keys ([`KeyPopulation`]); counted with
    /// the main key's, they would count a clean model once per key.
    pub fn is_main_key(&self) -> bool {
        self.key == 0
    }
}

/// Detection quality of one method over its suspect population.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodSummary {
    /// The calibrated exact test on the same suspects, beside the raw one
    /// (None: no suspect was judged by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<CalibratedSummary>,
    /// The method summarised.
    pub method: Method,
    /// Infringing suspects.
    pub n_infringing: usize,
    /// Clean suspects.
    pub n_clean: usize,
    /// AUROC of the exact test's statistic.
    #[serde(deserialize_with = "nan_or_f64")]
    pub auroc: f64,
    /// 95% bootstrap interval of that AUROC (NaN when there was nothing to resample).
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub auroc_ci: (f64, f64),
    /// TPR at the decision rule p < alpha.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr: f64,
    /// TNR at the decision rule.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tnr: f64,
    /// TPR at 1% FPR (None when there are too few clean suspects).
    pub tpr_at_1pct_fpr: Option<f64>,
    /// TPR at 0.1% FPR.
    pub tpr_at_01pct_fpr: Option<f64>,
    /// ROC curve of the exact test's statistic.
    #[serde(deserialize_with = "roc_points")]
    pub roc: Vec<RocPoint>,
    /// AUROC of the paper's tau score (None for badnets).
    pub tau_auroc: Option<f64>,
    /// Tau calibrated on the clean suspects at the run's FPR target.
    pub tau: Option<f64>,
    /// TPR of score > tau.
    pub tau_tpr: Option<f64>,
    /// TNR of score > tau, leave-one-out: each clean model judged by a tau
    /// calibrated on the other clean models only.
    pub tau_tnr: Option<f64>,
    /// ROC curve of the tau score.
    #[serde(deserialize_with = "roc_points")]
    pub tau_roc: Vec<RocPoint>,
    /// Mean clean test accuracy of infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub infringing_test_accuracy: f64,
    /// Mean accuracy drop (points) against the same arch and seed trained on the original data.
    pub accuracy_drop_points: Option<f64>,
    /// 95% t interval of the mean drop over the pairs (two or more pairs).
    #[serde(default)]
    pub accuracy_drop_ci95: Option<(f64, f64)>,
    /// Number of (infringing, original) pairs behind the drop.
    #[serde(default)]
    pub accuracy_drop_pairs: usize,
}

/// Stealthiness of the released HoneyImages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stealth {
    /// Mean SSIM to the original (STL with SSIM).
    #[serde(deserialize_with = "nan_or_f64")]
    pub ssim_mean: f64,
    /// Minimum SSIM.
    #[serde(deserialize_with = "nan_or_f64")]
    pub ssim_min: f64,
    /// Mean PSNR in dB.
    #[serde(deserialize_with = "nan_or_f64")]
    pub psnr_mean: f64,
    /// Largest pixel change.
    pub linf_max: u8,
    /// 1 - LPIPS(AlexNet) when weights were given.
    pub lpips_stl: Option<f64>,
}

/// One example for the report grid.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    /// Class name.
    pub class_name: String,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Original pixels, HWC u8.
    pub original: Vec<u8>,
    /// HoneyImage pixels, HWC u8.
    pub honey: Vec<u8>,
}

/// AUROC and median p over suspects at one training length.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Epochs.
    pub epoch: usize,
    /// AUROC of infringing vs clean HoneyImage suspects at that length.
    #[serde(deserialize_with = "nan_or_f64")]
    pub auroc: f64,
    /// Median p-value of infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub median_p_infringing: f64,
    /// Median p-value of clean suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub median_p_clean: f64,
    /// Mean training accuracy of infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub mean_train_accuracy: f64,
}

/// One method's verification power against training length.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodCurve {
    /// The method whose key judged.
    pub method: Method,
    /// Its points, by epoch.
    pub points: Vec<CurvePoint>,
}

/// Everything a run measured.
///
/// `config` and `versions` are kept as JSON values: the configuration type
/// (`EvalConfig`) belongs to the method crate, which this crate must not
/// depend on, and the report only lists their scalar fields and prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResults {
    /// The experiment configuration, as run (the method crate's `EvalConfig`, serialised).
    pub config: serde_json::Value,
    /// Tool and library versions (name to version string).
    pub versions: serde_json::Value,
    /// Significance level used for verdicts.
    #[serde(deserialize_with = "nan_or_f64")]
    pub alpha: f64,
    /// Every suspect.
    pub suspects: Vec<SuspectResult>,
    /// One summary per method (HoneyImage first).
    pub methods: Vec<MethodSummary>,
    /// Stealthiness of the HoneyImages.
    pub stealth: Stealth,
    /// Verification power against training length (HoneyImage).
    pub curve: Vec<CurvePoint>,
    /// The same for every method with a key (HoneyImage first, its points
    /// those of `curve`), so the baselines' power can be read against
    /// training length too. Empty in runs made before it existed.
    #[serde(default)]
    pub method_curves: Vec<MethodCurve>,
    /// Example pairs, one or two per class.
    pub examples: Vec<Example>,
    /// Wall time of the run, seconds (including cached work).
    #[serde(deserialize_with = "nan_or_f64")]
    pub wall_seconds: f64,
    /// Clean p-values over every (key, clean model) pair of HoneyImage.
    #[serde(default)]
    pub key_population: Option<KeyPopulation>,
    /// One row per (attack, method): how verification fares against it.
    #[serde(default)]
    pub robustness: Vec<AttackSummary>,
}

/// The calibrated exact test (`verify --calibrate`) of a set of suspects,
/// judged on the same answers as the raw test beside it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibratedSummary {
    /// Infringing suspects it judged.
    pub infringing: usize,
    /// Share of them with p < alpha (NaN: none judged).
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr: f64,
    /// Their median p (NaN: none judged).
    #[serde(deserialize_with = "nan_or_f64")]
    pub median_p: f64,
    /// Clean suspects it judged.
    pub clean: usize,
    /// Clean suspects with p < alpha.
    pub clean_flagged: usize,
}

impl CalibratedSummary {
    /// Share of the clean suspects not flagged (NaN: none judged).
    pub fn tnr(&self) -> f64 {
        if self.clean == 0 { f64::NAN } else { 1.0 - self.clean_flagged as f64 / self.clean as f64 }
    }
}

/// How one method's verification fares against one attack: infringing
/// suspects that went through it, against clean suspects given the same
/// treatment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSummary {
    /// The calibrated exact test on the same suspects (None: not judged by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<CalibratedSummary>,
    /// The attack's label with its strength (e.g. `jpeg-q75`).
    pub attack: String,
    /// Its family: data, training, cleaning, model or query.
    pub family: String,
    /// The method judged.
    pub method: Method,
    /// Whether the attacked API answers with labels only (the label-only test decided).
    pub label_only: bool,
    /// Infringing suspects.
    pub infringing: usize,
    /// True-positive rate at alpha = 0.001.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr_001: f64,
    /// True-positive rate at alpha = 0.01.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr_01: f64,
    /// Median p-value of the infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub median_p: f64,
    /// AUROC of -log10 p, infringing against the attacked clean suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub auroc: f64,
    /// Attacked clean suspects.
    pub clean: usize,
    /// Of them, flagged at the run's alpha.
    pub clean_flagged: usize,
    /// Mean test accuracy of the attacked infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub test_accuracy: f64,
    /// Mean test accuracy of the same suspects (architecture, seed) unattacked.
    #[serde(deserialize_with = "nan_or_f64")]
    pub base_test_accuracy: f64,
    /// Mean fraction of the marked samples a cleaning attack removed, and of all samples.
    #[serde(default)]
    pub removed: Option<Removed>,
}

impl EvalResults {
    /// The suspects judged by the main key (see [`SuspectResult::is_main_key`]):
    /// those the report's tables, counts and histograms are about.
    /// Attacked suspects are left out too: they belong to the robustness section.
    pub fn main_key_suspects(&self) -> impl Iterator<Item = &SuspectResult> + '_ {
        self.suspects.iter().filter(|s| s.is_main_key() && s.attack.is_empty())
    }
}

/// The false-positive rate at one significance level over all (key, clean
/// model) pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FprAt {
    /// Significance level.
    #[serde(deserialize_with = "nan_or_f64")]
    pub alpha: f64,
    /// Pairs with p < alpha.
    pub flagged: usize,
    /// flagged / pairs.
    #[serde(deserialize_with = "nan_or_f64")]
    pub rate: f64,
    /// 95% Clopper-Pearson interval of the rate (pairs treated as independent).
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub ci95: (f64, f64),
    /// 95% bootstrap interval resampling keys (pairs of one key are correlated).
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub key_bootstrap_ci95: (f64, f64),
}

/// Clean models judged with many independent keys: is the verdict's
/// false-positive rate what its p-values promise?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPopulation {
    /// Keys (independent protections of the same private data).
    pub keys: usize,
    /// Clean models (each judged by every key).
    pub clean_models: usize,
    /// (key, clean model) pairs.
    pub pairs: usize,
    /// Kolmogorov-Smirnov distance of the clean p-values from U(0, 1).
    #[serde(deserialize_with = "nan_or_f64")]
    pub ks_d: f64,
    /// Its p-value (small: the p-values are not uniform).
    #[serde(deserialize_with = "nan_or_f64")]
    pub ks_p: f64,
    /// False-positive rates at 0.05, 0.01 and 0.001.
    pub fpr: Vec<FprAt>,
    /// Every clean p-value, sorted (for the QQ plot).
    pub clean_p_values: Vec<f64>,
    /// Tests at the level of keys (absent in runs before they existed).
    #[serde(default)]
    pub key_level: Option<KeyLevel>,
}

/// Uniformity tested with one p-value per key. Pairs that share a key are
/// correlated (every clean model sees the same R/W draw), so a KS test over
/// all pairs rejects too often even when each pair's p-value is uniform;
/// pairing key j with one clean model keeps the p-values independent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyLevel {
    /// p-values used: key j with clean model j mod M (models sorted by name).
    pub n: usize,
    /// Whether a clean model served more than one key (keys > models):
    /// its p-values are then independent only given the model.
    pub models_reused: bool,
    /// Kolmogorov-Smirnov distance of those p-values from U(0, 1).
    #[serde(deserialize_with = "nan_or_f64")]
    pub ks_d: f64,
    /// Its p-value.
    #[serde(deserialize_with = "nan_or_f64")]
    pub ks_p: f64,
    /// Share of the variance of the clean p-values that lies between keys
    /// (one-way random-effects estimate, clipped to [0, 1]).
    #[serde(deserialize_with = "nan_or_f64")]
    pub between_key_share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A suspect row as an earlier run wrote it (strings for method and role,
    /// `null` for NaN).
    const OLD_SUSPECT: &str = r#"{
        "name": "badnets/clean-disjoint/resnet18/s1", "method": "badnets", "role": "clean-disjoint",
        "arch": "resnet18", "seed": 1, "epochs": 30, "train_accuracy": 0.99, "test_accuracy": 0.9,
        "p_value": 0.5, "statistic": 0.301, "tau_score": null, "effect_size": 0.01,
        "label_only_p": null, "verdict": false,
        "curve": [{"epoch": 10, "p_value": 0.4, "tau_score": null, "train_accuracy": 0.8}]
    }"#;

    #[test]
    fn old_suspect_rows_read_with_typed_method_and_nan() {
        let s: SuspectResult = serde_json::from_str(OLD_SUSPECT).unwrap();
        assert_eq!((s.method, s.role), (Method::BadNets, Role::CleanDisjoint));
        assert!(s.tau_score.is_nan() && s.label_only_p.is_nan() && s.curve[0].tau_score.is_nan());
        assert_eq!(s.p_value, 0.5);
        assert_eq!(s.key, 0, "a row without a key was judged by the main key");
        assert!(s.is_main_key());
        // Written back, method and role keep their old strings and NaN is null.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["method"], "badnets");
        assert_eq!(v["role"], "clean-disjoint");
        assert!(v["tau_score"].is_null());
    }

    #[test]
    fn a_summary_without_suspects_reads_back() {
        // What `evaluate` writes for a method with no infringing or no clean
        // suspect: NaN AUROC and interval, written as null.
        let m = MethodSummary {
            method: Method::HardUnperturbed,
            calibrated: None,
            n_infringing: 0,
            n_clean: 3,
            auroc: f64::NAN,
            auroc_ci: (f64::NAN, f64::NAN),
            tpr: 0.0,
            tnr: 1.0,
            tpr_at_1pct_fpr: None,
            tpr_at_01pct_fpr: None,
            roc: honeyimage_stats::roc_curve(&[2.0], &[1.0]).unwrap(),
            tau_auroc: None,
            tau: None,
            tau_tpr: None,
            tau_tnr: None,
            tau_roc: vec![],
            infringing_test_accuracy: f64::NAN,
            accuracy_drop_points: None,
            accuracy_drop_ci95: None,
            accuracy_drop_pairs: 0,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"auroc_ci\":[null,null]"), "{json}");
        let back: MethodSummary = serde_json::from_str(&json).unwrap();
        assert!(back.auroc.is_nan() && back.auroc_ci.0.is_nan() && back.auroc_ci.1.is_nan());
        assert_eq!(back.method, Method::HardUnperturbed);
        // The ROC curve's first threshold is +inf, written as null.
        assert_eq!(m.roc[0].threshold, f64::INFINITY);
        assert_eq!(back.roc, m.roc);
    }

    #[test]
    fn an_unknown_method_in_a_file_is_an_error_naming_it() {
        let bad = OLD_SUSPECT.replace("\"method\": \"badnets\"", "\"method\": \"watermark\"");
        let err = serde_json::from_str::<SuspectResult>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("watermark"), "{err}");
    }

    #[test]
    fn an_old_results_file_reads_without_keys() {
        // results.json as written before keys were recorded: no `key` in the
        // rows, no `key_population`.
        let old = format!(
            r#"{{"config": {{"data": "mnist"}}, "versions": {{}}, "alpha": 0.01,
                "suspects": [{OLD_SUSPECT}], "methods": [],
                "stealth": {{"ssim_mean": 0.99, "ssim_min": 0.98, "psnr_mean": 40.0,
                             "linf_max": 4, "lpips_stl": null}},
                "curve": [], "examples": [], "wall_seconds": 1.5}}"#
        );
        let r: EvalResults = serde_json::from_str(&old).unwrap();
        assert!(r.key_population.is_none());
        assert_eq!(r.suspects[0].key, 0);
        assert_eq!(r.main_key_suspects().count(), 1);
    }

    #[test]
    fn a_key_population_with_nan_reads_back() {
        // One key: nothing to resample, so the bootstrap interval is NaN.
        let kp = KeyPopulation {
            keys: 1,
            clean_models: 3,
            pairs: 3,
            ks_d: 0.2,
            ks_p: f64::NAN,
            fpr: vec![FprAt {
                alpha: 0.05,
                flagged: 0,
                rate: 0.0,
                ci95: (0.0, 0.708),
                key_bootstrap_ci95: (f64::NAN, f64::NAN),
            }],
            clean_p_values: vec![0.2, 0.5, 0.9],
            key_level: None,
        };
        let json = serde_json::to_string(&kp).unwrap();
        assert!(
            json.contains("\"key_bootstrap_ci95\":[null,null]"),
            "{json}"
        );
        let back: KeyPopulation = serde_json::from_str(&json).unwrap();
        assert!(back.ks_p.is_nan() && back.fpr[0].key_bootstrap_ci95.0.is_nan());
        assert_eq!((back.keys, back.pairs, back.ks_d), (1, 3, 0.2));
        assert_eq!(back.fpr[0].ci95, (0.0, 0.708));
        assert_eq!(back.clean_p_values, kp.clean_p_values);
    }
}
