//! XChaCha20-Poly1305 with the layout `nonce24 ‖ ciphertext ‖ tag16`, and the
//! associated-data strings that bind what is sealed to where it belongs.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::VaultError;

pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const KEY_LEN: usize = 32;

/// Associated data of a wrapped data key.
pub(crate) fn dek_aad(kek_id: &str) -> Vec<u8> {
    format!("kw:dek:v1:{kek_id}").into_bytes()
}

/// Associated data of a sealed field.
pub(crate) fn field_aad(record_id: &str, field: &str) -> Vec<u8> {
    format!("kw:tok:v1:{record_id}:{field}").into_bytes()
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the operating system's random number generator failed");
}

/// Seals with a fresh random nonce.
pub(crate) fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce);
    seal_with_nonce(key, &nonce, aad, plaintext)
}

/// Seals with the given nonce (the crate only passes random ones; the tests pass the
/// published test vector's).
pub(crate) fn seal_with_nonce(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut out[NONCE_LEN..])
        .expect("plaintext too long for XChaCha20-Poly1305");
    out.extend_from_slice(&tag);
    out
}

/// Opens `nonce ‖ ciphertext ‖ tag`. Every failure is [`VaultError::Corrupt`].
pub(crate) fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Corrupt);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            aad,
            &mut buf,
            Tag::from_slice(tag),
        )
        .map_err(|_| VaultError::Corrupt)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting<const N: usize>(start: u8) -> [u8; N] {
        std::array::from_fn(|i| start + i as u8)
    }

    /// draft-irtf-cfrg-xchacha-03, A.3.1.
    #[test]
    fn xchacha20poly1305_test_vector() {
        let key: [u8; 32] = counting(0x80);
        let nonce: [u8; 24] = counting(0x40);
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = seal_with_nonce(&key, &nonce, &aad, plaintext);
        assert_eq!(sealed.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
        assert_eq!(&sealed[..NONCE_LEN], &nonce);
        let ct = &sealed[NONCE_LEN..sealed.len() - TAG_LEN];
        assert_eq!(hex::encode(&ct[..8]), "bd6d179d3e83d43b");
        assert_eq!(
            hex::encode(&sealed[sealed.len() - TAG_LEN..]),
            "c0875924c1c7987947deafd8780acf49"
        );
        assert_eq!(&open(&key, &aad, &sealed).unwrap()[..], &plaintext[..]);
    }

    #[test]
    fn short_or_tampered_input_is_corrupt() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"aad", b"secret");
        assert!(matches!(
            open(&key, b"aad", &sealed[..10]),
            Err(VaultError::Corrupt)
        ));
        assert!(matches!(
            open(&key, b"other", &sealed),
            Err(VaultError::Corrupt)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(
                matches!(open(&key, b"aad", &bad), Err(VaultError::Corrupt)),
                "byte {i}"
            );
        }
        assert!(matches!(
            open(&[8u8; 32], b"aad", &sealed),
            Err(VaultError::Corrupt)
        ));
    }
}
