//! The settings layer: every command's effective settings are the library's
//! defaults, then an optional TOML file, then the flags the user gave. Flags
//! are `Option<T>` with no defaults of their own, so each default is written
//! once, in the library's `Default`, and `--help` shows it from there.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// What the process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success; for `verify`: no evidence that the suspect trained on the release.
    Success = 0,
    /// `verify`: the suspect trained on the protected release.
    Trained = 1,
    /// Any error (one line on stderr).
    Error = 2,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Puts a given flag's value into its setting.
pub fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *slot = v;
    }
}

/// A `--precision` flag: `fp32`, `bf16`, or `auto` (bf16 where the device
/// has bf16 units, see [`honeyimage::precision::best_available`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrecisionFlag {
    /// Decided by the device this run uses.
    Auto,
    /// As given.
    Fixed(honeyimage::config::Precision),
}

impl std::str::FromStr for PrecisionFlag {
    type Err = honeyimage::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(PrecisionFlag::Auto);
        }
        s.parse().map(PrecisionFlag::Fixed).map_err(|_| honeyimage::Error::invalid("precision", format!("{s:?}; expected auto, fp32 or bf16")))
    }
}

impl PrecisionFlag {
    /// The precision this run uses on the default device.
    pub fn resolve(self) -> honeyimage::config::Precision {
        match self {
            PrecisionFlag::Auto => honeyimage::precision::best_available(honeyimage::default_device()),
            PrecisionFlag::Fixed(p) => p,
        }
    }
}

/// Reads a TOML settings file (every field optional) or takes the defaults.
pub fn from_toml<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T> {
    let Some(p) = path else { return Ok(T::default()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: invalid settings file", p.display()))
}

/// Whether a TOML settings file sets the field at `path` (table names, then
/// the field): for the few defaults that depend on whether the user chose.
pub fn file_sets(file: Option<&Path>, path: &[&str]) -> Result<bool> {
    let Some(p) = file else { return Ok(false) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{}: invalid settings file", p.display()))?;
    let mut value = Some(&toml::Value::Table(table));
    for name in path {
        value = value.and_then(|v| v.get(*name));
    }
    Ok(value.is_some())
}

/// `key = value` lines of a settings type's defaults, for `--help`.
pub fn defaults_help<T: serde::Serialize + Default>(title: &str) -> String {
    let text = toml::to_string(&T::default()).unwrap_or_default();
    format!("{title}\n{}", text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "count = 30\nsteps = 5\n").unwrap();
        let mut c: honeyimage::config::ProtectConfig = from_toml(Some(&p)).unwrap();
        assert_eq!((c.count, c.steps, c.epsilon), (30, 5, 4.0));
        set(&mut c.count, Some(7));
        set(&mut c.steps, None);
        assert_eq!((c.count, c.steps), (7, 5));
        std::fs::write(&p, "cuont = 3\n").unwrap();
        let e = format!("{:#}", from_toml::<honeyimage::config::ProtectConfig>(Some(&p)).unwrap_err());
        assert!(e.contains("p.toml") && e.contains("cuont"), "{e}");
        assert_eq!(ExitCode::from(ExitStatus::Trained), ExitCode::from(1));
        assert!(defaults_help::<honeyimage::config::ProtectConfig>("Defaults:").contains("count = 100"));
    }

    /// The experiment files under examples/ are documentation that users
    /// copy: each must load and pass the checks `eval` runs before any work.
    #[test]
    fn every_example_experiment_loads_and_validates() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut files = vec![];
        for dir in [root.clone(), root.join("variants")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() >= 10, "{files:?}");
        for path in files {
            let c: honeyimage::config::EvalConfig = from_toml(Some(&path)).unwrap_or_else(|e| panic!("{e:#}"));
            c.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if c.sweep.is_some() {
                honeyimage::eval::sweep::of(&c).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }

    #[test]
    fn file_sets_finds_nested_fields_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "count = 30\n[proxy_train]\nepochs = 2\n").unwrap();
        assert!(file_sets(Some(&p), &["count"]).unwrap());
        assert!(file_sets(Some(&p), &["proxy_train", "epochs"]).unwrap());
        assert!(!file_sets(Some(&p), &["proxy_train", "precision"]).unwrap());
        assert!(!file_sets(None, &["count"]).unwrap());
        std::fs::write(&p, "[proxy_train]\nprecision = \"fp32\"\n").unwrap();
        assert!(file_sets(Some(&p), &["proxy_train", "precision"]).unwrap());
        std::fs::write(&p, "count = \n").unwrap();
        assert!(format!("{:#}", file_sets(Some(&p), &["count"]).unwrap_err()).contains("p.toml"));
    }
}
