//! Long jobs killed at arbitrary points resume and finish with the same
//! result as an uninterrupted run with the same seed (`protect` has its own
//! test in protect.rs): `train` through its checkpoints, `eval` through its
//! per-model cache.
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Starts `args`, kills it (SIGKILL) once `ready` holds or `after` has
/// passed, and reports whether it was killed before finishing.
fn run_and_kill(args: &[String], ready: &dyn Fn() -> bool, after: Duration) -> bool {
    let mut child = bin().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed before it was killed");
            return false;
        }
        if ready() || t.elapsed() > after {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn files_named(dir: &Path, name: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten().map(|e| if e.path().is_dir() { files_named(&e.path(), name) } else { usize::from(e.file_name() == name) }).sum()
}

#[test]
fn train_killed_repeatedly_resumes_to_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 2000);
    let args = |out: &Path| -> Vec<String> {
        ["train", "--data", data.to_str().unwrap(), "--epochs", "3", "--test-limit", "200", "--out", out.to_str().unwrap(), "--checkpoint-every", "0.001"]
            .map(String::from)
            .to_vec()
    };
    let a = dir.path().join("a");
    let o = bin().args(args(&a)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Kill at several points: early, mid-epoch, later; each run resumes the last.
    let b = dir.path().join("b");
    let ckpt = dir.path().join("b.checkpoint");
    let mut kills = 0;
    let mut resumed_steps = Vec::new();
    for delay_ms in [1200, 1000, 1500, 1100, 1300, 1400] {
        if b.exists() {
            break;
        }
        if run_and_kill(&args(&b), &|| false, Duration::from_millis(delay_ms)) {
            kills += 1;
            if let Ok(s) = std::fs::read_to_string(ckpt.join("LATEST")) {
                resumed_steps.push(s);
            }
        }
    }
    assert!(kills >= 2, "the run finished before it could be killed twice");
    assert!(resumed_steps.len() >= 2, "no checkpoints were written: {resumed_steps:?}");
    if !b.exists() {
        let o = bin().args(args(&b)).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(a.join("model.safetensors")).unwrap(), std::fs::read(b.join("model.safetensors")).unwrap(), "resumed weights differ (checkpoints {resumed_steps:?})");
    assert!(!ckpt.exists(), "the checkpoint folder is removed once the model is saved");
    let ra: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("config.json")).unwrap()).unwrap();
    let rb: serde_json::Value = serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(ra["training"]["report"]["final_train_accuracy"], rb["training"]["report"]["final_train_accuracy"]);
    assert_eq!(ra["training"]["test_accuracy"], rb["training"]["test_accuracy"]);

    // A checkpoint left by another run (here: 3 epochs) is not used by a
    // 2-epoch run, which ends exactly like a 2-epoch run from scratch.
    let (c, d) = (dir.path().join("c"), dir.path().join("d"));
    assert!(run_and_kill(&args(&c), &|| dir.path().join("c.checkpoint").join("LATEST").exists(), Duration::from_secs(60)));
    let two = |out: &Path| {
        let mut v = args(out);
        v[4] = "2".into();
        let o = bin().args(&v).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    two(&c);
    two(&d);
    assert_eq!(std::fs::read(c.join("model.safetensors")).unwrap(), std::fs::read(d.join("model.safetensors")).unwrap(), "a foreign checkpoint was used");
}

#[test]
fn eval_killed_repeatedly_resumes_to_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exp.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
data = "{FMNIST}"
private_size = 1000
test_limit = 200
curve_epochs = [2]
[protect]
count = 10
steps = 4
random_baseline = false
[protect.proxy_train]
epochs = 2
[suspect_train]
epochs = 4
[[archs]]
arch = "small-cnn"
seeds = [0]
[baselines]
random_pgd = false
badnets = false
seeds_per_arch = 1
"#
        ),
    )
    .unwrap();
    let args = |out: &Path| -> Vec<String> { ["eval", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()].map(String::from).to_vec() };
    let a = dir.path().join("a");
    let o = bin().args(args(&a)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Killed during protection, then after one and after three suspect models.
    let b = dir.path().join("b");
    let count = || files_named(&b, "model.safetensors");
    let key = b.join("honeyimage").join("key.hkey");
    let mut kills = 0;
    kills += usize::from(run_and_kill(&args(&b), &|| b.join("honeyimage").exists(), Duration::from_secs(120)));
    kills += usize::from(run_and_kill(&args(&b), &|| key.exists() && count() >= 1, Duration::from_secs(120)));
    kills += usize::from(run_and_kill(&args(&b), &|| count() >= 3, Duration::from_secs(120)));
    assert!(kills >= 2, "eval finished before it could be killed");
    let o = bin().args(args(&b)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p.join("results.json")).unwrap()).unwrap() };
    let (ra, rb) = (read(&a), read(&b));
    assert_eq!(ra["suspects"], rb["suspects"], "resumed evaluation differs");
    assert_eq!(ra["methods"], rb["methods"]);
    assert_eq!(ra["stealth"], rb["stealth"]);
}
