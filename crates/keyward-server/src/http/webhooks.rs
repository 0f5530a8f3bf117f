//! Webhook endpoints over HTTP: make one for a provider (its secrets sealed, Keyward's
//! own signing secret shown once), list, show, edit, disable, delete, rotate the signing
//! secret; read an endpoint's delivery log and replay deliveries.
//!
//! Who may do what: `webhooks:read` shows endpoints and their logs, `webhooks:write`
//! changes them and replays. An endpoint of a workspace is reached by keys scoped to
//! that workspace, one of the whole organization only by keys of the whole
//! organization. Every change is in the audit log; the ingress (`/hooks/{id}`) is in
//! `webhooks/ingress.rs`.

use super::shared::{
    actor_event, or_missing, page_limit, public_base, workspace_target, workspaces_within,
};
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::state::AppState;
use crate::webhooks::secrets::{self, ProviderSecrets, SigningSecret};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_api::{
    CreateWebhookEndpointRequest, DeliveryAttempt, DeliveryQuery, DeliveryStatus, ErrorCode,
    ListResponse, ProviderToken, ReplayDeliveryRequest, ReplayFailedRequest, Replayed,
    RotateSigningSecretRequest, SecretHint, SigningSecretRotated, UpdateWebhookEndpointRequest,
    WebhookDelivery, WebhookEndpoint, WebhookEndpointCreated, WebhookEndpointQuery,
    WebhookEndpointStatus, WebhookProvider, WebhookSecretInput, HOOKS_PATH,
};
use keyward_core::ids;
use keyward_store::{
    DeliveryFilter, DeliveryState, ManagedBy, ResourceKind, StoreError, WebhookAttempt,
    WebhookEndpointFilter, WebhookEndpointPatch, WebhookEndpointRecord, WebhookEvent,
};
use secrecy::{ExposeSecret, SecretString};

/// Provider secrets an endpoint keeps at most (a rotation needs two).
const MAX_SECRETS: usize = 5;
/// Signing secrets in use at once: the new one and those still in their overlap.
const MAX_SIGNING_SECRETS: usize = 3;
/// The longest a replaced signing secret keeps signing.
const MAX_OVERLAP_SECS: u64 = 7 * 24 * 3600;

fn not_found(e: StoreError) -> ApiError {
    or_missing(
        ErrorCode::WebhookEndpointNotFound,
        "no webhook endpoint with this id in this organization",
    )(e)
}

fn delivery_not_found(e: StoreError) -> ApiError {
    or_missing(
        ErrorCode::DeliveryNotFound,
        "no delivery with this id for this endpoint",
    )(e)
}

/// An endpoint the caller may act on with `permission`, or not found.
pub async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
    permission: &str,
    action: Action,
) -> Result<WebhookEndpointRecord> {
    principal.require(permission)?;
    let e = state
        .store
        .webhooks()
        .get_webhook_endpoint(principal.org_id(), id)
        .await
        .map_err(not_found)?;
    principal
        .authorize(
            state,
            permission,
            action,
            workspace_target(e.workspace_id.as_deref()),
        )
        .await?;
    Ok(e)
}

/// The endpoint of keyward.yaml with this id, as this server runs it.
fn in_config<'a>(state: &'a AppState, id: &str) -> Option<&'a crate::webhooks::ConfigEndpoint> {
    state.webhooks.config.endpoints.iter().find(|c| c.id == id)
}

/// Refuses a change of an endpoint that keyward.yaml defines. `enabled` alone is
/// operational state (an endpoint disabled after a day of failures is enabled again
/// here), and one the file no longer has is the API's to delete.
fn managed_here(
    state: &AppState,
    e: &WebhookEndpointRecord,
    req: Option<&UpdateWebhookEndpointRequest>,
) -> Result<()> {
    let only_enabled = req.is_some_and(|r| {
        r.name.is_none()
            && r.destination.is_none()
            && r.secrets.is_none()
            && r.verify_token.is_none()
    });
    if e.managed_by == ManagedBy::Config && in_config(state, &e.id).is_some() && !only_enabled {
        return Err(ApiError::Conflict(
            ErrorCode::WebhookEndpointManaged,
            format!(
                "webhook endpoint {} is defined in keyward.yaml: change it there",
                e.id
            ),
        ));
    }
    Ok(())
}

fn hint(h: &keyward_store::SecretHintRecord) -> SecretHint {
    SecretHint {
        prefix: h.prefix.clone(),
        expires_at: h.expires_at,
    }
}

/// The public address providers send to.
pub fn ingress_url(state: &AppState, headers: &HeaderMap, id: &str) -> String {
    format!("{}{HOOKS_PATH}/{id}", public_base(state, headers))
}

pub fn view(state: &AppState, headers: &HeaderMap, e: &WebhookEndpointRecord) -> WebhookEndpoint {
    let now = state.clock.now();
    WebhookEndpoint {
        id: e.id.clone(),
        name: e.name.clone(),
        provider: WebhookProvider::parse(&e.provider).unwrap_or(WebhookProvider::Standard),
        workspace: e.workspace_id.clone(),
        destination: e.destination.clone(),
        status: if e.enabled {
            WebhookEndpointStatus::Enabled
        } else {
            WebhookEndpointStatus::Disabled
        },
        disabled_reason: e.disabled_reason.clone(),
        ingress_url: ingress_url(state, headers, &e.id),
        secrets: e.secrets.hints.secrets.iter().map(hint).collect(),
        has_verify_token: e.secrets.hints.has_verify_token,
        signing_secrets: e
            .secrets
            .hints
            .signing
            .iter()
            .filter(|h| h.expires_at.is_none_or(|t| t > now))
            .map(hint)
            .collect(),
        managed_by: e.managed_by.as_str().to_owned(),
        failing_since: e.failing_since,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

pub fn check_name(name: &str) -> Result<String> {
    crate::webhooks::check_name(name).map_err(|m| ApiError::validation("name", m))
}

/// `workers` / `workers:LABEL` (an endpoint of a workspace), or an absolute http(s)
/// URL with a host, no user or password, no fragment, and an allowed address
/// ([`crate::webhooks::guard`]).
pub fn check_destination(
    raw: &str,
    workspace: Option<&str>,
    allow_private: bool,
) -> Result<String> {
    crate::webhooks::check_destination(raw, workspace, allow_private)
        .map_err(|m| ApiError::validation("destination", m))
}

/// The provider's secrets of a request, checked for the provider. Telegram without
/// one: generated (returned to show once).
fn provider_secrets(
    provider: WebhookProvider,
    given: &[WebhookSecretInput],
    verify_token: Option<&WebhookSecretInput>,
) -> Result<(ProviderSecrets, Option<ProviderToken>)> {
    if given.len() > MAX_SECRETS {
        return Err(ApiError::validation(
            "secrets",
            format!("at most {MAX_SECRETS} (the current one and those being rotated out)"),
        ));
    }
    let mut generated = None;
    let mut secrets: Vec<SecretString> = Vec::new();
    for (i, s) in given.iter().enumerate() {
        let text = s.expose_secret().trim();
        secrets::check_secret(provider, text).map_err(|m| {
            ApiError::validation(
                format!("secrets[{i}]"),
                format!("{}: {m}", provider.secret_name()),
            )
        })?;
        secrets.push(SecretString::from(text.to_owned()));
    }
    if secrets.is_empty() {
        if provider == WebhookProvider::Telegram {
            let token = keyward_webhooks::telegram::generate_secret_token();
            generated = Some(ProviderToken::new(token.clone()));
            secrets.push(SecretString::from(token));
        } else {
            return Err(ApiError::validation(
                "secrets",
                format!(
                    "give the {} (several while rotating it)",
                    provider.secret_name()
                ),
            ));
        }
    }
    let verify_token = match (provider, verify_token) {
        (WebhookProvider::Whatsapp, Some(t)) => {
            let t = t.expose_secret();
            if t.is_empty() || t.len() > 512 || t.chars().any(char::is_control) {
                return Err(ApiError::validation(
                    "verify_token",
                    "must be 1 to 512 characters",
                ));
            }
            Some(SecretString::from(t.to_owned()))
        }
        (WebhookProvider::Whatsapp, None) => {
            return Err(ApiError::validation(
                "verify_token",
                "WhatsApp endpoints need the verify token of Meta's handshake",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "verify_token",
                "only WhatsApp endpoints have a verify token",
            ))
        }
        (_, None) => None,
    };
    Ok((
        ProviderSecrets {
            secrets,
            verify_token,
        },
        generated,
    ))
}

fn open(state: &AppState, e: &WebhookEndpointRecord) -> Result<secrets::Opened> {
    secrets::open(state.vault.ring(), e).map_err(|err| {
        tracing::error!(endpoint = %e.id, error = %err, "cannot open a webhook endpoint's secrets");
        ApiError::Internal
    })
}

/// Make a webhook endpoint: the provider's secrets are sealed and never shown again;
/// the answer holds the ingress URL and Keyward's signing secret, shown this once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    request_body = CreateWebhookEndpointRequest,
    responses((status = 201, body = WebhookEndpointCreated), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateWebhookEndpointRequest>,
) -> Result<(StatusCode, Json<WebhookEndpointCreated>)> {
    principal.require("webhooks:write")?;
    let name = check_name(&req.name)?;
    let destination = check_destination(
        &req.destination,
        req.workspace.as_deref(),
        state.webhooks.config.allow_private_destinations,
    )?;
    if let Some(w) = &req.workspace {
        state
            .store
            .get_resource(ResourceKind::Workspace, principal.org_id(), w)
            .await
            .map_err(|_| {
                ApiError::validation("workspace", "no such workspace in this organization")
            })?;
    }
    principal
        .authorize(
            &state,
            "webhooks:write",
            Action::Write,
            workspace_target(req.workspace.as_deref()),
        )
        .await?;
    let (provider, generated) =
        provider_secrets(req.provider, &req.secrets, req.verify_token.as_ref())?;
    let id = ids::new_id("wh");
    let signing = SigningSecret::generate();
    let shown = ProviderToken::new(signing.secret.expose_secret());
    let now = state.clock.now();
    let enabled = req.enabled.unwrap_or(true);
    let record = WebhookEndpointRecord {
        id: id.clone(),
        org_id: principal.org_id().to_owned(),
        workspace_id: req.workspace.clone(),
        name: name.clone(),
        provider: req.provider.as_str().to_owned(),
        destination: destination.clone(),
        enabled,
        disabled_reason: (!enabled).then(|| "disabled when made".to_owned()),
        managed_by: ManagedBy::Api,
        secrets: secrets::seal(
            state.vault.ring(),
            &id,
            &provider,
            std::slice::from_ref(&signing),
        ),
        failing_since: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let audit = actor_event(
        &principal,
        now,
        "webhook_endpoint.create",
        "webhook_endpoint",
        &id,
        serde_json::json!({
            "provider": req.provider.as_str(), "name": name, "destination": destination,
            "workspace": req.workspace, "secrets": provider.secrets.len(),
            "generated_secret": generated.is_some(),
        }),
    );
    let created = state
        .store
        .webhooks()
        .create_webhook_endpoint(record, audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookEndpointCreated {
            endpoint: view(&state, &headers, &created),
            signing_secret: shown,
            generated_secret: generated,
        }),
    ))
}

/// The organization's webhook endpoints the caller reaches, by id.
#[utoipa::path(get, path = "/v1/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks", params(WebhookEndpointQuery),
    responses((status = 200, body = ListResponse<WebhookEndpoint>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:read"])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WebhookEndpointQuery>,
) -> Result<Json<ListResponse<WebhookEndpoint>>> {
    principal
        .authorize(&state, "webhooks:read", Action::Read, Target::Listing)
        .await?;
    let limit = page_limit(q.limit)?;
    let items = state
        .store
        .webhooks()
        .list_webhook_endpoints(
            principal.org_id(),
            WebhookEndpointFilter {
                provider: q.provider.map(|p| p.as_str().to_owned()),
                workspace_id: q.workspace,
                within_workspaces: workspaces_within(&principal),
                after: q.cursor,
                limit: limit + 1,
            },
        )
        .await?;
    let more = items.len() > limit as usize;
    let data: Vec<WebhookEndpoint> = items
        .iter()
        .take(limit as usize)
        .map(|e| view(&state, &headers, e))
        .collect();
    let next_cursor = more.then(|| data.last().map(|e| e.id.clone())).flatten();
    Ok(Json(ListResponse { data, next_cursor }))
}

/// A webhook endpoint, without its secrets (their first characters only).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", operation_id = "get_webhook_endpoint", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:read"])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpoint>> {
    let e = visible(&state, &principal, &id, "webhooks:read", Action::Read).await?;
    Ok(Json(view(&state, &headers, &e)))
}

/// Edit an endpoint: its name, destination, the provider's secrets (all of them: to
/// rotate, give the new and the old, later the new alone), or enable/disable it.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint", tag = "webhooks", params(("id" = String, Path)),
    request_body = UpdateWebhookEndpointRequest,
    responses((status = 200, body = WebhookEndpoint), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhookEndpointRequest>,
) -> Result<Json<WebhookEndpoint>> {
    let e = visible(&state, &principal, &id, "webhooks:write", Action::Write).await?;
    managed_here(&state, &e, Some(&req))?;
    let updated = update(&state, &principal, e, req).await?;
    Ok(Json(view(&state, &headers, &updated)))
}

/// Applies an edit (also the console's): secrets are re-sealed from what the row holds,
/// and written only if no one changed the row meanwhile.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    e: WebhookEndpointRecord,
    req: UpdateWebhookEndpointRequest,
) -> Result<WebhookEndpointRecord> {
    let provider = WebhookProvider::parse(&e.provider).unwrap_or(WebhookProvider::Standard);
    let name = req.name.as_deref().map(check_name).transpose()?;
    let destination = req
        .destination
        .as_deref()
        .map(|d| {
            check_destination(
                d,
                e.workspace_id.as_deref(),
                state.webhooks.config.allow_private_destinations,
            )
        })
        .transpose()?;
    let sealed = if req.secrets.is_some() || req.verify_token.is_some() {
        let opened = open(state, &e)?;
        // What is not given is kept (the verify token with new secrets, the secrets
        // with a new verify token), then all is checked again for the provider.
        let kept = |s: &SecretString| WebhookSecretInput::new(s.expose_secret());
        let given = match &req.secrets {
            Some(given) if given.is_empty() => {
                return Err(ApiError::validation(
                    "secrets",
                    "must hold at least one secret",
                ))
            }
            Some(given) => given.clone(),
            None => opened.provider.secrets.iter().map(kept).collect(),
        };
        let token =
            (req.verify_token.clone()).or_else(|| opened.provider.verify_token.as_ref().map(kept));
        let provider_secrets = provider_secrets(provider, &given, token.as_ref())?.0;
        Some(secrets::seal(
            state.vault.ring(),
            &e.id,
            &provider_secrets,
            &opened.signing,
        ))
    } else {
        None
    };
    let now = state.clock.now();
    let audit = actor_event(
        principal,
        now,
        match req.enabled {
            Some(false) => "webhook_endpoint.disable",
            Some(true) if !e.enabled => "webhook_endpoint.enable",
            _ => "webhook_endpoint.update",
        },
        "webhook_endpoint",
        &e.id,
        serde_json::json!({
            "name": name, "destination": destination,
            "secrets_changed": req.secrets.as_ref().map(Vec::len),
            "verify_token_changed": req.verify_token.is_some(), "enabled": req.enabled,
        }),
    );
    let patch = WebhookEndpointPatch {
        name,
        destination,
        secrets: sealed,
        enabled: req.enabled,
        disabled_reason: (req.enabled == Some(false))
            .then(|| format!("disabled by {}", principal.actor().name)),
        if_version: Some(e.version),
    };
    state
        .store
        .webhooks()
        .update_webhook_endpoint(principal.org_id(), &e.id, patch, audit)
        .await
        .map_err(not_found)
}

/// Delete an endpoint with its delivery log; its ingress URL stops answering.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let e = visible(&state, &principal, &id, "webhooks:write", Action::Write).await?;
    managed_here(&state, &e, None)?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "webhook_endpoint.delete",
        "webhook_endpoint",
        &e.id,
        serde_json::json!({"provider": e.provider, "name": e.name}),
    );
    state
        .store
        .webhooks()
        .delete_webhook_endpoint(principal.org_id(), &e.id, audit)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret for deliveries, shown once; the replaced one keeps signing
/// beside it for the overlap (default a day), so the app can switch without a gap.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Option<RotateSigningSecretRequest>, description = "May be left out: a day of overlap"),
    responses((status = 200, body = SigningSecretRotated), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<RotateSigningSecretRequest>,
) -> Result<Json<SigningSecretRotated>> {
    let overlap = req.overlap_secs.unwrap_or(86_400);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::validation(
            "overlap_secs",
            format!("must be at most {MAX_OVERLAP_SECS} (7 days)"),
        ));
    }
    let e = visible(&state, &principal, &id, "webhooks:write", Action::Write).await?;
    if in_config(&state, &e.id).is_some_and(|c| c.signing_secret.is_some()) {
        return Err(ApiError::Conflict(
            ErrorCode::WebhookEndpointManaged,
            format!("webhook endpoint {}'s signing secret is set in keyward.yaml (signing_secret): change it there", e.id),
        ));
    }
    let (rotated, secret) = rotate(&state, &principal, e, overlap).await?;
    Ok(Json(SigningSecretRotated {
        signing_secret: secret,
        endpoint: view(&state, &headers, &rotated),
    }))
}

/// Rotates the signing secret (also the console's and config endpoints').
pub async fn rotate(
    state: &AppState,
    principal: &Principal,
    e: WebhookEndpointRecord,
    overlap_secs: u64,
) -> Result<(WebhookEndpointRecord, ProviderToken)> {
    let opened = open(state, &e)?;
    let now = state.clock.now();
    let until = now + chrono::Duration::seconds(overlap_secs as i64);
    let new = SigningSecret::generate();
    let shown = ProviderToken::new(new.secret.expose_secret());
    let mut signing = vec![new];
    if overlap_secs > 0 {
        // The current one and the newest replaced one keep signing: every delivery
        // carries one signature per secret, so they do not pile up.
        for old in opened.signing_at(now).take(MAX_SIGNING_SECRETS - 1) {
            signing.push(SigningSecret {
                secret: SecretString::from(old.secret.expose_secret().to_owned()),
                expires_at: Some(old.expires_at.map_or(until, |t| t.min(until))),
            });
        }
    }
    let sealed = secrets::seal(state.vault.ring(), &e.id, &opened.provider, &signing);
    let audit = actor_event(
        principal,
        now,
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint",
        &e.id,
        serde_json::json!({"overlap_secs": overlap_secs}),
    );
    let patch = WebhookEndpointPatch {
        secrets: Some(sealed),
        if_version: Some(e.version),
        ..Default::default()
    };
    let rotated = state
        .store
        .webhooks()
        .update_webhook_endpoint(principal.org_id(), &e.id, patch, audit)
        .await
        .map_err(not_found)?;
    Ok((rotated, shown))
}

/// A replay on a disabled endpoint would fail at once: enable it first.
fn enabled_for_replay(e: &WebhookEndpointRecord) -> Result<()> {
    if e.enabled {
        return Ok(());
    }
    Err(ApiError::Conflict(
        ErrorCode::WebhookEndpointDisabled,
        format!(
            "webhook endpoint {} is disabled: enable it, then replay",
            e.id
        ),
    ))
}

fn delivery_status(s: DeliveryState) -> DeliveryStatus {
    match s {
        DeliveryState::Pending => DeliveryStatus::Pending,
        DeliveryState::Delivered => DeliveryStatus::Delivered,
        DeliveryState::Failed => DeliveryStatus::Failed,
        DeliveryState::Refused => DeliveryStatus::Refused,
    }
}

fn store_state(s: DeliveryStatus) -> DeliveryState {
    match s {
        DeliveryStatus::Pending => DeliveryState::Pending,
        DeliveryStatus::Delivered => DeliveryState::Delivered,
        DeliveryStatus::Failed => DeliveryState::Failed,
        DeliveryStatus::Refused => DeliveryState::Refused,
    }
}

pub fn delivery_view(e: &WebhookEvent, attempts: Option<&[WebhookAttempt]>) -> WebhookDelivery {
    WebhookDelivery {
        id: e.id.clone(),
        endpoint: e.endpoint_id.clone(),
        status: delivery_status(e.status),
        provider_event_id: e.provider_event_id.clone(),
        received_at: e.received_at,
        attempts: e.attempts,
        next_attempt_at: e.next_attempt_at,
        last_status_code: e.last_status_code,
        last_error: e.last_error.clone(),
        delivered_at: e.delivered_at,
        refusal: e.refusal.clone(),
        attempt_log: attempts.map(|a| {
            a.iter()
                .map(|a| DeliveryAttempt {
                    attempt: a.attempt,
                    at: a.at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect()
        }),
    }
}

/// An endpoint's delivery log, newest first: every event received (pending, delivered,
/// failed) and every refused request (why, never the body).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveryQuery),
    responses((status = 200, body = ListResponse<WebhookDelivery>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:read"])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<ListResponse<WebhookDelivery>>> {
    let limit = page_limit(q.limit)?;
    let e = visible(&state, &principal, &id, "webhooks:read", Action::Read).await?;
    let items = state
        .store
        .webhooks()
        .list_webhook_deliveries(
            principal.org_id(),
            &e.id,
            DeliveryFilter {
                status: q.status.map(store_state),
                before: q.cursor,
                limit: limit + 1,
            },
        )
        .await?;
    let more = items.len() > limit as usize;
    let data: Vec<WebhookDelivery> = items
        .iter()
        .take(limit as usize)
        .map(|d| delivery_view(d, None))
        .collect();
    let next_cursor = more.then(|| data.last().map(|d| d.id.clone())).flatten();
    Ok(Json(ListResponse { data, next_cursor }))
}

/// One delivery with every attempt (status code, latency, error).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}", operation_id = "get_webhook_delivery", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, body = WebhookDelivery), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:read"])))]
pub async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Json<WebhookDelivery>> {
    let e = visible(&state, &principal, &id, "webhooks:read", Action::Read).await?;
    let (event, attempts) = state
        .store
        .webhooks()
        .get_webhook_delivery(principal.org_id(), &e.id, &delivery_id)
        .await
        .map_err(delivery_not_found)?;
    Ok(Json(delivery_view(&event, Some(&attempts))))
}

/// Deliver again a failed (or delivered) event, now, with the same `webhook-id`.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/replay", operation_id = "replay_webhook_delivery", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    request_body(content = Option<ReplayDeliveryRequest>, description = "Nothing to say: may be left out"),
    responses((status = 200, body = WebhookDelivery), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn replay_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, delivery_id)): Path<(String, String)>,
    ApiJsonOrEmpty(_req): ApiJsonOrEmpty<ReplayDeliveryRequest>,
) -> Result<Json<WebhookDelivery>> {
    let e = visible(&state, &principal, &id, "webhooks:write", Action::Write).await?;
    enabled_for_replay(&e)?;
    if let Ok((d, _)) = state
        .store
        .webhooks()
        .get_webhook_delivery(principal.org_id(), &e.id, &delivery_id)
        .await
    {
        if d.status == DeliveryState::Refused {
            return Err(ApiError::Conflict(
                ErrorCode::DeliveryRefused,
                "this request was refused (it did not verify): there is nothing to deliver".into(),
            ));
        }
    }
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "webhook_delivery.replay",
        "webhook_endpoint",
        &e.id,
        serde_json::json!({"delivery": delivery_id}),
    );
    let event = state
        .store
        .webhooks()
        .replay_webhook_delivery(principal.org_id(), &e.id, &delivery_id, now, audit)
        .await
        .map_err(|err| match err {
            StoreError::Conflict(keyward_store::Conflict::InUse) => ApiError::Conflict(
                ErrorCode::DeliveryPending,
                "this delivery is still pending: it is on its way".into(),
            ),
            other => delivery_not_found(other),
        })?;
    state.webhooks.wake();
    state.workers.wake();
    Ok(Json(delivery_view(&event, None)))
}

/// Deliver again every failed event the endpoint received since a time.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/replay", operation_id = "replay_failed_webhook_deliveries", tag = "webhooks",
    params(("id" = String, Path)), request_body = ReplayFailedRequest,
    responses((status = 200, body = Replayed), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["webhooks:write"])))]
pub async fn replay_failed(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReplayFailedRequest>,
) -> Result<Json<Replayed>> {
    let e = visible(&state, &principal, &id, "webhooks:write", Action::Write).await?;
    enabled_for_replay(&e)?;
    let now = state.clock.now();
    let since: DateTime<Utc> = req.since;
    let audit = actor_event(
        &principal,
        now,
        "webhook_delivery.replay_failed",
        "webhook_endpoint",
        &e.id,
        serde_json::json!({"since": since}),
    );
    let replayed = state
        .store
        .webhooks()
        .replay_failed_deliveries(principal.org_id(), &e.id, since, now, audit)
        .await
        .map_err(not_found)?;
    if replayed > 0 {
        state.webhooks.wake();
        state.workers.wake();
    }
    Ok(Json(Replayed { replayed }))
}
