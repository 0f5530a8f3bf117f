//! People of the organization and their roles. People join through invitations
//! (`http/invitations.rs`); here their role changes, they leave, and an admin hands one
//! a link to set a new console password.

use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiJsonOrEmpty};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keyward_api::OneTimeLink;
pub use keyward_api::{CreatedPasswordLink, Member, PasswordLinkRequest, UpdateMemberRequest};
use keyward_core::{KeyKind, Owner, Role};
use keyward_store::{self as store, ResourceKind, StoreError};

pub(crate) async fn check_agents(
    state: &AppState,
    org_id: &str,
    role: Role,
    agents: &[String],
) -> Result<()> {
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

pub(crate) fn member_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("member"),
        StoreError::Conflict(keyward_store::Conflict::Duplicate) => ApiError::Conflict(
            keyward_api::ErrorCode::Conflict,
            "that person is already a member".into(),
        ),
        other => other.into(),
    }
}

/// The organization's people and roles.
#[utoipa::path(get, path = "/v1/members", tag = "members",
    responses((status = 200, body = Vec<Member>), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:read"])))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Member>>> {
    principal
        .authorize(&state, "members:read", Action::Read, Target::Organization)
        .await?;
    Ok(Json(
        state
            .store
            .list_members(principal.org_id())
            .await?
            .into_api(),
    ))
}

/// One member.
#[utoipa::path(get, path = "/v1/members/{user_id}", tag = "members", params(("user_id" = String, Path)),
    responses((status = 200, body = Member), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:read"])))]
pub async fn get_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<Member>> {
    principal
        .authorize(&state, "members:read", Action::Read, Target::Organization)
        .await?;
    state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .map(|m| Json(m.into_api()))
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
    let current = state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let role = req.role.unwrap_or(current.role);
    // Both the person as they are and the role they would get must be below the caller:
    // an org admin can neither demote an admin nor make one.
    for role in [current.role, role] {
        principal
            .authorize(&state, "members:write", Action::Write, Target::Person(role))
            .await?;
    }
    let agents = match (req.agents, role) {
        (Some(a), _) => a,
        (None, Role::AgentAdmin) => current.agents.clone(),
        (None, _) => vec![],
    };
    check_agents(&state, principal.org_id(), role, &agents).await?;
    let updated = store::Member {
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
            .update_member(principal.org_id(), &updated, current.role, audit)
            .await
            .map_err(member_not_found)?
            .into_api(),
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
    let current = state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    principal
        .authorize(
            &state,
            "members:write",
            Action::Write,
            Target::Person(current.role),
        )
        .await?;
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "member.remove",
        "user",
        &user_id,
        serde_json::json!({ "email": current.email }),
    );
    state
        .store
        .remove_member(
            principal.org_id(),
            &user_id,
            current.role,
            now,
            &principal.actor().name,
            audit,
        )
        .await
        .map_err(member_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time link that sets a member's console password (they forgot theirs, or never
/// set one), for an owner or admin to hand over; older unused links stop working. Only
/// people ask for one, for someone they outrank, never for themselves, and only for a
/// person of this organization alone: the password opens every organization of theirs.
#[utoipa::path(post, path = "/v1/members/{user_id}/password-link", tag = "members", params(("user_id" = String, Path)), request_body = Option<PasswordLinkRequest>,
    responses((status = 201, body = CreatedPasswordLink), (status = "4XX", body = crate::errors::Problem)), security(("bearer" = ["members:write"])))]
pub async fn create_password_link(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<PasswordLinkRequest>,
) -> Result<(StatusCode, Json<CreatedPasswordLink>)> {
    principal.require("members:write")?;
    let (KeyKind::Personal, Some(Owner::User { id: caller, .. })) =
        (principal.key.kind, &principal.key.owner)
    else {
        return Err(ApiError::RoleForbidden(
            "only people hand out password links; use a personal access token or the console"
                .into(),
        ));
    };
    let member = state
        .store
        .get_member(principal.org_id(), &user_id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    // A link is a credential of that person: acting on them, as creating one.
    principal
        .authorize(
            &state,
            "members:write",
            Action::Create,
            Target::Person(member.role),
        )
        .await?;
    if *caller == user_id {
        return Err(ApiError::RoleForbidden(
            "change your own password on the console's account page".into(),
        ));
    }
    let elsewhere = state
        .store
        .list_user_orgs(&user_id)
        .await?
        .iter()
        .any(|m| m.organization.id != principal.org_id());
    if elsewhere {
        return Err(ApiError::RoleForbidden(format!(
            "{} also belongs to another organization: a password set here would open that one too; they change it signed in",
            member.email
        )));
    }
    let now = state.clock.now();
    let lifetime = match req.expires.as_deref() {
        None => state.policy.console.link_lifetime,
        Some(raw) => {
            let d = keyward_core::expiry::parse_duration(raw, chrono::Duration::days(7), "7d")
                .map_err(|e| ApiError::validation("expires", e))?;
            if d < chrono::Duration::hours(1) {
                return Err(ApiError::validation("expires", "must be at least 1h"));
            }
            d
        }
    };
    let code = crate::people::links::issue(
        state.store.as_ref(),
        crate::people::links::Issue {
            user_id: &user_id,
            org_id: principal.org_id(),
            purpose: keyward_store::PasswordPurpose::Reset,
            at: now,
            lifetime,
            actor: principal.actor(),
            source_ip: principal.source.map(|a| a.ip().to_string()),
        },
    )
    .await
    .map_err(member_not_found)?;
    let link = crate::people::links::url(&super::shared::public_base(&state, &headers), &code);
    Ok((
        StatusCode::CREATED,
        Json(CreatedPasswordLink {
            user_id,
            link: OneTimeLink::new(link),
            expires_at: now + lifetime,
        }),
    ))
}
