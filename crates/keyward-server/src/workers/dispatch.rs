//! The dispatcher every node runs: hands events of webhook endpoints whose destination
//! is workers (`workers`, `workers:LABEL`) to the workers connected to this node.
//!
//! In order per endpoint, one at a time: only an endpoint's oldest pending event is
//! offered (its "head"), and only while no event of the endpoint is leased, so the next
//! waits until the worker acknowledged it (or its lease ran out). A head is leased in
//! the database ([`keyward_store::WebhookStore::claim_worker_delivery`], which locks
//! the endpoint's row): of nodes dispatching at once, one takes it, for one of its
//! workers. The lease lasts the forward timeout and a margin; a worker that dies
//! holding an event lets it go to another worker of the selection when it runs out.
//!
//! Also here: workers whose last heartbeat is older than the retention are removed,
//! each audited.

use super::{InFlight, Outgoing};
use crate::state::AppState;
use crate::webhooks::deliver::{self, Answer};
use base64::Engine as _;
use keyward_api::{ServerMessage, WebhookProvider, WorkerDelivery};
use keyward_core::worker::parse_workers_destination;
use keyward_store::{Actor, NewAuditEvent, WorkerRecord};
use std::time::{Duration, Instant};

/// Who the audit log names for what the retention removes.
pub fn retention_actor() -> Actor {
    Actor {
        actor_type: "system".into(),
        id: None,
        name: "worker retention".into(),
        key_id: None,
        authority: None,
    }
}

const PURGE_EVERY: Duration = Duration::from_secs(3600);
const PURGE_BATCH: u32 = 500;
/// Heads looked at in one round.
const HEADS: u32 = 100;

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let hub = &state.workers;
    let poll = state.webhooks.config.poll_interval;
    // By either clock: an hour of the process, or an hour of the server's clock (which
    // tests move).
    let mut last_purge: Option<(Instant, chrono::DateTime<chrono::Utc>)> = None;
    loop {
        let due = last_purge.is_none_or(|(real, by_clock)| {
            real.elapsed() >= PURGE_EVERY
                || state.clock.now() - by_clock >= chrono::Duration::hours(1)
        });
        if due {
            last_purge = Some((Instant::now(), state.clock.now()));
            purge(&state).await;
        }
        if round(&state).await {
            continue;
        }
        tokio::select! {
            _ = hub.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Removes workers not heard from for the retention period; how many.
pub async fn purge(state: &AppState) -> usize {
    let retention = chrono::Duration::from_std(state.workers.config.retention)
        .unwrap_or(chrono::Duration::days(14));
    let now = state.clock.now();
    let reason = format!(
        "no heartbeat for more than {} days",
        retention.num_days().max(1)
    );
    let audit = move |w: &WorkerRecord| NewAuditEvent {
        org_id: w.org_id.clone(),
        at: now,
        actor: retention_actor(),
        action: "worker.remove".into(),
        target_type: "worker".into(),
        target_id: w.id.clone(),
        source_ip: None,
        details: serde_json::json!({
            "name": w.name,
            "workspace_id": w.workspace_id,
            "last_heartbeat_at": w.last_heartbeat_at,
            "reason": reason,
            "automatic": true,
        }),
    };
    let mut total = 0;
    loop {
        match state
            .store
            .workers()
            .purge_workers(now - retention, PURGE_BATCH, &audit)
            .await
        {
            Ok(removed) => {
                for w in &removed {
                    state.workers.disconnect(
                        &w.id,
                        keyward_api::CLOSE_WORKER_REMOVED,
                        "worker_removed",
                    );
                }
                total += removed.len();
                if removed.len() < PURGE_BATCH as usize {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove old workers");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(removed = total, "workers past their retention removed");
    }
    total
}

/// One round: true when it handed out an event (there may be more).
async fn round(state: &AppState) -> bool {
    let hub = &state.workers;
    let max = hub.config.max_in_flight.max(1);
    let lease =
        chrono::Duration::from_std(hub.config.lease()).unwrap_or(chrono::Duration::seconds(15));
    let now = state.clock.now();
    // What a worker held past its lease is another's now (or again claimable).
    let busy = {
        let mut held = hub.held.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|_, f| f.at + lease > now);
        let mut busy: std::collections::HashMap<String, usize> = Default::default();
        for f in held.values() {
            *busy.entry(f.worker_id.clone()).or_default() += 1;
        }
        busy
    };
    let load = |id: &str| busy.get(id).copied().unwrap_or(0);
    let workspaces: Vec<(String, String)> = {
        let conns = hub.conns.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, String)> = Vec::new();
        for (id, local) in conns.iter() {
            if local.forwards && !local.draining && load(id) < max {
                let pair = (local.org_id.clone(), local.workspace_id.clone());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    };
    if workspaces.is_empty() {
        return false;
    }
    let store = state.store.webhooks();
    let heads = match store.worker_delivery_heads(&workspaces, now, HEADS).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the events due for workers");
            return false;
        }
    };
    let mut handed = false;
    let mut busy = busy;
    for head in heads {
        let Some(Ok(label)) = parse_workers_destination(&head.destination) else {
            continue;
        };
        // The least busy worker here of the endpoint's selection.
        let pick = {
            let conns = hub.conns.lock().unwrap_or_else(|e| e.into_inner());
            conns
                .iter()
                .filter(|(id, l)| {
                    l.forwards
                        && !l.draining
                        && busy.get(id.as_str()).copied().unwrap_or(0) < max
                        && l.org_id == head.org_id
                        && l.workspace_id == head.workspace_id
                        && label.as_ref().is_none_or(|label| l.labels.contains(label))
                })
                .min_by_key(|(id, _)| busy.get(id.as_str()).copied().unwrap_or(0))
                .map(|(id, l)| (id.clone(), l.connection.clone()))
        };
        let Some((worker_id, connection)) = pick else {
            continue;
        };
        let claim = format!("{connection}:{}", keyward_core::base62::random(8));
        let now = state.clock.now();
        let event = match store
            .claim_worker_delivery(&head.event_id, &claim, now, now + lease)
            .await
        {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(event = %head.event_id, error = %e, "cannot lease an event for a worker");
                continue;
            }
        };
        let endpoint = match store.find_webhook_endpoint(&event.endpoint_id).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(event = %event.id, error = %e, "cannot read a webhook endpoint");
                let _ = store.release_webhook_lease(&event.id, &claim).await;
                continue;
            }
        };
        let attempt = event.attempts + 1;
        let (headers, provider) = match (
            deliver::delivery_headers(state, &endpoint, &event, attempt),
            WebhookProvider::parse(&endpoint.provider),
        ) {
            (Ok(h), Some(p)) => (h, p),
            (Err(why), _) => {
                // Recorded like a failed attempt: retried on the schedule.
                let answer = Answer {
                    at: now,
                    status_code: None,
                    latency_ms: 0,
                    error: Some(why),
                };
                deliver::record(state, &endpoint, &event, &claim, answer).await;
                continue;
            }
            (_, None) => {
                let _ = store.release_webhook_lease(&event.id, &claim).await;
                continue;
            }
        };
        let body = event.body.as_deref().unwrap_or_default();
        let message = ServerMessage::Event(Box::new(WorkerDelivery {
            claim: claim.clone(),
            event_id: event.id.clone(),
            endpoint_id: endpoint.id.clone(),
            provider,
            attempt,
            headers,
            body_base64: base64::engine::general_purpose::STANDARD.encode(body),
        }));
        let held = keyward_store::WebhookEvent {
            body: None,
            ..event.clone()
        };
        // Held before it is sent: an acknowledgement cannot come before it is known.
        hub.held.lock().unwrap_or_else(|e| e.into_inner()).insert(
            claim.clone(),
            InFlight {
                worker_id: worker_id.clone(),
                event: held,
                at: now,
            },
        );
        let sent = {
            let conns = hub.conns.lock().unwrap_or_else(|e| e.into_inner());
            conns
                .get(&worker_id)
                .filter(|l| l.connection == connection)
                .is_some_and(|l| l.tx.send(Outgoing::Message(message)).is_ok())
        };
        if sent {
            handed = true;
            *busy.entry(worker_id.clone()).or_default() += 1;
            tracing::debug!(event = %event.id, worker = %worker_id, "event handed to a worker");
        } else {
            // The worker went meanwhile: nobody has it, so the next may take it now.
            hub.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&claim);
            let _ = store.release_webhook_lease(&event.id, &claim).await;
        }
    }
    handed
}
