//! The work folder of a resumable pipeline: each stage's result is stored
//! under a name, written atomically, and read back instead of recomputed
//! when a killed run is restarted. The folder is bound to the parameters
//! that made it, so a run with other settings or data cannot pick up stale
//! results.
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::fsio::{read_json, write_json};
use crate::{Error, Result};

/// File that records the parameters a work folder belongs to.
const PARAMS: &str = "params.json";

/// A work folder bound to one run's parameters.
#[derive(Debug, Clone)]
pub struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    /// Opens (creating it if needed) the work folder `root` for a run with
    /// `params`; refuses a folder made by a run with other parameters.
    pub fn open<P: Serialize + DeserializeOwned + PartialEq>(root: &Path, params: &P) -> Result<WorkDir> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let wd = WorkDir { root: root.to_path_buf() };
        match read_json::<P>(&wd.path(PARAMS))? {
            Some(p) if p != *params => Err(Error::invalid(
                "work directory",
                format!("{} was made by a run with other parameters or data; use another --work or delete it", root.display()),
            )),
            Some(_) => Ok(wd),
            None => write_json(&wd.path(PARAMS), params).map(|()| wd),
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an entry named `name` lives.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The stored result `name`, if a previous run finished that stage.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        read_json(&self.path(name))
    }

    /// Stores a stage result atomically.
    pub fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        write_json(&self.path(name), value)
    }

    /// The stored result `name`, or `compute()`'s, stored before it is
    /// returned. The flag says whether it came from the folder.
    pub fn cached<T: Serialize + DeserializeOwned>(&self, name: &str, compute: impl FnOnce() -> Result<T>) -> Result<(T, bool)> {
        crate::fsio::cached(&self.path(name), compute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_and_refuses_other_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("work");
        let wd = WorkDir::open(&root, &1u32).unwrap();
        let mut calls = 0;
        let (v, cached) = wd.cached("x.json", || { calls += 1; Ok(vec![1.5, 2.5]) }).unwrap();
        assert_eq!((v, cached), (vec![1.5, 2.5], false));
        let (v, cached) = wd.cached::<Vec<f64>>("x.json", || { calls += 1; Ok(vec![]) }).unwrap();
        assert_eq!((v, cached, calls), (vec![1.5, 2.5], true, 1));
        assert!(WorkDir::open(&root, &1u32).is_ok());
        let err = WorkDir::open(&root, &2u32).unwrap_err().to_string();
        assert!(err.contains("other parameters"), "{err}");
    }

    #[test]
    fn a_failed_stage_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wd = WorkDir::open(dir.path(), &0u8).unwrap();
        assert!(wd.cached::<u8>("y.json", || Err(Error::invalid("stage", "boom"))).is_err());
        assert!(!wd.path("y.json").exists());
    }
}
