//! inspect, train, eval-model and bad inputs, on real Fashion-MNIST.
use crate::common::*;

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

