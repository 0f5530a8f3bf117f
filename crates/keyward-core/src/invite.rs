//! Invitation codes: `kw_inv_<32 random base62><6-char base62 CRC32 checksum>`.
//!
//! An invitation is a one-time secret for the invited person: the inviter passes it on,
//! the invited person redeems it for their membership and first token. Like a key it has
//! a typed prefix (so scanners find a leaked one) and a checksum (so a mistyped one is
//! refused without a lookup), and only its SHA-256 is stored. [`InviteCode`] redacts in
//! `Debug`, is neither `Display` nor `Serialize`, and zeroes its memory on drop.

use crate::base62;
use crate::key::{KeyHash, CHECKSUM_LEN, RANDOM_LEN};
use std::fmt;
use zeroize::Zeroizing;

/// The prefix of every invitation code; never changes once shipped.
pub const PREFIX: &str = "kw_inv_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteCodeError {
    #[error("an invitation code starts with kw_inv_")]
    Prefix,
    #[error("the invitation code has the wrong length or characters")]
    Shape,
    #[error("the invitation code's checksum does not match: it was mistyped or truncated")]
    Checksum,
}

pub struct InviteCode(Zeroizing<String>);

impl InviteCode {
    /// A fresh code from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut code = Zeroizing::new(String::with_capacity(
            PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN,
        ));
        code.push_str(PREFIX);
        code.push_str(&Zeroizing::new(base62::random(RANDOM_LEN)));
        let checksum = base62::encode_u32_fixed6(crc32fast::hash(code.as_bytes()));
        code.push_str(std::str::from_utf8(&checksum).expect("base62 is ascii"));
        Self(code)
    }

    /// Checks the prefix, shape and checksum (surrounding whitespace is ignored).
    pub fn parse(raw: &str) -> Result<Self, InviteCodeError> {
        let raw = raw.trim();
        let body = raw.strip_prefix(PREFIX).ok_or(InviteCodeError::Prefix)?;
        if body.len() != RANDOM_LEN + CHECKSUM_LEN || !base62::is_base62(body.as_bytes()) {
            return Err(InviteCodeError::Shape);
        }
        let (signed, checksum) = raw.as_bytes().split_at(raw.len() - CHECKSUM_LEN);
        if base62::encode_u32_fixed6(crc32fast::hash(signed)) != checksum {
            return Err(InviteCodeError::Checksum);
        }
        Ok(Self(Zeroizing::new(raw.to_owned())))
    }

    /// The code itself. Call only to put it in the one response that shows it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// What the database stores.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteCode(kw_inv_[REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_pinned() {
        assert_eq!(PREFIX, "kw_inv_");
    }

    #[test]
    fn a_generated_code_parses_and_hashes_the_same() {
        let code = InviteCode::generate();
        assert!(code.expose_secret().starts_with("kw_inv_"));
        assert_eq!(code.expose_secret().len(), PREFIX.len() + 38);
        let parsed = InviteCode::parse(&format!(" {} \n", code.expose_secret())).unwrap();
        assert_eq!(parsed.hash(), code.hash());
        assert!(!format!("{code:?}").contains(&code.expose_secret()[7..]));
    }

    #[test]
    fn mistyped_codes_are_refused_offline() {
        let code = InviteCode::generate();
        let raw = code.expose_secret();
        let mut typo = raw.to_owned().into_bytes();
        let i = PREFIX.len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            InviteCode::parse(&typo).unwrap_err(),
            InviteCodeError::Checksum
        );
        assert_eq!(
            InviteCode::parse(&raw[..raw.len() - 1]).unwrap_err(),
            InviteCodeError::Shape
        );
        assert_eq!(
            InviteCode::parse(&raw.replace("kw_inv_", "kw_pat_")).unwrap_err(),
            InviteCodeError::Prefix
        );
        assert_eq!(
            InviteCode::parse("kw_inv_!!").unwrap_err(),
            InviteCodeError::Shape
        );
    }
}
