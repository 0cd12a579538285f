//! Stage 3 of protect (SPEC sections 1-2): the candidates. The 2N hardest
//! samples, stratified by class in proportion to class frequency (optionally
//! skipping the very hardest band, often mislabelled or ambiguous samples
//! that no model fits), then split at random (seeded, recorded in the key)
//! into N released (R) and N withheld controls (W). The random-sample
//! baseline draws its candidates here too.
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::hardness::Hardness;
use crate::config::{ProtectConfig, Selection};
use crate::{Error, Result};

/// The 2N candidates and their split into released and withheld.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    /// All 2N candidates, by class then by decreasing score.
    pub all: Vec<usize>,
    /// R: the N released as HoneyImages.
    pub released: Vec<usize>,
    /// W: the N withheld controls.
    pub withheld: Vec<usize>,
}

/// Chooses the 2N candidates (hardest, or random for the baseline) and
/// splits them into R and W within each class with the configuration's
/// seed (key version 2; version-1 keys were split class-blind by
/// [`split_released_withheld`]).
pub fn choose(hardness: &Hardness, labels: &[u32], num_classes: usize, config: &ProtectConfig) -> Result<Candidates> {
    let total = 2 * config.count;
    let all = match config.selection {
        Selection::Hard => select_hardest(&hardness.scores, labels, num_classes, total, config.skip_hardest)?,
        Selection::HardAgreeing => select_hardest(&agreeing_first(hardness, labels)?, labels, num_classes, total, config.skip_hardest)?,
        Selection::Random => {
            // Same stratification, with seeded random scores in place of hardness.
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7a2d);
            let scores: Vec<f64> = (0..labels.len()).map(|_| rng.gen::<f64>()).collect();
            select_hardest(&scores, labels, num_classes, total, 0.0)?
        }
    };
    let (released, withheld) = split_within_classes(&all, labels, config.seed);
    Ok(Candidates { all, released, withheld })
}

/// Hardness re-ranked so that every sample whose out-of-fold prediction is
/// its label ranks above every sample whose prediction is not (within each
/// group, by hardness): disagreeing samples are shifted down by more than
/// the whole range of scores.
pub fn agreeing_first(hardness: &Hardness, labels: &[u32]) -> Result<Vec<f64>> {
    if hardness.predicted.len() != labels.len() {
        return Err(Error::invalid("hardness", "no out-of-fold predictions (a work folder from an older version: delete it)"));
    }
    let (lo, hi) = hardness.scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let shift = (hi - lo).abs() + 1.0;
    Ok(hardness.scores.iter().zip(&hardness.predicted).zip(labels).map(|((&h, &p), &l)| if p == l { h } else { h - shift }).collect())
}

/// A seeded random split of `candidates` into `count` released and the
/// rest withheld. Both sides are drawn by one shuffle, so which sample
/// lands where depends only on the seed.
pub fn split_released_withheld(candidates: &[usize], count: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut shuffled = candidates.to_vec();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x00c0_ffee));
    let (r, w) = shuffled.split_at(count.min(shuffled.len()));
    (r.to_vec(), w.to_vec())
}

/// A seeded random split of `candidates` within each class (SPEC section
/// 2): each class's candidates are shuffled and halved; an odd one goes to
/// R or W by a coin flip. R and W are then exchangeable within every class
/// for a model that never saw the release, which is what the stratified
/// exact test in `verify` needs; R's size is N only in expectation when
/// some classes have an odd number of candidates.
pub fn split_within_classes(candidates: &[usize], labels: &[u32], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5717_a7ed);
    let mut classes: Vec<u32> = candidates.iter().map(|&i| labels[i]).collect();
    classes.sort_unstable();
    classes.dedup();
    let (mut released, mut withheld) = (Vec::new(), Vec::new());
    for c in classes {
        let mut mine: Vec<usize> = candidates.iter().copied().filter(|&i| labels[i] == c).collect();
        mine.shuffle(&mut rng);
        let half = mine.len() / 2;
        let to_r = half + usize::from(mine.len() % 2 == 1 && rng.gen_bool(0.5));
        released.extend_from_slice(&mine[..to_r]);
        withheld.extend_from_slice(&mine[to_r..]);
    }
    (released, withheld)
}

/// The random-sample baseline's 2N candidates: drawn (seeded) from the
/// samples that are not hard candidates.
pub fn random_baseline(n: usize, hard: &[usize], count: usize, seed: u64) -> Vec<usize> {
    let mut is_hard = vec![false; n];
    hard.iter().for_each(|&i| is_hard[i] = true);
    let mut pool: Vec<usize> = (0..n).filter(|&i| !is_hard[i]).collect();
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5a5a));
    pool.truncate(2 * count);
    pool
}

/// Per-class quotas for `total` picks proportional to class frequency
/// (largest-remainder rounding, ties to the lower class index).
pub fn class_quotas(counts: &[usize], total: usize) -> Vec<usize> {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return vec![0; counts.len()];
    }
    let exact: Vec<f64> = counts.iter().map(|&c| c as f64 * total as f64 / n as f64).collect();
    let mut q: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut rest: Vec<(usize, f64)> = exact.iter().enumerate().map(|(i, e)| (i, e - e.floor())).collect();
    rest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let short = total.saturating_sub(q.iter().sum());
    for &(i, _) in rest.iter().take(short) {
        q[i] += 1;
    }
    q
}

/// Picks `total` samples with the highest hardness, stratified by class,
/// after skipping the hardest `skip_fraction` of each class. Returns sample
/// indices sorted by class then by decreasing hardness.
pub fn select_hardest(hardness: &[f64], labels: &[u32], num_classes: usize, total: usize, skip_fraction: f64) -> Result<Vec<usize>> {
    if hardness.len() != labels.len() {
        return Err(Error::invalid("hardness", format!("{} scores for {} labels", hardness.len(), labels.len())));
    }
    if let Some(i) = hardness.iter().position(|h| !h.is_finite()) {
        return Err(Error::NonFinite(format!("hardness of sample {i}")));
    }
    if !(0.0..1.0).contains(&skip_fraction) {
        return Err(Error::invalid("skip fraction", format!("{skip_fraction} (must be in [0, 1))")));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class.get_mut(l as usize).ok_or_else(|| Error::invalid("label", format!("{l} of sample {i} >= {num_classes} classes")))?.push(i);
    }
    let counts: Vec<usize> = by_class.iter().map(|v| v.len()).collect();
    let quotas = class_quotas(&counts, total);
    let mut out = Vec::with_capacity(total);
    for (c, mut idx) in by_class.into_iter().enumerate() {
        idx.sort_by(|&a, &b| hardness[b].total_cmp(&hardness[a]).then(a.cmp(&b)));
        let skip = (skip_fraction * idx.len() as f64).floor() as usize;
        let avail = idx.len().saturating_sub(skip);
        if avail < quotas[c] {
            return Err(Error::invalid(
                "count",
                format!("class {c} has {} samples ({skip} skipped), fewer than the {} it must contribute", idx.len(), quotas[c]),
            ));
        }
        out.extend_from_slice(&idx[skip..skip + quotas[c]]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_proportional_and_sum_to_total() {
        assert_eq!(class_quotas(&[50, 30, 20], 10), vec![5, 3, 2]);
        let q = class_quotas(&[1, 1, 1], 2);
        assert_eq!(q.iter().sum::<usize>(), 2);
        assert_eq!(class_quotas(&[6000; 10], 200), vec![20; 10]);
    }

    #[test]
    fn selects_hardest_per_class_with_skip() {
        // class 0: indices 0..10 with hardness 0..10; class 1: 10..20 likewise.
        let hardness: Vec<f64> = (0..20).map(|i| (i % 10) as f64).collect();
        let labels: Vec<u32> = (0..20).map(|i| (i / 10) as u32).collect();
        let sel = select_hardest(&hardness, &labels, 2, 4, 0.0).unwrap();
        assert_eq!(sel, vec![9, 8, 19, 18]);
        let sel = select_hardest(&hardness, &labels, 2, 4, 0.1).unwrap();
        assert_eq!(sel, vec![8, 7, 18, 17]);
        assert!(select_hardest(&hardness, &labels, 2, 20, 0.1).is_err());
        assert!(select_hardest(&[f64::NAN, 1.0], &[0, 1], 2, 2, 0.0).is_err());
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let cands: Vec<usize> = (100..140).collect();
        let (r, w) = split_released_withheld(&cands, 20, 3);
        assert_eq!((r.len(), w.len()), (20, 20));
        let mut both: Vec<usize> = r.iter().chain(&w).copied().collect();
        both.sort_unstable();
        assert_eq!(both, cands);
        assert_eq!(split_released_withheld(&cands, 20, 3), (r.clone(), w));
        assert_ne!(split_released_withheld(&cands, 20, 4).0, r);
    }

    #[test]
    fn within_class_split_halves_every_class() {
        let labels: Vec<u32> = (0..60).map(|i| (i % 3) as u32).collect();
        // Class 0: 8 candidates, class 1: 6, class 2: 5 (odd).
        let cands: Vec<usize> = (0..60).filter(|&i| match i % 3 { 0 => i < 24, 1 => i < 18, _ => i < 15 }).collect();
        assert_eq!(cands.len(), 19);
        let (r, w) = split_within_classes(&cands, &labels, 9);
        let count = |v: &[usize], c: u32| v.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(&r, 0), count(&w, 0)), (4, 4));
        assert_eq!((count(&r, 1), count(&w, 1)), (3, 3));
        assert_eq!(count(&r, 2) + count(&w, 2), 5);
        assert!(count(&r, 2).abs_diff(count(&w, 2)) == 1);
        let mut both: Vec<usize> = r.iter().chain(&w).copied().collect();
        both.sort_unstable();
        assert_eq!(both, cands);
        assert_eq!(split_within_classes(&cands, &labels, 9), (r.clone(), w));
        // The odd sample's side is a coin flip: both sides occur over seeds.
        let sides: std::collections::BTreeSet<usize> = (0..20).map(|s| count(&split_within_classes(&cands, &labels, s).0, 2)).collect();
        assert_eq!(sides.into_iter().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn random_baseline_avoids_hard_candidates() {
        let hard: Vec<usize> = (0..50).collect();
        let pick = random_baseline(200, &hard, 10, 1);
        assert_eq!(pick.len(), 20);
        assert!(pick.iter().all(|&i| (50..200).contains(&i)));
        assert_eq!(pick, random_baseline(200, &hard, 10, 1));
    }

    #[test]
    fn choose_random_selection_is_stratified_and_not_the_hardest() {
        let labels: Vec<u32> = (0..400).map(|i| (i % 4) as u32).collect();
        let scores: Vec<f64> = (0..400).map(|i| i as f64).collect();
        let hardness = Hardness { scores, proxy_fold_accuracy: vec![], predicted: labels.clone() };
        let cfg = ProtectConfig { count: 20, ..ProtectConfig::default() };
        let hard = choose(&hardness, &labels, 4, &cfg).unwrap();
        assert!(hard.all.iter().all(|&i| i >= 320), "hardest are the highest scores");
        let rnd = choose(&hardness, &labels, 4, &ProtectConfig { selection: Selection::Random, ..cfg }).unwrap();
        assert_eq!(rnd.all.len(), 40);
        for c in 0..4 {
            assert_eq!(rnd.all.iter().filter(|&&i| labels[i] == c).count(), 10);
        }
        assert!(rnd.all.iter().any(|&i| i < 320));
    }

    #[test]
    fn hard_agreeing_skips_what_a_cleaner_would_flag() {
        let labels: Vec<u32> = (0..400).map(|i| (i % 4) as u32).collect();
        // The 40 hardest samples (360..400) are predicted as another class.
        let predicted: Vec<u32> = labels.iter().enumerate().map(|(i, &l)| if i >= 360 { (l + 1) % 4 } else { l }).collect();
        let hardness = Hardness { scores: (0..400).map(|i| i as f64).collect(), proxy_fold_accuracy: vec![], predicted };
        let cfg = ProtectConfig { count: 20, selection: Selection::HardAgreeing, ..ProtectConfig::default() };
        let c = choose(&hardness, &labels, 4, &cfg).unwrap();
        assert!(c.all.iter().all(|&i| (320..360).contains(&i)), "{:?}", c.all);
        // Too few agreeing samples in a class: the disagreeing ones fill in.
        let all_wrong = Hardness { predicted: labels.iter().map(|&l| (l + 1) % 4).collect(), ..hardness.clone() };
        assert_eq!(choose(&all_wrong, &labels, 4, &cfg).unwrap().all.len(), 40);
        let old = Hardness { predicted: vec![], ..hardness };
        assert!(choose(&old, &labels, 4, &cfg).unwrap_err().to_string().contains("older version"));
    }
}
