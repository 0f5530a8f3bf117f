//! Workers: machines running `keyward worker` with a worker key.
//!
//! - A worker registers (`POST /v1/workers/register`), then holds one WebSocket to the
//!   node it reached (`GET /v1/workers/{id}/connect`, [`connection`]): heartbeats come
//!   in on it, events of webhook endpoints whose destination is its workspace's workers
//!   go out on it, and their acknowledgements come back.
//! - [`Hub`] is this node's registry of open connections: the dispatcher
//!   ([`dispatch`]) leases events in the database and hands each to one of them; a
//!   change to a key reaches every connection, which closes at once when its key no
//!   longer works.

pub mod connection;
pub mod dispatch;

use keyward_api::{Worker, WorkerKey};
use keyward_core::expiry::status_at as key_status_at;
use keyward_core::worker::{self as rule, Liveness, WorkerStatus};
use keyward_store::WorkerRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The `workers:` section of keyward.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Workers whose last heartbeat is older are removed (audited).
    pub retention: Duration,
    /// How long a worker may take to forward an event; its lease lasts this and
    /// [`LEASE_MARGIN`] more, after which another worker may take the event.
    pub forward_timeout: Duration,
    /// Events one worker forwards at once (each of another endpoint).
    pub max_in_flight: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(14 * 24 * 3600),
            forward_timeout: Duration::from_secs(10),
            max_in_flight: 4,
        }
    }
}

/// Past the forward timeout, how much longer a worker's lease on an event lasts.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

impl Config {
    pub fn lease(&self) -> Duration {
        self.forward_timeout + LEASE_MARGIN
    }
}

/// A worker as the API shows it, its status at `now`.
pub fn api(r: &WorkerRecord, now: chrono::DateTime<chrono::Utc>) -> Worker {
    let key = key_status_at(r.key.revoked_at, r.key.expires_at, r.key.enabled, now);
    let status = rule::status_at(&liveness(r, now), now);
    Worker {
        id: r.id.clone(),
        workspace_id: r.workspace_id.clone(),
        name: r.name.clone(),
        host: r.host.clone(),
        os: r.os.clone(),
        version: r.version.clone(),
        labels: r.labels.clone(),
        status,
        key: WorkerKey {
            id: r.key.id.clone(),
            name: r.key.name.clone(),
            prefix: r.key.prefix.clone(),
            status: key,
            expires_at: r.key.expires_at,
            revoked_at: r.key.revoked_at,
            owner_id: r.key.owner_id.clone(),
        },
        heartbeat_interval_secs: r.heartbeat_interval_secs,
        forwards: r.forwards,
        // A node that died leaves its connections set: past `offline`, none is open.
        connected: r.connection.is_some()
            && matches!(status, WorkerStatus::Online | WorkerStatus::Stale),
        registered_at: r.registered_at,
        connected_since: r.connected_since,
        last_heartbeat_at: r.last_heartbeat_at,
        stopped_at: r.stopped_at,
    }
}

/// What the worker's status follows from.
pub fn liveness(r: &WorkerRecord, now: chrono::DateTime<chrono::Utc>) -> Liveness {
    Liveness {
        key: key_status_at(r.key.revoked_at, r.key.expires_at, r.key.enabled, now),
        last_heartbeat_at: r.last_heartbeat_at,
        heartbeat_interval_secs: r.heartbeat_interval_secs,
        stopped_at: r.stopped_at,
    }
}

/// What a connection's task is told to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Message(keyward_api::ServerMessage),
    /// Close with this code and reason (an error code), then end.
    Close(u16, String),
}

/// An event a worker holds (without its body), by claim in [`Hub::held`]: kept across
/// the worker's reconnections, so an acknowledgement sent on its next connection counts.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub worker_id: String,
    pub event: keyward_store::WebhookEvent,
    /// When it was handed over: the attempt's time.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One open connection on this node.
#[derive(Debug)]
pub(crate) struct Local {
    pub connection: String,
    pub org_id: String,
    pub workspace_id: String,
    pub labels: Vec<String>,
    pub forwards: bool,
    pub draining: bool,
    pub tx: tokio::sync::mpsc::UnboundedSender<Outgoing>,
}

/// This node's open worker connections.
pub struct Hub {
    pub config: Config,
    /// This node's name in connection ids and leases (random per process).
    pub node: String,
    pub(crate) conns: Mutex<HashMap<String, Local>>,
    /// What workers hold, by claim (the lease owner); dropped once acknowledged or when
    /// the lease ran out.
    pub(crate) held: Mutex<HashMap<String, InFlight>>,
    /// Wakes the dispatcher: a worker connected or acknowledged, an event arrived.
    pub(crate) wake: tokio::sync::Notify,
}

impl Hub {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            node: keyward_core::base62::random(8),
            conns: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Closes the worker's connection on this node, if it has one here, with `code`
    /// and the error code `reason`. Other nodes' connections learn at their next
    /// heartbeat (the row is gone or no longer theirs).
    pub fn disconnect(&self, worker_id: &str, code: u16, reason: &str) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(local) = conns.get(worker_id) {
            let _ = local.tx.send(Outgoing::Close(code, reason.to_owned()));
        }
    }

    /// Closes every connection on this node (the server is stopping: they reconnect,
    /// to another node or to this one restarted), and waits up to `wait` for them to
    /// have written that they closed.
    pub async fn close_all(&self, code: u16, reason: &str, wait: std::time::Duration) {
        {
            let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            for local in conns.values() {
                let _ = local.tx.send(Outgoing::Close(code, reason.to_owned()));
            }
        }
        let until = tokio::time::Instant::now() + wait;
        while self.connected() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Connections open on this node.
    pub fn connected(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Wakes the dispatcher (an event for workers may be due).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
