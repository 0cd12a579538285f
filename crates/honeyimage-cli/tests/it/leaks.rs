//! Leak tracing on a real Fashion-MNIST subset: one protection run for three
//! recipients, attribution of a model trained on one recipient's release
//! (`verify --keys`), and `trace` of found copies (as they are, re-encoded
//! as shuffled JPEGs, merged from two recipients) with no model at all.
use std::path::{Path, PathBuf};

use honeyimage_data::{DataSource, Split};

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs a command that answers with JSON; returns (exit code, document).
fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let o = run(args);
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {}", stderr(&o));
    (code, serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o))))
}

fn attributed(doc: &serde_json::Value) -> Vec<String> {
    doc["attributed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Writes the training images of each IDX release as image files (shuffled
/// across releases, renamed) with `encode`: a folder as leaked data turn up.
fn as_image_folder(releases: &[PathBuf], out: &Path, ext: &str, encode: impl Fn(&image::DynamicImage, &Path)) {
    std::fs::create_dir_all(out.join("nested")).unwrap();
    let mut k = 0usize;
    for rel in releases {
        let ds = DataSource::open(rel, None).unwrap().load(Split::Train).unwrap();
        for i in 0..ds.len() {
            let img = image::GrayImage::from_raw(ds.width as u32, ds.height as u32, ds.image(i).to_vec()).unwrap();
            // A scrambled name: nothing in it points at the sample.
            let name = format!("{:08x}.{ext}", (k as u64).wrapping_mul(0x9e37_79b9) & 0xffff_ffff);
            let dir = if k % 2 == 0 { out.to_path_buf() } else { out.join("nested") };
            encode(&image::DynamicImage::ImageLuma8(img), &dir.join(name));
            k += 1;
        }
    }
}

#[test]
fn recipients_get_their_own_releases_and_leaks_are_traced_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 3000);
    let list = dir.path().join("recipients.txt");
    std::fs::write(&list, "# licensees\nacme\nbeta\n\ncygnus\n").unwrap();
    let (releases, keys) = (dir.path().join("releases"), dir.path().join("keys"));
    let args = [
        "protect", "--data", s(&data), "--recipients", s(&list), "--out", s(&releases), "--key", s(&keys), "--count", "30",
        "--proxy-epochs", "3", "--steps", "10", "--json",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), 3);

    // Three releases and keys; candidates disjoint; each release holds the
    // other recipients' candidates unperturbed.
    let names = ["acme", "beta", "cygnus"];
    let bodies: Vec<_> = names.iter().map(|n| honeyimage::key::load(&keys.join(format!("{n}.key"))).unwrap()).collect();
    let orig = DataSource::open(&data, None).unwrap().load(Split::Train).unwrap();
    let mut seen = std::collections::HashSet::new();
    for (n, b) in names.iter().zip(&bodies) {
        assert_eq!(b.recipient.as_deref(), Some(*n));
        assert!(b.released.iter().chain(&b.withheld).all(|x| seen.insert(x.index)), "candidates overlap");
        assert!(releases.join(format!("{n}.commitment.txt")).exists());
    }
    let beta_release = DataSource::open(&releases.join("beta"), None).unwrap().load(Split::Train).unwrap();
    assert_eq!(beta_release.len(), 3000 - bodies[1].withheld.len());
    let acme = &bodies[0];
    for x in acme.released.iter().chain(&acme.withheld) {
        assert!((0..beta_release.len()).any(|j| beta_release.image(j) == orig.image(x.index)), "acme's candidate {} missing from beta's release", x.index);
    }
    assert_ne!(honeyimage::key::fingerprint_dir(&releases.join("acme")).unwrap(), honeyimage::key::fingerprint_dir(&releases.join("beta")).unwrap());
    let o = run(&["key", "info", "--key", s(&keys.join("beta.key"))]);
    assert!(stdout(&o).contains("recipient beta"), "{}", stdout(&o));
    let o = run(&args);
    assert_eq!(o.status.code(), Some(2), "a second run must not overwrite the keys");
    assert!(stderr(&o).contains("refusing to overwrite"), "{}", stderr(&o));

    // Attribution: a model trained on beta's release names beta, only beta.
    let model = dir.path().join("suspect");
    let o = run(&["train", "--data", s(&releases.join("beta")), "--epochs", "25", "--out", s(&model), "--test-limit", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = dir.path().join("attribution.html");
    let (code, doc) = json(&["verify", "--keys", s(&keys), "--model", s(&model), "--json", "--report", s(&page)]);
    assert_eq!((code, attributed(&doc)), (1, vec!["beta".to_string()]), "{doc}");
    let rows = doc["recipients"].as_array().unwrap();
    assert!(rows[1]["verification"]["p_value"].as_f64().unwrap() < 1e-6, "{doc}");
    for r in [&rows[0], &rows[2]] {
        assert!(r["p_holm"].as_f64().unwrap() >= 0.001 && r["p_holm"].as_f64().unwrap() >= r["verification"]["p_value"].as_f64().unwrap());
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("The suspect trained on the release given to beta") && html.contains("cygnus"), "{html}");
    let o = run(&["verify", "--keys", s(&keys), "--model", s(&model)]);
    assert!(stdout(&o).contains("attribution: beta"), "{}", stdout(&o));

    // Trace, no model: the release itself, the original data, and a copy
    // re-encoded as shuffled JPEGs in nested folders with a broken file.
    let (code, doc) = json(&["trace", "--keys", s(&keys), "--data", s(&releases.join("cygnus")), "--json"]);
    assert_eq!((code, attributed(&doc)), (1, vec!["cygnus".to_string()]), "{doc}");
    let cyg = &doc["keys"][2];
    assert_eq!((cyg["matched_released"].as_u64(), cyg["median_mark_released"].as_f64().map(|m| m > 0.99)), (Some(cyg["released"].as_u64().unwrap()), Some(true)), "{cyg}");
    let (code, doc) = json(&["trace", "--keys", s(&keys), "--data", s(&data), "--json"]);
    assert_eq!((code, attributed(&doc)), (0, vec![]), "the original data derive from no release: {doc}");
    let jpegs = dir.path().join("found-jpeg");
    as_image_folder(&[releases.join("beta")], &jpegs, "jpg", |img, path| {
        let mut f = std::fs::File::create(path).unwrap();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 75)).unwrap();
    });
    std::fs::write(jpegs.join("broken.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let report = dir.path().join("trace.html");
    let o = run(&["trace", "--keys", s(&keys), "--data", s(&jpegs), "--report", s(&report)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("derive from the release of beta") && stderr(&o).contains("broken.png"), "{}\n{}", stdout(&o), stderr(&o));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Matched HoneyImages") && html.matches("data:image/png").count() >= 4, "the page shows matched images");

    // Two leaked copies merged (as PNGs): both recipients are named.
    let merged = dir.path().join("found-merged");
    as_image_folder(&[releases.join("acme"), releases.join("cygnus")], &merged, "png", |img, path| img.save(path).unwrap());
    let (code, doc) = json(&["trace", "--keys", s(&keys), "--data", s(&merged), "--json"]);
    assert_eq!((code, attributed(&doc)), (1, vec!["acme".to_string(), "cygnus".to_string()]), "{doc}");

    // Encrypted keys in a key folder: one passphrase, asked for once.
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    for n in names {
        let (plain, sealed) = (keys.join(format!("{n}.key")), keys.join(format!("{n}.age")));
        let o = run(&["key", "encrypt", "--key", s(&plain), "--out", s(&sealed), "--passphrase-file", s(&pass)]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::rename(&sealed, &plain).unwrap();
    }
    let cygnus = releases.join("cygnus");
    let o = run(&["trace", "--keys", s(&keys), "--data", s(&cygnus), "--passphrase-file", s(&pass)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("derive from the release of cygnus"), "{}", stdout(&o));
    let o = run(&["trace", "--keys", s(&keys), "--data", s(&cygnus)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("passphrase") && !stderr(&o).contains("correct horse"), "{}", stderr(&o));
}

#[test]
fn trace_and_attribution_refuse_what_they_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    make_key(&key, 8, 8, 1);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&["trace", "--key", s(&key), "--data", s(&empty)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds no readable image"), "{}", stderr(&o));
    let o = run(&["trace", "--key", s(&key), "--data", s(&dir.path().join("missing"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    // A folder of keys without the manifest protect --recipients writes.
    let o = run(&["trace", "--keys", s(dir.path()), "--data", s(&empty)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("recipients.json"), "{}", stderr(&o));
    let o = run(&["verify", "--keys", s(dir.path()), "--model", s(&empty)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("recipients.json"), "{}", stderr(&o));
    let o = run(&["trace", "--key", s(&key), "--data", s(&empty), "--min-match", "1.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--min-match"), "{}", stderr(&o));
    // Bad recipients lists.
    for (text, why) in [("a\na\n", "twice"), ("only\n", "at least 2"), ("a/b\nc\n", "letters")] {
        let list = dir.path().join("r.txt");
        std::fs::write(&list, text).unwrap();
        let o = run(&["protect", "--data", s(fmnist()), "--recipients", s(&list), "--out", s(&dir.path().join("o")), "--key", s(&dir.path().join("ks"))]);
        assert_eq!(o.status.code(), Some(2), "{text:?}");
        assert!(stderr(&o).contains(why) && stderr(&o).contains("r.txt"), "{text:?}: {}", stderr(&o));
        assert!(!dir.path().join("o").exists() && !dir.path().join("ks").exists());
    }
}
