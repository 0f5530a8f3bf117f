//! Workspaces and agents: the same create / list / show / rename / delete, on two tables.
//! People of every role may read them (to choose scopes); only org admins change them.

use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
pub use keyward_api::{NameRequest, Resource};
use keyward_core::ids;
use keyward_store::{self as store, ResourceKind, StoreError};

fn permission(kind: ResourceKind, action: &str) -> String {
    format!("{}:{action}", kind.table())
}

/// The authorization target of one workspace or agent.
fn target(kind: ResourceKind, id: &str) -> Target<'_> {
    match kind {
        ResourceKind::Workspace => Target::Workspace(id),
        ResourceKind::Agent => Target::Agent(id),
    }
}

/// Whether a key of this scope sees the workspace or agent `id` in listings.
fn in_scope(scope: &keyward_core::Scope, kind: ResourceKind, id: &str) -> bool {
    match kind {
        ResourceKind::Workspace => scope.reaches_workspace(id),
        ResourceKind::Agent => scope.reaches_agent(id),
    }
}

fn id_prefix(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Workspace => "ws",
        ResourceKind::Agent => "agt",
    }
}

fn not_found(kind: ResourceKind) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(kind.singular()),
        StoreError::Conflict(keyward_store::Conflict::Duplicate) => ApiError::Conflict(
            keyward_api::ErrorCode::Conflict,
            format!("a {} with that name exists", kind.singular()),
        ),
        other => other.into(),
    }
}

async fn create(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    name: String,
) -> Result<(StatusCode, Json<Resource>)> {
    principal
        .authorize(
            &state,
            &permission(kind, "write"),
            Action::Write,
            Target::Organization,
        )
        .await?;
    let r = store::Resource {
        id: ids::new_id(id_prefix(kind)),
        name: name.to_string(),
        created_at: state.clock.now(),
    };
    let audit = actor_event(
        &principal,
        r.created_at,
        &format!("{}.create", kind.singular()),
        kind.singular(),
        &r.id,
        serde_json::json!({ "name": r.name }),
    );
    state
        .store
        .create_resource(kind, principal.org_id(), &r, audit)
        .await
        .map_err(not_found(kind))?;
    Ok((StatusCode::CREATED, Json(r.into_api())))
}

async fn list(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
) -> Result<Json<Vec<Resource>>> {
    principal
        .authorize(
            &state,
            &permission(kind, "read"),
            Action::Read,
            Target::Listing,
        )
        .await?;
    let all = state.store.list_resources(kind, principal.org_id()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|r| in_scope(&principal.key.scope, kind, &r.id))
            .map(IntoApi::into_api)
            .collect(),
    ))
}

async fn get(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    id: String,
) -> Result<Json<Resource>> {
    principal.require(&permission(kind, "read"))?;
    let resource = state
        .store
        .get_resource(kind, principal.org_id(), &id)
        .await
        .map_err(not_found(kind))?;
    principal
        .authorize(
            &state,
            &permission(kind, "read"),
            Action::Read,
            target(kind, &id),
        )
        .await?;
    Ok(Json(resource.into_api()))
}

async fn rename(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    id: String,
    name: String,
) -> Result<Json<Resource>> {
    principal
        .authorize(
            &state,
            &permission(kind, "write"),
            Action::Write,
            target(kind, &id),
        )
        .await?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        &format!("{}.update", kind.singular()),
        kind.singular(),
        &id,
        serde_json::json!({ "name": name.as_str() }),
    );
    Ok(Json(
        state
            .store
            .rename_resource(kind, principal.org_id(), &id, name.as_str(), audit)
            .await
            .map_err(not_found(kind))?
            .into_api(),
    ))
}

async fn delete(
    state: AppState,
    principal: Principal,
    kind: ResourceKind,
    id: String,
) -> Result<StatusCode> {
    principal
        .authorize(
            &state,
            &permission(kind, "write"),
            Action::Write,
            target(kind, &id),
        )
        .await?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        &format!("{}.delete", kind.singular()),
        kind.singular(),
        &id,
        serde_json::json!({}),
    );
    state
        .store
        .delete_resource(kind, principal.org_id(), &id, audit)
        .await
        .map_err(not_found(kind))?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! resource_routes {
    ($kind:expr, $tag:literal, $base:literal, $item:literal,
     $create:ident, $list:ident, $get:ident, $rename:ident, $delete:ident) => {
        #[utoipa::path(post, path = $base, tag = $tag, request_body = NameRequest,
            responses((status = 201, body = Resource), (status = "4XX", body = crate::errors::Problem)),
            security(("bearer" = [])))]
        pub async fn $create(State(s): State<AppState>, p: Principal, ApiJson(r): ApiJson<NameRequest>) -> Result<(StatusCode, Json<Resource>)> {
            create(s, p, $kind, r.name).await
        }

        #[utoipa::path(get, path = $base, tag = $tag,
            responses((status = 200, body = Vec<Resource>), (status = "4XX", body = crate::errors::Problem)),
            security(("bearer" = [])))]
        pub async fn $list(State(s): State<AppState>, p: Principal) -> Result<Json<Vec<Resource>>> {
            list(s, p, $kind).await
        }

        #[utoipa::path(get, path = $item, tag = $tag, params(("id" = String, Path)),
            responses((status = 200, body = Resource), (status = "4XX", body = crate::errors::Problem)),
            security(("bearer" = [])))]
        pub async fn $get(State(s): State<AppState>, p: Principal, Path(id): Path<String>) -> Result<Json<Resource>> {
            get(s, p, $kind, id).await
        }

        #[utoipa::path(patch, path = $item, tag = $tag, params(("id" = String, Path)), request_body = NameRequest,
            responses((status = 200, body = Resource), (status = "4XX", body = crate::errors::Problem)),
            security(("bearer" = [])))]
        pub async fn $rename(State(s): State<AppState>, p: Principal, Path(id): Path<String>, ApiJson(r): ApiJson<NameRequest>) -> Result<Json<Resource>> {
            rename(s, p, $kind, id, r.name).await
        }

        #[utoipa::path(delete, path = $item, tag = $tag, params(("id" = String, Path)),
            responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
            security(("bearer" = [])))]
        pub async fn $delete(State(s): State<AppState>, p: Principal, Path(id): Path<String>) -> Result<StatusCode> {
            delete(s, p, $kind, id).await
        }
    };
}

resource_routes!(
    ResourceKind::Workspace,
    "workspaces",
    "/v1/workspaces",
    "/v1/workspaces/{id}",
    create_workspace,
    list_workspaces,
    get_workspace,
    rename_workspace,
    delete_workspace
);
resource_routes!(
    ResourceKind::Agent,
    "agents",
    "/v1/agents",
    "/v1/agents/{id}",
    create_agent,
    list_agents,
    get_agent,
    rename_agent,
    delete_agent
);
