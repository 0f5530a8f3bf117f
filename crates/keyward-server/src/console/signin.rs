//! Signing in and out: the sign-in form (email and password, throttled per account and
//! per address, one answer for an unknown email and a wrong password), the one-time
//! password link, and where sessions begin and end.

use super::failure::{Failure, PageResult};
use super::guard::presession;
use super::layout::{alert, bare, csrf_value};
use super::visitor::{safe_next, Signed};
use crate::http::invitations::Peer;
use crate::people::password::{self, Password, Verified};
use crate::people::session as cookies;
use crate::people::throttle;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{DateTime, Utc};
use keyward_core::invite::{PasswordLinkCode, SessionToken};
use keyward_core::{ids, Email};
use keyward_store::{Conflict, NewSession, StoreError};
use maud::{html, Markup};
use serde::Deserialize;

/// The one answer for an unknown email, a wrong password, or a person without a
/// password yet: nothing tells a guesser which it was.
pub const WRONG: &str = "That email and password do not match an account.";

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

fn signin_page(csrf: &str, email: &str, next: &str, problem: Option<&str>) -> Markup {
    bare(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(p) = problem { (alert(p)) }
            form class="stack" method="post" action="/console/signin" {
                (csrf_value(csrf))
                input type="hidden" name="next" value=(next);
                div class="field" {
                    label for="email" { "Email" }
                    input id="email" type="email" name="email" value=(email) autocomplete="username" required autofocus;
                }
                div class="field" {
                    label for="password" { "Password" }
                    input id="password" type="password" name="password" autocomplete="current-password" required;
                }
                button type="submit" { "Sign in" }
            }
            p class="hint" { "Forgot your password? An owner or admin of your organization can give you a new link." }
        },
    )
}

/// A page before sign-in, with the pre-session cookie its form needs.
fn with_presession(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    page: impl FnOnce(&str) -> Markup,
) -> Response {
    let (csrf, set) = presession(headers, state.policy.console.secure_cookies);
    let mut response = (status, page(&csrf)).into_response();
    if let Some(set) = set {
        response.headers_mut().append(header::SET_COOKIE, set);
    }
    response
}

pub async fn show(
    State(state): State<AppState>,
    signed: Option<Signed>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if signed.is_some() {
        return Redirect::to(&next).into_response();
    }
    with_presession(&state, &headers, StatusCode::OK, |csrf| {
        signin_page(csrf, "", &next, None)
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Form(form): Form<SignInForm>,
) -> PageResult {
    let now = state.clock.now();
    let next = safe_next(form.next.as_deref());
    let typed = form.email.trim().to_lowercase();
    let console = &state.policy.console;
    let ip = console.client_ip(peer.map(|p| p.ip()), &headers);
    let address = ip.map(throttle::address_key).unwrap_or_default();
    // What is not an email is no account: it is counted for the address only, and is
    // not looked up (nor kept: the throttle's keys stay short).
    let email = Email::parse(&typed).ok().map(|e| e.to_string());
    let shown = if email.is_some() { typed.as_str() } else { "" };
    let again = |status: StatusCode, problem: &str| {
        with_presession(&state, &headers, status, |csrf| {
            signin_page(csrf, shown, &next, Some(problem))
        })
    };
    let credentials =
        match check_password(&state, email.as_deref(), &address, form.password, now).await? {
            Proof::Right(credentials) => credentials,
            Proof::Wrong => return Ok(again(StatusCode::UNAUTHORIZED, WRONG)),
            Proof::Throttled(throttled) => return Ok(too_many(again, throttled, now)),
        };
    let memberships = state.store.list_user_orgs(&credentials.user_id).await?;
    let Some(first) = memberships.first() else {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "Your account is not a member of any organization any more.",
        ));
    };
    let org_id = first.organization.id.clone();
    let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
    start_session(
        &state,
        &headers,
        &credentials.user_id,
        &org_id,
        &ip,
        now,
        &next,
    )
    .await
}

/// The answer to a throttled attempt: 429, how long to wait, and `Retry-After`.
pub fn too_many(
    again: impl FnOnce(StatusCode, &str) -> Response,
    throttled: throttle::Throttled,
    now: DateTime<Utc>,
) -> Response {
    let minutes = (throttled.retry_after_secs(now) + 59) / 60;
    let mut r = again(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "Too many sign-in attempts for this account or from this address. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ),
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        throttled.retry_after_secs(now).max(1).into(),
    );
    r
}

/// What checking a password typed for an account found.
pub enum Proof {
    Right(keyward_store::Credentials),
    /// Wrong password, unknown email, or an account without a password.
    Wrong,
    Throttled(throttle::Throttled),
}

/// Checks `password` for the account of `email` (`None`: what was typed is no email,
/// so no account) from `address`, counted by the sign-in throttle before the check and
/// forgotten by it when right: every page that asks for a password (sign-in, the
/// account's current password, joining with an existing account) goes through here.
pub async fn check_password(
    state: &AppState,
    email: Option<&str>,
    address: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<Proof, Failure> {
    if let Err(throttled) = state.throttle.attempt(email, address, now) {
        return Ok(Proof::Throttled(throttled));
    }
    let credentials = match email {
        Some(email) => state.store.find_credentials(email).await?,
        None => None,
    };
    let stored = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let verified = password::verify(stored, Password::new(password)).await;
    let (Verified::Right { .. }, Some(credentials)) = (verified, credentials) else {
        return Ok(Proof::Wrong);
    };
    state.throttle.succeeded(&credentials.email, address);
    Ok(Proof::Right(credentials))
}

/// Stores a new session for the person in `org_id` and answers with its cookie and a
/// redirect to `to`.
pub async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    org_id: &str,
    address: &str,
    now: DateTime<Utc>,
    to: &str,
) -> PageResult {
    let settings = &state.policy.console;
    let token = SessionToken::generate();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(200).collect());
    state
        .store
        .create_session(NewSession {
            id: ids::new_id("ses"),
            token_hash: token.hash(),
            user_id: user_id.to_owned(),
            org_id: org_id.to_owned(),
            created_at: now,
            idle_timeout: settings.timeouts.idle,
            absolute_expires_at: settings.timeouts.absolute_end(now),
            user_agent,
            ip: (!address.is_empty()).then(|| address.to_owned()),
        })
        .await?;
    let cookie = cookies::set_cookie(&token, settings.secure_cookies, settings.timeouts.absolute);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, to.to_owned()),
        ],
    )
        .into_response())
}

pub async fn sign_out(State(state): State<AppState>, signed: Signed) -> PageResult {
    let now = state.clock.now();
    state
        .store
        .revoke_session(&signed.user_id, &signed.session_id, now)
        .await?;
    let secure = state.policy.console.secure_cookies;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookies::clear_cookie(secure)),
            (header::LOCATION, "/console/signin".to_owned()),
        ],
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct CodeQuery {
    code: Option<String>,
}

fn password_page(csrf: &str, code: &str, email: &str, problem: Option<&str>) -> Markup {
    bare(
        "Set your password",
        html! {
            h1 { "Set your password" }
            p { "For " strong { (email) } ". Use at least " (password::MIN_CHARS) " characters; a passphrase of several words is easiest to remember." }
            @if let Some(p) = problem { (alert(p)) }
            form class="stack" method="post" action="/console/password" {
                (csrf_value(csrf))
                input type="hidden" name="code" value=(code);
                input type="email" name="email" value=(email) autocomplete="username" hidden readonly;
                div class="field" {
                    label for="password" { "New password" }
                    input id="password" type="password" name="password" autocomplete="new-password" minlength=(password::MIN_CHARS) required autofocus;
                }
                div class="field" {
                    label for="repeat" { "Repeat password" }
                    input id="repeat" type="password" name="repeat" autocomplete="new-password" required;
                }
                button type="submit" { "Set password" }
            }
        },
    )
}

fn link_problem(problem: &str) -> Markup {
    bare(
        "Set your password",
        html! {
            h1 { "Set your password" }
            (alert(problem))
            p { "Ask an owner or admin of your organization for a new link, or " a href="/console/signin" { "sign in" } "." }
        },
    )
}

/// Why a link cannot be used now, if it cannot.
async fn link_state(
    state: &AppState,
    code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<(PasswordLinkCode, String), &'static str>, Failure> {
    let Some(code) = code.and_then(|c| PasswordLinkCode::parse(c).ok()) else {
        return Ok(Err(
            "This link is not complete. Copy the whole link into the address bar.",
        ));
    };
    let Some(link) = state.store.find_password_link(&code.hash()).await? else {
        return Ok(Err("This link is not valid."));
    };
    if link.used_at.is_some() {
        return Ok(Err(
            "This link was already used, or a newer link replaced it.",
        ));
    }
    if link.expires_at <= now {
        return Ok(Err("This link has expired."));
    }
    let Some(member) = state.store.get_member(&link.org_id, &link.user_id).await? else {
        return Ok(Err(
            "This link's account is no longer a member of the organization.",
        ));
    };
    Ok(Ok((code, member.email)))
}

pub async fn show_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> PageResult {
    let now = state.clock.now();
    Ok(match link_state(&state, q.code.as_deref(), now).await? {
        Ok((code, email)) => with_presession(&state, &headers, StatusCode::OK, |csrf| {
            password_page(csrf, code.expose_secret(), &email, None)
        }),
        Err(problem) => (StatusCode::GONE, link_problem(problem)).into_response(),
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    code: String,
    password: String,
    repeat: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let now = state.clock.now();
    let (code, email) = match link_state(&state, Some(&form.code), now).await? {
        Ok(found) => found,
        Err(problem) => return Ok((StatusCode::GONE, link_problem(problem)).into_response()),
    };
    let again = |problem: &str| {
        with_presession(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
            password_page(csrf, code.expose_secret(), &email, Some(problem))
        })
    };
    let phc = match password::choose(form.password, &form.repeat, &email).await {
        Ok(phc) => phc,
        Err(password::NotChosen::Hashing) => return Err(crate::errors::ApiError::Internal.into()),
        Err(why) => return Ok(again(&why.to_string())),
    };
    let address = state
        .policy
        .console
        .client_ip(peer.map(|p| p.ip()), &headers)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let redeemed = match state
        .store
        .redeem_password_link(&code.hash(), &phc, now, Some(&address))
        .await
    {
        Ok(r) => r,
        Err(StoreError::Conflict(Conflict::LinkUsed)) => {
            return Ok((
                StatusCode::CONFLICT,
                link_problem("This link was already used, or a newer link replaced it."),
            )
                .into_response())
        }
        Err(StoreError::Conflict(Conflict::LinkExpired)) => {
            return Ok((StatusCode::GONE, link_problem("This link has expired.")).into_response())
        }
        Err(e) => return Err(e.into()),
    };
    start_session(
        &state,
        &headers,
        &redeemed.user_id,
        &redeemed.org_id,
        &address,
        now,
        "/console",
    )
    .await
}
