//! Owner key file parser: `honeyimage_format::key::decode::<serde_json::Value>`.
//! Mode byte even: the rest is the whole key file (header line + body).
//! Mode byte odd: the rest is the body only, and the target prepends the
//! correct header with its SHA-256 (version 1 if mode bit 1 is clear, else
//! the current version), so the fuzzer gets past the integrity check into the
//! body parser and `KeyBody::check`. A key that decodes must also re-encode
//! to the same commitment.
#![no_main]
use honeyimage_format::{commitment, key};
use sha2::{Digest, Sha256};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut f = format!(
            "{{\"format\":\"{}\",\"version\":{},\"body_sha256\":\"{}\"}}\n",
            key::KEY_FORMAT,
            if mode & 2 == 0 { 1 } else { key::KEY_VERSION },
            hex::encode(Sha256::digest(rest))
        )
        .into_bytes();
        f.extend_from_slice(rest);
        f
    };
    if let Ok(body) = key::decode::<serde_json::Value>(&file) {
        // A key that decodes is consistent, and re-encodes to one that decodes
        // to the same key. Floats are compared to 1e-15 relative: serde_json
        // (without its `float_roundtrip` feature) may read a shortest-repr f64
        // back 1 ULP off (found by this target; see FUZZING.md).
        assert!(body.check().is_ok());
        let again = key::decode::<serde_json::Value>(&key::encode(&body)).expect("re-encoded key decodes");
        assert_eq!((&again.tool_version, &again.dataset, &again.release), (&body.tool_version, &body.dataset, &body.release));
        assert_eq!((again.split, &again.commitment_nonce), (body.split, &body.commitment_nonce));
        assert_eq!(commitment::commitment(&again), commitment::commitment(&body));
        let close = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-15 * a.abs().max(b.abs());
        let (a, b) = ([&again.released, &again.withheld], [&body.released, &body.withheld]);
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x.len(), y.len());
            for (s, t) in x.iter().zip(y.iter()) {
                assert_eq!((&s.id, s.index, s.label, &s.honey, &s.original), (&t.id, t.index, t.label, &t.honey, &t.original));
                assert!(close(s.hardness, t.hardness) && close(s.proxy_loss, t.proxy_loss), "{s:?} vs {t:?}");
            }
        }
    }
});
