//! `evaluate`: the paper's protocol on real data (SPEC section 5). One run
//! protects a private dataset, trains a population of suspects — infringing
//! models on each method's release, clean models on disjoint data and on the
//! release minus the HoneyImages — over several architectures and seeds,
//! verifies every suspect through the same `Oracle` interface as `verify`,
//! and summarises AUROC / TPR / TNR, stealthiness and harmlessness for
//! HoneyImage and its baselines. Every trained model and verification is
//! cached in the run folder, so a rerun or a resumed run skips finished work.
//!
//! | stage | module |
//! |---|---|
//! | which methods and suspects | [`plan`] |
//! | private, disjoint and test data | [`data`] |
//! | a release and judge per method | [`releases`] |
//! | train and judge each suspect | [`suspects`] |
//! | the robustness attacks | [`attacks`] |
//! | per-method metrics, stealth, curve | [`summary`] |
//! | the run as jobs for a cluster | [`jobs`], [`schedule`], [`cluster`] |
//! | power curves: one run per value of a parameter | [`sweep`] |
//!
//! The results types and the report live in `honeyimage-report`, which
//! builds without libtorch.
pub mod attacks;
pub mod cluster;
pub mod data;
pub mod jobs;
pub mod plan;
pub mod releases;
pub mod schedule;
pub mod summary;
pub mod suspects;
pub mod sweep;

use std::path::Path;
use std::time::Instant;

pub use crate::config::{ArchSpec, Baselines, EvalConfig};
pub use honeyimage_report::results::EvalResults;
pub use honeyimage_report::{report, results, Method, Role};

use crate::fsio::{read_json, write_json};
use crate::protect::ProtectEvent;
use crate::train::TrainEvent;
use crate::{Error, Result};

/// Progress of a run.
#[derive(Debug, Clone)]
pub enum EvalEvent {
    /// The plan: number of jobs (releases and suspects).
    Plan {
        /// Total jobs.
        total: usize,
    },
    /// A job started.
    JobStart {
        /// Job name.
        name: String,
    },
    /// A job finished.
    JobDone {
        /// Job name.
        name: String,
        /// Whether it was found finished in the run folder.
        cached: bool,
        /// One-line outcome.
        outcome: String,
    },
    /// Protection progress.
    Protect(ProtectEvent),
    /// Suspect training progress.
    Train(TrainEvent),
}

/// Binds `run_dir` to `config`: a folder holding a run whose cached
/// results mean something else (other data, protection or training) is
/// refused; the population may grow or shrink between runs.
fn bind_run_dir(config: &EvalConfig, run_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let cfg_path = run_dir.join("config.json");
    match read_json::<EvalConfig>(&cfg_path)? {
        Some(c) if !c.same_material(config) => Err(Error::invalid(
            "run folder",
            format!("{} holds a run with another configuration (data, protection or training settings); use a new --out", run_dir.display()),
        )),
        _ => write_json(&cfg_path, config),
    }
}

/// Writes `results.json`, `results.csv` and `report.html`.
fn write_outputs(results: &EvalResults, run_dir: &Path) -> Result<()> {
    write_json(&run_dir.join("results.json"), results)?;
    honeyimage_data::write_atomic(&run_dir.join("results.csv"), report::suspects_csv(results).as_bytes())?;
    Ok(report::write_report(results, &run_dir.join("report.html"))?)
}

/// Runs (or resumes) an evaluation into `run_dir`.
pub fn evaluate(config: &EvalConfig, run_dir: &Path, on_event: &mut dyn FnMut(EvalEvent)) -> Result<EvalResults> {
    config.single()?;
    config.validate()?;
    let started = Instant::now();
    let device = crate::default_device();
    if let Some(p) = &config.lpips_weights {
        // Fail now, not after hours of training.
        crate::lpips::Lpips::load(p, device)?;
    }
    bind_run_dir(config, run_dir)?;
    let data = data::prepare(config, run_dir)?;
    let plan = plan::plan(config);
    let total = plan.methods.len() + (config.keys - 1) + plan.jobs.len() + config.external_clean.len();
    on_event(EvalEvent::Plan { total });
    let releases = releases::prepare(config, &plan.methods, &data, run_dir, on_event)?;
    let suspects = suspects::run_all(config, &plan.jobs, &data, &releases, run_dir, on_event)?;
    let honey_key = releases.honey_key();
    let results = EvalResults {
        config: serde_json::to_value(config).expect("serialisable"),
        versions: serde_json::json!({
            "honeyimage": env!("CARGO_PKG_VERSION"),
            "libtorch": "2.13.0",
            "device": format!("{device:?}"),
            "threads": tch::get_num_threads(),
        }),
        alpha: config.alpha,
        methods: plan.methods.iter().map(|&m| summary::summarise_method(m, &suspects, config)).collect::<Result<Vec<_>>>()?,
        stealth: summary::stealth(honey_key, config.lpips_weights.as_deref())?,
        curve: summary::curve_points(&suspects, config, Method::HoneyImage),
        method_curves: summary::method_curves(&suspects, config, &plan.methods),
        examples: summary::examples(honey_key),
        key_population: summary::key_population(&suspects, config.keys, config.seed)?,
        robustness: summary::robustness(&suspects, config, &plan.methods, honey_key.dataset.class_names.len())?,
        suspects,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    write_outputs(&results, run_dir)?;
    Ok(results)
}
