//! The one API error type and its table of stable codes.
//!
//! Which error belongs where:
//! - storage code returns `keyward_store::StoreError` (NotFound / Conflict / Other);
//! - handlers and extractors return [`ApiError`], whose [`ApiError::code`] is part of
//!   the public API: clients (the CLI, the SDK, the console) branch on it, so a code is
//!   never renamed once shipped. The codes, with their status and title, are
//!   `keyward_api::ErrorCode`;
//! - internal errors are logged with their context here and reach the client only as
//!   `internal_error`, without details.
//!
//! Every error is an RFC 9457 `application/problem+json` body. 401 and 403 also carry
//! an RFC 6750 `WWW-Authenticate: Bearer …` challenge.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use keyward_api::ErrorCode;
use keyward_core::KeyError;
use keyward_store::{Conflict, StoreError};

pub use keyward_api::{LimitInfo, Problem};

/// Every code, its status and its title (`keyward_api::ErrorCode::TABLE`, made from the
/// one exhaustive `match` there). The CLI and console rely on these codes.
pub const CODES: &[(&str, u16, &str)] = ErrorCode::TABLE;

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
    Gone(ErrorCode, String),
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    #[error("{1}")]
    Conflict(ErrorCode, String),
    /// A well-formed request refused for what it presents (a CLI login's verifier that
    /// does not match); the code gives the status.
    #[error("{1}")]
    Refused(ErrorCode, String),
    #[error("an internal error occurred")]
    Internal,
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl ToString) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// The stable code; its status and title come with it (`ErrorCode::status`, `title`).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::MissingToken | ApiError::WrongScheme => ErrorCode::MissingToken,
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::MalformedToken(KeyError::BadChecksum) => ErrorCode::BadChecksum,
            ApiError::MalformedToken(_) => ErrorCode::MalformedToken,
            ApiError::UnknownToken => ErrorCode::UnknownToken,
            ApiError::RevokedToken(_) => ErrorCode::TokenRevoked,
            ApiError::ExpiredToken(_) => ErrorCode::TokenExpired,
            ApiError::DisabledToken => ErrorCode::TokenDisabled,
            ApiError::TokenWithdrawn => ErrorCode::TokenWithdrawn,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::CannotGrant(_) => ErrorCode::CannotGrant,
            ApiError::RoleForbidden(_) => ErrorCode::RoleForbidden,
            ApiError::KeyKindNotAllowed(_) => ErrorCode::KeyKindNotAllowed,
            ApiError::ChannelNotFound => ErrorCode::ChannelNotFound,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
            ApiError::LegacyTokensDisabled => ErrorCode::LegacyTokensDisabled,
            ApiError::LimitReached {
                limit: "organizations per person",
                ..
            } => ErrorCode::OrgLimitReached,
            ApiError::LimitReached {
                limit: "webhook endpoints",
                ..
            } => ErrorCode::WebhookEndpointLimitReached,
            ApiError::LimitReached {
                limit: "workers per key" | "workers per workspace",
                ..
            } => ErrorCode::WorkerLimitReached,
            ApiError::LimitReached { .. } => ErrorCode::KeyLimitReached,
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Validation { .. } => ErrorCode::ValidationFailed,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Gone(code, _) | ApiError::Conflict(code, _) | ApiError::Refused(code, _) => {
                code.clone()
            }
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Internal => ErrorCode::InternalError,
        }
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
        Problem {
            limit: match self {
                ApiError::LimitReached {
                    limit,
                    max,
                    current,
                } => Some(LimitInfo {
                    name: (*limit).to_owned(),
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
            ..Problem::new(self.code(), self.to_string())
        }
    }
}

/// Answers a [`Problem`] (problem+json, with an RFC 6750 challenge if given).
pub fn problem_response(problem: Problem, challenge: Option<String>) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).expect("problem serializes");
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response.extensions_mut().insert(problem);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Internal errors carry no detail here: the cause was logged where it happened.
        let mut response = problem_response(self.problem(), self.challenge());
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
                    Conflict::AlreadyBootstrapped => ErrorCode::AlreadyBootstrapped,
                    Conflict::KeyRevoked => ErrorCode::KeyRevoked,
                    Conflict::KeyAlreadyRotated => ErrorCode::KeyAlreadyRotated,
                    Conflict::Duplicate => ErrorCode::Conflict,
                    Conflict::InUse => ErrorCode::ResourceInUse,
                    Conflict::LastOwner => ErrorCode::LastOwner,
                    Conflict::AlreadyMember => ErrorCode::AlreadyMember,
                    Conflict::InvitationUsed => ErrorCode::InvitationUsed,
                    Conflict::InvitationExpired => {
                        return ApiError::Gone(ErrorCode::InvitationExpired, c.to_string())
                    }
                    Conflict::IdentityRequired => ErrorCode::IdentityRequired,
                    Conflict::ChangedMeanwhile => ErrorCode::ChangedMeanwhile,
                    Conflict::LinkUsed => ErrorCode::PasswordLinkUsed,
                    Conflict::LinkExpired => {
                        return ApiError::Gone(ErrorCode::PasswordLinkExpired, c.to_string())
                    }
                    Conflict::LoginCodeUsed => ErrorCode::LoginCodeUsed,
                    Conflict::LoginCodeExpired => {
                        return ApiError::Gone(ErrorCode::LoginCodeExpired, c.to_string())
                    }
                    Conflict::LoginVerifierMismatch => {
                        return ApiError::Refused(ErrorCode::LoginVerifierMismatch, c.to_string())
                    }
                    Conflict::OAuthStateUsed => ErrorCode::OAuthStateUsed,
                    Conflict::OAuthStateExpired => {
                        return ApiError::Gone(ErrorCode::OAuthStateExpired, c.to_string())
                    }
                    Conflict::ConnectionProvider => ErrorCode::ConnectionProviderMismatch,
                    Conflict::ConnectionWorkspace => ErrorCode::ConnectionWorkspaceMismatch,
                    Conflict::LeaseLost => ErrorCode::ChangedMeanwhile,
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
                ErrorCode::AuthorizationChanged,
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
    // The console and the hosted OAuth callback answer people's browsers in HTML,
    // errors included (`console::guard`, `http::integrations::oauth_callback`).
    if path == "/console"
        || path.starts_with("/console/")
        || path == keyward_api::OAUTH_CALLBACK_PATH
    {
        return response;
    }
    let mut problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            let (parts, body) = std::mem::take(&mut response).into_parts();
            let text = axum::body::to_bytes(body, 1024).await.ok();
            response = Response::from_parts(parts, axum::body::Body::empty());
            problem_for_status(response.status(), plain_text(&response, text.as_deref()))
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

/// A problem for an error response that no [`ApiError`] made: the code its status
/// stands for, the status itself kept.
pub fn problem_for_status(status: StatusCode, detail: Option<String>) -> Problem {
    let code = match status.as_u16() {
        400 => ErrorCode::BadRequest,
        401 => ErrorCode::MissingToken,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        500..=599 => ErrorCode::InternalError,
        _ => ErrorCode::BadRequest,
    };
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            "an error response without a problem"
        );
    }
    // A 5xx keeps nothing of what it said: it could describe the server's insides.
    let detail = detail.filter(|_| status.is_client_error());
    let detail = detail.unwrap_or_else(|| match status.canonical_reason() {
        Some(reason) if status.is_client_error() => format!("the request failed: {reason}"),
        _ => "an internal error occurred".to_owned(),
    });
    Problem {
        status: status.as_u16(),
        ..Problem::new(code, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The safety net names a known code for every error status, and keeps the status.
    #[test]
    fn every_error_status_has_a_known_code() {
        for status in 400..=599 {
            let status = StatusCode::from_u16(status).unwrap();
            let problem = problem_for_status(status, None);
            assert!(problem.code.is_known(), "{status}: {}", problem.code);
            assert_eq!(problem.status, status.as_u16());
            assert!(!problem.detail.is_empty());
        }
        assert_eq!(
            problem_for_status(StatusCode::PAYLOAD_TOO_LARGE, None).code,
            ErrorCode::PayloadTooLarge
        );
        let hidden = problem_for_status(StatusCode::BAD_GATEWAY, Some("secret".into()));
        assert_eq!(
            (hidden.code, hidden.detail.as_str()),
            (ErrorCode::InternalError, "an internal error occurred")
        );
    }

    /// Every error answers its code's status and title; store conflicts are 403, 409
    /// or 410.
    #[test]
    fn every_error_answers_its_codes_status() {
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
            let p = e.problem();
            assert!(p.code.is_known(), "{}", p.code);
            assert_eq!(
                (p.status, p.title.as_str()),
                (p.code.status(), p.code.title())
            );
            assert_eq!(p.problem_type, format!("/problems/{}", p.code));
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
            Conflict::LinkUsed,
            Conflict::LinkExpired,
            Conflict::LoginCodeUsed,
            Conflict::LoginCodeExpired,
            Conflict::OAuthStateUsed,
            Conflict::OAuthStateExpired,
            Conflict::ConnectionProvider,
            Conflict::ConnectionWorkspace,
            Conflict::LeaseLost,
        ] {
            let e = ApiError::from(StoreError::Conflict(c));
            assert!(
                matches!(e.code().status(), 403 | 409 | 410),
                "{}: {}",
                e.code(),
                e.code().status()
            );
        }
        // A wrong PKCE verifier is OAuth's `invalid_grant`: a 400 of its own.
        let e = ApiError::from(StoreError::Conflict(Conflict::LoginVerifierMismatch));
        assert_eq!(
            (e.code(), e.code().status()),
            (ErrorCode::LoginVerifierMismatch, 400)
        );
    }
}
