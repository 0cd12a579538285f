//! Stage 5 of protect (SPEC section 3): the release. The input dataset with
//! W removed and each sample of R replaced by its HoneyImage, written in the
//! input's own format through `honeyimage-data` (everything else
//! byte-identical, the input never modified), and fingerprinted for the key.
use std::collections::HashMap;
use std::path::Path;

use honeyimage_data::{DataSource, Edits, Split};

use super::candidates::Candidates;
use super::honey::HoneyOutcome;
use super::workdir::WorkDir;
use crate::key::fingerprint_dir;
use crate::{Error, Result};

/// The dataset edits that make the release: remove W, replace R.
pub fn edits(cands: &Candidates, honey: &HoneyOutcome) -> Edits {
    let pos: HashMap<usize, usize> = honey.indices.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let mut edits = Edits::new();
    edits.remove.extend(cands.withheld.iter().copied());
    for &i in &cands.released {
        edits.replace.insert(i, honey.images[pos[&i]].clone());
    }
    edits
}

/// Writes the release to `out` (which must not exist, unless it is this
/// run's finished release) and returns its fingerprint, which it records
/// in the work folder under `entry`.
pub fn write(src: &DataSource, split: Split, out: &Path, edits: &Edits, wd: &WorkDir, entry: &str) -> Result<String> {
    if let Some(fp) = wd.get::<String>(entry)? {
        if out.exists() && fingerprint_dir(out)? == fp {
            return Ok(fp);
        }
    }
    if out.exists() {
        return Err(Error::invalid("output", format!("{} already exists", out.display())));
    }
    src.write_release(split, out, edits)?;
    let fp = fingerprint_dir(out)?;
    wd.put(entry, &fp)?;
    Ok(fp)
}
