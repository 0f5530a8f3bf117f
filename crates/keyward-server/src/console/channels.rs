//! Channels: each agent's channels with their public hook ids (to copy), switched on or
//! off, created and deleted — through `http/channels.rs`, so org admins manage every
//! channel and agent admins those of their agents, as in the API.

use super::failure::PageResult;
use super::layout::{
    alert, api_request, confirm, copyable, csrf_field, form_problem, may, notice, page, time,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{channels, resources};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_api::{Channel, ChannelQuery, Resource};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    form: &CreateForm,
    problem: Option<&str>,
    done: Option<&str>,
) -> Result<Response, super::Failure> {
    let list = channels::list_channels(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(ChannelQuery::default()),
    )
    .await?
    .0;
    let agents: Vec<Resource> =
        resources::list_agents(State(state.clone()), signed.principal.clone())
            .await?
            .0;
    let mut writable = HashSet::new();
    for a in &agents {
        if may(
            state,
            signed,
            "channels:write",
            Action::Write,
            Target::Channel { agent: &a.id },
        )
        .await
        {
            writable.insert(a.id.as_str());
        }
    }
    let names: HashMap<&str, &str> = agents
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    let body = html! {
        h1 { "Channels" }
        @match done {
            Some("created") => (notice("The channel is created; its hook id works at once.")),
            Some("enabled") => (notice("The channel is switched on.")),
            Some("disabled") => (notice("The channel is switched off: its hook id answers \u{201c}Channel not found\u{201d} until it is switched on again.")),
            Some("deleted") => (notice("The channel is deleted; its hook id and tokens no longer work.")),
            _ => {}
        }
        p { "Callers name a channel by its hook id, in the " code { "X-Hook-Id" } " header or a " code { "hookId" } " field." }
        @if list.is_empty() {
            p class="muted" { "No channels yet." }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Agent" } th scope="col" { "Hook id" }
                        th scope="col" { "Status" } th scope="col" { "Created" }
                        th scope="col" { span class="visually-hidden" { "Actions" } }
                    } }
                    tbody {
                        @for c in &list { (row(signed, c, &names, writable.contains(c.agent_id.as_str()))) }
                    }
                }
            }
        }
        @if !writable.is_empty() {
            section aria-labelledby="new-channel" {
                h2 id="new-channel" { "New channel" }
                @if let Some(p) = problem { (alert(p)) }
                form class="stack" method="post" action="/console/channels" {
                    (csrf_field(signed))
                    div class="field" {
                        label for="channel-agent" { "Agent" }
                        select id="channel-agent" name="agent" required {
                            @for a in agents.iter().filter(|a| writable.contains(a.id.as_str())) {
                                option value=(a.id) selected[a.id == form.agent] { (a.name) }
                            }
                        }
                    }
                    div class="field" {
                        label for="channel-name" { "Name" }
                        input id="channel-name" type="text" name="name" value=(form.name) required maxlength="100";
                    }
                    div { button type="submit" { "Create channel" } }
                }
            }
        } @else if agents.is_empty() && signed.role.is_org_admin() {
            p { "Channels belong to agents: " a href="/console/resources" { "create an agent" } " first." }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(signed, "Channels", body)).into_response())
}

fn row(signed: &Signed, c: &Channel, names: &HashMap<&str, &str>, manages: bool) -> Markup {
    let agent = names
        .get(c.agent_id.as_str())
        .copied()
        .unwrap_or(c.agent_id.as_str());
    let base = format!("/console/channels/{}", c.id);
    html! {
        tr {
            td { (c.name) }
            td { (agent) }
            td { (copyable(&format!("hook-{}", c.id), &c.hook_id, &format!("Copy the hook id of {}", c.name))) }
            td {
                @if c.enabled { span class="status active" { "on" } }
                @else { span class="status disabled" { "off" } }
            }
            td { (time(c.created_at)) }
            td {
                @if manages {
                    div class="actions" {
                        form method="post" action={ (base) "/enabled" } {
                            (csrf_field(signed))
                            input type="hidden" name="enabled" value=(if c.enabled { "false" } else { "true" });
                            button type="submit" class="secondary" aria-label={ (if c.enabled { "Switch off " } else { "Switch on " }) (c.name) } {
                                (if c.enabled { "Switch off" } else { "Switch on" })
                            }
                        }
                        (confirm(
                            signed,
                            "Delete…",
                            &format!("Delete {}…", c.name),
                            &format!("{base}/delete"),
                            html! { p { "Its hook id stops working and its channel tokens are revoked, for good." } },
                            &format!("Delete {}", c.name),
                        ))
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    render(
        &state,
        &signed,
        &CreateForm::default(),
        None,
        done.done.as_deref(),
    )
    .await
}

/// A new channel through `POST /v1/channels`.
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<CreateForm>,
) -> PageResult {
    let request = api_request(serde_json::json!({ "agent": form.agent, "name": form.name }));
    let created = match request {
        Ok(req) => {
            channels::create_channel(State(state.clone()), signed.principal.clone(), ApiJson(req))
                .await
                .map(drop)
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => Ok(Redirect::to("/console/channels?done=created").into_response()),
        Err(e) => {
            let problem = form_problem(e)?;
            render(&state, &signed, &form, Some(&problem), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

/// On or off through `PATCH /v1/channels/{id}`.
pub async fn set_enabled(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> PageResult {
    let req = api_request(serde_json::json!({ "enabled": form.enabled }))?;
    channels::update_channel(
        State(state),
        signed.principal.clone(),
        Path(id),
        ApiJson(req),
    )
    .await
    .map(drop)?;
    let done = if form.enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("/console/channels?done={done}")).into_response())
}

/// Deletes through `DELETE /v1/channels/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    channels::delete_channel(State(state), signed.principal.clone(), Path(id)).await?;
    Ok(Redirect::to("/console/channels?done=deleted").into_response())
}
