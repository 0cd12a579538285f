//! protect on real Fashion-MNIST subsets: the release, the key, resumption.
use std::process::Command;

use honeyimage_data::{DataSource, Split};

use crate::common::*;

pub fn protect_args<'a>(data: &'a str, out: &'a str, key: &'a str, work: &'a str) -> Vec<&'a str> {
    vec![
        "protect", "--data", data, "--out", out, "--key", key, "--work", work, "--count", "20", "--proxy-epochs", "2", "--steps", "6",
        "--seed", "3", "--json",
    ]
}

#[test]
fn protect_writes_a_release_that_differs_only_at_honey_positions() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 2000);
    let before = sha(&data);
    let (out, key, work) = (dir.path().join("rel"), dir.path().join("k.key"), dir.path().join("work"));
    let o = run(&protect_args(data.to_str().unwrap(), out.to_str().unwrap(), key.to_str().unwrap(), work.to_str().unwrap()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha(&data), before, "input dataset modified");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(summary["linf_max"].as_u64().unwrap() <= 4);
    assert!(summary["ssim_min"].as_f64().unwrap() >= 0.99, "the enforced floor is 0.99: {summary}");

    let key_body = honeyimage::key::load(&key).unwrap();
    assert_eq!(key_body.released.len(), 20);
    assert_eq!(key_body.withheld.len(), 20);
    let orig = DataSource::open(&data, None).unwrap().load(Split::Train).unwrap();
    let rel = DataSource::open(&out, None).unwrap().load(Split::Train).unwrap();
    assert_eq!(rel.len(), 2000 - 20);
    let withheld: std::collections::HashSet<usize> = key_body.withheld.iter().map(|s| s.index).collect();
    let released: std::collections::HashMap<usize, &honeyimage::key::KeySample> = key_body.released.iter().map(|s| (s.index, s)).collect();
    let kept: Vec<usize> = (0..2000).filter(|i| !withheld.contains(i)).collect();
    let mut changed = 0;
    for (j, &i) in kept.iter().enumerate() {
        assert_eq!(rel.labels[j], orig.labels[i]);
        let (a, b) = (orig.image(i), rel.image(j));
        match released.get(&i) {
            Some(s) => {
                assert_eq!(b, &s.honey.0[..], "release holds the key's HoneyImage");
                assert!(a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 4));
                changed += usize::from(a != b);
            }
            None => assert_eq!(a, b, "sample {i} changed but is not a HoneyImage"),
        }
    }
    assert!(changed >= 18, "only {changed} HoneyImages differ from their originals");
    // The test split is copied byte for byte.
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        assert_eq!(std::fs::read(data.join(f)).unwrap(), std::fs::read(out.join(f)).unwrap());
    }
    // An independent reader (Python's gzip + numpy) sees the same release.
    let py = format!(
        "import gzip, numpy as np; a = np.frombuffer(gzip.open('{0}/train-images-idx3-ubyte.gz').read(), np.uint8, offset=16); \
         l = np.frombuffer(gzip.open('{0}/train-labels-idx1-ubyte.gz').read(), np.uint8, offset=8); print(a.size // 784, l.size, int(a.astype(np.int64).sum()))",
        out.display()
    );
    let o = Command::new("python3").args(["-c", &py]).output().expect("python3 (from the torch venv) runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let total: u64 = rel.images.iter().map(|&p| p as u64).sum();
    assert_eq!(stdout(&o).trim(), format!("1980 1980 {total}"));
    // Refuses to overwrite the key.
    let o = run(&protect_args(data.to_str().unwrap(), dir.path().join("rel2").to_str().unwrap(), key.to_str().unwrap(), work.to_str().unwrap()));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn protect_in_bf16_keeps_the_budget_and_records_its_precision() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 2000);
    let d = data.to_str().unwrap();
    let protect = |name: &str, precision: &str| {
        let (out, key, work) = (dir.path().join(name), dir.path().join(format!("{name}.key")), dir.path().join(format!("{name}.work")));
        let mut args = protect_args(d, out.to_str().unwrap(), key.to_str().unwrap(), work.to_str().unwrap());
        args.extend(["--precision", precision]);
        let o = run(&args);
        (o, key)
    };
    let (o, key16) = protect("b", "bf16");
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(summary["linf_max"].as_u64().unwrap() <= 4, "{summary}");
    assert!(summary["ssim_min"].as_f64().unwrap() >= 0.99, "{summary}");
    assert!(summary["proxy_fold_accuracy"][0].as_f64().unwrap() > 0.6, "{summary}");
    let k16 = honeyimage::key::load(&key16).unwrap();
    assert_eq!(k16.params.proxy_train.precision, honeyimage::config::Precision::Bf16, "the key records the precision");
    // The same seed in fp32: the key says fp32, and the HoneyImages differ
    // (so the flag reached the passes), with the same budget.
    let (o, key32) = protect("f", "fp32");
    assert!(o.status.success(), "{}", stderr(&o));
    let k32 = honeyimage::key::load(&key32).unwrap();
    assert_eq!(k32.params.proxy_train.precision, honeyimage::config::Precision::Fp32);
    let honey = |k: &honeyimage::key::KeyBody| k.released.iter().map(|s| (s.index, s.honey.0.clone())).collect::<Vec<_>>();
    assert_ne!(honey(&k16), honey(&k32), "bf16 and fp32 protections are identical");
    // An unknown precision is refused, naming it.
    let (o, _) = protect("x", "fp16");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("fp16"), "{}", stderr(&o));
}

#[test]
fn protect_killed_midway_resumes_to_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 2000);
    let d = data.to_str().unwrap();
    // Reference: an uninterrupted run.
    let (out_a, key_a, work_a) = (dir.path().join("a"), dir.path().join("a.key"), dir.path().join("a.work"));
    let o = run(&protect_args(d, out_a.to_str().unwrap(), key_a.to_str().unwrap(), work_a.to_str().unwrap()));
    assert!(o.status.success(), "{}", stderr(&o));
    // Killed after the proxies are cached, then again during the optimisation: each restart resumes.
    let (out_b, key_b, work_b) = (dir.path().join("b"), dir.path().join("b.key"), dir.path().join("b.work"));
    let args = protect_args(d, out_b.to_str().unwrap(), key_b.to_str().unwrap(), work_b.to_str().unwrap());
    let mut kills = 0;
    for marker in ["proxy-fold0-small-cnn/config.json", "hardness.json"] {
        let mut child = bin().args(&args).spawn().unwrap();
        let t = std::time::Instant::now();
        let mut finished = false;
        while !work_b.join(marker).exists() && t.elapsed().as_secs() < 120 {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        finished |= child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        kills += usize::from(!finished);
        assert!(!key_b.exists() || work_b.join("honey.json").exists());
    }
    assert_eq!(kills, 2, "protect finished before it could be killed twice");
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha(&out_a), sha(&out_b), "resumed release differs");
    let (ka, kb) = (honeyimage::key::load(&key_a).unwrap(), honeyimage::key::load(&key_b).unwrap());
    assert_eq!(ka.released, kb.released);
    assert_eq!(ka.withheld, kb.withheld);
    assert_eq!(ka.release, kb.release);
    // Every key gets its own commitment nonce; a resumed run keeps its own.
    assert_ne!(ka.commitment_nonce, kb.commitment_nonce);
    assert_eq!(ka.split, honeyimage::key::RwSplit::ClassStratified);
}

/// Pixels with a class-dependent colour and a little seeded noise, HWC.
fn synthetic(h: usize, w: usize, label: usize, seed: usize) -> Vec<u8> {
    let mut x = (seed as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..h * w * 3)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let base = [40u8, 120, 200][(i % 3 + label) % 3] as i32 + (label as i32 * 17 % 50);
            (base + ((x >> 59) as i32) * 8 - 60).clamp(0, 255) as u8
        })
        .collect()
}

fn check_colour_release(data: &std::path::Path, dir: &std::path::Path, format: &str) {
    let (out, key) = (dir.join(format!("{format}-rel")), dir.join(format!("{format}.key")));
    let o = run(&[
        "protect", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--key", key.to_str().unwrap(), "--count", "8",
        "--proxy-epochs", "2", "--steps", "4", "--no-baseline", "--json",
    ]);
    assert!(o.status.success(), "{format}: {}", stderr(&o));
    let k = honeyimage::key::load(&key).unwrap();
    // A key too small to ever reach verify's alpha is announced, and key
    // info tells the smallest p-value any key can give.
    let smallest = honeyimage::verify::smallest_p_value(&k, false);
    assert_eq!(stderr(&o).contains("no suspect could be flagged"), smallest >= 0.001, "{format}: smallest p {smallest}: {}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&run(&["key", "info", "--key", key.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(info["smallest_p"].as_f64(), Some(smallest));
    let src = DataSource::open(&out, None).unwrap();
    assert_eq!(src.format().to_string(), format);
    let orig = DataSource::open(data, None).unwrap().load(Split::Train).unwrap();
    let rel = src.load(Split::Train).unwrap();
    // A within-class split: |R| + |W| = 2N, |W| = N only in expectation.
    assert_eq!(k.released.len() + k.withheld.len(), 16);
    assert_eq!(rel.len(), orig.len() - k.withheld.len());
    assert_eq!(rel.channels, 3);
    let withheld: std::collections::HashSet<usize> = k.withheld.iter().map(|s| s.index).collect();
    let released: std::collections::HashMap<usize, &[u8]> = k.released.iter().map(|s| (s.index, &s.honey.0[..])).collect();
    for (j, i) in (0..orig.len()).filter(|i| !withheld.contains(i)).enumerate() {
        assert_eq!(rel.labels[j], orig.labels[i], "{format}: order kept");
        if format == "image-folder" {
            assert_eq!(rel.ids[j], orig.ids[i], "{format}: file names kept");
        }
        match released.get(&i) {
            Some(h) => {
                assert_eq!(rel.image(j), *h);
                assert!(orig.image(i).iter().zip(*h).all(|(a, b)| a.abs_diff(*b) <= 4));
            }
            None => assert_eq!(rel.image(j), orig.image(i)),
        }
    }
}

#[test]
fn protect_works_on_colour_cifar_and_image_folders() {
    let dir = tempfile::tempdir().unwrap();
    // CIFAR-10 binary: 1 label byte + 3072 bytes CHW per record.
    let cifar = dir.path().join("cifar");
    std::fs::create_dir(&cifar).unwrap();
    let mut batch = Vec::new();
    for i in 0..300 {
        let label = i % 10;
        let hwc = synthetic(32, 32, label, i);
        batch.push(label as u8);
        for c in 0..3 {
            batch.extend((0..1024).map(|p| hwc[p * 3 + c]));
        }
    }
    std::fs::write(cifar.join("data_batch_1.bin"), &batch).unwrap();
    std::fs::write(cifar.join("batches.meta.txt"), (0..10).map(|c| format!("class{c}\n")).collect::<String>()).unwrap();
    check_colour_release(&cifar, dir.path(), "cifar");

    // An image folder of PNGs, one sub-folder per class.
    let folder = dir.path().join("folder");
    for c in 0..3 {
        std::fs::create_dir_all(folder.join(format!("class{c}"))).unwrap();
        for i in 0..40 {
            let img = image::RgbImage::from_raw(16, 16, synthetic(16, 16, c, i * 3 + c)).unwrap();
            img.save(folder.join(format!("class{c}/img{i:03}.png"))).unwrap();
        }
    }
    check_colour_release(&folder, dir.path(), "image-folder");
}
