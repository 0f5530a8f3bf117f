//! Members and roles: the organization's people (email, role, agents, joined), inviting
//! someone (a one-time join link for them, shown once) and pending invitations; one
//! member's role, password reset link and removal are on their own page (`member.rs`).
//!
//! Every change goes through the API's handler (`http/members.rs`,
//! `http/invitations.rs`) with the session's principal; the buttons a person sees are
//! the ones `authz` would allow ([`may`]).

use super::failure::{Failure, PageResult};
use super::layout::{alert, api_request, csrf_field, form_problem, may, notice, page, time};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::ApiJson;
use crate::http::{invitations, members, resources};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::Form;
use chrono::{DateTime, Utc};
use keyward_api::{InvitationStatus, InvitationView, Member, Resource};
use keyward_core::Role;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

pub const ROLES: [Role; 4] = [Role::Owner, Role::OrgAdmin, Role::AgentAdmin, Role::Member];

/// How long an invitation link works: (value for the API, label).
const EXPIRIES: &[(&str, &str)] = &[
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("72h", "3 days"),
    ("7d", "7 days"),
    ("30d", "30 days"),
];

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::OrgAdmin => "Org admin",
        Role::AgentAdmin => "Agent admin",
        Role::Member => "Member",
    }
}

/// A one-time link just made, shown once in a dialog that forgets it when closed.
pub struct OneTime {
    pub title: String,
    pub link: String,
    pub expires_at: DateTime<Utc>,
    pub explain: String,
}

pub fn one_time_dialog(shown: &OneTime) -> Markup {
    html! {
        dialog id="one-time" class="one-time" open data-open-on-load data-secret aria-labelledby="one-time-title" {
            h2 id="one-time-title" { (shown.title) }
            p { (shown.explain) }
            p class="warning" { "Copy the link now: it is shown only once. It works once, until " (time(shown.expires_at)) "." }
            div class="secret" {
                label class="visually-hidden" for="one-time-link" { "The one-time link" }
                input id="one-time-link" type="text" readonly value=(shown.link) data-secret-value;
                button type="button" data-copy="one-time-link" aria-label="Copy the link" hidden { "Copy" }
            }
            form method="dialog" {
                button type="submit" class="secondary" data-close-dialog { "Done" }
            }
        }
    }
}

/// Agent checkboxes (for agent admins), shown while the role chosen is `agent_admin`.
pub fn agent_choices(prefix: &str, agents: &[Resource], chosen: &[String]) -> Markup {
    html! {
        fieldset data-when="role=agent_admin" {
            legend { "Agents they administer" }
            @if agents.is_empty() {
                p class="hint" { "This organization has no agents yet." }
            }
            @for a in agents {
                label class="choice" for={ (prefix) "-agent-" (a.id) } {
                    input id={ (prefix) "-agent-" (a.id) } type="checkbox" name="agents" value=(a.id) checked[chosen.contains(&a.id)];
                    (a.name)
                }
            }
            p class="hint" { "Only for agent admins." }
        }
    }
}

pub fn agent_names(ids: &[String], agents: &HashMap<&str, &str>) -> String {
    ids.iter()
        .map(|id| agents.get(id.as_str()).copied().unwrap_or(id.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the members page shows, read through the API's handlers.
struct Listing {
    members: Vec<Member>,
    /// `None` for people who may not read invitations.
    invitations: Option<Vec<InvitationView>>,
    agents: Vec<Resource>,
    /// Roles the person may invite.
    invite_roles: Vec<Role>,
    /// Members the person may manage (change, reset, remove).
    manageable: HashSet<String>,
    revocable: HashSet<String>,
}

async fn listing(state: &AppState, signed: &Signed) -> Result<Listing, Failure> {
    let members = members::list_members(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    let agents = resources::list_agents(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    let reads_invitations = may(
        state,
        signed,
        "members:read",
        Action::Read,
        Target::AdminRecords,
    )
    .await;
    let invitations = if reads_invitations {
        let all = invitations::list_invitations(State(state.clone()), signed.principal.clone())
            .await?
            .0;
        Some(
            all.into_iter()
                .filter(|i| i.status == InvitationStatus::Pending)
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let mut invite_roles = vec![];
    for role in ROLES {
        if may(
            state,
            signed,
            "members:write",
            Action::Create,
            Target::Person(role),
        )
        .await
        {
            invite_roles.push(role);
        }
    }
    let mut manageable = HashSet::new();
    for m in &members {
        if m.user_id != signed.user_id
            && may(
                state,
                signed,
                "members:write",
                Action::Write,
                Target::Person(m.role),
            )
            .await
        {
            manageable.insert(m.user_id.clone());
        }
    }
    let mut revocable = HashSet::new();
    for i in invitations.iter().flatten() {
        if may(
            state,
            signed,
            "members:write",
            Action::Write,
            Target::Person(i.role),
        )
        .await
        {
            revocable.insert(i.id.clone());
        }
    }
    Ok(Listing {
        members,
        invitations,
        agents,
        invite_roles,
        manageable,
        revocable,
    })
}

/// What the invite form holds (empty, or as typed when it comes back with a problem).
#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    expires: String,
}

fn invite_form(signed: &Signed, l: &Listing, form: &InviteForm, problem: Option<&str>) -> Markup {
    let chosen_role = Role::parse(&form.role).unwrap_or(Role::Member);
    let expires = if form.expires.is_empty() {
        "24h"
    } else {
        form.expires.as_str()
    };
    html! {
        section aria-labelledby="invite-title" {
            h2 id="invite-title" { "Invite someone" }
            p class="hint" { "They get a one-time link to join. You never see a password or token of theirs." }
            @if let Some(p) = problem { (alert(p)) }
            form class="stack" method="post" action="/console/members/invite" {
                (csrf_field(signed))
                div class="field" {
                    label for="invite-email" { "Email" }
                    input id="invite-email" type="email" name="email" value=(form.email) autocomplete="off" required;
                }
                div class="field" {
                    label for="invite-role" { "Role" }
                    select id="invite-role" name="role" data-shows {
                        @for r in &l.invite_roles {
                            option value=(r.as_str()) selected[*r == chosen_role] { (role_label(*r)) }
                        }
                    }
                }
                (agent_choices("invite", &l.agents, &form.agents))
                div class="field" {
                    label for="invite-expires" { "Link expires after" }
                    select id="invite-expires" name="expires" {
                        @for (value, label) in EXPIRIES {
                            option value=(value) selected[*value == expires] { (label) }
                        }
                    }
                }
                div { button type="submit" { "Invite" } }
            }
        }
    }
}

fn members_page(
    signed: &Signed,
    l: &Listing,
    done: Option<&str>,
    form: &InviteForm,
    problem: Option<&str>,
    shown: Option<&OneTime>,
) -> Markup {
    let agents: HashMap<&str, &str> = l
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    let body = html! {
        h1 { "Members" }
        @match done {
            Some("removed") => (notice("The member was removed; their keys are revoked and their sessions ended.")),
            Some("revoked") => (notice("The invitation was revoked; its link no longer works.")),
            _ => {}
        }
        @if let Some(shown) = shown { (one_time_dialog(shown)) }
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "People of " (signed.org_name) }
                thead { tr {
                    th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Agents" }
                    th scope="col" { "Joined" } th scope="col" { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for m in &l.members {
                        tr {
                            td { (m.email) @if m.user_id == signed.user_id { " " span class="muted" { "(you)" } } }
                            td { (role_label(m.role)) }
                            td { @if m.agents.is_empty() { span class="muted" { "—" } } @else { (agent_names(&m.agents, &agents)) } }
                            td { (time(m.created_at)) }
                            td {
                                @if l.manageable.contains(&m.user_id) {
                                    a href={ "/console/members/" (m.user_id) } aria-label={ "Manage " (m.email) } { "Manage" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(invitations) = &l.invitations {
            h2 { "Pending invitations" }
            @if invitations.is_empty() {
                p class="muted" { "No invitation is waiting to be accepted." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Invited by" }
                            th scope="col" { "Expires" } th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for i in invitations {
                                tr {
                                    td { (i.email) }
                                    td { (role_label(i.role)) @if !i.agents.is_empty() { " of " (agent_names(&i.agents, &agents)) } }
                                    td { (i.created_by) }
                                    td { (time(i.expires_at)) }
                                    td {
                                        @if l.revocable.contains(&i.id) {
                                            form method="post" action={ "/console/members/invitations/" (i.id) "/revoke" } {
                                                (csrf_field(signed))
                                                button type="submit" class="secondary" aria-label={ "Revoke the invitation of " (i.email) } { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !l.invite_roles.is_empty() {
            (invite_form(signed, l, form, problem))
        }
    };
    page(signed, "Members", body)
}

#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let l = listing(&state, &signed).await?;
    let form = InviteForm::default();
    Ok(members_page(&signed, &l, done.done.as_deref(), &form, None, None).into_response())
}

/// Invites through `POST /v1/invitations`; the answer's link is shown once.
pub async fn invite(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> PageResult {
    let request = api_request(serde_json::json!({
        "email": form.email.trim(),
        "role": form.role,
        "agents": if form.role == Role::AgentAdmin.as_str() { form.agents.clone() } else { vec![] },
        "expires": form.expires,
    }));
    let created = match request {
        Ok(req) => {
            invitations::create_invitation(
                State(state.clone()),
                signed.principal.clone(),
                headers,
                ApiJson(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok((_, created)) => {
            let inv = &created.0.invitation;
            let shown = OneTime {
                title: format!("Invitation for {}", inv.email),
                link: created.0.link.expose_secret().to_owned(),
                expires_at: inv.expires_at,
                explain: format!(
                    "Send this link to {} over a channel you trust. It lets them join {} as {} and set their password.",
                    inv.email,
                    signed.org_name,
                    role_label(inv.role).to_lowercase()
                ),
            };
            let l = listing(&state, &signed).await?;
            let empty = InviteForm::default();
            Ok(members_page(&signed, &l, None, &empty, None, Some(&shown)).into_response())
        }
        Err(e) => {
            let problem = form_problem(e)?;
            let l = listing(&state, &signed).await?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                members_page(&signed, &l, None, &form, Some(&problem), None),
            )
                .into_response())
        }
    }
}

pub async fn revoke_invitation(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    invitations::revoke_invitation(State(state), signed.principal.clone(), Path(id)).await?;
    Ok(Redirect::to("/console/members?done=revoked").into_response())
}
