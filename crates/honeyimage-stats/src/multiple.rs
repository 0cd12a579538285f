//! Multiple testing: when one suspect is tested against several keys (one
//! per licensee), the chance that some key flags it by luck grows with the
//! number of keys. Holm's step-down procedure keeps the family-wise error
//! rate at alpha under any dependence between the tests, and is uniformly
//! more powerful than Bonferroni.

/// Holm-adjusted p-values, in the input's order: with the p-values sorted
/// ascending as `p_(1) <= ... <= p_(m)`, the adjusted `p_(i)` is
/// `max_{j <= i} min(1, (m - j + 1) p_(j))`. Rejecting every hypothesis
/// whose adjusted p-value is below alpha controls the family-wise error
/// rate at alpha. NaN inputs are treated as 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean = |x: f64| if x.is_nan() { 1.0 } else { x.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean(p[a]).total_cmp(&clean(p[b])).then(a.cmp(&b)));
    let mut out = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * clean(p[i])).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_textbook_example() {
        // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") in R: 0.03 0.06 0.06 0.02
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
    }

    #[test]
    fn caps_at_one_and_handles_nan_and_empty() {
        assert_eq!(holm(&[0.6, 0.9]), vec![1.0, 1.0]);
        assert_eq!(holm(&[f64::NAN, 0.01]), vec![1.0, 0.02]);
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[1e-300]), vec![1e-300]);
    }
}
