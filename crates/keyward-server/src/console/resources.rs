//! Workspaces and Agents: listed, created, renamed and deleted through
//! `http/resources.rs`. Everyone in the organization sees them (to choose scopes); only
//! owners and org admins change them, and only they see the forms.

use super::failure::{Failure, PageResult};
use super::layout::{
    alert, api_request, confirm, csrf_field, form_problem, may, notice, page, time,
};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::errors::ApiError;
use crate::extract::ApiJson;
use crate::http::resources as api;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_api::{NameRequest, Resource};
use maud::{html, Markup};
use serde::Deserialize;

/// Workspaces or agents, as their path segment names them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Workspaces,
    Agents,
}

impl Kind {
    fn parse(segment: &str) -> Result<Kind, Failure> {
        match segment {
            "workspaces" => Ok(Kind::Workspaces),
            "agents" => Ok(Kind::Agents),
            _ => Err(Failure(ApiError::NotFound("page"))),
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Kind::Workspaces => "workspaces",
            Kind::Agents => "agents",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Kind::Workspaces => "workspace",
            Kind::Agents => "agent",
        }
    }

    fn permission(self) -> &'static str {
        match self {
            Kind::Workspaces => "workspaces:write",
            Kind::Agents => "agents:write",
        }
    }
}

/// A form that came back with a problem: which list, which item (none for a new one),
/// what was typed and why.
struct Again<'a> {
    kind: Kind,
    id: Option<&'a str>,
    /// What was typed (nothing for a deletion).
    name: Option<&'a str>,
    problem: &'a str,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    again: Option<&Again<'_>>,
    done: Option<&str>,
) -> Result<Response, Failure> {
    let workspaces = api::list_workspaces(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    let agents = api::list_agents(State(state.clone()), signed.principal.clone())
        .await?
        .0;
    // Creating either is acting on the organization; renaming and deleting one is acting
    // on it, which the same role allows (the scope of a session is the whole organization).
    let manages_ws = may(
        state,
        signed,
        Kind::Workspaces.permission(),
        Action::Write,
        Target::Organization,
    )
    .await;
    let manages_agents = may(
        state,
        signed,
        Kind::Agents.permission(),
        Action::Write,
        Target::Organization,
    )
    .await;
    let body = html! {
        h1 { "Workspaces and Agents" }
        @if let Some(d) = done {
            @match d {
                "created" => (notice("Created.")),
                "renamed" => (notice("Renamed.")),
                "deleted" => (notice("Deleted.")),
                _ => {}
            }
        }
        (section(signed, Kind::Workspaces, "Workspaces", "Keys can be scoped to a list of workspaces; worker keys are bound to one.", &workspaces, manages_ws, again))
        (section(signed, Kind::Agents, "Agents", "Agents (bots) own channels; keys can be scoped to one agent.", &agents, manages_agents, again))
    };
    let status = if again.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page(signed, "Workspaces and Agents", body)).into_response())
}

fn section(
    signed: &Signed,
    kind: Kind,
    title: &str,
    about: &str,
    items: &[Resource],
    manages: bool,
    again: Option<&Again<'_>>,
) -> Markup {
    let mine = again.filter(|a| a.kind == kind);
    let base = format!("/console/resources/{}", kind.segment());
    let heading = format!("{}-title", kind.segment());
    html! {
        section aria-labelledby=(heading) {
            h2 id=(heading) { (title) }
            p class="hint" { (about) }
            @if let Some(a) = mine.filter(|a| a.id.is_some()) { (alert(a.problem)) }
            @if items.is_empty() {
                p class="muted" { "None yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "ID" } th scope="col" { "Created" }
                            @if manages { th scope="col" { span class="visually-hidden" { "Actions" } } }
                        } }
                        tbody {
                            @for r in items {
                                tr {
                                    td { (r.name) }
                                    td { code { (r.id) } }
                                    td { (time(r.created_at)) }
                                    @if manages {
                                        td {
                                            div class="actions" {
                                                form class="inline" method="post" action={ (base) "/" (r.id) "/rename" } {
                                                    (csrf_field(signed))
                                                    label class="visually-hidden" for={ "rename-" (r.id) } { "New name of " (r.name) }
                                                    @let typed = mine.filter(|a| a.id == Some(r.id.as_str())).and_then(|a| a.name).unwrap_or(r.name.as_str());
                                                    input id={ "rename-" (r.id) } type="text" name="name" value=(typed) required maxlength="100";
                                                    button type="submit" class="secondary" aria-label={ "Rename " (r.name) } { "Rename" }
                                                }
                                                (confirm(
                                                    signed,
                                                    "Delete…",
                                                    &format!("Delete {}…", r.name),
                                                    &format!("{base}/{}/delete", r.id),
                                                    html! { p { "Deleting a " (kind.singular()) " that keys are scoped to is refused; revoke those keys first." } },
                                                    &format!("Delete {}", r.name),
                                                ))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if manages {
                @let new_id = format!("new-{}", kind.singular());
                form class="inline create" method="post" action=(base) {
                    (csrf_field(signed))
                    @if let Some(a) = mine.filter(|a| a.id.is_none()) { (alert(a.problem)) }
                    label for=(new_id) { "New " (kind.singular()) }
                    input id=(new_id) type="text" name="name" value=(mine.filter(|a| a.id.is_none()).and_then(|a| a.name).unwrap_or("")) required maxlength="100";
                    button type="submit" { "Create " (kind.singular()) }
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
    render(&state, &signed, None, done.done.as_deref()).await
}

fn name_request(name: &str) -> Result<NameRequest, ApiError> {
    api_request(serde_json::json!({ "name": name }))
}

/// A new workspace or agent (`POST /v1/workspaces`, `POST /v1/agents`).
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Path(kind): Path<String>,
    Form(form): Form<NameForm>,
) -> PageResult {
    let kind = Kind::parse(&kind)?;
    let done = match name_request(&form.name) {
        Ok(req) => {
            let (s, p) = (State(state.clone()), signed.principal.clone());
            match kind {
                Kind::Workspaces => api::create_workspace(s, p, ApiJson(req)).await.map(drop),
                Kind::Agents => api::create_agent(s, p, ApiJson(req)).await.map(drop),
            }
        }
        Err(e) => Err(e),
    };
    finish(
        &state,
        &signed,
        kind,
        None,
        Some(&form.name),
        done,
        "created",
    )
    .await
}

/// A new name (`PATCH /v1/workspaces/{id}`, `PATCH /v1/agents/{id}`).
pub async fn rename(
    State(state): State<AppState>,
    signed: Signed,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<NameForm>,
) -> PageResult {
    let kind = Kind::parse(&kind)?;
    let done = match name_request(&form.name) {
        Ok(req) => {
            let (s, p, path) = (
                State(state.clone()),
                signed.principal.clone(),
                Path(id.clone()),
            );
            match kind {
                Kind::Workspaces => api::rename_workspace(s, p, path, ApiJson(req))
                    .await
                    .map(drop),
                Kind::Agents => api::rename_agent(s, p, path, ApiJson(req)).await.map(drop),
            }
        }
        Err(e) => Err(e),
    };
    finish(
        &state,
        &signed,
        kind,
        Some(&id),
        Some(&form.name),
        done,
        "renamed",
    )
    .await
}

/// Deletes (`DELETE /v1/workspaces/{id}`, `DELETE /v1/agents/{id}`); one still in use is
/// refused with the API's reason, shown on the page.
pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path((kind, id)): Path<(String, String)>,
) -> PageResult {
    let kind = Kind::parse(&kind)?;
    let (s, p, path) = (
        State(state.clone()),
        signed.principal.clone(),
        Path(id.clone()),
    );
    let done = match kind {
        Kind::Workspaces => api::delete_workspace(s, p, path).await.map(drop),
        Kind::Agents => api::delete_agent(s, p, path).await.map(drop),
    };
    finish(&state, &signed, kind, Some(&id), None, done, "deleted").await
}

async fn finish(
    state: &AppState,
    signed: &Signed,
    kind: Kind,
    id: Option<&str>,
    name: Option<&str>,
    done: Result<(), ApiError>,
    what: &str,
) -> PageResult {
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/console/resources?done={what}")).into_response()),
        Err(e) => {
            let problem = form_problem(e)?;
            let again = Again {
                kind,
                id,
                name,
                problem: &problem,
            };
            render(state, signed, Some(&again), None).await
        }
    }
}
