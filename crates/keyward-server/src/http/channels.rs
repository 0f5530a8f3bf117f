//! Channels of agents, each with a public hook id, and the channel context that
//! callers reach with either a personal token or the channel's own token ("dual
//! authentication": the request shape is the same for both).

use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Reach, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{named_hook, ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
pub use keyward_api::{
    Channel, ChannelContext, ChannelQuery, CreateChannelRequest, HookBody, HookQuery,
    UpdateChannelRequest,
};
use keyward_core::{base62, ids, KeyKind};
use keyward_store::{self as store, ResourceKind, StoreError};

/// Grants × reach × scope for acting on a channel of `agent_id`: org admins manage every
/// channel, agent admins those of their agents, and only with a key whose scope reaches
/// the agent.
async fn authorize_channel(
    state: &AppState,
    principal: &Principal,
    permission: &str,
    action: Action,
    agent_id: &str,
) -> Result<()> {
    principal
        .authorize(
            state,
            permission,
            action,
            Target::Channel { agent: agent_id },
        )
        .await
        .map(drop)
}

fn channel_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::ChannelNotFound,
        other => other.into(),
    }
}

/// A hook id: 20 lowercase letters and digits, unguessable (~103 bits).
fn new_hook_id() -> String {
    base62::random(40)
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .take(20)
        .collect::<String>()
}

/// Create a channel for an agent; the answer carries its hook id.
#[utoipa::path(post, path = "/v1/channels", tag = "channels", request_body = CreateChannelRequest,
    responses((status = 201, body = Channel), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["channels:write"])))]
pub async fn create_channel(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateChannelRequest>,
) -> Result<(StatusCode, Json<Channel>)> {
    principal.require("channels:write")?;
    state
        .store
        .get_resource(ResourceKind::Agent, principal.org_id(), &req.agent)
        .await
        .map_err(|_| ApiError::validation("agent", "no such agent in this organization"))?;
    authorize_channel(
        &state,
        &principal,
        "channels:write",
        Action::Write,
        &req.agent,
    )
    .await?;
    let mut hook_id = new_hook_id();
    while hook_id.len() < 20 {
        hook_id = new_hook_id();
    }
    let channel = store::Channel {
        id: ids::new_id("ch"),
        org_id: principal.org_id().to_owned(),
        agent_id: req.agent,
        name: req.name.to_string(),
        hook_id,
        enabled: true,
        created_at: state.clock.now(),
        deleted: false,
    };
    let audit = actor_event(
        &principal,
        channel.created_at,
        "channel.create",
        "channel",
        &channel.id,
        serde_json::json!({ "agent": channel.agent_id, "name": channel.name, "hook_id": channel.hook_id }),
    );
    state.store.create_channel(&channel, audit).await?;
    Ok((StatusCode::CREATED, Json(channel.into_api())))
}

/// List channels, optionally of one agent.
#[utoipa::path(get, path = "/v1/channels", tag = "channels", params(ChannelQuery),
    responses((status = 200, body = Vec<Channel>), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["channels:read"])))]
pub async fn list_channels(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ChannelQuery>,
) -> Result<Json<Vec<Channel>>> {
    principal
        .authorize(&state, "channels:read", Action::Read, Target::Listing)
        .await?;
    let channels = state
        .store
        .list_channels(principal.org_id(), q.agent.as_deref())
        .await?;
    Ok(Json(
        channels
            .into_iter()
            .filter(|c| principal.key.scope.reaches_agent(&c.agent_id))
            .map(IntoApi::into_api)
            .collect(),
    ))
}

/// Show a channel.
#[utoipa::path(get, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = Channel), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["channels:read"])))]
pub async fn get_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Channel>> {
    principal.require("channels:read")?;
    let channel = state
        .store
        .get_channel(principal.org_id(), &id)
        .await
        .map_err(channel_not_found)?;
    authorize_channel(
        &state,
        &principal,
        "channels:read",
        Action::Read,
        &channel.agent_id,
    )
    .await?;
    Ok(Json(channel.into_api()))
}

/// Rename, enable or disable a channel.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path)), request_body = UpdateChannelRequest,
    responses((status = 200, body = Channel), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["channels:write"])))]
pub async fn update_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateChannelRequest>,
) -> Result<Json<Channel>> {
    principal.require("channels:write")?;
    let mut channel = state
        .store
        .get_channel(principal.org_id(), &id)
        .await
        .map_err(channel_not_found)?;
    authorize_channel(
        &state,
        &principal,
        "channels:write",
        Action::Write,
        &channel.agent_id,
    )
    .await?;
    let before = (channel.name.clone(), channel.enabled);
    if let Some(name) = req.name {
        channel.name = name.to_string();
    }
    if let Some(enabled) = req.enabled {
        channel.enabled = enabled;
    }
    let action = match (before.1, channel.enabled) {
        (true, false) => "channel.disable",
        (false, true) => "channel.enable",
        _ => "channel.update",
    };
    let audit = actor_event(
        &principal,
        state.clock.now(),
        action,
        "channel",
        &id,
        serde_json::json!({ "name": { "from": before.0, "to": channel.name }, "enabled": channel.enabled }),
    );
    let updated = state.store.update_channel(&channel, audit).await?;
    Ok(Json(updated.into_api()))
}

/// Delete a channel; its hook id stops working and its tokens are revoked.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["channels:write"])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    principal.require("channels:write")?;
    let channel = state
        .store
        .get_channel(principal.org_id(), &id)
        .await
        .map_err(channel_not_found)?;
    authorize_channel(
        &state,
        &principal,
        "channels:write",
        Action::Write,
        &channel.agent_id,
    )
    .await?;
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "channel.delete",
        "channel",
        &id,
        serde_json::json!({ "hook_id": channel.hook_id }),
    );
    state
        .store
        .delete_channel(principal.org_id(), &id, now, &principal.actor().name, audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Finds the channel a request names (`X-Hook-Id`, else `hookId`) and
/// checks that the caller may act for it: its own channel token, or a personal token
/// whose scope reaches the channel's agent.
pub async fn resolve_channel(
    state: &AppState,
    principal: &Principal,
    hook_id: Option<&str>,
) -> Result<ChannelContext> {
    let hook_id = hook_id.ok_or_else(|| {
        ApiError::validation(
            "hookId",
            "send the channel's hook id in X-Hook-Id or hookId",
        )
    })?;
    let channel = state.store.find_channel_by_hook(hook_id).await?;
    let channel = match channel {
        Some(c) if c.enabled && !c.deleted && c.org_id == principal.org_id() => c,
        _ => return Err(ApiError::ChannelNotFound),
    };
    let authenticated_with = match principal.key.kind {
        KeyKind::Channel if principal.key.channel_id.as_deref() == Some(channel.id.as_str()) => {
            "channel_token"
        }
        KeyKind::Channel => {
            return Err(ApiError::RoleForbidden(
                "this channel token belongs to another channel".into(),
            ))
        }
        KeyKind::Personal => {
            if !principal.key.scope.reaches_agent(&channel.agent_id) {
                return Err(ApiError::RoleForbidden(
                    "this token's scope does not reach the channel's agent".into(),
                ));
            }
            principal.require("channels:read")?;
            if principal.reach(state).await? == Reach::None {
                return Err(ApiError::RoleForbidden(
                    "this person is no longer a member".into(),
                ));
            }
            "personal_token"
        }
        other => return Err(ApiError::KeyKindNotAllowed(other.as_str())),
    };
    let caller = principal
        .key
        .owner
        .as_ref()
        .map(|o| o.label().to_owned())
        .unwrap_or_else(|| principal.key.name.clone());
    Ok(ChannelContext {
        channel: channel.into_api(),
        authenticated_with: authenticated_with.to_owned(),
        caller,
    })
}

/// The channel named by `X-Hook-Id` or `?hookId=`, for a personal or channel token.
#[utoipa::path(get, path = "/v1/channel", tag = "channels",
    params(("X-Hook-Id" = Option<String>, Header, description = "The channel's hook id (or send hookId)"), HookQuery),
    responses((status = 200, body = ChannelContext), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = [])))]
pub async fn channel_context_get(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<HookQuery>,
) -> Result<Json<ChannelContext>> {
    let hook = named_hook(&headers, &[("hookId", q.hook_id.as_deref())])?;
    Ok(Json(
        resolve_channel(&state, &principal, hook.as_deref()).await?,
    ))
}

/// The same, with `hookId` in an optional JSON body (or `X-Hook-Id`).
#[utoipa::path(post, path = "/v1/channel", tag = "channels",
    params(("X-Hook-Id" = Option<String>, Header, description = "The channel's hook id (or send hookId)")),
    request_body = Option<HookBody>,
    responses((status = 200, body = ChannelContext), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = [])))]
pub async fn channel_context_post(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<HookBody>,
) -> Result<Json<ChannelContext>> {
    let hook = named_hook(&headers, &[("hookId", body.hook_id.as_deref())])?;
    Ok(Json(
        resolve_channel(&state, &principal, hook.as_deref()).await?,
    ))
}
