//! The owner's secret key: everything verification needs, in one file that
//! detects any altered byte. Layout (documented in docs/KEY_FORMAT.md):
//!
//! ```text
//! {"format":"honeyimage-key","version":1,"body_sha256":"<64 hex>"}\n
//! <body: compact JSON of KeyBody>
//! ```
//!
//! The header must be byte-identical to its canonical serialisation and the
//! SHA-256 of the body bytes must match, so a flipped byte anywhere is
//! refused. The file is written atomically with owner-only permissions.
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Format name in the header.
pub const KEY_FORMAT: &str = "honeyimage-key";
/// Current key version; older versions are refused with a clear error.
pub const KEY_VERSION: u32 = 1;
/// Keys larger than this are refused before parsing.
const MAX_KEY_BYTES: u64 = 512 << 20;

#[derive(Serialize, Deserialize, PartialEq)]
struct Header {
    format: String,
    version: u32,
    body_sha256: String,
}

/// Bytes stored as base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// One candidate (released or withheld) as the key records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySample {
    /// The sample's id in the original dataset (file name or index id).
    pub id: String,
    /// Position in the original split.
    pub index: usize,
    /// Class index.
    pub label: u32,
    /// Hardness: loss of the out-of-fold proxy on the original image.
    pub hardness: f64,
    /// Loss of the compliant proxy (never trained on it) on the HoneyImage.
    pub proxy_loss: f64,
    /// The quantised HoneyImage, HWC u8.
    pub honey: Bytes,
    /// The original image, HWC u8 (for stealthiness reports).
    pub original: Bytes,
}

/// What the dataset looked like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Format name (idx, cifar, ...).
    pub format: String,
    /// Split that was protected.
    pub split: String,
    /// Path of the original, for the owner's records.
    pub source: String,
    /// Samples in the original split.
    pub samples: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Class names.
    pub class_names: Vec<String>,
    /// SHA-256 of the original split's pixels and labels.
    pub fingerprint: String,
}

/// What was released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// Samples in the released split.
    pub samples: usize,
    /// SHA-256 over every released file (relative path and bytes, sorted).
    pub fingerprint: String,
}

/// Everything verification needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyBody {
    /// Version of the tool that wrote it.
    pub tool_version: String,
    /// Protection parameters and seeds.
    pub params: crate::protect::ProtectConfig,
    /// The original dataset.
    pub dataset: DatasetInfo,
    /// The release.
    pub release: ReleaseInfo,
    /// R: the HoneyImages placed in the release.
    pub released: Vec<KeySample>,
    /// W: the withheld controls, perturbed identically, not released.
    pub withheld: Vec<KeySample>,
    /// Generation summary (gaps, similarity).
    pub summary: serde_json::Value,
}

impl KeyBody {
    /// Image length in bytes.
    pub fn image_len(&self) -> usize {
        self.dataset.height * self.dataset.width * self.dataset.channels
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(Error::Key { path: path.into(), message: m });
        if self.released.is_empty() || self.withheld.is_empty() {
            return bad("no released or withheld samples".into());
        }
        let k = self.dataset.class_names.len() as u32;
        for s in self.released.iter().chain(&self.withheld) {
            if s.honey.0.len() != self.image_len() || s.original.0.len() != self.image_len() {
                return bad(format!("sample {}: {} bytes, expected {}", s.id, s.honey.0.len(), self.image_len()));
            }
            if s.label >= k {
                return bad(format!("sample {}: label {} out of range ({k} classes)", s.id, s.label));
            }
        }
        Ok(())
    }
}

/// Serialises a key body into the key file format.
pub fn encode(body: &KeyBody) -> Vec<u8> {
    let body_bytes = serde_json::to_vec(body).expect("key body serialises");
    let header = Header { format: KEY_FORMAT.into(), version: KEY_VERSION, body_sha256: hex::encode(Sha256::digest(&body_bytes)) };
    let mut out = serde_json::to_vec(&header).expect("header serialises");
    out.push(b'\n');
    out.extend_from_slice(&body_bytes);
    out
}

/// Parses and checks key file bytes; `path` names the file in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<KeyBody> {
    let err = |m: String| Error::Key { path: path.into(), message: m };
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| err("not a honeyimage key (no header line)".into()))?;
    let (head, body) = (&bytes[..nl], &bytes[nl + 1..]);
    let header: Header = serde_json::from_slice(head).map_err(|e| err(format!("not a honeyimage key (header: {e})")))?;
    if header.format != KEY_FORMAT {
        return Err(err(format!("format {:?}, expected {KEY_FORMAT:?}", header.format)));
    }
    if header.version != KEY_VERSION {
        return Err(err(format!("key version {} is not supported (this tool reads version {KEY_VERSION})", header.version)));
    }
    if serde_json::to_vec(&header).ok().as_deref() != Some(head) {
        return Err(err("integrity check failed: the header was altered".into()));
    }
    let digest = hex::encode(Sha256::digest(body));
    if digest != header.body_sha256 {
        return Err(err("integrity check failed: the key was altered or corrupted (SHA-256 mismatch)".into()));
    }
    let key: KeyBody = serde_json::from_slice(body).map_err(|e| err(format!("body: {e}")))?;
    key.check(path)?;
    Ok(key)
}

/// Writes a key atomically with owner-only permissions (0600 on Unix).
pub fn save(body: &KeyBody, path: &Path) -> Result<()> {
    let bytes = encode(body);
    let tmp: PathBuf = crate::model::tmp_sibling(path);
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
        f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads and checks a key file.
pub fn load(path: &Path) -> Result<KeyBody> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if len > MAX_KEY_BYTES {
        return Err(Error::Key { path: path.into(), message: format!("{len} bytes is larger than any key ({MAX_KEY_BYTES})") });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes, path)
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
