//! What a token or revocation endpoint's answer means: a [`TokenAnswer`], or which
//! [`TokenError`].

use crate::error::TokenError;
use crate::provider::Provider;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;

/// What a token endpoint gave.
#[derive(Clone)]
pub struct TokenAnswer {
    pub access_token: SecretString,
    /// As sent (`Bearer`, `bearer`): compare without regard to case.
    pub token_type: String,
    /// Seconds; Notion sends none.
    pub expires_in: Option<i64>,
    /// A new refresh token, which replaces the old one.
    pub refresh_token: Option<SecretString>,
    /// The scopes granted, as sent.
    pub scope: Option<String>,
}

impl fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    scope: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

pub(crate) fn token_answer(
    p: &Provider,
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<TokenAnswer, TokenError> {
    if !(200..300).contains(&status) {
        return Err(failure(p, status, body, secrets));
    }
    let malformed = |reason: &str| TokenError::Malformed {
        reason: reason.to_owned(),
    };
    let raw: RawAnswer = serde_json::from_slice(body).map_err(|_| {
        malformed(&format!(
            "HTTP {status} with a body that is not a JSON object"
        ))
    })?;
    if raw.error.is_some() {
        // Some providers say 200 and an error.
        return Err(failure(p, 400, body, secrets));
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no access_token"))?;
    let token_type = raw
        .token_type
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no token_type"))?;
    let expires_in = match raw.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| malformed("expires_in is not a number of seconds"))?,
        ),
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| malformed("expires_in is not a number of seconds"))?,
        ),
        Some(_) => return Err(malformed("expires_in is not a number of seconds")),
    };
    let scope = match raw.scope {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    Ok(TokenAnswer {
        access_token: SecretString::from(access_token),
        token_type,
        expires_in,
        refresh_token: raw
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(SecretString::from),
        scope,
    })
}

#[derive(Deserialize)]
struct RawError {
    /// RFC 6749 §5.2.
    error: Option<serde_json::Value>,
    error_description: Option<serde_json::Value>,
    /// Notion: `{"object":"error","status":400,"code":"invalid_grant","message":…}`.
    code: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
}

/// What a non-token answer means. `secrets` (what this request sent) are blanked out
/// of anything kept from the body.
pub(crate) fn failure(p: &Provider, status: u16, body: &[u8], secrets: &[&str]) -> TokenError {
    let redact = |text: &str| {
        let mut text = text.to_owned();
        let client_secret = p.client_secret().expose_secret();
        for s in secrets.iter().chain([&client_secret]) {
            if s.len() >= 4 {
                text = text.replace(*s, "[REDACTED]");
            }
        }
        crate::error::clean(&text)
    };
    if status >= 500 || status == 429 {
        return TokenError::Unavailable {
            reason: format!("HTTP {status}"),
        };
    }
    let raw: Option<RawError> = serde_json::from_slice(body).ok();
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(redact(&s)),
        _ => None,
    };
    let (code, description) = match raw {
        Some(raw) => match text(raw.error) {
            Some(code) => (Some(code), text(raw.error_description)),
            None => (text(raw.code), text(raw.message)),
        },
        None => (None, None),
    };
    match code {
        Some(code) if code == "temporarily_unavailable" || code == "server_error" => {
            TokenError::Unavailable {
                reason: format!("HTTP {status}, {code}"),
            }
        }
        Some(code) => {
            tracing::info!(provider = %p.name, status, code = %code, "the provider refused");
            TokenError::Provider {
                status,
                code,
                description,
            }
        }
        None if (300..400).contains(&status) => TokenError::Malformed {
            reason: format!("HTTP {status}, a redirect (not followed)"),
        },
        None => TokenError::Malformed {
            reason: format!("HTTP {status} without an OAuth error in the body"),
        },
    }
}
