//! People of the organization and their roles. Adding a person hands back their first
//! personal access token (shown once), which they then rotate or replace.

use super::actor_event;
use super::keys::{CreatedKey, KeyView};
use crate::auth::Principal;
use crate::authz::Reach;
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keyward_core::key::Environment;
use keyward_core::{ids, Email, KeyKind, Owner, PermissionSet, PlainKey, Role};
use keyward_store::{Member, NewKey, ResourceKind, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub email: Email,
    pub role: Role,
    /// For `agent_admin`: the agents they administer.
    #[serde(default)]
    pub agents: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: Option<Role>,
    pub agents: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct AddedMember {
    pub member: Member,
    /// The person's first personal access token (shown once): hand it over safely.
    pub token: CreatedKey,
}

/// Only owners hand out or take away ownership.
fn check_role_change(reach: &Reach, role: Role) -> Result<()> {
    if role == Role::Owner
        && !matches!(
            reach,
            Reach::Admin {
                role: Some(Role::Owner)
            }
        )
    {
        return Err(ApiError::RoleForbidden(
            "only owners can make owners".into(),
        ));
    }
    Ok(())
}

async fn check_agents(state: &AppState, org_id: &str, role: Role, agents: &[String]) -> Result<()> {
    if role != Role::AgentAdmin && !agents.is_empty() {
        return Err(ApiError::validation(
            "agents",
            "only agent_admin members administer agents",
        ));
    }
    if role == Role::AgentAdmin && agents.is_empty() {
        return Err(ApiError::validation(
            "agents",
            "an agent_admin needs at least one agent",
        ));
    }
    for agent in agents {
        state
            .store
            .get_resource(ResourceKind::Agent, org_id, agent)
            .await
            .map_err(|_| {
                ApiError::validation("agents", format!("no agent {agent:?} in this organization"))
            })?;
    }
    Ok(())
}

fn member_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("member"),
        StoreError::Conflict(keyward_store::Conflict::Duplicate) => {
            ApiError::Conflict("conflict", "that person is already a member".into())
        }
        other => other.into(),
    }
}

/// Add a person with a role; returns their first personal access token once.
#[utoipa::path(post, path = "/v1/members", tag = "members", request_body = AddMemberRequest,
    responses((status = 201, body = AddedMember), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:write"])))]
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<(StatusCode, Json<AddedMember>)> {
    principal.require("members:write")?;
    let reach = principal.require_admin(&state).await?;
    let email = req.email.to_string();
    check_role_change(&reach, req.role)?;
    check_agents(&state, principal.org_id(), req.role, &req.agents).await?;
    let now = state.clock.now();
    let user_id = state
        .store
        .find_user_by_email(&email)
        .await?
        .unwrap_or_else(|| ids::new_id("usr"));
    let member = Member {
        user_id: user_id.clone(),
        email: email.clone(),
        role: req.role,
        agents: req.agents,
        created_at: now,
    };
    // Their first token holds what the adder may hand on; its reach follows the role.
    let permissions = PermissionSet::all();
    if !principal.key.permissions.covers(&permissions) {
        return Err(ApiError::CannotGrant(
            principal.key.permissions.missing_from(&permissions),
        ));
    }
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    let key = NewKey {
        owner: Some(Owner::User {
            id: user_id.clone(),
            name: email.clone(),
        }),
        permissions,
        ..NewKey::for_plain(
            &plain,
            principal.org_id(),
            format!("{email} first token"),
            now,
            principal.actor().name,
        )
    };
    let audit = actor_event(
        &principal,
        now,
        "member.add",
        "user",
        &user_id,
        serde_json::json!({ "email": email, "role": member.role, "agents": member.agents, "key": key.id }),
    );
    let (member, record) = state
        .store
        .add_member(principal.org_id(), &member, key, audit)
        .await
        .map_err(member_not_found)?;
    state.keys.insert_fresh(&record);
    Ok((
        StatusCode::CREATED,
        Json(AddedMember {
            member,
            token: CreatedKey {
                key: plain.expose_secret().to_owned(),
                details: KeyView::new(&state, &record),
            },
        }),
    ))
}

/// The organization's people and roles.
#[utoipa::path(get, path = "/v1/members", tag = "members",
    responses((status = 200, body = Vec<Member>), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:read"])))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Member>>> {
    principal.require("members:read")?;
    Ok(Json(state.store.list_members(principal.org_id()).await?))
}

/// One member.
#[utoipa::path(get, path = "/v1/members/{user_id}", tag = "members", params(("user_id" = String, Path)),
    responses((status = 200, body = Member), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:read"])))]
pub async fn get_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<Member>> {
    principal.require("members:read")?;
    state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("member"))
}

/// Change a member's role or administered agents.
#[utoipa::path(patch, path = "/v1/members/{user_id}", tag = "members", params(("user_id" = String, Path)), request_body = UpdateMemberRequest,
    responses((status = 200, body = Member), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:write"])))]
pub async fn update_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> Result<Json<Member>> {
    principal.require("members:write")?;
    let reach = principal.require_admin(&state).await?;
    let current = state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let role = req.role.unwrap_or(current.role);
    if current.role == Role::Owner || role == Role::Owner {
        check_role_change(&reach, Role::Owner)?;
    }
    let agents = match (req.agents, role) {
        (Some(a), _) => a,
        (None, Role::AgentAdmin) => current.agents.clone(),
        (None, _) => vec![],
    };
    check_agents(&state, principal.org_id(), role, &agents).await?;
    let updated = Member {
        role,
        agents,
        ..current.clone()
    };
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "member.update",
        "user",
        &user_id,
        serde_json::json!({ "from": { "role": current.role, "agents": current.agents }, "to": { "role": updated.role, "agents": updated.agents } }),
    );
    Ok(Json(
        state
            .store
            .update_member(principal.org_id(), &updated, audit)
            .await
            .map_err(member_not_found)?,
    ))
}

/// Remove a member: their keys in this organization are revoked at once.
#[utoipa::path(delete, path = "/v1/members/{user_id}", tag = "members", params(("user_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:write"])))]
pub async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    principal.require("members:write")?;
    let reach = principal.require_admin(&state).await?;
    let current = state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    if current.role == Role::Owner {
        check_role_change(&reach, Role::Owner)?;
    }
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "member.remove",
        "user",
        &user_id,
        serde_json::json!({ "email": current.email }),
    );
    let revoked = state
        .store
        .remove_member(
            principal.org_id(),
            &user_id,
            now,
            &principal.actor().name,
            audit,
        )
        .await
        .map_err(member_not_found)?;
    for hash in &revoked {
        state.keys.invalidate(hash);
    }
    Ok(StatusCode::NO_CONTENT)
}
