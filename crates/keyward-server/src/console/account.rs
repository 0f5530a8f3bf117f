//! The person's own account: their sessions (sign out one, or everywhere else), their
//! password, and which organization the console acts in.

use super::failure::{Failure, PageResult};
use super::layout::{alert, csrf_field, notice, page, time};
use super::signin::{check_password, start_session, Proof};
use super::visitor::Signed;
use crate::errors::ApiError;
use crate::http::invitations::Peer;
use crate::people::links;
use crate::people::password;
use crate::people::throttle;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::Form;
use keyward_store::PasswordPurpose;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn sessions(
    State(state): State<AppState>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let now = state.clock.now();
    let sessions: Vec<_> = state
        .store
        .list_sessions(&signed.user_id)
        .await?
        .into_iter()
        .filter(|s| s.is_active_at(now))
        .collect();
    let others = sessions
        .iter()
        .filter(|s| s.id != signed.session_id)
        .count();
    let body = html! {
        h1 { "Sessions" }
        @match done.done.as_deref() {
            Some("others") => (notice("Signed out everywhere else.")),
            Some("one") => (notice("That session is signed out.")),
            _ => {}
        }
        p { "Where you are signed in to the console. Signing a session out ends it at once, on every server." }
        div class="table-wrap" {
            table {
                thead { tr { th scope="col" { "Browser" } th scope="col" { "Address" } th scope="col" { "Signed in" } th scope="col" { "Last active" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                tbody {
                    @for s in &sessions {
                        tr {
                            td class="ua" { (browser_name(s.user_agent.as_deref())) }
                            td { (s.ip.as_deref().unwrap_or("unknown")) }
                            td { (time(s.created_at)) }
                            td { (time(s.last_seen_at)) }
                            td {
                                @if s.id == signed.session_id {
                                    strong { "This session" }
                                } @else {
                                    form method="post" action={ "/console/sessions/" (s.id) "/revoke" } {
                                        (csrf_field(&signed))
                                        button type="submit" class="secondary" aria-label={ "Sign out the session from " (s.ip.as_deref().unwrap_or("unknown")) " signed in " (s.created_at.format("%Y-%m-%d %H:%M")) } { "Sign out" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action="/console/sessions/revoke-others" {
            (csrf_field(&signed))
            p { button type="submit" class="danger" disabled[others == 0] { "Sign out everywhere else" } }
        }
    };
    Ok(page(&signed, "Sessions", body).into_response())
}

pub async fn revoke_one(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let now = state.clock.now();
    if id == signed.session_id
        || !state
            .store
            .revoke_session(&signed.user_id, &id, now)
            .await?
    {
        return Err(Failure(ApiError::NotFound("session")));
    }
    Ok(Redirect::to("/console/sessions?done=one").into_response())
}

pub async fn revoke_others(State(state): State<AppState>, signed: Signed) -> PageResult {
    let now = state.clock.now();
    state
        .store
        .revoke_sessions(&signed.user_id, Some(&signed.session_id), now)
        .await?;
    Ok(Redirect::to("/console/sessions?done=others").into_response())
}

#[derive(Deserialize)]
pub struct SwitchForm {
    org: String,
}

/// Acts in another of the person's organizations from now on.
pub async fn switch_org(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<SwitchForm>,
) -> PageResult {
    if !signed.orgs.iter().any(|(id, _)| *id == form.org) {
        return Err(Failure(ApiError::NotFound("organization")));
    }
    state
        .store
        .switch_session_org(&signed.session_id, &form.org)
        .await?;
    Ok(Redirect::to("/console").into_response())
}

fn account_page(signed: &Signed, problem: Option<&str>, done: bool) -> maud::Markup {
    let body = html! {
        h1 { "Your account" }
        @if done { (notice("Your password is changed. Your other sessions were signed out.")) }
        dl {
            dt { "Email" } dd { (signed.email) }
            dt { "Role in " (signed.org_name) } dd { (signed.role.as_str()) }
        }
        h2 { "Change your password" }
        @if let Some(p) = problem { (alert(p)) }
        form class="stack" method="post" action="/console/account/password" {
            (csrf_field(signed))
            input type="email" name="email" value=(signed.email) autocomplete="username" hidden readonly;
            div class="field" {
                label for="current" { "Current password" }
                input id="current" type="password" name="current" autocomplete="current-password" required;
            }
            div class="field" {
                label for="password" { "New password" }
                input id="password" type="password" name="password" autocomplete="new-password" minlength=(password::MIN_CHARS) required;
            }
            div class="field" {
                label for="repeat" { "Repeat password" }
                input id="repeat" type="password" name="repeat" autocomplete="new-password" required;
            }
            button type="submit" { "Change password" }
        }
        p { a href="/console/sessions" { "Your sessions" } }
    };
    page(signed, "Your account", body)
}

pub async fn account(signed: Signed, Query(done): Query<Done>) -> PageResult {
    Ok(account_page(&signed, None, done.done.is_some()).into_response())
}

#[derive(Deserialize)]
pub struct ChangeForm {
    current: String,
    password: String,
    repeat: String,
}

/// A new password for the signed-in person, who proves the current one. Like a reset,
/// it signs out every session; this one starts again at once.
pub async fn change_password(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Peer(peer): Peer,
    Form(form): Form<ChangeForm>,
) -> PageResult {
    let now = state.clock.now();
    let again = |problem: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&signed, Some(problem), false),
        )
            .into_response()
    };
    let ip = state
        .policy
        .console
        .client_ip(peer.map(|p| p.ip()), &headers);
    let address = ip.map(throttle::address_key).unwrap_or_default();
    // Guessing the current password is guessing a password: the sign-in throttle
    // counts it, so a stolen session cannot learn the password at argon2's pace.
    match check_password(&state, Some(&signed.email), &address, form.current, now).await? {
        Proof::Right(c) if c.user_id == signed.user_id => {}
        Proof::Right(_) | Proof::Wrong => return Ok(again("Your current password is not right.")),
        Proof::Throttled(throttled) => {
            let again = |status: StatusCode, problem: &str| {
                (status, account_page(&signed, Some(problem), false)).into_response()
            };
            return Ok(super::signin::too_many(again, throttled, now));
        }
    }
    let phc = match password::choose(form.password, &form.repeat, &signed.email).await {
        Ok(phc) => phc,
        Err(password::NotChosen::Hashing) => return Err(ApiError::Internal.into()),
        Err(why) => return Ok(again(&why.to_string())),
    };
    let address = ip.map(|ip| ip.to_string()).unwrap_or_default();
    // A link issued and redeemed at once: one way to set a password, audited, which
    // ends every session of the person.
    let code = links::issue(
        state.store.as_ref(),
        links::Issue {
            user_id: &signed.user_id,
            org_id: &signed.org_id,
            purpose: PasswordPurpose::Reset,
            at: now,
            lifetime: chrono::Duration::minutes(1),
            actor: signed.principal.actor(),
            source_ip: Some(address.clone()),
        },
    )
    .await?;
    state
        .store
        .redeem_password_link(&code.hash(), &phc, now, Some(&address))
        .await?;
    start_session(
        &state,
        &headers,
        &signed.user_id,
        &signed.org_id,
        &address,
        now,
        "/console/account?done=1",
    )
    .await
}

/// A short name for a user agent ("Chrome on Linux"), not the whole string.
fn browser_name(ua: Option<&str>) -> String {
    let Some(ua) = ua else {
        return "unknown".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        _ => ua.chars().take(40).collect(),
    }
}
