//! Exact null distributions of the two-sample Wilcoxon-Mann-Whitney statistic
//! under random relabelling, the engine behind [`crate::exact`]. Kept apart
//! from the public API so each algorithm can be checked on its own against
//! brute-force enumeration.
//!
//! Everything is expressed through the *doubled* Mann-Whitney statistic of the
//! first sample, `V = 2U = sum over (x, y) pairs of 2[x > y] + [x = y]`, an
//! integer in `0..=2mn` (`V = 2 R_x - m(m + 1)` for the mid-rank sum `R_x`).
//! Under H0 the `C(m + n, m)` ways of choosing which pooled values carry the
//! `x` label are equally likely, with the tie pattern held fixed. Counts of
//! label assignments are kept as `f64`, so sample sizes are limited to
//! `C(m + n, m) < 1e300` (checked by the callers through [`work_estimate`]).
//!
//! Two algorithms:
//! - no ties: the Gaussian-binomial generating function
//!   `[m + n choose m]_q = prod_{i=1}^{k} (1 - q^{l + i}) / (1 - q^i)` of `U`
//!   (`k = min(m, n)`, `l = max(m, n)`), built up to a truncation point that
//!   never exceeds `mn / 2`; upper tails follow from the symmetry of `U`.
//!   Its coefficients carry a relative error below ~1e-11 and its tail sums
//!   below ~1e-13 at `m = n = 200` (checked against exact integer arithmetic
//!   while writing this module, and against [`tied_le`] in the unit tests);
//! - ties: a sweep over tie groups in increasing order of value whose state is
//!   `(#x so far, partial V)`, holding label-assignment counts. In tail mode
//!   only states whose final `V` is still undecided are kept; states that end
//!   below the threshold whatever happens next are collapsed into a running
//!   total (times their number of completions) and states that must end above
//!   it are dropped. Only additions of non-negative numbers occur, so tails
//!   as small as `1e-290` keep their relative accuracy.

use crate::special::ln_gamma;

/// Tie structure of a pooled two-sample data set and the observed statistic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RankProfile {
    /// Sizes of the groups of equal pooled values, in increasing value order.
    pub groups: Vec<usize>,
    /// Size of the first sample.
    pub m: usize,
    /// Size of the second sample.
    pub n: usize,
    /// Observed doubled Mann-Whitney statistic `V` of the first sample.
    pub v_obs: u64,
}

impl RankProfile {
    /// Profile of `x` against `y` (values must be finite; not checked here).
    pub fn new(x: &[f64], y: &[f64]) -> Self {
        let mut pooled: Vec<(f64, bool)> = x.iter().map(|&v| (v, true)).collect();
        pooled.extend(y.iter().map(|&v| (v, false)));
        pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut groups, mut v_obs, mut y_below) = (Vec::new(), 0u64, 0u64);
        let mut i = 0;
        while i < pooled.len() {
            let mut j = i;
            while j < pooled.len() && pooled[j].0 == pooled[i].0 {
                j += 1;
            }
            let jx = pooled[i..j].iter().filter(|p| p.1).count() as u64;
            let jy = (j - i) as u64 - jx;
            // Each x here beats every y below (2 each) and ties each y here (1).
            v_obs += jx * (2 * y_below + jy);
            y_below += jy;
            groups.push(j - i);
            i = j;
        }
        RankProfile {
            groups,
            m: x.len(),
            n: y.len(),
            v_obs,
        }
    }

    /// Whether any two pooled values are equal.
    pub fn has_ties(&self) -> bool {
        self.groups.iter().any(|&t| t > 1)
    }

    /// Largest possible `V`, `2mn`.
    pub fn v_max(&self) -> u64 {
        2 * (self.m * self.n) as u64
    }

    /// The profile of the negated data: groups reversed, `V -> 2mn - V`.
    pub fn reversed(&self) -> Self {
        let mut groups = self.groups.clone();
        groups.reverse();
        RankProfile {
            groups,
            m: self.m,
            n: self.n,
            v_obs: self.v_max() - self.v_obs,
        }
    }
}

/// `C(n, k)` as `f64` by the multiplicative formula (relative error about
/// `k * 1e-16`); `0` when `k > n`.
pub(crate) fn binom_f64(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (1..=k).fold(1.0, |c, i| c * (n - k + i) as f64 / i as f64)
}

/// `C(n, k)` for `k = 0..=min(n, kmax)` (index `k`).
fn binom_row(n: usize, kmax: usize) -> Vec<f64> {
    let mut row = vec![1.0];
    for k in 0..kmax.min(n) {
        let c = row[k] * (n - k) as f64 / (k + 1) as f64;
        row.push(c);
    }
    row
}

/// Natural log of `C(n, k)`.
pub(crate) fn ln_binom(n: usize, k: usize) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Counts of label assignments with `U = u`, for `u` in `0..=t` (no ties;
/// `t <= mn`). Exact integers while below `2^53`, then rounded.
pub(crate) fn untied_counts(m: usize, n: usize, t: usize) -> Vec<f64> {
    let (k, l) = (m.min(n), m.max(n));
    let mut c = vec![0.0; t + 1];
    c[0] = 1.0;
    for i in 1..=k {
        // Divide by (1 - q^i): a running sum with stride i (all terms >= 0).
        for d in i..=t {
            c[d] += c[d - i];
        }
        // Multiply by (1 - q^{l+i}); descending so c[d - l - i] is still old.
        for d in (l + i..=t).rev() {
            c[d] -= c[d - l - i];
        }
    }
    c
}

/// `P(U <= u)` without ties, summing the tail on the side below `mn / 2`.
fn untied_le(m: usize, n: usize, u: i64) -> f64 {
    let mn = (m * n) as i64;
    if u < 0 {
        return 0.0;
    }
    if u >= mn {
        return 1.0;
    }
    let total = binom_f64(m + n, m);
    if 2 * u <= mn {
        untied_counts(m, n, u as usize).iter().sum::<f64>() / total
    } else {
        // P(U <= u) = 1 - P(U >= u + 1) = 1 - P(U <= mn - u - 1) by symmetry;
        // the subtracted tail is below 1/2, so no relative precision is lost.
        let t = (mn - u - 1) as usize;
        1.0 - untied_counts(m, n, t).iter().sum::<f64>() / total
    }
}

/// Probabilities of `U = 0..=mn` without ties (lower half computed, upper
/// half mirrored, so no coefficient comes from a cancelling subtraction).
fn untied_pmf(m: usize, n: usize) -> Vec<f64> {
    let mn = m * n;
    let total = binom_f64(m + n, m);
    let half = untied_counts(m, n, mn / 2);
    (0..=mn).map(|u| half[u.min(mn - u)] / total).collect()
}

/// Counts indexed by partial `V`, for `V` in `lo..lo + vals.len()`.
#[derive(Debug, Clone)]
struct Row {
    lo: i64,
    vals: Vec<f64>,
}

impl Row {
    /// Zeroed row covering `lo..=hi` (empty when `hi < lo`).
    fn zeros(lo: i64, hi: i64) -> Self {
        Row {
            lo,
            vals: vec![0.0; (hi - lo + 1).max(0) as usize],
        }
    }

    /// Adds `w * self` shifted by `shift` into `dst`; returns the unweighted
    /// sum of the entries that land below `dst.lo` (collapsed). Entries above
    /// `dst`'s range are dropped.
    fn spread(&self, shift: i64, w: f64, dst: &mut Row) -> f64 {
        let len = self.vals.len() as i64;
        let base = self.lo + shift;
        let cut1 = (dst.lo - base).clamp(0, len) as usize;
        let cut2 = (dst.lo + dst.vals.len() as i64 - base).clamp(cut1 as i64, len) as usize;
        let below: f64 = self.vals[..cut1].iter().sum();
        if cut2 > cut1 {
            let start = (base + cut1 as i64 - dst.lo) as usize;
            let target = &mut dst.vals[start..start + (cut2 - cut1)];
            for (d, s) in target.iter_mut().zip(&self.vals[cut1..cut2]) {
                *d += w * s;
            }
        }
        below
    }
}

/// Sweep state over tie groups, updated in place: `rows[a]` holds the
/// counts for `a` x's (and `c - a` y's) among the first `c` pooled values.
struct Sweep {
    m: usize,
    n: usize,
    /// Keep only states whose final `V` can still land either side of this.
    limit: Option<i64>,
    c: usize,
    rows: Vec<Row>,
    /// Count of assignments already known to end with `V <= limit`.
    collapsed: f64,
}

impl Sweep {
    fn new(m: usize, n: usize, limit: Option<i64>) -> Self {
        let mut s = Sweep {
            m,
            n,
            limit,
            c: 0,
            rows: Vec::new(),
            collapsed: 0.0,
        };
        s.rows = (0..=m).map(|a| Row::zeros(s.lo(a), s.lo(a) - 1)).collect();
        // Callers handle limits outside 0..2mn, so the start state is kept.
        debug_assert_eq!((s.lo(0), s.hi(0, 0)), (0, 0));
        s.rows[0].vals.push(1.0);
        s
    }

    /// Lowest partial `V` kept with `a` x's: below it the final `V` is at
    /// most the limit whatever follows (the rest adds at most `2(m-a)n`).
    /// It does not depend on the number of y's, so rows can be updated in
    /// place.
    fn lo(&self, a: usize) -> i64 {
        self.limit
            .map_or(0, |t| (t - 2 * ((self.m - a) * self.n) as i64 + 1).max(0))
    }

    /// Highest partial `V` kept with `a` x's and `b` y's: above it the final
    /// `V` exceeds the limit (the rest adds at least `2(m-a)b`). Unimodal in
    /// `b`, so a region once above it never comes back.
    fn hi(&self, a: usize, b: usize) -> i64 {
        let top = 2 * (a * b) as i64;
        self.limit
            .map_or(top, |t| top.min(t - 2 * ((self.m - a) * b) as i64))
    }

    /// Resizes row `a` to its kept range for `b` y's (new cells are zero).
    fn fit(&mut self, a: usize, b: usize) {
        let len = (self.hi(a, b) - self.lo(a) + 1).max(0) as usize;
        self.rows[a].vals.resize(len, 0.0);
    }

    /// Adds the next tie group, of `t` equal values. Rows are visited from
    /// the most x's down, so each is read (as the source of its x
    /// transitions) before it is written (as their target); its own content
    /// is the "all y" transition.
    fn advance(&mut self, t: usize) {
        let (c, c2) = (self.c, self.c + t);
        let ways = binom_row(t, t);
        // Completions of a collapsed state: C(N - c2, m - a2), index m - a2.
        let comp = binom_row(self.m + self.n - c2, self.m);
        for a in (c.saturating_sub(self.n)..=c.min(self.m)).rev() {
            let b = c - a;
            for j in 1..=t.min(self.m - a) {
                let b2 = b + t - j;
                if b2 > self.n {
                    continue;
                }
                self.fit(a + j, b2);
                let (src, dst) = self.rows.split_at_mut(a + j);
                let shift = (j * (2 * b + t - j)) as i64;
                let below = src[a].spread(shift, ways[j], &mut dst[0]);
                if below > 0.0 {
                    self.collapsed += ways[j] * comp[self.m - a - j] * below;
                }
            }
        }
        for a in c.saturating_sub(self.n)..c2.saturating_sub(self.n).min(self.m + 1) {
            self.rows[a].vals = Vec::new(); // no longer reachable: too many y's
        }
        for a in c2.saturating_sub(self.n)..=c2.min(self.m) {
            self.fit(a, c2 - a);
        }
        self.c = c2;
    }
}

/// `P(V <= t)` with ties (exact conditional distribution given the groups).
pub(crate) fn tied_le(groups: &[usize], m: usize, n: usize, t: i64) -> f64 {
    if t < 0 {
        return 0.0;
    }
    if t >= 2 * (m * n) as i64 {
        return 1.0;
    }
    let mut sweep = Sweep::new(m, n, Some(t));
    for &g in groups {
        sweep.advance(g);
    }
    // At the end every state has a = m, b = n and an empty band: all
    // surviving assignments have been collapsed.
    sweep.collapsed / binom_f64(m + n, m)
}

/// Probabilities of `V = 0..=2mn` with ties, by the full (untruncated) sweep.
fn tied_pmf(groups: &[usize], m: usize, n: usize) -> Vec<f64> {
    let mut sweep = Sweep::new(m, n, None);
    for &g in groups {
        sweep.advance(g);
    }
    let total = binom_f64(m + n, m);
    let row = sweep.rows.pop().unwrap_or(Row {
        lo: 0,
        vals: Vec::new(),
    });
    row.vals.iter().map(|c| c / total).collect()
}

/// `P(V <= t)` for the profile's sizes and tie groups.
pub(crate) fn le(p: &RankProfile, t: i64) -> f64 {
    if p.has_ties() {
        tied_le(&p.groups, p.m, p.n, t)
    } else {
        untied_le(p.m, p.n, t.div_euclid(2))
    }
}

/// `P(V >= t)`, summed directly as a lower tail of the reversed profile.
pub(crate) fn ge(p: &RankProfile, t: i64) -> f64 {
    le(&p.reversed(), p.v_max() as i64 - t)
}

/// Null probabilities of `V / step` for `V = 0, step, .., 2mn`, where `step`
/// is 2 (no ties anywhere: `U` itself) or 1 (doubled units).
pub(crate) fn pmf(p: &RankProfile, step: usize) -> Vec<f64> {
    if p.has_ties() {
        debug_assert_eq!(step, 1);
        return tied_pmf(&p.groups, p.m, p.n);
    }
    let u = untied_pmf(p.m, p.n);
    if step == 2 {
        return u;
    }
    let mut v = vec![0.0; 2 * u.len() - 1];
    for (i, q) in u.into_iter().enumerate() {
        v[2 * i] = q;
    }
    v
}

/// `P(sum of independent components <= t)` where `pmfs[s][i]` is
/// `P(component s = i)`; the running convolution is truncated at `t`.
pub(crate) fn convolved_le(pmfs: &[Vec<f64>], t: i64) -> f64 {
    if t < 0 {
        return 0.0;
    }
    let cap = t as usize + 1;
    let mut acc = vec![1.0];
    for p in pmfs {
        let len = (acc.len() + p.len() - 1).min(cap);
        let mut next = vec![0.0; len];
        for (i, &a) in acc.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let k = p.len().min(len - i);
            for (d, &q) in next[i..i + k].iter_mut().zip(&p[..k]) {
                *d += a * q;
            }
        }
        acc = next;
    }
    acc.iter().sum()
}

/// Rough count of inner-loop operations for an exact `P(V <= t)` (or, with
/// `t = None`, the full distribution) of one sample pair; `f64::INFINITY`
/// when the label counts would leave `f64` range.
pub(crate) fn work_estimate(p: &RankProfile, t: Option<i64>) -> f64 {
    let (m, n) = (p.m, p.n);
    if ln_binom(m + n, m) > 690.0 {
        return f64::INFINITY;
    }
    let (mf, nf) = (m as f64, n as f64);
    if !p.has_ties() {
        // k passes over at most mn/2 + 1 coefficients, twice.
        return 2.0 * mf.min(nf) * (mf * nf / 2.0 + 1.0);
    }
    let full = 2.0 * (mf * (mf + 1.0) / 2.0) * (nf * (nf + 1.0) / 2.0) + (mf + 1.0) * (nf + 1.0);
    let Some(t) = t else { return 2.0 * full };
    if full > 1e12 {
        return f64::INFINITY;
    }
    // Sum of the band widths over all (a, b) states, doubled for the spread.
    let mut cells = 0.0;
    for a in 0..=m {
        let rest = 2 * ((m - a) * n) as i64;
        for b in 0..=n {
            let hi = (2 * (a * b) as i64).min(t - 2 * ((m - a) * b) as i64);
            let lo = (t - rest + 1).max(0);
            cells += (hi - lo + 1).max(0) as f64 + 1.0;
        }
    }
    2.0 * cells
}

#[cfg(test)]
mod unit {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Brute-force counts of V over all C(N, m) label assignments of `pooled`.
    fn brute_counts(pooled: &[f64], m: usize) -> Vec<f64> {
        let n = pooled.len() - m;
        let mut counts = vec![0.0; 2 * m * n + 1];
        for mask in 0u32..(1 << pooled.len()) {
            if mask.count_ones() as usize != m {
                continue;
            }
            let mut v = 0;
            let side = |i: usize| mask >> i & 1 == 1;
            for (_, a) in pooled.iter().enumerate().filter(|p| side(p.0)) {
                for (_, b) in pooled.iter().enumerate().filter(|p| !side(p.0)) {
                    v += if a > b { 2 } else { usize::from(a == b) };
                }
            }
            counts[v] += 1.0;
        }
        counts
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / a.abs().max(b.abs())
        }
    }

    #[test]
    fn profile_counts_pairs() {
        // x = {1, 2, 2}, y = {2, 3}: pairs (1,2)=0 (1,3)=0, (2,2)=1 twice, (2,3)=0 -> V = 2.
        let p = RankProfile::new(&[1.0, 2.0, 2.0], &[2.0, 3.0]);
        assert_eq!(p.groups, vec![1, 3, 1]);
        assert_eq!((p.m, p.n, p.v_obs), (3, 2, 2));
        assert!(p.has_ties());
        let r = p.reversed();
        assert_eq!((r.groups.clone(), r.v_obs), (vec![1, 3, 1], 10));
        assert_eq!(r.reversed(), p);
        assert!(!RankProfile::new(&[1.0], &[2.0]).has_ties());
    }

    #[test]
    fn untied_counts_match_brute_force() {
        for m in 1..=7 {
            for n in 1..=7 {
                let pooled: Vec<f64> = (0..m + n).map(|i| i as f64).collect();
                let brute = brute_counts(&pooled, m);
                let full = untied_counts(m, n, m * n);
                for u in 0..=m * n {
                    assert_eq!(full[u], brute[2 * u], "m={m} n={n} u={u}");
                }
                let pmf = untied_pmf(m, n);
                assert!((pmf.iter().sum::<f64>() - 1.0).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn tied_sweep_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..60 {
            let total = rng.gen_range(2..=13);
            let m = rng.gen_range(1..total);
            let levels = 1 + case % 5;
            let mut pooled: Vec<f64> = (0..total)
                .map(|_| rng.gen_range(0..levels) as f64)
                .collect();
            pooled.sort_by(f64::total_cmp);
            let p = RankProfile::new(&pooled[..m], &pooled[m..]);
            let brute = brute_counts(&pooled, m);
            let all: f64 = brute.iter().sum();
            let pmf = tied_pmf(&p.groups, m, total - m);
            let mut cum = 0.0;
            for v in 0..brute.len() {
                assert!(rel(pmf[v], brute[v] / all) < 1e-13, "case {case} v {v}");
                cum += brute[v];
                let got = tied_le(&p.groups, m, total - m, v as i64);
                assert!(
                    rel(got, cum / all) < 1e-12,
                    "case {case} v {v}: {got} vs {}",
                    cum / all
                );
            }
        }
    }

    #[test]
    fn untied_product_agrees_with_sweep() {
        // Two independent algorithms for the same no-ties distribution.
        for &(m, n) in &[(30, 30), (12, 45), (40, 7)] {
            let groups = vec![1; m + n];
            for t in (0..=2 * m * n).step_by(37) {
                let a = untied_le(m, n, (t / 2) as i64);
                let b = tied_le(&groups, m, n, t as i64);
                assert!(rel(a, b) < 1e-12, "m={m} n={n} t={t}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn convolution_of_point_masses_and_uniforms() {
        let pmfs = vec![vec![0.5, 0.5], vec![0.25, 0.5, 0.25], vec![1.0]];
        // Sum distribution: 1/8, 3/8, 3/8, 1/8.
        assert_eq!(convolved_le(&pmfs, -1), 0.0);
        assert_eq!(convolved_le(&pmfs, 0), 0.125);
        assert_eq!(convolved_le(&pmfs, 1), 0.5);
        assert_eq!(convolved_le(&pmfs, 3), 1.0);
        assert_eq!(convolved_le(&pmfs, 10), 1.0);
    }

    #[test]
    fn binomials() {
        assert_eq!(binom_f64(10, 3), 120.0);
        assert_eq!(binom_f64(3, 5), 0.0);
        assert_eq!(binom_row(5, 2), vec![1.0, 5.0, 10.0]);
        assert!((ln_binom(200, 100) - binom_f64(200, 100).ln()).abs() < 1e-10);
    }
}
