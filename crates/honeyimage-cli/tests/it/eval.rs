//! A small configuration of the evaluation pipeline on real Fashion-MNIST:
//! it must separate infringing from clean suspects, write every artefact,
//! and a rerun must reuse everything it finished.
use crate::common::*;

#[test]
fn small_evaluation_separates_infringing_from_clean_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exp.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
data = "{FMNIST}"
private_size = 2000
test_limit = 500
curve_epochs = [5]
[protect]
count = 20
steps = 10
random_baseline = false
[protect.proxy_train]
epochs = 3
[suspect_train]
epochs = 15
[[archs]]
arch = "small-cnn"
seeds = [0, 1]
[baselines]
seeds_per_arch = 1
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run(&["eval", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["results.json", "results.csv", "report.html", "honeyimage/key.hkey"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let suspects = r["suspects"].as_array().unwrap();
    let stat = |method: &str, role: &str| -> Vec<f64> {
        suspects.iter().filter(|s| s["method"] == method && s["role"].as_str().unwrap().starts_with(role)).map(|s| s["statistic"].as_f64().unwrap()).collect()
    };
    let (inf, clean) = (stat("honeyimage", "infringing"), stat("honeyimage", "clean"));
    assert_eq!(inf.len(), 2);
    assert_eq!(clean.len(), 4, "disjoint and minus-honey clean suspects");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&inf) > mean(&clean) + 3.0, "infringing {inf:?} vs clean {clean:?} (-log10 p)");
    let methods: Vec<&str> = r["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["honeyimage", "random-pgd", "hard-unperturbed", "badnets"]);
    assert!(r["methods"][0]["auroc"].as_f64().unwrap() > 0.9, "{}", r["methods"][0]);
    assert!(r["stealth"]["linf_max"].as_u64().unwrap() <= 4);
    assert!(!r["curve"].as_array().unwrap().is_empty(), "training-length curve missing");
    // Every suspect reports how well it fits its data.
    assert!(suspects.iter().all(|s| s["train_accuracy"].as_f64().unwrap() > 0.5));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), suspects.len() + 1);

    // A rerun finds everything cached and finishes at once with the same numbers.
    let t = std::time::Instant::now();
    let o = run(&["eval", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.elapsed().as_secs() < 60, "rerun took {:?}", t.elapsed());
    let r2: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["suspects"], r2["suspects"]);
    // Another configuration in the same folder is refused.
    let o = run(&["eval", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--epochs", "3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("another configuration"), "{}", stderr(&o));
}
