//! The SDK's one error type. An API error carries the server's stable `code`
//! ([`ErrorCode`]), so callers branch on it instead of on message text.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt;

/// The stable error codes of the Keyward API. Codes this SDK does not know yet (a newer
/// server) arrive as [`ErrorCode::Other`], never as a decoding failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MissingToken,
    InvalidRequest,
    MalformedToken,
    BadChecksum,
    UnknownToken,
    TokenRevoked,
    TokenDisabled,
    TokenExpired,
    /// The key stopped working while the request ran (revoked, switched off, or its
    /// owner removed); nothing was changed.
    TokenWithdrawn,
    Forbidden,
    CannotGrant,
    /// The caller's role or key scope does not reach the target (e.g. an org admin
    /// acting on an owner).
    RoleForbidden,
    KeyKindNotAllowed,
    LegacyTokensDisabled,
    ChannelNotFound,
    KeyLimitReached,
    /// A person created as many organizations as the server allows.
    OrgLimitReached,
    ResourceInUse,
    LastOwner,
    InvalidJson,
    /// The request contradicts itself (e.g. two different hook ids).
    BadRequest,
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    AlreadyBootstrapped,
    KeyRevoked,
    KeyAlreadyRotated,
    Conflict,
    /// The invited person is already a member of the organization.
    AlreadyMember,
    /// What the request acted on changed while it ran (a member's role, a key being
    /// rotated); nothing was changed.
    ChangedMeanwhile,
    /// The invitation's code was already redeemed.
    InvitationUsed,
    /// The email has a pending invitation that only someone ranked higher may replace.
    InvitationPending,
    /// The invitation expired or was revoked.
    InvitationExpired,
    /// The invited email already has an account: accept with one of its own personal
    /// access tokens.
    IdentityRequired,
    /// The server does not let people create organizations.
    OrgCreationDisabled,
    /// The caller's role, or its key's permissions or scope, changed while the request
    /// ran; nothing was changed.
    AuthorizationChanged,
    RateLimited,
    InternalError,
    Other(String),
}

const CODES: &[(&str, ErrorCode)] = &[
    ("missing_token", ErrorCode::MissingToken),
    ("invalid_request", ErrorCode::InvalidRequest),
    ("malformed_token", ErrorCode::MalformedToken),
    ("bad_checksum", ErrorCode::BadChecksum),
    ("unknown_token", ErrorCode::UnknownToken),
    ("token_revoked", ErrorCode::TokenRevoked),
    ("token_expired", ErrorCode::TokenExpired),
    ("token_disabled", ErrorCode::TokenDisabled),
    ("token_withdrawn", ErrorCode::TokenWithdrawn),
    ("bad_request", ErrorCode::BadRequest),
    ("authorization_changed", ErrorCode::AuthorizationChanged),
    ("changed_meanwhile", ErrorCode::ChangedMeanwhile),
    ("invitation_pending", ErrorCode::InvitationPending),
    ("forbidden", ErrorCode::Forbidden),
    ("cannot_grant", ErrorCode::CannotGrant),
    ("role_forbidden", ErrorCode::RoleForbidden),
    ("key_kind_not_allowed", ErrorCode::KeyKindNotAllowed),
    ("legacy_tokens_disabled", ErrorCode::LegacyTokensDisabled),
    ("channel_not_found", ErrorCode::ChannelNotFound),
    ("key_limit_reached", ErrorCode::KeyLimitReached),
    ("org_limit_reached", ErrorCode::OrgLimitReached),
    ("resource_in_use", ErrorCode::ResourceInUse),
    ("last_owner", ErrorCode::LastOwner),
    ("invalid_json", ErrorCode::InvalidJson),
    ("validation_failed", ErrorCode::ValidationFailed),
    ("unsupported_media_type", ErrorCode::UnsupportedMediaType),
    ("payload_too_large", ErrorCode::PayloadTooLarge),
    ("not_found", ErrorCode::NotFound),
    ("method_not_allowed", ErrorCode::MethodNotAllowed),
    ("already_bootstrapped", ErrorCode::AlreadyBootstrapped),
    ("key_revoked", ErrorCode::KeyRevoked),
    ("key_already_rotated", ErrorCode::KeyAlreadyRotated),
    ("conflict", ErrorCode::Conflict),
    ("already_member", ErrorCode::AlreadyMember),
    ("invitation_used", ErrorCode::InvitationUsed),
    ("invitation_expired", ErrorCode::InvitationExpired),
    ("identity_required", ErrorCode::IdentityRequired),
    ("org_creation_disabled", ErrorCode::OrgCreationDisabled),
    ("rate_limited", ErrorCode::RateLimited),
    ("internal_error", ErrorCode::InternalError),
];

impl ErrorCode {
    pub fn parse(code: &str) -> Self {
        CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, e)| e.clone())
            .unwrap_or_else(|| ErrorCode::Other(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(s) => s,
            known => CODES
                .iter()
                .find(|(_, e)| e == known)
                .map(|(c, _)| *c)
                .unwrap_or("unknown"),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem document as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    pub code: ErrorCode,
    pub title: String,
    /// What is wrong, for people.
    pub detail: String,
    /// For `validation_failed`: the request field at fault.
    pub field: Option<String>,
    /// For `forbidden`: the permission the request needed.
    pub required_permission: Option<String>,
    /// For `rate_limited` (429): the `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct ProblemBody {
    code: Option<String>,
    title: Option<String>,
    detail: Option<String>,
    field: Option<String>,
    required_permission: Option<String>,
}

impl ApiError {
    /// Reads a problem body; anything else (a proxy's HTML page) becomes a generic error
    /// with the status, so a caller always gets a code.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ProblemBody>(body) {
            Ok(p) => ApiError {
                status,
                code: ErrorCode::parse(p.code.as_deref().unwrap_or("unknown")),
                title: p.title.unwrap_or_default(),
                detail: p.detail.unwrap_or_default(),
                field: p.field,
                required_permission: p.required_permission,
                retry_after: None,
            },
            Err(_) => ApiError {
                status,
                code: ErrorCode::Other(format!("http_{status}")),
                title: format!("HTTP {status}"),
                detail: format!("the server answered HTTP {status} without a problem document"),
                field: None,
                required_permission: None,
                retry_after: None,
            },
        }
    }

    /// 401 or 403: the key is missing, invalid or lacks a permission.
    pub fn is_auth(&self) -> bool {
        self.status == 401 || self.status == 403
    }

    /// For `token_expired` and `token_revoked`: the instant named in the detail.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.detail
            .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
            .find_map(|word| {
                DateTime::parse_from_rfc3339(word.trim_end_matches('.'))
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.code)
    }
}

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a problem document.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The server could not be reached, or the connection failed.
    #[error("cannot reach the Keyward server at {url}: {message}")]
    Connect { url: String, message: String },
    /// The server's answer was not what this SDK expects.
    #[error("unexpected answer from the Keyward server: {0}")]
    Decode(String),
    /// The server URL is not usable.
    #[error("invalid server URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    /// The key was rejected offline (format or checksum) and was not sent.
    #[error("{0}")]
    InvalidKey(keyward_core::KeyError),
}

impl Error {
    /// The API error, if the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().map(|e| &e.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_survive() {
        for (s, code) in CODES {
            assert_eq!(ErrorCode::parse(s), *code);
            assert_eq!(code.as_str(), *s);
        }
        assert_eq!(
            ErrorCode::parse("brand_new_code"),
            ErrorCode::Other("brand_new_code".into())
        );
        assert_eq!(
            ErrorCode::parse("brand_new_code").as_str(),
            "brand_new_code"
        );
    }

    #[test]
    fn problem_bodies_are_read_and_timestamps_found() {
        let body = br#"{"type":"/problems/token_expired","title":"API key expired","status":401,
            "detail":"the API key expired at 2026-01-02T03:04:05Z; create a new key","code":"token_expired"}"#;
        let e = ApiError::from_body(401, body);
        assert_eq!(e.code, ErrorCode::TokenExpired);
        assert!(e.is_auth());
        assert_eq!(
            e.timestamp().unwrap().to_rfc3339(),
            "2026-01-02T03:04:05+00:00"
        );
        let e = ApiError::from_body(502, b"<html>bad gateway</html>");
        assert_eq!(e.code.as_str(), "http_502");
        assert!(e.timestamp().is_none());
    }
}
