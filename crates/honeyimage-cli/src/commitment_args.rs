//! `--commitment` / `--check`: a published commitment given as the
//! statement file that `protect` wrote beside the release, or as the value.
use std::path::Path;

use anyhow::{bail, Context, Result};
use honeyimage::key::{parse_statement, Commitment};

/// The commitment in `published` (a file path or the value itself).
pub fn read(published: &str) -> Result<Commitment> {
    let p = Path::new(published);
    if p.is_file() {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return parse_statement(&text).with_context(|| format!("{}: no commitment found", p.display()));
    }
    published.parse::<Commitment>().with_context(|| format!("{published:?} is neither a commitment statement file nor a commitment"))
}

/// Fails unless the key's commitment equals the published one.
pub fn check(key_commitment: &Commitment, published: &str) -> Result<()> {
    let want = read(published)?;
    if &want != key_commitment {
        bail!("does not match the published commitment: the key commits to {key_commitment}, the published one is {want}");
    }
    Ok(())
}
