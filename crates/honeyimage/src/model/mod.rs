//! Models as a user meets them: an architecture name plus the data's shape
//! builds a network; a trained model is a folder holding `model.safetensors`
//! and `config.json` (architecture, classes, input shape, normalisation and
//! the training settings), enough to reload and query it with no flags.
pub mod arch;
mod card;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

pub use crate::config::{Arch, ModelConfig, Precision};
pub use card::{ModelCard, TrainReport};
use crate::fsio::tmp_sibling;
use crate::tensors::TensorSet;
use crate::{Error, Result};

/// Per-channel mean and standard deviation of a u8 NHWC dataset, in [0, 1] units.
pub fn channel_stats(ds: &honeyimage_data::Dataset) -> (Vec<f32>, Vec<f32>) {
    let c = ds.channels.max(1);
    let mut sum = vec![0f64; c];
    let mut sq = vec![0f64; c];
    for (i, &p) in ds.images.iter().enumerate() {
        let v = p as f64 / 255.0;
        sum[i % c] += v;
        sq[i % c] += v * v;
    }
    let n = (ds.images.len() / c).max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sq.iter().zip(&mean).map(|(q, &m)| ((q / n - (m as f64).powi(2)).max(1e-6).sqrt()) as f32).collect();
    (mean, std)
}

/// A network with its weights and configuration.
pub struct Model {
    /// How to rebuild it.
    pub config: ModelConfig,
    vs: nn::VarStore,
    /// Normalised images to penultimate features.
    body: Box<dyn ModuleT>,
    /// Features to logits.
    head: nn::Linear,
    mean: Tensor,
    std: Tensor,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Model {
    /// A freshly initialised network; `seed` fixes the initial weights.
    pub fn new(config: ModelConfig, device: Device, seed: u64) -> Result<Model> {
        config.validate()?;
        let vs = nn::VarStore::new(device);
        let p = &vs.root();
        let (c, h, w, k, wd) =
            (config.channels as i64, config.height as i64, config.width as i64, config.num_classes() as i64, config.arch_width as i64);
        let (body, head) = crate::seeded(seed, || match config.arch {
            Arch::SmallCnn => boxed(arch::small_cnn(p, c, h, w, k, wd)),
            Arch::Resnet18 => boxed(arch::resnet18(p, c, k, wd)),
            Arch::Wrn28_2 => boxed(arch::wide_resnet(p, c, k, 28, wd)),
            Arch::Vgg11 => boxed(arch::vgg11(p, c, h, k, wd)),
            Arch::Densenet121 => boxed(arch::densenet121(p, c, h, k, wd)),
            Arch::Vit => boxed(arch::vit(p, c, h, w, k, wd)),
        });
        let mean = Tensor::from_slice(&config.mean).view([1, c, 1, 1]).to_device(device);
        let std = Tensor::from_slice(&config.std).view([1, c, 1, 1]).to_device(device);
        Ok(Model { config, vs, body, head, mean, std })
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The weights.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Number of trainable parameters.
    pub fn num_parameters(&self) -> usize {
        self.vs.trainable_variables().iter().map(|t| t.numel()).sum()
    }

    /// Logits `[n, k]` for images `[n, c, h, w]` in [0, 1]; normalisation
    /// happens here so that gradients w.r.t. pixels are in pixel space.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.features_t(x, train).apply(&self.head)
    }

    /// [`Model::forward_t`] in `precision`: for bf16, its convolutions and
    /// matrix products run in bfloat16 (see [`crate::precision`]); the
    /// logits come back as fp32 either way. For training and input
    /// gradients; reported numbers use the fp32 [`Model::logits`].
    pub fn forward_at(&self, x: &Tensor, train: bool, precision: Precision) -> Tensor {
        crate::precision::to_fp32(crate::precision::run(precision, self.device(), || self.forward_t(x, train)))
    }

    /// Penultimate features `[n, d]` (what the linear head reads) of images
    /// `[n, c, h, w]` in [0, 1].
    pub fn features_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.body.forward_t(&((x - &self.mean) / &self.std), train)
    }

    /// Logits of penultimate features: the linear head alone.
    pub fn classify(&self, features: &Tensor) -> Tensor {
        features.apply(&self.head)
    }

    /// Logits in evaluation mode without gradients, in batches.
    pub fn logits(&self, images: &Tensor, batch: usize) -> Tensor {
        self.batched(images, batch, self.config.num_classes() as i64, |x| self.forward_t(x, false))
    }

    /// Penultimate features in evaluation mode without gradients, in batches.
    pub fn features(&self, images: &Tensor, batch: usize) -> Tensor {
        self.batched(images, batch, self.head.ws.size()[1], |x| self.features_t(x, false))
    }

    /// `f` over `images` in batches on the model's device, without
    /// gradients; `[0, width]` for no images.
    fn batched(&self, images: &Tensor, batch: usize, width: i64, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        let n = images.size()[0];
        let mut outs = Vec::new();
        let mut start = 0;
        while start < n {
            let len = (batch as i64).min(n - start);
            outs.push(f(&images.narrow(0, start, len).to_device(self.device())));
            start += len;
        }
        if outs.is_empty() {
            return Tensor::zeros([0, width], (Kind::Float, self.device()));
        }
        Tensor::cat(&outs, 0)
    }

    /// Class probabilities `[n, k]`.
    pub fn probabilities(&self, images: &Tensor, batch: usize) -> Tensor {
        self.logits(images, batch).softmax(-1, Kind::Float)
    }

    /// Per-sample cross-entropy losses `[n]` in evaluation mode.
    pub fn losses(&self, set: &TensorSet, batch: usize) -> Tensor {
        losses_of(&self.logits(&set.images, batch), &set.labels)
    }

    /// Top-1 accuracy on a set.
    pub fn accuracy(&self, set: &TensorSet, batch: usize) -> f64 {
        if set.is_empty() {
            return f64::NAN;
        }
        accuracy_of(&self.logits(&set.images, batch), &set.labels)
    }

    /// Saves the model as a folder: `model.safetensors` and `config.json`
    /// (the architecture, and the card under `"training"`). Written to a
    /// temp folder first and renamed into place; an existing folder is moved
    /// aside and removed only once the new one stands, so a crash never
    /// leaves a half-written model at `dir` and never loses the old one.
    pub fn save(&self, dir: &Path, card: &ModelCard) -> Result<()> {
        let tmp = tmp_sibling(dir);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        self.vs.save(tmp.join("model.safetensors"))?;
        let doc = ModelFile { format: MODEL_FORMAT.into(), version: 1, model: self.config.clone(), training: card.clone() };
        let text = serde_json::to_string_pretty(&doc).expect("config serialises");
        honeyimage_data::write_atomic(&tmp.join("config.json"), text.as_bytes())?;
        replace_dir(&tmp, dir)
    }

    /// Loads a folder written by [`Model::save`], with its card.
    pub fn load(dir: &Path, device: Device) -> Result<(Model, ModelCard)> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let json_err = |m: String| Error::Json { path: cfg_path.display().to_string(), message: m };
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| json_err(e.to_string()))?;
        if doc.get("format").and_then(|f| f.as_str()) != Some(MODEL_FORMAT) {
            return Err(json_err("not a honeyimage model config (missing \"format\": \"honeyimage-model\")".into()));
        }
        let file: ModelFile = serde_json::from_value(doc).map_err(|e| json_err(e.to_string()))?;
        let mut model = Model::new(file.model, device, 0)?;
        let weights = dir.join("model.safetensors");
        model.vs.load(&weights).map_err(|e| Error::Model { source_name: weights.display().to_string(), message: e.to_string() })?;
        Ok((model, file.training))
    }

    /// Copies the weights of another model of the same configuration.
    pub fn copy_from(&mut self, other: &Model) -> Result<()> {
        self.vs.copy(&other.vs)?;
        Ok(())
    }
}

/// An architecture's body, boxed, and its head.
fn boxed<M: ModuleT + 'static>((body, head): (M, nn::Linear)) -> (Box<dyn ModuleT>, nn::Linear) {
    (Box::new(body), head)
}

/// Tag of a model folder's `config.json`.
const MODEL_FORMAT: &str = "honeyimage-model";

/// `config.json` of a model folder.
#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    model: ModelConfig,
    #[serde(default)]
    training: ModelCard,
}

/// Puts the finished folder `tmp` at `dir`: an existing `dir` is renamed
/// aside first and deleted after the new one is in place.
fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    let mut old = None;
    if dir.exists() {
        let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".old-{}", std::process::id()));
        let aside = dir.with_file_name(name);
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
        old = Some(aside);
    }
    std::fs::rename(tmp, dir).map_err(|e| Error::io(dir, e))?;
    if let Some(aside) = old {
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    }
    Ok(())
}

/// Per-sample cross-entropy `[n]` of computed logits (what
/// [`Model::losses`] returns), for callers that need several statistics
/// from one inference pass.
pub fn losses_of(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(&labels.to_device(logits.device()), None, tch::Reduction::None, -100, 0.0)
}

/// Top-1 accuracy of computed logits (what [`Model::accuracy`] returns for a
/// non-empty set).
pub fn accuracy_of(logits: &Tensor, labels: &Tensor) -> f64 {
    logits.accuracy_for_logits(&labels.to_device(logits.device())).double_value(&[])
}
