//! From the judged suspects to the results: per-method detection quality
//! (AUROC with a bootstrap interval, TPR/TNR at the decision rule, TPR at low
//! FPR, the paper's tau rule), harmlessness (paired accuracy drop),
//! stealthiness of the HoneyImages and the training-length curve.
use honeyimage_report::results::{AttackSummary, CalibratedSummary, CurvePoint, MethodCurve, Removed, EpochPoint, Example, FprAt, KeyLevel, KeyPopulation, MethodSummary, Stealth, SuspectResult};
use honeyimage_report::{Method, Role};

use crate::config::EvalConfig;
use crate::key::KeyBody;
use crate::Result;

/// The paper's tau rule over one method's suspects.
struct TauSummary {
    auroc: Option<f64>,
    tau: Option<f64>,
    tpr: Option<f64>,
    tnr: Option<f64>,
    roc: Vec<honeyimage_stats::RocPoint>,
}

fn tau_summary(pos: &[&SuspectResult], neg: &[&SuspectResult], fpr: f64) -> Result<TauSummary> {
    let p: Vec<f64> = pos.iter().map(|s| s.tau_score).filter(|x| x.is_finite()).collect();
    let n: Vec<f64> = neg.iter().map(|s| s.tau_score).filter(|x| x.is_finite()).collect();
    if p.is_empty() || n.is_empty() {
        return Ok(TauSummary { auroc: None, tau: None, tpr: None, tnr: None, roc: vec![] });
    }
    let tau = honeyimage_stats::calibrate_threshold(&n, fpr)?;
    Ok(TauSummary {
        auroc: Some(honeyimage_stats::auroc(&p, &n)?),
        tau: Some(tau),
        tpr: Some(p.iter().filter(|&&x| x > tau).count() as f64 / p.len() as f64),
        tnr: leave_one_out_tnr(&n, fpr)?,
        roc: honeyimage_stats::roc_curve(&p, &n)?,
    })
}

/// TNR of the tau rule with each clean model judged by a tau calibrated on
/// the other clean models only (calibrating on the model being scored would
/// make the TNR optimistic). None with fewer than two clean models.
fn leave_one_out_tnr(clean: &[f64], fpr: f64) -> Result<Option<f64>> {
    if clean.len() < 2 {
        return Ok(None);
    }
    let mut kept = 0usize;
    for i in 0..clean.len() {
        let others: Vec<f64> = clean.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &v)| v).collect();
        kept += usize::from(clean[i] <= honeyimage_stats::calibrate_threshold(&others, fpr)?);
    }
    Ok(Some(kept as f64 / clean.len() as f64))
}

/// Accuracy drops (points) of infringing suspects against the same
/// architecture and seed trained on the original data.
fn accuracy_drops(pos: &[&SuspectResult], mine: &[&SuspectResult]) -> Vec<f64> {
    pos.iter()
        .filter_map(|s| mine.iter().find(|o| o.role == Role::Original && o.arch == s.arch && o.seed == s.seed).map(|o| 100.0 * (o.test_accuracy - s.test_accuracy)))
        .collect()
}

/// Detection quality and harmlessness of one method.
pub fn summarise_method(m: Method, suspects: &[SuspectResult], config: &EvalConfig) -> Result<MethodSummary> {
    let mine: Vec<&SuspectResult> = suspects.iter().filter(|s| s.method == m && s.key == 0 && s.attack.is_empty()).collect();
    let pos: Vec<&SuspectResult> = mine.iter().copied().filter(|s| s.role.is_infringing()).collect();
    let neg: Vec<&SuspectResult> = mine.iter().copied().filter(|s| s.role.is_clean()).collect();
    let ps: Vec<f64> = pos.iter().map(|s| s.statistic).collect();
    let ns: Vec<f64> = neg.iter().map(|s| s.statistic).collect();
    let have = !ps.is_empty() && !ns.is_empty();
    let frac = |v: &[&SuspectResult], f: &dyn Fn(&SuspectResult) -> bool| v.iter().filter(|s| f(s)).count() as f64 / v.len().max(1) as f64;
    let at = |fpr: f64| -> Result<Option<f64>> { Ok(if have { honeyimage_stats::tpr_at_fpr(&ps, &ns, fpr)?.map(|x| x.0) } else { None }) };
    let tau = tau_summary(&pos, &neg, config.tau_fpr)?;
    let drops = accuracy_drops(&pos, &mine);
    Ok(MethodSummary {
        calibrated: calibrated_summary(&pos, &neg, config.alpha),
        method: m,
        n_infringing: pos.len(),
        n_clean: neg.len(),
        auroc: if have { honeyimage_stats::auroc(&ps, &ns)? } else { f64::NAN },
        auroc_ci: if have { honeyimage_stats::auroc_bootstrap_ci(&ps, &ns, 2000, 0.95, config.seed)? } else { (f64::NAN, f64::NAN) },
        tpr: frac(&pos, &|s| s.verdict),
        tnr: frac(&neg, &|s| !s.verdict),
        tpr_at_1pct_fpr: at(0.01)?,
        tpr_at_01pct_fpr: at(0.001)?,
        roc: if have { honeyimage_stats::roc_curve(&ps, &ns)? } else { vec![] },
        tau_auroc: tau.auroc,
        tau: tau.tau,
        tau_tpr: tau.tpr,
        tau_tnr: tau.tnr,
        tau_roc: tau.roc,
        infringing_test_accuracy: pos.iter().map(|s| s.test_accuracy).sum::<f64>() / pos.len().max(1) as f64,
        accuracy_drop_points: (!drops.is_empty()).then(|| drops.iter().sum::<f64>() / drops.len() as f64),
        accuracy_drop_ci95: honeyimage_stats::mean_t_interval(&drops, 0.95).ok(),
        accuracy_drop_pairs: drops.len(),
    })
}

/// The calibrated test over the suspects that have its p-value (None: none has).
fn calibrated_summary(pos: &[&SuspectResult], neg: &[&SuspectResult], alpha: f64) -> Option<CalibratedSummary> {
    let p: Vec<f64> = pos.iter().filter_map(|s| s.calibrated_p).collect();
    let n: Vec<f64> = neg.iter().filter_map(|s| s.calibrated_p).collect();
    if p.is_empty() && n.is_empty() {
        return None;
    }
    let tpr = if p.is_empty() { f64::NAN } else { p.iter().filter(|&&x| x < alpha).count() as f64 / p.len() as f64 };
    Some(CalibratedSummary { infringing: p.len(), tpr, median_p: median(p), clean: n.len(), clean_flagged: n.iter().filter(|&&x| x < alpha).count() })
}

/// Stealthiness of the key's HoneyImages (R and W), with LPIPS when weights are given.
pub fn stealth(k: &KeyBody, lpips_weights: Option<&std::path::Path>) -> Result<Stealth> {
    let d = &k.dataset;
    let samples: Vec<_> = k.released.iter().chain(&k.withheld).collect();
    let sim = crate::protect::similarity(samples.iter().map(|s| (&s.original.0[..], &s.honey.0[..])), d.height, d.width, d.channels);
    let lpips_stl = match lpips_weights {
        Some(p) => {
            let net = crate::lpips::Lpips::load(p, crate::default_device())?;
            let a: Vec<u8> = samples.iter().flat_map(|s| s.original.0.iter().copied()).collect();
            let b: Vec<u8> = samples.iter().flat_map(|s| s.honey.0.iter().copied()).collect();
            let dist = net.distance(&a, &b, samples.len(), d.height, d.width, d.channels)?;
            Some(1.0 - dist.iter().sum::<f64>() / dist.len() as f64)
        }
        None => None,
    };
    Ok(Stealth { ssim_mean: sim.ssim_mean, ssim_min: sim.ssim_min, psnr_mean: sim.psnr_mean, linf_max: sim.linf_max, lpips_stl })
}

/// One released HoneyImage per class, for the report's grid.
pub fn examples(k: &KeyBody) -> Vec<Example> {
    k.dataset
        .class_names
        .iter()
        .enumerate()
        .filter_map(|(ci, name)| {
            k.released.iter().find(|s| s.label as usize == ci).map(|s| Example {
                class_name: name.clone(),
                height: k.dataset.height,
                width: k.dataset.width,
                channels: k.dataset.channels,
                original: s.original.0.clone(),
                honey: s.honey.0.clone(),
            })
        })
        .collect()
}

/// Whether a suspect is one of the clean models judged by every key.
fn clean_for_keys(s: &SuspectResult) -> bool {
    s.method == Method::HoneyImage && (s.role.is_clean() || s.role == Role::Original) && s.attack.is_empty()
}

/// Pooled rate of p < alpha over the pairs of the keys in `keys`.
fn pooled_rate(by_key: &[Vec<f64>], keys: &[usize], alpha: f64) -> f64 {
    let (hit, n) = keys.iter().fold((0usize, 0usize), |(h, n), &k| (h + by_key[k].iter().filter(|&&p| p < alpha).count(), n + by_key[k].len()));
    hit as f64 / n.max(1) as f64
}

/// 95% percentile bootstrap interval of the pooled rate, resampling keys.
fn key_bootstrap(by_key: &[Vec<f64>], alpha: f64, seed: u64) -> (f64, f64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xb007);
    let k = by_key.len();
    let mut rates: Vec<f64> = (0..2000).map(|_| pooled_rate(by_key, &(0..k).map(|_| rng.gen_range(0..k)).collect::<Vec<_>>(), alpha)).collect();
    rates.sort_by(f64::total_cmp);
    (rates[49], rates[1949])
}

/// The clean model a key-`j` result judged: its name without the `@kJ` suffix.
fn model_of(s: &SuspectResult) -> &str {
    s.name.split_once('@').map_or(s.name.as_str(), |(m, _)| m)
}

/// One p-value per key (key j with the j-th clean model, cyclically) against
/// uniform, and the share of the variance of the p-values between keys.
fn key_level(by_key: &[Vec<(String, f64)>]) -> Result<Option<KeyLevel>> {
    let mut models: Vec<&str> = by_key.iter().flatten().map(|(m, _)| m.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    if models.is_empty() || by_key.len() < 2 {
        return Ok(None);
    }
    let mut diagonal: Vec<f64> = (0..by_key.len())
        .filter_map(|j| by_key[j].iter().find(|(m, _)| m == models[j % models.len()]).map(|&(_, p)| p))
        .collect();
    diagonal.sort_by(f64::total_cmp);
    let (ks_d, ks_p) = honeyimage_stats::ks_uniform(&diagonal)?;
    let groups: Vec<Vec<f64>> = by_key.iter().map(|g| g.iter().map(|&(_, p)| p).collect()).collect();
    Ok(Some(KeyLevel { n: diagonal.len(), models_reused: by_key.len() > models.len(), ks_d, ks_p, between_key_share: between_share(&groups) }))
}

/// One-way random-effects share of variance between groups (ANOVA
/// estimator of the intraclass correlation, clipped to [0, 1]); NaN when
/// it cannot be estimated.
pub fn between_share(groups: &[Vec<f64>]) -> f64 {
    let groups: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let (k, n) = (groups.len() as f64, groups.iter().map(|g| g.len()).sum::<usize>() as f64);
    if k < 2.0 || n <= k {
        return f64::NAN;
    }
    let mean = |g: &[f64]| g.iter().sum::<f64>() / g.len() as f64;
    let grand = groups.iter().flat_map(|g| g.iter()).sum::<f64>() / n;
    let ss_between: f64 = groups.iter().map(|g| g.len() as f64 * (mean(g) - grand).powi(2)).sum();
    let ss_within: f64 = groups.iter().map(|g| { let m = mean(g); g.iter().map(|x| (x - m).powi(2)).sum::<f64>() }).sum();
    let (ms_b, ms_w) = (ss_between / (k - 1.0), ss_within / (n - k));
    let n0 = (n - groups.iter().map(|g| (g.len() as f64).powi(2)).sum::<f64>() / n) / (k - 1.0);
    let var_b = ((ms_b - ms_w) / n0).max(0.0);
    if var_b + ms_w > 0.0 { (var_b / (var_b + ms_w)).clamp(0.0, 1.0) } else { f64::NAN }
}

/// The clean p-values over every (key, clean model) pair, against uniform.
pub fn key_population(suspects: &[SuspectResult], keys: usize, seed: u64) -> Result<Option<KeyPopulation>> {
    let clean: Vec<&SuspectResult> = suspects.iter().filter(|s| clean_for_keys(s) && s.p_value.is_finite()).collect();
    if clean.is_empty() {
        return Ok(None);
    }
    let mut named = vec![Vec::new(); keys];
    clean.iter().filter(|s| s.key < keys).for_each(|s| named[s.key].push((model_of(s).to_string(), s.p_value)));
    let by_key: Vec<Vec<f64>> = named.iter().map(|g| g.iter().map(|&(_, p)| p).collect()).collect();
    let mut all: Vec<f64> = by_key.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let (ks_d, ks_p) = honeyimage_stats::ks_uniform(&all)?;
    let fpr = [0.05, 0.01, 0.001]
        .into_iter()
        .map(|alpha| -> Result<FprAt> {
            let flagged = all.iter().filter(|&&p| p < alpha).count();
            Ok(FprAt {
                alpha,
                flagged,
                rate: flagged as f64 / all.len() as f64,
                ci95: honeyimage_stats::binomial_ci(flagged as u64, all.len() as u64, 0.95)?,
                key_bootstrap_ci95: key_bootstrap(&by_key, alpha, seed),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let key_level = key_level(&named)?;
    Ok(Some(KeyPopulation { keys, clean_models: by_key[0].len(), pairs: all.len(), ks_d, ks_p, fpr, clean_p_values: all, key_level }))
}

/// Mean of the values, NaN when empty.
fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = v.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// One method against one attack.
fn attack_summary(attack: &crate::config::Attack, m: Method, suspects: &[SuspectResult], alpha: f64, classes: usize) -> Result<AttackSummary> {
    let label = attack.label();
    let rows: Vec<&SuspectResult> = suspects.iter().filter(|s| s.method == m && s.attack == label && s.key == 0).collect();
    // Unjudged rows (a watermark behind a label-only API) count nowhere.
    let pos: Vec<&SuspectResult> = rows.iter().copied().filter(|s| s.role.is_infringing() && s.p_value.is_finite()).collect();
    let neg: Vec<&SuspectResult> = rows.iter().copied().filter(|s| s.role.is_clean() && s.p_value.is_finite()).collect();
    let tpr = |a: f64| if pos.is_empty() { f64::NAN } else { pos.iter().filter(|s| s.p_value < a).count() as f64 / pos.len() as f64 };
    let (ps, ns): (Vec<f64>, Vec<f64>) = (pos.iter().map(|s| s.statistic).filter(|x| x.is_finite()).collect(), neg.iter().map(|s| s.statistic).filter(|x| x.is_finite()).collect());
    let base_name = |s: &SuspectResult| s.name.trim_end_matches(&format!("/{label}")).to_string();
    let base_acc = pos.iter().filter_map(|s| suspects.iter().find(|b| b.key == 0 && b.attack.is_empty() && b.method == m && b.name == base_name(s)).map(|b| b.test_accuracy));
    let removed: Vec<Removed> = pos.iter().filter_map(|s| s.removed).collect();
    Ok(AttackSummary {
        calibrated: calibrated_summary(&pos, &neg, alpha),
        attack: label.clone(),
        family: attack.family().as_str().to_string(),
        method: m,
        label_only: matches!(attack, crate::config::Attack::LabelsOnly) || matches!(attack, crate::config::Attack::TopK { k, .. } if *k < classes),
        infringing: pos.len(),
        tpr_001: tpr(0.001),
        tpr_01: tpr(0.01),
        median_p: median(pos.iter().map(|s| s.p_value).filter(|p| p.is_finite()).collect()),
        auroc: if ps.is_empty() || ns.is_empty() { f64::NAN } else { honeyimage_stats::auroc(&ps, &ns)? },
        clean: neg.len(),
        clean_flagged: neg.iter().filter(|s| s.p_value < alpha).count(),
        test_accuracy: mean(pos.iter().map(|s| s.test_accuracy)),
        base_test_accuracy: mean(base_acc),
        removed: (!removed.is_empty()).then(|| Removed { all: mean(removed.iter().map(|r| r.all)), marked: mean(removed.iter().map(|r| r.marked)) }),
    })
}

/// The robustness table: every attack against every method.
pub fn robustness(suspects: &[SuspectResult], config: &EvalConfig, methods: &[Method], classes: usize) -> Result<Vec<AttackSummary>> {
    let mut out = Vec::new();
    for attack in &config.attacks {
        for &m in methods {
            out.push(attack_summary(attack, m, suspects, config.alpha, classes)?);
        }
    }
    Ok(out)
}

/// The median (upper middle for even counts), NaN when empty.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// AUROC and median p of one method's suspects at one training length.
fn curve_point(honey: &[&SuspectResult], epoch: usize) -> Option<CurvePoint> {
    let at = |s: &&&SuspectResult| s.curve.iter().find(|p| p.epoch == epoch).cloned();
    let pos: Vec<EpochPoint> = honey.iter().filter(|s| s.role.is_infringing()).filter_map(|s| at(&s)).collect();
    let neg: Vec<EpochPoint> = honey.iter().filter(|s| s.role.is_clean()).filter_map(|s| at(&s)).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let st = |p: &EpochPoint| -p.p_value.max(1e-300).log10();
    let auroc = honeyimage_stats::auroc(&pos.iter().map(st).collect::<Vec<_>>(), &neg.iter().map(st).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    Some(CurvePoint {
        epoch,
        auroc,
        median_p_infringing: median(pos.iter().map(|p| p.p_value).collect()),
        median_p_clean: median(neg.iter().map(|p| p.p_value).collect()),
        mean_train_accuracy: pos.iter().map(|p| p.train_accuracy).sum::<f64>() / pos.len() as f64,
    })
}

/// Verification power against training length: `method`'s unattacked
/// suspects (infringing and clean) judged by its main key.
pub fn curve_points(suspects: &[SuspectResult], config: &EvalConfig, method: Method) -> Vec<CurvePoint> {
    let mut epochs: Vec<usize> = config.curve_epochs.iter().copied().filter(|&e| e < config.suspect_train.epochs).collect();
    epochs.push(config.suspect_train.epochs);
    let judged: Vec<&SuspectResult> = suspects.iter().filter(|s| s.method == method && s.key == 0 && s.attack.is_empty()).collect();
    epochs.into_iter().filter_map(|e| curve_point(&judged, e)).collect()
}

/// [`curve_points`] of every method that has any (HoneyImage first).
pub fn method_curves(suspects: &[SuspectResult], config: &EvalConfig, methods: &[Method]) -> Vec<MethodCurve> {
    methods.iter().map(|&method| MethodCurve { method, points: curve_points(suspects, config, method) }).filter(|c| !c.points.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_upper_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn the_calibrated_test_is_summarised_over_the_suspects_it_judged() {
        let s = |role: Role, p: Option<f64>| SuspectResult { calibrated_p: p, ..SuspectResult::unjudged("x".into(), Method::HoneyImage, role, "small-cnn".into()) };
        let (a, b, c) = (s(Role::Infringing, Some(1e-4)), s(Role::Infringing, Some(0.02)), s(Role::Infringing, None));
        let (d, e) = (s(Role::CleanDisjoint, Some(5e-4)), s(Role::CleanDisjoint, Some(0.3)));
        let c = calibrated_summary(&[&a, &b, &c], &[&d, &e], 0.001).unwrap();
        assert_eq!((c.infringing, c.tpr, c.median_p, c.clean, c.clean_flagged), (2, 0.5, 0.02, 2, 1));
        assert_eq!(c.tnr(), 0.5);
        assert_eq!(calibrated_summary(&[&s(Role::Infringing, None)], &[], 0.001), None, "no suspect judged: no summary");
    }

    #[test]
    fn between_share_separates_key_effects_from_noise() {
        // Groups that differ only in their means: all variance is between.
        assert!((between_share(&[vec![0.1, 0.1], vec![0.9, 0.9]]) - 1.0).abs() < 1e-12);
        // Equal group means: none is.
        assert_eq!(between_share(&[vec![0.1, 0.9], vec![0.9, 0.1]]), 0.0);
        // Balanced one-way ANOVA by hand: MSB = 2*(0.2^2+0.2^2)/1 = 0.16,
        // MSW = (0.02+0.02)/2 = 0.02, var_b = (0.16-0.02)/2 = 0.07.
        let s = between_share(&[vec![0.2, 0.4], vec![0.6, 0.8]]);
        assert!((s - 0.07 / 0.09).abs() < 1e-12, "{s}");
        assert!(between_share(&[vec![0.5]]).is_nan());
    }

    #[test]
    fn every_method_with_a_key_gets_its_own_training_length_curve() {
        let config = EvalConfig { curve_epochs: vec![5], suspect_train: crate::config::TrainConfig { epochs: 10, ..Default::default() }, ..EvalConfig::default() };
        let at = |pairs: &[(usize, f64)]| pairs.iter().map(|&(epoch, p_value)| EpochPoint { epoch, p_value, tau_score: 0.0, train_accuracy: 0.9 }).collect::<Vec<_>>();
        let s = |m: Method, role: Role, name: &str, curve: &[(usize, f64)]| SuspectResult { curve: at(curve), ..SuspectResult::unjudged(name.into(), m, role, "small-cnn".into()) };
        let (h, u) = (Method::HoneyImage, Method::HardUnperturbed);
        let suspects = vec![
            s(h, Role::Infringing, "h-inf", &[(5, 1e-3), (10, 1e-8)]),
            s(h, Role::CleanDisjoint, "h-clean", &[(5, 0.5), (10, 0.4)]),
            s(u, Role::Infringing, "u-inf", &[(5, 0.2), (10, 1e-4)]),
            s(u, Role::CleanDisjoint, "u-clean", &[(5, 0.3), (10, 0.6)]),
            // An attacked suspect never enters a curve.
            SuspectResult { attack: "crop2-flip".into(), ..s(u, Role::Infringing, "u-att", &[(10, 1e-30)]) },
        ];
        let curves = method_curves(&suspects, &config, &[h, u, Method::BadNets]);
        assert_eq!(curves.iter().map(|c| c.method).collect::<Vec<_>>(), vec![h, u], "BadNets has no curve");
        let u5 = &curves[1].points[0];
        assert_eq!((u5.epoch, u5.median_p_infringing, u5.median_p_clean), (5, 0.2, 0.3));
        assert_eq!(curves[1].points[1].median_p_infringing, 1e-4);
        let h10 = &curves[0].points[1];
        assert_eq!((h10.epoch, h10.median_p_infringing, h10.auroc), (10, 1e-8, 1.0));
        assert_eq!(curve_points(&suspects, &config, h).len(), curves[0].points.len());
    }

    #[test]
    fn key_level_takes_one_model_per_key() {
        let keyed = |m: &str, p: f64| (m.to_string(), p);
        // Model a always gets p 0.01, model b 0.5, model c 0.9: the
        // diagonal must use a for key 0, b for key 1, c for key 2, a again.
        let by_key: Vec<Vec<(String, f64)>> = (0..4).map(|_| vec![keyed("a", 0.01), keyed("b", 0.5), keyed("c", 0.9)]).collect();
        let kl = key_level(&by_key).unwrap().unwrap();
        assert_eq!(kl.n, 4);
        assert!(kl.models_reused);
        // Sorted diagonal: 0.01, 0.01, 0.5, 0.9 -> D = max(2/4 - 0.01, ...) = 0.49.
        assert!((kl.ks_d - 0.49).abs() < 1e-12, "{}", kl.ks_d);
        assert_eq!(kl.between_key_share, 0.0);
        assert_eq!(model_of(&SuspectResult::unjudged("honeyimage/clean-disjoint/x/s0@k3".into(), Method::HoneyImage, Role::CleanDisjoint, "x".into())), "honeyimage/clean-disjoint/x/s0");
    }
}
