//! `GET`/`POST /hooks/{id}`: what providers call. Authenticated by the provider's
//! signature over the raw body (never a bearer key), checked before anything else is
//! done with the body; a verified event is committed to the database before the
//! provider gets its 2xx, so a crash after the answer loses nothing.
//!
//! | provider | checked | answered besides 200 |
//! | --- | --- | --- |
//! | whatsapp | `X-Hub-Signature-256`; `GET` `hub.*` handshake (403 if refused) | the challenge |
//! | slack | `X-Slack-Signature` v0, 5-minute window | `url_verification`'s challenge |
//! | telegram | `X-Telegram-Bot-Api-Secret-Token` | |
//! | discord | Ed25519 `X-Signature-Ed25519` over timestamp ‖ body | PING → `{"type":1}`; an interaction → a deferred response |
//! | standard | `webhook-id/-timestamp/-signature` (several `v1,`), 5-minute window | |
//!
//! A refused request is noted in the endpoint's log (why, never the body) and answered
//! 401 problem+json. A repeated event (the provider's event id, `webhook-id`, or the
//! body's hash for Meta) is acknowledged and not kept again.

use super::secrets::{self, Opened};
use crate::errors::{ApiError, Result};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_api::{ErrorCode, WebhookProvider};
use keyward_store::{
    DeliveryState, EventInsert, NewRefusal, NewWebhookEvent, StoreError, WebhookEndpointRecord,
};
use keyward_webhooks::{discord, meta, slack, standard, telegram, Headers, Refused};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

/// Request headers as the verifiers read them.
struct HeaderView<'a>(&'a HeaderMap);

impl Headers for HeaderView<'_> {
    fn get(&self, name: &str) -> Option<&[u8]> {
        if let Some(v) = self.0.get(name) {
            return Some(v.as_bytes());
        }
        // Svix sends Standard Webhooks under its own names (`svix-id`, …).
        let svix = name
            .strip_prefix("webhook-")
            .map(|rest| format!("svix-{rest}"))?;
        self.0.get(svix.as_str()).map(HeaderValue::as_bytes)
    }
}

fn endpoint_not_found() -> ApiError {
    ApiError::Refused(
        ErrorCode::WebhookEndpointNotFound,
        "no webhook endpoint has this id".into(),
    )
}

async fn endpoint(state: &AppState, id: &str) -> Result<(WebhookEndpointRecord, WebhookProvider)> {
    // Ids are short; anything else is not one (and is not looked up).
    if id.is_empty() || id.len() > 64 {
        return Err(endpoint_not_found());
    }
    let e = match state.store.webhooks().find_webhook_endpoint(id).await {
        Ok(e) => e,
        Err(StoreError::NotFound) => return Err(endpoint_not_found()),
        Err(e) => return Err(e.into()),
    };
    let provider = WebhookProvider::parse(&e.provider).ok_or_else(endpoint_not_found)?;
    Ok((e, provider))
}

fn open(state: &AppState, e: &WebhookEndpointRecord) -> Result<Opened> {
    secrets::open(state.vault.ring(), e).map_err(|err| {
        tracing::error!(endpoint = %e.id, error = %err, "cannot open a webhook endpoint's secrets");
        ApiError::Internal
    })
}

/// The stable code a refusal is answered with.
fn refusal_code(r: Refused) -> ErrorCode {
    match r {
        Refused::MissingHeader(_) => ErrorCode::WebhookSignatureMissing,
        Refused::StaleTimestamp => ErrorCode::WebhookTimestampStale,
        Refused::MalformedHeader(_)
        | Refused::BadSignature
        | Refused::WrongToken
        | Refused::InvalidKey
        | Refused::MissingParameter(_)
        | Refused::NotSubscribe => ErrorCode::WebhookSignatureInvalid,
    }
}

async fn refuse(
    state: &AppState,
    e: &WebhookEndpointRecord,
    code: ErrorCode,
    why: String,
) -> ApiError {
    tracing::info!(endpoint = %e.id, code = code.as_str(), "webhook refused");
    // A burst, then one a second per endpoint is written: floods are answered, not kept.
    if !state.webhooks.note_refusal(&e.id) {
        return ApiError::Refused(code, why);
    }
    let now = state.clock.now();
    let refusal = NewRefusal {
        id: keyward_core::ids::new_monotonic_id("msg", now.timestamp_millis()),
        org_id: e.org_id.clone(),
        endpoint_id: e.id.clone(),
        received_at: now,
        code: code.as_str().to_owned(),
    };
    if let Err(err) = state.store.webhooks().record_webhook_refusal(refusal).await {
        tracing::warn!(endpoint = %e.id, error = %err, "could not note a refused webhook");
    }
    ApiError::Refused(code, why)
}

/// Meta's subscription handshake: `GET /hooks/{id}?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
pub async fn handshake(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let (e, provider) = endpoint(&state, &id).await?;
    if provider != WebhookProvider::Whatsapp {
        return Err(ApiError::MethodNotAllowed);
    }
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let opened = open(&state, &e)?;
    let token = opened
        .provider
        .verify_token
        .as_ref()
        .map(|t| t.expose_secret())
        .unwrap_or_default();
    match meta::handshake(&pairs, token) {
        Ok(challenge) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
            .into_response()),
        Err(r) => Err(refuse(
            &state,
            &e,
            ErrorCode::WebhookVerifyTokenInvalid,
            format!("the handshake was refused: {r}"),
        )
        .await),
    }
}

/// The checks that need no body: the provider's headers are there, a signed timestamp
/// is fresh, and for Telegram (whose token does not cover the body) the whole check.
fn precheck(
    provider: WebhookProvider,
    opened: &Opened,
    headers: &HeaderMap,
    now: i64,
) -> std::result::Result<(), Refused> {
    let h = HeaderView(headers);
    let present = |name: &'static str| h.get(name).map(drop).ok_or(Refused::MissingHeader(name));
    let fresh = |name: &'static str| -> std::result::Result<(), Refused> {
        let raw = h.get(name).ok_or(Refused::MissingHeader(name))?;
        let ts: i64 = std::str::from_utf8(raw)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or(Refused::MalformedHeader(name))?;
        if ts.abs_diff(now) > keyward_webhooks::TOLERANCE_SECS {
            return Err(Refused::StaleTimestamp);
        }
        Ok(())
    };
    match provider {
        WebhookProvider::Whatsapp => present(meta::SIGNATURE_HEADER),
        WebhookProvider::Slack => {
            present(slack::SIGNATURE_HEADER)?;
            fresh(slack::TIMESTAMP_HEADER)
        }
        WebhookProvider::Discord => {
            present(discord::SIGNATURE_HEADER)?;
            fresh(discord::TIMESTAMP_HEADER)
        }
        WebhookProvider::Standard => {
            present(standard::ID_HEADER)?;
            present(standard::SIGNATURE_HEADER)?;
            fresh(standard::TIMESTAMP_HEADER)
        }
        WebhookProvider::Telegram => {
            let mut last = Refused::InvalidKey;
            for s in &opened.provider.secrets {
                match telegram::verify(&h, s.expose_secret()) {
                    Ok(()) => return Ok(()),
                    Err(r @ Refused::MissingHeader(_)) => return Err(r),
                    Err(r) => last = r,
                }
            }
            Err(last)
        }
    }
}

/// Checks the request against every secret of the endpoint; the first that verifies wins.
fn verify(
    provider: WebhookProvider,
    opened: &Opened,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> std::result::Result<(), Refused> {
    let h = HeaderView(headers);
    let mut last = Refused::BadSignature;
    if opened.provider.secrets.is_empty() {
        return Err(Refused::InvalidKey);
    }
    if provider == WebhookProvider::Standard {
        let parsed: Vec<standard::Secret> = opened
            .provider
            .secrets
            .iter()
            .filter_map(|s| standard::Secret::parse(s.expose_secret()).ok())
            .collect();
        return standard::verify(&h, body, &parsed, now).map(drop);
    }
    for secret in &opened.provider.secrets {
        let s = secret.expose_secret();
        let outcome = match provider {
            WebhookProvider::Whatsapp => meta::verify(&h, body, s.as_bytes()),
            WebhookProvider::Slack => slack::verify(&h, body, s.as_bytes(), now),
            WebhookProvider::Telegram => telegram::verify(&h, s),
            WebhookProvider::Discord => match discord::parse_public_key(s) {
                Some(key) => discord::verify_fresh(&h, body, &key, now),
                None => Err(Refused::InvalidKey),
            },
            WebhookProvider::Standard => unreachable!("handled above"),
        };
        match outcome {
            Ok(()) => return Ok(()),
            // A missing or malformed header, a stale timestamp: no other secret helps.
            Err(
                r @ (Refused::MissingHeader(_)
                | Refused::MalformedHeader(_)
                | Refused::StaleTimestamp),
            ) => return Err(r),
            Err(r) => last = r,
        }
    }
    Err(last)
}

fn json_field(body: &[u8], field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.get(field)? {
        // Visible ASCII only: it travels in a header (`x-keyward-event-id`).
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            Some(s.clone())
        }
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The provider's own id of a verified event, and what duplicates are recognized by.
fn event_identity(
    provider: WebhookProvider,
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<String>, String) {
    let id = match provider {
        WebhookProvider::Standard => HeaderView(headers)
            .get(standard::ID_HEADER)
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|v| {
                !v.is_empty() && v.len() <= 256 && v.bytes().all(|b| (0x21..=0x7e).contains(&b))
            })
            .map(str::to_owned),
        WebhookProvider::Slack => json_field(body, "event_id"),
        WebhookProvider::Telegram => json_field(body, "update_id"),
        WebhookProvider::Discord => json_field(body, "id"),
        WebhookProvider::Whatsapp => None,
    };
    let digest = hex::encode(Sha256::digest(body));
    match id {
        Some(id) => (Some(id.clone()), format!("id:{id}")),
        // Meta sends no event id; a retry carries the same body.
        None => (
            (provider == WebhookProvider::Whatsapp).then(|| format!("sha256:{digest}")),
            format!("sha256:{digest}"),
        ),
    }
}

/// What Discord is answered for an interaction Keyward forwards: a deferred response,
/// which the app completes through Discord's API.
fn discord_ack(body: &[u8]) -> serde_json::Value {
    let kind = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(serde_json::Value::as_u64));
    match kind {
        // MESSAGE_COMPONENT: DEFERRED_UPDATE_MESSAGE.
        Some(3) => serde_json::json!({"type": 6}),
        // APPLICATION_COMMAND_AUTOCOMPLETE: no choices.
        Some(4) => serde_json::json!({"type": 8, "data": {"choices": []}}),
        // APPLICATION_COMMAND, MODAL_SUBMIT: DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE.
        _ => serde_json::json!({"type": 5}),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::Refused(
        ErrorCode::WebhookBodyTooLarge,
        format!("the body is larger than this server's webhook limit of {limit} bytes"),
    )
}

/// A provider's delivery: `POST /hooks/{id}`.
pub async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let limit = state.webhooks.config.body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    // Keyward's own delivery coming back (an endpoint whose destination is an ingress):
    // refused, or two endpoints could feed each other forever.
    if headers.contains_key(keyward_api::HEADER_ENDPOINT) {
        return Err(ApiError::Refused(
            ErrorCode::WebhookLoop,
            "this request is a Keyward delivery: an endpoint's destination cannot be a Keyward ingress".into(),
        ));
    }
    let (e, provider) = endpoint(&state, &id).await?;
    let opened = open(&state, &e)?;
    let now = state.clock.now();
    // What needs no body is checked before reading one (missing headers, a stale
    // timestamp, Telegram's whole check).
    if let Err(r) = precheck(provider, &opened, &headers, now.timestamp()) {
        let code = refusal_code(r);
        return Err(refuse(&state, &e, code, format!("the webhook did not verify: {r}")).await);
    }
    // The raw bytes, exactly as received: what the signature covers.
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))?;
    if let Err(r) = verify(provider, &opened, &headers, &body, now.timestamp()) {
        let code = refusal_code(r);
        return Err(refuse(&state, &e, code, format!("the webhook did not verify: {r}")).await);
    }
    drop(opened);

    // Handshakes are answered, not delivered.
    if provider == WebhookProvider::Slack {
        if let Some(challenge) = slack::url_verification(&body) {
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                challenge,
            )
                .into_response());
        }
    }
    if provider == WebhookProvider::Discord && discord::is_ping(&body) {
        return Ok(axum::Json(serde_json::json!({"type": 1})).into_response());
    }

    let (provider_event_id, dedup_key) = event_identity(provider, &headers, &body);
    let event_id = keyward_core::ids::new_monotonic_id("msg", now.timestamp_millis());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 200)
        .map(str::to_owned);
    let (status, last_error) = if e.enabled {
        (DeliveryState::Pending, None)
    } else {
        (
            DeliveryState::Failed,
            Some("the endpoint is disabled: replay to deliver".to_owned()),
        )
    };
    let kept = state
        .store
        .webhooks()
        .insert_webhook_event(NewWebhookEvent {
            id: event_id.clone(),
            org_id: e.org_id.clone(),
            endpoint_id: e.id.clone(),
            dedup_key,
            provider_event_id,
            received_at: now,
            content_type,
            body: body.to_vec(),
            status,
            last_error,
        })
        .await?;
    let (id, duplicate) = match kept {
        EventInsert::Kept => {
            if e.enabled {
                state.webhooks.wake();
                state.workers.wake();
            }
            (event_id, false)
        }
        EventInsert::Duplicate(existing) => (existing, true),
    };
    tracing::info!(endpoint = %e.id, event = %id, duplicate, "webhook received");
    if provider == WebhookProvider::Discord {
        return Ok(axum::Json(discord_ack(&body)).into_response());
    }
    Ok(axum::Json(serde_json::json!({"id": id, "duplicate": duplicate})).into_response())
}
