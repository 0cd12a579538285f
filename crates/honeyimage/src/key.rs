//! The owner's secret key: everything verification needs, in one file that
//! detects any altered byte. Layout (documented in docs/KEY_FORMAT.md):
//!
//! ```text
//! {"format":"honeyimage-key","version":2,"body_sha256":"<64 hex>"}\n
//! <body: compact JSON of KeyBody>
//! ```
//!
//! The header must be byte-identical to its canonical serialisation and the
//! SHA-256 of the body bytes must match, so a flipped byte anywhere is
//! refused. The format itself lives in `honeyimage-format` (fuzzed); this
//! module adds files: atomic writes with owner-only permissions and
//! fingerprints of datasets and releases.
//!
//! A key can also be encrypted with a passphrase for off-site storage: the
//! whole key file is wrapped in an ASCII-armoured age file (scrypt
//! passphrase recipient), which is authenticated as well, so a wrong
//! passphrase or an altered byte is refused before the key is parsed.
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use age::secrecy::SecretString;
pub use honeyimage_format::commitment::{commitment, parse_statement, public_statement, Commitment};
pub use honeyimage_format::key::{encode, Bytes, DatasetInfo, KeySample, ReleaseInfo, RwSplit, KEY_FORMAT, KEY_VERSION, KEY_VERSIONS_READ, MAX_KEY_BYTES};

use crate::{Error, Result};

/// Everything verification needs (the file format's body with this crate's
/// protection parameters).
pub type KeyBody = honeyimage_format::key::KeyBody<crate::config::ProtectConfig>;

/// Parses and checks key file bytes; `path` names the file in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<KeyBody> {
    honeyimage_format::key::decode(bytes).map_err(|source| Error::KeyFormat { path: path.into(), source })
}

/// First bytes of an age file, binary or ASCII-armoured.
const AGE_MAGIC: [&[u8]; 2] = [b"age-encryption.org/v1", b"-----BEGIN AGE ENCRYPTED FILE-----"];

/// Whether key file bytes are passphrase-encrypted.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    AGE_MAGIC.iter().any(|m| bytes[start..].starts_with(m))
}

/// Encrypts key file bytes with a passphrase (age, scrypt; armoured text).
pub fn encrypt(plain: &[u8], passphrase: &SecretString) -> Result<Vec<u8>> {
    let recipient = age::scrypt::Recipient::new(passphrase.clone());
    age::encrypt_and_armor(&recipient, plain).map(String::into_bytes).map_err(|e| Error::invalid("key encryption", e.to_string()))
}

/// Decrypts an encrypted key file; `path` names it in errors.
pub fn decrypt(bytes: &[u8], passphrase: &SecretString, path: &Path) -> Result<Vec<u8>> {
    let identity = age::scrypt::Identity::new(passphrase.clone());
    age::decrypt(&identity, bytes).map_err(|e| {
        let message = match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                "wrong passphrase, or the encrypted key was altered".to_string()
            }
            e => format!("cannot decrypt: {e}"),
        };
        Error::Key { path: path.into(), message }
    })
}

/// Writes a key atomically with owner-only permissions (0600 on Unix),
/// encrypted when a passphrase is given.
pub fn save_with(body: &KeyBody, path: &Path, passphrase: Option<&SecretString>) -> Result<()> {
    let plain = encode(body);
    let bytes = match passphrase {
        Some(p) => encrypt(&plain, p)?,
        None => plain,
    };
    write_private(&bytes, path)
}

/// Writes bytes atomically with owner-only permissions (0600 on Unix).
pub fn write_private(bytes: &[u8], path: &Path) -> Result<()> {
    let tmp: PathBuf = crate::fsio::tmp_sibling(path);
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes a plain key atomically with owner-only permissions.
pub fn save(body: &KeyBody, path: &Path) -> Result<()> {
    save_with(body, path, None)
}

/// Reads a key file's bytes, refusing anything larger than a key can be.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if len > MAX_KEY_BYTES {
        return Err(Error::Key { path: path.into(), message: format!("{len} bytes is larger than any key ({MAX_KEY_BYTES})") });
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Checks key file bytes, decrypting them with `passphrase` if they are
/// encrypted (an encrypted key without a passphrase is a clear error).
pub fn open_bytes(bytes: &[u8], passphrase: Option<&SecretString>, path: &Path) -> Result<KeyBody> {
    if !is_encrypted(bytes) {
        return decode(bytes, path);
    }
    let Some(p) = passphrase else {
        return Err(Error::Key {
            path: path.into(),
            message: "the key is encrypted: give its passphrase (HONEYIMAGE_KEY_PASSPHRASE, --passphrase-file, or at the prompt)".into(),
        });
    };
    decode(&decrypt(bytes, p, path)?, path)
}

/// Reads and checks a key file, decrypting it with `passphrase` if it is
/// encrypted.
pub fn load_with(path: &Path, passphrase: Option<&SecretString>) -> Result<KeyBody> {
    open_bytes(&read_bytes(path)?, passphrase, path)
}

/// Reads and checks an unencrypted key file.
pub fn load(path: &Path) -> Result<KeyBody> {
    load_with(path, None)
}

/// SHA-256 over every file under `dir`: sorted relative paths, each followed
/// by its length and bytes. Identifies a release.
pub fn fingerprint_dir(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let p = e.map_err(|e| Error::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of a dataset's shape, pixels and labels.
pub fn fingerprint_dataset(ds: &honeyimage_data::Dataset) -> String {
    let mut h = Sha256::new();
    for v in [ds.len(), ds.height, ds.width, ds.channels] {
        h.update((v as u64).to_le_bytes());
    }
    h.update(&ds.images);
    for l in &ds.labels {
        h.update(l.to_le_bytes());
    }
    hex::encode(h.finalize())
}
