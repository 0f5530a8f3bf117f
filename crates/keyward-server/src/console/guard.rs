//! What every console response and request goes through: security headers on the way
//! out, and on the way in the CSRF check of every state-changing request — here, once,
//! so that no handler can forget it.
//!
//! A form carries `_csrf`: for a signed-in person the token derived from their session
//! (`people::session::csrf_token`), before sign-in a random pre-session token that the
//! sign-in and password pages set in an HttpOnly, SameSite=Strict cookie (double
//! submit). A cross-site page can make a browser send cookies but can read neither them
//! nor our pages, so it cannot know either token. Requests that say they come from
//! another origin (`Origin`, `Sec-Fetch-Site`) are refused before that.

use super::failure::Failure;
use super::visitor::{cookie, cookie_token};
use crate::errors::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_api::ErrorCode;
use subtle::ConstantTimeEq;

/// The pre-session cookie, for forms shown before sign-in; with HTTPS it takes the
/// `__Host-` prefix, which no subdomain or plain-HTTP answer can plant.
const PRESESSION: &str = "keyward_presession";
const SECURE_PRESESSION: &str = "__Host-keyward_presession";

fn presession_name(secure: bool) -> &'static str {
    if secure {
        SECURE_PRESESSION
    } else {
        PRESESSION
    }
}

/// The forms shown before sign-in, whose token is the pre-session one. Every other
/// form needs the token of the session it is sent with.
const PRESESSION_FORMS: &[&str] = &["/console/signin", "/console/password", "/console/join"];

/// The most a console form may send.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let https = state.policy.console.secure_cookies;
    let request = if is_safe(request.method()) {
        request
    } else {
        match check(&state, request).await {
            Ok(request) => request,
            Err(failure) => return secure(failure.into_response(), https),
        }
    };
    secure(html_errors(next.run(request).await).await, https)
}

/// An error answered by something other than a console handler (axum's rejection of a
/// form that does not parse, a body too large) as an HTML error page.
async fn html_errors(response: Response) -> Response {
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 1024).await.ok();
    let detail = text
        .as_deref()
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|_| status.is_client_error())
        .map(|t| t.trim().to_owned());
    super::failure::page(crate::errors::problem_for_status(status, detail))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn refused(why: &str) -> Failure {
    Failure(ApiError::Conflict(ErrorCode::CsrfFailed, why.to_owned()))
}

async fn check(state: &AppState, request: Request) -> Result<Request, Failure> {
    let headers = request.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
    {
        return Err(refused("this form was sent from another site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let public = state.policy.console.public_url.as_deref();
        if !(same_origin(origin, headers)
            || public.is_some_and(|p| origin.as_bytes() == p.as_bytes()))
        {
            return Err(refused("this form was sent from another site"));
        }
    }
    let secure = state.policy.console.secure_cookies;
    let session = cookie_token(headers, secure).map(|t| crate::people::session::csrf_token(&t));
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or(request.uri().path(), |o| o.0.path());
    let presession = if PRESESSION_FORMS.contains(&path) {
        cookie(headers, presession_name(secure)).map(str::to_owned)
    } else {
        None
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| Failure(ApiError::PayloadTooLarge))?;
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned());
    let Some(sent) = sent.filter(|s| !s.is_empty()) else {
        return Err(refused(
            "this form came without its security token; reload the page and try again",
        ));
    };
    let matches = |expected: &Option<String>| {
        expected
            .as_deref()
            .is_some_and(|e| bool::from(e.as_bytes().ct_eq(sent.as_bytes())))
    };
    if !(matches(&session) || matches(&presession)) {
        return Err(refused(
            "this form's security token does not match your session (it may have ended); reload the page and try again",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether `Origin` names this server, as the request's `Host` does.
fn same_origin(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let (Ok(origin), Some(host)) = (
        origin.to_str(),
        headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    ) else {
        return false;
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| r.eq_ignore_ascii_case(host))
}

/// Security headers on every console response: a strict CSP (no inline script or
/// style, no framing), no sniffing, no referrer (links carry one-time codes), and no
/// caching of pages (they show people's data; assets say otherwise themselves); with
/// HTTPS, HSTS, so no later visit goes over plain HTTP where cookies could be planted.
fn secure(mut response: Response, https: bool) -> Response {
    let h = response.headers_mut();
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Links carry one-time codes: no other site learns a console URL. (`no-referrer`
    // would make browsers send `Origin: null` with our own forms.)
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The pre-session CSRF token for a page shown before sign-in: the visitor's, or a new
/// one with the `Set-Cookie` that gives it to them.
pub fn presession(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, PRESESSION).filter(|v| v.len() == 48) {
        return (existing.to_owned(), None);
    }
    let token = crate::people::session::csrf_token(&keyward_core::invite::SessionToken::generate());
    let mut c =
        format!("{PRESESSION}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=86400");
    if secure {
        c.push_str("; Secure");
    }
    let value = HeaderValue::from_str(&c).expect("cookie is ascii");
    (token, Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_host_is_the_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        let ok = |o: &str| same_origin(&o.parse().unwrap(), &h);
        assert!(ok("http://127.0.0.1:8080"));
        assert!(ok("https://127.0.0.1:8080"));
        assert!(!ok("http://127.0.0.1:8081"));
        assert!(!ok("http://evil.example"));
        assert!(!ok("null"));
        assert!(!ok("http://127.0.0.1:8080.evil.example"));
    }
}
