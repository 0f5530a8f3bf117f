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
use futures_util::{SinkExt, StreamExt};
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
/// Try again later (RFC 6455's 1013): the worker registers again and reconnects.
const CLOSE_TRY_AGAIN: u16 = 1013;

/// Frames the connection's writer has waiting at most: a worker that stops reading is
/// disconnected rather than buffered for.
const WRITE_QUEUE: usize = 32;
/// One frame's write may take this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages other than acknowledgements a worker may send: a burst, then a steady rate
/// per second (heartbeats need one an interval).
const MESSAGE_BURST: f64 = 200.0;
const MESSAGES_PER_SEC: f64 = 50.0;
/// Acknowledgements of nothing it holds before the connection is closed.
const BAD_ACKS: u32 = 20;

/// What the writer task sends.
enum Frame {
    Text(String),
    Close(u16, String),
}

/// The writer: the only one to write on the socket, so a worker that does not read
/// blocks nothing but it. It ends on the first failed or too slow write.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut frames: tokio::sync::mpsc::Receiver<Frame>,
) {
    while let Some(frame) = frames.recv().await {
        let (message, last) = match frame {
            Frame::Text(t) => (Message::Text(t.into()), false),
            Frame::Close(code, reason) => (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                true,
            ),
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
            Ok(Ok(())) if !last => {}
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

pub async fn run(state: AppState, socket: WebSocket, worker: WorkerRecord, key: Arc<CachedKey>) {
    let hub = &state.workers;
    let store = state.store.workers();
    let connection = format!("{}:{}", hub.node, keyward_core::base62::random(10));
    let id = worker.id.clone();
    let (sink, mut stream) = socket.split();
    let (out, frames) = tokio::sync::mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write(sink, frames));
    let finish = |out: tokio::sync::mpsc::Sender<Frame>, code: u16, reason: String| async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), out.send(Frame::Close(code, reason)))
            .await;
    };
    // Told of key changes from before the key is looked at, so none falls in between.
    let mut changes = state.keys.changes();
    if let Some(End::Close(code, reason)) = key_ended(&state, &key).await {
        finish(out, code, reason).await;
        let _ = writer.await;
        return;
    }
    let now = state.clock.now();
    if let Err(e) = store.connect_worker(&id, &connection, now).await {
        tracing::warn!(worker = %id, error = %e, "cannot record a worker's connection");
        finish(out, CLOSE_INTERNAL, "internal_error".into()).await;
        let _ = writer.await;
        return;
    }
    let record = match store.find_worker(&id).await {
        // Registered again by another key or run between the upgrade's check and
        // this connection: let it go; that daemon registers again (1013, try later).
        Ok(r) if r.key.id != key.record.id || r.instance != worker.instance => {
            let _ = store
                .disconnect_worker(&id, &connection, state.clock.now(), false)
                .await;
            finish(out, CLOSE_TRY_AGAIN, "worker_not_yours".into()).await;
            let _ = writer.await;
            return;
        }
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(worker = %id, error = %e, "cannot read a worker");
            finish(out, CLOSE_INTERNAL, "internal_error".into()).await;
            let _ = writer.await;
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
    let end = if push(&out, &hello) {
        hub.wake();
        let mut link = Link {
            state: &state,
            out: &out,
            worker: &record,
            connection: &connection,
            key: &key,
            bad_acks: 0,
        };
        link.serve(&mut stream, &mut rx, &mut changes).await
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
            finish(out, CLOSE_NORMAL, "deregistered".into()).await;
        }
        End::Close(code, reason) => {
            tracing::info!(worker = %id, code, %reason, "worker connection closed");
            finish(out, code, reason).await;
        }
        End::Gone => {
            tracing::info!(worker = %id, "worker connection lost");
            drop(out);
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Queues a message for the writer; false when the worker is not reading (its queue is
/// full) or the writer ended.
fn push(out: &tokio::sync::mpsc::Sender<Frame>, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => out.try_send(Frame::Text(text)).is_ok(),
        Err(_) => false,
    }
}

/// One connection being served.
struct Link<'a> {
    state: &'a AppState,
    out: &'a tokio::sync::mpsc::Sender<Frame>,
    worker: &'a WorkerRecord,
    connection: &'a str,
    key: &'a CachedKey,
    bad_acks: u32,
}

impl Link<'_> {
    async fn serve(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outgoing>,
        changes: &mut tokio::sync::watch::Receiver<u64>,
    ) -> End {
        let state = self.state;
        let worker = self.worker;
        let store = state.store.workers();
        let interval = Duration::from_secs(u64::from(worker.heartbeat_interval_secs.max(1)));
        let silence = interval * 3 + Duration::from_secs(10);
        let mut heard = Instant::now();
        // A heartbeat is written at most twice an interval (by either clock): a worker
        // that sends them in a loop gets answers, not database writes.
        let mut written = (Instant::now(), state.clock.now());
        let half = interval / 2;
        let mut budget = (MESSAGE_BURST, Instant::now());
        loop {
            tokio::select! {
                msg = stream.next() => {
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
                    // Acknowledgements are as many as the events sent (and those of
                    // nothing are counted apart); everything else has a budget.
                    if !matches!(message, WorkerMessage::Ack(_)) {
                        let refill = budget.1.elapsed().as_secs_f64() * MESSAGES_PER_SEC;
                        budget = ((budget.0 + refill).min(MESSAGE_BURST) - 1.0, Instant::now());
                        if budget.0 < 0.0 {
                            return End::Close(CLOSE_PROTOCOL, "too_many_messages".into());
                        }
                    }
                    match message {
                        WorkerMessage::Heartbeat { .. } => {
                            if let Some(end) = key_ended(state, self.key).await {
                                return end;
                            }
                            let now = state.clock.now();
                            let due = written.0.elapsed() >= half
                                || (now - written.1).to_std().is_ok_and(|d| d >= half);
                            if due {
                                written = (Instant::now(), now);
                                match store.heartbeat_worker(&worker.id, self.connection, now).await {
                                    Ok(true) => {}
                                    Ok(false) => return gone_or_replaced(state, &worker.id).await,
                                    Err(e) => {
                                        tracing::warn!(worker = %worker.id, error = %e, "cannot record a heartbeat")
                                    }
                                }
                            }
                            if !push(self.out, &ServerMessage::HeartbeatAck { at: now }) {
                                return End::Gone;
                            }
                        }
                        WorkerMessage::Ack(ack) => {
                            if let Some(end) = self.acknowledge(ack).await {
                                return end;
                            }
                        }
                        WorkerMessage::Drain => {
                            let mut conns =
                                state.workers.conns.lock().unwrap_or_else(|e| e.into_inner());
                            if let Some(local) = conns
                                .get_mut(&worker.id)
                                .filter(|l| l.connection == self.connection)
                            {
                                local.draining = true;
                            }
                        }
                        WorkerMessage::Deregister => return End::Deregistered,
                    }
                }
                out = rx.recv() => match out {
                    Some(Outgoing::Message(m)) => {
                        if !push(self.out, &m) {
                            tracing::info!(worker = %worker.id, "the worker does not read: closing");
                            return End::Gone;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => return End::Close(code, reason),
                    None => return End::Gone,
                },
                Ok(()) = changes.changed() => {
                    if let Some(end) = key_ended(state, self.key).await {
                        return end;
                    }
                }
                _ = self.out.closed() => return End::Gone,
                _ = tokio::time::sleep_until(heard + silence) => {
                    tracing::info!(worker = %worker.id, "no heartbeat for three intervals: closing");
                    return End::Gone;
                }
            }
        }
    }

    /// Finishes the event an acknowledgement names, if this worker holds its lease (also
    /// one leased on another node or before a restart: the database's lease decides).
    /// Too many acknowledgements of nothing end the connection.
    async fn acknowledge(&mut self, ack: WorkerAck) -> Option<End> {
        let state = self.state;
        let worker_id = self.worker.id.as_str();
        let mine = ack.claim.len() <= 100
            && ack.event_id.len() <= 64
            && ack
                .claim
                .strip_prefix(worker_id)
                .is_some_and(|rest| rest.starts_with(':'));
        let held: Option<InFlight> = if mine {
            let mut held = state.workers.held.lock().unwrap_or_else(|e| e.into_inner());
            match held.get(&ack.claim) {
                Some(h) if h.worker_id == worker_id && h.event.id == ack.event_id => {
                    held.remove(&ack.claim)
                }
                _ => None,
            }
        } else {
            None
        };
        let (event, at) = match held {
            Some(h) => (h.event, h.at),
            None => {
                let leased = match (&ack.endpoint_id, mine) {
                    (Some(endpoint), true) if endpoint.len() <= 64 => state
                        .store
                        .webhooks()
                        .get_webhook_delivery(&self.worker.org_id, endpoint, &ack.event_id)
                        .await
                        .ok()
                        .map(|(e, _)| e)
                        .filter(|e| e.lease_owner.as_deref() == Some(ack.claim.as_str())),
                    _ => None,
                };
                match leased {
                    Some(e) => (e, state.clock.now()),
                    None => {
                        self.bad_acks += 1;
                        tracing::debug!(worker = %worker_id, "acknowledgement of an event this worker does not hold");
                        if self.bad_acks > BAD_ACKS {
                            return Some(End::Close(
                                CLOSE_PROTOCOL,
                                "invalid_acknowledgements".into(),
                            ));
                        }
                        return None;
                    }
                }
            }
        };
        let endpoint = match state
            .store
            .webhooks()
            .find_webhook_endpoint(&event.endpoint_id)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(event = %event.id, error = %e, "acknowledged event's endpoint is gone");
                return None;
            }
        };
        let delivered = ack.status_code.is_some_and(|c| (200..300).contains(&c));
        let said = ack.error.map(|e| {
            e.chars()
                .filter(|c| {
                    !c.is_control()
                        && !keyward_oauth::is_bidi_control(*c)
                        && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
                })
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
            &event,
            &ack.claim,
            Answer {
                at,
                status_code: ack.status_code,
                latency_ms: ack.latency_ms.min(lease_ms),
                error,
            },
        )
        .await;
        state.workers.wake();
        None
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
