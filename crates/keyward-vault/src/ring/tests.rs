use secrecy::ExposeSecret;

use super::*;
use crate::kek::encode_kek;

const K1: [u8; 32] = [0x11; 32];
const K2: [u8; 32] = [0xa7; 32];

fn ring1() -> Ring {
    Ring::new(vec![("kek-1".into(), K1)], "kek-1").unwrap()
}

#[test]
fn round_trip() {
    let ring = ring1();
    let (dek, wrapped) = ring.new_data_key();
    assert_eq!(wrapped.kek_id, "kek-1");
    assert_eq!(wrapped.bytes.len(), 24 + 32 + 16);
    let ct = dek.seal("rec-1", "token", "s3cr3t ✓".as_bytes());
    assert_eq!(ct.len(), 24 + "s3cr3t ✓".len() + 16);
    assert_eq!(
        dek.open("rec-1", "token", &ct).unwrap().expose_secret(),
        "s3cr3t ✓"
    );
    assert_eq!(
        ring.open(&wrapped, "rec-1", "token", &ct)
            .unwrap()
            .expose_secret(),
        "s3cr3t ✓"
    );
    let again = ring.unwrap_key(&wrapped).unwrap();
    assert_eq!(
        &again.open_bytes("rec-1", "token", &ct).unwrap()[..],
        "s3cr3t ✓".as_bytes()
    );
    // Empty plaintext works too; two seals of the same text differ (random nonces).
    assert_eq!(
        dek.open("r", "f", &dek.seal("r", "f", b""))
            .unwrap()
            .expose_secret(),
        ""
    );
    assert_ne!(dek.seal("r", "f", b"x"), dek.seal("r", "f", b"x"));
}

#[test]
fn moved_ciphertext_fails() {
    let ring = ring1();
    let (dek, wrapped) = ring.new_data_key();
    let ct = dek.seal("rec-1", "token", b"secret");
    for (rec, field) in [
        ("rec-2", "token"),
        ("rec-1", "refresh"),
        ("rec-1:token", ""),
        ("", "token"),
    ] {
        assert!(
            matches!(dek.open(rec, field, &ct), Err(VaultError::Corrupt)),
            "{rec} {field}"
        );
        assert!(matches!(
            ring.open(&wrapped, rec, field, &ct),
            Err(VaultError::Corrupt)
        ));
    }
    // Another record's data key does not open it either.
    let (other, _) = ring.new_data_key();
    assert!(matches!(
        other.open("rec-1", "token", &ct),
        Err(VaultError::Corrupt)
    ));
}

#[test]
fn tampering_fails() {
    let ring = ring1();
    let (dek, wrapped) = ring.new_data_key();
    let ct = dek.seal("rec-1", "token", b"secret");
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x80;
        assert!(
            matches!(dek.open("rec-1", "token", &bad), Err(VaultError::Corrupt)),
            "byte {i}"
        );
    }
    assert!(matches!(
        dek.open("rec-1", "token", &ct[..ct.len() - 1]),
        Err(VaultError::Corrupt)
    ));
    for i in 0..wrapped.bytes.len() {
        let mut bad = wrapped.clone();
        bad.bytes[i] ^= 1;
        assert!(
            matches!(ring.unwrap_key(&bad), Err(VaultError::Corrupt)),
            "byte {i}"
        );
    }
}

#[test]
fn wrapped_key_bound_to_its_kek_id() {
    // The same key bytes under two ids: a wrapping relabelled to the other id fails.
    let ring = Ring::new(vec![("a".into(), K1), ("b".into(), K1)], "a").unwrap();
    let (_, mut wrapped) = ring.new_data_key();
    wrapped.kek_id = "b".into();
    assert!(matches!(
        ring.unwrap_key(&wrapped),
        Err(VaultError::Corrupt)
    ));
}

#[test]
fn not_utf8_is_corrupt() {
    let (dek, _) = ring1().new_data_key();
    let ct = dek.seal("r", "f", &[0xff, 0xfe]);
    assert!(matches!(dek.open("r", "f", &ct), Err(VaultError::Corrupt)));
    assert_eq!(&dek.open_bytes("r", "f", &ct).unwrap()[..], &[0xff, 0xfe]);
}

#[test]
fn unknown_kek_is_named() {
    let (_, wrapped) = ring1().new_data_key();
    let other = Ring::new(vec![("kek-2".into(), K2)], "kek-2").unwrap();
    let err = other.unwrap_key(&wrapped).unwrap_err();
    assert!(matches!(&err, VaultError::UnknownKek(id) if id == "kek-1"));
    assert_eq!(
        err.to_string(),
        "the key-encryption key kek-1 is not in the ring"
    );
}

#[test]
fn rotation_rewraps_only_the_data_key() {
    let old = ring1();
    let (dek, wrapped) = old.new_data_key();
    let ct = dek.seal("rec-9", "secret", b"value");
    let both = Ring::new(vec![("kek-1".into(), K1), ("kek-2".into(), K2)], "kek-2").unwrap();
    let rewrapped = both.rewrap(&wrapped).unwrap();
    assert_eq!(rewrapped.kek_id, "kek-2");
    let new_only = Ring::new(vec![("kek-2".into(), K2)], "kek-2").unwrap();
    assert_eq!(
        new_only
            .open(&rewrapped, "rec-9", "secret", &ct)
            .unwrap()
            .expose_secret(),
        "value"
    );
    assert!(matches!(
        new_only.unwrap_key(&wrapped),
        Err(VaultError::UnknownKek(_))
    ));
    // Rewrapping by a ring without the old KEK cannot work.
    assert!(matches!(new_only.rewrap(&wrapped), Err(VaultError::UnknownKek(id)) if id == "kek-1"));
}

#[test]
fn ring_rules() {
    let r = Ring::new(vec![("b".into(), K1), ("a".into(), K2)], "a").unwrap();
    assert_eq!(r.active_id(), "a");
    assert_eq!(r.ids(), ["b", "a"]);
    assert!(r.contains("b") && !r.contains("c"));
    let err = Ring::new(vec![("a".into(), K1)], "z")
        .unwrap_err()
        .to_string();
    assert!(err.contains('z') && err.contains("there: a"), "{err}");
    let err = Ring::new(vec![("a".into(), K1), ("a".into(), K2)], "a").unwrap_err();
    assert!(matches!(err, RingError::DuplicateId { id, .. } if id == "a"));
    let err = Ring::new(vec![("bad id".into(), K1)], "bad id")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"bad id\""), "{err}");
    assert!(matches!(
        Ring::new(vec![], "a"),
        Err(RingError::Empty { .. })
    ));
    assert!(Ring::new(vec![("x".repeat(41), K1)], &"x".repeat(41)).is_err());
}

/// Neither form of any key appears in the Debug of anything.
pub(crate) fn assert_no_key_material(text: &str, keys: &[[u8; 32]]) {
    for k in keys {
        let b64 = encode_kek(k);
        for form in [
            hex::encode(k),
            b64.clone(),
            b64.trim_end_matches('=').to_string(),
        ] {
            assert!(!text.contains(&form[..16]), "{text} contains {form}");
        }
        assert!(
            !text.contains(&format!("{:?}", &k[..4]).trim_end_matches(']').to_string()),
            "{text}"
        );
    }
}

#[test]
fn debug_shows_no_key_bytes() {
    let k1: [u8; 32] = std::array::from_fn(|i| i as u8 + 100);
    let ring = Ring::new(vec![("kek-1".into(), k1), ("kek-2".into(), K2)], "kek-1").unwrap();
    let text = format!("{ring:?} {ring:#?}");
    assert!(text.contains("kek-1") && text.contains("kek-2"), "{text}");
    assert_no_key_material(&text, &[k1, K2]);
    let (dek, wrapped) = ring.new_data_key();
    let dek_bytes = *dek.0;
    let text = format!("{dek:?} {dek:#?} {wrapped:?} {wrapped:#?}");
    assert!(text.contains("kek-1") && text.contains("72"), "{text}");
    assert_no_key_material(&text, &[k1, K2, dek_bytes]);
    assert!(!text.contains(&hex::encode(&wrapped.bytes[..8])));
    assert!(!text.contains(
        &format!("{:?}", &wrapped.bytes[..3])
            .trim_end_matches(']')
            .to_string()
    ));
}
