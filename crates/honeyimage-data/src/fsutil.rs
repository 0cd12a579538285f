//! Filesystem helpers shared by the formats: path-carrying I/O errors, atomic
//! file writes, and the staging directory that makes `write_release` atomic
//! (build beside the destination, rename at the end, nothing left on error).

use crate::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temporary file in the same directory
/// is written, fsynced and renamed over `path`, so readers see either the old
/// or the new contents, never a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-write-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // Make the rename itself durable; not every platform can fsync a directory.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    let len = fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if len > crate::MAX_BYTES {
        return Err(Error::too_large(path, format!("file is {len} bytes (limit {})", crate::MAX_BYTES)));
    }
    fs::read(path).map_err(|e| Error::io(path, e))
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

pub(crate) fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    fs::copy(from, to).map(|_| ()).map_err(|e| Error::io(from, e))
}

/// Sorted entries of a directory.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        out.push(e.map_err(|e| Error::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Copy the tree under `src` to `dst`, leaving out files whose path relative
/// to `src` is in `skip`.
pub(crate) fn copy_tree(src: &Path, dst: &Path, skip: &HashSet<PathBuf>) -> Result<()> {
    fn walk(src: &Path, dst: &Path, rel: &Path, skip: &HashSet<PathBuf>) -> Result<()> {
        let here = src.join(rel);
        fs::create_dir_all(dst.join(rel)).map_err(|e| Error::io(&dst.join(rel), e))?;
        for entry in list_dir(&here)? {
            let name = entry.file_name().map(PathBuf::from).unwrap_or_default();
            let r = rel.join(name);
            if entry.is_dir() {
                walk(src, dst, &r, skip)?;
            } else if !skip.contains(&r) {
                copy(&entry, &dst.join(&r))?;
            }
        }
        Ok(())
    }
    walk(src, dst, Path::new(""), skip)
}

/// `p` made absolute with symlinks resolved in its deepest existing ancestor.
fn resolved(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io(p, e))?;
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    while !base.exists() {
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                base = parent;
            }
            _ => break,
        }
    }
    let mut out = base.canonicalize().map_err(|e| Error::io(base, e))?;
    out.extend(rest.into_iter().rev());
    Ok(out)
}

/// Stage a release: refuse an existing `out` or one inside any of `input_roots`, run
/// `build` on a fresh sibling temp directory, then rename it to `out`. On any
/// error the temp directory is removed and `out` is not created.
pub(crate) fn stage_release(
    out: &Path,
    input_roots: &[PathBuf],
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    if out.symlink_metadata().is_ok() {
        return Err(Error::OutputExists { path: out.to_path_buf() });
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::Edit(format!("output path {} has no final component", out.display())))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let abs_out = resolved(out)?;
    for root in input_roots {
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        if abs_out.starts_with(&root) {
            return Err(Error::OutputInsideInput { out: out.to_path_buf(), input: root });
        }
    }
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.staging-", name.to_string_lossy()))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    build(tmp.path())?;
    if out.symlink_metadata().is_ok() {
        return Err(Error::OutputExists { path: out.to_path_buf() });
    }
    fs::rename(tmp.path(), out).map_err(|e| Error::io(out, e))?;
    // The directory now lives at `out`; dropping `tmp` must not delete anything.
    let _ = tmp.keep();
    Ok(())
}
