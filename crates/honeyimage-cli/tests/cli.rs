//! Integration tests: the real `honeyimage` binary on real files in temp dirs.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use honeyimage_data::{DataSource, Edits, Split};

const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_honeyimage"));
    c.arg("--quiet");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fmnist() -> &'static Path {
    let p = Path::new(FMNIST);
    assert!(p.exists(), "{FMNIST} is missing: run scripts/setup.sh");
    p
}

/// A real Fashion-MNIST IDX folder with only the first `n` training images.
fn fmnist_subset(dir: &Path, n: usize) -> PathBuf {
    let out = dir.join(format!("fmnist-{n}"));
    let src = DataSource::open(fmnist(), None).unwrap();
    let edits = Edits { remove: (n..60_000).collect(), ..Edits::default() };
    src.write_release(Split::Train, &out, &edits).unwrap();
    out
}

fn sha(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn inspect_reports_real_fashion_mnist() {
    let o = run(&["inspect", "--data", FMNIST, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["format"], "idx");
    assert_eq!(doc["splits"][0]["count"], 60000);
    assert_eq!(doc["splits"][1]["count"], 10000);
    assert_eq!(doc["splits"][0]["shape"], serde_json::json!([28, 28, 1]));
    assert_eq!(doc["splits"][0]["class_counts"], serde_json::json!(vec![6000; 10]));
    assert_eq!(doc["splits"][0]["classes"][9], "Ankle boot");
}

#[test]
fn train_then_eval_model_agree() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("model");
    let o = run(&["train", "--data", FMNIST, "--limit", "3000", "--epochs", "2", "--test-limit", "2000", "--out", m.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let test_acc = doc["training"]["test_accuracy"].as_f64().unwrap();
    assert!(test_acc > 0.6, "test accuracy {test_acc}");
    assert!(m.join("model.safetensors").exists() && m.join("config.json").exists());
    // The saved config says everything needed to reload the model.
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["arch"], "small-cnn");
    assert_eq!(cfg["training"]["report"]["config"]["epochs"], 2);
    let o = run(&["eval-model", "--model", m.to_str().unwrap(), "--data", FMNIST, "--split", "test", "--limit", "2000", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((doc["accuracy"].as_f64().unwrap() - test_acc).abs() < 1e-9, "{doc} vs {test_acc}");
    // Refuses to overwrite without --force.
    let o = run(&["train", "--data", FMNIST, "--limit", "100", "--epochs", "1", "--out", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

#[test]
fn bad_inputs_exit_2_with_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let o = run(&["inspect", "--data", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope") && stderr(&o).lines().count() == 1, "{}", stderr(&o));

    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("train-images-idx3-ubyte"), [0u8, 0, 8, 4, 0, 0, 0, 1]).unwrap();
    std::fs::write(bad.join("train-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 1, 0]).unwrap();
    let o = run(&["train", "--data", bad.to_str().unwrap(), "--out", dir.path().join("m").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("train-images-idx3-ubyte"), "{}", stderr(&o));
    assert!(!dir.path().join("m").exists(), "no partial output");

    let o = run(&["train", "--data", FMNIST, "--arch", "resnet19", "--out", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("resnet19"), "{}", stderr(&o));
    let o = run(&["train", "--data", FMNIST, "--limit", "100", "--lr=-1", "--out", dir.path().join("m").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("learning rate"), "{}", stderr(&o));
}

fn protect_args<'a>(data: &'a str, out: &'a str, key: &'a str, work: &'a str) -> Vec<&'a str> {
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
    assert!(summary["ssim_min"].as_f64().unwrap() >= 0.98, "{summary}");

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
    for marker in ["proxy-fold0-small-cnn/config.json", "hardness.json"] {
        let mut child = bin().args(&args).spawn().unwrap();
        let t = std::time::Instant::now();
        while !work_b.join(marker).exists() && t.elapsed().as_secs() < 120 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(!key_b.exists() || work_b.join("honey.json").exists());
    }
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha(&out_a), sha(&out_b), "resumed release differs");
    let (ka, kb) = (honeyimage::key::load(&key_a).unwrap(), honeyimage::key::load(&key_b).unwrap());
    assert_eq!(ka.released, kb.released);
    assert_eq!(ka.withheld, kb.withheld);
    assert_eq!(ka.release, kb.release);
}
