//! Workers over HTTP, for people: list the machines that run `keyward worker` (by
//! workspace, status or label), look at one with the troubleshooting table of the
//! product page answered for it, remove one. (A worker's own calls — registering and
//! its WebSocket — are in `worker_connect.rs`.)
//!
//! Who may do what: `workers:read` lists and shows, `workers:write` removes. A worker
//! belongs to a workspace: keys scoped to that workspace reach it, and keys of the whole
//! organization reach every one, as for webhook endpoints. A worker's status is not
//! stored: it follows from its key and the age of its last heartbeat by the server's
//! clock (`keyward_core::worker::status_at`), so the status filter is applied here,
//! after reading.

use super::shared::{actor_event, page_limit, workspaces_within};
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::workers as hub;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use keyward_api::{
    ErrorCode, ListResponse, TroubleshootingCheck, Worker, WorkerDetail, WorkerQuery, WorkerStatus,
};
use keyward_core::expiry::KeyStatus;
use keyward_core::worker as rule;
use keyward_store::{StoreError, WorkerFilter, WorkerRecord};

/// Workers read from the store per round when a status filter drops some.
const BATCH: u32 = 100;
/// The most workers one listing looks at: past this, the page may be short, and its
/// `next_cursor` continues after the last one looked at.
const MAX_SCANNED: usize = 10_000;

fn not_found(e: StoreError) -> ApiError {
    super::shared::or_missing(
        ErrorCode::WorkerNotFound,
        "no worker with this id in this organization",
    )(e)
}

/// A worker the caller may act on with `permission`, or not found (another
/// organization's) or refused (a workspace beyond the key's scope), as for webhook
/// endpoints.
pub async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
    permission: &str,
    action: Action,
) -> Result<WorkerRecord> {
    principal.require(permission)?;
    let w = state
        .store
        .workers()
        .get_worker(principal.org_id(), id)
        .await
        .map_err(not_found)?;
    principal
        .authorize(
            state,
            permission,
            action,
            Target::Workspace(&w.workspace_id),
        )
        .await?;
    Ok(w)
}

/// The workspaces a listing reads: those the key reaches, narrowed to `wanted`. An
/// empty list reads nothing (a workspace beyond the key's scope, or of no one).
fn workspaces_read(principal: &Principal, wanted: Option<String>) -> Option<Vec<String>> {
    match (wanted, workspaces_within(principal)) {
        (None, within) => within,
        (Some(w), None) => Some(vec![w]),
        (Some(w), Some(within)) => Some(if within.contains(&w) { vec![w] } else { vec![] }),
    }
}

/// The workers of the organization the caller reaches, oldest first (by id), with
/// their status by the server's clock.
#[utoipa::path(get, path = "/v1/workers", operation_id = "list_workers", tag = "workers", params(WorkerQuery),
    responses((status = 200, body = ListResponse<Worker>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["workers:read"])))]
pub async fn list_workers(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<WorkerQuery>,
) -> Result<Json<ListResponse<Worker>>> {
    principal
        .authorize(&state, "workers:read", Action::Read, Target::Listing)
        .await?;
    let limit = page_limit(q.limit)?;
    let label = q
        .label
        .as_deref()
        .map(rule::parse_label)
        .transpose()
        .map_err(|e| ApiError::validation("label", e))?;
    let workspaces = workspaces_read(&principal, q.workspace);
    if workspaces.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Json(ListResponse {
            data: vec![],
            next_cursor: None,
        }));
    }
    let now = state.clock.now();
    // Without a status filter every worker read is on the page: one more than the page
    // tells whether there is a next. With one, read on until the page is full and one
    // more matches, or the store has no more.
    let batch = if q.status.is_some() { BATCH } else { limit + 1 };
    let mut data: Vec<Worker> = Vec::new();
    let mut after = q.cursor;
    let mut scanned = 0usize;
    let mut next_cursor = None;
    'reading: loop {
        let items = state
            .store
            .workers()
            .list_workers(
                principal.org_id(),
                WorkerFilter {
                    workspaces: workspaces.clone(),
                    label: label.clone(),
                    after: after.clone(),
                    limit: batch,
                },
            )
            .await?;
        let exhausted = items.len() < batch as usize;
        for r in &items {
            scanned += 1;
            after = Some(r.id.clone());
            let w = hub::api(r, now);
            if q.status.is_some_and(|s| s != w.status) {
                continue;
            }
            if data.len() == limit as usize {
                next_cursor = data.last().map(|w| w.id.clone());
                break 'reading;
            }
            data.push(w);
        }
        if exhausted {
            break;
        }
        if scanned >= MAX_SCANNED {
            next_cursor = after;
            break;
        }
    }
    Ok(Json(ListResponse { data, next_cursor }))
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `kw_wk_abcd…`: the key's visible prefix, with the ellipsis that says it is not the
/// whole key.
pub fn shown_prefix(prefix: &str) -> String {
    if prefix.ends_with('…') {
        prefix.to_owned()
    } else {
        format!("{prefix}…")
    }
}

/// The troubleshooting table of the product page (Settings → Workers), each line
/// answered with what Keyward sees of this worker at `now`: its record `r` (for the
/// heartbeats missed), the API's view of it `w`, the worker key's owner's active worker
/// keys in the workspace and the organization's limit of them.
pub fn troubleshooting(
    r: &WorkerRecord,
    w: &Worker,
    owner_active: Option<u32>,
    limit: u32,
    now: DateTime<Utc>,
) -> Vec<TroubleshootingCheck> {
    let every = w.heartbeat_interval_secs;
    let key = format!("{} ({})", w.key.name, shown_prefix(&w.key.prefix));
    let check = |symptom: &str, check: &str, finding: String, ok: bool| TroubleshootingCheck {
        symptom: symptom.to_owned(),
        check: check.to_owned(),
        finding,
        ok,
    };
    let appears = check(
        "Worker does not appear",
        "Run `keyward worker` with a worker key of this workspace, then open Settings → Workers",
        format!(
            "Registered at {}; last heartbeat at {}; it sends one every {every} s.",
            at(w.registered_at),
            at(w.last_heartbeat_at)
        ),
        true,
    );
    let (stopped, stopped_ok) = match w.status {
        WorkerStatus::Online => (
            format!(
                "Heartbeats arrive: the last at {}, one every {every} s.",
                at(w.last_heartbeat_at)
            ),
            true,
        ),
        WorkerStatus::Stale => {
            let missed = rule::missed_heartbeats(&hub::liveness(r, now), now);
            let age = (now - w.last_heartbeat_at).num_seconds().max(0);
            (
                format!(
                    "No heartbeat for {age} s ({missed} missed): is the process running, and can it reach Keyward? It reconnects by itself."
                ),
                false,
            )
        }
        WorkerStatus::Offline => match w.stopped_at {
            Some(t) => (
                format!(
                    "It stopped cleanly at {} (SIGTERM or Ctrl-C): start it again.",
                    at(t)
                ),
                false,
            ),
            None => (
                format!(
                    "No heartbeat since {}: the process is not running or cannot reach Keyward.",
                    at(w.last_heartbeat_at)
                ),
                false,
            ),
        },
        WorkerStatus::Revoked => (
            format!(
                "Its key {key} was revoked{}: the worker cannot connect with it.",
                w.key
                    .revoked_at
                    .map(|t| format!(" at {}", at(t)))
                    .unwrap_or_default()
            ),
            false,
        ),
        WorkerStatus::Expired => (
            format!(
                "Its key {key} expired{}: the worker cannot connect with it.",
                w.key
                    .expires_at
                    .map(|t| format!(" at {}", at(t)))
                    .unwrap_or_default()
            ),
            false,
        ),
        WorkerStatus::Disabled => (
            format!(
                "Its key {key} is disabled: the worker cannot connect until it is enabled again."
            ),
            false,
        ),
    };
    let connected = check(
        "Worker was connected and stopped",
        "Confirm the process is still running and the key was not revoked",
        stopped,
        stopped_ok,
    );
    let (key_finding, key_ok) = match w.key.status {
        KeyStatus::Active => (format!("The key {key} is active."), true),
        KeyStatus::Revoked => (
            format!(
                "The key {key} was revoked{}.",
                w.key
                    .revoked_at
                    .map(|t| format!(" at {}", at(t)))
                    .unwrap_or_default()
            ),
            false,
        ),
        KeyStatus::Expired => (
            format!(
                "The key {key} expired{}.",
                w.key
                    .expires_at
                    .map(|t| format!(" at {}", at(t)))
                    .unwrap_or_default()
            ),
            false,
        ),
        KeyStatus::Disabled => (format!("The key {key} is disabled."), false),
    };
    let revoke = check(
        "Revoke affected the wrong worker",
        "Create a new key for that worker and log in again with `keyward login --token <key>`",
        key_finding,
        key_ok,
    );
    let (count, count_ok) = match owner_active {
        Some(n) if n >= limit => (
            format!(
                "{n} of {limit} active worker keys for the key's owner in this workspace: revoke one before creating another."
            ),
            false,
        ),
        Some(n) => (
            format!("{n} of {limit} active worker keys for the key's owner in this workspace."),
            true,
        ),
        None => (
            "The key belongs to no person: the per-person limit does not apply.".to_owned(),
            true,
        ),
    };
    let create = check(
        "Create fails",
        &format!("Count active keys for your user in this workspace. The limit is {limit}."),
        count,
        count_ok,
    );
    let gone = check(
        "The raw key is gone",
        "Create a new key. Existing raw keys cannot be viewed again.",
        format!(
            "Keyward keeps only the key's prefix {}: the raw key is where `keyward login` stored it on the worker's machine.",
            shown_prefix(&w.key.prefix)
        ),
        true,
    );
    vec![appears, connected, revoke, create, gone]
}

/// A worker with its status by the server's clock, and the troubleshooting table
/// answered for it.
#[utoipa::path(get, path = "/v1/workers/{id}", operation_id = "get_worker", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = WorkerDetail), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["workers:read"])))]
pub async fn get_worker(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WorkerDetail>> {
    let r = visible(&state, &principal, &id, "workers:read", Action::Read).await?;
    let now = state.clock.now();
    let worker = hub::api(&r, now);
    let limit = principal
        .organization(&state)
        .await?
        .settings
        .max_worker_keys;
    let owner_active = match &r.key.owner_id {
        Some(owner) => Some(
            state
                .store
                .workers()
                .count_active_worker_keys(principal.org_id(), &r.workspace_id, owner, now)
                .await?,
        ),
        None => None,
    };
    let mut troubleshooting = troubleshooting(&r, &worker, owner_active, limit, now);
    // Which other workers revoking this key would stop too (one key may run several).
    let same_key: Vec<String> = state
        .store
        .workers()
        .list_workers(
            principal.org_id(),
            keyward_store::WorkerFilter {
                workspaces: Some(vec![r.workspace_id.clone()]),
                limit: keyward_core::worker::MAX_WORKERS_PER_WORKSPACE,
                ..Default::default()
            },
        )
        .await?
        .into_iter()
        .filter(|o| o.key.id == r.key.id && o.id != r.id)
        .map(|o| o.name)
        .collect();
    if let Some(line) = troubleshooting
        .iter_mut()
        .find(|c| c.symptom == "Revoke affected the wrong worker")
    {
        line.finding.push_str(&match same_key.as_slice() {
            [] => " No other worker runs with it.".to_owned(),
            names => format!(
                " It also runs {}: revoking it stops them too; give each machine a key of its own.",
                names.join(", ")
            ),
        });
    }
    Ok(Json(WorkerDetail {
        worker,
        owner_active_worker_keys: owner_active,
        worker_key_limit: limit,
        troubleshooting,
    }))
}

/// Remove a worker from the list and close its connection: its daemon exits (started
/// again, it registers anew). Its key is not revoked.
#[utoipa::path(delete, path = "/v1/workers/{id}", operation_id = "remove_worker", tag = "workers", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["workers:write"])))]
pub async fn remove_worker(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    // An admin's (workspace reach), or the person's own: a member removes the workers
    // of their own worker keys.
    let w = match visible(&state, &principal, &id, "workers:write", Action::Write).await {
        Ok(w) => w,
        Err(refused) => {
            let w = visible(&state, &principal, &id, "workers:write", Action::Read).await?;
            let own = matches!(&principal.key.owner, Some(keyward_core::Owner::User { id, .. })
                if w.key.owner_id.as_deref() == Some(id.as_str()));
            if !own {
                return Err(refused);
            }
            w
        }
    };
    remove(&state, &principal, &w).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes `w` (audited as `worker.remove`) and closes its connection on this node
/// (other nodes' connections end at their next heartbeat): the API's and the console's.
pub async fn remove(state: &AppState, principal: &Principal, w: &WorkerRecord) -> Result<()> {
    let audit = actor_event(
        principal,
        state.clock.now(),
        "worker.remove",
        "worker",
        &w.id,
        serde_json::json!({
            "name": w.name, "workspace_id": w.workspace_id, "host": w.host, "key_id": w.key.id,
        }),
    );
    state
        .store
        .workers()
        .remove_worker(principal.org_id(), &w.id, audit)
        .await
        .map_err(not_found)?;
    state
        .workers
        .disconnect(&w.id, keyward_api::CLOSE_WORKER_REMOVED, "worker_removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_store::WorkerKeyInfo;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
    }

    fn record() -> WorkerRecord {
        WorkerRecord {
            id: "wkr_1".into(),
            org_id: "org_1".into(),
            workspace_id: "ws_1".into(),
            name: "build-box".into(),
            host: "build-box.local".into(),
            os: "linux x86_64".into(),
            version: "1.0.0".into(),
            labels: vec!["gpu".into()],
            heartbeat_interval_secs: 15,
            forwards: false,
            instance: "i".into(),
            registered_at: t(0),
            connection: Some("node:1".into()),
            connected_since: Some(t(0)),
            last_heartbeat_at: t(0),
            stopped_at: None,
            key: WorkerKeyInfo {
                id: "key_1".into(),
                name: "alice-macbook-worker".into(),
                prefix: "kw_wk_abcd".into(),
                owner_id: Some("usr_1".into()),
                enabled: true,
                expires_at: None,
                revoked_at: None,
            },
        }
    }

    fn table(r: &WorkerRecord, now: DateTime<Utc>, n: Option<u32>) -> Vec<TroubleshootingCheck> {
        troubleshooting(r, &hub::api(r, now), n, 25, now)
    }

    #[test]
    fn every_line_of_the_product_page_is_answered() {
        let rows = table(&record(), t(1), Some(3));
        let symptoms: Vec<&str> = rows.iter().map(|c| c.symptom.as_str()).collect();
        assert_eq!(
            symptoms,
            [
                "Worker does not appear",
                "Worker was connected and stopped",
                "Revoke affected the wrong worker",
                "Create fails",
                "The raw key is gone",
            ]
        );
        assert!(rows.iter().all(|c| c.ok), "{rows:?}");
        assert!(
            rows[0].finding.contains("every 15 s"),
            "{}",
            rows[0].finding
        );
        assert!(rows[1].finding.starts_with("Heartbeats arrive"));
        assert_eq!(
            rows[2].finding,
            "The key alice-macbook-worker (kw_wk_abcd…) is active."
        );
        assert!(rows[3].finding.starts_with("3 of 25 active worker keys"));
        assert_eq!(
            rows[3].check,
            "Count active keys for your user in this workspace. The limit is 25."
        );
        assert!(rows[4].finding.contains("kw_wk_abcd…"));
    }

    #[test]
    fn the_findings_follow_the_heartbeats_the_key_and_the_limit() {
        let r = record();
        let stale = table(&r, t(40), Some(25));
        assert!(!stale[1].ok);
        assert!(
            stale[1]
                .finding
                .starts_with("No heartbeat for 40 s (2 missed)"),
            "{}",
            stale[1].finding
        );
        assert!(!stale[3].ok, "25 of 25 is the limit");
        let offline = table(&r, t(100), None);
        assert!(offline[1].finding.starts_with("No heartbeat since"));
        assert!(offline[3].ok);
        let mut stopped = r.clone();
        stopped.stopped_at = Some(t(5));
        let rows = table(&stopped, t(6), Some(1));
        assert!(
            rows[1].finding.contains("stopped cleanly at"),
            "{}",
            rows[1].finding
        );
        let mut revoked = r.clone();
        revoked.key.revoked_at = Some(t(3));
        let rows = table(&revoked, t(4), Some(0));
        assert!(!rows[1].ok && !rows[2].ok);
        assert!(
            rows[2].finding.contains("was revoked at"),
            "{}",
            rows[2].finding
        );
        let mut disabled = r;
        disabled.key.enabled = false;
        let rows = table(&disabled, t(4), Some(0));
        assert!(
            rows[2].finding.ends_with("is disabled."),
            "{}",
            rows[2].finding
        );
    }
}
