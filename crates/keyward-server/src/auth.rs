//! Who is calling: the `Principal` extractor authenticates `Authorization: Bearer <key>`
//! through the same verify path as `POST /v1/keys/verify`, and handlers ask it for the
//! permission they need.

use crate::errors::ApiError;
use crate::state::AppState;
use crate::usage::{Outcome, RateInfo};
use crate::verify::Verdict;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};
use keyward_core::{KeyKind, Owner};
use keyward_store::Actor;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
pub struct Principal {
    pub key: Arc<crate::verify::CachedKey>,
    /// The peer address; formatted only when an audit event needs it.
    pub source: Option<SocketAddr>,
    /// The caller's reach, read once per request (`authz`); the role in it goes into
    /// every change's [`Actor`], which the store checks is still the person's role.
    pub(crate) reach: std::sync::OnceLock<keyward_core::Reach>,
    /// The person's membership role when `reach` was read (people's keys only).
    pub(crate) role: std::sync::OnceLock<keyward_core::Role>,
}

impl Principal {
    pub fn org_id(&self) -> &str {
        &self.key.org_id
    }

    /// 403 `forbidden` unless the key holds `permission` (`keys:write`). Customer
    /// (`api`) keys and channel tokens never pass: they cannot manage Keyward.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        match self.key.kind {
            KeyKind::Api => return Err(ApiError::KeyKindNotAllowed("api")),
            KeyKind::Channel => return Err(ApiError::KeyKindNotAllowed("channel")),
            _ => {}
        }
        if self.key.permissions.allows_str(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(permission.to_owned()))
        }
    }

    /// Who acts, as `disabled_by` / `limits_by` record it: the person's or service
    /// account's id, else the key's own id.
    pub fn actor_id(&self) -> String {
        match &self.key.owner {
            Some(Owner::User { id, .. }) | Some(Owner::ServiceAccount { id, .. }) => id.clone(),
            _ => self.key.id.clone(),
        }
    }

    pub fn actor(&self) -> Actor {
        let (actor_type, id, name) = match &self.key.owner {
            Some(o @ Owner::External { .. })
            | Some(o @ Owner::User { .. })
            | Some(o @ Owner::ServiceAccount { .. }) => (
                o.type_str().to_owned(),
                Some(o.id().to_owned()),
                o.label().to_owned(),
            ),
            None => ("key".to_owned(), None, self.key.name.clone()),
        };
        Actor {
            actor_type,
            id,
            name,
            key_id: Some(self.key.id.clone()),
            authority: Some(keyward_store::Authority {
                role: self.role.get().copied(),
                permissions: self.key.permissions.clone(),
                scope: self.key.scope.clone(),
                rotated: self.key.rotated_to.is_some(),
                org_id: Some(self.key.org_id.clone()),
            }),
        }
    }
}

/// The bearer token of a request, per RFC 6750: header only, one of it, `Bearer`, one or
/// more spaces, the key. No header is `missing_token` (no credentials), as is another
/// scheme (`Basic …`: not ours); a header that tries to be `Bearer <key>` and is not
/// (a tab, no key, non-ASCII bytes, `Bearerkey`) is 400 `invalid_request` naming the
/// header, not "no API key was sent".
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    if let Some(q) = parts.uri.query() {
        if form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token") {
            return Err(ApiError::InvalidRequest(
                "send the key in the Authorization header, not in the query string".into(),
            ));
        }
    }
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::MissingToken);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(
            "send exactly one Authorization header".into(),
        ));
    }
    let malformed = |why: &str| {
        ApiError::InvalidRequest(format!(
            "the Authorization header {why}; the expected form is Authorization: Bearer <key>"
        ))
    };
    // Visible ASCII (and tabs) only: a key is ASCII, so anything else is a mangled header.
    let value = value
        .to_str()
        .map_err(|_| malformed("holds bytes that are not printable ASCII"))?
        .trim_matches(' ');
    if value.is_empty() {
        return Err(malformed("is empty"));
    }
    let scheme_end = value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("bearer") {
        if scheme
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
        {
            return Err(malformed("has no space between Bearer and the key"));
        }
        return Err(ApiError::WrongScheme);
    }
    if rest
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .is_empty()
    {
        return Err(malformed("holds no key after Bearer"));
    }
    let Some(token) = rest.strip_prefix(' ') else {
        return Err(malformed(
            "separates Bearer from the key with a tab instead of a space",
        ));
    };
    let token = token.trim_start_matches(' ');
    if token.contains(' ') {
        return Err(ApiError::InvalidRequest(
            "the Authorization header holds more than one token".into(),
        ));
    }
    if token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(malformed("holds a tab or line break within the key"));
    }
    Ok(token)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let now = state.clock.now();
        let key = match state.check_at(token, None, now).await? {
            Verdict::Valid(key) => key,
            Verdict::Malformed(e) => return Err(ApiError::MalformedToken(e)),
            Verdict::NotFound => return Err(ApiError::UnknownToken),
            Verdict::Revoked(k) => {
                return Err(ApiError::RevokedToken(k.revoked_at.unwrap_or_default()))
            }
            Verdict::Expired(k) => {
                return Err(ApiError::ExpiredToken(k.expires_at.unwrap_or_default()))
            }
            Verdict::Disabled(_) => return Err(ApiError::DisabledToken),
        };
        record_caller(&tracing::Span::current(), &key);
        let hints = parts.extensions.get::<ResponseHints>().cloned();
        if key.kind == KeyKind::LegacyWorkspace {
            if let Some(h) = &hints {
                h.0.lock().expect("hints lock").deprecated = true;
            }
        }
        // The caller's own rate limits apply to Keyward's API too.
        if let Some(info) = state
            .limits
            .admit(state.store.as_ref(), &key, &key.limiter, now)
            .await?
        {
            if let Some(h) = &hints {
                h.0.lock().expect("hints lock").ratelimit = Some(info);
            }
            if !info.allowed {
                return Err(ApiError::RateLimited(info.retry_after));
            }
        }
        state.usage.record(&key.id, now, Outcome::Api);
        Ok(Principal {
            reach: std::sync::OnceLock::new(),
            role: std::sync::OnceLock::new(),
            key,
            source: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ci| ci.0),
        })
    }
}

/// Names the caller's key and organization on the request span (`http::router` declares
/// both fields empty), so every log line of the request carries them. One `record_all`
/// for both, as plain text: each separate `record` costs the subscriber a span lookup and
/// a formatting pass, on every authenticated request.
fn record_caller(span: &tracing::Span, key: &crate::verify::CachedKey) {
    use tracing::field::{display, Value};
    let Some(fields) = span.metadata().map(|m| m.fields()) else {
        return;
    };
    let (Some(key_field), Some(org_field)) = (fields.field("key_id"), fields.field("org_id"))
    else {
        return;
    };
    let (key_id, org_id) = (display(&key.id), display(&key.org_id));
    span.record_all(&fields.value_set(&[
        (&key_field, Some(&key_id as &dyn Value)),
        (&org_field, Some(&org_id as &dyn Value)),
    ]));
}

/// What the extractor learned that the response should say: a deprecation notice for
/// legacy tokens, the caller's rate-limit state.
#[derive(Clone, Default)]
pub struct ResponseHints(Arc<std::sync::Mutex<Hints>>);

#[derive(Default)]
pub struct Hints {
    pub deprecated: bool,
    pub ratelimit: Option<RateInfo>,
}

pub const LEGACY_WARNING: &str = "299 keyward \"Legacy workspace tokens are deprecated; use a personal access token (kw_pat_) or a service account key (kw_sa_) instead\"";

/// Adds `Deprecation: true` and a `Warning` naming the replacement to every response to
/// a legacy workspace token, and `RateLimit-Limit/Remaining/Reset` (seconds until the
/// allowance is full) when the caller's key or owner is rate limited.
pub async fn response_hints(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::HeaderValue;
    let hints = ResponseHints::default();
    request.extensions_mut().insert(hints.clone());
    let mut response = next.run(request).await;
    let hints = hints.0.lock().expect("hints lock");
    let headers = response.headers_mut();
    if hints.deprecated {
        headers.insert("deprecation", HeaderValue::from_static("true"));
        headers.insert(
            axum::http::header::WARNING,
            HeaderValue::from_static(LEGACY_WARNING),
        );
    }
    if let Some(r) = hints.ratelimit {
        let reset_secs = r.reset_after.as_millis().div_ceil(1000) as u64;
        headers.insert("ratelimit-limit", HeaderValue::from(r.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(r.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(reset_secs));
    }
    response
}

/// `Option<Principal>`: `None` without an `Authorization` header; with one, the same
/// authentication as [`Principal`] (a bad key is an error, not `None`). For endpoints
/// where a credential is needed only sometimes (accepting an invitation).
impl axum::extract::OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Principal as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
