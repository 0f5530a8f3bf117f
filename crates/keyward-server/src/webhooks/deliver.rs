//! The deliverer every node runs. Due events are leased one by one in the database
//! (a conditional `UPDATE`), so of several nodes exactly one sends a given attempt; a node
//! that dies holding a lease gives it up when the lease runs out ([`super::Config::lease`])
//! and another node (or this one, restarted) sends it. Delivery is at least once: a
//! destination deduplicates on `webhook-id`, the same across retries and replays.
//!
//! Each attempt is a `POST` of the body as received to the endpoint's destination with
//! Standard Webhooks headers signed by every signing secret in use (two during a
//! rotation's overlap) and `x-keyward-provider`, `-event-id`, `-endpoint`, `-attempt`.
//! A 2xx delivers; anything else (another status, a redirect, a timeout, no connection)
//! is retried on the schedule with ±10 % jitter, then the event is `failed`. An
//! endpoint whose deliveries have all failed for `disable_after` is disabled, audited.

use super::secrets;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use keyward_api::{HEADER_ATTEMPT, HEADER_ENDPOINT, HEADER_EVENT_ID, HEADER_PROVIDER};
use keyward_store::{
    Actor, AttemptOutcome, NewAuditEvent, StoreError, WebhookAttempt, WebhookEndpointRecord,
    WebhookEvent,
};
use keyward_webhooks::standard;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Who the audit log names for what the deliverer does.
pub fn deliverer() -> Actor {
    Actor {
        actor_type: "system".into(),
        id: None,
        name: "webhook deliverer".into(),
        key_id: None,
        authority: None,
    }
}

const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let hub = &state.webhooks;
    let config = &hub.config;
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let lease = chrono::Duration::from_std(config.lease()).unwrap_or(chrono::Duration::minutes(1));
    let mut last_purge: Option<Instant> = None;
    loop {
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(Instant::now());
            purge(&state).await;
        }
        let free = permits.available_permits();
        let mut full_batch = false;
        if free > 0 {
            // The lease runs from before the claim (which may wait for the writer):
            // sending must be over a margin before it ends.
            let deadline =
                tokio::time::Instant::now() + config.lease().saturating_sub(Duration::from_secs(2));
            let now = state.clock.now();
            let limit = free.min(64) as u32;
            // A lease names this claim, not only this node: an attempt that outlived its
            // lease cannot write over the one that took the event next.
            let owner = format!("{}:{}", hub.node, keyward_core::base62::random(10));
            match state
                .store
                .webhooks()
                .claim_webhook_deliveries(&owner, now, now + lease, limit)
                .await
            {
                Ok(events) => {
                    full_batch = events.len() as u32 == limit;
                    for event in events {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        let state = state.clone();
                        let owner = owner.clone();
                        tokio::spawn(async move {
                            attempt(&state, event, &owner, deadline).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim webhook deliveries"),
            }
        }
        if full_batch {
            // More may be due: look again as soon as a permit is free.
            let _ = permits.clone().acquire_owned().await;
            continue;
        }
        tokio::select! {
            _ = hub.wake.notified() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

async fn purge(state: &AppState) {
    let retention = chrono::Duration::from_std(state.webhooks.config.retention)
        .unwrap_or(chrono::Duration::days(30));
    let before = state.clock.now() - retention;
    match state.store.webhooks().purge_webhook_events(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "old webhook events deleted"),
        Err(e) => tracing::warn!(error = %e, "cannot delete old webhook events"),
    }
}

/// Why an attempt failed, in words that never hold the destination's URL (it may carry
/// a token of the app's).
fn failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "redirect not followed".into()
    } else if chain_mentions(e, super::guard::REFUSED) {
        super::guard::REFUSED.into()
    } else {
        "request failed".into()
    }
}

fn chain_mentions(e: &(dyn std::error::Error + 'static), what: &str) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err.to_string().contains(what) {
            return true;
        }
        next = err.source();
    }
    false
}

/// Standard Webhooks headers signed with every signing secret in use.
fn signature(
    opened: &secrets::Opened,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    now: DateTime<Utc>,
) -> String {
    opened
        .signing_at(now)
        .filter_map(|s| standard::Secret::parse(s.secret.expose_secret()).ok())
        .map(|s| standard::sign(&s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headers of a delivery of `event` (attempt `attempt`) from `endpoint`: Standard
/// Webhooks' signed with every signing secret in use, and `x-keyward-*`. An error (in
/// words fit for the attempt log) when no secret can sign: nothing is sent unsigned.
pub(crate) fn delivery_headers(
    state: &AppState,
    endpoint: &WebhookEndpointRecord,
    event: &WebhookEvent,
    attempt: u32,
) -> Result<Vec<(String, String)>, String> {
    let opened = match secrets::open(state.vault.ring(), endpoint) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(endpoint = %endpoint.id, error = %e, "cannot open a webhook endpoint's secrets");
            return Err("the endpoint's signing secret cannot be opened".into());
        }
    };
    let body = event.body.as_deref().unwrap_or_default();
    let now = state.clock.now();
    let timestamp = now.timestamp();
    let signature = signature(&opened, &event.id, timestamp, body, now);
    drop(opened);
    if signature.is_empty() {
        // Never send an unsigned delivery: the app could not tell it from a forgery.
        return Err("the endpoint has no usable signing secret".into());
    }
    let mut headers = vec![
        (
            reqwest::header::CONTENT_TYPE.as_str().to_owned(),
            event
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
        ),
        (standard::ID_HEADER.to_owned(), event.id.clone()),
        (standard::TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
        (standard::SIGNATURE_HEADER.to_owned(), signature),
        (HEADER_PROVIDER.to_owned(), endpoint.provider.clone()),
        (HEADER_ENDPOINT.to_owned(), endpoint.id.clone()),
        (HEADER_ATTEMPT.to_owned(), attempt.to_string()),
    ];
    if let Some(id) = event
        .provider_event_id
        .as_deref()
        .filter(|id| reqwest::header::HeaderValue::from_str(id).is_ok())
    {
        headers.push((HEADER_EVENT_ID.to_owned(), id.to_owned()));
    }
    Ok(headers)
}

/// One attempt: (status code, error).
async fn send(
    state: &AppState,
    endpoint: &WebhookEndpointRecord,
    event: &WebhookEvent,
    attempt: u32,
) -> (Option<u16>, Option<String>) {
    let headers = match delivery_headers(state, endpoint, event, attempt) {
        Ok(h) => h,
        Err(why) => return (None, Some(why)),
    };
    let allow_private = state.webhooks.config.allow_private_destinations;
    match url::Url::parse(&endpoint.destination) {
        Ok(url) => {
            if let Err(why) = super::guard::check_host(&url, allow_private) {
                return (None, Some(format!("the destination is {why}")));
            }
        }
        Err(_) => return (None, Some("the destination is not a URL".into())),
    }
    let mut request = state.webhooks.client.post(&endpoint.destination);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let body = event.body.clone().unwrap_or_default();
    match request.body(body).send().await {
        Ok(response) => {
            let code = response.status().as_u16();
            // The answer's body is not read: nothing of the app's is kept.
            if response.status().is_success() {
                (Some(code), None)
            } else {
                (Some(code), Some(format!("HTTP {code}")))
            }
        }
        Err(e) => (None, Some(failure(&e))),
    }
}

async fn attempt(
    state: &AppState,
    event: WebhookEvent,
    owner: &str,
    deadline: tokio::time::Instant,
) {
    let store = state.store.webhooks();
    let endpoint = match store.find_webhook_endpoint(&event.endpoint_id).await {
        Ok(e) => e,
        Err(StoreError::NotFound) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a webhook endpoint");
            let _ = store.release_webhook_lease(&event.id, owner).await;
            return;
        }
    };
    let number = event.attempts + 1;
    let at = state.clock.now();
    let started = Instant::now();
    let (status_code, error) = if endpoint.enabled {
        // Bounded by the lease: past it, another claim may take the event. Recording the
        // outcome is not: a late record is refused by the lease check, never written over
        // the next claim's.
        match tokio::time::timeout_at(deadline, send(state, &endpoint, &event, number)).await {
            Ok(sent) => sent,
            Err(_) => (None, Some("timeout".into())),
        }
    } else {
        (
            None,
            Some("the endpoint is disabled: replay to deliver".into()),
        )
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    record(
        state,
        &endpoint,
        &event,
        owner,
        Answer {
            at,
            status_code,
            latency_ms,
            error,
        },
    )
    .await;
}

/// What one attempt got.
pub(crate) struct Answer {
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// Writes attempt `event.attempts + 1` and what follows from it (delivered, retried on
/// the schedule, failed) if `owner` still holds the event's lease; disables an endpoint
/// that has failed for too long. The URL deliverer and workers' acknowledgements both
/// end here.
pub(crate) async fn record(
    state: &AppState,
    endpoint: &WebhookEndpointRecord,
    event: &WebhookEvent,
    owner: &str,
    answer: Answer,
) {
    let hub = &state.webhooks;
    let store = state.store.webhooks();
    let number = event.attempts + 1;
    let Answer {
        at,
        status_code,
        latency_ms,
        error,
    } = answer;
    let schedule = &hub.config.schedule;
    let outcome = match &error {
        None => AttemptOutcome::Delivered,
        Some(_) if !endpoint.enabled => AttemptOutcome::Failed,
        // The schedule counts from the last replay.
        Some(_) => match schedule.get(number.saturating_sub(event.retry_base + 1) as usize) {
            Some(delay) => {
                let delay = chrono::Duration::from_std(super::jitter(*delay))
                    .unwrap_or(chrono::Duration::hours(10));
                let now = state.clock.now();
                AttemptOutcome::Retry(now.checked_add_signed(delay).unwrap_or(now))
            }
            None => AttemptOutcome::Failed,
        },
    };
    let record = WebhookAttempt {
        event_id: event.id.clone(),
        attempt: number,
        at,
        status_code,
        latency_ms,
        error: error.clone(),
    };
    tracing::info!(endpoint = %endpoint.id, event = %event.id, attempt = number,
        status = ?status_code, error = ?error, "webhook delivery attempt");
    let failing_since = match store.finish_webhook_attempt(owner, record, outcome).await {
        Ok(f) => f,
        Err(e) => {
            // The lease ran out and another node took the event, or it was deleted.
            tracing::warn!(event = %event.id, error = %e, "webhook attempt not recorded");
            return;
        }
    };
    if let (true, Some(since)) = (endpoint.enabled, failing_since) {
        let after = chrono::Duration::from_std(hub.config.disable_after)
            .unwrap_or(chrono::Duration::days(1));
        let now = state.clock.now();
        if since <= now - after {
            disable(state, endpoint, now - after, since).await;
        }
    }
}

async fn disable(
    state: &AppState,
    endpoint: &WebhookEndpointRecord,
    failing_before: DateTime<Utc>,
    since: DateTime<Utc>,
) {
    let now = state.clock.now();
    let reason = format!(
        "every delivery failed since {}",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let audit = NewAuditEvent {
        org_id: endpoint.org_id.clone(),
        at: now,
        actor: deliverer(),
        action: "webhook_endpoint.disable".into(),
        target_type: "webhook_endpoint".into(),
        target_id: endpoint.id.clone(),
        source_ip: None,
        details: serde_json::json!({"reason": reason, "automatic": true, "failing_since": since}),
    };
    match state
        .store
        .webhooks()
        .disable_failing_endpoint(&endpoint.id, failing_before, &reason, audit)
        .await
    {
        Ok(true) => tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled"),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(endpoint = %endpoint.id, error = %e, "cannot disable a failing webhook endpoint")
        }
    }
}
