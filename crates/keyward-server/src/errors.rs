//! The one API error type and its table of stable codes.
//!
//! Which error belongs where:
//! - storage code returns `keyward_store::StoreError` (NotFound / Conflict / Other);
//! - handlers and extractors return [`ApiError`], whose [`ApiError::code`] is part of
//!   the public API: clients (the CLI, the SDK, the console) branch on it, so a code is
//!   never renamed once shipped;
//! - internal errors are logged with their context here and reach the client only as
//!   `internal_error`, without details.
//!
//! Every error is an RFC 9457 `application/problem+json` body. 401 and 403 also carry
//! an RFC 6750 `WWW-Authenticate: Bearer …` challenge.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use keyward_core::KeyError;
use keyward_store::{Conflict, StoreError};
use serde::Serialize;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no API key was sent: use the header Authorization: Bearer <key>")]
    MissingToken,
    /// An Authorization header of another scheme (`Basic …`): no credentials of ours.
    #[error(
        "the Authorization header does not use the Bearer scheme: send Authorization: Bearer <key>"
    )]
    WrongScheme,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    MalformedToken(KeyError),
    #[error("the API key is not valid: it was never issued or has been deleted")]
    UnknownToken,
    #[error("the API key was revoked at {}", rfc3339(.0))]
    RevokedToken(DateTime<Utc>),
    #[error("the API key expired at {}; create a new key", rfc3339(.0))]
    ExpiredToken(DateTime<Utc>),
    #[error("the API key is disabled until someone who manages it enables it again")]
    DisabledToken,
    #[error("the API key stopped working while this request ran (it was revoked or switched off, or its owner was removed); nothing was changed")]
    TokenWithdrawn,
    #[error("this API key lacks the permission {0}")]
    Forbidden(String),
    #[error("a key cannot grant more than its creator holds; missing: {}", .0.join(", "))]
    CannotGrant(Vec<String>),
    #[error("{0}")]
    RoleForbidden(String),
    #[error("{0} keys are for verification by your own services and cannot call this endpoint")]
    KeyKindNotAllowed(&'static str),
    #[error("Channel not found")]
    ChannelNotFound,
    #[error("this key's rate limit is exhausted; retry in {} s", .0.as_secs().max(1))]
    RateLimited(std::time::Duration),
    #[error("new legacy workspace tokens are disabled for this organization; create a personal access token or a service account key, or ask an owner to enable allow_legacy_tokens for a migration")]
    LegacyTokensDisabled,
    #[error(
        "the {limit} limit is {max} and {current} already exist; revoke one or raise the limit"
    )]
    LimitReached {
        limit: &'static str,
        max: u32,
        current: u32,
    },
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A request that contradicts itself (two values for one thing).
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{1}")]
    Gone(&'static str, String),
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("an internal error occurred")]
    Internal,
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Every code, its status and its title. The CLI and console rely on these codes.
pub const CODES: &[(&str, u16, &str)] = &[
    ("missing_token", 401, "Authentication required"),
    ("invalid_request", 400, "Invalid authentication request"),
    ("malformed_token", 401, "Malformed API key"),
    ("bad_checksum", 401, "API key checksum mismatch"),
    ("unknown_token", 401, "Unknown API key"),
    ("token_revoked", 401, "API key revoked"),
    ("token_expired", 401, "API key expired"),
    ("token_disabled", 401, "API key disabled"),
    (
        "token_withdrawn",
        401,
        "API key stopped working during the request",
    ),
    ("forbidden", 403, "Permission denied"),
    (
        "cannot_grant",
        403,
        "Cannot grant permissions you do not hold",
    ),
    (
        "role_forbidden",
        403,
        "Not allowed for your role or key scope",
    ),
    ("key_kind_not_allowed", 403, "Key kind not allowed here"),
    (
        "legacy_tokens_disabled",
        403,
        "Legacy workspace tokens are disabled",
    ),
    ("channel_not_found", 404, "Channel not found"),
    ("key_limit_reached", 409, "Key limit reached"),
    ("org_limit_reached", 409, "Organization limit reached"),
    ("resource_in_use", 409, "Resource in use"),
    ("last_owner", 409, "Last owner"),
    ("rate_limited", 429, "Rate limit exceeded"),
    ("invalid_json", 400, "Invalid JSON"),
    ("bad_request", 400, "Bad request"),
    ("validation_failed", 422, "Invalid request field"),
    ("unsupported_media_type", 415, "Unsupported media type"),
    ("payload_too_large", 413, "Request body too large"),
    ("not_found", 404, "Not found"),
    ("method_not_allowed", 405, "Method not allowed"),
    ("already_bootstrapped", 409, "Already bootstrapped"),
    ("key_revoked", 409, "Key is revoked"),
    ("key_already_rotated", 409, "Key already rotated"),
    ("conflict", 409, "Conflict"),
    ("already_member", 409, "Already a member"),
    ("changed_meanwhile", 409, "Changed during the request"),
    (
        "authorization_changed",
        409,
        "Authorization changed during the request",
    ),
    ("invitation_used", 409, "Invitation already accepted"),
    ("invitation_pending", 409, "A pending invitation exists"),
    ("invitation_expired", 410, "Invitation expired or revoked"),
    ("identity_required", 403, "Accept with your own token"),
    (
        "org_creation_disabled",
        403,
        "Creating organizations is disabled",
    ),
    ("internal_error", 500, "Internal server error"),
];

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl ToString) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken | ApiError::WrongScheme => "missing_token",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::MalformedToken(KeyError::BadChecksum) => "bad_checksum",
            ApiError::MalformedToken(_) => "malformed_token",
            ApiError::UnknownToken => "unknown_token",
            ApiError::RevokedToken(_) => "token_revoked",
            ApiError::ExpiredToken(_) => "token_expired",
            ApiError::DisabledToken => "token_disabled",
            ApiError::TokenWithdrawn => "token_withdrawn",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CannotGrant(_) => "cannot_grant",
            ApiError::RoleForbidden(_) => "role_forbidden",
            ApiError::KeyKindNotAllowed(_) => "key_kind_not_allowed",
            ApiError::ChannelNotFound => "channel_not_found",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::LegacyTokensDisabled => "legacy_tokens_disabled",
            ApiError::LimitReached {
                limit: "organizations per person",
                ..
            } => "org_limit_reached",
            ApiError::LimitReached { .. } => "key_limit_reached",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation { .. } => "validation_failed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::Gone(code, _) => code,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(code, _) => code,
            ApiError::Internal => "internal_error",
        }
    }

    fn entry(&self) -> (u16, &'static str) {
        let code = self.code();
        CODES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, s, t)| (*s, *t))
            .unwrap_or((500, "Internal server error"))
    }

    /// The RFC 6750 challenge for this error, if it is an authentication error.
    fn challenge(&self) -> Option<String> {
        // RFC 6750: error_description is printable ASCII without `"` or `\`.
        let description = || {
            self.to_string()
                .chars()
                .map(|c| match c {
                    '"' | '\\' => '\'',
                    '…' => '.',
                    c if c.is_ascii_graphic() || c == ' ' => c,
                    _ => '?',
                })
                .collect::<String>()
        };
        match self {
            ApiError::MissingToken | ApiError::WrongScheme => {
                Some(r#"Bearer realm="keyward""#.to_owned())
            }
            ApiError::InvalidRequest(_) => Some(format!(
                r#"Bearer realm="keyward", error="invalid_request", error_description="{}""#,
                description()
            )),
            ApiError::MalformedToken(_)
            | ApiError::UnknownToken
            | ApiError::RevokedToken(_)
            | ApiError::ExpiredToken(_)
            | ApiError::DisabledToken
            | ApiError::TokenWithdrawn => Some(format!(
                r#"Bearer realm="keyward", error="invalid_token", error_description="{}""#,
                description()
            )),
            ApiError::Forbidden(scope) => Some(format!(
                r#"Bearer realm="keyward", error="insufficient_scope", error_description="{}", scope="{}""#,
                description(),
                scope
            )),
            ApiError::CannotGrant(_)
            | ApiError::RoleForbidden(_)
            | ApiError::KeyKindNotAllowed(_) => Some(format!(
                r#"Bearer realm="keyward", error="insufficient_scope", error_description="{}""#,
                description()
            )),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, title) = self.entry();
        let code = self.code();
        Problem {
            problem_type: format!("/problems/{code}"),
            title,
            status,
            detail: self.to_string(),
            instance: None,
            code,
            limit: match self {
                ApiError::LimitReached {
                    limit,
                    max,
                    current,
                } => Some(LimitInfo {
                    name: limit,
                    max: *max,
                    current: *current,
                }),
                _ => None,
            },
            field: match self {
                ApiError::Validation { field, .. } => Some(field.clone()),
                _ => None,
            },
            required_permission: match self {
                ApiError::Forbidden(p) => Some(p.clone()),
                _ => None,
            },
        }
    }
}

/// An RFC 9457 problem document with Keyward's stable `code`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Stable, machine-readable error code.
    pub code: &'static str,
    /// For `validation_failed`: the request field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `key_limit_reached`: which limit, its value and the current count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitInfo>,
    /// For `forbidden`: the permission the request needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LimitInfo {
    pub name: &'static str,
    pub max: u32,
    pub current: u32,
}

impl Problem {
    pub fn into_response_with(self, challenge: Option<String>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("problem serializes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Internal errors carry no detail here: the cause was logged where it happened.
        let mut response = self.problem().into_response_with(self.challenge());
        if let ApiError::RateLimited(wait) = self {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict(c) => {
                let code = match c {
                    Conflict::AlreadyBootstrapped => "already_bootstrapped",
                    Conflict::KeyRevoked => "key_revoked",
                    Conflict::KeyAlreadyRotated => "key_already_rotated",
                    Conflict::Duplicate => "conflict",
                    Conflict::InUse => "resource_in_use",
                    Conflict::LastOwner => "last_owner",
                    Conflict::AlreadyMember => "already_member",
                    Conflict::InvitationUsed => "invitation_used",
                    Conflict::InvitationExpired => {
                        return ApiError::Gone("invitation_expired", c.to_string())
                    }
                    Conflict::IdentityRequired => "identity_required",
                    Conflict::ChangedMeanwhile => "changed_meanwhile",
                };
                ApiError::Conflict(code, c.to_string())
            }
            StoreError::LimitReached {
                limit,
                max,
                current,
            } => ApiError::LimitReached {
                limit,
                max,
                current,
            },
            StoreError::Gone("channel") => ApiError::ChannelNotFound,
            StoreError::Gone(what) => ApiError::NotFound(what),
            StoreError::ActorInactive => ApiError::TokenWithdrawn,
            StoreError::Forbidden(why) => ApiError::RoleForbidden(why.to_owned()),
            StoreError::ActorChanged => ApiError::Conflict(
                "authorization_changed",
                "your role or your key's permissions or scope changed while this request ran; nothing was changed".into(),
            ),
            StoreError::InvalidInput(what) => {
                ApiError::validation(what, "is not a value this endpoint returned")
            }
            StoreError::Other(err) => {
                tracing::error!(error = %err, "storage error");
                ApiError::Internal
            }
        }
    }
}

/// Fills `instance` of problem responses with the request path, which the error
/// itself does not know; and turns any other error response (an axum rejection such as
/// `Path`'s plain-text 400, anything a layer answers) into a problem with the stable code
/// its status stands for, so every error a client sees is problem+json with a `code`.
pub async fn add_problem_instance(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let mut problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            let (parts, body) = std::mem::take(&mut response).into_parts();
            let text = axum::body::to_bytes(body, 1024).await.ok();
            response = Response::from_parts(parts, axum::body::Body::empty());
            Problem::for_status(response.status(), plain_text(&response, text.as_deref()))
        }
        None => return response,
    };
    problem.instance = Some(path);
    let body = serde_json::to_vec(&problem).expect("problem serializes");
    *response.body_mut() = axum::body::Body::from(body);
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The short plain-text message of a 4xx rejection (axum writes them for clients, e.g.
/// "Invalid URL: …"), to keep as the problem's detail. Nothing of a 5xx is kept: it
/// could say something about the server's insides.
fn plain_text(response: &Response, body: Option<&[u8]>) -> Option<String> {
    let is_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !response.status().is_client_error() || !is_text {
        return None;
    }
    let text = std::str::from_utf8(body?).ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl Problem {
    /// A problem for an error response that no [`ApiError`] made: the code its status
    /// stands for in [`CODES`], the status itself kept.
    pub fn for_status(status: StatusCode, detail: Option<String>) -> Problem {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "missing_token",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            429 => "rate_limited",
            500..=599 => "internal_error",
            _ => "bad_request",
        };
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                "an error response without a problem"
            );
        }
        let title = CODES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, _, t)| *t)
            .unwrap_or("Internal server error");
        // A 5xx keeps nothing of what it said: it could describe the server's insides.
        let detail = detail.filter(|_| status.is_client_error());
        let detail = detail.unwrap_or_else(|| match status.canonical_reason() {
            Some(reason) if status.is_client_error() => format!("the request failed: {reason}"),
            _ => "an internal error occurred".to_owned(),
        });
        Problem {
            problem_type: format!("/problems/{code}"),
            title,
            status: status.as_u16(),
            detail,
            instance: None,
            code,
            field: None,
            limit: None,
            required_permission: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The safety net names a code from the table for every error status, and keeps
    /// the status.
    #[test]
    fn every_error_status_has_a_code_from_the_table() {
        for status in 400..=599 {
            let status = StatusCode::from_u16(status).unwrap();
            let problem = Problem::for_status(status, None);
            assert!(
                CODES.iter().any(|(c, _, _)| *c == problem.code),
                "{status}: {}",
                problem.code
            );
            assert_eq!(problem.status, status.as_u16());
            assert!(!problem.detail.is_empty());
        }
        assert_eq!(
            Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE, None).code,
            "payload_too_large"
        );
        let hidden = Problem::for_status(StatusCode::BAD_GATEWAY, Some("secret".into()));
        assert_eq!(
            (hidden.code, hidden.detail.as_str()),
            ("internal_error", "an internal error occurred")
        );
    }

    /// A code missing from the table would be answered as a 500.
    #[test]
    fn every_error_has_an_entry_in_the_code_table() {
        let all = [
            ApiError::MissingToken,
            ApiError::WrongScheme,
            ApiError::InvalidRequest(String::new()),
            ApiError::MalformedToken(KeyError::WrongLength),
            ApiError::MalformedToken(KeyError::BadChecksum),
            ApiError::UnknownToken,
            ApiError::RevokedToken(Utc::now()),
            ApiError::ExpiredToken(Utc::now()),
            ApiError::DisabledToken,
            ApiError::TokenWithdrawn,
            ApiError::Forbidden(String::new()),
            ApiError::CannotGrant(vec![]),
            ApiError::RoleForbidden(String::new()),
            ApiError::KeyKindNotAllowed("api"),
            ApiError::ChannelNotFound,
            ApiError::RateLimited(std::time::Duration::from_secs(1)),
            ApiError::LegacyTokensDisabled,
            ApiError::LimitReached {
                limit: "x",
                max: 1,
                current: 1,
            },
            ApiError::InvalidJson(String::new()),
            ApiError::BadRequest(String::new()),
            ApiError::validation("f", "m"),
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge,
            ApiError::NotFound("x"),
            ApiError::MethodNotAllowed,
            ApiError::Internal,
        ];
        for e in all {
            assert!(
                CODES.iter().any(|(c, _, _)| *c == e.code()),
                "{} is not in CODES",
                e.code()
            );
        }
        for c in [
            Conflict::AlreadyBootstrapped,
            Conflict::KeyRevoked,
            Conflict::KeyAlreadyRotated,
            Conflict::Duplicate,
            Conflict::InUse,
            Conflict::LastOwner,
            Conflict::AlreadyMember,
            Conflict::InvitationUsed,
            Conflict::IdentityRequired,
            Conflict::InvitationExpired,
            Conflict::ChangedMeanwhile,
        ] {
            let e = ApiError::from(StoreError::Conflict(c));
            assert!(
                CODES.iter().any(|(code, _, _)| *code == e.code()),
                "{} is not in CODES",
                e.code()
            );
            assert!(
                matches!(e.entry().0, 403 | 409 | 410),
                "{}: {}",
                e.code(),
                e.entry().0
            );
        }
    }
}
