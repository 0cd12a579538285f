//! Reading an owner key that may be passphrase-encrypted, and asking for
//! the passphrase: from a file, from HONEYIMAGE_KEY_PASSPHRASE, or at a
//! prompt when stdin is a terminal (never echoed, never on the command line).
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use honeyimage::key::{KeyBody, SecretString};

/// Environment variable holding the key's passphrase.
pub const PASSPHRASE_ENV: &str = "HONEYIMAGE_KEY_PASSPHRASE";

#[derive(clap::Args, Debug, Clone)]
pub struct PassphraseArgs {
    /// File whose first line is the key's passphrase (otherwise
    /// HONEYIMAGE_KEY_PASSPHRASE, otherwise a prompt on a terminal).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    /// The passphrase; `confirm` asks twice at a prompt (for encrypting).
    pub fn get(&self, what: &str, confirm: bool) -> Result<SecretString> {
        let pass = if let Some(f) = &self.passphrase_file {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading passphrase file {}", f.display()))?;
            text.lines().next().unwrap_or("").to_string()
        } else if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
            p
        } else if std::io::stdin().is_terminal() {
            let p = rpassword::prompt_password(format!("passphrase for {what}: ")).context("reading the passphrase")?;
            if confirm && rpassword::prompt_password("again: ").context("reading the passphrase")? != p {
                bail!("the passphrases differ");
            }
            p
        } else {
            bail!("{what}: a passphrase is needed: use --passphrase-file or set {PASSPHRASE_ENV}");
        };
        if pass.is_empty() {
            bail!("{what}: the passphrase is empty");
        }
        Ok(SecretString::from(pass))
    }

    /// Loads a key, asking for the passphrase only if it is encrypted.
    pub fn load_key(&self, path: &Path) -> Result<KeyBody> {
        let bytes = honeyimage::key::read_bytes(path)?;
        let pass = if honeyimage::key::is_encrypted(&bytes) { Some(self.get(&path.display().to_string(), false)?) } else { None };
        Ok(honeyimage::key::open_bytes(&bytes, pass.as_ref(), path)?)
    }

    /// Loads every key of a key folder written by `protect --recipients`
    /// (asking for a passphrase once, if any key is encrypted), as
    /// (recipient, key) pairs in the folder's order.
    pub fn load_key_folder(&self, folder: &Path) -> Result<Vec<(String, KeyBody)>> {
        let mut pass: Option<SecretString> = None;
        let mut keys = Vec::new();
        for (name, path) in honeyimage::protect::recipients::key_folder(folder)? {
            let bytes = honeyimage::key::read_bytes(&path)?;
            if honeyimage::key::is_encrypted(&bytes) && pass.is_none() {
                pass = Some(self.get(&folder.display().to_string(), false)?);
            }
            let key = honeyimage::key::open_bytes(&bytes, pass.as_ref(), &path)?;
            if key.recipient.as_deref().is_some_and(|r| r != name) {
                bail!("{}: the key is for recipient {:?}, the folder's manifest says {name:?}", path.display(), key.recipient.as_deref().unwrap_or(""));
            }
            keys.push((name, key));
        }
        Ok(keys)
    }
}
