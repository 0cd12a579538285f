//! Hardness scoring (SPEC section 1): K out-of-fold proxies, each trained on
//! the data minus one fold; a sample's hardness is the cross-entropy of the
//! proxy that never saw it. Then the 2N hardest are chosen, stratified by
//! class, optionally skipping the very hardest band (often mislabelled or
//! ambiguous samples that no model fits, which carry no membership signal).
use crate::{Error, Result};

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
}
