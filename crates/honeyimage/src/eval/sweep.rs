//! Power curves: the same experiment at each value of one parameter (N,
//! the private set's size, the suspects' training length), each point a
//! whole evaluation in `RUN/points/PARAM-VALUE/`, summarised into
//! `RUN/sweep.json` and drawn in `RUN/sweep.html` after every point. Every
//! point is an ordinary run folder, cached and resumable like any other, so
//! a sweep stopped at its third point resumes there, and a point can be run
//! (or inspected) on its own. With `keys = K`, each point runs K
//! evaluations, one per protection seed (`points/PARAM-VALUE/` for the
//! first, `points/PARAM-VALUE-key-J/` for the others), and its summary
//! pools their suspects.
//!
//! Within one evaluation the baselines share HoneyImage's candidates and the
//! suspects their seeds; the summary's paired differences rest on that.
use std::path::{Path, PathBuf};

use honeyimage_report::sweep::summarise_point;
pub use honeyimage_report::sweep::{PairedRow, PowerRow, SweepPoint, SweepResults};

use crate::config::{EvalConfig, Sweep, SweepParameter};
use crate::fsio::write_json;
use crate::{Error, Result};

/// The sweep of `config`, checked: values given, distinct and each a valid
/// experiment, and a sane number of keys.
pub fn of(config: &EvalConfig) -> Result<&Sweep> {
    let sweep = config.sweep.as_ref().ok_or_else(|| Error::invalid("sweep", "the configuration has no [sweep] table"))?;
    if sweep.values.is_empty() {
        return Err(Error::invalid("sweep.values", "no values to sweep"));
    }
    if !(1..=100).contains(&sweep.keys) {
        return Err(Error::invalid("sweep.keys", format!("{} (must be in 1..=100)", sweep.keys)));
    }
    let mut seen = sweep.values.clone();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid("sweep.values", format!("{} is listed twice", w[0])));
    }
    for &v in &sweep.values {
        point_config(config, sweep.parameter, v, 0).validate().map_err(|e| Error::invalid("sweep.values", format!("{} = {v}: {e}", sweep.parameter.as_str())))?;
    }
    Ok(sweep)
}

/// The experiment of one point's key `key`: `base` with the parameter set,
/// the protection seeds moved on by `key`, and no sweep.
pub fn point_config(base: &EvalConfig, parameter: SweepParameter, value: usize, key: usize) -> EvalConfig {
    let mut c = EvalConfig { sweep: None, ..base.clone() };
    match parameter {
        SweepParameter::Count => c.protect.count = value,
        SweepParameter::PrivateSize => c.private_size = Some(value),
        SweepParameter::Epochs => c.suspect_train.epochs = value,
    }
    c.protect.seed = c.protect.seed.wrapping_add(key as u64);
    c.protect.proxy_train.seed = c.protect.proxy_train.seed.wrapping_add(key as u64);
    c
}

/// The run folder of one point's key, relative to the sweep's.
pub fn point_name(parameter: SweepParameter, value: usize, key: usize) -> String {
    match key {
        0 => format!("points/{}-{value}", parameter.as_str()),
        j => format!("points/{}-{value}-key-{j}", parameter.as_str()),
    }
}

/// The run folder of one point's key.
pub fn point_dir(run_dir: &Path, parameter: SweepParameter, value: usize, key: usize) -> PathBuf {
    run_dir.join(point_name(parameter, value, key))
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
        let mut keys = Vec::with_capacity(sweep.keys);
        for key in 0..sweep.keys {
            let point = point_config(config, sweep.parameter, value, key);
            keys.push(run_point(&point, &point_dir(run_dir, sweep.parameter, value, key))?);
        }
        results.points.push(summarise_point(value, point_name(sweep.parameter, value, 0), &keys));
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
        EvalConfig { sweep: Some(Sweep { parameter, values, keys: 1 }), ..EvalConfig::default() }
    }

    #[test]
    fn each_point_sets_its_parameter_and_drops_the_sweep() {
        let c = swept(SweepParameter::Count, vec![10, 25]);
        let p = point_config(&c, SweepParameter::Count, 25, 0);
        assert_eq!((p.protect.count, p.sweep.is_none()), (25, true));
        assert!(p.same_material(&point_config(&c, SweepParameter::Count, 25, 0)) && !p.same_material(&point_config(&c, SweepParameter::Count, 10, 0)));
        assert_eq!(point_config(&c, SweepParameter::PrivateSize, 3000, 0).private_size, Some(3000));
        assert_eq!(point_config(&c, SweepParameter::Epochs, 7, 0).suspect_train.epochs, 7);
        assert_eq!(point_dir(Path::new("/r"), SweepParameter::PrivateSize, 3000, 0), Path::new("/r/points/private_size-3000"));
        // Key 0 is the plain point (the folder a one-key sweep writes);
        // other keys move only the protection's seeds.
        let k2 = point_config(&c, SweepParameter::Count, 25, 2);
        assert_eq!((k2.protect.seed, k2.protect.proxy_train.seed, k2.seed), (p.protect.seed + 2, p.protect.proxy_train.seed + 2, p.seed));
        assert_eq!((k2.suspect_train.clone(), k2.archs.clone()), (p.suspect_train.clone(), p.archs.clone()));
        assert_eq!(point_dir(Path::new("/r"), SweepParameter::Count, 25, 2), Path::new("/r/points/count-25-key-2"));
    }

    #[test]
    fn bad_sweeps_are_refused_before_anything_runs() {
        let msg = |c: EvalConfig| of(&c).unwrap_err().to_string();
        assert!(msg(swept(SweepParameter::Count, vec![])).contains("no values"));
        assert!(msg(swept(SweepParameter::Count, vec![10, 25, 10])).contains("10 is listed twice"));
        assert!(msg(swept(SweepParameter::Count, vec![10, 0])).contains("count = 0"), "{}", msg(swept(SweepParameter::Count, vec![10, 0])));
        assert!(msg(EvalConfig::default()).contains("no [sweep]"));
        assert!(of(&swept(SweepParameter::Epochs, vec![5, 10])).is_ok());
        let no_keys = EvalConfig { sweep: Some(Sweep { parameter: SweepParameter::Count, values: vec![10], keys: 0 }), ..EvalConfig::default() };
        assert!(msg(no_keys).contains("sweep.keys"));
    }

    #[test]
    fn a_sweep_reads_from_toml_and_is_not_one_evaluation() {
        let c: EvalConfig = toml::from_str("[sweep]\nparameter = \"count\"\nvalues = [10, 25]\n").unwrap();
        assert_eq!(c.sweep, Some(Sweep { parameter: SweepParameter::Count, values: vec![10, 25], keys: 1 }));
        let k: EvalConfig = toml::from_str("[sweep]\nparameter = \"count\"\nvalues = [10]\nkeys = 3\n").unwrap();
        assert_eq!(k.sweep.map(|s| s.keys), Some(3));
        assert!(c.single().unwrap_err().to_string().contains("sweeps count"));
        assert!(toml::from_str::<EvalConfig>("[sweep]\nparameter = \"lr\"\nvalues = [1]\n").is_err());
        assert!(toml::from_str::<EvalConfig>("[sweep]\nparameter = \"count\"\nvalue = [1]\n").is_err());
    }

    #[test]
    fn every_example_experiment_reads_and_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut seen = 0;
        let entries = std::fs::read_dir(&dir).unwrap().chain(std::fs::read_dir(dir.join("variants")).unwrap());
        for entry in entries {
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
        assert!(seen >= 13, "{seen} example experiments");
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

    /// A finished evaluation that judged nothing.
    fn no_suspects() -> crate::eval::EvalResults {
        let stealth = serde_json::json!({ "ssim_mean": 1.0, "ssim_min": 1.0, "psnr_mean": 99.0, "linf_max": 0, "lpips_stl": null });
        let r = serde_json::json!({ "config": {}, "versions": {}, "alpha": 0.001, "suspects": [], "methods": [], "stealth": stealth, "curve": [], "examples": [], "wall_seconds": 0.0 });
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn each_point_runs_every_key_in_its_own_folder_before_the_next_point() {
        let dir = tempfile::tempdir().unwrap();
        let c = EvalConfig { sweep: Some(Sweep { parameter: SweepParameter::Count, values: vec![10, 25], keys: 3 }), ..EvalConfig::default() };
        let mut calls = Vec::new();
        let err = evaluate_sweep(&c, dir.path(), &mut |p, d| {
            calls.push((p.protect.count, p.protect.seed, d.strip_prefix(dir.path()).unwrap().to_path_buf()));
            if calls.len() == 3 {
                Err(Error::invalid("x", "stop"))
            } else {
                Ok(no_suspects())
            }
        });
        assert!(err.is_err());
        let want: Vec<(usize, u64, PathBuf)> = vec![(10, 0, "points/count-10".into()), (10, 1, "points/count-10-key-1".into()), (10, 2, "points/count-10-key-2".into())];
        assert_eq!(calls, want);
    }
}
