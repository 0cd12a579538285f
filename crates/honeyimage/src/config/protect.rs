//! Protection parameters: how candidates are chosen and perturbed. They are
//! recorded in the key, so the key module depends on this leaf module, not
//! on the pipeline that uses it.
use serde::{Deserialize, Serialize};

use super::{Arch, TrainConfig};
use crate::{Error, Result};

/// How candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The hardest (the method).
    #[default]
    Hard,
    /// Uniformly at random, stratified by class (a baseline).
    Random,
    /// The hardest among the samples whose out-of-fold prediction is their
    /// label (those a confident-learning cleaner does not flag as label
    /// errors); others only when a class has too few.
    HardAgreeing,
}

/// What each PGD step maximises (SPEC section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The loss gap `CE(f_out) - CE(f_in)` (the method): adversarial to the
    /// models that never saw the candidate, easy for those that did.
    #[default]
    Gap,
    /// `-CE(f_in)` only (error-minimising noise, as in unlearnable
    /// examples, used the other way round): the candidate is made easy to
    /// fit for a model that trains on it, without being made adversarial
    /// to one that does not. The out-models still measure the gap.
    Fit,
}

/// How each outer iteration moves the perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// A signed-gradient step of size alpha (PGD; the method).
    #[default]
    Sign,
    /// A signed step along the running sum of the gradients, each
    /// normalised per candidate by its mean absolute value (MI-FGSM, Dong
    /// et al., CVPR 2018, decay 1): directions that stay steady while the
    /// in-models move.
    Momentum,
}

impl std::str::FromStr for Objective {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gap" => Ok(Objective::Gap),
            "fit" => Ok(Objective::Fit),
            _ => Err(Error::invalid("objective", format!("{s:?}; expected gap or fit"))),
        }
    }
}

impl std::str::FromStr for Step {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sign" => Ok(Step::Sign),
            "momentum" => Ok(Step::Momentum),
            _ => Err(Error::invalid("step", format!("{s:?}; expected sign or momentum"))),
        }
    }
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// Protection parameters; recorded in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtectConfig {
    /// N: HoneyImages released (as many more are withheld as controls).
    pub count: usize,
    /// L-inf budget in 8-bit units (4 = 4/255).
    pub epsilon: f64,
    /// PGD step in 8-bit units.
    pub alpha: f64,
    /// Outer iterations T.
    pub steps: usize,
    /// K folds of out-of-fold proxies.
    pub folds: usize,
    /// Proxy architectures (each fold gets one proxy per architecture).
    pub proxy_archs: Vec<Arch>,
    /// Width parameter of the proxies (None: each architecture's default).
    pub proxy_width: Option<usize>,
    /// Proxy training settings.
    pub proxy_train: TrainConfig,
    /// In-model SGD steps per outer iteration.
    pub inner_steps: usize,
    /// In-model learning rate.
    pub inner_lr: f64,
    /// Ordinary samples mixed into each in-model batch.
    pub inner_batch: usize,
    /// Skip this fraction of the hardest samples of each class.
    pub skip_hardest: f64,
    /// How candidates are chosen (`random` is the random-sample baseline).
    pub selection: Selection,
    /// Stealthiness floor: every HoneyImage keeps SSIM >= this to its original (0 disables).
    pub min_ssim: f64,
    /// Also run the same optimisation on random (not hard) samples, to show
    /// that hardness matters (reported in the summary, not released).
    pub random_baseline: bool,
    /// Master seed: folds, R/W split, proxies, optimisation.
    pub seed: u64,
    /// Number of classes when it must not be inferred from the labels
    /// (None: a class no sample carries is refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_classes: Option<usize>,
    /// Perturb the candidates (false: release the hard samples unchanged,
    /// zero distortion; verification then rests on selection and the
    /// withheld twins alone).
    #[serde(skip_serializing_if = "is_true")]
    pub perturb: bool,
    /// Expectation over transformations: optimise the loss gap averaged
    /// over the augmentations an infringer trains with (None: off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eot: Option<Eot>,
    /// What each PGD step maximises.
    #[serde(skip_serializing_if = "is_default")]
    pub objective: Objective,
    /// How each outer iteration moves the perturbation.
    #[serde(skip_serializing_if = "is_default")]
    pub step: Step,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Expectation over transformations (Athalye et al., 2018) in the
/// bi-level optimisation: every PGD step averages the loss gap over
/// `samples` random crops and flips of the candidates, and the in-models
/// train with the same augmentation, as an infringer's model would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Eot {
    /// Random transformations per PGD step.
    pub samples: usize,
    /// Zero padding of the random crops.
    pub crop_padding: usize,
    /// Random horizontal flips.
    pub flip: bool,
}

impl Default for Eot {
    fn default() -> Self {
        Eot { samples: 4, crop_padding: 2, flip: true }
    }
}

impl Default for ProtectConfig {
    fn default() -> Self {
        ProtectConfig {
            count: 100,
            epsilon: 4.0,
            alpha: 0.4,
            steps: 20,
            folds: 2,
            proxy_archs: vec![Arch::SmallCnn],
            proxy_width: None,
            proxy_train: TrainConfig { epochs: 4, ..TrainConfig::default() },
            inner_steps: 2,
            inner_lr: 0.01,
            inner_batch: 128,
            skip_hardest: 0.0,
            selection: Selection::Hard,
            min_ssim: 0.99,
            random_baseline: true,
            seed: 0,
            num_classes: None,
            perturb: true,
            eot: None,
            objective: Objective::Gap,
            step: Step::Sign,
        }
    }
}

impl ProtectConfig {
    /// Range checks, before anything runs.
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &str, m: String| Err(Error::invalid(w, m));
        if self.count == 0 {
            return bad("count", "must be >= 1".into());
        }
        if !(self.epsilon > 0.0 && self.epsilon <= 255.0) {
            return bad("epsilon", format!("{} (8-bit units, must be in (0, 255])", self.epsilon));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad("alpha", format!("{} (must be > 0)", self.alpha));
        }
        if self.folds < 2 {
            return bad("folds", format!("{} (need at least 2 so every sample has a proxy that never saw it)", self.folds));
        }
        if self.proxy_archs.is_empty() {
            return bad("proxy architectures", "none given".into());
        }
        if !(0.0..1.0).contains(&self.min_ssim) {
            return bad("min-ssim", format!("{} (must be in [0, 1))", self.min_ssim));
        }
        if self.eot.as_ref().is_some_and(|e| e.samples == 0 || e.samples > 64) {
            return bad("eot samples", "must be in 1..=64".into());
        }
        if !(0.0..0.5).contains(&self.skip_hardest) {
            return bad("skip-hardest", format!("{} (must be in [0, 0.5))", self.skip_hardest));
        }
        self.proxy_train.validate()
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_objective_and_step_leave_the_recorded_config_as_it_was() {
        // Keys written before these options existed must read the same and
        // new keys with the defaults must serialise the same bytes.
        let json = serde_json::to_string(&ProtectConfig::default()).unwrap();
        assert!(!json.contains("objective") && !json.contains("\"step\""), "{json}");
        let c: ProtectConfig = serde_json::from_str(&json).unwrap();
        assert_eq!((c.objective, c.step), (Objective::Gap, Step::Sign));

        let fit = ProtectConfig { objective: Objective::Fit, step: Step::Momentum, ..ProtectConfig::default() };
        let json = serde_json::to_string(&fit).unwrap();
        assert!(json.contains("\"objective\":\"fit\"") && json.contains("\"step\":\"momentum\""), "{json}");
        assert_eq!(serde_json::from_str::<ProtectConfig>(&json).unwrap(), fit);
    }

    #[test]
    fn objective_and_step_parse_their_names_and_refuse_others() {
        assert_eq!("fit".parse::<Objective>().unwrap(), Objective::Fit);
        assert_eq!("gap".parse::<Objective>().unwrap(), Objective::Gap);
        assert_eq!("momentum".parse::<Step>().unwrap(), Step::Momentum);
        let e = "adam".parse::<Step>().unwrap_err().to_string();
        assert!(e.contains("\"adam\"") && e.contains("sign or momentum"), "{e}");
        let e = "Fit!".parse::<Objective>().unwrap_err().to_string();
        assert!(e.contains("gap or fit"), "{e}");
    }
}
