//! The SDK's one error type. An API error carries the server's stable `code`
//! ([`ErrorCode`]), so callers branch on it instead of on message text.

use chrono::{DateTime, Utc};
pub use keyward_api::ErrorCode;
use keyward_api::LimitInfo;
use serde::Deserialize;
use std::fmt;

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
    /// For `key_limit_reached` and `org_limit_reached`: which limit, its value and the
    /// current count.
    pub limit: Option<LimitInfo>,
    /// For `rate_limited` (429): the `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
}

/// A problem document read leniently: a proxy or an older server may leave out what
/// `keyward_api::Problem` requires; the code is what matters.
#[derive(Deserialize)]
struct ProblemBody {
    code: Option<ErrorCode>,
    title: Option<String>,
    detail: Option<String>,
    field: Option<String>,
    required_permission: Option<String>,
    // Read as any JSON, then as `LimitInfo`: a `limit` of another shape is dropped
    // rather than costing the whole problem (and its code).
    limit: Option<serde_json::Value>,
}

impl ApiError {
    /// Reads a problem body; anything else (a proxy's HTML page) becomes a generic error
    /// with the status, so a caller always gets a code.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ProblemBody>(body) {
            Ok(p) => ApiError {
                status,
                code: p.code.unwrap_or_else(|| ErrorCode::Other("unknown".into())),
                title: p.title.unwrap_or_default(),
                detail: p.detail.unwrap_or_default(),
                field: p.field,
                required_permission: p.required_permission,
                limit: p.limit.and_then(|l| serde_json::from_value(l).ok()),
                retry_after: None,
            },
            Err(_) => ApiError {
                status,
                code: ErrorCode::Other(format!("http_{status}")),
                title: format!("HTTP {status}"),
                detail: format!("the server answered HTTP {status} without a problem document"),
                field: None,
                required_permission: None,
                limit: None,
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
    fn a_server_problem_is_read_back_with_its_code() {
        for code in ErrorCode::ALL {
            let body = serde_json::to_vec(&keyward_api::Problem::new(code.clone(), "d")).unwrap();
            let e = ApiError::from_body(code.status(), &body);
            assert_eq!((&e.code, e.title.as_str()), (code, code.title()));
        }
        let e = ApiError::from_body(409, br#"{"code":"brand_new_code","detail":"x"}"#);
        assert_eq!(e.code, ErrorCode::Other("brand_new_code".into()));
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

    #[test]
    fn a_limit_of_another_shape_keeps_the_code() {
        let body = br#"{"code":"key_limit_reached","detail":"d","limit":"ten"}"#;
        let e = ApiError::from_body(409, body);
        assert_eq!((e.code, e.limit), (ErrorCode::KeyLimitReached, None));
        let body = br#"{"code":"key_limit_reached","limit":{"name":"keys","max":10,"current":10}}"#;
        let e = ApiError::from_body(409, body);
        assert_eq!(e.code, ErrorCode::KeyLimitReached);
        assert!(e.limit.is_some(), "a well-formed limit is read");
    }
}
