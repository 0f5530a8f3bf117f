//! Who is looking at a page: the session cookie, checked against the database on every
//! request (several nodes share sessions), and made into a [`Principal`] that acts as
//! the person's own token with every grant for the whole organization, so that their
//! role alone limits it — through `authz`, exactly as for their tokens. The store checks
//! the session again inside every change (`KEY_WORKS` finds sessions too), so a
//! sign-out, removal or demotion that commits while a request runs stops its write.

use super::failure::Failure;
use crate::auth::Principal;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use keyward_core::invite::SessionToken;
use keyward_core::key::Environment;
use keyward_core::{KeyKind, Owner, PermissionSet, Role, Scope};
use keyward_store::{KeyRecord, Session};
use std::net::SocketAddr;
use std::sync::Arc;

/// A signed-in person on a console page.
pub struct Signed {
    /// Acts with the person's role (see the module docs).
    pub principal: Principal,
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub session_id: String,
    pub org_id: String,
    pub org_name: String,
    /// The person's organizations (id, name), for the switcher.
    pub orgs: Vec<(String, String)>,
    /// The CSRF token every form of this session carries as `_csrf`.
    pub csrf: String,
    /// The path of the page, for the navigation.
    pub path: String,
}

/// The session token in the request's cookie, if any.
pub fn cookie_token(headers: &HeaderMap, secure: bool) -> Option<SessionToken> {
    let name = crate::people::session::cookie_name(secure);
    cookie(headers, name).and_then(|v| SessionToken::parse(v).ok())
}

/// The value of cookie `name` (the first one), if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The session of `token` if it works at `now` and its person is still a member of the
/// organization it acts in: (session, member).
pub async fn live_session(
    state: &AppState,
    token: &SessionToken,
    now: DateTime<Utc>,
) -> Result<Option<(Session, keyward_store::Member)>, Failure> {
    let Some(session) = state.store.find_session(&token.hash()).await? else {
        return Ok(None);
    };
    if !session.is_active_at(now) {
        return Ok(None);
    }
    let Some(member) = state
        .store
        .get_member(&session.org_id, &session.user_id)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((session, member)))
}

/// The record a session acts as: the person's token with every grant for the whole
/// organization. It has no expiry of its own (the session's end is checked on every
/// request and inside every change): a key made in the console must not inherit a
/// cap the API would put on keys made by an expiring token.
fn session_key(session: &Session, email: &str, org_name: &str, token: &SessionToken) -> KeyRecord {
    KeyRecord {
        id: session.id.clone(),
        org_id: session.org_id.clone(),
        org_name: org_name.to_owned(),
        kind: KeyKind::Personal,
        environment: Environment::Live,
        name: "console session".into(),
        prefix: String::new(),
        hash: token.hash(),
        owner: Some(Owner::User {
            id: session.user_id.clone(),
            name: email.to_owned(),
        }),
        permissions: PermissionSet::all(),
        scope: Scope::Organization,
        metadata: None,
        created_at: session.created_at,
        created_by: session.user_id.clone(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        rotated_from: None,
        rotated_to: None,
        enabled: true,
        workspace_id: None,
        channel_id: None,
        ratelimit: None,
        quota: None,
        disabled_by: None,
        limits_by: None,
    }
}

impl Signed {
    async fn from_parts(parts: &Parts, state: &AppState) -> Result<Option<Signed>, Failure> {
        let console = &state.policy.console;
        let Some(token) = cookie_token(&parts.headers, console.secure_cookies) else {
            return Ok(None);
        };
        let now = state.clock.now();
        let Some((session, member)) = live_session(state, &token, now).await? else {
            return Ok(None);
        };
        // Idleness is judged by `last_seen_at`; writing it on every page would make
        // every read a write, so only when a fair part of the idle timeout has passed.
        let touch_after = (session.idle_timeout / 8).min(chrono::Duration::minutes(1));
        if now - session.last_seen_at >= touch_after {
            state.store.touch_session(&session.id, now).await?;
        }
        let org = state.store.get_org(&session.org_id).await?;
        let key = session_key(&session, &member.email, &org.name, &token);
        let orgs = state
            .store
            .list_user_orgs(&session.user_id)
            .await?
            .into_iter()
            .map(|m| (m.organization.id, m.organization.name))
            .collect();
        let principal = Principal {
            key: Arc::new(crate::verify::CachedKey::new(key)),
            source: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            reach: Default::default(),
            role: Default::default(),
        };
        Ok(Some(Signed {
            principal,
            user_id: session.user_id.clone(),
            email: member.email,
            role: member.role,
            session_id: session.id,
            org_id: org.id,
            org_name: org.name,
            orgs,
            csrf: crate::people::session::csrf_token(&token),
            path: original_uri(parts).path().to_owned(),
        }))
    }
}

/// Where an unsigned visitor goes: the sign-in page, coming back here afterwards (for a
/// page; a form post goes back to where the form was, which the browser knows).
pub fn to_signin(parts: &Parts) -> Response {
    let uri = original_uri(parts);
    let next = if parts.method == axum::http::Method::GET {
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/console")
    } else {
        "/console"
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    Redirect::to(&format!("/console/signin?{query}")).into_response()
}

/// The request's URI as sent (inside `/console`'s nested router, `parts.uri` lacks the
/// prefix).
fn original_uri(parts: &Parts) -> &axum::http::Uri {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(&parts.uri)
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Signed::from_parts(parts, state).await {
            Ok(Some(signed)) => Ok(signed),
            Ok(None) => Err(to_signin(parts)),
            Err(failure) => Err(failure.into_response()),
        }
    }
}

/// `Option<Signed>`: `None` for a visitor who is not signed in.
impl axum::extract::OptionalFromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Response> {
        Signed::from_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// A local path to go back to after signing in: only paths under `/console` (never
/// `//host` or a scheme), else the console's start.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/console/keys?x=1")), "/console/keys?x=1");
        for bad in [
            "//evil.example/console",
            "https://evil.example",
            "/console//evil",
            "/consolex\\@evil",
            "/console/\n",
            "/other",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; keyward_session=x".parse().unwrap());
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, "keyward_session"), Some("x"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
