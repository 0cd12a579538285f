//! Small hand-built results for the unit tests of the report.

use crate::results::{EvalResults, MethodSummary, Stealth, SuspectResult};
use crate::{Method, Role};

/// One suspect with plain numbers.
pub fn suspect(name: &str, method: Method, role: Role, verdict: bool) -> SuspectResult {
    SuspectResult {
        name: name.into(),
        key: 0,
        method,
        role,
        arch: "small-cnn".into(),
        seed: 1,
        epochs: 3,
        train_accuracy: 0.9,
        test_accuracy: 0.8,
        p_value: if verdict { 1e-4 } else { 0.5 },
        statistic: if verdict { 4.0 } else { 0.301 },
        tau_score: 0.1,
        effect_size: 0.2,
        label_only_p: 0.3,
        verdict,
        curve: vec![],
        attack: String::new(),
        removed: None,
        calibrated_p: None,
    }
}

/// A method summary with every number set.
pub fn summary(method: Method) -> MethodSummary {
    MethodSummary {
        method,
        calibrated: None,
        n_infringing: 1,
        n_clean: 1,
        auroc: 1.0,
        auroc_ci: (0.9, 1.0),
        tpr: 1.0,
        tnr: 1.0,
        tpr_at_1pct_fpr: Some(1.0),
        tpr_at_01pct_fpr: None,
        roc: vec![],
        tau_auroc: Some(1.0),
        tau: Some(0.05),
        tau_tpr: Some(1.0),
        tau_tnr: Some(1.0),
        tau_roc: vec![],
        infringing_test_accuracy: 0.8,
        accuracy_drop_points: Some(0.2),
        accuracy_drop_ci95: None,
        accuracy_drop_pairs: 1,
    }
}

/// A run with the given suspects, one HoneyImage summary, no curve or examples.
pub fn results(suspects: Vec<SuspectResult>) -> EvalResults {
    EvalResults {
        config: serde_json::json!({ "data": "fmnist" }),
        versions: serde_json::json!({}),
        alpha: 0.01,
        suspects,
        methods: vec![summary(Method::HoneyImage)],
        stealth: Stealth {
            ssim_mean: 0.995,
            ssim_min: 0.99,
            psnr_mean: 45.0,
            linf_max: 4,
            lpips_stl: None,
        },
        curve: vec![],
        method_curves: vec![],
        examples: vec![],
        wall_seconds: 12.0,
        key_population: None,
        robustness: Vec::new(),
    }
}
