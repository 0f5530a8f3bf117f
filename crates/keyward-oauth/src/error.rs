//! What can go wrong: a bad `integrations:` section, a scope nobody knows, and the
//! answers of a token endpoint that are not tokens.
//!
//! None of these ever holds a token, a code, a verifier or a client secret: they name
//! integrations, fields, scopes and HTTP statuses, and keep the provider's own error
//! code and description only after [`clean`] has shortened them and taken out control
//! characters (and the client has blanked anything it sent in the request).

/// The `integrations:` section of `keyward.yaml` describes a provider that cannot be
/// used. The message names the integration and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("integrations.{integration}: {problem}")]
pub struct ConfigError {
    /// The integration's name as written in the config.
    pub integration: String,
    /// What is wrong, naming the field (`credentials.client_secret is missing`).
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(integration: &str, problem: impl Into<String>) -> Self {
        Self {
            integration: integration.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A requested scope that the provider does not know by that short name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{provider} has no scope named `{scope}` (known: {known})")]
    Unknown {
        provider: String,
        scope: String,
        /// The short names it does know, comma-separated.
        known: String,
    },
}

/// A token, refresh or revocation request that did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The provider answered an OAuth error (`{error, error_description}` or Notion's
    /// `{code, message}`); `status` is the HTTP status.
    #[error("the provider refused (HTTP {status}): {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        status: u16,
        code: String,
        description: Option<String>,
    },
    /// 5xx, 429, `temporarily_unavailable`/`server_error` error codes, timeouts,
    /// connection errors: worth retrying later.
    #[error("the provider is unavailable: {reason}")]
    Unavailable { reason: String },
    /// A 2xx that is not a token answer, or a non-OAuth 4xx body.
    #[error("the provider's answer is malformed: {reason}")]
    Malformed { reason: String },
}

impl TokenError {
    /// The grant (code or refresh token) is dead: expired, used, revoked. The connection
    /// needs the person to authorize again; retrying is pointless.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Provider { code, .. } if code == "invalid_grant")
    }

    /// Worth trying again later, with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// A stable short code: the provider's OAuth error code (`invalid_grant`,
    /// `invalid_client`, …), or `unavailable`, or `malformed`.
    pub fn code(&self) -> &str {
        match self {
            Self::Provider { code, .. } => code,
            Self::Unavailable { .. } => "unavailable",
            Self::Malformed { .. } => "malformed",
        }
    }
}

/// The longest provider description kept, in characters.
pub(crate) const DESCRIPTION_MAX: usize = 200;

/// `text` without control characters, at most [`DESCRIPTION_MAX`] characters.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(DESCRIPTION_MAX)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Unicode's bidirectional formatting characters: they reorder what a terminal or page
/// shows (a message that reads other than it is).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_control_characters_and_truncates() {
        assert_eq!(clean("bad\r\ncode\u{7}\u{1b}[31m"), "badcode[31m");
        assert_eq!(clean("gro\u{202E}olleh\u{2066}x"), "groollehx");
        assert_eq!(clean(&"é".repeat(500)).chars().count(), DESCRIPTION_MAX);
    }

    #[test]
    fn codes_and_classes() {
        let grant = TokenError::Provider {
            status: 400,
            code: "invalid_grant".into(),
            description: Some("Token has been expired or revoked.".into()),
        };
        assert!(grant.is_invalid_grant() && !grant.is_retryable());
        assert_eq!(grant.code(), "invalid_grant");
        assert_eq!(
            grant.to_string(),
            "the provider refused (HTTP 400): invalid_grant (Token has been expired or revoked.)"
        );
        let down = TokenError::Unavailable {
            reason: "HTTP 503".into(),
        };
        assert!(down.is_retryable() && !down.is_invalid_grant());
        assert_eq!(down.code(), "unavailable");
        assert_eq!(
            TokenError::Malformed { reason: "x".into() }.code(),
            "malformed"
        );
    }
}
