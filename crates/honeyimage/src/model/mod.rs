//! Models as a user meets them: an architecture name plus the data's shape
//! builds a network; a trained model is a folder holding `model.safetensors`
//! and `config.json` (architecture, classes, input shape, normalisation and
//! the training settings), enough to reload and query it with no flags.
pub mod arch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use crate::tensors::TensorSet;
use crate::{Error, Result};

/// The architectures the tool can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Two conv blocks and two linear layers: fast, the default.
    SmallCnn,
    /// ResNet-18, CIFAR stem.
    Resnet18,
    /// Wide ResNet 28-2.
    Wrn28_2,
    /// VGG-11 with batch norm.
    Vgg11,
    /// DenseNet-121, CIFAR stem.
    Densenet121,
    /// A small Vision Transformer (patch 4, 4 blocks).
    Vit,
}

impl Arch {
    /// All architectures, in the order `--help` lists them.
    pub const ALL: [Arch; 6] = [Arch::SmallCnn, Arch::Resnet18, Arch::Wrn28_2, Arch::Vgg11, Arch::Densenet121, Arch::Vit];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::SmallCnn => "small-cnn",
            Arch::Resnet18 => "resnet18",
            Arch::Wrn28_2 => "wrn-28-2",
            Arch::Vgg11 => "vgg11",
            Arch::Densenet121 => "densenet121",
            Arch::Vit => "vit",
        }
    }

    /// The width parameter the paper's version uses.
    pub fn default_width(self) -> usize {
        match self {
            Arch::SmallCnn => 32,
            Arch::Resnet18 | Arch::Vgg11 => 64,
            Arch::Wrn28_2 => 2,
            Arch::Densenet121 => 32,
            Arch::Vit => 128,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        Arch::ALL.into_iter().find(|a| a.name() == norm || a.name().replace('-', "") == norm.replace('-', "")).ok_or_else(|| {
            Error::invalid("architecture", format!("{s:?}; expected one of {}", Arch::ALL.map(|a| a.name()).join(", ")))
        })
    }
}

/// Everything needed to rebuild a network: saved beside its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The architecture.
    pub arch: Arch,
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Class names; their count is the output size.
    pub class_names: Vec<String>,
    /// Per-channel mean subtracted from [0, 1] pixels.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation dividing them.
    pub std: Vec<f32>,
    /// Width parameter of the architecture (channels of the first stage,
    /// widen factor for WRN, growth for DenseNet, embedding for ViT).
    pub arch_width: usize,
}

impl ModelConfig {
    /// A configuration for data of the given shape, with the paper's width
    /// and normalisation statistics computed from `stats` (mean, std per channel).
    pub fn new(arch: Arch, channels: usize, height: usize, width: usize, class_names: Vec<String>, stats: (Vec<f32>, Vec<f32>)) -> Self {
        ModelConfig { arch, channels, height, width, class_names, mean: stats.0, std: stats.1, arch_width: arch.default_width() }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("model config", m));
        if self.channels == 0 || self.num_classes() < 2 {
            return bad(format!("{} channels, {} classes", self.channels, self.num_classes()));
        }
        if self.height < 8 || self.width < 8 || self.height > 1024 || self.width > 1024 {
            return bad(format!("input {}x{} outside 8..=1024", self.height, self.width));
        }
        if self.mean.len() != self.channels || self.std.len() != self.channels || self.std.iter().any(|&s| !(s > 0.0) || !s.is_finite()) {
            return bad(format!("mean/std {:?}/{:?} for {} channels", self.mean, self.std, self.channels));
        }
        if self.arch_width == 0 || self.arch_width > 4096 {
            return bad(format!("arch width {}", self.arch_width));
        }
        if self.arch == Arch::Vit && self.arch_width % 4 != 0 {
            return bad(format!("ViT width {} must be a multiple of 4 heads", self.arch_width));
        }
        Ok(())
    }
}

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
    net: Box<dyn ModuleT>,
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
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let p = &vs.root();
        let (c, h, w, k, wd) =
            (config.channels as i64, config.height as i64, config.width as i64, config.num_classes() as i64, config.arch_width as i64);
        let net: Box<dyn ModuleT> = match config.arch {
            Arch::SmallCnn => Box::new(arch::small_cnn(p, c, h, w, k, wd)),
            Arch::Resnet18 => Box::new(arch::resnet18(p, c, k, wd)),
            Arch::Wrn28_2 => Box::new(arch::wide_resnet(p, c, k, 28, wd)),
            Arch::Vgg11 => Box::new(arch::vgg11(p, c, h, k, wd)),
            Arch::Densenet121 => Box::new(arch::densenet121(p, c, h, k, wd)),
            Arch::Vit => Box::new(arch::vit(p, c, h, w, k, wd)),
        };
        let mean = Tensor::from_slice(&config.mean).view([1, c, 1, 1]).to_device(device);
        let std = Tensor::from_slice(&config.std).view([1, c, 1, 1]).to_device(device);
        Ok(Model { config, vs, net, mean, std })
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
        self.net.forward_t(&((x - &self.mean) / &self.std), train)
    }

    /// Logits in evaluation mode without gradients, in batches.
    pub fn logits(&self, images: &Tensor, batch: usize) -> Tensor {
        let _guard = tch::no_grad_guard();
        let n = images.size()[0];
        let mut outs = Vec::new();
        let mut start = 0;
        while start < n {
            let len = (batch as i64).min(n - start);
            outs.push(self.forward_t(&images.narrow(0, start, len).to_device(self.device()), false));
            start += len;
        }
        if outs.is_empty() {
            return Tensor::zeros([0, self.config.num_classes() as i64], (Kind::Float, self.device()));
        }
        Tensor::cat(&outs, 0)
    }

    /// Class probabilities `[n, k]`.
    pub fn probabilities(&self, images: &Tensor, batch: usize) -> Tensor {
        self.logits(images, batch).softmax(-1, Kind::Float)
    }

    /// Per-sample cross-entropy losses `[n]` in evaluation mode.
    pub fn losses(&self, set: &TensorSet, batch: usize) -> Tensor {
        let logits = self.logits(&set.images, batch);
        logits.cross_entropy_loss::<Tensor>(&set.labels.to_device(logits.device()), None, tch::Reduction::None, -100, 0.0)
    }

    /// Top-1 accuracy on a set.
    pub fn accuracy(&self, set: &TensorSet, batch: usize) -> f64 {
        if set.is_empty() {
            return f64::NAN;
        }
        let logits = self.logits(&set.images, batch);
        logits.accuracy_for_logits(&set.labels.to_device(logits.device())).double_value(&[])
    }

    /// Saves the model as a folder (`model.safetensors`, `config.json` with
    /// `info` under `"training"`). Atomic: written to a temp folder, renamed.
    pub fn save(&self, dir: &Path, info: &serde_json::Value) -> Result<()> {
        let tmp = tmp_sibling(dir);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        self.vs.save(tmp.join("model.safetensors"))?;
        let doc = serde_json::json!({ "format": "honeyimage-model", "version": 1, "model": self.config, "training": info });
        let text = serde_json::to_string_pretty(&doc).expect("config serialises");
        std::fs::write(tmp.join("config.json"), text).map_err(|e| Error::io(tmp.join("config.json"), e))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        Ok(())
    }

    /// Loads a folder written by [`Model::save`].
    pub fn load(dir: &Path, device: Device) -> Result<(Model, serde_json::Value)> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let json_err = |m: String| Error::Json { path: cfg_path.display().to_string(), message: m };
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| json_err(e.to_string()))?;
        if doc.get("format").and_then(|f| f.as_str()) != Some("honeyimage-model") {
            return Err(json_err("not a honeyimage model config (missing \"format\": \"honeyimage-model\")".into()));
        }
        let config: ModelConfig =
            serde_json::from_value(doc.get("model").cloned().unwrap_or_default()).map_err(|e| json_err(format!("model: {e}")))?;
        let mut model = Model::new(config, device, 0)?;
        let weights = dir.join("model.safetensors");
        model.vs.load(&weights).map_err(|e| Error::Model { source_name: weights.display().to_string(), message: e.to_string() })?;
        Ok((model, doc.get("training").cloned().unwrap_or_default()))
    }

    /// Copies the weights of another model of the same configuration.
    pub fn copy_from(&mut self, other: &Model) -> Result<()> {
        self.vs.copy(&other.vs)?;
        Ok(())
    }
}

/// `dir` with `.tmp-<pid>` appended, in the same parent so rename is atomic.
pub fn tmp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}
