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
    // The calibrated test is reported beside the raw one for every method
    // with a key, on the same suspects; the watermark has none.
    for (i, m) in methods.iter().enumerate() {
        let c = &r["methods"][i]["calibrated"];
        let keyed = suspects.iter().filter(|s| s["method"] == *m && s["key"] == 0 && s.get("attack").is_none());
        if *m == "badnets" {
            assert!(c.is_null() && suspects.iter().all(|s| s["method"] != "badnets" || s.get("calibrated_p").is_none()), "{c}");
            continue;
        }
        assert!(keyed.clone().all(|s| (0.0..=1.0).contains(&s["calibrated_p"].as_f64().unwrap())), "{m}");
        assert_eq!((c["infringing"].as_u64(), c["clean"].as_u64()), (r["methods"][i]["n_infringing"].as_u64(), r["methods"][i]["n_clean"].as_u64()), "{m}: {c}");
    }
    assert!(r["stealth"]["linf_max"].as_u64().unwrap() <= 4);
    assert!(!r["curve"].as_array().unwrap().is_empty(), "training-length curve missing");
    // Every method with a key has its own curve, at epoch 5 and at the end.
    let curves = r["method_curves"].as_array().unwrap();
    let named: Vec<&str> = curves.iter().map(|c| c["method"].as_str().unwrap()).collect();
    assert_eq!(named, ["honeyimage", "random-pgd", "hard-unperturbed"], "BadNets has no key, so no curve");
    for c in curves {
        let epochs: Vec<u64> = c["points"].as_array().unwrap().iter().map(|p| p["epoch"].as_u64().unwrap()).collect();
        assert_eq!(epochs, [5, 15], "{}", c["method"]);
    }
    assert_eq!(curves[0]["points"], r["curve"]);
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

/// The robustness suite, one attack per family on a tiny subset: every
/// attack yields an infringing suspect per method and a clean one, the
/// cleaning attack says what it removed, and the report shows the table.
#[test]
fn robustness_suite_runs_one_attack_per_family() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("exp.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
data = "{FMNIST}"
private_size = 1000
test_limit = 300
curve_epochs = []
minus_honey = false
[protect]
count = 20
steps = 5
random_baseline = false
[protect.proxy_train]
epochs = 2
[suspect_train]
epochs = 5
[[archs]]
arch = "small-cnn"
seeds = [0]
[baselines]
random_pgd = false
[[attacks]]
kind = "jpeg"
quality = 75
[[attacks]]
kind = "augment"
crop_padding = 2
flip = true
[[attacks]]
kind = "loss-filter"
drop = 0.05
folds = 2
[[attacks]]
kind = "spectral"
expected = 0.02
[[attacks]]
kind = "prune"
fraction = 0.5
finetune_epochs = 1
[[attacks]]
kind = "labels-only"
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run(&["eval", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let rows = r["robustness"].as_array().unwrap();
    let attacks: Vec<&str> = rows.iter().map(|a| a["attack"].as_str().unwrap()).collect();
    assert_eq!(attacks.len(), 18, "6 attacks x 3 methods: {attacks:?}");
    for a in ["jpeg-q75", "crop2-flip", "loss-filter-0p05-f2", "spectral-0p02-x1p5", "prune-0p5-ft1", "labels-only"] {
        assert_eq!(attacks.iter().filter(|&&x| x == a).count(), 3, "{a}");
    }
    let row = |attack: &str, method: &str| rows.iter().find(|a| a["attack"] == attack && a["method"] == method).unwrap();
    for a in rows.iter().filter(|a| a["method"] != "badnets" || a["attack"] != "labels-only") {
        assert_eq!((a["infringing"].as_u64(), a["clean"].as_u64()), (Some(1), Some(1)), "{a}");
    }
    // A watermark needs probabilities: behind a label-only API it is not judged.
    assert_eq!(row("labels-only", "badnets")["infringing"], 0);
    assert!(row("labels-only", "honeyimage")["label_only"].as_bool().unwrap());
    // The API hides scores, not top-1 answers: the accuracy is the base model's.
    let lo = row("labels-only", "honeyimage");
    assert!((lo["test_accuracy"].as_f64().unwrap() - lo["base_test_accuracy"].as_f64().unwrap()).abs() < 1e-12, "{lo}");
    let removed = &row("loss-filter-0p05-f2", "honeyimage")["removed"];
    assert!((removed["all"].as_f64().unwrap() - 0.05).abs() < 0.01, "{removed}");
    assert!((0.0..=1.0).contains(&removed["marked"].as_f64().unwrap()), "{removed}");
    // Spectral signatures remove 1.5 x 2% of each class (rounded per class).
    let removed = &row("spectral-0p02-x1p5", "honeyimage")["removed"];
    assert!((removed["all"].as_f64().unwrap() - 0.03).abs() < 0.01, "{removed}");
    assert!((0.0..=1.0).contains(&removed["marked"].as_f64().unwrap()), "{removed}");
    // Attacked suspects stay out of the main summary and the key population.
    assert_eq!(r["methods"][0]["n_infringing"], 1);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"robustness\""), "robustness section missing");
    // Behind a label-only API there are no losses to calibrate.
    assert!(row("labels-only", "honeyimage").get("calibrated").is_none());
    assert_eq!(row("jpeg-q75", "honeyimage")["calibrated"]["infringing"], 1);
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("attack"));
    assert!(csv.contains("jpeg-q75"));
}

/// A sweep over N with two tiny points: each point is an ordinary run
/// folder, the summary agrees with the points' own results, the page links
/// them, a rerun reuses everything, and a sweep is refused where one
/// evaluation is meant.
#[test]
fn a_sweep_over_n_runs_one_evaluation_per_value_and_pairs_the_methods() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
data = "{FMNIST}"
private_size = 600
test_limit = 200
curve_epochs = []
minus_honey = false
[protect]
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
hard_unperturbed = true
[[attacks]]
kind = "augment"
crop_padding = 2
flip = true
[sweep]
parameter = "count"
values = [16, 8]
"#
        ),
    )
    .unwrap();
    let (cfg_s, out) = (cfg.to_str().unwrap(), dir.path().join("run"));
    let o = run(&["eval", "--config", cfg_s, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("honeyimage - hard-unperturbed: TPR"), "{}", stdout(&o));
    let read = |p: &std::path::Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let sweep = read(&out.join("sweep.json"));
    let points = sweep["points"].as_array().unwrap();
    // Run as listed (16 first), summarised in order of the value.
    assert_eq!(points.iter().map(|p| p["value"].as_u64().unwrap()).collect::<Vec<_>>(), [8, 16]);
    for p in points {
        let run_dir = out.join(p["run"].as_str().unwrap());
        let r = read(&run_dir.join("results.json"));
        assert_eq!(r["config"]["protect"]["count"], p["value"], "the point ran with its own N");
        // Plain and crop + flip, for both methods, each with one infringing suspect.
        let rows = p["rows"].as_array().unwrap();
        let recipes: Vec<(&str, &str)> = rows.iter().map(|r| (r["attack"].as_str().unwrap(), r["method"].as_str().unwrap())).collect();
        assert_eq!(recipes, [("", "honeyimage"), ("", "hard-unperturbed"), ("crop2-flip", "honeyimage"), ("crop2-flip", "hard-unperturbed")]);
        for row in rows {
            let own = r["suspects"].as_array().unwrap().iter().find(|s| s["method"] == row["method"] && s["role"] == "infringing" && s["attack"].as_str().unwrap_or("") == row["attack"].as_str().unwrap()).unwrap();
            assert_eq!(row["median_p"], own["p_value"], "one suspect: its p-value is the median");
            assert_eq!((row["infringing"].as_u64(), row["clean"].as_u64()), (Some(1), Some(1)));
        }
        let paired = p["paired"].as_array().unwrap();
        assert_eq!(paired.len(), 2);
        assert!(paired.iter().all(|d| d["pairs"] == 1 && d["baseline"] == "hard-unperturbed"));
        assert!(p["stealth"]["ssim_mean"].as_f64().unwrap() > 0.9);
    }
    let html = std::fs::read_to_string(out.join("sweep.html")).unwrap();
    assert!(html.contains("points/count-16/report.html") && html.contains("Suspects trained with crop2-flip"));
    assert!(!html.contains("could not be drawn"));

    // Rerun: every point cached, the same summary.
    let t = std::time::Instant::now();
    let o = run(&["eval", "--config", cfg_s, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.elapsed().as_secs() < 60, "rerun took {:?}", t.elapsed());
    assert_eq!(read(&out.join("sweep.json")), sweep);

    // The swept parameter cannot also be set by a flag, and a sweep is not one plan.
    let o = run(&["eval", "--config", cfg_s, "--out", out.to_str().unwrap(), "--count", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--count conflicts with the configuration's sweep over count"), "{}", stderr(&o));
    let o = run(&["eval", "plan", "--config", cfg_s, "--out", dir.path().join("plan").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("sweeps count"), "{}", stderr(&o));
}
