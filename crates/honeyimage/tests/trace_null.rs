//! `trace` on simulated found data (no files): under H0 (found data that do
//! not derive from the key's release: the original images re-encoded, with
//! some of them missing) the p-values over many random R/W splits of the
//! same candidates are uniform, so the test's exactness holds in practice;
//! under H1 (the release re-encoded: R perturbed, W absent) the key is
//! found with a tiny p-value, and another recipient's key is not.
use honeyimage::key::{Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo, RwSplit};
use honeyimage::protect::ProtectConfig;
use honeyimage::trace::found::{normalise, to_dynamic, Found, Geometry};
use honeyimage::trace::{trace, TraceConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIDE: usize = 16;
const CLASSES: u32 = 4;

/// `n` textured 16 x 16 grey images, all different.
fn images(n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let (a, b, c, d): (f64, f64, f64, f64) = (rng.gen_range(0.2..1.2), rng.gen_range(0.2..1.2), rng.gen_range(0.0..6.3), rng.gen_range(0.0..6.3));
            (0..SIDE * SIDE)
                .map(|i| {
                    let (y, x) = ((i / SIDE) as f64, (i % SIDE) as f64);
                    (128.0 + 60.0 * (a * y + c).sin() + 50.0 * (b * x + d).cos() + rng.gen_range(-8.0..8.0)).clamp(0.0, 255.0) as u8
                })
                .collect()
        })
        .collect()
}

/// A +-4 sign perturbation (clipped to [0, 255]).
fn perturb(img: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    img.iter().map(|&p| if rng.gen_bool(0.5) { p.saturating_add(4) } else { p.saturating_sub(4) }).collect()
}

/// A key over candidates `cands` (indices into `orig`), with released `r`.
fn key(orig: &[Vec<u8>], honey: &[Vec<u8>], cands: &[usize], released: &[bool]) -> KeyBody {
    let sample = |i: usize| KeySample {
        id: format!("train:{i:05}"),
        index: i,
        label: i as u32 % CLASSES,
        hardness: 3.0,
        proxy_loss: 2.0,
        honey: Bytes(honey[i].clone()),
        original: Bytes(orig[i].clone()),
    };
    let pick = |want: bool| cands.iter().zip(released).filter(|(_, &r)| r == want).map(|(&i, _)| sample(i)).collect();
    KeyBody {
        tool_version: "test".into(),
        params: ProtectConfig::default(),
        split: RwSplit::ClassStratified,
        commitment_nonce: String::new(),
        dataset: DatasetInfo {
            format: "idx".into(),
            split: "train".into(),
            source: "/data".into(),
            samples: orig.len(),
            height: SIDE,
            width: SIDE,
            channels: 1,
            class_names: (0..CLASSES).map(|c| c.to_string()).collect(),
            fingerprint: "00".into(),
        },
        release: ReleaseInfo { samples: orig.len(), fingerprint: "ff".into() },
        released: pick(true),
        withheld: pick(false),
        summary: serde_json::json!({}),
        recipient: None,
    }
}

/// A random split of `cands` within classes (half of each class released).
fn split(cands: &[usize], rng: &mut ChaCha8Rng) -> Vec<bool> {
    let mut released = vec![false; cands.len()];
    for c in 0..CLASSES {
        let mut mine: Vec<usize> = (0..cands.len()).filter(|&j| cands[j] as u32 % CLASSES == c).collect();
        mine.shuffle(rng);
        mine.iter().take(mine.len() / 2).for_each(|&j| released[j] = true);
    }
    released
}

/// Found data: the images at `keep`, JPEG-compressed at quality 80.
fn found(images: &[Vec<u8>], keep: &[usize]) -> Found {
    let g = Geometry { height: SIDE, width: SIDE, channels: 1 };
    let images = keep
        .iter()
        .map(|&i| {
            let mut bytes = Vec::new();
            to_dynamic(&images[i], SIDE, SIDE, 1).unwrap().write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)).unwrap();
            normalise(&image::load_from_memory(&bytes).unwrap(), format!("{i}"), g)
        })
        .collect();
    Found { images, read_as: "simulated".into(), ..Found::default() }
}

fn cfg() -> TraceConfig {
    TraceConfig { max_crop: 1, ..TraceConfig::default() }
}

#[test]
fn p_values_are_uniform_when_the_data_do_not_derive_from_the_release() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let orig = images(300, &mut rng);
    let honey: Vec<Vec<u8>> = orig.iter().map(|o| perturb(o, &mut rng)).collect();
    let cands: Vec<usize> = (0..40).collect();
    // H0: the original data, re-encoded, with a fifth of all images lost
    // (missing samples are independent of the split, like any copy's).
    let keep: Vec<usize> = (0..orig.len()).filter(|_| rng.gen_bool(0.8)).collect();
    let data = found(&orig, &keep);
    let draws = 200;
    let mut ps = Vec::with_capacity(draws);
    for _ in 0..draws {
        let k = key(&orig, &honey, &cands, &split(&cands, &mut rng));
        ps.push(trace(&[("k".into(), &k)], &data, &cfg()).unwrap().keys[0].p_value);
    }
    for level in [0.05, 0.1, 0.25, 0.5] {
        let rate = ps.iter().filter(|&&p| p <= level).count() as f64 / draws as f64;
        let se = (level * (1.0 - level) / draws as f64).sqrt();
        assert!(rate <= level + 3.0 * se, "P(p <= {level}) = {rate} over {draws} splits");
    }
    // Not degenerate: the p-values vary with the split.
    assert!(ps.iter().any(|&p| p < 0.5) && ps.iter().any(|&p| p > 0.5), "{ps:?}");
}

#[test]
fn the_release_is_found_and_another_recipients_key_is_not() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let orig = images(300, &mut rng);
    let honey: Vec<Vec<u8>> = orig.iter().map(|o| perturb(o, &mut rng)).collect();
    let (mine, theirs): (Vec<usize>, Vec<usize>) = ((0..40).collect(), (40..80).collect());
    let (rm, rt) = (split(&mine, &mut rng), split(&theirs, &mut rng));
    let (k_mine, k_theirs) = (key(&orig, &honey, &mine, &rm), key(&orig, &honey, &theirs, &rt));
    // My release: W missing, R as HoneyImages, everything else original.
    let withheld: Vec<usize> = mine.iter().zip(&rm).filter(|(_, &r)| !r).map(|(&i, _)| i).collect();
    let mut release = orig.clone();
    mine.iter().zip(&rm).filter(|(_, &r)| r).for_each(|(&i, _)| release[i] = honey[i].clone());
    let keep: Vec<usize> = (0..orig.len()).filter(|i| !withheld.contains(i)).collect();
    let out = trace(&[("mine".into(), &k_mine), ("theirs".into(), &k_theirs)], &found(&release, &keep), &cfg()).unwrap();
    assert_eq!(out.attributed, vec!["mine".to_string()]);
    let k = &out.keys[0];
    // W is absent; a few W originals still resemble other images closely
    // enough to match (as near-duplicates do in real datasets).
    assert!(k.p_value < 1e-6 && k.matched_released == 20 && k.matched_withheld <= 5, "p {} R {} W {}", k.p_value, k.matched_released, k.matched_withheld);
    assert!(out.keys[0].median_mark_released > 0.2, "the mark survives JPEG 80: {}", out.keys[0].median_mark_released);
    assert!(out.keys[1].p_holm > 0.01, "{}", out.keys[1].p_holm);
    assert_eq!(out.examples.len(), cfg().examples, "the implicated key's matches are shown");
}
