//! The key format: `kw_<type>_<32+ random base62><6-char base62 CRC32 checksum>`.
//!
//! The typed prefix makes a leaked key findable by scanners and says what it is; the
//! checksum lets any holder of this crate (SDK, gateway, scanner) reject a mistyped or
//! made-up key without a lookup. Prefixes, once shipped, never change:
//! `tests::prefixes_are_pinned` fails if one does.
//!
//! Only [`KeyHash`] (SHA-256 of the whole key) is ever stored. [`PlainKey`] is the one
//! type that holds key material: its `Debug` redacts, it is not `Display` or
//! `Serialize`, and its memory is zeroed on drop.

use crate::base62;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Random characters in a newly generated key (about 190 bits).
pub const RANDOM_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
/// Longest key accepted anywhere (longer input is rejected without hashing).
pub const MAX_KEY_LEN: usize = 255;
/// Characters of the random part shown in listings after the type prefix.
pub const VISIBLE_RANDOM_CHARS: usize = 4;

/// What a key is for. Decides the prefix, the default expiry and who may own it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A user's personal access token.
    Personal,
    /// A service account's key (non-human principal).
    ServiceAccount,
    /// A worker daemon's key, bound to one workspace.
    Worker,
    /// A channel's own API token (hook-id based).
    Channel,
    /// Deprecated workspace token, still accepted.
    LegacyWorkspace,
    /// A key a platform team issues to its own customers; has an environment.
    Api,
}

/// `live` or `test`; only API keys carry it in their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Live,
    Test,
}

/// Every prefix Keyward issues, with what it means.
pub const PREFIXES: &[(&str, KeyKind, Environment)] = &[
    ("kw_pat_", KeyKind::Personal, Environment::Live),
    ("kw_sa_", KeyKind::ServiceAccount, Environment::Live),
    ("kw_wk_", KeyKind::Worker, Environment::Live),
    ("kw_ch_", KeyKind::Channel, Environment::Live),
    ("kw_ws_", KeyKind::LegacyWorkspace, Environment::Live),
    ("kw_live_", KeyKind::Api, Environment::Live),
    ("kw_test_", KeyKind::Api, Environment::Test),
];

impl KeyKind {
    pub fn prefix(self, env: Environment) -> &'static str {
        PREFIXES
            .iter()
            .find(|(_, k, e)| *k == self && (*e == env || self != KeyKind::Api))
            .map(|(p, _, _)| *p)
            .expect("every kind has a prefix")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Personal => "personal",
            KeyKind::ServiceAccount => "service_account",
            KeyKind::Worker => "worker",
            KeyKind::Channel => "channel",
            KeyKind::LegacyWorkspace => "legacy_workspace",
            KeyKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "personal" => KeyKind::Personal,
            "service_account" => KeyKind::ServiceAccount,
            "worker" => KeyKind::Worker,
            "channel" => KeyKind::Channel,
            "legacy_workspace" => KeyKind::LegacyWorkspace,
            "api" => KeyKind::Api,
            _ => return None,
        })
    }
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Environment::Live),
            "test" => Some(Environment::Test),
            _ => None,
        }
    }
}

/// Why a string is not a Keyward key. Each has its own stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    #[error("the key does not start with a Keyward prefix (kw_pat_, kw_sa_, kw_wk_, kw_live_, …)")]
    UnknownPrefix,
    #[error("the key contains characters other than letters and digits after its prefix")]
    InvalidCharacters,
    #[error("the key has the wrong length")]
    WrongLength,
    #[error("the key's checksum does not match: it was mistyped, truncated or made up")]
    BadChecksum,
}

/// Checks a key's shape and checksum without allocating; returns its prefix entry.
/// This is the first step of every verification, before any hashing or lookup.
pub fn check(key: &str) -> Result<(&'static str, KeyKind, Environment), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    let &(prefix, kind, env) = PREFIXES
        .iter()
        .find(|(p, _, _)| key.starts_with(p))
        .ok_or(KeyError::UnknownPrefix)?;
    let body = &key.as_bytes()[prefix.len()..];
    if !base62::is_base62(body) {
        return Err(KeyError::InvalidCharacters);
    }
    if body.len() < RANDOM_LEN + CHECKSUM_LEN {
        return Err(KeyError::WrongLength);
    }
    let (signed, checksum) = key.as_bytes().split_at(key.len() - CHECKSUM_LEN);
    if base62::encode_u32_fixed6(crc32fast::hash(signed)) != checksum {
        return Err(KeyError::BadChecksum);
    }
    Ok((prefix, kind, env))
}

/// A raw key. Exists only between generation and the response that shows it once, or
/// between reading a request and hashing it.
pub struct PlainKey {
    secret: Zeroizing<String>,
    prefix: &'static str,
    kind: KeyKind,
    environment: Environment,
}

impl PlainKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate(kind: KeyKind, environment: Environment) -> Self {
        let prefix = kind.prefix(environment);
        let mut secret = Zeroizing::new(String::with_capacity(
            prefix.len() + RANDOM_LEN + CHECKSUM_LEN,
        ));
        secret.push_str(prefix);
        secret.push_str(&Zeroizing::new(base62::random(RANDOM_LEN)));
        let checksum = base62::encode_u32_fixed6(crc32fast::hash(secret.as_bytes()));
        secret.push_str(std::str::from_utf8(&checksum).expect("base62 is ascii"));
        Self {
            secret,
            prefix,
            kind,
            environment: if kind == KeyKind::Api {
                environment
            } else {
                Environment::Live
            },
        }
    }

    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let (prefix, kind, environment) = check(raw)?;
        Ok(Self {
            secret: Zeroizing::new(raw.to_owned()),
            prefix,
            kind,
            environment,
        })
    }

    /// The raw key. Call only to put it in the one response that shows it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.secret)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// What listings show: the type prefix and the first few random characters
    /// (`kw_pat_kcnl`), enough to tell keys apart, far too little to guess one.
    pub fn visible_prefix(&self) -> String {
        self.secret[..self.prefix.len() + VISIBLE_RANDOM_CHARS].to_owned()
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainKey({}[REDACTED])", self.prefix)
    }
}

/// SHA-256 of the whole key: what the database stores, in a UNIQUE column.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_KINDS: [(KeyKind, Environment); 7] = [
        (KeyKind::Personal, Environment::Live),
        (KeyKind::ServiceAccount, Environment::Live),
        (KeyKind::Worker, Environment::Live),
        (KeyKind::Channel, Environment::Live),
        (KeyKind::LegacyWorkspace, Environment::Live),
        (KeyKind::Api, Environment::Live),
        (KeyKind::Api, Environment::Test),
    ];

    /// A shipped prefix never changes: scanners and customers match on them.
    #[test]
    fn prefixes_are_pinned() {
        let got: Vec<&str> = ALL_KINDS.iter().map(|(k, e)| k.prefix(*e)).collect();
        assert_eq!(
            got,
            ["kw_pat_", "kw_sa_", "kw_wk_", "kw_ch_", "kw_ws_", "kw_live_", "kw_test_"]
        );
        for (kind, env) in ALL_KINDS {
            let key = PlainKey::generate(kind, env);
            assert!(key.expose_secret().starts_with(kind.prefix(env)));
        }
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        for (kind, env) in ALL_KINDS {
            let key = PlainKey::generate(kind, env);
            let s = key.expose_secret();
            assert_eq!(s.len(), kind.prefix(env).len() + RANDOM_LEN + CHECKSUM_LEN);
            assert_eq!(check(s), Ok((kind.prefix(env), kind, env)));
            assert_eq!(key.visible_prefix().len(), kind.prefix(env).len() + 4);
        }
    }

    #[test]
    fn parsing_rejects_each_kind_of_damage() {
        let key = PlainKey::generate(KeyKind::Personal, Environment::Live);
        let s = key.expose_secret();
        assert_eq!(check(""), Err(KeyError::Empty));
        assert_eq!(check(&"a".repeat(256)), Err(KeyError::TooLong));
        assert_eq!(
            check(&s.replacen("kw_pat_", "gh_pat_", 1)),
            Err(KeyError::UnknownPrefix)
        );
        assert_eq!(
            check(&s.replacen("kw_pat_", "kw_xyz_", 1)),
            Err(KeyError::UnknownPrefix)
        );
        assert_eq!(check(&format!("{s}!")), Err(KeyError::InvalidCharacters));
        assert_eq!(check(&s[..s.len() - 7]), Err(KeyError::WrongLength));
        assert_eq!(check("kw_pat_abc"), Err(KeyError::WrongLength));
        // Swap the last random character for another: the checksum no longer fits.
        let mut bytes = s.as_bytes().to_vec();
        let i = s.len() - CHECKSUM_LEN - 1;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            check(std::str::from_utf8(&bytes).unwrap()),
            Err(KeyError::BadChecksum)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = PlainKey::generate(KeyKind::ServiceAccount, Environment::Live);
        let debug = format!("{key:?}");
        assert_eq!(debug, "PlainKey(kw_sa_[REDACTED])");
        assert!(!debug.contains(&key.expose_secret()[7..]));
        let hash = format!("{:?}", key.hash());
        assert!(hash.starts_with("KeyHash(") && hash.len() < 24);
    }

    #[test]
    fn hash_is_sha256_of_the_whole_key() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            hex::encode(KeyHash::of("abc").as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn generated_keys_always_parse(i in 0usize..7) {
            let (kind, env) = ALL_KINDS[i];
            let key = PlainKey::generate(kind, env);
            let parsed = PlainKey::parse(key.expose_secret()).unwrap();
            prop_assert_eq!(parsed.kind(), kind);
            prop_assert_eq!(parsed.environment(), env);
            prop_assert_eq!(parsed.hash(), key.hash());
        }

        #[test]
        fn any_single_character_change_is_caught(i in 0usize..7, pos in 0usize..38, c in "[0-9A-Za-z]") {
            let (kind, env) = ALL_KINDS[i];
            let key = PlainKey::generate(kind, env);
            let s = key.expose_secret();
            let at = kind.prefix(env).len() + pos;
            let replacement = c.as_bytes()[0];
            prop_assume!(s.as_bytes()[at] != replacement);
            let mut bytes = s.as_bytes().to_vec();
            bytes[at] = replacement;
            // CRC32 detects every single-symbol change.
            prop_assert!(check(std::str::from_utf8(&bytes).unwrap()).is_err());
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,300}") {
            let _ = check(&s);
        }

        #[test]
        fn arbitrary_prefixed_input_is_rejected(body in "[0-9A-Za-z]{0,60}") {
            // Too short is the wrong length; long enough, the last six characters are
            // random too and fit the CRC of the rest with odds of 62^-6 (about 2e-11
            // per case): a valid key needs its checksum (generated_keys_always_parse).
            let s = format!("kw_pat_{body}");
            let expected = if body.len() < RANDOM_LEN + CHECKSUM_LEN {
                KeyError::WrongLength
            } else {
                KeyError::BadChecksum
            };
            prop_assert_eq!(check(&s).map(|_| ()), Err(expected));
        }
    }
}
