//! Between the store's sealed bytes and tokens in the clear. Every access token and
//! refresh token is sealed with a fresh data key per write, wrapped by the ring's active
//! KEK, and bound to the connection's `uid` and the field's name (`access_token`,
//! `refresh_token`): a ciphertext copied to another row or column does not open.

use keyward_store::{Connection, Sealed, SealedTokens, WrappedDek};
use keyward_vault::{Ring, VaultError, WrappedKey};
use secrecy::{ExposeSecret, SecretString};

pub const ACCESS_TOKEN: &str = "access_token";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const VERIFIER: &str = "code_verifier";

pub fn to_store(w: WrappedKey) -> WrappedDek {
    WrappedDek {
        kek_id: w.kek_id,
        bytes: w.bytes,
    }
}

pub fn from_store(w: &WrappedDek) -> WrappedKey {
    WrappedKey {
        kek_id: w.kek_id.clone(),
        bytes: w.bytes.clone(),
    }
}

/// A connection's tokens in the clear.
pub struct Opened {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
}

/// Seals a connection's tokens for the record `uid`.
pub fn seal_tokens(
    ring: &Ring,
    uid: &str,
    access_token: &SecretString,
    refresh_token: Option<&SecretString>,
    token_type: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> SealedTokens {
    let (dek, wrapped) = ring.new_data_key();
    SealedTokens {
        access_token: Sealed(dek.seal(uid, ACCESS_TOKEN, access_token.expose_secret().as_bytes())),
        refresh_token: refresh_token
            .map(|r| Sealed(dek.seal(uid, REFRESH_TOKEN, r.expose_secret().as_bytes()))),
        dek: to_store(wrapped),
        token_type: token_type.to_owned(),
        expires_at,
    }
}

/// Opens a connection's tokens (`None`: it has none).
pub fn open_tokens(ring: &Ring, c: &Connection) -> Result<Option<Opened>, VaultError> {
    let Some(t) = &c.tokens else {
        return Ok(None);
    };
    let dek = ring.unwrap_key(&from_store(&t.dek))?;
    let access_token = dek.open(&c.uid, ACCESS_TOKEN, &t.access_token.0)?;
    let refresh_token = t
        .refresh_token
        .as_ref()
        .map(|r| dek.open(&c.uid, REFRESH_TOKEN, &r.0))
        .transpose()?;
    Ok(Some(Opened {
        access_token,
        refresh_token,
    }))
}
