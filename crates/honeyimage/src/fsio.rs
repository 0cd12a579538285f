//! Small file helpers shared by the resumable pipelines (`protect`,
//! `evaluate`): JSON stage results read back if present and written
//! atomically, so a killed run never leaves a half-written cache entry.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::Json { path: path.display().to_string(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes a JSON file atomically (temp file, fsync, rename), creating its folder.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    honeyimage_data::write_atomic(path, &serde_json::to_vec_pretty(v).expect("serialisable"))?;
    Ok(())
}

/// The JSON stored at `path`, or `compute()`'s result, stored there first
/// (atomically). The flag says whether it was found stored.
pub fn cached<T: Serialize + for<'de> Deserialize<'de>>(path: &Path, compute: impl FnOnce() -> Result<T>) -> Result<(T, bool)> {
    if let Some(v) = read_json(path)? {
        return Ok((v, true));
    }
    let v = compute()?;
    write_json(path, &v)?;
    Ok((v, false))
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for e in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let p = e.map_err(|e| Error::io(from, e))?.path();
        let dest = to.join(p.file_name().unwrap_or_default());
        if p.is_dir() {
            copy_dir(&p, &dest)?;
        } else {
            std::fs::copy(&p, &dest).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// [`copy_dir`] into a temporary sibling, renamed into place at the end: a
/// copy killed half-way leaves no `to` (a half-copied model folder would
/// look finished to a resumed run).
pub fn copy_dir_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = tmp_sibling(to);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    copy_dir(from, &tmp)?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// Copies one file through a temporary sibling and a rename.
pub fn copy_file_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = tmp_sibling(to);
    std::fs::copy(from, &tmp).map_err(|e| Error::io(from, e))?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// Hex SHA-256 of some bytes (run ids, fingerprints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `dir` with `.tmp-<pid>` appended, in the same parent so rename is atomic.
pub fn tmp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_copies_replace_a_stale_partial_copy_and_leave_no_temp() {
        let t = tempfile::tempdir().unwrap();
        let (from, to) = (t.path().join("proxy-a"), t.path().join("work").join("proxy-a"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("config.json"), b"{}").unwrap();
        std::fs::write(from.join("sub").join("w.bin"), b"123").unwrap();
        // A copy killed half-way: its temp folder holds a truncated file.
        let stale = tmp_sibling(&to);
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("config.json"), b"").unwrap();
        copy_dir_atomic(&from, &to).unwrap();
        assert_eq!(std::fs::read(to.join("config.json")).unwrap(), b"{}");
        assert_eq!(std::fs::read(to.join("sub").join("w.bin")).unwrap(), b"123");
        assert!(!stale.exists());
        copy_file_atomic(&from.join("config.json"), &t.path().join("h.json")).unwrap();
        assert_eq!(std::fs::read(t.path().join("h.json")).unwrap(), b"{}");
        assert!(!tmp_sibling(&t.path().join("h.json")).exists());
    }
}
