//! `honeyimage key`: look at a key without revealing its secrets, and
//! encrypt or decrypt it with a passphrase (age, scrypt) for off-site storage.
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::key_args::PassphraseArgs;
use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Check a key and show what it protects (no secrets).
    Info {
        /// Key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        pass: PassphraseArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute a key's public commitment; with --check, compare it with a
    /// published one (exit 2 on a mismatch).
    Commitment {
        /// Key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        pass: PassphraseArgs,
        /// The published commitment: a statement file written by `protect`, or the value itself.
        #[arg(long)]
        check: Option<String>,
    },
    /// Export the images `verify` sends to a suspect, as PNG files named by
    /// the SHA-256 of their pixels (no name or order says which were
    /// released), for someone else to query the suspect with; `verify
    /// --answers` then reads their recorded answers.
    Queries {
        /// Key file.
        #[arg(long)]
        key: PathBuf,
        /// Folder to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        pass: PassphraseArgs,
    },
    /// Write a passphrase-encrypted copy of a key.
    Encrypt {
        /// Plain key file.
        #[arg(long)]
        key: PathBuf,
        /// Encrypted key file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        pass: PassphraseArgs,
    },
    /// Write a plain copy of an encrypted key.
    Decrypt {
        /// Encrypted key file.
        #[arg(long)]
        key: PathBuf,
        /// Plain key file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        pass: PassphraseArgs,
    },
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitStatus> {
    match args.action {
        Action::Queries { key, out, pass } => queries(&key, &out, &pass)?,
        Action::Info { key, pass, json } => info(&key, &pass, json)?,
        Action::Commitment { key, pass, check } => commitment(&key, &pass, check)?,
        Action::Encrypt { key, out, pass } => encrypt(&key, &out, &pass)?,
        Action::Decrypt { key, out, pass } => decrypt(&key, &out, &pass)?,
    }
    Ok(ExitStatus::Success)
}

/// `key queries`: the images to have someone else query the suspect with.
fn queries(key: &Path, out: &Path, pass: &PassphraseArgs) -> Result<()> {
    let k = pass.load_key(key)?;
    let n = honeyimage::query::answers::export_queries(&k, out)?;
    println!("{n} query images written to {} (answer each in a CSV: image,<one score per class> or image,label)", out.display());
    Ok(())
}

/// `key info`: what a key protects, without its secrets.
fn info(key: &Path, pass: &PassphraseArgs, json: bool) -> Result<()> {
    let encrypted = honeyimage::key::is_encrypted(&honeyimage::key::read_bytes(key)?);
    let k = pass.load_key(key)?;
    let info = serde_json::json!({
        "key": key,
        "encrypted": encrypted,
        "tool_version": k.tool_version,
        "dataset": { "format": k.dataset.format, "split": k.dataset.split, "source": k.dataset.source, "samples": k.dataset.samples,
                     "shape": [k.dataset.height, k.dataset.width, k.dataset.channels], "classes": k.dataset.class_names.len(),
                     "fingerprint": k.dataset.fingerprint },
        "release": { "samples": k.release.samples, "fingerprint": k.release.fingerprint },
        "released": k.released.len(),
        "withheld": k.withheld.len(),
        "epsilon": k.params.epsilon,
        "seed": k.params.seed,
        "split": k.split.as_str(),
        "commitment": honeyimage::key::commitment(&k).to_string(),
        "recipient": k.recipient,
        "smallest_p": honeyimage::verify::smallest_p_value(&k, false),
        "smallest_p_label_only": honeyimage::verify::smallest_p_value(&k, true),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("{}: valid honeyimage key{} (written by honeyimage {})", key.display(), if encrypted { ", encrypted" } else { "" }, k.tool_version);
    println!("  dataset  {} ({}, {} split, {} samples, {}x{}x{}, {} classes)", k.dataset.source, k.dataset.format, k.dataset.split, k.dataset.samples, k.dataset.height, k.dataset.width, k.dataset.channels, k.dataset.class_names.len());
    println!("  release  {} samples, fingerprint {}", k.release.samples, k.release.fingerprint);
    println!("  {} HoneyImages released, {} withheld controls ({} split), epsilon {}/255", k.released.len(), k.withheld.len(), k.split, k.params.epsilon);
    println!("  commitment {}", honeyimage::key::commitment(&k));
    println!("  smallest p-value verify can give: {:.2e} ({:.2e} label-only)", info["smallest_p"].as_f64().unwrap_or(f64::NAN), info["smallest_p_label_only"].as_f64().unwrap_or(f64::NAN));
    if let Some(r) = &k.recipient {
        println!("  recipient {r} (one of the per-recipient releases of `protect --recipients`)");
    }
    Ok(())
}

/// `key commitment`: recompute it, and with `check` compare it.
fn commitment(key: &Path, pass: &PassphraseArgs, check: Option<String>) -> Result<()> {
    let k = pass.load_key(key)?;
    let c = honeyimage::key::commitment(&k);
    if let Some(published) = check {
        crate::commitment_args::check(&c, &published)?;
        println!("{c}: matches the published commitment");
    } else {
        println!("{c}");
    }
    Ok(())
}

/// `key encrypt`: a passphrase-encrypted copy, never over an existing file.
fn encrypt(key: &Path, out: &Path, pass: &PassphraseArgs) -> Result<()> {
    if out.exists() {
        bail!("{} already exists: refusing to overwrite a key", out.display());
    }
    let bytes = honeyimage::key::read_bytes(key)?;
    if honeyimage::key::is_encrypted(&bytes) {
        bail!("{} is already encrypted", key.display());
    }
    honeyimage::key::decode(&bytes, key)?;
    let p = pass.get(&out.display().to_string(), true)?;
    honeyimage::key::write_private(&honeyimage::key::encrypt(&bytes, &p)?, out)?;
    println!("encrypted {} to {}; keep the passphrase apart from it", key.display(), out.display());
    Ok(())
}

/// `key decrypt`: a plain copy, checked before it is written.
fn decrypt(key: &Path, out: &Path, pass: &PassphraseArgs) -> Result<()> {
    if out.exists() {
        bail!("{} already exists: refusing to overwrite a key", out.display());
    }
    let bytes = honeyimage::key::read_bytes(key)?;
    if !honeyimage::key::is_encrypted(&bytes) {
        bail!("{} is not encrypted", key.display());
    }
    let p = pass.get(&key.display().to_string(), false)?;
    let plain = honeyimage::key::decrypt(&bytes, &p, key)?;
    honeyimage::key::decode(&plain, key)?;
    honeyimage::key::write_private(&plain, out)?;
    println!("decrypted {} to {}", key.display(), out.display());
    Ok(())
}
