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
    // Far past alpha, though not as far as our own model: the foreign
    // model's exact losses depend on the CPU's kernels (AVX2 and AVX-512
    // machines gave p below 1e-6 and 2.3e-6 for the same seed).
    for (c, v) in [(c1, &v_pt), (c2, &v_onnx), (c3, &v_http)] {
        assert_eq!(c, 1, "{v}");
        assert!(v["p_value"].as_f64().unwrap() < 1e-4, "{v}");
    }
    // The same model through three paths gives the same losses.
    let mr = |v: &serde_json::Value| v["mean_loss_released"].as_f64().unwrap();
    assert!((mr(&v_pt) - mr(&v_onnx)).abs() < 1e-3 && (mr(&v_pt) - mr(&v_http)).abs() < 1e-3, "{} {} {}", mr(&v_pt), mr(&v_onnx), mr(&v_http));
    recorded_answers_give_the_live_verdict(dir.path(), &key, &pt, &v_pt);

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

/// Someone else queries the suspect: `key queries` exports the images, a
/// Python script (the auditor's own) answers each PNG with the TorchScript
/// model, and `verify --answers` reaches the live verdict; a label-only
/// record is judged by --label-only; a missing answer is named.
fn recorded_answers_give_the_live_verdict(dir: &Path, key: &Path, pt: &str, live: &serde_json::Value) {
    let queries = dir.join("queries");
    let o = run(&["key", "queries", "--key", key.to_str().unwrap(), "--out", queries.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = std::fs::read_dir(&queries).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 60, "one PNG per distinct query image: {names:?}");
    assert!(names.iter().all(|n| n.len() == 68 && n.ends_with(".png")), "{names:?}");
    let o = run(&["key", "queries", "--key", key.to_str().unwrap(), "--out", queries.to_str().unwrap()]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("already exists"), "{}", stderr(&o));
    let (scores, labels) = (dir.join("answers.csv"), dir.join("labels.csv"));
    let auditor = r#"
import os, sys, numpy as np, torch
from PIL import Image
folder, model, scores, labels = sys.argv[1:]
m = torch.jit.load(model)
names = sorted(os.listdir(folder))
x = torch.from_numpy(np.stack([np.asarray(Image.open(os.path.join(folder, n))) for n in names])[:, None].astype(np.float32) / 255)
with torch.no_grad():
    out = m(x).double()
with open(scores, "w") as f:
    f.write("image," + ",".join(str(j) for j in range(out.shape[1])) + "\n")
    for n, row in zip(names, out.tolist()):
        f.write(n + "," + ",".join(repr(v) for v in row) + "\n")
with open(labels, "w") as f:
    f.write("image,label\n" + "".join(f"{n[:-4]},{int(r.argmax())}\n" for n, r in zip(names, out)))
"#;
    let o = Command::new("python3").args(["-c", auditor, queries.to_str().unwrap(), pt, scores.to_str().unwrap(), labels.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = verify_json(key, &["--answers", scores.to_str().unwrap()], &["--output", "logits"]);
    assert_eq!(code, 1, "{v}");
    let f = |v: &serde_json::Value, field: &str| v[field].as_f64().unwrap();
    for field in ["mean_loss_released", "mean_loss_withheld"] {
        assert!((f(&v, field) - f(live, field)).abs() < 1e-4, "{field}: recorded {v} vs live {live}");
    }
    assert!(f(&v, "p_value") < 1e-4, "{v}");
    let (code, v) = verify_json(key, &["--answers", labels.to_str().unwrap()], &["--label-only"]);
    assert!(code == 1 && v["method"].as_str().unwrap().contains("Fisher"), "{v}");
    let text = std::fs::read_to_string(&scores).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let dropped = lines.remove(7)[..64].to_string();
    let partial = dir.join("partial.csv");
    std::fs::write(&partial, lines.join("\n")).unwrap();
    let o = run(&["verify", "--key", key.to_str().unwrap(), "--answers", partial.to_str().unwrap()]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains(&dropped) && stderr(&o).contains("partial.csv"), "{}", stderr(&o));
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

/// The goal-regime experiment's scripts (RESULTS.md), small and on the CPU:
/// releases packed as differences from the base set (checked against the
/// release folders), foreign suspects trained on them (PyTorch), their
/// logits judged by `verify --answers`, a rerun that trains nothing again,
/// and a key paired with the wrong release refused.
#[test]
fn the_regime_scripts_run_small_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 2000);
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(Path::new(FMNIST).join(f), data.join(f)).unwrap();
    }
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let protect = |name: &str, extra: &[&str]| {
        let (rel, key) = (dir.path().join(name), dir.path().join(format!("{name}.key")));
        let mut args = vec!["protect", "--data", data.to_str().unwrap(), "--out", rel.to_str().unwrap(), "--key", key.to_str().unwrap()];
        args.extend(["--count", "20", "--proxy-epochs", "2", "--steps", "5", "--no-baseline", "--seed", "0"]);
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (p(&key), p(&rel))
    };
    let (hk, hr) = protect("honey-k0", &[]);
    let (pk, pr) = protect("plain-k0", &["--no-perturb"]);
    let script = |name: &str| format!("{}/../../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let python = |args: &[String]| Command::new("python3").args(args).output().unwrap();
    let prep = p(&dir.path().join("prep"));
    let wrong = python(&[script("regime_prepare.py"), prep.clone(), p(&data), format!("honey-k0={hk}:{pr}")]);
    assert!(!wrong.status.success() && stderr(&wrong).contains("differs"), "{}", stderr(&wrong));
    let o = python(&[script("regime_prepare.py"), prep.clone(), p(&data), format!("honey-k0={hk}:{hr}"), format!("plain-k0={pk}:{pr}"), "--archs".into(), "smallcnn".into(), "--clean-seeds".into(), "1".into()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3 jobs"), "{}", stdout(&o));
    let sus = p(&dir.path().join("suspects"));
    let train = || python(&[script("regime_suspects.py"), prep.clone(), sus.clone(), "--device".into(), "cpu".into(), "--epochs".into(), "2".into(), "--workers".into(), "1".into()]);
    let o = train();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("test ").count(), 3, "{}", stdout(&o));
    let o = train();
    assert!(o.status.success() && !stdout(&o).contains("test "), "a rerun resumes: {}", stdout(&o));
    let out = dir.path().join("verdicts");
    let o = python(&[script("regime_verify.py"), p(&out), prep, sus, format!("honey-k0={hk}"), format!("plain-k0={pk}"), "--bin".into(), env!("CARGO_BIN_EXE_honeyimage").into()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("honey - plain: 1 pairs"), "{}", stdout(&o));
    let tsv = std::fs::read_to_string(out.join("results.tsv")).unwrap();
    // 2 infringing suspects x 2 tests, and the clean one x 2 keys x 2 tests.
    assert_eq!(tsv.lines().count(), 1 + 4 + 4, "{tsv}");
    let ps: Vec<f64> = tsv.lines().skip(1).map(|l| l.split('\t').nth(7).unwrap().parse().unwrap()).collect();
    assert!(ps.iter().all(|p| (0.0..=1.0).contains(p)), "{ps:?}");
}
