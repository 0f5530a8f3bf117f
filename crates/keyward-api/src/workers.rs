//! Workers: machines that run `keyward worker` with a worker key (`kw_wk_`). A worker
//! registers (`POST /v1/workers/register`), then holds one WebSocket to Keyward
//! (`GET /v1/workers/{id}/connect`) over which it sends heartbeats and receives the
//! events of webhook endpoints whose destination is its workspace's workers, which it
//! forwards to a local URL and acknowledges. People list them (`GET /v1/workers`), look
//! at one with its troubleshooting checks, and remove them.
//!
//! The WebSocket carries JSON text frames: [`WorkerMessage`] from the worker,
//! [`ServerMessage`] from Keyward. Keyward closes it with one of the `CLOSE_*` codes
//! and the matching error code as the reason when the worker must stop.

use crate::webhooks::WebhookProvider;
use chrono::{DateTime, Utc};
use keyward_core::expiry::KeyStatus;
use keyward_core::Name;
use serde::{Deserialize, Serialize};

pub use keyward_core::worker::WorkerStatus;

/// `POST /v1/workers/register`: who this worker is. A worker key only. Registering
/// again with the same name in the workspace updates that worker (a restart, a new
/// key); another instance cannot take a name whose worker is connected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterWorkerRequest {
    /// Unique in the workspace; the daemon's default is the host name.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Name,
    /// The machine's host name.
    pub host: String,
    /// Operating system and architecture, e.g. `linux x86_64`.
    pub os: String,
    /// The daemon's version.
    pub version: String,
    /// What endpoints may select it by (`workers:LABEL`); lowercased.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Seconds between heartbeats (1–300; default 15).
    #[serde(default)]
    pub heartbeat_interval_secs: Option<u32>,
    /// Whether it forwards events (`keyward worker --forward-to URL`); a worker that
    /// does not is sent none.
    #[serde(default)]
    pub forwards: bool,
    /// A random id of this run of the daemon, the same across its reconnections.
    pub instance: String,
}

/// The key a worker runs with: enough to tell which key to revoke, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerKey {
    pub id: String,
    pub name: String,
    /// The key's visible prefix (`kw_wk_` and its first characters).
    pub prefix: String,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The person the key belongs to (worker keys are personal).
    pub owner_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Worker {
    /// `wkr_…`
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub host: String,
    pub os: String,
    pub version: String,
    pub labels: Vec<String>,
    pub status: WorkerStatus,
    pub key: WorkerKey,
    pub heartbeat_interval_secs: u32,
    pub forwards: bool,
    /// Whether a connection of it is open now (on any node).
    pub connected: bool,
    pub registered_at: DateTime<Utc>,
    /// When its current (or last) connection opened.
    pub connected_since: Option<DateTime<Utc>>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// When it deregistered (stopped cleanly), if it did since it last connected.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// One line of the troubleshooting table, answered for this worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TroubleshootingCheck {
    /// The symptom, as the table words it ("Worker was connected and stopped").
    pub symptom: String,
    /// What to check.
    pub check: String,
    /// What Keyward sees for this worker.
    pub finding: String,
    /// Whether what it sees is fine.
    pub ok: bool,
}

/// `GET /v1/workers/{id}`: the worker and the troubleshooting table answered for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerDetail {
    #[serde(flatten)]
    pub worker: Worker,
    /// The worker key's owner's active worker keys in this workspace, and the limit.
    pub owner_active_worker_keys: Option<u32>,
    pub worker_key_limit: u32,
    pub troubleshooting: Vec<TroubleshootingCheck>,
}

/// `POST /v1/workers/register`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRegistration {
    pub worker: Worker,
    /// Where to open the WebSocket (`/v1/workers/{id}/connect`), relative to the server.
    pub connect_path: String,
    pub heartbeat_interval_secs: u32,
    /// How long the worker may take to forward one event before giving up on it:
    /// past this (and a margin), the event goes to another worker.
    pub forward_timeout_secs: u32,
}

/// Filters of `GET /v1/workers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct WorkerQuery {
    /// A workspace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkerStatus>,
    /// Workers carrying this label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// What a worker sends on its WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// Every heartbeat interval, also while draining.
    Heartbeat {
        /// Events it is forwarding now.
        in_flight: u32,
    },
    /// An event forwarded (or not): delivered when the local URL answered 2xx.
    Ack(WorkerAck),
    /// Stop sending events (SIGTERM): the worker finishes what it holds.
    Drain,
    /// The worker stops: it shows as offline, stopped, from now on.
    Deregister,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerAck {
    /// The claim of the [`WorkerDelivery`] acknowledged.
    pub claim: String,
    pub event_id: String,
    /// The delivery's endpoint: lets another node (the worker reconnected elsewhere)
    /// find the event and check the claim against its lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The local URL's answer; absent when none came.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it was not delivered (timeout, connection refused…), in the worker's words.
    pub error: Option<String>,
}

/// What Keyward sends on a worker's WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First, once connected.
    Hello {
        worker: Box<Worker>,
        heartbeat_interval_secs: u32,
        forward_timeout_secs: u32,
    },
    /// The answer to each heartbeat.
    HeartbeatAck { at: DateTime<Utc> },
    /// An event to forward. At most one per endpoint at a time, in order.
    Event(Box<WorkerDelivery>),
}

/// An event for the worker to forward: POST `body` with exactly `headers` (Standard
/// Webhooks `webhook-id`, `-timestamp`, `-signature` signed with the endpoint's signing
/// secrets, and `x-keyward-*`), then acknowledge it with its `claim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerDelivery {
    pub claim: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub provider: WebhookProvider,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub headers: Vec<(String, String)>,
    /// The body as the provider sent it, base64 (standard alphabet, padded).
    pub body_base64: String,
}

/// Close codes Keyward ends a worker's WebSocket with when the worker must not
/// reconnect; the close reason is the matching error code (`token_revoked`, …).
pub const CLOSE_KEY_REVOKED: u16 = 4001;
pub const CLOSE_KEY_EXPIRED: u16 = 4002;
pub const CLOSE_KEY_DISABLED: u16 = 4003;
/// A person removed the worker (`DELETE /v1/workers/{id}`).
pub const CLOSE_WORKER_REMOVED: u16 = 4004;
/// Another connection of the same worker took over (a restart that reconnected first).
pub const CLOSE_REPLACED: u16 = 4005;
/// The server is shutting down: reconnect (the WebSocket's own 1012, "service restart").
pub const CLOSE_SERVICE_RESTART: u16 = 1012;
