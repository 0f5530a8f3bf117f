//! Settings → Workers: the machines running `keyward worker` with a worker key, their
//! status by the server's clock, one worker with the troubleshooting table of the
//! product page answered for it, and Remove — all through `http/workers.rs`, so the
//! console reads and removes exactly what the person's key may through the API
//! (`workers:read`, `workers:write` for the worker's workspace), and a removal is
//! audited the same way.

use super::failure::PageResult;
use super::layout::{confirm, may, maybe_time, notice, page, path_segment, time};
use super::visitor::Signed;
use crate::authz::{Action, Target};
use crate::extract::ApiQuery;
use crate::http::{resources, workers as api};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use keyward_api::{Resource, Worker, WorkerDetail, WorkerQuery, WorkerStatus};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

/// The page's address.
pub const PATH: &str = "/console/settings/workers";
/// The most workers one page lists (the API's largest page).
const PAGE: u32 = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    done: Option<String>,
    /// A workspace id, or empty for all.
    workspace: Option<String>,
    /// A status, or empty for any.
    status: Option<String>,
    cursor: Option<String>,
}

/// A worker's status as a badge.
pub fn status_badge(s: WorkerStatus) -> Markup {
    let class = match s {
        WorkerStatus::Online => "status active",
        WorkerStatus::Stale => "status pending",
        WorkerStatus::Offline => "status disabled",
        WorkerStatus::Revoked | WorkerStatus::Expired | WorkerStatus::Disabled => "status revoked",
    };
    html! { span class=(class) { (s.as_str()) } }
}

fn labels(l: &[String]) -> Markup {
    html! {
        @if l.is_empty() { span class="muted" { "none" } }
        @else {
            @for (n, label) in l.iter().enumerate() {
                @if n > 0 { " " }
                code { (label) }
            }
        }
    }
}

/// What to run to have a worker appear: the product page's two commands.
fn how_to_start() -> Markup {
    html! {
        p class="muted" { "No workers yet. On the machine, with a worker key of the workspace:" }
        pre { code { "keyward login --token <worker key>\nkeyward worker" } }
        p class="hint" { "Create a worker key under API Keys (kind worker, for the workspace); the worker appears here once it registers and sends heartbeats." }
    }
}

/// Whether the person may remove workers of `workspace`: `workers:write` as `authz` answers it.
async fn removes(state: &AppState, signed: &Signed, workspace: &str) -> bool {
    may(
        state,
        signed,
        "workers:write",
        Action::Write,
        Target::Workspace(workspace),
    )
    .await
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let workspace = query.workspace.clone().filter(|w| !w.is_empty());
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(WorkerStatus::parse);
    let listed = api::list_workers(
        State(state.clone()),
        signed.principal.clone(),
        ApiQuery(WorkerQuery {
            workspace: workspace.clone(),
            status,
            limit: Some(PAGE),
            cursor: query.cursor.clone(),
            ..Default::default()
        }),
    )
    .await?
    .0;
    let workspaces: Vec<Resource> =
        resources::list_workspaces(State(state.clone()), signed.principal.clone())
            .await?
            .0;
    let ws_names: HashMap<&str, &str> = workspaces
        .iter()
        .map(|w| (w.id.as_str(), w.name.as_str()))
        .collect();
    let filtered = workspace.is_some() || status.is_some();
    let mut next = None;
    if let Some(c) = &listed.next_cursor {
        let mut link = format!("{PATH}?cursor={}", path_segment(c));
        if let Some(w) = &workspace {
            link.push_str(&format!("&workspace={}", path_segment(w)));
        }
        if let Some(s) = status {
            link.push_str(&format!("&status={}", s.as_str()));
        }
        next = Some(link);
    }
    let body = html! {
        @if query.done.as_deref() == Some("removed") {
            (notice("The worker is removed and its connection closed; its daemon exits. Its key still works: started again, the worker registers anew."))
        }
        h1 { "Workers" }
        p { "Machines running " code { "keyward worker" } " with a worker key. A worker is online while its heartbeats arrive, stale after two missed, offline after five or once it stopped, and revoked, expired or disabled when its key is." }
        form class="filters" method="get" action=(PATH) {
            div class="field" {
                label for="workers-workspace" { "Workspace" }
                select id="workers-workspace" name="workspace" {
                    option value="" selected[workspace.is_none()] { "All workspaces" }
                    @for w in &workspaces {
                        option value=(w.id) selected[workspace.as_deref() == Some(w.id.as_str())] { (w.name) }
                    }
                }
            }
            div class="field" {
                label for="workers-status" { "Status" }
                select id="workers-status" name="status" {
                    option value="" selected[status.is_none()] { "Any status" }
                    @for s in WorkerStatus::ALL {
                        option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            div { button type="submit" class="secondary" { "Filter" } }
        }
        @if listed.data.is_empty() {
            @if filtered { p class="muted" { "No workers match these filters." } }
            @else { (how_to_start()) }
        } @else {
            div class="table-wrap" {
                table class="workers" {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Last heartbeat" }
                        th scope="col" { "Version" } th scope="col" { "Key prefix" } th scope="col" { "Labels" }
                        th scope="col" { "Host" }
                    } }
                    tbody {
                        @for w in &listed.data { (row(w, &ws_names)) }
                    }
                }
            }
            @if let Some(link) = &next {
                p { a href=(link) { "More workers" } }
            }
        }
    };
    Ok(page(&signed, "Workers", body).into_response())
}

fn row(w: &Worker, ws_names: &HashMap<&str, &str>) -> Markup {
    html! {
        tr {
            td {
                a href={ (PATH) "/" (path_segment(&w.id)) } { (w.name) } br;
                span class="hint" {
                    code { (w.id) } " · "
                    (ws_names.get(w.workspace_id.as_str()).copied().unwrap_or(w.workspace_id.as_str()))
                }
            }
            td { (status_badge(w.status)) }
            td { (time(w.last_heartbeat_at)) }
            td { (w.version) }
            td { code { (api::shown_prefix(&w.key.prefix)) } }
            td { (labels(&w.labels)) }
            td { (w.host) }
        }
    }
}

fn detail_body(signed: &Signed, d: &WorkerDetail, workspace: &str, removes: bool) -> Markup {
    let w = &d.worker;
    let base = format!("{PATH}/{}", path_segment(&w.id));
    html! {
        p { a href=(PATH) { "← Workers" } }
        h1 { "Worker " (w.name) }
        dl class="fields" {
            dt { "Status" } dd { (status_badge(w.status)) @if w.connected { " connected" } }
            dt { "ID" } dd { code { (w.id) } }
            dt { "Workspace" } dd { (workspace) }
            dt { "Host" } dd { (w.host) }
            dt { "OS" } dd { (w.os) }
            dt { "Version" } dd { (w.version) }
            dt { "Labels" } dd { (labels(&w.labels)) }
            dt { "Heartbeat" } dd { "every " (w.heartbeat_interval_secs) " s" }
            dt { "Registered" } dd { (time(w.registered_at)) }
            dt { "Connected since" } dd { (maybe_time(w.connected_since, "—")) }
            dt { "Last heartbeat" } dd { (time(w.last_heartbeat_at)) }
            dt { "Stopped" } dd { (maybe_time(w.stopped_at, "no")) }
            dt { "Key" } dd { (w.key.name) " " code { (api::shown_prefix(&w.key.prefix)) } }
            dt { "Key status" } dd { (key_status(w.key.status)) }
            dt { "Owner's worker keys" } dd {
                @match d.owner_active_worker_keys {
                    Some(n) => { (n) " of " (d.worker_key_limit) " active in this workspace" },
                    None => span class="muted" { "—" },
                }
            }
        }
        section aria-labelledby="troubleshooting-title" {
            h2 id="troubleshooting-title" { "Troubleshooting" }
            div class="table-wrap" {
                table class="troubleshooting" {
                    thead { tr {
                        th scope="col" { "Symptom" } th scope="col" { "Check" }
                        th scope="col" { "What Keyward sees" } th scope="col" { "OK" }
                    } }
                    tbody {
                        @for c in &d.troubleshooting {
                            tr {
                                td { (c.symptom) }
                                td { (c.check) }
                                td { (c.finding) }
                                td {
                                    @if c.ok { span class="status active" aria-label="fine" { "✓" } }
                                    @else { span class="status revoked" aria-label="needs attention" { "✗" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if removes {
            (confirm(
                signed,
                "Remove…",
                &format!("Remove {}…", w.name),
                &format!("{base}/remove"),
                html! { p { "Its connection closes and its daemon exits. Its key keeps working: revoke it under API Keys to keep the machine out." } },
                &format!("Remove {}", w.name),
            ))
        }
    }
}

fn key_status(s: keyward_core::expiry::KeyStatus) -> &'static str {
    use keyward_core::expiry::KeyStatus as K;
    match s {
        K::Active => "active",
        K::Disabled => "disabled",
        K::Expired => "expired",
        K::Revoked => "revoked",
    }
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let d = api::get_worker(State(state.clone()), signed.principal.clone(), Path(id))
        .await?
        .0;
    let workspaces: Vec<Resource> =
        resources::list_workspaces(State(state.clone()), signed.principal.clone())
            .await?
            .0;
    let ws = workspaces
        .iter()
        .find(|w| w.id == d.worker.workspace_id)
        .map_or(d.worker.workspace_id.clone(), |w| w.name.clone());
    let removes = removes(&state, &signed, &d.worker.workspace_id).await;
    let body = detail_body(&signed, &d, &ws, removes);
    Ok(page(&signed, &format!("Worker {}", d.worker.name), body).into_response())
}

/// Removes through `DELETE /v1/workers/{id}` (audited there).
pub async fn remove(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    api::remove_worker(State(state), signed.principal.clone(), Path(id)).await?;
    Ok(Redirect::to(&format!("{PATH}?done=removed")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_and_labels() {
        assert_eq!(
            status_badge(WorkerStatus::Online).into_string(),
            r#"<span class="status active">online</span>"#
        );
        assert!(status_badge(WorkerStatus::Revoked)
            .into_string()
            .contains("status revoked"));
        assert_eq!(
            labels(&["gpu".into(), "<b>".into()]).into_string(),
            "<code>gpu</code> <code>&lt;b&gt;</code>"
        );
        let start = how_to_start().into_string();
        assert!(
            start.contains("keyward login --token &lt;worker key&gt;"),
            "{start}"
        );
        assert!(start.contains("keyward worker"), "{start}");
    }
}
