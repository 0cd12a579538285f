//! Seeded index helpers (shuffles, folds, splits, stratified subsets). They
//! live here so that every crate of HoneyImage draws the same samples from the
//! same seed: all randomness goes through `ChaCha8Rng::seed_from_u64`.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `0..n` in a seeded random order.
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng);
    idx
}

/// `k` disjoint folds covering `0..n`, sizes differing by at most one, each
/// sorted ascending. `k == 0` gives no folds; `k > n` gives some empty folds.
pub fn kfold(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    if k == 0 {
        return Vec::new();
    }
    let perm = shuffled_indices(n, seed);
    let (base, extra) = (n / k, n % k);
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let size = base + usize::from(f < extra);
        let mut fold = perm[start..start + size].to_vec();
        fold.sort_unstable();
        folds.push(fold);
        start += size;
    }
    folds
}

/// Seeded split of `0..n` into `(train, test)`, both sorted; the test part has
/// `round(n * test_fraction)` indices (fraction clamped to `[0, 1]`, NaN = 0).
pub fn train_test_split(n: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let frac = if test_fraction.is_nan() { 0.0 } else { test_fraction.clamp(0.0, 1.0) };
    let n_test = ((n as f64) * frac).round().min(n as f64) as usize;
    let perm = shuffled_indices(n, seed);
    let mut test = perm[..n_test].to_vec();
    let mut train = perm[n_test..].to_vec();
    test.sort_unstable();
    train.sort_unstable();
    (train, test)
}

/// A seeded subset of `min(limit, n)` indices into `labels`, with each class
/// represented in proportion to its frequency (largest-remainder rounding),
/// returned sorted.
pub fn stratified_limit(labels: &[u32], limit: usize, seed: u64) -> Vec<usize> {
    let n = labels.len();
    if limit >= n {
        return (0..n).collect();
    }
    let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    // Quotas: floor of the exact share, then hand out the rest by largest remainder.
    let mut quotas: Vec<(usize, u128, usize)> = by_class
        .values()
        .enumerate()
        .map(|(c, members)| {
            let exact = members.len() as u128 * limit as u128;
            ((exact / n as u128) as usize, exact % n as u128, c)
        })
        .collect();
    let assigned: usize = quotas.iter().map(|q| q.0).sum();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| quotas[b].1.cmp(&quotas[a].1).then(quotas[a].2.cmp(&quotas[b].2)));
    for &c in order.iter().take(limit - assigned) {
        quotas[c].0 += 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(limit);
    for (members, q) in by_class.into_values().zip(&quotas) {
        let mut members = members;
        members.shuffle(&mut rng);
        out.extend_from_slice(&members[..q.0.min(members.len())]);
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_seeded_permutation() {
        let a = shuffled_indices(100, 7);
        assert_eq!(a, shuffled_indices(100, 7));
        assert_ne!(a, shuffled_indices(100, 8));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn kfold_covers_disjointly() {
        let folds = kfold(23, 5, 1);
        assert_eq!(folds.len(), 5);
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
        assert!(kfold(5, 0, 1).is_empty());
    }

    #[test]
    fn split_sizes() {
        let (tr, te) = train_test_split(10, 0.3, 3);
        assert_eq!((tr.len(), te.len()), (7, 3));
        assert!(tr.iter().all(|i| !te.contains(i)));
        assert_eq!(train_test_split(10, f64::NAN, 3).1.len(), 0);
        assert_eq!(train_test_split(10, 2.0, 3).1.len(), 10);
    }

    #[test]
    fn stratified_is_proportional() {
        let labels: Vec<u32> = (0..1000).map(|i| if i < 800 { 0 } else { 1 + (i % 2) }).collect();
        let s = stratified_limit(&labels, 100, 5);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        let c0 = s.iter().filter(|&&i| labels[i] == 0).count();
        assert_eq!(c0, 80);
        assert_eq!(s, stratified_limit(&labels, 100, 5));
        assert_eq!(stratified_limit(&labels, 5000, 5).len(), 1000);
        // Rounding: 3 classes of 1 sample each, limit 2 -> exactly 2.
        assert_eq!(stratified_limit(&[0, 1, 2], 2, 1).len(), 2);
    }
}
