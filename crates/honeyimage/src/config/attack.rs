//! The infringer's playbook as settings: every attack an evaluation can put
//! a suspect through, with its strength, read from `[[attacks]]` tables of
//! an `EXP.toml`. What each does is in `eval::attacks`; here is only what
//! it is called, which family it belongs to and which strengths make sense.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where in the infringer's pipeline an attack acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackFamily {
    /// The training images are transformed before training.
    Data,
    /// The training recipe changes (augmentation, regularisation).
    Training,
    /// Suspicious samples are removed before training.
    Cleaning,
    /// The trained model is changed or replaced (pruning, distillation...).
    Model,
    /// The API in front of the model changes what the owner sees.
    Query,
}

impl AttackFamily {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackFamily::Data => "data",
            AttackFamily::Training => "training",
            AttackFamily::Cleaning => "cleaning",
            AttackFamily::Model => "model",
            AttackFamily::Query => "query",
        }
    }
}

/// One attack and its strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Attack {
    /// Every training image re-encoded as JPEG (Image Shortcut Squeezing).
    Jpeg {
        /// JPEG quality, 1..=100.
        quality: u8,
    },
    /// Pixels reduced to `bits` bits per channel.
    BitDepth {
        /// Bits kept, 1..=7.
        bits: u8,
    },
    /// Gaussian blur of every training image.
    Blur {
        /// Standard deviation in pixels.
        sigma: f64,
    },
    /// Median filter of every training image.
    Median {
        /// Window radius (1: 3x3).
        radius: u32,
    },
    /// Colour images converted to gray (replicated over the channels).
    Grayscale,
    /// Only a random fraction of the release is used.
    Partial {
        /// Fraction kept, in (0, 1].
        fraction: f64,
    },
    /// Random crop (zero padding) and horizontal flip while training.
    Augment {
        /// Padding of the random crop.
        crop_padding: usize,
        /// Random horizontal flips.
        flip: bool,
    },
    /// Mixup (Zhang et al., 2018): convex combinations of image pairs and their labels.
    Mixup {
        /// Beta(alpha, alpha) mixing weights.
        alpha: f64,
    },
    /// CutMix (Yun et al., 2019): a box of another image pasted in, labels mixed by area.
    Cutmix {
        /// Beta(alpha, alpha) area weights.
        alpha: f64,
    },
    /// Label smoothing.
    LabelSmoothing {
        /// Smoothing in (0, 1).
        epsilon: f64,
    },
    /// Strong L2 weight decay.
    WeightDecay {
        /// The decay.
        value: f64,
    },
    /// Adversarial training (PGD-AT, Madry et al., 2018) on the release.
    Adversarial {
        /// L-inf radius in 1/255 units.
        eps: f64,
        /// PGD steps per batch.
        steps: usize,
    },
    /// Confident-learning style cleaning: models trained on `folds` folds
    /// score every sample out of fold; the `drop` fraction with the highest
    /// loss is removed (and, with `disagree`, every sample whose given label
    /// is not the out-of-fold prediction), then the suspect trains on the rest.
    LossFilter {
        /// Fraction of highest-loss samples removed, in [0, 1).
        drop: f64,
        /// Also remove samples whose out-of-fold prediction is another class.
        #[serde(default)]
        disagree: bool,
        /// Folds of the cleaning models.
        #[serde(default = "Attack::default_folds")]
        folds: usize,
    },
    /// Spectral signatures (Tran, Li & Madry, NeurIPS 2018): per class,
    /// the penultimate features of the infringer's model trained on the
    /// data, centred; samples with the largest squared projection on the
    /// top singular vector are removed (`factor` x `expected` of each
    /// class), then the suspect trains on the rest.
    Spectral {
        /// The poisoned fraction the infringer expects, in (0, 1).
        expected: f64,
        /// Removed per class: this multiple of `expected` (1.5 in the paper).
        #[serde(default = "Attack::default_spectral_factor")]
        factor: f64,
    },
    /// Global magnitude pruning of the trained suspect's conv/linear weights.
    Prune {
        /// Fraction of weights set to zero, in (0, 1).
        fraction: f64,
        /// Epochs of fine-tuning on the same data afterwards, with the
        /// pruned weights held at zero.
        #[serde(default)]
        finetune_epochs: usize,
    },
    /// Symmetric per-tensor int8 quantisation of the suspect's weights.
    QuantizeInt8,
    /// The suspect, once trained, fine-tuned on other (disjoint) data.
    FinetuneAway {
        /// Epochs of fine-tuning.
        epochs: usize,
    },
    /// A model pre-trained on other (disjoint) data, then fine-tuned on the release.
    Pretrained {
        /// Epochs of fine-tuning on the release.
        epochs: usize,
    },
    /// Knowledge distillation: a student of the same architecture trained
    /// only on the suspect's softened outputs over disjoint data.
    Distill {
        /// Softmax temperature.
        temperature: f64,
        /// Epochs of the student.
        epochs: usize,
    },
    /// The API returns only the top-1 label.
    LabelsOnly,
    /// The API returns the top-k probabilities, rounded.
    TopK {
        /// Classes returned.
        k: usize,
        /// Decimals kept.
        decimals: u32,
    },
    /// The API adds Gaussian noise to its probabilities (and renormalises).
    OutputNoise {
        /// Standard deviation of the noise.
        sigma: f64,
    },
    /// The API re-encodes every query image as JPEG before the model.
    QueryJpeg {
        /// JPEG quality.
        quality: u8,
    },
}

impl Attack {
    fn default_folds() -> usize {
        4
    }

    fn default_spectral_factor() -> f64 {
        1.5
    }

    /// The family.
    pub fn family(&self) -> AttackFamily {
        use Attack::*;
        match self {
            Jpeg { .. } | BitDepth { .. } | Blur { .. } | Median { .. } | Grayscale | Partial { .. } => AttackFamily::Data,
            Augment { .. } | Mixup { .. } | Cutmix { .. } | LabelSmoothing { .. } | WeightDecay { .. } | Adversarial { .. } => AttackFamily::Training,
            LossFilter { .. } | Spectral { .. } => AttackFamily::Cleaning,
            Prune { .. } | QuantizeInt8 | FinetuneAway { .. } | Pretrained { .. } | Distill { .. } => AttackFamily::Model,
            LabelsOnly | TopK { .. } | OutputNoise { .. } | QueryJpeg { .. } => AttackFamily::Query,
        }
    }

    /// A short, file-system safe name with the strength, e.g. `jpeg-q75`.
    pub fn label(&self) -> String {
        use Attack::*;
        let num = |x: f64| format!("{x}").replace('.', "p");
        match self {
            Jpeg { quality } => format!("jpeg-q{quality}"),
            BitDepth { bits } => format!("bits-{bits}"),
            Blur { sigma } => format!("blur-s{}", num(*sigma)),
            Median { radius } => format!("median-{}x{}", 2 * radius + 1, 2 * radius + 1),
            Grayscale => "grayscale".into(),
            Partial { fraction } => format!("partial-{}", num(*fraction)),
            Augment { crop_padding, flip } => format!("crop{crop_padding}{}", if *flip { "-flip" } else { "" }),
            Mixup { alpha } => format!("mixup-{}", num(*alpha)),
            Cutmix { alpha } => format!("cutmix-{}", num(*alpha)),
            LabelSmoothing { epsilon } => format!("label-smoothing-{}", num(*epsilon)),
            WeightDecay { value } => format!("weight-decay-{}", num(*value)),
            Adversarial { eps, steps } => format!("pgd-at-{}-{steps}", num(*eps)),
            LossFilter { drop, disagree, folds } => format!("loss-filter-{}{}-f{folds}", num(*drop), if *disagree { "-disagree" } else { "" }),
            Spectral { expected, factor } => format!("spectral-{}-x{}", num(*expected), num(*factor)),
            Prune { fraction, finetune_epochs } => format!("prune-{}-ft{finetune_epochs}", num(*fraction)),
            QuantizeInt8 => "int8".into(),
            FinetuneAway { epochs } => format!("finetune-away-{epochs}"),
            Pretrained { epochs } => format!("pretrained-ft{epochs}"),
            Distill { temperature, epochs } => format!("distill-t{}-e{epochs}", num(*temperature)),
            LabelsOnly => "labels-only".into(),
            TopK { k, decimals } => format!("top{k}-d{decimals}"),
            OutputNoise { sigma } => format!("output-noise-{}", num(*sigma)),
            QueryJpeg { quality } => format!("query-jpeg-q{quality}"),
        }
    }

    /// Whether the attacked suspect is the unattacked suspect's model
    /// (changed afterwards or behind another API), so no new training of
    /// the same data is needed.
    pub fn reuses_model(&self) -> bool {
        matches!(self.family(), AttackFamily::Query)
            || matches!(self, Attack::Prune { .. } | Attack::QuantizeInt8 | Attack::FinetuneAway { .. } | Attack::Distill { .. })
    }

    /// Checks the strength.
    pub fn validate(&self) -> Result<()> {
        use Attack::*;
        let bad = |m: String| Err(Error::invalid("attack", format!("{}: {m}", self.label())));
        let unit = |x: f64| x > 0.0 && x < 1.0;
        match self {
            Jpeg { quality } | QueryJpeg { quality } if !(1..=100).contains(quality) => bad(format!("quality {quality} (must be in 1..=100)")),
            BitDepth { bits } if !(1..=7).contains(bits) => bad(format!("bits {bits} (must be in 1..=7)")),
            Blur { sigma } if !(sigma.is_finite() && *sigma > 0.0) => bad(format!("sigma {sigma} (must be > 0)")),
            Median { radius } if *radius == 0 || *radius > 8 => bad(format!("radius {radius} (must be in 1..=8)")),
            Partial { fraction } if !(*fraction > 0.0 && *fraction <= 1.0) => bad(format!("fraction {fraction} (must be in (0, 1])")),
            Mixup { alpha } | Cutmix { alpha } if !(alpha.is_finite() && *alpha > 0.0) => bad(format!("alpha {alpha} (must be > 0)")),
            LabelSmoothing { epsilon } if !unit(*epsilon) => bad(format!("epsilon {epsilon} (must be in (0, 1))")),
            WeightDecay { value } if !(value.is_finite() && *value > 0.0) => bad(format!("value {value} (must be > 0)")),
            Adversarial { eps, steps } if !(*eps > 0.0 && *eps <= 64.0) || *steps == 0 => bad(format!("eps {eps} / steps {steps} (eps in (0, 64], steps >= 1)")),
            LossFilter { drop, disagree, folds } if !(0.0..1.0).contains(drop) || (*drop == 0.0 && !disagree) || *folds < 2 => {
                bad(format!("drop {drop} / folds {folds} (drop in [0, 1), something to remove, folds >= 2)"))
            }
            Spectral { expected, factor } if !unit(*expected) || !(factor.is_finite() && *factor > 0.0) || !unit(expected * factor) => {
                bad(format!("expected {expected} / factor {factor} (expected and expected x factor in (0, 1))"))
            }
            Prune { fraction, .. } if !unit(*fraction) => bad(format!("fraction {fraction} (must be in (0, 1))")),
            FinetuneAway { epochs } | Pretrained { epochs } if *epochs == 0 => bad("epochs must be >= 1".into()),
            Distill { temperature, epochs } if !(temperature.is_finite() && *temperature > 0.0) || *epochs == 0 => {
                bad(format!("temperature {temperature} / epochs {epochs} (temperature > 0, epochs >= 1)"))
            }
            TopK { k, decimals } if *k == 0 || *decimals > 12 => bad(format!("k {k} / decimals {decimals} (k >= 1, decimals <= 12)")),
            OutputNoise { sigma } if !(sigma.is_finite() && *sigma > 0.0) => bad(format!("sigma {sigma} (must be > 0)")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_read_from_toml_tables() {
        #[derive(Deserialize)]
        struct Doc {
            attacks: Vec<Attack>,
        }
        let doc: Doc = toml::from_str(
            r#"
            [[attacks]]
            kind = "jpeg"
            quality = 75
            [[attacks]]
            kind = "augment"
            crop_padding = 2
            flip = true
            [[attacks]]
            kind = "loss-filter"
            drop = 0.05
            [[attacks]]
            kind = "labels-only"
            "#,
        )
        .unwrap();
        let labels: Vec<String> = doc.attacks.iter().map(Attack::label).collect();
        assert_eq!(labels, ["jpeg-q75", "crop2-flip", "loss-filter-0p05-f4", "labels-only"]);
        assert_eq!(Attack::Blur { sigma: 0.8 }.label(), "blur-s0p8");
        let families: Vec<AttackFamily> = doc.attacks.iter().map(Attack::family).collect();
        assert_eq!(families, [AttackFamily::Data, AttackFamily::Training, AttackFamily::Cleaning, AttackFamily::Query]);
        assert!(doc.attacks.iter().all(|a| a.validate().is_ok()));
        let typo: std::result::Result<Doc, _> = toml::from_str("[[attacks]]\nkind = \"jpeg\"\nqualty = 75\n");
        assert!(typo.is_err());
    }

    #[test]
    fn strengths_out_of_range_name_the_attack() {
        for a in [Attack::Jpeg { quality: 0 }, Attack::Spectral { expected: 0.5, factor: 3.0 }, Attack::Spectral { expected: 0.0, factor: 1.5 }, Attack::Prune { fraction: 1.0, finetune_epochs: 0 }, Attack::LossFilter { drop: 0.0, disagree: false, folds: 4 }, Attack::TopK { k: 0, decimals: 2 }] {
            let e = a.validate().unwrap_err().to_string();
            assert!(e.contains(&a.label()), "{e}");
        }
    }
}
