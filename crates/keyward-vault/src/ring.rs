//! The ring of key-encryption keys, data keys, and wrapped data keys.

use std::fmt;

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, KEY_LEN};
use crate::error::{RingError, VaultError};
use crate::kek;

/// The key-encryption keys (KEKs) by id, one of them active. Key bytes are wiped when
/// the ring is dropped, and `Debug` shows the ids only.
pub struct Ring {
    keks: Vec<(String, Zeroizing<[u8; KEY_LEN]>)>,
    active: usize,
}

/// A data key (DEK) sealed by a key-encryption key: `bytes` is
/// `nonce24 ‖ XChaCha20-Poly1305(KEK, DEK, aad = "kw:dek:v1:" + kek_id)`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

/// A record's 32-byte data key, wiped on drop. It seals and opens that record's fields.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl Ring {
    /// A ring of `keks` with `active` the one new data keys are wrapped by. Ids must be
    /// valid (1..=40 characters of `[A-Za-z0-9_.-]`) and distinct, and `active` among them.
    pub fn new(keks: Vec<(String, [u8; KEY_LEN])>, active: &str) -> Result<Ring, RingError> {
        let mut ring = Vec::with_capacity(keks.len());
        for (id, mut key) in keks {
            ring.push((id, Zeroizing::new(key)));
            key.zeroize();
        }
        Ring::from_zeroizing(ring, active, "")
    }

    /// As [`Ring::new`], the keys already in wiping storage; `origin` goes in errors.
    pub(crate) fn from_zeroizing(
        keks: Vec<(String, Zeroizing<[u8; KEY_LEN]>)>,
        active: &str,
        origin: &str,
    ) -> Result<Ring, RingError> {
        for (i, (id, _)) in keks.iter().enumerate() {
            kek::check_id(id, origin)?;
            if keks[..i].iter().any(|(other, _)| other == id) {
                return Err(RingError::DuplicateId {
                    id: id.clone(),
                    origin: origin.to_string(),
                });
            }
        }
        if keks.is_empty() {
            return Err(RingError::Empty {
                origin: origin.to_string(),
            });
        }
        let Some(active) = keks.iter().position(|(id, _)| id == active) else {
            return Err(RingError::ActiveNotInRing {
                active: active.to_string(),
                known: keks
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                origin: origin.to_string(),
            });
        };
        Ok(Ring { keks, active })
    }

    /// The id of the KEK that new data keys are wrapped by.
    pub fn active_id(&self) -> &str {
        &self.keks[self.active].0
    }

    /// Every KEK id, in the order given.
    pub fn ids(&self) -> Vec<String> {
        self.keks.iter().map(|(id, _)| id.clone()).collect()
    }

    pub fn contains(&self, kek_id: &str) -> bool {
        self.key(kek_id).is_some()
    }

    fn key(&self, kek_id: &str) -> Option<&[u8; KEY_LEN]> {
        self.keks
            .iter()
            .find(|(id, _)| id == kek_id)
            .map(|(_, k)| &**k)
    }

    /// A fresh random data key and its wrapping by the active KEK.
    pub fn new_data_key(&self) -> (DataKey, WrappedKey) {
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        crypto::random(&mut dek[..]);
        let wrapped = self.wrap(&dek);
        (DataKey(dek), wrapped)
    }

    fn wrap(&self, dek: &[u8; KEY_LEN]) -> WrappedKey {
        let (id, kek) = &self.keks[self.active];
        WrappedKey {
            kek_id: id.clone(),
            bytes: crypto::seal(kek, &crypto::dek_aad(id), dek),
        }
    }

    /// The data key inside `wrapped`: [`VaultError::UnknownKek`] when its KEK is not in
    /// the ring, [`VaultError::Corrupt`] when the bytes do not open with it.
    pub fn unwrap_key(&self, wrapped: &WrappedKey) -> Result<DataKey, VaultError> {
        let kek = self
            .key(&wrapped.kek_id)
            .ok_or_else(|| VaultError::UnknownKek(wrapped.kek_id.clone()))?;
        let plain = crypto::open(kek, &crypto::dek_aad(&wrapped.kek_id), &wrapped.bytes)?;
        let dek: [u8; KEY_LEN] = plain[..].try_into().map_err(|_| VaultError::Corrupt)?;
        Ok(DataKey(Zeroizing::new(dek)))
    }

    /// The same DEK wrapped by the active KEK (ciphertexts made with it stay valid).
    /// Always a fresh wrapping, even when `wrapped` already uses the active KEK: skip
    /// those with `wrapped.kek_id == ring.active_id()`.
    pub fn rewrap(&self, wrapped: &WrappedKey) -> Result<WrappedKey, VaultError> {
        let dek = self.unwrap_key(wrapped)?;
        Ok(self.wrap(&dek.0))
    }

    /// Convenience: unwrap then decrypt one field.
    pub fn open(
        &self,
        wrapped: &WrappedKey,
        record_id: &str,
        field: &str,
        ciphertext: &[u8],
    ) -> Result<SecretString, VaultError> {
        self.unwrap_key(wrapped)?.open(record_id, field, ciphertext)
    }
}

impl DataKey {
    /// `nonce24 ‖ ciphertext ‖ tag16` of `plaintext`, bound to `record_id` and `field`
    /// (aad `"kw:tok:v1:" + record_id + ":" + field`). Record ids should not contain
    /// `':'`, so that no two (record, field) pairs share the associated data.
    pub fn seal(&self, record_id: &str, field: &str, plaintext: &[u8]) -> Vec<u8> {
        crypto::seal(&self.0, &crypto::field_aad(record_id, field), plaintext)
    }

    /// The UTF-8 plaintext sealed by [`DataKey::seal`] for this record and field; any
    /// failure, including plaintext that is not UTF-8, is [`VaultError::Corrupt`].
    pub fn open(
        &self,
        record_id: &str,
        field: &str,
        ciphertext: &[u8],
    ) -> Result<SecretString, VaultError> {
        let bytes = self.open_bytes(record_id, field, ciphertext)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::Corrupt)?;
        // An exact-size copy: the buffer it comes from is wiped on return.
        let boxed: Box<str> = text.into();
        Ok(SecretString::from(boxed))
    }

    /// As [`DataKey::open`], for any bytes.
    pub fn open_bytes(
        &self,
        record_id: &str,
        field: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        crypto::open(&self.0, &crypto::field_aad(record_id, field), ciphertext)
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("active", &self.active_id())
            .field("ids", &self.ids())
            .finish()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("kek_id", &self.kek_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests;
