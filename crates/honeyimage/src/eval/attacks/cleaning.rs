//! The data-cleaning attack, in the style of confident learning (Northcutt
//! et al., JAIR 2021): the infringer trains models on folds of the data it
//! took, scores every sample out of fold, and removes those that look like
//! label errors: the highest-loss fraction, and optionally every sample
//! whose out-of-fold prediction is another class. Hard samples look exactly
//! like that, so this is the attack that targets HoneyImage's selection.
use honeyimage_data::{kfold, Dataset};

use crate::config::{Arch, Attack, ModelConfig, TrainConfig};
use crate::model::{channel_stats, Model};
use crate::protect::proxies::outside;
use crate::tensors::{to_vec_f64, TensorSet};
use crate::train::train;
use crate::{Error, Result};

/// Out-of-fold loss and prediction of every sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutOfFold {
    /// Cross-entropy of the given label.
    pub loss: Vec<f64>,
    /// Predicted class.
    pub predicted: Vec<u32>,
}

/// Trains one small CNN per fold on the other folds and scores the fold.
pub fn out_of_fold(ds: &Dataset, folds: usize, tc: &TrainConfig) -> Result<OutOfFold> {
    let device = crate::default_device();
    let set = TensorSet::from_dataset(ds, device)?;
    let (mut loss, mut predicted) = (vec![0.0; ds.len()], vec![0u32; ds.len()]);
    for (k, fold) in kfold(ds.len(), folds, tc.seed).iter().enumerate() {
        let mc = ModelConfig::new(Arch::SmallCnn, ds.channels, ds.height, ds.width, ds.class_names.clone(), channel_stats(ds));
        let seed = tc.seed.wrapping_add(k as u64 + 1);
        let model = Model::new(mc, device, seed)?;
        train(&model, &set.select(&outside(ds.len(), fold)), &TrainConfig { seed, ..tc.clone() }, &mut |_| {})?;
        let held = set.select(fold);
        let l = to_vec_f64(&model.losses(&held, 512))?;
        let p = to_vec_f64(&model.logits(&held.images, 512).argmax(-1, false))?;
        for (j, &i) in fold.iter().enumerate() {
            (loss[i], predicted[i]) = (l[j], p[j] as u32);
        }
    }
    Ok(OutOfFold { loss, predicted })
}

/// The samples a loss filter keeps, in order.
pub fn kept(oof: &OutOfFold, labels: &[u32], attack: &Attack) -> Result<Vec<usize>> {
    let Attack::LossFilter { drop, disagree, .. } = attack else {
        return Err(Error::invalid("attack", format!("{} is not a loss filter", attack.label())));
    };
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| oof.loss[b].total_cmp(&oof.loss[a]).then(a.cmp(&b)));
    let mut removed = vec![false; n];
    order.iter().take((drop * n as f64).round() as usize).for_each(|&i| removed[i] = true);
    if *disagree {
        (0..n).filter(|&i| oof.predicted[i] != labels[i]).for_each(|i| removed[i] = true);
    }
    Ok((0..n).filter(|&i| !removed[i]).collect())
}

/// Fractions removed: of all samples, and of `marked` (positions in the
/// same dataset; NaN when there are none).
pub fn removed_fractions(n: usize, kept: &[usize], marked: &[usize]) -> (f64, f64) {
    let mut keep = vec![false; n];
    kept.iter().for_each(|&i| keep[i] = true);
    let all = 1.0 - kept.len() as f64 / n.max(1) as f64;
    let gone = marked.iter().filter(|&&i| !keep[i]).count();
    let marked_frac = if marked.is_empty() { f64::NAN } else { gone as f64 / marked.len() as f64 };
    (all, marked_frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_losses_and_disagreements_go() {
        let oof = OutOfFold { loss: vec![0.1, 5.0, 0.2, 3.0, 0.3], predicted: vec![0, 1, 2, 0, 1] };
        let labels = [0, 1, 2, 1, 0];
        let top = Attack::LossFilter { drop: 0.2, disagree: false, folds: 2 };
        assert_eq!(kept(&oof, &labels, &top).unwrap(), [0, 2, 3, 4]);
        let both = Attack::LossFilter { drop: 0.2, disagree: true, folds: 2 };
        assert_eq!(kept(&oof, &labels, &both).unwrap(), [0, 2]);
        assert!(kept(&oof, &labels, &Attack::LabelsOnly).is_err());
    }

    #[test]
    fn removed_fractions_compare_marked_with_all() {
        let (all, marked) = removed_fractions(10, &[0, 1, 2, 3, 4, 5, 6, 7], &[7, 8, 9]);
        assert!((all - 0.2).abs() < 1e-12);
        assert!((marked - 2.0 / 3.0).abs() < 1e-12);
        assert!(removed_fractions(4, &[0, 1], &[]).1.is_nan());
    }
}
