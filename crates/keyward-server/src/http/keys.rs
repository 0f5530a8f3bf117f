//! `/v1/keys`: create, list, show, rename, revoke and rotate keys.

use super::key_policy::{
    self, bounded_expiry, check_limits, KeyPlan, LimitsFrom, ParsePermissions,
};
use super::shared::{actor_event, PageRequestExt as _};
use crate::auth::Principal;
use crate::authz::{Action, KeyTarget, Reach, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use keyward_api::ApiKey;
pub use keyward_api::{
    CreateKeyRequest, CreatedKey, KeyView, PermissionsInput, RestrictedInput, RotateKeyRequest,
    RotatedKey, UpdateKeyRequest,
};
use keyward_api::{ListQuery, ListResponse};
use keyward_core::expiry::{parse_duration, status_at, Expiry};
use keyward_core::{ids, KeyKind, Owner, PlainKey, Scope};
use keyward_store::{KeyFilter, KeyPatch, KeyRecord, NewKey, ResourceKind, Rotation, StoreError};

const MAX_GRACE: &str = "30d";

/// A key record as the API shows it.
pub trait KeyViewExt {
    fn new(state: &AppState, k: &KeyRecord) -> Self;
}

impl KeyViewExt for KeyView {
    fn new(state: &AppState, k: &KeyRecord) -> Self {
        let last_used_at = match (k.last_used_at, state.last_used.pending(&k.id)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            kind: k.kind,
            environment: k.environment,
            owner: k.owner.clone(),
            scope: k.scope.clone(),
            permissions: k.permissions.to_strings(),
            metadata: k.metadata.clone(),
            status: status_at(k.revoked_at, k.expires_at, k.enabled, state.clock.now()),
            enabled: k.enabled,
            created_at: k.created_at,
            created_by: k.created_by.clone(),
            last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            revoked_by: k.revoked_by.clone(),
            rotated_from: k.rotated_from.clone(),
            rotated_to: k.rotated_to.clone(),
            workspace: k.workspace_id.clone(),
            channel: k.channel_id.clone(),
            disabled_by: k.disabled_by.clone(),
            limits_by: k.limits_by.clone(),
            ratelimit: k.ratelimit,
            quota: k.quota,
        }
    }
}

fn expiry_field(field: &'static str) -> impl Fn(keyward_core::expiry::ExpiryError) -> ApiError {
    move |e| ApiError::validation(field, e)
}

/// The key `id` of the caller's organization, if the caller may do `action` to it with
/// `permission`: 404 when it does not exist, 403 when it is beyond the caller's reach
/// or scope.
pub(crate) async fn find(
    state: &AppState,
    principal: &Principal,
    permission: &str,
    action: Action,
    id: &str,
) -> Result<(KeyRecord, Reach)> {
    principal.require(permission)?;
    if !ids::is_id("key", id) {
        return Err(ApiError::NotFound("key"));
    }
    let key = state
        .store
        .get_key(principal.org_id(), id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("key"),
            other => other.into(),
        })?;
    let reach = principal
        .authorize(state, permission, action, Target::from(&key))
        .await?;
    Ok((key, reach))
}

/// Checks that every workspace or agent a scope names exists in the organization.
pub(crate) async fn check_scope_exists(
    state: &AppState,
    org_id: &str,
    scope: &Scope,
) -> Result<()> {
    let missing = |kind: ResourceKind, id: &str| {
        ApiError::validation(
            "scope",
            format!("no {} {id:?} in this organization", kind.singular()),
        )
    };
    match scope {
        Scope::Organization => Ok(()),
        Scope::Workspaces { workspaces } => {
            if workspaces.is_empty() {
                return Err(ApiError::validation("scope", "name at least one workspace"));
            }
            for w in workspaces {
                state
                    .store
                    .get_resource(ResourceKind::Workspace, org_id, w)
                    .await
                    .map_err(|_| missing(ResourceKind::Workspace, w))?;
            }
            Ok(())
        }
        Scope::Agent { agent } => {
            state
                .store
                .get_resource(ResourceKind::Agent, org_id, agent)
                .await
                .map_err(|_| missing(ResourceKind::Agent, agent))?;
            Ok(())
        }
    }
}

/// Create a key. The response is the only time the raw key is shown.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:write"])))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    principal.require("keys:write")?;
    let org_id = principal.org_id().to_owned();
    // What the policy needs, read once: the organization's settings and, for a channel
    // token, the channel (a lookup that fails is a channel that is not there).
    let settings = principal.organization(&state).await?.settings;
    let channel = match (&req.channel, req.kind) {
        (Some(id), Some(KeyKind::Channel)) => state.store.get_channel(&org_id, id).await.ok(),
        _ => None,
    };
    let shape = key_policy::shape(&req, &principal.key, &settings, channel.as_ref())?;
    check_scope_exists(&state, &org_id, &shape.scope).await?;
    principal
        .authorize(
            &state,
            "keys:write",
            Action::Create,
            Target::Key(KeyTarget {
                kind: shape.kind,
                owner: shape.target_owner(),
                scope: &shape.scope,
            }),
        )
        .await?;
    let now = state.clock.now();
    let plan = key_policy::plan(shape, &req, &principal.key, &settings, now)?;
    let KeyPlan {
        kind,
        environment,
        owner,
        scope,
        workspace_id,
        channel_id,
        permissions,
        ratelimit,
        quota,
        limits_from,
        metadata,
        expires_at,
        enabled,
    } = plan;
    let plain = PlainKey::generate(kind, environment);
    let actor = principal.actor();
    let new = NewKey {
        owner,
        permissions,
        scope,
        metadata,
        expires_at,
        workspace_id,
        channel_id,
        ratelimit,
        quota,
        enabled,
        disabled_by: (!enabled).then(|| principal.actor_id()),
        limits_by: match limits_from {
            LimitsFrom::Request => Some(principal.actor_id()),
            LimitsFrom::OrganizationDefaults => {
                Some(keyward_store::ORGANIZATION_DEFAULTS.to_owned())
            }
            LimitsFrom::Nothing => None,
        },
        ..NewKey::for_plain(
            &plain,
            &org_id,
            req.name.to_string(),
            now,
            actor.name.clone(),
        )
    };
    let audit = actor_event(
        &principal,
        now,
        "key.create",
        "key",
        &new.id,
        serde_json::json!({
            "name": new.name, "kind": kind, "prefix": new.prefix,
            "permissions": new.permissions, "scope": new.scope, "expires_at": expires_at,
            "enabled": new.enabled,
        }),
    );
    let record = state.store.create_key(new, audit).await?;
    tracing::info!(key_id = %record.id, kind = kind.as_str(), "key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: ApiKey::new(plain.expose_secret()),
            details: KeyView::new(&state, &record),
        }),
    ))
}

/// List the organization's keys, newest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(ListQuery),
    responses((status = 200, body = ListResponse<KeyView>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:read"])))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<KeyView>>> {
    list_reached(&state, &principal, &query, Listing::Reached).await
}

/// The caller's own keys, newest first: a person's personal and worker tokens, a
/// service account's keys; a key that belongs to neither lists itself.
#[utoipa::path(get, path = "/v1/me/keys", tag = "keys", params(ListQuery),
    responses((status = 200, body = ListResponse<KeyView>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:read"])))]
pub async fn list_my_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<KeyView>>> {
    list_reached(&state, &principal, &query, Listing::Mine).await
}

/// Which keys a listing asks for, before the caller's reach narrows it.
pub(crate) enum Listing<'a> {
    /// Every key the caller reaches.
    Reached,
    /// The caller's own (see [`list_my_keys`]): every caller reaches its own.
    Mine,
    /// The keys of one service account that the caller reaches.
    ServiceAccount(&'a str),
}

/// A page of the keys of `listing` that the caller reaches: by its role, then by its
/// scope.
pub(crate) async fn list_reached(
    state: &AppState,
    principal: &Principal,
    query: &ListQuery,
    listing: Listing<'_>,
) -> Result<Json<ListResponse<KeyView>>> {
    let reach = principal
        .authorize(state, "keys:read", Action::Read, Target::Listing)
        .await?;
    let reached = match &reach {
        Reach::Admin { .. } => KeyFilter::default(),
        Reach::AgentAdmin { user_id, agents } => KeyFilter {
            owner_user: Some(user_id.clone()),
            agents: Some(agents.clone()),
            ..Default::default()
        },
        Reach::Member { user_id } => KeyFilter {
            owner_user: Some(user_id.clone()),
            ..Default::default()
        },
        Reach::None => return Err(ApiError::RoleForbidden("this key cannot list keys".into())),
    };
    let filter = match listing {
        Listing::Reached => reached,
        Listing::ServiceAccount(id) => KeyFilter {
            service_account: Some(id.to_owned()),
            ..reached
        },
        Listing::Mine => match (&principal.key.owner, principal.key.kind) {
            (Some(Owner::User { id, .. }), KeyKind::Personal | KeyKind::Worker) => KeyFilter {
                owner_user: Some(id.clone()),
                ..Default::default()
            },
            (Some(Owner::ServiceAccount { id, .. }), KeyKind::ServiceAccount) => KeyFilter {
                service_account: Some(id.clone()),
                ..Default::default()
            },
            _ => KeyFilter {
                key: Some(principal.key.id.clone()),
                ..Default::default()
            },
        },
    };
    let page = state
        .store
        .list_keys(principal.org_id(), &filter, &query.page_request()?)
        .await?;
    Ok(Json(ListResponse {
        // A key scoped below the organization sees only what its scope covers.
        data: page
            .items
            .iter()
            .filter(|k| principal.sees(&k.scope))
            .map(|k| KeyView::new(state, k))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Show one key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:read"])))]
pub async fn get_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>> {
    let (key, _) = find(&state, &principal, "keys:read", Action::Read, &id).await?;
    Ok(Json(KeyView::new(&state, &key)))
}

/// Rename a key.
#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)), request_body = UpdateKeyRequest,
    responses((status = 200, body = KeyView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:write"])))]
pub async fn update_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> Result<Json<KeyView>> {
    let (current, _) = find(&state, &principal, "keys:write", Action::Write, &id).await?;
    if req.name.is_none()
        && req.permissions.is_none()
        && req.scope.is_none()
        && req.ratelimit.is_none()
        && req.quota.is_none()
        && req.enabled.is_none()
    {
        return Err(ApiError::validation(
            "body",
            "nothing to change: send name, permissions, scope, ratelimit, quota or enabled",
        ));
    }
    check_limits(
        req.ratelimit.flatten().as_ref(),
        req.quota.flatten().as_ref(),
    )?;
    let permissions = req
        .permissions
        .as_ref()
        .map(PermissionsInput::parse)
        .transpose()?;
    if let Some(p) = &permissions {
        if !principal.key.permissions.covers(p) {
            return Err(ApiError::CannotGrant(
                principal.key.permissions.missing_from(p),
            ));
        }
        // A service account's key holds at most the account's scopes.
        if let Some(Owner::ServiceAccount { id: sa, .. }) = &current.owner {
            let account = state
                .store
                .get_service_account(principal.org_id(), sa)
                .await
                .map_err(|_| ApiError::NotFound("service account"))?;
            if !account.scopes.covers(p) {
                return Err(ApiError::validation(
                    "permissions",
                    format!(
                        "a key of service account {} holds at most its scopes ({}); missing: {}",
                        account.name,
                        account.scopes.to_strings().join(", "),
                        account.scopes.missing_from(p).join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(scope) = &req.scope {
        let same_level = match (&current.scope, scope) {
            (Scope::Organization, Scope::Organization) => true,
            (Scope::Workspaces { .. }, Scope::Workspaces { .. }) => current.workspace_id.is_none(),
            (Scope::Agent { agent: a }, Scope::Agent { agent: b }) => a == b,
            _ => false,
        };
        if !same_level {
            return Err(ApiError::validation(
                "scope",
                format!("the scope level ({}) is fixed at creation; only the list of workspaces can be edited", current.scope.level()),
            ));
        }
        check_scope_exists(&state, principal.org_id(), scope).await?;
        principal
            .authorize(
                &state,
                "keys:write",
                Action::Write,
                Target::Key(KeyTarget {
                    scope,
                    ..KeyTarget::from(&current)
                }),
            )
            .await?;
    }
    let now = state.clock.now();
    let mut changes = serde_json::Map::new();
    if let Some(name) = &req.name {
        changes.insert(
            "name".into(),
            serde_json::json!({ "from": current.name, "to": name.as_str() }),
        );
    }
    if let Some(p) = &permissions {
        changes.insert(
            "permissions".into(),
            serde_json::json!({ "from": current.permissions, "to": p }),
        );
    }
    if let Some(scope) = &req.scope {
        changes.insert(
            "scope".into(),
            serde_json::json!({ "from": current.scope, "to": scope }),
        );
    }
    if let Some(r) = &req.ratelimit {
        changes.insert(
            "ratelimit".into(),
            serde_json::json!({ "from": current.ratelimit, "to": r }),
        );
    }
    if let Some(q) = &req.quota {
        changes.insert(
            "quota".into(),
            serde_json::json!({ "from": current.quota, "to": q }),
        );
    }
    if let Some(enabled) = req.enabled {
        changes.insert(
            "enabled".into(),
            serde_json::json!({ "from": current.enabled, "to": enabled }),
        );
    }
    let audit = actor_event(
        &principal,
        now,
        "key.update",
        "key",
        &id,
        serde_json::Value::Object(changes),
    );
    let patch = KeyPatch {
        name: req.name.map(|n| n.to_string()),
        permissions,
        scope: req.scope,
        ratelimit: req.ratelimit,
        quota: req.quota,
        enabled: req.enabled,
        by: Some(principal.actor_id()),
    };
    let updated = state
        .store
        .update_key(principal.org_id(), &id, &patch, audit)
        .await?;
    Ok(Json(KeyView::new(&state, &updated)))
}

/// Revoke a key at once and for good. It stays listed as revoked.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = KeyView), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:write"])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>> {
    find(&state, &principal, "keys:write", Action::Write, &id).await?;
    let now = state.clock.now();
    let actor = principal.actor();
    let audit = actor_event(
        &principal,
        now,
        "key.revoke",
        "key",
        &id,
        serde_json::json!({}),
    );
    let record = state
        .store
        .revoke_key(principal.org_id(), &id, now, &actor.name, audit)
        .await?
        .key;
    tracing::info!(key_id = %record.id, "key revoked");
    Ok(Json(KeyView::new(&state, &record)))
}

/// Replace a key with a new one of the same name, scope and permissions.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", params(("id" = String, Path)), request_body = Option<RotateKeyRequest>,
    responses((status = 201, body = RotatedKey), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:write"])))]
pub async fn rotate_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    // The body is optional: an empty one means "rotate now, same lifetime".
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<RotateKeyRequest>,
) -> Result<(StatusCode, Json<RotatedKey>)> {
    principal.require("keys:write")?;
    let (old, _) = find(&state, &principal, "keys:write", Action::Rotate, &id).await?;
    if !principal.key.permissions.covers(&old.permissions) {
        return Err(ApiError::CannotGrant(
            principal.key.permissions.missing_from(&old.permissions),
        ));
    }
    let now = state.clock.now();
    let grace = parse_duration(
        req.grace.as_deref().unwrap_or("0"),
        Duration::days(30),
        MAX_GRACE,
    )
    .map_err(expiry_field("grace"))?;
    // A replacement lives at most as long as the key it replaces did, counted from now.
    let lifetime = old.expires_at.map(|end| now + (end - old.created_at));
    let expires_at = match req.expires.as_deref() {
        Some(e) => {
            let at = Expiry::parse(e)
                .and_then(|e| e.resolve(now))
                .map_err(expiry_field("expires"))?;
            if let Some(longest) = lifetime.filter(|l| at.is_none_or(|at| at > *l)) {
                return Err(ApiError::validation(
                    "expires",
                    format!(
                        "must be no later than {} (the lifetime of the key it replaces, from now)",
                        longest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
            at
        }
        None => lifetime,
    };
    let expires_at = if principal.key.id == old.id {
        // Renewal: a key may rotate itself into the same lifetime again, so its holder
        // can keep it alive (the old secret ends with the grace period).
        expires_at
    } else if req.expires.is_some() {
        bounded_expiry(principal.key.expires_at, expires_at, true)?
    } else {
        // Another key rotates it: the replacement keeps the old key's lifetime, which
        // must not outlive the rotating key; say so rather than shorten it silently.
        match (principal.key.expires_at, expires_at) {
            (Some(limit), at) if at.is_none_or(|at| at > limit) => {
                return Err(ApiError::validation(
                    "expires",
                    format!(
                        "the replacement would keep the key's lifetime, past {} when the key rotating it expires; pass expires no later than that, or rotate with a longer-lived key",
                        limit.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ))
            }
            _ => expires_at,
        }
    };
    let revoke_old = grace.is_zero();
    let old_ends_at = match old.expires_at {
        Some(end) if end < now + grace => end,
        _ => now + grace,
    };
    let plain = PlainKey::generate(old.kind, old.environment);
    let actor = principal.actor();
    let replacement = NewKey {
        owner: old.owner.clone(),
        permissions: old.permissions.clone(),
        scope: old.scope.clone(),
        metadata: old.metadata.clone(),
        expires_at,
        rotated_from: Some(old.id.clone()),
        workspace_id: old.workspace_id.clone(),
        channel_id: old.channel_id.clone(),
        ratelimit: old.ratelimit,
        quota: old.quota,
        // A new secret for the same key: a disabled key's replacement is disabled too.
        enabled: old.enabled,
        disabled_by: old.disabled_by.clone(),
        limits_by: old.limits_by.clone(),
        ..NewKey::for_plain(
            &plain,
            &old.org_id,
            old.name.clone(),
            now,
            actor.name.clone(),
        )
    };
    let audit = vec![
        actor_event(
            &principal,
            now,
            "key.rotate",
            "key",
            &old.id,
            serde_json::json!({
                "replacement": replacement.id, "grace": req.grace.as_deref().unwrap_or("0"), "old_key_ends_at": old_ends_at,
            }),
        ),
        actor_event(
            &principal,
            now,
            "key.create",
            "key",
            &replacement.id,
            serde_json::json!({
                "name": replacement.name, "kind": replacement.kind, "prefix": replacement.prefix,
                "rotated_from": old.id, "expires_at": expires_at,
            }),
        ),
    ];
    let rotated = state
        .store
        .rotate_key(Rotation {
            org_id: old.org_id.clone(),
            old_id: old.id.clone(),
            replacement,
            old_ends_at,
            revoke_old,
            revoked_by: actor.name,
            audit,
        })
        .await?;
    let (old, new) = (rotated.old, rotated.new);
    tracing::info!(key_id = %old.id, replacement = %new.id, "key rotated");
    Ok((
        StatusCode::CREATED,
        Json(RotatedKey {
            key: ApiKey::new(plain.expose_secret()),
            details: KeyView::new(&state, &new),
            previous: KeyView::new(&state, &old),
        }),
    ))
}
