//! Keyward's encryption at rest: the secrets Keyward has to read back again are stored
//! sealed, never in the clear.
//!
//! # Format
//!
//! Envelope encryption with XChaCha20-Poly1305 (24-byte random nonces, so nonces can be
//! drawn at random for every seal without counting):
//!
//! * A **ring** of key-encryption keys (KEKs), each 32 bytes under an id such as
//!   `kek-20261201-ab12`; one of them is *active*.
//! * Each record has its own random 32-byte **data key** (DEK), stored wrapped by a KEK
//!   next to the record's id of that KEK ([`WrappedKey`]):
//!   `wrapped_dek = nonce24 ‖ AEAD(KEK, DEK, aad = "kw:dek:v1:" + kek_id)`.
//! * Each secret field of the record is sealed by the DEK:
//!   `ciphertext = nonce24 ‖ AEAD(DEK, secret, aad = "kw:tok:v1:" + record_id + ":" + field)`
//!   (the AEAD output being the ciphertext followed by the 16-byte tag).
//!
//! # Why
//!
//! * The associated data binds a ciphertext to its record and field: copied into another
//!   row or column (by a bug, or by someone with write access to the database but not
//!   the keys) it fails to decrypt ([`VaultError::Corrupt`]) instead of handing one
//!   record's secret out as another's. Likewise a wrapped DEK is bound to its KEK id.
//! * Rotation touches DEKs only: add a KEK, make it active (new records use it), then
//!   [`Ring::rewrap`] each record's wrapped DEK in the background — 72 bytes a record,
//!   the ciphertexts untouched — and retire the old KEK when no record names it.
//! * Keys and plaintexts are held in `zeroize`/`secrecy` types, wiped on drop, and no
//!   `Debug`, `Display` or error message shows them (errors name key ids, files and
//!   variables only).
//!
//! # Where the keys come from
//!
//! [`load_ring`] takes the first of: `secrets.keks` in `keyward.yaml` ([`SecretsConfig`]);
//! `KEYWARD_KEKS=id1=BASE64,id2=BASE64` with `KEYWARD_ACTIVE_KEK` (default: the first);
//! a key file (`secrets.kek_file`, else `KEYWARD_KEK_FILE`, else `<data_dir>/keks` if it
//! exists); else it creates `<data_dir>/keks`, mode 0600, with one fresh key. A key file
//! looks like this, and is refused if group or others may read it:
//!
//! ```text
//! # Keyward key-encryption keys. Keep this file secret; it must stay mode 0600.
//! active = kek-20261201-ab12
//! kek-20261201-ab12 = <base64 of 32 bytes>
//! ```
//!
//! [`add_to_key_file`], [`set_active_in_key_file`] and [`retire_from_key_file`] maintain it.

mod crypto;
mod error;
mod kek;
mod keyfile;
mod ring;
mod source;

pub use error::{RingError, VaultError};
pub use kek::{
    decode_kek, encode_kek, generate_kek, generate_kek_id, is_valid_kek_id, MAX_KEK_ID_LEN,
};
pub use keyfile::{add_to_key_file, retire_from_key_file, set_active_in_key_file, KEY_FILE_HEADER};
pub use ring::{DataKey, Ring, WrappedKey};
pub use source::{
    load_ring, KekText, RingOrigin, SecretsConfig, Sources, DEFAULT_KEY_FILE, ENV_ACTIVE_KEK,
    ENV_KEKS, ENV_KEK_FILE,
};
