//! People's email addresses, as members are named: trimmed and lowercased, so one
//! person is one address; checked enough that markup, control characters and typos
//! such as `alice@` or `alice` never reach the database.
//!
//! Not the whole of RFC 5322 (no quoted local parts, comments or IP literals): the
//! common form `local@domain`, with Unicode letters allowed (RFC 6531). A domain of one
//! label (`owner@localhost`, the default bootstrap owner) is allowed: self-hosted
//! installations use them.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_LOCAL_CHARS: usize = 64;
pub const MAX_LABEL_CHARS: usize = 63;

/// The characters a local part may hold besides letters, digits and dots (RFC 5322
/// `atext`).
const LOCAL_SYMBOLS: &str = "!#$%&'*+/=?^_`{|}~-";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_EMAIL_CHARS} characters (got {0})")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must be an address such as alice@example.com: there is no @")]
    NoAt,
    #[error("must contain exactly one @ (got {0})")]
    SeveralAts(usize),
    #[error("has nothing before the @")]
    EmptyLocal,
    #[error("the part before the @ must be at most {MAX_LOCAL_CHARS} characters (got {0})")]
    LocalTooLong(usize),
    #[error("the part before the @ must not contain {0:?}: use letters, digits, dots and {LOCAL_SYMBOLS}")]
    LocalCharacter(char),
    #[error("the part before the @ must not start or end with a dot or hold two dots in a row")]
    LocalDots,
    #[error("has no domain after the @")]
    EmptyDomain,
    #[error("the domain must not contain {0:?}: use letters, digits, dots and hyphens")]
    DomainCharacter(char),
    #[error("the domain must not start or end with a dot or hold two dots in a row")]
    DomainDots,
    #[error("the domain's part {0:?} must not start or end with a hyphen")]
    LabelHyphen(String),
    #[error("the domain's part {0:?} must be at most {MAX_LABEL_CHARS} characters")]
    LabelTooLong(String),
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        let chars = email.chars().count();
        if chars > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong(chars));
        }
        let (local, domain) = match email.matches('@').count() {
            0 => return Err(EmailError::NoAt),
            1 => email.split_once('@').expect("one @"),
            n => return Err(EmailError::SeveralAts(n)),
        };
        check_local(local)?;
        check_domain(domain)?;
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocal);
    }
    let chars = local.chars().count();
    if chars > MAX_LOCAL_CHARS {
        return Err(EmailError::LocalTooLong(chars));
    }
    if let Some(c) = local
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '.' || LOCAL_SYMBOLS.contains(c)))
    {
        return Err(EmailError::LocalCharacter(c));
    }
    if local.split('.').any(str::is_empty) {
        return Err(EmailError::LocalDots);
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    if domain.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    if let Some(c) = domain
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '.' || c == '-'))
    {
        return Err(EmailError::DomainCharacter(c));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(EmailError::DomainDots);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::LabelHyphen(label.to_owned()));
        }
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(EmailError::LabelTooLong(label.to_owned()));
        }
    }
    Ok(())
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(MAX_EMAIL_CHARS))
            .description(Some(
                "An email address (local@domain); stored trimmed and lowercased.",
            ))
            .examples(["alice@example.com"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Email {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice.Smith+keys@Example.COM ")
                .unwrap()
                .as_str(),
            "alice.smith+keys@example.com"
        );
        for ok in [
            "owner@localhost",
            "a@b.c",
            "o'neil@example.co.uk",
            "user_1@sub-domain.example.org",
            "jörg@bücher.de",
            "{x}|~!#$%&*/=?^`@x.io",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Email::parse(&format!("{}@x.io", "a".repeat(64)))
                .unwrap()
                .as_str()
                .len(),
            69
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        use EmailError::*;
        let cases: &[(&str, EmailError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("alice", NoAt),
            ("alice@", EmptyDomain),
            ("@example.com", EmptyLocal),
            ("a@b@c", SeveralAts(2)),
            ("a\0b@x.io", ControlCharacter),
            ("a@x.io\u{7}", ControlCharacter),
            ("<script>@x.io", LocalCharacter('<')),
            ("a b@x.io", LocalCharacter(' ')),
            ("a\"b@x.io", LocalCharacter('"')),
            ("alice@<script>", DomainCharacter('<')),
            ("alice@exa_mple.com", DomainCharacter('_')),
            ("alice@example.com>", DomainCharacter('>')),
            (".a@x.io", LocalDots),
            ("a.@x.io", LocalDots),
            ("a..b@x.io", LocalDots),
            ("a@.x.io", DomainDots),
            ("a@x.io.", DomainDots),
            ("a@x..io", DomainDots),
            ("a@-x.io", LabelHyphen("-x".into())),
            ("a@x-.io", LabelHyphen("x-".into())),
        ];
        for (raw, expected) in cases {
            assert_eq!(Email::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
        assert_eq!(
            Email::parse(&format!("{}@x.io", "a".repeat(65))),
            Err(LocalTooLong(65))
        );
        assert_eq!(
            Email::parse(&format!("a@{}.io", "b".repeat(64))),
            Err(LabelTooLong("b".repeat(64)))
        );
        let long = format!("a@{}.io", vec!["b".repeat(60); 5].join("."));
        assert!(matches!(Email::parse(&long), Err(TooLong(_))));
        // The messages name the culprit.
        assert_eq!(
            LocalCharacter('<').to_string(),
            "the part before the @ must not contain '<': use letters, digits, dots and !#$%&'*+/=?^_`{|}~-"
        );
        assert_eq!(
            ControlCharacter.to_string(),
            "must not contain control characters"
        );
    }

    #[test]
    fn deserializes_through_parse_and_serializes_as_a_string() {
        let e: Email = serde_json::from_str(r#"" Bob@Example.com""#).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), r#""bob@example.com""#);
        let err = serde_json::from_str::<Email>(r#""bob@""#).unwrap_err();
        assert!(
            err.to_string().contains("has no domain after the @"),
            "{err}"
        );
    }
}
