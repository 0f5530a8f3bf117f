//! One worker's WebSocket on this node.
//!
//! Opened after the upgrade with the worker's key already checked: the connection is
//! written to the worker's row (replacing any other), put in [`super::Hub`], greeted
//! with `hello`, then served until it ends:
//! - a `heartbeat` is written (`last_heartbeat_at`) and answered, after the key is
//!   looked at again (so an expiry by the clock ends it within one heartbeat); a row
//!   that is gone (removed) or names another connection (replaced) ends it;
//! - a change to any key (this node's, or another's through the change feed) has the
//!   connection look at its key at once: revoked, expired or disabled closes it with
//!   `CLOSE_KEY_*` and the error code as the reason;
//! - an `ack` finishes the event it names through the same path as the URL deliverer
//!   ([`crate::webhooks::deliver::record`]);
//! - nothing heard for three heartbeats (and 10 s) ends it: the peer is gone.
//!
//! When it ends, events the worker still held keep their leases until they run out
//! (the worker may still be forwarding them: never two workers at once), then go to
//! another worker.

use super::{InFlight, Local, Outgoing};
use crate::state::AppState;
use crate::verify::CachedKey;
use crate::webhooks::deliver::{self, Answer};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use keyward_api::{
    ServerMessage, WorkerAck, WorkerMessage, CLOSE_KEY_DISABLED, CLOSE_KEY_EXPIRED,
    CLOSE_KEY_REVOKED, CLOSE_REPLACED, CLOSE_WORKER_REMOVED,
};
use keyward_core::expiry::{status_at, KeyStatus};
use keyward_store::{StoreError, WorkerRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a connection ended.
enum End {
    /// The worker said it stops.
    Deregistered,
    /// Keyward closes it with this code and reason.
    Close(u16, String),
    /// The socket closed or failed.
    Gone,
}

/// Normal closure (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
/// The worker sent what is not a message of the protocol.
const CLOSE_PROTOCOL: u16 = 1008;
/// Something went wrong on the server: the worker reconnects.
const CLOSE_INTERNAL: u16 = 1011;

pub async fn run(
    state: AppState,
    mut socket: WebSocket,
    worker: WorkerRecord,
    key: Arc<CachedKey>,
) {
    let hub = &state.workers;
    let store = state.store.workers();
    let connection = format!("{}:{}", hub.node, keyward_core::base62::random(10));
    let id = worker.id.clone();
    let now = state.clock.now();
    if let Err(e) = store.connect_worker(&id, &connection, now).await {
        tracing::warn!(worker = %id, error = %e, "cannot record a worker's connection");
        close(&mut socket, CLOSE_INTERNAL, "internal_error").await;
        return;
    }
    let record = match store.find_worker(&id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(worker = %id, error = %e, "cannot read a worker");
            close(&mut socket, CLOSE_INTERNAL, "internal_error").await;
            return;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let mut conns = hub.conns.lock().unwrap_or_else(|e| e.into_inner());
        let previous = conns.insert(
            id.clone(),
            Local {
                connection: connection.clone(),
                org_id: record.org_id.clone(),
                workspace_id: record.workspace_id.clone(),
                labels: record.labels.clone(),
                forwards: record.forwards,
                draining: false,
                tx,
            },
        );
        if let Some(previous) = previous {
            let _ = previous
                .tx
                .send(Outgoing::Close(CLOSE_REPLACED, "worker_replaced".into()));
        }
    }
    tracing::info!(worker = %id, name = %record.name, "worker connected");
    let hello = ServerMessage::Hello {
        worker: Box::new(super::api(&record, now)),
        heartbeat_interval_secs: record.heartbeat_interval_secs,
        forward_timeout_secs: hub.config.forward_timeout.as_secs().max(1) as u32,
    };
    let end = if send(&mut socket, &hello).await {
        hub.wake();
        serve(&state, &mut socket, &mut rx, &record, &connection, &key).await
    } else {
        End::Gone
    };
    {
        let mut conns = hub.conns.lock().unwrap_or_else(|e| e.into_inner());
        if conns.get(&id).is_some_and(|l| l.connection == connection) {
            conns.remove(&id);
        }
    }
    let stopped = matches!(end, End::Deregistered);
    if let Err(e) = store
        .disconnect_worker(&id, &connection, state.clock.now(), stopped)
        .await
    {
        tracing::warn!(worker = %id, error = %e, "cannot record a worker's disconnection");
    }
    match end {
        End::Deregistered => {
            tracing::info!(worker = %id, "worker deregistered");
            close(&mut socket, CLOSE_NORMAL, "deregistered").await;
        }
        End::Close(code, reason) => {
            tracing::info!(worker = %id, code, %reason, "worker connection closed");
            close(&mut socket, code, &reason).await;
        }
        End::Gone => tracing::info!(worker = %id, "worker connection lost"),
    }
}

async fn serve(
    state: &AppState,
    socket: &mut WebSocket,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outgoing>,
    worker: &WorkerRecord,
    connection: &str,
    key: &CachedKey,
) -> End {
    let store = state.store.workers();
    let interval = Duration::from_secs(u64::from(worker.heartbeat_interval_secs.max(1)));
    let silence = interval * 3 + Duration::from_secs(10);
    let mut changes = state.keys.changes();
    let mut heard = Instant::now();
    // A heartbeat is written at most twice an interval (by either clock): a worker that
    // sends them in a loop gets answers, not database writes.
    let mut written = (Instant::now(), state.clock.now());
    let half = interval / 2;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        heard = Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return End::Close(CLOSE_PROTOCOL, "invalid_message".into())
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return End::Gone,
                };
                heard = Instant::now();
                let Ok(message) = serde_json::from_str::<WorkerMessage>(text.as_str()) else {
                    return End::Close(CLOSE_PROTOCOL, "invalid_message".into());
                };
                match message {
                    WorkerMessage::Heartbeat { .. } => {
                        if let Some(end) = key_ended(state, key).await {
                            return end;
                        }
                        let now = state.clock.now();
                        let due = written.0.elapsed() >= half
                            || (now - written.1).to_std().is_ok_and(|d| d >= half);
                        if !due {
                            if !send(socket, &ServerMessage::HeartbeatAck { at: now }).await {
                                return End::Gone;
                            }
                            continue;
                        }
                        written = (Instant::now(), now);
                        match store.heartbeat_worker(&worker.id, connection, now).await {
                            Ok(true) => {
                                if !send(socket, &ServerMessage::HeartbeatAck { at: now }).await {
                                    return End::Gone;
                                }
                            }
                            Ok(false) => return gone_or_replaced(state, &worker.id).await,
                            Err(e) => {
                                tracing::warn!(worker = %worker.id, error = %e, "cannot record a heartbeat")
                            }
                        }
                    }
                    WorkerMessage::Ack(ack) => acknowledge(state, &worker.id, connection, ack).await,
                    WorkerMessage::Drain => {
                        let mut conns = state.workers.conns.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(local) = conns.get_mut(&worker.id).filter(|l| l.connection == connection) {
                            local.draining = true;
                        }
                    }
                    WorkerMessage::Deregister => return End::Deregistered,
                }
            }
            out = rx.recv() => match out {
                Some(Outgoing::Message(m)) => {
                    if !send(socket, &m).await {
                        return End::Gone;
                    }
                }
                Some(Outgoing::Close(code, reason)) => return End::Close(code, reason),
                None => return End::Gone,
            },
            Ok(()) = changes.changed() => {
                if let Some(end) = key_ended(state, key).await {
                    return end;
                }
            }
            _ = tokio::time::sleep_until(heard + silence) => {
                tracing::info!(worker = %worker.id, "no heartbeat for three intervals: closing");
                return End::Gone;
            }
        }
    }
}

/// Closes it when its key no longer works, by the server's clock.
async fn key_ended(state: &AppState, key: &CachedKey) -> Option<End> {
    let record = match state
        .keys
        .lookup(state.store.as_ref(), &key.record.hash)
        .await
    {
        Ok(Some(r)) => r,
        // Deleted with its organization or owner: it works no more.
        Ok(None) => return Some(End::Close(CLOSE_KEY_REVOKED, "token_revoked".into())),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a worker's key");
            return None;
        }
    };
    let r = &record.record;
    match status_at(r.revoked_at, r.expires_at, r.enabled, state.clock.now()) {
        KeyStatus::Active => None,
        KeyStatus::Revoked => Some(End::Close(CLOSE_KEY_REVOKED, "token_revoked".into())),
        KeyStatus::Expired => Some(End::Close(CLOSE_KEY_EXPIRED, "token_expired".into())),
        KeyStatus::Disabled => Some(End::Close(CLOSE_KEY_DISABLED, "token_disabled".into())),
    }
}

/// The row no longer names this connection: removed, or another connection took it.
async fn gone_or_replaced(state: &AppState, id: &str) -> End {
    match state.store.workers().find_worker(id).await {
        Err(StoreError::NotFound) => End::Close(CLOSE_WORKER_REMOVED, "worker_removed".into()),
        _ => End::Close(CLOSE_REPLACED, "worker_replaced".into()),
    }
}

/// At most this much of what a worker says went wrong is kept.
const MAX_ERROR_CHARS: usize = 200;

async fn acknowledge(state: &AppState, worker_id: &str, connection: &str, ack: WorkerAck) {
    let _ = connection;
    // Only this worker's claims (also those of its earlier connections).
    let held: Option<InFlight> = {
        let mut held = state.workers.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get(&ack.claim) {
            Some(h) if h.worker_id == worker_id && h.event.id == ack.event_id => {
                held.remove(&ack.claim)
            }
            _ => None,
        }
    };
    let Some(held) = held else {
        tracing::warn!(worker = %worker_id, event = %ack.event_id, "acknowledgement of an event this connection does not hold");
        return;
    };
    let endpoint = match state
        .store
        .webhooks()
        .find_webhook_endpoint(&held.event.endpoint_id)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(event = %held.event.id, error = %e, "acknowledged event's endpoint is gone");
            return;
        }
    };
    let delivered = ack.status_code.is_some_and(|c| (200..300).contains(&c));
    let said = ack.error.map(|e| {
        e.chars()
            .filter(|c| !c.is_control())
            .take(MAX_ERROR_CHARS)
            .collect::<String>()
    });
    let error = match (delivered, ack.status_code) {
        (true, _) => None,
        (false, Some(code)) => Some(format!("HTTP {code} from the worker's local URL")),
        (false, None) => Some(format!(
            "the worker could not forward it: {}",
            said.as_deref().unwrap_or("no answer")
        )),
    };
    let lease_ms = state.workers.config.lease().as_millis() as u64;
    deliver::record(
        state,
        &endpoint,
        &held.event,
        &ack.claim,
        Answer {
            at: held.at,
            status_code: ack.status_code,
            latency_ms: ack.latency_ms.min(lease_ms),
            error,
        },
    )
    .await;
    state.workers.wake();
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    let Ok(text) = serde_json::to_string(message) else {
        return false;
    };
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        })))
        .await;
}
