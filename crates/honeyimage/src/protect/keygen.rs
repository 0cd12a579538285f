//! Stage 6 of protect (SPEC section 3): the secret key. Everything
//! verification needs: the parameters, the dataset's and the release's
//! fingerprints, and for every sample of R and W its id, label, hardness,
//! the out-models' loss and both the original and the HoneyImage pixels.
use std::collections::HashMap;

use honeyimage_data::{Dataset, Split};

use super::candidates::Candidates;
use super::hardness::Hardness;
use super::honey::HoneyOutcome;
use super::summary::ProtectSummary;
use crate::config::ProtectConfig;
use crate::key::{Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo, RwSplit};

/// Where the protected data came from.
pub struct Origin<'a> {
    /// Its format ("idx", "cifar", ..., or "arrays" for samples in memory).
    pub format: String,
    /// Its path (or the name given to arrays).
    pub source: String,
    /// The protected split.
    pub split: Split,
    /// Its samples.
    pub ds: &'a Dataset,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The key's commitment nonce ([`fresh_nonce`], kept in the work folder
    /// so that a resumed run writes the same key).
    pub nonce: String,
}

/// 32 bytes from the operating system's generator, as hex: the nonce that
/// makes the public commitment hiding. Never derived from the seed (anyone
/// who learnt the seed could then test guesses of W against the commitment).
pub fn fresh_nonce() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; honeyimage_format::commitment::NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    honeyimage_format::commitment::nonce_hex(&bytes)
}

/// Assembles the key body.
pub fn build(
    origin: &Origin,
    config: &ProtectConfig,
    cands: &Candidates,
    hardness: &Hardness,
    honey: &HoneyOutcome,
    release_fingerprint: String,
    summary: &ProtectSummary,
) -> KeyBody {
    let ds = origin.ds;
    let pos: HashMap<usize, usize> = honey.indices.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let sample = |i: usize| -> KeySample {
        let j = pos[&i];
        KeySample {
            id: ds.ids[i].clone(),
            index: i,
            label: ds.labels[i],
            hardness: hardness.scores[i],
            proxy_loss: honey.out_loss[j],
            honey: Bytes(honey.images[j].clone()),
            original: Bytes(ds.image(i).to_vec()),
        }
    };
    KeyBody {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        params: config.clone(),
        split: RwSplit::ClassStratified,
        commitment_nonce: origin.nonce.clone(),
        dataset: DatasetInfo {
            format: origin.format.clone(),
            split: origin.split.to_string(),
            source: origin.source.clone(),
            samples: ds.len(),
            height: ds.height,
            width: ds.width,
            channels: ds.channels,
            class_names: ds.class_names.clone(),
            fingerprint: origin.fingerprint.clone(),
        },
        release: ReleaseInfo { samples: ds.len() - cands.withheld.len(), fingerprint: release_fingerprint },
        released: cands.released.iter().map(|&i| sample(i)).collect(),
        withheld: cands.withheld.iter().map(|&i| sample(i)).collect(),
        summary: serde_json::to_value(summary).expect("serialisable"),
        recipient: None,
    }
}
