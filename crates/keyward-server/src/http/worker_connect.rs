//! What a worker daemon calls with its worker key (`kw_wk_`): `POST
//! /v1/workers/register`, then the WebSocket `GET /v1/workers/{id}/connect`, which
//! [`crate::workers::connection`] serves. Other keys get 403 `worker_key_required`.

use super::shared::actor_event;
use crate::auth::Principal;
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use keyward_api::{ErrorCode, RegisterWorkerRequest, WorkerRegistration};
use keyward_core::worker::{self as rule, HEARTBEAT_SECS};
use keyward_core::{ids, KeyKind};
use keyward_store::{Conflict, NewWorker, Registered, StoreError};

/// 403 unless the caller is a worker key bound to a workspace: the workspace.
fn worker_key(principal: &Principal) -> Result<String> {
    match (&principal.key.kind, &principal.key.workspace_id) {
        (KeyKind::Worker, Some(ws)) => Ok(ws.clone()),
        _ => Err(ApiError::Refused(
            ErrorCode::WorkerKeyRequired,
            format!(
                "only a worker key (kw_wk_…) runs a worker; this is a {} key: create a worker \
                 key for the workspace and `keyward login --token <key>`",
                principal.key.kind.as_str()
            ),
        )),
    }
}

/// Text a person reads in listings (host, OS, version): the rules of names (no control
/// characters, nothing that reorders or hides text), at most `max` characters.
fn text(field: &str, raw: &str, max: usize) -> Result<String> {
    let name = keyward_core::Name::parse(raw).map_err(|e| ApiError::validation(field, e))?;
    if name.as_str().chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(name.as_str().to_owned())
}

#[utoipa::path(post, path = "/v1/workers/register", operation_id = "register_worker", tag = "workers",
    request_body = RegisterWorkerRequest,
    responses((status = 201, description = "A new worker", body = WorkerRegistration),
              (status = 200, description = "The worker of that name, updated", body = WorkerRegistration),
              (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<RegisterWorkerRequest>,
) -> Result<(StatusCode, Json<WorkerRegistration>)> {
    let workspace_id = worker_key(&principal)?;
    let host = text("host", &req.host, 100)?;
    let os = text("os", &req.os, 100)?;
    let version = text("version", &req.version, 100)?;
    let labels = rule::parse_labels(&req.labels).map_err(|e| ApiError::validation("labels", e))?;
    let interval = req
        .heartbeat_interval_secs
        .unwrap_or(rule::DEFAULT_HEARTBEAT_SECS);
    if !HEARTBEAT_SECS.contains(&interval) {
        return Err(ApiError::validation(
            "heartbeat_interval_secs",
            format!(
                "must be {} to {} seconds",
                HEARTBEAT_SECS.start(),
                HEARTBEAT_SECS.end()
            ),
        ));
    }
    let instance = req.instance.trim();
    if instance.is_empty()
        || instance.len() > 64
        || !instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::validation(
            "instance",
            "must be 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    let now = state.clock.now();
    let id = ids::new_id("wkr");
    let name = req.name.as_str().to_owned();
    let audit = actor_event(
        &principal,
        now,
        "worker.register",
        "worker",
        &id,
        serde_json::json!({"name": name, "workspace_id": workspace_id, "host": host}),
    );
    // Busy: connected, and heard from within two of its heartbeats.
    let busy_since =
        now - chrono::Duration::seconds(i64::from(interval) * rule::STALE_AFTER_MISSED);
    let registered = state
        .store
        .workers()
        .register_worker(
            NewWorker {
                id,
                org_id: principal.org_id().to_owned(),
                workspace_id,
                key_id: principal.key.id.clone(),
                name: name.clone(),
                host,
                os,
                version,
                labels,
                heartbeat_interval_secs: interval,
                forwards: req.forwards,
                instance: instance.to_owned(),
                at: now,
            },
            busy_since,
            audit,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(Conflict::InUse) => ApiError::Conflict(
                ErrorCode::WorkerNameInUse,
                format!(
                    "a worker named {name:?} is connected in this workspace from another \
                     process: stop it, or start this one with another --name"
                ),
            ),
            e => e.into(),
        })?;
    let status = match registered {
        Registered::Created(_) => StatusCode::CREATED,
        Registered::Updated(_) => StatusCode::OK,
    };
    let record = registered.into_record();
    Ok((
        status,
        Json(WorkerRegistration {
            worker: crate::workers::api(&record, now),
            // The run is named in it: a connection of another run (one the name was taken
            // from) is refused, and that daemon registers again.
            connect_path: format!(
                "/v1/workers/{}/connect?instance={}",
                record.id, record.instance
            ),
            heartbeat_interval_secs: record.heartbeat_interval_secs,
            forward_timeout_secs: state.workers.config.forward_timeout.as_secs().max(1) as u32,
        }),
    ))
}

/// What `connect_path` carries.
#[derive(Debug, serde::Deserialize)]
pub struct ConnectQuery {
    /// The daemon run that registered (absent: any run of the key).
    instance: Option<String>,
}

/// `GET /v1/workers/{id}/connect`: the worker's WebSocket (not in the OpenAPI document:
/// it is no request/response operation). Its own key only.
pub async fn connect(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ConnectQuery>,
    upgrade: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    worker_key(&principal)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!(
            "this is a WebSocket: open it with an upgrade request ({e})"
        ))
    })?;
    let worker = match state
        .store
        .workers()
        .get_worker(principal.org_id(), &id)
        .await
    {
        Ok(w) => w,
        Err(StoreError::NotFound) => {
            return Err(ApiError::Refused(
                ErrorCode::WorkerNotFound,
                "no such worker: register it first (POST /v1/workers/register)".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let another_run = query
        .instance
        .as_deref()
        .is_some_and(|i| i != worker.instance);
    if worker.key.id != principal.key.id || another_run {
        return Err(ApiError::Refused(
            ErrorCode::WorkerNotYours,
            "this worker was registered with another key: register it again with this one".into(),
        ));
    }
    let key = principal.key.clone();
    Ok(upgrade
        .max_message_size(1 << 20)
        .on_upgrade(move |socket| crate::workers::connection::run(state, socket, worker, key)))
}
