//! The key file: round trip, integrity (every altered byte is refused),
//! versioning, permissions.
use honeyimage::key::{self, Bytes, DatasetInfo, KeyBody, KeySample, ReleaseInfo, RwSplit};
use honeyimage::protect::ProtectConfig;

fn body() -> KeyBody {
    let s = |i: usize| KeySample {
        id: format!("train:{i:05}"),
        index: i,
        label: (i % 3) as u32,
        hardness: 2.5 + i as f64,
        proxy_loss: 1.25,
        honey: Bytes(vec![i as u8; 16]),
        original: Bytes(vec![0; 16]),
    };
    KeyBody {
        tool_version: "test".into(),
        params: ProtectConfig::default(),
        split: RwSplit::ClassBlind,
        commitment_nonce: String::new(),
        dataset: DatasetInfo {
            format: "idx".into(),
            split: "train".into(),
            source: "/data".into(),
            samples: 10,
            height: 4,
            width: 4,
            channels: 1,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            fingerprint: "00".into(),
        },
        release: ReleaseInfo { samples: 8, fingerprint: "ff".into() },
        released: vec![s(1), s(2)],
        withheld: vec![s(3), s(4)],
        summary: serde_json::json!({}),
        recipient: None,
    }
}

#[test]
fn key_round_trips_and_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.key");
    key::save(&body(), &p).unwrap();
    assert_eq!(key::load(&p).unwrap(), body());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn every_altered_byte_is_detected() {
    let bytes = key::encode(&body());
    let p = std::path::Path::new("k.key");
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            assert!(key::decode(&b, p).is_err(), "byte {i} ^ {flip:#x} was not detected");
        }
    }
    assert!(key::decode(&bytes[..bytes.len() - 1], p).is_err());
    let mut longer = bytes.clone();
    longer.push(b' ');
    assert!(key::decode(&longer, p).is_err());
}

#[test]
fn other_versions_and_non_keys_are_refused_clearly() {
    let p = std::path::Path::new("k.key");
    let text = String::from_utf8(key::encode(&body())).unwrap().replacen("\"version\":1", "\"version\":3", 1);
    let e = key::decode(text.as_bytes(), p).unwrap_err().to_string();
    assert!(e.contains("version 3") && e.contains("k.key"), "{e}");
    let e = key::decode(b"hello world", p).unwrap_err().to_string();
    assert!(e.contains("not a honeyimage key"), "{e}");
}

#[test]
fn encrypted_key_round_trips_and_refuses_wrong_passphrases_and_altered_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.key.age");
    let pass = key::SecretString::from("correct horse battery staple".to_string());
    key::save_with(&body(), &p, Some(&pass)).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert!(key::is_encrypted(&bytes));
    assert!(!bytes.windows(7).any(|w| w == b"train:0"), "sample ids visible in the encrypted key");
    assert_eq!(key::load_with(&p, Some(&pass)).unwrap(), body());
    let no_pass = key::load(&p).unwrap_err().to_string();
    assert!(no_pass.contains("encrypted") && no_pass.contains("k.key.age"), "{no_pass}");
    let wrong = key::load_with(&p, Some(&key::SecretString::from("wrong".to_string()))).unwrap_err().to_string();
    assert!(wrong.contains("wrong passphrase"), "{wrong}");
    // age authenticates the ciphertext: altered bytes inside the armour are refused
    // (each decryption runs scrypt, so sample positions instead of all bytes).
    let body_start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    for i in (body_start..bytes.len() - 40).step_by((bytes.len() - body_start) / 6) {
        let mut b = bytes.clone();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        assert!(key::decrypt(&b, &pass, &p).is_err(), "altered byte {i} was not detected");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
