//! Accepting an invitation in the browser (`/console/join?code=kw_inv_…`, the link an
//! admin was shown once): the page names the organization and the role. A person new
//! to Keyward (or one who is a member nowhere any more) sets a password there and is
//! signed in; a person with an account accepts signed in, with their session, which
//! proves who they are. Redeeming is the API's own (`http::invitations::redeem`), so the
//! rules are the same as `POST /v1/invitations/accept`; no first token is made here.

use super::failure::{Failure, PageResult};
use super::guard::presession;
use super::layout::{alert, bare, csrf_value};
use super::members::role_label;
use super::signin::{check_password, start_session, Proof};
use super::visitor::Signed;
use crate::errors::ApiError;
use crate::http::invitations::{self, FirstCredential, Peer};
use crate::people::password;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_api::ErrorCode;
use keyward_core::invite::InviteCode;
use keyward_store::Invitation;
use maud::{html, Markup};
use serde::Deserialize;

const TITLE: &str = "Join an organization";

#[derive(Deserialize, Default)]
pub struct CodeQuery {
    code: Option<String>,
}

/// How the visitor accepts this invitation.
enum Way {
    /// New here, or a member nowhere any more: by setting a password.
    Password,
    /// Signed in as the invited person: with the session.
    Session,
    /// The invited person has an account and is not signed in as them.
    SignInFirst,
    /// A member nowhere any more who has a password: they prove it is them with it
    /// (the invitation alone must not let its holder set someone's password).
    CurrentPassword,
}

/// An invitation that can be accepted now, with its organization's name.
struct Open {
    code: InviteCode,
    invitation: Invitation,
    org_name: String,
}

/// What a visitor sees for a code that cannot be used, and with which status.
fn closed(e: &ApiError) -> Option<(StatusCode, &'static str)> {
    Some(match e {
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "This invitation link is not valid."),
        ApiError::Conflict(ErrorCode::InvitationUsed, _) => (
            StatusCode::CONFLICT,
            "This invitation was already accepted. If it was you, sign in.",
        ),
        ApiError::Gone(ErrorCode::InvitationExpired, _) => (
            StatusCode::GONE,
            "This invitation has expired or was revoked. Ask whoever invited you for a new one.",
        ),
        ApiError::Conflict(ErrorCode::AlreadyMember, _) => (
            StatusCode::CONFLICT,
            "You are already a member of this organization.",
        ),
        _ => return None,
    })
}

fn closed_page(status: StatusCode, problem: &str) -> Response {
    (
        status,
        bare(
            TITLE,
            html! {
                h1 { (TITLE) }
                (alert(problem))
                p { a href="/console/signin" { "Sign in" } }
            },
        ),
    )
        .into_response()
}

/// The invitation of `code`, or the page that says why it cannot be used.
async fn open(state: &AppState, code: Option<&str>) -> Result<Result<Open, Response>, Failure> {
    let Some(code) = code.and_then(|c| InviteCode::parse(c.trim()).ok()) else {
        return Ok(Err(closed_page(
            StatusCode::NOT_FOUND,
            "This link is not complete. Copy the whole link into the address bar.",
        )));
    };
    let invitation = match invitations::pending_invitation(state, &code, state.clock.now()).await {
        Ok(i) => i,
        Err(e) => {
            return match closed(&e) {
                Some((status, why)) => Ok(Err(closed_page(status, why))),
                None => Err(Failure(e)),
            }
        }
    };
    let org_name = state.store.get_org(&invitation.org_id).await?.name;
    Ok(Ok(Open {
        code,
        invitation,
        org_name,
    }))
}

async fn way(state: &AppState, open: &Open, signed: Option<&Signed>) -> Result<Way, Failure> {
    let Some(user_id) = state
        .store
        .find_user_by_email(&open.invitation.email)
        .await?
    else {
        return Ok(Way::Password);
    };
    if signed.is_some_and(|s| s.user_id == user_id) {
        return Ok(Way::Session);
    }
    // A member nowhere any more comes back with the invitation alone (the store checks
    // this again when accepting).
    if state.store.list_user_orgs(&user_id).await?.is_empty() {
        let has_password = state
            .store
            .find_credentials(&open.invitation.email)
            .await?
            .is_some_and(|c| c.password_hash.is_some());
        return Ok(if has_password {
            Way::CurrentPassword
        } else {
            Way::Password
        });
    }
    Ok(Way::SignInFirst)
}

fn join_page(
    csrf: &str,
    open: &Open,
    way: &Way,
    signed: Option<&Signed>,
    problem: Option<&str>,
) -> Markup {
    let inv = &open.invitation;
    let next = format!("/console/join?code={}", open.code.expose_secret());
    let signin = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    html! {
        h1 { "Join " (open.org_name) }
        p { "You are invited to " strong { (open.org_name) } " as " strong { (role_label(inv.role).to_lowercase()) } ", by " (inv.created_by) "." }
        p { "For " strong { (inv.email) } "." }
        @if let Some(p) = problem { (alert(p)) }
        @match way {
            Way::Password => {
                @if let Some(s) = signed {
                    p class="hint" { "You are signed in as " (s.email) "; joining signs you in as " (inv.email) " instead." }
                }
                p { "Choose a password for the console. Use at least " (password::MIN_CHARS) " characters; a passphrase of several words is easiest to remember." }
                form class="stack" method="post" action="/console/join" {
                    (csrf_value(csrf))
                    input type="hidden" name="code" value=(open.code.expose_secret());
                    input type="email" name="email" value=(inv.email) autocomplete="username" hidden readonly;
                    div class="field" {
                        label for="password" { "New password" }
                        input id="password" type="password" name="password" autocomplete="new-password" minlength=(password::MIN_CHARS) required autofocus;
                    }
                    div class="field" {
                        label for="repeat" { "Repeat password" }
                        input id="repeat" type="password" name="repeat" autocomplete="new-password" required;
                    }
                    button type="submit" { "Join" }
                }
            }
            Way::CurrentPassword => {
                p { "You already have a Keyward account. Enter its password to join " (open.org_name) "." }
                form class="stack" method="post" action="/console/join" {
                    (csrf_value(csrf))
                    input type="hidden" name="code" value=(open.code.expose_secret());
                    input type="email" name="email" value=(inv.email) autocomplete="username" hidden readonly;
                    div class="field" {
                        label for="current" { "Your password" }
                        input id="current" type="password" name="current" autocomplete="current-password" required autofocus;
                    }
                    button type="submit" { "Join" }
                }
            }
            Way::Session => {
                form class="stack" method="post" action="/console/join" {
                    (csrf_value(csrf))
                    input type="hidden" name="code" value=(open.code.expose_secret());
                    button type="submit" { "Join" }
                }
            }
            Way::SignInFirst => {
                p { "You already have a Keyward account. Sign in as " (inv.email) " to accept: your account then joins " (open.org_name) "." }
                @if let Some(s) = signed {
                    p class="hint" { "You are signed in as " (s.email) ". Sign out first, then open this link again." }
                } @else {
                    p { a class="button" href={ "/console/signin?" (signin) } { "Sign in to accept" } }
                }
            }
        }
    }
}

/// The page with the CSRF token its form needs: the session's, or a pre-session one
/// (with the cookie that carries it) for a visitor who is not signed in.
fn respond(
    state: &AppState,
    headers: &HeaderMap,
    signed: Option<&Signed>,
    status: StatusCode,
    body: impl FnOnce(&str) -> Markup,
) -> Response {
    if let Some(s) = signed {
        return (status, bare(TITLE, body(&s.csrf))).into_response();
    }
    let (csrf, set) = presession(headers, state.policy.console.secure_cookies);
    let mut response = (status, bare(TITLE, body(&csrf))).into_response();
    if let Some(set) = set {
        response.headers_mut().append(header::SET_COOKIE, set);
    }
    response
}

pub async fn show(
    State(state): State<AppState>,
    signed: Option<Signed>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> PageResult {
    let open = match open(&state, q.code.as_deref()).await? {
        Ok(open) => open,
        Err(page) => return Ok(page),
    };
    let way = way(&state, &open, signed.as_ref()).await?;
    Ok(respond(
        &state,
        &headers,
        signed.as_ref(),
        StatusCode::OK,
        |csrf| join_page(csrf, &open, &way, signed.as_ref(), None),
    ))
}

#[derive(Deserialize)]
pub struct JoinForm {
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    current: String,
}

pub async fn accept(
    State(state): State<AppState>,
    signed: Option<Signed>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Form(form): Form<JoinForm>,
) -> PageResult {
    let open = match open(&state, Some(&form.code)).await? {
        Ok(open) => open,
        Err(page) => return Ok(page),
    };
    let way = way(&state, &open, signed.as_ref()).await?;
    let again = |problem: &str| {
        respond(
            &state,
            &headers,
            signed.as_ref(),
            StatusCode::UNPROCESSABLE_ENTITY,
            |csrf| join_page(csrf, &open, &way, signed.as_ref(), Some(problem)),
        )
    };
    let org_id = open.invitation.org_id.clone();
    match &way {
        Way::SignInFirst => Ok(again(
            "Sign in as the invited person first; then accept the invitation.",
        )),
        Way::CurrentPassword => {
            let email = open.invitation.email.clone();
            let ip = state
                .policy
                .console
                .client_ip(peer.map(|p| p.ip()), &headers);
            let address = ip
                .map(crate::people::throttle::address_key)
                .unwrap_or_default();
            let now = state.clock.now();
            match check_password(&state, Some(&email), &address, form.current, now).await? {
                Proof::Right(_) => {}
                Proof::Wrong => return Ok(again("That password is not right.")),
                Proof::Throttled(throttled) => {
                    let again = |status: StatusCode, problem: &str| {
                        respond(&state, &headers, signed.as_ref(), status, |csrf| {
                            join_page(csrf, &open, &way, signed.as_ref(), Some(problem))
                        })
                    };
                    return Ok(super::signin::too_many(again, throttled, now));
                }
            }
            let (accepted, _) =
                match invitations::redeem(&state, None, peer, &open.code, FirstCredential::Nothing)
                    .await
                {
                    Ok(done) => done,
                    Err(e) => return refused(e),
                };
            let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
            start_session(
                &state,
                &headers,
                &accepted.member.user_id,
                &org_id,
                &ip,
                now,
                "/console",
            )
            .await
        }
        Way::Session => {
            let Some(s) = signed.as_ref() else {
                return Ok(again("Sign in first."));
            };
            let redeemed = invitations::redeem(
                &state,
                Some(&s.principal),
                peer,
                &open.code,
                FirstCredential::Nothing,
            )
            .await;
            if let Err(e) = redeemed {
                return refused(e);
            }
            state
                .store
                .switch_session_org(&s.session_id, &org_id)
                .await?;
            Ok(Redirect::to("/console").into_response())
        }
        Way::Password => {
            let phc =
                match password::choose(form.password, &form.repeat, &open.invitation.email).await {
                    Ok(phc) => phc,
                    Err(password::NotChosen::Hashing) => return Err(ApiError::Internal.into()),
                    Err(why) => return Ok(again(&why.to_string())),
                };
            let (accepted, _) = match invitations::redeem(
                &state,
                None,
                peer,
                &open.code,
                FirstCredential::Password(phc),
            )
            .await
            {
                Ok(done) => done,
                Err(ApiError::Conflict(ErrorCode::IdentityRequired, _)) => {
                    return Ok(again(
                        "You already have a Keyward account: sign in first, then open this link again.",
                    ));
                }
                Err(e) => return refused(e),
            };
            let address = peer.map(|p| p.ip().to_string()).unwrap_or_default();
            start_session(
                &state,
                &headers,
                &accepted.member.user_id,
                &org_id,
                &address,
                state.clock.now(),
                "/console",
            )
            .await
        }
    }
}

/// An acceptance the store refused: the page for a code that cannot be used, or the
/// error page.
fn refused(e: ApiError) -> PageResult {
    match closed(&e) {
        Some((status, why)) => Ok(closed_page(status, why)),
        None => Err(Failure(e)),
    }
}
