//! What an evaluation run measured, as plain data: written to
//! `results.json` / `results.csv` and rendered by `report.rs`.
use serde::{Deserialize, Deserializer, Serialize};

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn nan_or_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
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
    /// Method whose release or key it is judged with: `honeyimage`, `random-pgd`, `hard-unperturbed`, `badnets`.
    pub method: String,
    /// `infringing`, `clean-disjoint`, `clean-minus-honey` or `original` (trained on the private data, for harmlessness).
    pub role: String,
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
}

/// Detection quality of one method over its suspect population.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodSummary {
    /// Method name.
    pub method: String,
    /// Infringing suspects.
    pub n_infringing: usize,
    /// Clean suspects.
    pub n_clean: usize,
    /// AUROC of the exact test's statistic.
    #[serde(deserialize_with = "nan_or_f64")]
    pub auroc: f64,
    /// 95% bootstrap interval of that AUROC.
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
    pub roc: Vec<honeyimage_stats::RocPoint>,
    /// AUROC of the paper's tau score (None for badnets).
    pub tau_auroc: Option<f64>,
    /// Tau calibrated on the clean suspects at the run's FPR target.
    pub tau: Option<f64>,
    /// TPR of score > tau.
    pub tau_tpr: Option<f64>,
    /// TNR of score > tau (optimistic: calibrated on the same clean models).
    pub tau_tnr: Option<f64>,
    /// ROC curve of the tau score.
    pub tau_roc: Vec<honeyimage_stats::RocPoint>,
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

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResults {
    /// The experiment configuration, as run.
    pub config: serde_json::Value,
    /// Tool and library versions.
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
    /// Example pairs, one or two per class.
    pub examples: Vec<Example>,
    /// Wall time of the run, seconds (including cached work).
    #[serde(deserialize_with = "nan_or_f64")]
    pub wall_seconds: f64,
}
