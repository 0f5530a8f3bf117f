//! One member's page (`/console/members/{user_id}`): their role and agents, a one-time
//! password reset link for them (shown once), and removal — through `http/members.rs`,
//! for those who outrank them (`authz`), never for oneself.

use super::failure::{Failure, PageResult};
use super::layout::{
    alert, api_request, confirm, csrf_field, form_problem, may, notice, page, time,
};
use super::members::{
    agent_choices, agent_names, one_time_dialog, role_label, Done, OneTime, ROLES,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::ApiJson;
use crate::http::{members, resources};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::Role;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    agents: Vec<String>,
}

/// A member's page. `form` is what the role form shows (the member's role, or what was
/// typed), `problem` why it came back.
async fn member_page(
    state: &AppState,
    signed: &Signed,
    user_id: &str,
    form: Option<&RoleForm>,
    problem: Option<&str>,
    done: Option<&str>,
    shown: Option<&OneTime>,
) -> Result<Response, Failure> {
    let member = members::get_member(
        State(state.clone()),
        signed.principal.clone(),
        Path(user_id.to_owned()),
    )
    .await?
    .0;
    let agents = resources::list_agents(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    let own = member.user_id == signed.user_id;
    let manages = !own
        && may(
            state,
            signed,
            "members:write",
            Action::Write,
            Target::Person(member.role),
        )
        .await;
    let mut roles = vec![];
    for role in ROLES {
        if manages
            && may(
                state,
                signed,
                "members:write",
                Action::Write,
                Target::Person(role),
            )
            .await
        {
            roles.push(role);
        }
    }
    // The API makes no reset link for someone of another organization too (the password
    // would open that one as well): say so instead of offering a button that is refused.
    let elsewhere = manages
        && state
            .store
            .list_user_orgs(&member.user_id)
            .await?
            .iter()
            .any(|m| m.organization.id != signed.org_id);
    let chosen = form
        .and_then(|f| Role::parse(&f.role))
        .unwrap_or(member.role);
    let chosen_agents = form
        .map(|f| f.agents.clone())
        .unwrap_or(member.agents.clone());
    let names: HashMap<&str, &str> = agents
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    let path = format!("/console/members/{}", member.user_id);
    let body = html! {
        p { a href="/console/members" { "← Members" } }
        h1 { (member.email) }
        @match done {
            Some("role") => (notice("The role is changed. It applies to their next request.")),
            _ => {}
        }
        @if let Some(shown) = shown { (one_time_dialog(shown)) }
        dl class="facts" {
            dt { "Role" } dd { (role_label(member.role)) }
            @if !member.agents.is_empty() { dt { "Agents" } dd { (agent_names(&member.agents, &names)) } }
            dt { "Joined" } dd { (time(member.created_at)) }
        }
        @if own {
            p class="hint" { "This is you. Another owner or admin changes your role; " a href="/console/account" { "your account" } " changes your password." }
        }
        @if manages {
            section aria-labelledby="role-title" {
                h2 id="role-title" { "Role and agents" }
                @if let Some(p) = problem { (alert(p)) }
                form class="stack" method="post" action={ (path) "/role" } {
                    (csrf_field(signed))
                    div class="field" {
                        label for="member-role" { "Role" }
                        select id="member-role" name="role" data-shows {
                            @for r in &roles {
                                option value=(r.as_str()) selected[*r == chosen] { (role_label(*r)) }
                            }
                        }
                    }
                    (agent_choices("member", &agents, &chosen_agents))
                    div { button type="submit" { "Change role" } }
                }
            }
            section aria-labelledby="reset-title" {
                h2 id="reset-title" { "Password" }
                @if elsewhere {
                    p class="hint" { "They belong to another organization too, so no link from here may set their password: they change it on their account page, signed in." }
                } @else {
                    p { "Forgot their password, or never set one? Make a one-time link for them; using it signs out all their sessions." }
                    form method="post" action={ (path) "/password-link" } {
                        (csrf_field(signed))
                        button type="submit" class="secondary" { "Password reset link" }
                    }
                }
            }
            section aria-labelledby="remove-title" {
                h2 id="remove-title" { "Remove from " (signed.org_name) }
                (confirm(
                    signed,
                    "Remove…",
                    &format!("Remove {}…", member.email),
                    &format!("{path}/remove"),
                    html! { p { "Their keys in this organization are revoked at once and their console sessions here end. They can be invited again." } },
                    &format!("Remove {}", member.email),
                ))
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(signed, &member.email, body)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(user_id): Path<String>,
    Query(done): Query<Done>,
) -> PageResult {
    member_page(
        &state,
        &signed,
        &user_id,
        None,
        None,
        done.done.as_deref(),
        None,
    )
    .await
}

/// A new role (and agents) through `PATCH /v1/members/{user_id}`.
pub async fn change_role(
    State(state): State<AppState>,
    signed: Signed,
    Path(user_id): Path<String>,
    Form(form): Form<RoleForm>,
) -> PageResult {
    let agents = if form.role == Role::AgentAdmin.as_str() {
        form.agents.clone()
    } else {
        vec![]
    };
    let request = api_request(serde_json::json!({ "role": form.role, "agents": agents }));
    let changed = match request {
        Ok(req) => {
            members::update_member(
                State(state.clone()),
                signed.principal.clone(),
                Path(user_id.clone()),
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(_) => Ok(Redirect::to(&format!("/console/members/{user_id}?done=role")).into_response()),
        Err(e) => {
            let problem = form_problem(e)?;
            member_page(
                &state,
                &signed,
                &user_id,
                Some(&form),
                Some(&problem),
                None,
                None,
            )
            .await
        }
    }
}

/// Removes through `DELETE /v1/members/{user_id}`.
pub async fn remove(
    State(state): State<AppState>,
    signed: Signed,
    Path(user_id): Path<String>,
) -> PageResult {
    members::remove_member(State(state), signed.principal.clone(), Path(user_id)).await?;
    Ok(Redirect::to("/console/members?done=removed").into_response())
}

/// A one-time password link for the member through
/// `POST /v1/members/{user_id}/password-link`, shown once.
pub async fn password_link(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> PageResult {
    let (_, created) = members::create_password_link(
        State(state.clone()),
        signed.principal.clone(),
        headers,
        Path(user_id.clone()),
        crate::extract::ApiJsonOrEmpty(Default::default()),
    )
    .await?;
    let member = members::get_member(
        State(state.clone()),
        signed.principal.clone(),
        Path(user_id.clone()),
    )
    .await?
    .0;
    let shown = OneTime {
        title: format!("Password link for {}", member.email),
        link: created.0.link.expose_secret().to_owned(),
        expires_at: created.0.expires_at,
        explain: format!(
            "Send this link to {} over a channel you trust. It sets a new password for them; older links stop working.",
            member.email
        ),
    };
    member_page(&state, &signed, &user_id, None, None, None, Some(&shown)).await
}
