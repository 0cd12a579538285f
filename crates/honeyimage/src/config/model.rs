//! What a network is: an architecture name and the data's shape. Kept apart
//! from the libtorch code that builds it, so keys, configs and model cards
//! can name architectures without depending on the models.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

    /// Checks shape, classes, normalisation and width before a network is built.
    pub fn validate(&self) -> Result<()> {
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

