//! verify end to end on real data: infringing suspects (our own small CNN and
//! a foreign PyTorch model) are flagged through every query path, clean
//! suspects are not, and a misbehaving endpoint never yields a verdict.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use honeyimage::key::{self};
use honeyimage_data::{DataSource, Edits, Split};

use crate::common::*;

fn verify_json(key: &Path, target: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["verify", "--key", key.to_str().unwrap(), "--json"];
    args.extend_from_slice(target);
    args.extend_from_slice(extra);
    let o = run(&args);
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "verify failed: {}", stderr(&o));
    (code, serde_json::from_slice(&o.stdout).unwrap())
}

fn train(data: &Path, out: &Path, epochs: &str) -> f64 {
    let o = run(&["train", "--data", data.to_str().unwrap(), "--epochs", epochs, "--out", out.to_str().unwrap(), "--test-limit", "1000", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    doc["training"]["report"]["final_train_accuracy"].as_f64().unwrap()
}

#[test]
fn infringing_suspects_are_flagged_through_every_query_path_and_clean_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 3000);
    let (rel, key) = (dir.path().join("rel"), dir.path().join("k.key"));
    let o = run(&[
        "protect", "--data", data.to_str().unwrap(), "--out", rel.to_str().unwrap(), "--key", key.to_str().unwrap(), "--count", "30",
        "--proxy-epochs", "3", "--steps", "10", "--no-baseline",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // 1. Our own small CNN, trained to fit the release (25 epochs).
    let native = dir.path().join("native");
    let acc = train(&rel, &native, "25");
    assert!(acc > 0.95, "suspect must fit its data like a real model: train accuracy {acc}");
    // The public statement protect wrote beside the release binds the key.
    let statement = dir.path().join("rel.commitment.txt");
    let published = std::fs::read_to_string(&statement).unwrap();
    assert!(published.contains("honeyimage-commitment-v1:sha256:"), "{published}");
    let (code, v) = verify_json(&key, &["--model", native.to_str().unwrap()], &["--release", rel.to_str().unwrap(), "--commitment", statement.to_str().unwrap()]);
    assert_eq!(code, 1, "{v}");
    assert!(published.contains(v["commitment"].as_str().unwrap()), "{v}");
    assert!(v["method"].as_str().unwrap().contains("stratified") && v["method"].as_str().unwrap().contains("exact"), "{v}");
    let other = format!("honeyimage-commitment-v1:sha256:{}", "0".repeat(64));
    let o = run(&["verify", "--key", key.to_str().unwrap(), "--model", native.to_str().unwrap(), "--commitment", &other]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not match the published commitment") && stderr(&o).lines().count() == 1, "{}", stderr(&o));
    let o = run(&["key", "commitment", "--key", key.to_str().unwrap(), "--check", statement.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).contains("matches"), "{}", stderr(&o));
    assert!(v["p_value"].as_f64().unwrap() < 1e-6, "{v}");
    assert!(v["mean_loss_released"].as_f64().unwrap() < v["mean_loss_withheld"].as_f64().unwrap());
    for field in ["verdict", "alpha", "effect_size", "n_released", "n_withheld", "queries", "tau_rule"] {
        assert!(v.get(field).is_some(), "JSON lacks {field}");
    }
    assert_eq!(v["queries"], 60);
    let (code_lo, lo) = verify_json(&key, &["--model", native.to_str().unwrap()], &["--label-only"]);
    assert_eq!(code_lo, 1, "label-only should agree on a suspect that fits its data: {lo}");

    // 2. A foreign PyTorch model trained on the release, as TorchScript, ONNX and over HTTP.
    let prefix = dir.path().join("torch");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/train_torch_suspect.py");
    let o = Command::new("python3").args([script, rel.to_str().unwrap(), prefix.to_str().unwrap(), "--epochs", "25"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert!(info["train_accuracy"].as_f64().unwrap() > 0.95, "{info}");
    let pt = format!("{}.pt", prefix.display());
    let onnx = format!("{}.onnx", prefix.display());
    let (c1, v_pt) = verify_json(&key, &["--model", &pt], &[]);
    let (c2, v_onnx) = verify_json(&key, &["--model", &onnx], &[]);
    let mut server = bin().args(["serve", "--model", &pt, "--port", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().last().unwrap().to_string();
    let (c3, v_http) = verify_json(&key, &["--endpoint", &url], &[]);
    let _ = server.kill();
    let _ = server.wait();
    // A label-only API: only --label-only can judge it, and it does.
    let mut server = bin().args(["serve", "--model", &pt, "--port", "0", "--labels-only"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let labels_url = line.split_whitespace().last().unwrap().to_string();
    let o = run(&["verify", "--key", key.to_str().unwrap(), "--endpoint", &labels_url]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("--label-only"), "{}", stderr(&o));
    let (c_lo, v_lo) = verify_json(&key, &["--endpoint", &labels_url], &["--label-only"]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(c_lo, 1, "label-only API: {v_lo}");
    assert!(v_lo["method"].as_str().unwrap().contains("Fisher"), "{v_lo}");
    for (c, v) in [(c1, &v_pt), (c2, &v_onnx), (c3, &v_http)] {
        assert_eq!(c, 1, "{v}");
        assert!(v["p_value"].as_f64().unwrap() < 1e-6, "{v}");
    }
    // The same model through three paths gives the same losses.
    let mr = |v: &serde_json::Value| v["mean_loss_released"].as_f64().unwrap();
    assert!((mr(&v_pt) - mr(&v_onnx)).abs() < 1e-3 && (mr(&v_pt) - mr(&v_http)).abs() < 1e-3, "{} {} {}", mr(&v_pt), mr(&v_onnx), mr(&v_http));

    // 3. Clean suspects: disjoint Fashion-MNIST data, and the release minus the HoneyImages.
    let disjoint = fmnist_range(dir.path(), 40_000, 43_000);
    let clean = dir.path().join("clean");
    train(&disjoint, &clean, "25");
    let (code, v) = verify_json(&key, &["--model", clean.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "clean model flagged: {v}");
    let (code, v) = verify_json(&key, &["--model", clean.to_str().unwrap()], &["--label-only"]);
    assert_eq!(code, 0, "clean model flagged (label-only): {v}");

    let kb = key::load(&key).unwrap();
    let withheld: Vec<usize> = kb.withheld.iter().map(|s| s.index).collect();
    let pos = |i: usize| i - withheld.iter().filter(|&&w| w < i).count();
    let minus_r = dir.path().join("rel-minus-r");
    let edits = Edits { remove: kb.released.iter().map(|s| pos(s.index)).collect(), ..Edits::default() };
    DataSource::open(&rel, None).unwrap().write_release(Split::Train, &minus_r, &edits).unwrap();
    let hardest = dir.path().join("hardest-negative");
    train(&minus_r, &hardest, "25");
    let (code, v) = verify_json(&key, &["--model", hardest.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "model trained on the release minus R flagged: {v}");
}

fn fake_key(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("fake.key");
    make_key(&p, 28, 28, 1);
    p
}

/// A loopback server that answers every request per `behaviour`; stops after `max` connections.
fn bad_server(behaviour: &'static str, max: usize) -> String {
    scripted_server(max, move |i, n| {
        let probs = |k: usize| format!("{{\"probabilities\":{}}}", uniform_rows(n, k));
        Some(match behaviour {
            "slow" => {
                std::thread::sleep(std::time::Duration::from_secs(3));
                (200, probs(10))
            }
            "500" => (500, "{\"error\":\"boom\"}".to_string()),
            "flaky" if i == 0 => (503, "{\"error\":\"busy\"}".to_string()),
            "flaky" => (200, probs(10)),
            "malformed" => (200, "{\"probabilities\": [[0.1, 0.2".to_string()),
            "classes" => (200, probs(9)),
            "rows" => (200, format!("{{\"probabilities\":{}}}", uniform_rows(1, 10))),
            "nan" => (200, format!("{{\"logits\":[[1e999{}]]}}", ",0".repeat(9))),
            "notprob" => (200, format!("{{\"probabilities\":[{}]}}", vec![format!("[{}]", vec!["0.5"; 10].join(",")); n].join(","))),
            _ => unreachable!(),
        })
    })
}

#[test]
fn misbehaving_endpoints_give_clear_errors_and_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_key(dir.path());
    let k = key.to_str().unwrap();
    for (behaviour, expect) in [
        ("slow", "timed out"),
        ("500", "HTTP 500"),
        ("malformed", "malformed JSON"),
        ("classes", "9 values for 10 classes"),
        ("rows", "rows"),
        ("nan", "malformed JSON"),
        ("notprob", "not a probability vector"),
    ] {
        let url = bad_server(behaviour, 8);
        let o = run(&["verify", "--key", k, "--endpoint", &url, "--timeout", "1", "--retries", "1", "--json"]);
        assert_eq!(o.status.code(), Some(2), "{behaviour}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(expect) && e.contains(&url), "{behaviour}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{behaviour}: {e}");
        assert!(o.stdout.is_empty(), "{behaviour}: a verdict was printed");
    }
    // One transient 503 is retried and the run completes.
    let url = bad_server("flaky", 8);
    let o = run(&["verify", "--key", k, "--endpoint", &url, "--retries", "2", "--batch", "100"]);
    assert!(o.status.code() == Some(0), "{}", stderr(&o));
}

#[test]
fn tampered_or_foreign_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_key(dir.path());
    let mut bytes = std::fs::read(&key).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(&["verify", "--key", bad.to_str().unwrap(), "--endpoint", "http://127.0.0.1:9/v1/predict"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("integrity check failed") && stderr(&o).contains("bad.key"), "{}", stderr(&o));
    // A key for another release.
    let other = dir.path().join("other-release");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("x"), b"x").unwrap();
    let o = run(&["verify", "--key", key.to_str().unwrap(), "--release", other.to_str().unwrap(), "--endpoint", "http://127.0.0.1:9/v1/predict"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("different release"), "{}", stderr(&o));
}
