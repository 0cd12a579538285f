//! The model card saved beside a model's weights (`config.json`, under
//! `"training"`): how the model was trained, on what data and why it
//! exists, so that every model folder the tool writes says where it came
//! from. Folders written before the card was typed still load: every field
//! is optional.
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;

/// Provenance of a saved model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCard {
    /// Why the model exists, e.g. "out-of-fold proxy" or "trained by `honeyimage train`".
    pub role: String,
    /// The training settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_config: Option<TrainConfig>,
    /// What training measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<TrainReport>,
    /// SHA-256 of the training data (shape, pixels, labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_fingerprint: Option<String>,
    /// The training data, as the user named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Its format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Its split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Size of the seeded subset trained on, when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Seed of that subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_seed: Option<u64>,
    /// Accuracy on the test split after training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Test images behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
    /// Proxy fold (protect's out-of-fold proxies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Version of the tool that wrote it.
    pub tool_version: String,
}

impl ModelCard {
    /// A card for `role`, stamped with this tool's version.
    pub fn new(role: impl Into<String>) -> Self {
        ModelCard { role: role.into(), tool_version: env!("CARGO_PKG_VERSION").into(), ..ModelCard::default() }
    }
}

/// What a training run measured (kept with the model card; the training
/// loop in `train` produces it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Settings used.
    pub config: TrainConfig,
    /// Samples trained on.
    pub train_samples: usize,
    /// Mean loss of the last epoch.
    pub final_loss: f64,
    /// Training accuracy of the last epoch (augmented, training mode).
    pub final_train_accuracy: f64,
    /// Wall time.
    pub seconds: f64,
    /// Images per second over the run.
    pub images_per_s: f64,
}
