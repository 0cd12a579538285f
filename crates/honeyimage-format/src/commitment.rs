//! The public commitment to a key (SPEC section 4). Without it an owner could
//! be accused of choosing W after seeing the suspect's answers; with it,
//! published beside the release before any dispute, the key revealed later
//! can be shown to be the one that existed at release time.
//!
//! The commitment is a SHA-256 over an unambiguous (length-prefixed,
//! fixed-order) encoding of the key's secret nonce, the release and dataset
//! fingerprints, the R/W split kind, the parameters (which hold the seed) and
//! every sample of R then W (id, index, label, losses, HoneyImage and
//! original pixels). The 32-byte random nonce makes it *hiding*: W's ids and
//! pixels cannot be confirmed by guessing them, even for a public dataset.
//! SHA-256's collision resistance makes it *binding*: moving a sample between
//! R and W, or changing a pixel, a parameter or the release, changes it. The
//! encoding is spelled out in docs/KEY_FORMAT.md so others can recompute it.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::key::{self, KeyBody, KeyError, KeySample};

/// Name of the commitment scheme: the first field hashed, and the prefix of
/// the commitment's text form.
pub const COMMITMENT_SCHEME: &str = "honeyimage-commitment-v1";
/// The hash, named in the text form after the scheme.
const HASH_NAME: &str = "sha256";
/// Random bytes in a commitment nonce (hex-encoded in the key).
pub const NONCE_BYTES: usize = 32;

/// A commitment to a key: a SHA-256 digest. Its text form (`Display`,
/// `FromStr`, serde) is `honeyimage-commitment-v1:sha256:<64 lowercase hex>`;
/// `FromStr` also takes the bare digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commitment {
    /// 64 lowercase hex digits.
    hex: String,
}

impl Commitment {
    /// The digest, 64 lowercase hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COMMITMENT_SCHEME}:{HASH_NAME}:{}", self.hex)
    }
}

/// Text that is not a commitment, or a statement without one. The messages
/// do not name the file, which the caller adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// The text names another scheme or hash than this tool's (e.g. a later
    /// `honeyimage-commitment-v2`).
    #[error("commitment scheme {scheme:?} is not supported (this tool reads {COMMITMENT_SCHEME}:{HASH_NAME})")]
    UnknownScheme {
        /// What precedes the digest (at most 80 characters of it).
        scheme: String,
    },
    /// The digest is not 64 hex digits.
    #[error("commitment digest is not 64 hex digits ({chars} characters)")]
    BadDigest {
        /// Its length in characters.
        chars: usize,
    },
    /// A statement (more than one word) with no commitment in it.
    #[error("no {COMMITMENT_SCHEME} commitment found")]
    NotFound,
    /// A statement with two different commitments.
    #[error("two different commitments: {first} and {second}")]
    Conflicting {
        /// The first one.
        first: Commitment,
        /// The first one that differs from it.
        second: Commitment,
    },
}

impl FromStr for Commitment {
    type Err = CommitmentError;

    /// Parses `honeyimage-commitment-v1:sha256:<hex>` or a bare `<hex>`
    /// (64 hex digits, either case; stored lowercase), ignoring surrounding
    /// whitespace.
    fn from_str(s: &str) -> Result<Self, CommitmentError> {
        let s = s.trim();
        let digest = match s.rsplit_once(':') {
            None => s,
            Some((scheme, digest)) if scheme == format!("{COMMITMENT_SCHEME}:{HASH_NAME}") => digest,
            Some((scheme, _)) => return Err(CommitmentError::UnknownScheme { scheme: scheme.chars().take(80).collect() }),
        };
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CommitmentError::BadDigest { chars: digest.chars().count() });
        }
        Ok(Commitment { hex: digest.to_ascii_lowercase() })
    }
}

impl Serialize for Commitment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The hex form of a nonce for [`KeyBody::commitment_nonce`]. The bytes must
/// come from the operating system's generator (e.g. `rand::rngs::OsRng`),
/// never from the protection seed, which the commitment would then not hide.
pub fn nonce_hex(bytes: &[u8; NONCE_BYTES]) -> String {
    hex::encode(bytes)
}

/// The hashed encoding: every variable-length field is its length (u64,
/// little-endian) then its bytes; every number is a u64 or an f64's bits,
/// little-endian.
struct Encoder(Sha256);

impl Encoder {
    fn bytes(&mut self, b: &[u8]) {
        self.int(b.len() as u64);
        self.0.update(b);
    }

    fn int(&mut self, n: u64) {
        self.0.update(n.to_le_bytes());
    }

    fn samples(&mut self, samples: &[KeySample]) {
        self.int(samples.len() as u64);
        for s in samples {
            self.bytes(s.id.as_bytes());
            self.int(s.index as u64);
            self.int(u64::from(s.label));
            self.int(s.hardness.to_bits());
            self.int(s.proxy_loss.to_bits());
            self.bytes(&s.honey.0);
            self.bytes(&s.original.0);
        }
    }
}

/// The commitment to a key body; see the module documentation for what it
/// covers. The nonce is hashed as its hex text (empty for a version-1 key,
/// whose commitment is binding but not hiding). The parameters are hashed
/// as JSON with every object's keys sorted, so the same key gives the same
/// commitment whether `P` is the method's parameter type or raw JSON.
///
/// Recompute a stored key's commitment with [`commitment_of_key`], which
/// reads the parameters as they were written, not as a later tool version
/// would fill them in.
pub fn commitment<P: Serialize>(body: &KeyBody<P>) -> Commitment {
    let mut e = Encoder(Sha256::new());
    e.bytes(COMMITMENT_SCHEME.as_bytes());
    e.bytes(body.commitment_nonce.as_bytes());
    e.bytes(body.release.fingerprint.as_bytes());
    e.bytes(body.dataset.fingerprint.as_bytes());
    e.bytes(body.split.as_str().as_bytes());
    e.bytes(&canonical_json(&body.params));
    e.samples(&body.released);
    e.samples(&body.withheld);
    Commitment { hex: hex::encode(e.0.finalize()) }
}

/// Decodes key file bytes (with every check of [`key::decode`]) and returns
/// their commitment, with the parameters read as raw JSON.
pub fn commitment_of_key(bytes: &[u8]) -> Result<Commitment, KeyError> {
    key::decode::<serde_json::Value>(bytes).map(|body| commitment(&body))
}

/// `params` as compact JSON with every object's keys sorted.
fn canonical_json<P: Serialize>(params: &P) -> Vec<u8> {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<_> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sorted).collect()),
            v => v,
        }
    }
    let value = serde_json::to_value(params).expect("key parameters serialise to JSON");
    serde_json::to_vec(&sorted(value)).expect("JSON serialises")
}

/// The text protect publishes beside the release: the commitment line, the
/// release's fingerprint and counts, and how to check it. It says nothing
/// about which samples are in R or W. [`parse_statement`] reads it back.
pub fn public_statement<P: Serialize>(body: &KeyBody<P>) -> String {
    let mut text = format!(
        "HoneyImage ownership commitment\n\
         \n\
         commitment: {}\n\
         release fingerprint: {}\n\
         samples in the release: {}\n\
         HoneyImages in the release: {}\n\
         withheld controls: {}\n\
         R/W split: {}\n\
         \n\
         This is a SHA-256 commitment to the owner's secret HoneyImage key for\n\
         the release with the fingerprint above: which samples were released as\n\
         HoneyImages and which were withheld as controls (their ids, labels and\n\
         pixels, before and after), the protection parameters and seed, and the\n\
         dataset and release fingerprints. A secret random nonce in the key\n\
         keeps it from revealing any of them.\n\
         \n\
         Publish this file with the release (e.g. in the dataset card, or with\n\
         a timestamping service). When the owner reveals the key, anyone can\n\
         check it: `honeyimage key commitment --key KEY` recomputes the line\n\
         above from the key, and `honeyimage verify --key KEY --commitment FILE`\n\
         (FILE: this file, or the commitment alone) refuses a key that does not\n\
         match it before verifying.\n",
        commitment(body),
        body.release.fingerprint,
        body.release.samples,
        body.released.len(),
        body.withheld.len(),
        body.split,
    );
    if body.commitment_nonce.is_empty() {
        text.push_str(
            "\nThis key (version 1) has no nonce: the commitment binds the owner\n\
             to the key, but does not hide its contents from someone who can\n\
             guess them.\n",
        );
    }
    text
}

/// Finds the commitment in a statement written by [`public_statement`] (or
/// any text that quotes it, e.g. a dataset card), or reads the text as a
/// bare commitment. Every word of the form `honeyimage-commitment-…:…` is
/// parsed; they must all agree.
pub fn parse_statement(text: &str) -> Result<Commitment, CommitmentError> {
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'));
    let mut found: Option<Commitment> = None;
    for w in words.map(|w| w.trim_end_matches(':')) {
        let scheme_family = COMMITMENT_SCHEME.trim_end_matches("v1");
        if !(w.starts_with(scheme_family) && w.contains(':')) {
            continue;
        }
        let c: Commitment = w.parse()?;
        match &found {
            None => found = Some(c),
            Some(first) if *first != c => return Err(CommitmentError::Conflicting { first: first.clone(), second: c }),
            Some(_) => {}
        }
    }
    match found {
        Some(c) => Ok(c),
        None if !text.trim().is_empty() && !text.trim().contains(char::is_whitespace) => text.parse(),
        None => Err(CommitmentError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::tests::{body_v2, NONCE};
    use crate::key::{Bytes, RwSplit};

    type Body = KeyBody<serde_json::Value>;
    /// A named change to a body.
    type Change<'a> = (&'a str, fn(&mut Body));

    /// A version-2 body with two samples in each of R and W and a seed.
    fn body() -> Body {
        let mut b = body_v2();
        b.params = serde_json::json!({"count": 2, "seed": 7, "epsilon": 4.0, "proxy_train": {"lr": 0.05, "epochs": 3}});
        let extra = |i: usize| {
            let mut s = b.released[0].clone();
            (s.id, s.index, s.honey, s.original) = (format!("train:{i:05}"), i, Bytes(vec![i as u8; 4]), Bytes(vec![9; 4]));
            s
        };
        let (r, w) = (extra(3), extra(4));
        b.released.push(r);
        b.withheld.push(w);
        b
    }

    /// Applies each change to a fresh body; every one must move the commitment.
    fn assert_each_changes(changes: &[Change]) {
        let base = commitment(&body());
        for (what, change) in changes {
            let mut b = body();
            change(&mut b);
            assert_ne!(commitment(&b), base, "{what} did not change the commitment");
        }
    }

    #[test]
    fn deterministic_and_independent_of_the_parameter_type() {
        let b = body();
        assert_eq!(commitment(&b), commitment(&b.clone()));
        assert_eq!(commitment(&b).hex().len(), 64);
        // The same key read back, as raw JSON or as a struct with its fields
        // in another order than JSON's sorted keys.
        assert_eq!(commitment_of_key(&key::encode(&b)).unwrap(), commitment(&b));
        #[derive(Serialize)]
        struct Lr {
            lr: f64,
            epochs: u32,
        }
        #[derive(Serialize)]
        struct Params {
            seed: u64,
            proxy_train: Lr,
            epsilon: f64,
            count: usize,
        }
        let p = Params { seed: 7, proxy_train: Lr { lr: 0.05, epochs: 3 }, epsilon: 4.0, count: 2 };
        let typed = KeyBody {
            params: p,
            tool_version: b.tool_version.clone(),
            split: b.split,
            commitment_nonce: b.commitment_nonce.clone(),
            dataset: b.dataset.clone(),
            release: b.release.clone(),
            released: b.released.clone(),
            withheld: b.withheld.clone(),
            summary: b.summary.clone(),
            recipient: b.recipient.clone(),
        };
        assert_eq!(commitment(&typed), commitment(&b));
        // A corrupted key has no commitment.
        let mut bytes = key::encode(&b);
        *bytes.last_mut().unwrap() ^= 1;
        assert_eq!(commitment_of_key(&bytes), Err(KeyError::DigestMismatch));
    }

    #[test]
    fn every_committed_field_changes_it() {
        assert_each_changes(&[
            ("moving a sample from R to W", |b| {
                let s = b.released.pop().unwrap();
                b.withheld.push(s);
            }),
            ("swapping a sample of R with one of W", |b| std::mem::swap(&mut b.released[0], &mut b.withheld[0])),
            ("reordering R", |b| b.released.swap(0, 1)),
            ("one HoneyImage pixel", |b| b.withheld[1].honey.0[3] ^= 1),
            ("one original pixel", |b| b.released[1].original.0[0] ^= 1),
            ("the nonce", |b| b.commitment_nonce = NONCE.replace('0', "1")),
            ("the seed", |b| b.params["seed"] = 8.into()),
            ("a nested parameter", |b| b.params["proxy_train"]["lr"] = 0.06.into()),
            ("the release fingerprint", |b| b.release.fingerprint.push('0')),
            ("the dataset fingerprint", |b| b.dataset.fingerprint.push('0')),
            ("the split kind", |b| b.split = RwSplit::ClassBlind),
            ("a label", |b| b.released[0].label ^= 1),
            ("an id", |b| b.withheld[0].id.push('x')),
            ("an index", |b| b.withheld[0].index += 1),
            ("a proxy loss", |b| b.released[0].proxy_loss += 1e-9),
            ("a hardness", |b| b.withheld[0].hardness = -b.withheld[0].hardness),
            // Length prefixes: the same bytes split differently between fields.
            ("the same bytes split differently between two fields", |b| {
                let f = b.dataset.fingerprint.remove(0);
                b.release.fingerprint.push(f);
            }),
        ]);
    }

    #[test]
    fn bookkeeping_fields_do_not_change_it() {
        let base = commitment(&body());
        let mut b = body();
        b.tool_version = "other".into();
        b.summary = serde_json::json!({"gap": 1});
        b.dataset.source = "/elsewhere".into();
        assert_eq!(commitment(&b), base);
    }

    #[test]
    fn text_form_round_trips() {
        let c = commitment(&body());
        let text = c.to_string();
        assert_eq!(text, format!("honeyimage-commitment-v1:sha256:{}", c.hex()));
        assert_eq!(text.parse::<Commitment>(), Ok(c.clone()));
        assert_eq!(format!("  {}\n", c.hex().to_uppercase()).parse::<Commitment>(), Ok(c.clone()));
        assert_eq!(serde_json::from_str::<Commitment>(&serde_json::to_string(&c).unwrap()).unwrap(), c);
        let e = |s: &str| s.parse::<Commitment>().unwrap_err();
        assert_eq!(e(&c.hex()[1..]), CommitmentError::BadDigest { chars: 63 });
        assert_eq!(e(&format!("{}g", &c.hex()[1..])), CommitmentError::BadDigest { chars: 64 });
        assert_eq!(e(""), CommitmentError::BadDigest { chars: 0 });
        assert_eq!(e(&format!("sha256:{}", c.hex())), CommitmentError::UnknownScheme { scheme: "sha256".into() });
        let v2 = text.replace("-v1:", "-v2:");
        assert_eq!(e(&v2), CommitmentError::UnknownScheme { scheme: "honeyimage-commitment-v2:sha256".into() });
        assert!(serde_json::from_str::<Commitment>("\"x\"").is_err());
    }

    #[test]
    fn statements_are_read_back() {
        let b = body();
        let c = commitment(&b);
        let text = public_statement(&b);
        assert!(text.contains(&format!("commitment: {c}\n")), "{text}");
        assert!(text.contains("honeyimage verify --key KEY --commitment FILE") && text.contains("honeyimage key commitment --key KEY"));
        assert!(!text.contains("train:0000") && !text.contains("no nonce"), "{text}");
        assert_eq!(parse_statement(&text), Ok(c.clone()));
        // Quoted in a dataset card, or given bare.
        assert_eq!(parse_statement(&format!("# Card\nOwnership: `{c}`.\n{c}\n")), Ok(c.clone()));
        assert_eq!(parse_statement(&format!("{}\n", c.hex())), Ok(c.clone()));
        // Version-1 keys say that they do not hide.
        let v1 = crate::key::tests::body();
        assert!(public_statement(&v1).contains("no nonce"));
        assert_eq!(parse_statement(&public_statement(&v1)), Ok(commitment(&v1)));
    }

    #[test]
    fn garbage_statements_are_refused() {
        let c = commitment(&body());
        assert_eq!(parse_statement(""), Err(CommitmentError::NotFound));
        assert_eq!(parse_statement("hello world\nno honeyimage-commitment-v1 here"), Err(CommitmentError::NotFound));
        assert_eq!(parse_statement("deadbeef"), Err(CommitmentError::BadDigest { chars: 8 }));
        let cut = format!("commitment: {}", &c.to_string()[..70]);
        assert!(matches!(parse_statement(&cut), Err(CommitmentError::BadDigest { .. })));
        let other = commitment(&KeyBody { split: RwSplit::ClassBlind, ..body() });
        assert_eq!(parse_statement(&format!("{c}\n{other}\n{c}")), Err(CommitmentError::Conflicting { first: c.clone(), second: other }));
        let v9 = c.to_string().replace("-v1:", "-v9:");
        assert!(matches!(parse_statement(&format!("a: {v9}")), Err(CommitmentError::UnknownScheme { .. })));
    }

    #[test]
    fn messages() {
        let c: Commitment = "ab".repeat(32).parse().unwrap();
        let cases = [
            (CommitmentError::UnknownScheme { scheme: "x".into() }, r#"commitment scheme "x" is not supported (this tool reads honeyimage-commitment-v1:sha256)"#.to_string()),
            (CommitmentError::BadDigest { chars: 3 }, "commitment digest is not 64 hex digits (3 characters)".into()),
            (CommitmentError::NotFound, "no honeyimage-commitment-v1 commitment found".into()),
            (CommitmentError::Conflicting { first: c.clone(), second: c.clone() }, format!("two different commitments: {c} and {c}")),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
