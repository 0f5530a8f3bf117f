//! Workers: machines running `keyward worker` with a worker key. One row per worker
//! (a name in a workspace); its registration, its connection and its heartbeats. Its
//! status is not stored: it follows from its key and the age of its last heartbeat
//! (`keyward_core::worker::status_at`).

use chrono::{DateTime, Utc};

/// A worker as stored, with what listings show of its key (read in the same query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    /// `wkr_…`
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub name: String,
    pub host: String,
    pub os: String,
    pub version: String,
    /// Lowercased, sorted, without repeats.
    pub labels: Vec<String>,
    pub heartbeat_interval_secs: u32,
    pub forwards: bool,
    /// The daemon run that registered it last.
    pub instance: String,
    pub registered_at: DateTime<Utc>,
    /// The open connection (`node:random`), if any; cleared when it closes.
    pub connection: Option<String>,
    pub connected_since: Option<DateTime<Utc>>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// When it deregistered (a clean stop) since it last connected.
    pub stopped_at: Option<DateTime<Utc>>,
    pub key: WorkerKeyInfo,
}

/// The worker's key as listings show it (joined from `api_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerKeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub owner_id: Option<String>,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A registration: inserted, or written over the worker of the same name in the
/// workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker {
    /// Used only when no worker of this name exists.
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub key_id: String,
    pub name: String,
    pub host: String,
    pub os: String,
    pub version: String,
    pub labels: Vec<String>,
    pub heartbeat_interval_secs: u32,
    pub forwards: bool,
    pub instance: String,
    pub at: DateTime<Utc>,
}

/// Filters of a worker listing (status is filtered by the server, which knows the
/// clock's rule; the store filters what it can index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFilter {
    /// Only these workspaces (a caller's reach); `None`: every workspace.
    pub workspaces: Option<Vec<String>>,
    /// Workers carrying this label (lowercased).
    pub label: Option<String>,
    /// Ids after this one (`ORDER BY id`).
    pub after: Option<String>,
    pub limit: u32,
}

/// How a registration went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// A new worker.
    Created(WorkerRecord),
    /// The worker of that name, updated (a restart, a new key, new labels).
    Updated(WorkerRecord),
}

impl Registered {
    pub fn record(&self) -> &WorkerRecord {
        match self {
            Self::Created(r) | Self::Updated(r) => r,
        }
    }
    pub fn into_record(self) -> WorkerRecord {
        match self {
            Self::Created(r) | Self::Updated(r) => r,
        }
    }
}

/// The oldest pending event of a webhook endpoint whose destination is workers, which
/// no one holds: the next one its workers may take, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHead {
    pub event_id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub workspace_id: String,
    /// The endpoint's destination (`workers` or `workers:LABEL`).
    pub destination: String,
}
