//! The platform's own identifier of a customer, which owns `api` keys
//! ([`crate::Owner::External`]) and can have a rate limit shared by all its keys.
//!
//! Opaque to Keyward but shown in listings, logs and audit events, and compared byte for
//! byte: so 1 to 255 characters, no control characters, and no surrounding whitespace
//! (`" cust_1"` and `"cust_1"` would be two customers that look the same). It is not
//! trimmed silently for the same reason.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExternalIdError {
    #[error("must not be empty or blank")]
    Blank,
    #[error("must be at most {MAX_EXTERNAL_ID_CHARS} characters (got {0})")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not start or end with whitespace")]
    SurroundingWhitespace,
}

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, ExternalIdError> {
        if raw.trim().is_empty() {
            return Err(ExternalIdError::Blank);
        }
        let chars = raw.chars().count();
        if chars > MAX_EXTERNAL_ID_CHARS {
            return Err(ExternalIdError::TooLong(chars));
        }
        if raw.chars().any(char::is_control) {
            return Err(ExternalIdError::ControlCharacter);
        }
        if raw.trim() != raw {
            return Err(ExternalIdError::SurroundingWhitespace);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExternalId {
    type Error = ExternalIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExternalId> for String {
    fn from(value: ExternalId) -> Self {
        value.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ExternalId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_EXTERNAL_ID_CHARS))
            .description(Some(
                "Your identifier of a customer: 1 to 255 characters, no control characters, no surrounding whitespace.",
            ))
            .examples(["cust_8412"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ExternalId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_as_sent_within_bounds() {
        for ok in [
            "c",
            "cust_8412",
            "Acme Corp (EU)",
            "ünïcode-ëd",
            &"x".repeat(255),
        ] {
            assert_eq!(ExternalId::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            ExternalId::parse(&"é".repeat(255))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            255
        );
    }

    #[test]
    fn bad_ids_say_what_is_wrong() {
        use ExternalIdError::*;
        for (raw, expected) in [
            ("", Blank),
            ("   ", Blank),
            ("\t\n", Blank),
            ("a\0b", ControlCharacter),
            ("a\u{1b}[31m", ControlCharacter),
            ("line\nbreak", ControlCharacter),
            (" cust", SurroundingWhitespace),
            ("cust ", SurroundingWhitespace),
        ] {
            assert_eq!(ExternalId::parse(raw), Err(expected), "{raw:?}");
        }
        assert_eq!(ExternalId::parse(&"x".repeat(256)), Err(TooLong(256)));
    }

    #[test]
    fn deserializes_through_parse() {
        assert!(serde_json::from_str::<ExternalId>(r#""""#).is_err());
        let id: ExternalId = serde_json::from_str(r#""cust_1""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""cust_1""#);
    }
}
