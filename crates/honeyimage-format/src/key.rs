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
//! refused. The body is generic over the protection parameters `P`, which
//! belong to the method crate; the fuzz target reads them as raw JSON.
//!
//! Version 2 added the R/W split kind ([`RwSplit`]) and the nonce of the
//! public commitment ([`crate::commitment`]). Version-1 keys (class-blind,
//! no nonce) are still read, and re-encode to the same bytes.
use std::ops::RangeInclusive;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format name in the header.
pub const KEY_FORMAT: &str = "honeyimage-key";
/// Newest key version: the one [`encode`] writes for a key with a commitment
/// nonce or a class-stratified split (it writes version 1 otherwise, see
/// [`KeyBody::format_version`]).
pub const KEY_VERSION: u32 = 2;
/// The versions [`decode`] reads; others are refused with
/// [`KeyError::UnsupportedVersion`].
pub const KEY_VERSIONS_READ: RangeInclusive<u32> = 1..=KEY_VERSION;
/// Length of a commitment nonce in hex digits (32 random bytes).
pub const NONCE_HEX_LEN: usize = 64;
/// Keys larger than this are refused before parsing.
pub const MAX_KEY_BYTES: u64 = 512 << 20;
/// Largest image a key may describe (pixels times channels).
const MAX_IMAGE_LEN: usize = 4096 * 4096 * 4;

/// Why key file bytes were refused. The messages do not name the file, which
/// the caller adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file is larger than [`MAX_KEY_BYTES`]; refused before parsing.
    #[error("{bytes} bytes is larger than any key ({max})")]
    TooLarge {
        /// Size of the input.
        bytes: u64,
        /// The limit, [`MAX_KEY_BYTES`].
        max: u64,
    },
    /// There is no newline, so no header line.
    #[error("not a honeyimage key (no header line)")]
    NoHeader,
    /// The header line is not the key header's JSON.
    #[error("not a honeyimage key (header: {0})")]
    BadHeader(String),
    /// The header names another format than [`KEY_FORMAT`].
    #[error("format {format:?}, expected {KEY_FORMAT:?}")]
    NotAKey {
        /// The format the header names.
        format: String,
    },
    /// The header's version is not one this crate reads
    /// ([`KEY_VERSIONS_READ`]).
    #[error("key version {version} is not supported (this tool reads version {supported})")]
    UnsupportedVersion {
        /// The version the header names.
        version: u32,
        /// The newest version this crate reads, [`KEY_VERSION`] (it reads
        /// every version in [`KEY_VERSIONS_READ`]).
        supported: u32,
    },
    /// The header parses but is not byte-identical to its canonical form.
    #[error("integrity check failed: the header was altered")]
    HeaderAltered,
    /// The body's SHA-256 differs from the header's `body_sha256`.
    #[error("integrity check failed: the key was altered or corrupted (SHA-256 mismatch)")]
    DigestMismatch,
    /// The body passes the digest but is not a key body's JSON (the JSON
    /// parser's message).
    #[error("body: {0}")]
    Malformed(String),
    /// The released or the withheld set is empty.
    #[error("no released or withheld samples")]
    NoSamples,
    /// The dataset's image shape is empty, has 2 or more than 3 channels, or
    /// exceeds the size limit.
    #[error("image shape {height}x{width}x{channels} is not a valid image")]
    BadShape {
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// Channels.
        channels: usize,
    },
    /// Fewer than two class names.
    #[error("{classes} class names (need at least 2)")]
    TooFewClasses {
        /// Number of class names.
        classes: usize,
    },
    /// A sample's HoneyImage or original image has the wrong byte length.
    #[error("sample {id}: {bytes} bytes, expected {expected}")]
    SampleLength {
        /// The sample's id.
        id: String,
        /// Length of the wrong image (the HoneyImage if both are wrong).
        bytes: usize,
        /// Height times width times channels.
        expected: usize,
    },
    /// A sample's label is not a class index.
    #[error("sample {id}: label {label} out of range ({classes} classes)")]
    LabelOutOfRange {
        /// The sample's id.
        id: String,
        /// The label.
        label: u32,
        /// Number of classes.
        classes: usize,
    },
    /// A sample's hardness or proxy loss is NaN or infinite.
    #[error("sample {id}: non-finite hardness or proxy loss")]
    NonFiniteLoss {
        /// The sample's id.
        id: String,
    },
    /// A version-1 header on a body with a class-stratified split, which
    /// only version 2 records (the header was edited, or the body is not the
    /// one that was written with it).
    #[error("a version-1 key cannot have a class-stratified R/W split")]
    StratifiedInVersion1,
    /// A version-1 header on a body with a commitment nonce, which only
    /// version 2 carries.
    #[error("a version-1 key cannot carry a commitment nonce")]
    NonceInVersion1,
    /// A key of version 2 or later (or a body with a class-stratified split,
    /// which needs version 2) without a commitment nonce.
    #[error("a version-{version} key must carry a commitment nonce")]
    MissingNonce {
        /// The key's version.
        version: u32,
    },
    /// The commitment nonce is not [`NONCE_HEX_LEN`] lowercase hex digits.
    #[error("commitment nonce is not {NONCE_HEX_LEN} lowercase hex digits ({chars} characters)")]
    BadNonce {
        /// Its length in characters.
        chars: usize,
    },
}

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

/// How the 2N candidates were split into R (released) and W (withheld)
/// (SPEC section 2). Absent from a body (and from every version-1 key)
/// means [`RwSplit::ClassBlind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RwSplit {
    /// One seeded shuffle of all candidates, ignoring their classes (every
    /// version-1 key): valid, but each key has its own class imbalance
    /// between R and W.
    #[default]
    ClassBlind,
    /// Each class's candidates split in half (an odd one to a side by a coin
    /// flip), so R and W are exchangeable within each class.
    ClassStratified,
}

impl RwSplit {
    /// The name used in the key and in the commitment: `class-blind` or
    /// `class-stratified`.
    pub fn as_str(self) -> &'static str {
        match self {
            RwSplit::ClassBlind => "class-blind",
            RwSplit::ClassStratified => "class-stratified",
        }
    }

    /// Whether this is [`RwSplit::ClassBlind`] (the split a body omits).
    pub fn is_class_blind(&self) -> bool {
        *self == RwSplit::ClassBlind
    }
}

impl std::fmt::Display for RwSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything verification needs; `P` is the protection parameters.
///
/// `split` and `commitment_nonce` are new in version 2; they are left out of
/// the JSON when they have their version-1 values (class-blind, no nonce),
/// so a version-1 body reads and re-encodes unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyBody<P> {
    /// Version of the tool that wrote it.
    pub tool_version: String,
    /// Protection parameters and seeds.
    pub params: P,
    /// How R and W were split (absent: class-blind).
    #[serde(default, skip_serializing_if = "RwSplit::is_class_blind")]
    pub split: RwSplit,
    /// Nonce of the public commitment ([`crate::commitment`]): hex of 32
    /// random bytes from the operating system's generator, chosen by
    /// protect, never derived from the seed. Empty in version-1 keys.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commitment_nonce: String,
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
    /// The recipient this release was made for, when protect made one
    /// release per recipient (`protect --recipients`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl<P> KeyBody<P> {
    /// Image length in bytes (saturating: a lying key cannot overflow it).
    pub fn image_len(&self) -> usize {
        self.dataset.height.saturating_mul(self.dataset.width).saturating_mul(self.dataset.channels)
    }

    /// The key version [`encode`] writes for this body: 2 when it has a
    /// commitment nonce or a class-stratified split, else 1 (so a
    /// version-1 body re-encodes to the same bytes).
    pub fn format_version(&self) -> u32 {
        if self.split.is_class_blind() && self.commitment_nonce.is_empty() {
            1
        } else {
            KEY_VERSION
        }
    }

    /// Checks that a header's `version` can describe this body: a version-1
    /// key is class-blind and has no nonce; a later one has a nonce.
    pub fn check_version(&self, version: u32) -> Result<(), KeyError> {
        if version == 1 {
            if !self.split.is_class_blind() {
                return Err(KeyError::StratifiedInVersion1);
            }
            if !self.commitment_nonce.is_empty() {
                return Err(KeyError::NonceInVersion1);
            }
        } else if self.commitment_nonce.is_empty() {
            return Err(KeyError::MissingNonce { version });
        }
        Ok(())
    }

    /// Consistency checks on a parsed body: both sample sets non-empty, a
    /// valid image shape, at least two classes, every sample with images of
    /// that shape, a label in range and finite losses, a well-formed nonce
    /// if any, and a nonce if the split is class-stratified
    /// ([`KeyBody::check_version`] of [`KeyBody::format_version`]).
    pub fn check(&self) -> Result<(), KeyError> {
        self.check_nonce()?;
        self.check_version(self.format_version())?;
        if self.released.is_empty() || self.withheld.is_empty() {
            return Err(KeyError::NoSamples);
        }
        let d = &self.dataset;
        if d.height == 0 || d.width == 0 || !(d.channels == 1 || d.channels == 3) || self.image_len() > MAX_IMAGE_LEN {
            return Err(KeyError::BadShape { height: d.height, width: d.width, channels: d.channels });
        }
        let k = d.class_names.len();
        if k < 2 {
            return Err(KeyError::TooFewClasses { classes: k });
        }
        let expected = self.image_len();
        for s in self.released.iter().chain(&self.withheld) {
            if let Some(bytes) = [s.honey.0.len(), s.original.0.len()].into_iter().find(|&n| n != expected) {
                return Err(KeyError::SampleLength { id: s.id.clone(), bytes, expected });
            }
            if s.label as usize >= k {
                return Err(KeyError::LabelOutOfRange { id: s.id.clone(), label: s.label, classes: k });
            }
            if !s.hardness.is_finite() || !s.proxy_loss.is_finite() {
                return Err(KeyError::NonFiniteLoss { id: s.id.clone() });
            }
        }
        Ok(())
    }

    /// An empty nonce (version 1), or [`NONCE_HEX_LEN`] lowercase hex digits.
    fn check_nonce(&self) -> Result<(), KeyError> {
        let n = &self.commitment_nonce;
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if n.is_empty() || (n.len() == NONCE_HEX_LEN && n.bytes().all(hex)) {
            Ok(())
        } else {
            Err(KeyError::BadNonce { chars: n.chars().count() })
        }
    }
}

/// Serialises a key body into the key file format, with the header version
/// of [`KeyBody::format_version`]. A body that [`KeyBody::check`] refuses
/// (e.g. class-stratified without a nonce) encodes, but does not decode.
pub fn encode<P: Serialize>(body: &KeyBody<P>) -> Vec<u8> {
    let body_bytes = serde_json::to_vec(body).expect("key body serialises");
    let version = body.format_version();
    let header = Header { format: KEY_FORMAT.into(), version, body_sha256: hex::encode(Sha256::digest(&body_bytes)) };
    let mut out = serde_json::to_vec(&header).expect("header serialises");
    out.push(b'\n');
    out.extend_from_slice(&body_bytes);
    out
}

/// Parses and checks key file bytes: size limit, header (a version in
/// [`KEY_VERSIONS_READ`]), integrity (header canonical and body digest),
/// body JSON, [`KeyBody::check_version`] against the header's version, then
/// [`KeyBody::check`]. The error does not name the file, which the caller
/// adds.
pub fn decode<P: DeserializeOwned>(bytes: &[u8]) -> Result<KeyBody<P>, KeyError> {
    if bytes.len() as u64 > MAX_KEY_BYTES {
        return Err(KeyError::TooLarge { bytes: bytes.len() as u64, max: MAX_KEY_BYTES });
    }
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or(KeyError::NoHeader)?;
    let (head, body) = (&bytes[..nl], &bytes[nl + 1..]);
    let header: Header = serde_json::from_slice(head).map_err(|e| KeyError::BadHeader(e.to_string()))?;
    if header.format != KEY_FORMAT {
        return Err(KeyError::NotAKey { format: header.format });
    }
    if !KEY_VERSIONS_READ.contains(&header.version) {
        return Err(KeyError::UnsupportedVersion { version: header.version, supported: KEY_VERSION });
    }
    if serde_json::to_vec(&header).ok().as_deref() != Some(head) {
        return Err(KeyError::HeaderAltered);
    }
    if hex::encode(Sha256::digest(body)) != header.body_sha256 {
        return Err(KeyError::DigestMismatch);
    }
    let key: KeyBody<P> = serde_json::from_slice(body).map_err(|e| KeyError::Malformed(e.to_string()))?;
    key.check_version(header.version)?;
    key.check()?;
    Ok(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A nonce for version-2 test keys.
    pub(crate) const NONCE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    /// The key `encode` wrote for [`body`] before version 2 existed (captured
    /// from the version-1 encoder): version-1 bodies must keep these bytes.
    const V1_KEY: &str = concat!(
        r#"{"format":"honeyimage-key","version":1,"body_sha256":"12db013b14789f72e926feecef71877ec79c5963230c0ef67ad5a0865600b629"}"#,
        "\n",
        r#"{"tool_version":"test","params":{"count":1},"dataset":{"format":"idx","split":"train","source":"/data","samples":10,"#,
        r#""height":2,"width":2,"channels":1,"class_names":["a","b"],"fingerprint":"f"},"release":{"samples":9,"fingerprint":"r"},"#,
        r#""released":[{"id":"train:00001","index":1,"label":1,"hardness":1.0,"proxy_loss":2.0,"honey":"AQEBAQ==","original":"AAAAAA=="}],"#,
        r#""withheld":[{"id":"train:00002","index":2,"label":0,"hardness":1.0,"proxy_loss":2.0,"honey":"AgICAg==","original":"AAAAAA=="}],"#,
        r#""summary":{}}"#
    );

    /// A version-1 body: class-blind, no nonce.
    pub(crate) fn body() -> KeyBody<serde_json::Value> {
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
            split: RwSplit::ClassBlind,
            commitment_nonce: String::new(),
            release: ReleaseInfo { samples: 9, fingerprint: "r".into() },
            released: vec![s(1)],
            withheld: vec![s(2)],
            summary: serde_json::json!({}),
            recipient: None,
        }
    }

    fn decode_err(bytes: &[u8]) -> KeyError {
        decode::<serde_json::Value>(bytes).unwrap_err()
    }

    /// A key file with the given header line and body.
    fn file(header: &str, body: &[u8]) -> Vec<u8> {
        let mut f = format!("{header}\n").into_bytes();
        f.extend_from_slice(body);
        f
    }

    fn header(format: &str, version: u32, body: &[u8]) -> String {
        format!(r#"{{"format":"{format}","version":{version},"body_sha256":"{}"}}"#, hex::encode(Sha256::digest(body)))
    }

    /// A version-2 body: class-stratified, with a nonce.
    pub(crate) fn body_v2() -> KeyBody<serde_json::Value> {
        KeyBody { split: RwSplit::ClassStratified, commitment_nonce: NONCE.into(), ..body() }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_refused() {
        for body in [body(), body_v2()] {
            flips_are_refused(&body);
        }
    }

    fn flips_are_refused(body: &KeyBody<serde_json::Value>) {
        let bytes = encode(body);
        assert_eq!(&decode::<serde_json::Value>(&bytes).unwrap(), body);
        let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let e = decode::<serde_json::Value>(&b).expect_err(&format!("flipping byte {i} was not detected"));
            // Any change to the body is caught by the digest, before the body
            // is parsed.
            if i > nl {
                assert_eq!(e, KeyError::DigestMismatch, "byte {i}");
            }
        }
    }

    #[test]
    fn each_header_fault_has_its_own_error() {
        let b = serde_json::to_vec(&body()).unwrap();
        assert_eq!(decode_err(b"hello world"), KeyError::NoHeader);
        assert!(matches!(decode_err(b"{}\n{}"), KeyError::BadHeader(_)), "{:?}", decode_err(b"{}\n{}"));
        assert_eq!(decode_err(&file(&header("other", KEY_VERSION, &b), &b)), KeyError::NotAKey { format: "other".into() });
        for version in [0, KEY_VERSION + 1, u32::MAX] {
            assert_eq!(
                decode_err(&file(&header(KEY_FORMAT, version, &b), &b)),
                KeyError::UnsupportedVersion { version, supported: KEY_VERSION }
            );
        }
        // Same fields, not the canonical bytes.
        let spaced = header(KEY_FORMAT, 1, &b).replacen(',', ", ", 1);
        assert_eq!(decode_err(&file(&spaced, &b)), KeyError::HeaderAltered);
        assert_eq!(decode_err(&file(&header(KEY_FORMAT, 1, b"x"), &b)), KeyError::DigestMismatch);
        // The digest matches, but the body is not a key body.
        assert!(matches!(decode_err(&file(&header(KEY_FORMAT, KEY_VERSION, b"[]"), b"[]")), KeyError::Malformed(_)));
        // The canonical header is accepted (the helper matches `encode`).
        assert_eq!(file(&header(KEY_FORMAT, 1, &b), &b), encode(&body()));
        // Refused on size alone: a zeroed allocation is not touched.
        let big = vec![0u8; MAX_KEY_BYTES as usize + 1];
        assert_eq!(decode_err(&big), KeyError::TooLarge { bytes: MAX_KEY_BYTES + 1, max: MAX_KEY_BYTES });
    }

    #[test]
    fn lying_bodies_are_refused_after_the_digest() {
        let id = || "train:00001".to_string();
        let mut b = body();
        b.released[0].label = 7;
        assert_eq!(decode_err(&encode(&b)), KeyError::LabelOutOfRange { id: id(), label: 7, classes: 2 });
        let mut b = body();
        b.dataset.height = usize::MAX;
        assert_eq!(decode_err(&encode(&b)), KeyError::BadShape { height: usize::MAX, width: 2, channels: 1 });
        let mut b = body();
        b.dataset.channels = 2;
        assert!(matches!(decode_err(&encode(&b)), KeyError::BadShape { channels: 2, .. }));
        let mut b = body();
        b.withheld.clear();
        assert_eq!(decode_err(&encode(&b)), KeyError::NoSamples);
        let mut b = body();
        b.released.clear();
        assert_eq!(decode_err(&encode(&b)), KeyError::NoSamples);
        let mut b = body();
        b.dataset.class_names.pop();
        assert_eq!(decode_err(&encode(&b)), KeyError::TooFewClasses { classes: 1 });
        // The wrong image is reported, whichever of the two it is.
        let mut b = body();
        b.released[0].honey.0.push(0);
        assert_eq!(decode_err(&encode(&b)), KeyError::SampleLength { id: id(), bytes: 5, expected: 4 });
        let mut b = body();
        b.released[0].original.0.pop();
        assert_eq!(decode_err(&encode(&b)), KeyError::SampleLength { id: id(), bytes: 3, expected: 4 });
        // JSON cannot carry a non-finite float, so only `check` sees one.
        let mut b = body();
        b.released[0].proxy_loss = f64::INFINITY;
        assert_eq!(b.check(), Err(KeyError::NonFiniteLoss { id: id() }));
        assert!(matches!(decode_err(&encode(&b)), KeyError::Malformed(_)));
        let mut b = body();
        b.withheld[0].hardness = f64::NAN;
        assert_eq!(b.check(), Err(KeyError::NonFiniteLoss { id: "train:00002".into() }));
        assert_eq!(body().check(), Ok(()));
    }

    #[test]
    fn version_1_keys_read_and_re_encode_byte_identically() {
        assert_eq!(String::from_utf8(encode(&body())).unwrap(), V1_KEY);
        let old: KeyBody<serde_json::Value> = decode(V1_KEY.as_bytes()).unwrap();
        assert_eq!((old.split, old.commitment_nonce.as_str()), (RwSplit::ClassBlind, ""));
        assert_eq!(old.format_version(), 1);
        assert_eq!(encode(&old), V1_KEY.as_bytes());
    }

    #[test]
    fn version_2_keys_record_split_and_nonce() {
        let v2 = body_v2();
        let bytes = encode(&v2);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"format":"honeyimage-key","version":2,"#), "{text}");
        assert!(text.contains(&format!(r#""split":"class-stratified","commitment_nonce":"{NONCE}""#)), "{text}");
        assert_eq!(decode::<serde_json::Value>(&bytes).unwrap(), v2);
        // A nonce alone makes a version-2 key; its class-blind split is implied.
        let blind = KeyBody { split: RwSplit::ClassBlind, ..body_v2() };
        assert_eq!(blind.format_version(), 2);
        assert!(!String::from_utf8(encode(&blind)).unwrap().contains("class-"));
        assert_eq!(decode::<serde_json::Value>(&encode(&blind)).unwrap(), blind);
    }

    #[test]
    fn header_version_must_fit_the_body() {
        let relabel = |b: &KeyBody<serde_json::Value>, version: u32| {
            let body = serde_json::to_vec(b).unwrap();
            decode_err(&file(&header(KEY_FORMAT, version, &body), &body))
        };
        assert_eq!(relabel(&body_v2(), 1), KeyError::StratifiedInVersion1);
        let blind = KeyBody { split: RwSplit::ClassBlind, ..body_v2() };
        assert_eq!(relabel(&blind, 1), KeyError::NonceInVersion1);
        assert_eq!(relabel(&body(), 2), KeyError::MissingNonce { version: 2 });
        // Stratified without a nonce: encodes as version 2, refused by both
        // `check` and `decode`.
        let bare = KeyBody { commitment_nonce: String::new(), ..body_v2() };
        assert_eq!(bare.check(), Err(KeyError::MissingNonce { version: 2 }));
        assert_eq!(decode_err(&encode(&bare)), KeyError::MissingNonce { version: 2 });
        for (nonce, chars) in [(NONCE.to_uppercase(), 64), (NONCE[1..].to_string(), 63), (format!("{}g", &NONCE[1..]), 64), ("é".repeat(32), 32)] {
            let b = KeyBody { commitment_nonce: nonce, ..body_v2() };
            assert_eq!(b.check(), Err(KeyError::BadNonce { chars }));
            assert_eq!(decode_err(&encode(&b)), KeyError::BadNonce { chars });
        }
        // Version 1 bodies name no split; an unknown split name is malformed.
        let body = serde_json::to_vec(&body_v2()).unwrap();
        let odd = String::from_utf8(body).unwrap().replace("class-stratified", "by-colour");
        assert!(matches!(decode_err(&file(&header(KEY_FORMAT, 2, odd.as_bytes()), odd.as_bytes())), KeyError::Malformed(_)));
    }

    #[test]
    fn messages_are_unchanged() {
        // Other crates and their tests match on these texts.
        let cases = [
            (KeyError::TooLarge { bytes: 9, max: 8 }, "9 bytes is larger than any key (8)"),
            (KeyError::NoHeader, "not a honeyimage key (no header line)"),
            (KeyError::BadHeader("eof".into()), "not a honeyimage key (header: eof)"),
            (KeyError::NotAKey { format: "x".into() }, r#"format "x", expected "honeyimage-key""#),
            (KeyError::UnsupportedVersion { version: 2, supported: 1 }, "key version 2 is not supported (this tool reads version 1)"),
            (KeyError::HeaderAltered, "integrity check failed: the header was altered"),
            (KeyError::DigestMismatch, "integrity check failed: the key was altered or corrupted (SHA-256 mismatch)"),
            (KeyError::Malformed("eof".into()), "body: eof"),
            (KeyError::NoSamples, "no released or withheld samples"),
            (KeyError::BadShape { height: 0, width: 2, channels: 3 }, "image shape 0x2x3 is not a valid image"),
            (KeyError::TooFewClasses { classes: 1 }, "1 class names (need at least 2)"),
            (KeyError::SampleLength { id: "a".into(), bytes: 3, expected: 4 }, "sample a: 3 bytes, expected 4"),
            (KeyError::LabelOutOfRange { id: "a".into(), label: 7, classes: 2 }, "sample a: label 7 out of range (2 classes)"),
            (KeyError::NonFiniteLoss { id: "a".into() }, "sample a: non-finite hardness or proxy loss"),
            (KeyError::StratifiedInVersion1, "a version-1 key cannot have a class-stratified R/W split"),
            (KeyError::NonceInVersion1, "a version-1 key cannot carry a commitment nonce"),
            (KeyError::MissingNonce { version: 2 }, "a version-2 key must carry a commitment nonce"),
            (KeyError::BadNonce { chars: 3 }, "commitment nonce is not 64 lowercase hex digits (3 characters)"),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
