//! The data-cleaning attack, in the style of confident learning (Northcutt
//! et al., JAIR 2021): the infringer trains models on folds of the data it
//! took, scores every sample out of fold, and removes those that look like
//! label errors: the highest-loss fraction, and optionally every sample
//! whose out-of-fold prediction is another class. Hard samples look exactly
//! like that, so this is the attack that targets HoneyImage's selection.
//! And the spectral-signature filter (Tran, Li & Madry, NeurIPS 2018),
//! which looks for poisoned samples as outliers in a trained model's
//! feature space: the attack that targets the perturbation.
use honeyimage_data::{kfold, Dataset};

use crate::config::{Arch, Attack, ModelConfig, TrainConfig};
use crate::model::{channel_stats, Model};
use crate::protect::proxies::outside;
use crate::tensors::{to_vec_f64, TensorSet};
use crate::train::train;
use crate::{Error, Result};
use tch::{Kind, Tensor};

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

/// The spectral-signature filter: for each class, the rows of `features`
/// (`[n, d]`, penultimate features of a model trained on the data) are
/// centred, scored by their squared projection on the top right singular
/// vector, and the `fraction` of the class with the highest scores is
/// removed. Returns the kept samples, in order.
pub fn spectral_kept(features: &Tensor, labels: &[u32], fraction: f64) -> Result<Vec<usize>> {
    let n = labels.len();
    if features.dim() != 2 || features.size()[0] != n as i64 {
        return Err(Error::invalid("features", format!("shape {:?} for {n} labels (need [{n}, d])", features.size())));
    }
    let mut removed = vec![false; n];
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    for c in 0..classes {
        let members: Vec<usize> = (0..n).filter(|&i| labels[i] as usize == c).collect();
        let drop = (fraction * members.len() as f64).round() as usize;
        if drop == 0 || members.len() < 2 {
            continue;
        }
        let rows = Tensor::from_slice(&members.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(features.device());
        let scores = spectral_scores(&features.index_select(0, &rows))?;
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order.iter().take(drop).for_each(|&j| removed[members[j]] = true);
    }
    Ok((0..n).filter(|&i| !removed[i]).collect())
}

/// Each row's squared projection on the top right singular vector of the
/// centred rows (the outlier score of spectral signatures).
pub fn spectral_scores(rows: &Tensor) -> Result<Vec<f64>> {
    let f = rows.to_kind(Kind::Double);
    let centred = &f - f.mean_dim(Some(&[0i64][..]), true, Kind::Double);
    // torch.svd: V's columns are the right singular vectors, largest first.
    let (_, _, v) = centred.f_svd(true, true)?;
    to_vec_f64(&centred.mv(&v.select(1, 0)).square())
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
    fn spectral_signatures_remove_the_outliers_along_the_top_direction() {
        // Two classes of 100 points in 6-d noise; 5 points of class 0 sit
        // far out along one direction, as poisons do in feature space.
        let mut state = 7u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32
        };
        let (n, d) = (200usize, 6usize);
        let mut x: Vec<f32> = (0..n * d).map(|_| noise()).collect();
        let poisoned = [3usize, 40, 77, 120, 181];
        for &i in &poisoned {
            x[i * d + 2] += 4.0;
        }
        let labels: Vec<u32> = (0..n).map(|i| u32::from(i % 2 == 1)).collect();
        let feats = Tensor::from_slice(&x).view([n as i64, d as i64]);
        let kept = spectral_kept(&feats, &labels, 0.05).unwrap();
        assert_eq!(kept.len(), 190, "5% of each class");
        assert!(poisoned.iter().all(|i| !kept.contains(i)), "an outlier was kept");
        assert!(spectral_kept(&feats.narrow(0, 0, 10), &labels, 0.05).unwrap_err().to_string().contains("[200, d]"));
    }

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
