//! `verify` against simulated suspects (no training): under H0 (a suspect
//! whose answers do not depend on membership in R) the p-values are
//! uniform and the rejection rate at alpha is alpha, also for a suspect
//! whose answers depend on the batch they come in; under H1 the power
//! rises with the gap; logits keep losses exact where an f32 softmax would
//! round them to 0; label-only answers work only with `--label-only`; the
//! calibrated test (loss minus the key's proxy loss) stays exact over
//! random splits and gains power where images differ in difficulty.
use std::collections::HashMap;

use honeyimage::config::VerifyConfig;
use honeyimage::key::{Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo, RwSplit};
use honeyimage::protect::ProtectConfig;
use honeyimage::query::{Answer, Oracle, OutputKind};
use honeyimage::verify::{calibrated_p, verify, Tta};
use honeyimage::Result;

const CLASSES: usize = 3;

/// A key with `n` released and `n` withheld 4x4 grey samples, each with
/// distinct pixels.
fn key(n: usize) -> KeyBody {
    let s = |i: usize| KeySample {
        id: format!("train:{i:05}"),
        index: i,
        label: (i % CLASSES) as u32,
        hardness: 3.0,
        proxy_loss: 2.0,
        honey: Bytes((0..16).map(|j| ((i * 16 + j) % 251) as u8 ^ (i / 251) as u8).collect()),
        original: Bytes(vec![0; 16]),
    };
    KeyBody {
        tool_version: "test".into(),
        params: ProtectConfig::default(),
        split: RwSplit::ClassBlind,
        commitment_nonce: String::new(),
        dataset: DatasetInfo {
            format: "idx".into(),
            split: "train".into(),
            source: "/data".into(),
            samples: 4 * n,
            height: 4,
            width: 4,
            channels: 1,
            class_names: (0..CLASSES).map(|c| c.to_string()).collect(),
            fingerprint: "00".into(),
        },
        release: ReleaseInfo { samples: 3 * n, fingerprint: "ff".into() },
        released: (0..n).map(s).collect(),
        withheld: (n..2 * n).map(s).collect(),
        summary: serde_json::json!({}),
        recipient: None,
    }
}

/// A deterministic pseudo-random number in [0, 1) from a seed and bytes.
fn hash01(seed: u64, bytes: &[u8], salt: u64) -> f64 {
    let mut h = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        h ^= h >> 29;
    }
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// What the simulated suspect answers with.
#[derive(Clone, Copy)]
enum Form {
    Logits,
    Labels,
    /// Logits shifted by a per-call offset on the true class: answers
    /// depend on which call (batch) an image comes in.
    BatchDependent,
}

/// A suspect whose answers are a function of the image (and, for
/// `BatchDependent`, of the call), plus `gap` on the true class of the
/// images in `members` (a model that fitted them).
struct Fake {
    seed: u64,
    labels: HashMap<Vec<u8>, u32>,
    members: HashMap<Vec<u8>, ()>,
    gap: f64,
    form: Form,
    calls: usize,
}

impl Fake {
    fn new(k: &KeyBody, seed: u64, gap: f64, form: Form) -> Fake {
        let all = k.released.iter().chain(&k.withheld);
        Fake {
            seed,
            labels: all.map(|s| (s.honey.0.clone(), s.label)).collect(),
            members: k.released.iter().map(|s| (s.honey.0.clone(), ())).collect(),
            gap,
            form,
            calls: 0,
        }
    }

    /// (Images that are not the key's, such as test-time views, get no gap.)
    fn logits(&self, img: &[u8]) -> Vec<f64> {
        let y = self.labels.get(img).map(|&y| y as usize);
        (0..CLASSES)
            .map(|c| {
                let base = 3.0 * hash01(self.seed, img, c as u64);
                base + if Some(c) == y && self.members.contains_key(img) { self.gap } else { 0.0 }
            })
            .collect()
    }
}

impl Oracle for Fake {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        self.calls += 1;
        let len = h * w * c;
        let mut rows: Vec<Vec<f64>> = (0..n).map(|i| self.logits(&images[i * len..(i + 1) * len])).collect();
        Ok(match self.form {
            Form::Logits => Answer::Scores { rows, kind: OutputKind::Logits },
            Form::Labels => Answer::Labels(
                rows.iter().map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32).collect(),
            ),
            Form::BatchDependent => {
                for (i, r) in rows.iter_mut().enumerate() {
                    let y = self.labels[&images[i * len..(i + 1) * len]] as usize;
                    r[y] += 2.0 * self.calls as f64;
                }
                Answer::Scores { rows, kind: OutputKind::Logits }
            }
        })
    }
}

fn cfg(label_only: bool) -> VerifyConfig {
    VerifyConfig { permutations: 200, batch: 8, label_only, ..VerifyConfig::default() }
}

/// p-values of `runs` simulated suspects.
fn p_values(k: &KeyBody, runs: u64, gap: f64, form: Form, label_only: bool) -> Vec<f64> {
    (0..runs).map(|s| verify(k, &mut Fake::new(k, s, gap, form), &cfg(label_only)).unwrap().p_value).collect()
}

/// Under H0: KS does not reject uniformity at 0.001, and the number of
/// rejections at 0.05 is what a binomial(runs, 0.05) allows (99.9%).
fn assert_valid_null(ps: &[f64], what: &str) {
    let (d, p_ks) = honeyimage_stats::ks_uniform(ps).unwrap();
    assert!(p_ks > 0.001, "{what}: KS D = {d:.4}, p = {p_ks:.2e}: p-values are not uniform under H0");
    let k = ps.iter().filter(|&&p| p < 0.05).count() as u64;
    let (lo, hi) = honeyimage_stats::binomial_ci(k, ps.len() as u64, 0.999).unwrap();
    assert!(lo <= 0.05 && 0.05 <= hi, "{what}: {k} of {} rejected at 0.05, 99.9% interval [{lo:.4}, {hi:.4}]", ps.len());
}

#[test]
fn p_values_are_uniform_under_h0() {
    let k = key(25);
    assert_valid_null(&p_values(&k, 2000, 0.0, Form::Logits, false), "logits");
}

#[test]
fn a_batch_dependent_suspect_does_not_break_exchangeability() {
    // R and W are queried together in a seeded random order, so an offset
    // that grows with every call hits R and W alike. (Queried R first, then
    // W, the same suspect would fit W worse and be flagged every time.)
    let k = key(25);
    let ps: Vec<f64> = (0..1000u64)
        .map(|s| verify(&k, &mut Fake::new(&k, s, 0.0, Form::BatchDependent), &VerifyConfig { seed: s, ..cfg(false) }).unwrap().p_value)
        .collect();
    assert_valid_null(&ps, "batch-dependent");
}

#[test]
fn power_rises_with_the_gap() {
    let k = key(25);
    let power: Vec<f64> = [0.0, 0.5, 1.0, 3.0]
        .iter()
        .map(|&g| p_values(&k, 200, g, Form::Logits, false).iter().filter(|&&p| p < 0.001).count() as f64 / 200.0)
        .collect();
    assert!(power.windows(2).all(|w| w[0] <= w[1]), "power {power:?}");
    assert!(power[0] < 0.02 && power[3] > 0.95, "power {power:?}");
}

#[test]
fn confident_logits_keep_exact_losses() {
    // A margin of 40 nats: an f32 softmax gives p = 1 and loss 0 for every
    // sample (all tied); the f64 log-softmax keeps them apart.
    let k = key(10);
    let mut o = Fake::new(&k, 1, 40.0, Form::Logits);
    let v = verify(&k, &mut o, &cfg(false)).unwrap();
    assert!(v.losses_released.iter().all(|&l| l > 0.0 && l < 1e-15), "{:?}", v.losses_released);
    let mut sorted = v.losses_released.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    assert_eq!(sorted.len(), 10, "losses tied: {:?}", v.losses_released);
    assert!(v.p_value < 1e-5, "p {}", v.p_value);
    assert!(v.method.contains("exact"), "{}", v.method);
}

#[test]
fn label_only_answers_need_label_only_mode() {
    let k = key(25);
    let e = verify(&k, &mut Fake::new(&k, 0, 5.0, Form::Labels), &cfg(false)).unwrap_err().to_string();
    assert!(e.contains("--label-only"), "{e}");
    let v = verify(&k, &mut Fake::new(&k, 0, 5.0, Form::Labels), &cfg(true)).unwrap();
    assert!(v.verdict && v.method.contains("Fisher"), "{v:?}");
    assert!(v.losses_released.is_empty());
    // Fisher's test is conservative (discrete): under H0 its rejection rate
    // at 0.05 must not be significantly above 0.05.
    let ps = p_values(&k, 600, 0.0, Form::Labels, true);
    let rejected = ps.iter().filter(|&&p| p < 0.05).count() as u64;
    let (lo, _) = honeyimage_stats::binomial_ci(rejected, 600, 0.999).unwrap();
    assert!(lo <= 0.05, "label-only: {rejected} of 600 rejected at 0.05 under H0");
}

#[test]
fn test_time_views_keep_the_test_exact() {
    // Every R and W image is queried as the same 18 views (shifts by up to
    // 1 px, mirrored or not): under H0 the p-values stay uniform.
    let k = key(25);
    let tta = VerifyConfig { tta: Some(Tta { pad: 1, flip: true }), ..cfg(false) };
    let ps: Vec<f64> = (0..500u64).map(|s| verify(&k, &mut Fake::new(&k, s, 0.0, Form::Logits), &tta).unwrap().p_value).collect();
    assert_valid_null(&ps, "test-time augmentation");
    let v = verify(&k, &mut Fake::new(&k, 0, 0.0, Form::Logits), &tta).unwrap();
    assert_eq!(v.queries, 50 * 18);
    assert!(v.method.contains("averaged over 18 test-time views"), "{}", v.method);
    let e = verify(&k, &mut Fake::new(&k, 0, 5.0, Form::Labels), &VerifyConfig { label_only: true, ..tta }).unwrap_err().to_string();
    assert!(e.contains("test-time augmentation"), "{e}");
}

/// A key of `2 n` samples whose difficulty (proxy loss) differs from image
/// to image, split into R and W at random by `split_seed` (class-blind),
/// as protect would: the proxy losses do not depend on the split.
fn key_with_difficulty(n: usize, split_seed: u64) -> KeyBody {
    let mut k = key(n);
    let mut all: Vec<KeySample> = k.released.drain(..).chain(k.withheld.drain(..)).collect();
    for s in all.iter_mut() {
        s.proxy_loss = 4.0 * hash01(99, &s.honey.0, 7);
    }
    // Fisher-Yates with the split's own stream.
    for i in (1..all.len()).rev() {
        let j = (hash01(split_seed, &[i as u8, (i >> 8) as u8], 3) * (i + 1) as f64) as usize;
        all.swap(i, j);
    }
    k.withheld = all.split_off(n);
    k.released = all;
    k
}

/// A suspect whose loss on an image is its difficulty plus noise (a
/// model that never saw it finds it as hard as the proxy did), lowered by
/// `gap` on R when it trained on R.
struct Difficult {
    inner: Fake,
    difficulty: HashMap<Vec<u8>, f64>,
}

impl Oracle for Difficult {
    fn describe(&self) -> String {
        "fake with difficulty".into()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let len = h * w * c;
        let rows = (0..n)
            .map(|i| {
                let img = &images[i * len..(i + 1) * len];
                let mut r = self.inner.logits(img);
                let y = self.inner.labels[img] as usize;
                r[y] -= self.difficulty[img];
                r
            })
            .collect();
        Ok(Answer::Scores { rows, kind: OutputKind::Logits })
    }
}

fn difficult(k: &KeyBody, seed: u64, gap: f64) -> Difficult {
    let difficulty = k.released.iter().chain(&k.withheld).map(|s| (s.honey.0.clone(), s.proxy_loss)).collect();
    Difficult { inner: Fake::new(k, seed, gap, Form::Logits), difficulty }
}

#[test]
fn the_calibrated_test_is_exact_and_gains_power_where_difficulty_varies() {
    let calibrated = VerifyConfig { calibrate: true, ..cfg(false) };
    // H0 over random splits (one key, one suspect each): uniform.
    let ps: Vec<f64> = (0..1000u64).map(|s| verify(&key_with_difficulty(25, s), &mut difficult(&key_with_difficulty(25, s), s, 0.0), &calibrated).unwrap().p_value).collect();
    assert_valid_null(&ps, "calibrated");
    // H1 with a gap of 1 nat, small beside the difficulty's spread (0-4
    // nats): the calibrated test flags far more often than the raw one.
    let power = |c: &VerifyConfig| (0..200u64).filter(|&s| {
        let k = key_with_difficulty(25, 1000 + s);
        verify(&k, &mut difficult(&k, s, 1.0), c).unwrap().p_value < 0.01
    }).count();
    let (raw, cal) = (power(&cfg(false)), power(&calibrated));
    assert!(cal > raw + 40, "flagged at 0.01 of 200: raw {raw}, calibrated {cal}");
    let k = key_with_difficulty(10, 5);
    let v = verify(&k, &mut difficult(&k, 0, 0.0), &calibrated).unwrap();
    assert!(v.method.contains("calibrated"), "{}", v.method);
    // From a raw verdict's losses (what eval reports beside the raw test):
    // the same p as querying again with calibrate.
    let raw = verify(&k, &mut difficult(&k, 0, 0.0), &cfg(false)).unwrap();
    assert_eq!(calibrated_p(&k, &raw, &cfg(false)).unwrap(), Some(v.p_value));
    assert_ne!(raw.p_value, v.p_value);
    // A key whose proxy loss is not a number cannot calibrate.
    let mut bad = key_with_difficulty(10, 5);
    bad.withheld[3].proxy_loss = f64::NAN;
    let e = verify(&bad, &mut difficult(&k, 0, 0.0), &calibrated).unwrap_err().to_string();
    assert!(e.contains("proxy loss NaN"), "{e}");
}
