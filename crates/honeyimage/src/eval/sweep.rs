//! Power curves: the same experiment at each value of one parameter (N,
//! the private set's size, the suspects' training length), each point a
//! whole evaluation in `RUN/points/PARAM-VALUE/`, summarised into
//! `RUN/sweep.json` and drawn in `RUN/sweep.html` after every point. Every
//! point is an ordinary run folder, cached and resumable like any other, so
//! a sweep stopped at its third point resumes there, and a point can be run
//! (or inspected) on its own.
//!
//! Within a point the baselines share HoneyImage's candidates and the
//! suspects their seeds; the summary's paired differences rest on that.
use std::path::{Path, PathBuf};

use honeyimage_report::sweep::summarise_point;
pub use honeyimage_report::sweep::{PairedRow, PowerRow, SweepPoint, SweepResults};

use crate::config::{EvalConfig, Sweep, SweepParameter};
use crate::fsio::write_json;
use crate::{Error, Result};

/// The sweep of `config`, checked: values given, distinct and each a valid
/// experiment.
pub fn of(config: &EvalConfig) -> Result<&Sweep> {
    let sweep = config.sweep.as_ref().ok_or_else(|| Error::invalid("sweep", "the configuration has no [sweep] table"))?;
    if sweep.values.is_empty() {
        return Err(Error::invalid("sweep.values", "no values to sweep"));
    }
    let mut seen = sweep.values.clone();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid("sweep.values", format!("{} is listed twice", w[0])));
    }
    for &v in &sweep.values {
        point_config(config, sweep.parameter, v).validate().map_err(|e| Error::invalid("sweep.values", format!("{} = {v}: {e}", sweep.parameter.as_str())))?;
    }
    Ok(sweep)
}

/// The experiment of one point: `base` with the parameter set and no sweep.
pub fn point_config(base: &EvalConfig, parameter: SweepParameter, value: usize) -> EvalConfig {
    let mut c = EvalConfig { sweep: None, ..base.clone() };
    match parameter {
        SweepParameter::Count => c.protect.count = value,
        SweepParameter::PrivateSize => c.private_size = Some(value),
        SweepParameter::Epochs => c.suspect_train.epochs = value,
    }
    c
}

/// The run folder of one point, relative to the sweep's.
pub fn point_name(parameter: SweepParameter, value: usize) -> String {
    format!("points/{}-{value}", parameter.as_str())
}

/// The run folder of one point.
pub fn point_dir(run_dir: &Path, parameter: SweepParameter, value: usize) -> PathBuf {
    run_dir.join(point_name(parameter, value))
}

/// Writes `sweep.json` and `sweep.html`.
fn write_outputs(results: &SweepResults, run_dir: &Path) -> Result<()> {
    write_json(&run_dir.join("sweep.json"), results)?;
    Ok(honeyimage_report::write_sweep(results, &run_dir.join("sweep.html"))?)
}

/// Runs (or resumes) every point of `config`'s sweep with `run_point` (an
/// in-process evaluation, or the plan's jobs on several processes), and
/// rewrites the summary after each point.
pub fn evaluate_sweep(
    config: &EvalConfig,
    run_dir: &Path,
    run_point: &mut dyn FnMut(&EvalConfig, &Path) -> Result<crate::eval::EvalResults>,
) -> Result<SweepResults> {
    let sweep = of(config)?;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    write_json(&run_dir.join("sweep-config.json"), config)?;
    let mut results = SweepResults {
        parameter: sweep.parameter.as_str().into(),
        label: sweep.parameter.label().into(),
        alpha: config.alpha,
        config: serde_json::to_value(EvalConfig { sweep: None, ..config.clone() }).expect("serialisable"),
        points: Vec::new(),
    };
    for &value in &sweep.values {
        let point = point_config(config, sweep.parameter, value);
        let r = run_point(&point, &point_dir(run_dir, sweep.parameter, value))?;
        results.points.push(summarise_point(value, point_name(sweep.parameter, value), &r));
        // Curves run left to right, whatever order the points ran in.
        results.points.sort_by_key(|p| p.value);
        write_outputs(&results, run_dir)?;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swept(parameter: SweepParameter, values: Vec<usize>) -> EvalConfig {
        EvalConfig { sweep: Some(Sweep { parameter, values }), ..EvalConfig::default() }
    }

    #[test]
    fn each_point_sets_its_parameter_and_drops_the_sweep() {
        let c = swept(SweepParameter::Count, vec![10, 25]);
        let p = point_config(&c, SweepParameter::Count, 25);
        assert_eq!((p.protect.count, p.sweep.is_none()), (25, true));
        assert!(p.same_material(&point_config(&c, SweepParameter::Count, 25)) && !p.same_material(&point_config(&c, SweepParameter::Count, 10)));
        assert_eq!(point_config(&c, SweepParameter::PrivateSize, 3000).private_size, Some(3000));
        assert_eq!(point_config(&c, SweepParameter::Epochs, 7).suspect_train.epochs, 7);
        assert_eq!(point_dir(Path::new("/r"), SweepParameter::PrivateSize, 3000), Path::new("/r/points/private_size-3000"));
    }

    #[test]
    fn bad_sweeps_are_refused_before_anything_runs() {
        let msg = |c: EvalConfig| of(&c).unwrap_err().to_string();
        assert!(msg(swept(SweepParameter::Count, vec![])).contains("no values"));
        assert!(msg(swept(SweepParameter::Count, vec![10, 25, 10])).contains("10 is listed twice"));
        assert!(msg(swept(SweepParameter::Count, vec![10, 0])).contains("count = 0"), "{}", msg(swept(SweepParameter::Count, vec![10, 0])));
        assert!(msg(EvalConfig::default()).contains("no [sweep]"));
        assert!(of(&swept(SweepParameter::Epochs, vec![5, 10])).is_ok());
    }

    #[test]
    fn a_sweep_reads_from_toml_and_is_not_one_evaluation() {
        let c: EvalConfig = toml::from_str("[sweep]\nparameter = \"count\"\nvalues = [10, 25]\n").unwrap();
        assert_eq!(c.sweep, Some(Sweep { parameter: SweepParameter::Count, values: vec![10, 25] }));
        assert!(c.single().unwrap_err().to_string().contains("sweeps count"));
        assert!(toml::from_str::<EvalConfig>("[sweep]\nparameter = \"lr\"\nvalues = [1]\n").is_err());
        assert!(toml::from_str::<EvalConfig>("[sweep]\nparameter = \"count\"\nvalue = [1]\n").is_err());
    }

    #[test]
    fn every_example_experiment_reads_and_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c: EvalConfig = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                c.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if c.sweep.is_some() {
                    of(&c).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                seen += 1;
            }
        }
        assert!(seen >= 8, "{seen} example experiments");
    }

    #[test]
    fn a_failing_point_stops_the_sweep_with_the_points_before_it_written() {
        let dir = tempfile::tempdir().unwrap();
        let c = swept(SweepParameter::Count, vec![10, 25]);
        let mut calls = Vec::new();
        let err = evaluate_sweep(&c, dir.path(), &mut |p, d| {
            calls.push((p.protect.count, d.to_path_buf()));
            Err(Error::invalid("x", "stop"))
        });
        assert!(err.is_err());
        assert_eq!(calls, vec![(10, dir.path().join("points/count-10"))]);
        assert!(dir.path().join("sweep-config.json").exists() && !dir.path().join("sweep.json").exists());
    }
}
