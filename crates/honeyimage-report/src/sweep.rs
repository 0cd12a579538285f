//! Power curves: one evaluation per value of a swept parameter (the number
//! of marked samples, the private set's size, the suspects' training
//! length), summarised as how often each method flags the same infringing
//! suspects and how strongly, and as paired differences between HoneyImage
//! and each baseline. The baselines share HoneyImage's candidates and the
//! suspects their seeds, so each infringing suspect of HoneyImage has a twin
//! for every baseline (same architecture, seed and attack); the paired
//! difference with its interval is the comparison the method has to win.
//! A point may pool several evaluations, one per key (protection seed):
//! twins are then paired within each key's evaluation.
//! Plain data, written to `sweep.json` and drawn by [`crate::report::sweep`].
use serde::{Deserialize, Serialize};

use crate::results::{nan_or_f64, nan_or_f64_pair, EvalResults, Stealth, SuspectResult};
use crate::{Method, Role};

/// Confidence level of every interval of a sweep.
pub const LEVEL: f64 = 0.95;

/// A whole sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResults {
    /// The swept parameter's name in the configuration (`count`, `private_size`, `epochs`).
    pub parameter: String,
    /// What it means, for axes and headings.
    pub label: String,
    /// Significance level of the verdicts.
    #[serde(deserialize_with = "nan_or_f64")]
    pub alpha: f64,
    /// The configuration every point shares (the point's value aside).
    pub config: serde_json::Value,
    /// One per value, in the order given.
    pub points: Vec<SweepPoint>,
}

/// What one value of the parameter gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The parameter's value.
    pub value: usize,
    /// The point's run folder (its first key's), relative to the sweep's.
    pub run: String,
    /// Keys (independent protections) pooled at this point.
    #[serde(default = "one")]
    pub keys: usize,
    /// Stealthiness of the HoneyImages at this point.
    pub stealth: Stealth,
    /// One row per (attack, method), plain training (attack "") first.
    pub rows: Vec<PowerRow>,
    /// HoneyImage minus each baseline, per attack.
    pub paired: Vec<PairedRow>,
}

/// How one method's key fares on the infringing suspects of one training
/// recipe (plain, or an attack), and on the clean suspects given the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerRow {
    /// The method.
    pub method: Method,
    /// The attack's label ("": trained plainly).
    pub attack: String,
    /// Infringing suspects with a p-value.
    pub infringing: usize,
    /// Of them, flagged at alpha.
    pub flagged: usize,
    /// `flagged / infringing`.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr: f64,
    /// Wilson interval of the TPR at [`LEVEL`].
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub tpr_ci: (f64, f64),
    /// Median p-value of the infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub median_p: f64,
    /// Clean suspects (same recipe) judged by this method's key.
    pub clean: usize,
    /// Of them, flagged.
    pub clean_flagged: usize,
    /// Mean training accuracy of the infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub train_accuracy: f64,
    /// Mean test accuracy of the infringing suspects.
    #[serde(deserialize_with = "nan_or_f64")]
    pub test_accuracy: f64,
}

/// HoneyImage minus one baseline on the suspects both have (same
/// architecture, seed and attack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedRow {
    /// The attack's label ("": trained plainly).
    pub attack: String,
    /// The baseline subtracted.
    pub baseline: Method,
    /// Pairs.
    pub pairs: usize,
    /// TPR difference at alpha.
    #[serde(deserialize_with = "nan_or_f64")]
    pub tpr_difference: f64,
    /// Newcombe's paired interval of it at [`LEVEL`].
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub tpr_ci: (f64, f64),
    /// Mean paired difference of -log10 p (positive: HoneyImage stronger).
    #[serde(deserialize_with = "nan_or_f64")]
    pub log_p_difference: f64,
    /// Its t interval at [`LEVEL`] (NaN with fewer than two pairs).
    #[serde(deserialize_with = "nan_or_f64_pair")]
    pub log_p_ci: (f64, f64),
}

fn one() -> usize {
    1
}

/// -log10 p, capped where p underflows to 0 (the exact test never returns
/// 0, but a stored result might).
fn strength(p: f64) -> f64 {
    -p.max(1e-300).log10()
}

fn mean(x: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = x.filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The main key's judgements of one method on one recipe, with a p-value.
fn judged<'a>(r: &'a EvalResults, method: Method, attack: &'a str, clean: bool) -> impl Iterator<Item = &'a SuspectResult> + 'a {
    judged_in(std::slice::from_ref(r), method, attack, clean)
}

/// [`judged`] over several evaluations (a point's keys).
fn judged_in<'a>(rs: &'a [EvalResults], method: Method, attack: &'a str, clean: bool) -> impl Iterator<Item = &'a SuspectResult> + 'a {
    rs.iter().flat_map(|r| &r.suspects).filter(move |s| {
        s.is_main_key() && s.method == method && s.attack == attack && s.p_value.is_finite() && (if clean { s.role.is_clean() } else { s.role == Role::Infringing })
    })
}

fn power_row(r: &[EvalResults], method: Method, attack: &str) -> Option<PowerRow> {
    let inf: Vec<&SuspectResult> = judged_in(r, method, attack, false).collect();
    if inf.is_empty() {
        return None;
    }
    let flagged = inf.iter().filter(|s| s.verdict).count();
    let ps: Vec<f64> = inf.iter().map(|s| s.p_value).collect();
    let clean: Vec<&SuspectResult> = judged_in(r, method, attack, true).collect();
    Some(PowerRow {
        method,
        attack: attack.to_string(),
        infringing: inf.len(),
        flagged,
        tpr: flagged as f64 / inf.len() as f64,
        tpr_ci: honeyimage_stats::wilson_ci(flagged as u64, inf.len() as u64, LEVEL).unwrap_or((f64::NAN, f64::NAN)),
        median_p: honeyimage_stats::median(&ps),
        clean: clean.len(),
        clean_flagged: clean.iter().filter(|s| s.verdict).count(),
        train_accuracy: mean(inf.iter().map(|s| s.train_accuracy)),
        test_accuracy: mean(inf.iter().map(|s| s.test_accuracy)),
    })
}

/// The (HoneyImage, baseline) twins of one recipe: same architecture and seed.
fn twins<'a>(r: &'a EvalResults, baseline: Method, attack: &'a str) -> Vec<(&'a SuspectResult, &'a SuspectResult)> {
    judged(r, Method::HoneyImage, attack, false)
        .filter_map(|h| judged(r, baseline, attack, false).find(|b| b.arch == h.arch && b.seed == h.seed).map(|b| (h, b)))
        .collect()
}

fn paired_row(r: &[EvalResults], baseline: Method, attack: &str) -> Option<PairedRow> {
    let pairs: Vec<_> = r.iter().flat_map(|k| twins(k, baseline, attack)).collect();
    if pairs.is_empty() {
        return None;
    }
    let (hv, bv): (Vec<bool>, Vec<bool>) = pairs.iter().map(|(h, b)| (h.verdict, b.verdict)).unzip();
    let (hs, bs): (Vec<f64>, Vec<f64>) = pairs.iter().map(|(h, b)| (strength(h.p_value), strength(b.p_value))).unzip();
    let tpr = honeyimage_stats::paired_rate_difference(&hv, &bv, LEVEL).ok()?;
    // The interval needs two pairs; the difference is there with one.
    let log_p = honeyimage_stats::paired_mean_difference(&hs, &bs, LEVEL).ok();
    let log_p_difference = log_p.map_or_else(|| hs[0] - bs[0], |d| d.difference);
    Some(PairedRow {
        attack: attack.to_string(),
        baseline,
        pairs: pairs.len(),
        tpr_difference: tpr.difference,
        tpr_ci: (tpr.lower, tpr.upper),
        log_p_difference,
        log_p_ci: log_p.map_or((f64::NAN, f64::NAN), |d| (d.lower, d.upper)),
    })
}

/// The distinct items, in the order first seen.
fn first_seen<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// The recipes of a run: plain training, then each attack in the order the
/// configuration lists them.
fn recipes(r: &EvalResults) -> Vec<String> {
    first_seen(std::iter::once(String::new()).chain(r.suspects.iter().map(|s| s.attack.clone())))
}

/// Summarises one point's evaluations, one per key (at least one): each
/// method's suspects pooled over the keys, twins paired within a key.
/// The stealth is the first key's.
pub fn summarise_point(value: usize, run: String, keys: &[EvalResults]) -> SweepPoint {
    let methods: Vec<Method> = first_seen(keys.iter().flat_map(|k| &k.methods).map(|m| m.method));
    let recipes = first_seen(keys.iter().flat_map(recipes));
    let rows = recipes.iter().flat_map(|a| methods.iter().filter_map(move |&m| power_row(keys, m, a))).collect();
    let paired = recipes
        .iter()
        .flat_map(|a| methods.iter().filter(|&&m| m != Method::HoneyImage).filter_map(move |&m| paired_row(keys, m, a)))
        .collect();
    let stealth = keys.first().map(|k| k.stealth.clone()).expect("a point has at least one key");
    SweepPoint { value, run, keys: keys.len(), stealth, rows, paired }
}

impl SweepResults {
    /// Every recipe of the sweep (plain first), in the order first seen.
    pub fn recipes(&self) -> Vec<String> {
        first_seen(self.points.iter().flat_map(|p| &p.rows).map(|r| r.attack.clone()))
    }

    /// Every method of the sweep, HoneyImage first.
    pub fn methods(&self) -> Vec<Method> {
        first_seen(self.points.iter().flat_map(|p| &p.rows).map(|r| r.method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{results, suspect};

    fn s(method: Method, role: Role, seed: u64, p: f64, attack: &str) -> SuspectResult {
        SuspectResult { seed, p_value: p, verdict: p < 0.001, attack: attack.into(), train_accuracy: 0.9, ..suspect(&format!("{method}/{role}/{seed}/{attack}"), method, role, p < 0.001) }
    }

    fn run() -> EvalResults {
        let (h, u) = (Method::HoneyImage, Method::HardUnperturbed);
        let mut r = results(vec![
            s(h, Role::Infringing, 0, 1e-6, ""),
            s(h, Role::Infringing, 1, 1e-5, ""),
            s(u, Role::Infringing, 0, 1e-4, ""),
            s(u, Role::Infringing, 1, 1e-2, ""),
            s(h, Role::CleanDisjoint, 0, 0.5, ""),
            s(u, Role::CleanDisjoint, 0, 0.0001, ""),
            s(h, Role::Infringing, 0, 1e-3, "crop2-flip"),
            s(u, Role::Infringing, 0, 1e-2, "crop2-flip"),
            // A suspect of another key never counts.
            SuspectResult { key: 1, ..s(h, Role::Infringing, 2, 1e-9, "") },
        ]);
        r.methods = vec![crate::testutil::summary(h), crate::testutil::summary(u)];
        r
    }

    #[test]
    fn rows_count_the_main_keys_suspects_per_recipe() {
        let p = summarise_point(50, "points/count-50".into(), &[run()]);
        let plain_h = &p.rows[0];
        assert_eq!((plain_h.method, plain_h.attack.as_str(), plain_h.infringing, plain_h.flagged, plain_h.clean, plain_h.clean_flagged), (Method::HoneyImage, "", 2, 2, 1, 0));
        assert!((plain_h.median_p - 5.5e-6).abs() < 1e-12 && plain_h.tpr == 1.0 && plain_h.tpr_ci.0 < 1.0);
        let plain_u = &p.rows[1];
        assert_eq!((plain_u.flagged, plain_u.clean_flagged), (1, 1));
        assert_eq!(p.rows.len(), 4);
        assert_eq!((p.rows[2].attack.as_str(), p.rows[2].infringing), ("crop2-flip", 1));
    }

    #[test]
    fn paired_rows_subtract_the_twin_of_each_suspect() {
        let p = summarise_point(50, "x".into(), &[run()]);
        let plain = &p.paired[0];
        assert_eq!((plain.baseline, plain.pairs, plain.attack.as_str()), (Method::HardUnperturbed, 2, ""));
        assert!((plain.tpr_difference - 0.5).abs() < 1e-12 && plain.tpr_ci.0 < 0.5 && plain.tpr_ci.1 > 0.5);
        // -log10: (6 - 4 + 5 - 2) / 2 = 2.5.
        assert!((plain.log_p_difference - 2.5).abs() < 1e-9, "{plain:?}");
        let aug = &p.paired[1];
        assert_eq!(aug.pairs, 1);
        assert!((aug.log_p_difference - 1.0).abs() < 1e-9 && aug.log_p_ci.0.is_nan());
    }

    #[test]
    fn keys_pool_their_suspects_and_pair_twins_only_within_a_key() {
        let (h, u) = (Method::HoneyImage, Method::HardUnperturbed);
        let mut other = results(vec![s(h, Role::Infringing, 0, 1e-2, ""), s(u, Role::Infringing, 0, 1e-6, ""), s(h, Role::CleanDisjoint, 0, 1e-4, "")]);
        other.methods = vec![crate::testutil::summary(h), crate::testutil::summary(u)];
        let p = summarise_point(50, "points/count-50".into(), &[run(), other]);
        assert_eq!(p.keys, 2);
        let plain_h = &p.rows[0];
        assert_eq!((plain_h.infringing, plain_h.flagged, plain_h.clean, plain_h.clean_flagged), (3, 2, 2, 1));
        let plain = &p.paired[0];
        // Key 0: +2 and +3; key 1: 2 - 6 = -4. Crossing keys would pair
        // key 0's HoneyImage seed 0 with key 1's baseline seed 0.
        assert_eq!(plain.pairs, 3);
        assert!((plain.log_p_difference - 1.0 / 3.0).abs() < 1e-9, "{plain:?}");
        assert!((plain.tpr_difference - 0.0).abs() < 1e-12, "{plain:?}");
    }

    #[test]
    fn a_sweep_round_trips_through_json_with_nan() {
        let sweep = SweepResults { parameter: "count".into(), label: "N".into(), alpha: 0.001, config: serde_json::json!({}), points: vec![summarise_point(10, "x".into(), &[run()])] };
        let back: SweepResults = serde_json::from_str(&serde_json::to_string(&sweep).unwrap()).unwrap();
        assert_eq!(back.points[0].rows, sweep.points[0].rows);
        assert!(back.points[0].paired[1].log_p_ci.0.is_nan());
        assert_eq!(back.methods(), vec![Method::HoneyImage, Method::HardUnperturbed]);
        assert_eq!(back.recipes(), vec![String::new(), "crop2-flip".to_string()]);
    }
}
