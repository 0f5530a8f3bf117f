//! Service accounts: non-human principals with explicit scopes. Their keys never
//! expire unless asked to.

use super::keys::{CreatedKey, KeyView, KeyViewExt as _, Listing};
use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{ApiKey, ListQuery, ListResponse};
pub use keyward_api::{
    CreateServiceAccountKeyRequest, CreateServiceAccountRequest, CreatedServiceAccount,
    ScopesInput, ServiceAccount, UpdateServiceAccountRequest,
};
use keyward_core::expiry::Expiry;
use keyward_core::key::Environment;
use keyward_core::{ids, KeyKind, Owner, PermissionSet, PlainKey};
use keyward_store::{self as store, NewKey, StoreError};

/// The scopes a request names, checked.
trait ParseScopes {
    fn parse(&self) -> Result<PermissionSet>;
}

impl ParseScopes for ScopesInput {
    fn parse(&self) -> Result<PermissionSet> {
        let list: Vec<String> = match self {
            ScopesInput::Csv(s) => s
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            ScopesInput::List(l) => l.clone(),
        };
        if list.is_empty() {
            return Err(ApiError::validation(
                "scopes",
                "name at least one scope, e.g. integrations:read",
            ));
        }
        PermissionSet::parse_list(&list).map_err(|e| ApiError::validation("scopes", e))
    }
}

fn sa_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("service account"),
        other => other.into(),
    }
}

fn new_sa_key(
    state: &AppState,
    principal: &Principal,
    sa: &store::ServiceAccount,
    name: String,
    expires: Option<&str>,
) -> Result<(PlainKey, NewKey)> {
    let now = state.clock.now();
    let expires_at = Expiry::parse(expires.unwrap_or("never"))
        .and_then(|e| e.resolve(now))
        .map_err(|e| ApiError::validation("expires", e))?;
    let expires_at =
        super::key_policy::bounded_expiry(principal.key.expires_at, expires_at, expires.is_some())?;
    let plain = PlainKey::generate(KeyKind::ServiceAccount, Environment::Live);
    let key = NewKey {
        owner: Some(Owner::ServiceAccount {
            id: sa.id.clone(),
            name: sa.name.clone(),
        }),
        permissions: sa.scopes.clone(),
        expires_at,
        ..NewKey::for_plain(
            &plain,
            principal.org_id(),
            name,
            now,
            principal.actor().name,
        )
    };
    Ok((plain, key))
}

/// Create a service account and its first key.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "service-accounts", request_body = CreateServiceAccountRequest,
    responses((status = 201, body = CreatedServiceAccount), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:write"])))]
pub async fn create_service_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateServiceAccountRequest>,
) -> Result<(StatusCode, Json<CreatedServiceAccount>)> {
    principal
        .authorize(
            &state,
            "service_accounts:write",
            Action::Create,
            Target::Organization,
        )
        .await?;
    let scopes = req.scopes.parse()?;
    if !principal.key.permissions.covers(&scopes) {
        return Err(ApiError::CannotGrant(
            principal.key.permissions.missing_from(&scopes),
        ));
    }
    let sa = store::ServiceAccount {
        id: ids::new_id("sa"),
        name: req.name.to_string(),
        scopes,
        created_at: state.clock.now(),
        created_by: principal.actor().name,
    };
    let (plain, key) = new_sa_key(
        &state,
        &principal,
        &sa,
        sa.name.clone(),
        req.expires.as_deref(),
    )?;
    let audit = actor_event(
        &principal,
        sa.created_at,
        "service_account.create",
        "service_account",
        &sa.id,
        serde_json::json!({ "name": sa.name, "scopes": sa.scopes, "key": key.id }),
    );
    let record = state
        .store
        .create_service_account(principal.org_id(), &sa, key, audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedServiceAccount {
            account: sa.into_api(),
            key: CreatedKey {
                key: ApiKey::new(plain.expose_secret()),
                details: KeyView::new(&state, &record),
            },
        }),
    ))
}

/// Another key for a service account (for instance before rotating machines).
#[utoipa::path(post, path = "/v1/service-accounts/{id}/keys", tag = "service-accounts", params(("id" = String, Path)),
    request_body = Option<CreateServiceAccountKeyRequest>,
    responses((status = 201, body = CreatedKey), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:write"])))]
pub async fn create_service_account_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<CreateServiceAccountKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    principal
        .authorize(
            &state,
            "service_accounts:write",
            Action::Create,
            Target::Organization,
        )
        .await?;
    let sa = state
        .store
        .get_service_account(principal.org_id(), &id)
        .await
        .map_err(sa_not_found)?;
    if !principal.key.permissions.covers(&sa.scopes) {
        return Err(ApiError::CannotGrant(
            principal.key.permissions.missing_from(&sa.scopes),
        ));
    }
    let name = req
        .name
        .map(|n| n.to_string())
        .unwrap_or_else(|| sa.name.clone());
    let (plain, key) = new_sa_key(&state, &principal, &sa, name, req.expires.as_deref())?;
    let audit = actor_event(
        &principal,
        key.created_at,
        "key.create",
        "key",
        &key.id,
        serde_json::json!({ "service_account": sa.id, "kind": "service_account", "prefix": key.prefix }),
    );
    let record = state.store.create_key(key, audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: ApiKey::new(plain.expose_secret()),
            details: KeyView::new(&state, &record),
        }),
    ))
}

/// The keys of a service account that the caller's listing reaches, newest first.
#[utoipa::path(get, path = "/v1/service-accounts/{id}/keys", tag = "service-accounts", params(("id" = String, Path), ListQuery),
    responses((status = 200, body = ListResponse<KeyView>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:read"])))]
pub async fn list_service_account_keys(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<KeyView>>> {
    principal.require("keys:read")?;
    state
        .store
        .get_service_account(principal.org_id(), &id)
        .await
        .map_err(sa_not_found)?;
    super::keys::list_reached(&state, &principal, &query, Listing::ServiceAccount(&id)).await
}

/// The organization's service accounts.
#[utoipa::path(get, path = "/v1/service-accounts", tag = "service-accounts",
    responses((status = 200, body = Vec<ServiceAccount>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:read"])))]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ServiceAccount>>> {
    principal
        .authorize(
            &state,
            "service_accounts:read",
            Action::Read,
            Target::Organization,
        )
        .await?;
    Ok(Json(
        state
            .store
            .list_service_accounts(principal.org_id())
            .await?
            .into_api(),
    ))
}

/// One service account.
#[utoipa::path(get, path = "/v1/service-accounts/{id}", tag = "service-accounts", params(("id" = String, Path)),
    responses((status = 200, body = ServiceAccount), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:read"])))]
pub async fn get_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ServiceAccount>> {
    principal
        .authorize(
            &state,
            "service_accounts:read",
            Action::Read,
            Target::Organization,
        )
        .await?;
    Ok(Json(
        state
            .store
            .get_service_account(principal.org_id(), &id)
            .await
            .map_err(sa_not_found)?
            .into_api(),
    ))
}

/// Rename a service account.
#[utoipa::path(patch, path = "/v1/service-accounts/{id}", tag = "service-accounts", params(("id" = String, Path)),
    request_body = UpdateServiceAccountRequest,
    responses((status = 200, body = ServiceAccount), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:write"])))]
pub async fn update_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateServiceAccountRequest>,
) -> Result<Json<ServiceAccount>> {
    principal
        .authorize(
            &state,
            "service_accounts:write",
            Action::Write,
            Target::Organization,
        )
        .await?;
    let mut sa = state
        .store
        .get_service_account(principal.org_id(), &id)
        .await
        .map_err(sa_not_found)?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "service_account.update",
        "service_account",
        &id,
        serde_json::json!({ "name": { "from": sa.name, "to": req.name.as_str() } }),
    );
    sa.name = req.name.to_string();
    Ok(Json(
        state
            .store
            .update_service_account(principal.org_id(), &sa, audit)
            .await?
            .into_api(),
    ))
}

/// Delete a service account; its keys are revoked at once.
#[utoipa::path(delete, path = "/v1/service-accounts/{id}", tag = "service-accounts", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["service_accounts:write"])))]
pub async fn delete_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    principal
        .authorize(
            &state,
            "service_accounts:write",
            Action::Write,
            Target::Organization,
        )
        .await?;
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "service_account.delete",
        "service_account",
        &id,
        serde_json::json!({}),
    );
    state
        .store
        .delete_service_account(principal.org_id(), &id, now, &principal.actor().name, audit)
        .await
        .map_err(sa_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
