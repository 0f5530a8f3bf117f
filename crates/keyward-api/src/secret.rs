//! The secrets the API carries: raw keys, invitation codes and the one-time links that
//! hold a code. Their `Debug` shows only the prefix (or the link's address without its
//! code), they are neither `Display` nor `Serialize`, and their memory is zeroed on
//! drop. The one answer that carries a secret writes it with [`expose`].

use keyward_core::invite::{InviteCode, InviteCodeError};
use keyward_core::KeyError;
use serde::{Deserialize, Deserializer, Serializer};
use std::fmt;
use zeroize::Zeroizing;

/// A raw Keyward key. Never printed: `Debug` shows the kind prefix only.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Takes the key as given (surrounding whitespace removed), unchecked.
    pub fn new(raw: impl Into<String>) -> Self {
        let raw: String = raw.into();
        let trimmed = raw.trim();
        if trimmed.len() == raw.len() {
            Self(Zeroizing::new(raw))
        } else {
            let key = Self(Zeroizing::new(trimmed.to_owned()));
            drop(Zeroizing::new(raw));
            key
        }
    }

    /// Takes the key only if its format and checksum are right.
    pub fn parse(raw: impl Into<String>) -> Result<Self, KeyError> {
        let key = Self::new(raw);
        keyward_core::key::check(key.expose_secret())?;
        Ok(key)
    }

    /// The raw key. Call only to send it or to show it the one time it is shown.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The type prefix (`kw_pat_`), if the key has a known one.
    pub fn kind_prefix(&self) -> Option<&'static str> {
        keyward_core::key::PREFIXES
            .iter()
            .find(|(p, _, _)| self.0.starts_with(p))
            .map(|(p, _, _)| *p)
    }

    /// What listings show (`kw_pat_kcnl`): the type prefix and four characters.
    pub fn visible_prefix(&self) -> Option<String> {
        let prefix = self.kind_prefix()?;
        let end = prefix.len() + keyward_core::key::VISIBLE_RANDOM_CHARS;
        self.0.get(..end).map(str::to_owned)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ApiKey({}[REDACTED])",
            self.kind_prefix().unwrap_or_default()
        )
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ApiKey::new)
    }
}

/// A one-time invitation code (`kw_inv_…`). It is not a credential of the invited
/// person, but whoever holds it can redeem it once, so it is kept like a key: `Debug`
/// shows only the prefix, and its memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationCode(Zeroizing<String>);

impl InvitationCode {
    /// Takes the code as given (surrounding whitespace removed), unchecked.
    pub fn new(raw: impl Into<String>) -> Self {
        let raw = Zeroizing::new(raw.into());
        Self(Zeroizing::new(raw.trim().to_owned()))
    }

    /// Takes the code only if its prefix, shape and checksum are right, so a mistyped
    /// code is refused without being sent.
    pub fn parse(raw: impl Into<String>) -> Result<Self, InviteCodeError> {
        let code = Self::new(raw);
        InviteCode::parse(code.expose_secret())?;
        Ok(code)
    }

    /// The code itself. Call only to send it or to show it the one time it is shown.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationCode(kw_inv_[REDACTED])")
    }
}

impl<'de> Deserialize<'de> for InvitationCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(InvitationCode::new)
    }
}

/// A one-time link (`https://keys.example.com/console/join?code=kw_inv_…`): whoever holds
/// it can use it once, so it is kept like the code it carries. `Debug` shows the address
/// up to the code only.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeLink(Zeroizing<String>);

impl OneTimeLink {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(Zeroizing::new(raw.into()))
    }

    /// The link itself. Call only to open it or to show it the one time it is shown.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.0.find("code=") {
            Some(at) => &self.0[..at + "code=".len()],
            None => "",
        };
        write!(f, "OneTimeLink({shown}[REDACTED])")
    }
}

impl<'de> Deserialize<'de> for OneTimeLink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(OneTimeLink::new)
    }
}

/// Writes a secret into the one answer that shows it
/// (`#[serde(serialize_with = "crate::secret::expose")]`). The secret types themselves
/// are not `Serialize`, so nothing else writes one by accident.
/// A token of a third-party provider (an OAuth access token) that an answer hands to
/// its caller. `Debug` never shows it; memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderToken(Zeroizing<String>);

impl ProviderToken {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(Zeroizing::new(raw.into()))
    }

    /// The token. Call only to use it or to hand it to whoever asked for it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderToken([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for ProviderToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ProviderToken::new)
    }
}

impl Secret for ProviderToken {
    fn exposed(&self) -> &str {
        self.expose_secret()
    }
}

pub(crate) fn expose<T: Secret, S: Serializer>(secret: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.exposed())
}

pub(crate) fn expose_option<T: Secret, S: Serializer>(
    secret: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.exposed()),
        None => s.serialize_none(),
    }
}

pub(crate) trait Secret {
    fn exposed(&self) -> &str;
}

impl Secret for ApiKey {
    fn exposed(&self) -> &str {
        self.expose_secret()
    }
}

impl Secret for InvitationCode {
    fn exposed(&self) -> &str {
        self.expose_secret()
    }
}

impl Secret for OneTimeLink {
    fn exposed(&self) -> &str {
        self.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::key::Environment;
    use keyward_core::{KeyKind, PlainKey};

    #[test]
    fn secrets_never_show_in_debug() {
        let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
        let key = ApiKey::parse(format!("  {}\n", plain.expose_secret())).unwrap();
        assert_eq!(key.expose_secret(), plain.expose_secret());
        assert_eq!(format!("{key:?}"), "ApiKey(kw_pat_[REDACTED])");
        assert_eq!(key.visible_prefix(), Some(plain.visible_prefix()));
        assert_eq!(
            ApiKey::parse("kw_pat_short").unwrap_err(),
            KeyError::WrongLength
        );
        let code = InvitationCode::new(" kw_inv_x ");
        assert_eq!(code.expose_secret(), "kw_inv_x");
        assert_eq!(format!("{code:?}"), "InvitationCode(kw_inv_[REDACTED])");
        let link = OneTimeLink::new("http://h:1/console/join?code=kw_inv_secret");
        assert_eq!(
            format!("{link:?}"),
            "OneTimeLink(http://h:1/console/join?code=[REDACTED])"
        );
        assert_eq!(
            format!("{:?}", OneTimeLink::new("x")),
            "OneTimeLink([REDACTED])"
        );
    }
}
