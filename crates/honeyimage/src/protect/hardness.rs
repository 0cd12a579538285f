//! Stage 2 of protect (SPEC section 1): hardness. Each sample's score is the
//! mean cross-entropy, over the proxy architectures, of the proxies of the
//! one fold that never saw it; the class those proxies predict is kept too
//! (a confident-learning cleaner flags the samples whose out-of-fold
//! prediction is not their label).
use serde::{Deserialize, Serialize};

use super::proxies::Proxies;
use crate::tensors::{to_vec_f64, TensorSet};
use crate::Result;

/// Out-of-fold hardness of every sample, and how good the proxies were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardness {
    /// Per-sample hardness (out-of-fold loss), in dataset order.
    #[serde(rename = "hardness")]
    pub scores: Vec<f64>,
    /// Accuracy of each proxy on its held-out fold, fold after fold.
    pub proxy_fold_accuracy: Vec<f64>,
    /// Out-of-fold predicted class (argmax of the mean probability over the
    /// proxy architectures), in dataset order; empty in work folders
    /// written before it existed.
    #[serde(default)]
    pub predicted: Vec<u32>,
}

/// Images per inference batch while scoring.
const HARDNESS_BATCH: usize = 128;

/// Scores every sample with the proxies of the fold that held it out.
pub fn score(proxies: &Proxies, data: &TensorSet, folds: &[Vec<usize>]) -> Result<Hardness> {
    let mut scores = vec![0.0; data.len()];
    let mut predicted = vec![0u32; data.len()];
    let mut accs = Vec::new();
    for (models, fold) in proxies.iter().zip(folds) {
        let held = data.select(fold);
        let mut sum = vec![0.0; fold.len()];
        let mut probs: Option<tch::Tensor> = None;
        for m in models {
            // One pass over the fold: loss, accuracy and probabilities all
            // come from the same logits (three passes took 70 of protect's
            // 290 s on full Fashion-MNIST). Batches of 128: a small CNN's
            // inference ran 1.45x faster than at 512 (BENCHMARKS.md).
            let logits = m.logits(&held.images, HARDNESS_BATCH);
            accs.push(if held.is_empty() { f64::NAN } else { crate::model::accuracy_of(&logits, &held.labels) });
            let losses = crate::model::losses_of(&logits, &held.labels);
            for (s, l) in sum.iter_mut().zip(to_vec_f64(&losses)?) {
                *s += l / models.len() as f64;
            }
            let p = logits.softmax(-1, tch::Kind::Float);
            probs = Some(match probs {
                Some(acc) => acc + p,
                None => p,
            });
        }
        let argmax = probs.map(|p| to_vec_f64(&p.argmax(-1, false))).transpose()?.unwrap_or_default();
        for (j, (&i, l)) in fold.iter().zip(sum).enumerate() {
            scores[i] = l;
            predicted[i] = argmax.get(j).map_or(0, |&c| c as u32);
        }
    }
    Ok(Hardness { scores, proxy_fold_accuracy: accs, predicted })
}
