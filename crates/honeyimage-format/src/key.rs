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
//! refused. The body is generic over the protection parameters `P`, which
//! belong to the method crate; the fuzz target reads them as raw JSON.
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format name in the header.
pub const KEY_FORMAT: &str = "honeyimage-key";
/// Current key version; other versions are refused with a clear error.
pub const KEY_VERSION: u32 = 1;
/// Keys larger than this are refused before parsing.
pub const MAX_KEY_BYTES: u64 = 512 << 20;
/// Largest image a key may describe (pixels times channels).
const MAX_IMAGE_LEN: usize = 4096 * 4096 * 4;

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

/// Everything verification needs; `P` is the protection parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyBody<P> {
    /// Version of the tool that wrote it.
    pub tool_version: String,
    /// Protection parameters and seeds.
    pub params: P,
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

impl<P> KeyBody<P> {
    /// Image length in bytes (saturating: a lying key cannot overflow it).
    pub fn image_len(&self) -> usize {
        self.dataset.height.saturating_mul(self.dataset.width).saturating_mul(self.dataset.channels)
    }

    /// Consistency checks on a parsed body.
    pub fn check(&self) -> Result<(), String> {
        if self.released.is_empty() || self.withheld.is_empty() {
            return Err("no released or withheld samples".into());
        }
        let d = &self.dataset;
        if d.height == 0 || d.width == 0 || !(d.channels == 1 || d.channels == 3) || self.image_len() > MAX_IMAGE_LEN {
            return Err(format!("image shape {}x{}x{} is not a valid image", d.height, d.width, d.channels));
        }
        let k = d.class_names.len();
        if k < 2 {
            return Err(format!("{k} class names (need at least 2)"));
        }
        for s in self.released.iter().chain(&self.withheld) {
            if s.honey.0.len() != self.image_len() || s.original.0.len() != self.image_len() {
                return Err(format!("sample {}: {} bytes, expected {}", s.id, s.honey.0.len(), self.image_len()));
            }
            if s.label as usize >= k {
                return Err(format!("sample {}: label {} out of range ({k} classes)", s.id, s.label));
            }
            if !s.hardness.is_finite() || !s.proxy_loss.is_finite() {
                return Err(format!("sample {}: non-finite hardness or proxy loss", s.id));
            }
        }
        Ok(())
    }
}

/// Serialises a key body into the key file format.
pub fn encode<P: Serialize>(body: &KeyBody<P>) -> Vec<u8> {
    let body_bytes = serde_json::to_vec(body).expect("key body serialises");
    let header = Header { format: KEY_FORMAT.into(), version: KEY_VERSION, body_sha256: hex::encode(Sha256::digest(&body_bytes)) };
    let mut out = serde_json::to_vec(&header).expect("header serialises");
    out.push(b'\n');
    out.extend_from_slice(&body_bytes);
    out
}

/// Parses and checks key file bytes. The error is a message without the
/// file name, which the caller adds.
pub fn decode<P: DeserializeOwned>(bytes: &[u8]) -> Result<KeyBody<P>, String> {
    if bytes.len() as u64 > MAX_KEY_BYTES {
        return Err(format!("{} bytes is larger than any key ({MAX_KEY_BYTES})", bytes.len()));
    }
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or("not a honeyimage key (no header line)")?;
    let (head, body) = (&bytes[..nl], &bytes[nl + 1..]);
    let header: Header = serde_json::from_slice(head).map_err(|e| format!("not a honeyimage key (header: {e})"))?;
    if header.format != KEY_FORMAT {
        return Err(format!("format {:?}, expected {KEY_FORMAT:?}", header.format));
    }
    if header.version != KEY_VERSION {
        return Err(format!("key version {} is not supported (this tool reads version {KEY_VERSION})", header.version));
    }
    if serde_json::to_vec(&header).ok().as_deref() != Some(head) {
        return Err("integrity check failed: the header was altered".into());
    }
    if hex::encode(Sha256::digest(body)) != header.body_sha256 {
        return Err("integrity check failed: the key was altered or corrupted (SHA-256 mismatch)".into());
    }
    let key: KeyBody<P> = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    key.check()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> KeyBody<serde_json::Value> {
        let s = |i: usize| KeySample {
            id: format!("train:{i:05}"),
            index: i,
            label: (i % 2) as u32,
            hardness: 1.0,
            proxy_loss: 2.0,
            honey: Bytes(vec![i as u8; 4]),
            original: Bytes(vec![0; 4]),
        };
        KeyBody {
            tool_version: "test".into(),
            params: serde_json::json!({"count": 1}),
            dataset: DatasetInfo {
                format: "idx".into(),
                split: "train".into(),
                source: "/data".into(),
                samples: 10,
                height: 2,
                width: 2,
                channels: 1,
                class_names: vec!["a".into(), "b".into()],
                fingerprint: "f".into(),
            },
            release: ReleaseInfo { samples: 9, fingerprint: "r".into() },
            released: vec![s(1)],
            withheld: vec![s(2)],
            summary: serde_json::json!({}),
        }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_refused() {
        let bytes = encode(&body());
        assert_eq!(decode::<serde_json::Value>(&bytes).unwrap(), body());
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(decode::<serde_json::Value>(&b).is_err(), "flipping byte {i} was not detected");
        }
    }

    #[test]
    fn lying_bodies_are_refused_after_the_digest() {
        let mut b = body();
        b.released[0].label = 7;
        assert!(decode::<serde_json::Value>(&encode(&b)).unwrap_err().contains("label 7"));
        let mut b = body();
        b.dataset.height = usize::MAX;
        assert!(decode::<serde_json::Value>(&encode(&b)).unwrap_err().contains("not a valid image"));
        let mut b = body();
        b.withheld.clear();
        assert!(decode::<serde_json::Value>(&encode(&b)).is_err());
    }
}
