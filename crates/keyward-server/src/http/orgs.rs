//! Organizations: the caller's list, a new one, and an organization's settings.

use super::keys::{CreatedKey, KeyView, KeyViewExt as _};
use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Reach, Target};
use crate::errors::{ApiError, Result};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keyward_api::ApiKey;
pub use keyward_api::{
    CreateOrgRequest, CreatedOrg, MyOrganization, Organization, SettingsPatch, UpdateOrgRequest,
};
use keyward_core::key::Environment;
use keyward_core::{ids, KeyKind, Owner, PlainKey, Role};
use keyward_store::{self as store, NewKey, NewOrganization, OrgSettings};

/// The caller's organization, with the caller's role in it. A key sees only its own
/// organization, never the other organizations its owner belongs to: a key is a
/// credential for one organization (people see all of theirs in the console).
#[utoipa::path(get, path = "/v1/me/organizations", tag = "organizations",
    responses((status = 200, body = Vec<MyOrganization>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = [])))]
pub async fn my_organizations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<MyOrganization>>> {
    let org = principal.organization(&state).await?;
    let role = match &principal.key.owner {
        Some(Owner::User { id, .. }) => state
            .store
            .get_member(principal.org_id(), id)
            .await?
            .map(|m| m.role),
        _ => None,
    };
    Ok(Json(vec![MyOrganization {
        org: org.into_api(),
        role: role.unwrap_or(Role::Member),
    }]))
}

/// Create an organization; the calling person becomes its owner and gets a token for it.
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations", request_body = CreateOrgRequest,
    responses((status = 201, body = CreatedOrg), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["organizations:write"])))]
pub async fn create_org(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateOrgRequest>,
) -> Result<(StatusCode, Json<CreatedOrg>)> {
    principal.require("organizations:write")?;
    let (Some(owner @ Owner::User { id: user_id, .. }), KeyKind::Personal) =
        (&principal.key.owner, principal.key.kind)
    else {
        return Err(ApiError::RoleForbidden(
            "only people create organizations; use a personal access token".into(),
        ));
    };
    if !state.policy.allow_org_creation {
        return Err(ApiError::Conflict(
            keyward_api::ErrorCode::OrgCreationDisabled,
            "this server does not let people create organizations; its operator turned it off (keyward serve --allow-org-creation false)".into(),
        ));
    }
    principal
        .authorize(
            &state,
            "organizations:write",
            Action::Create,
            Target::NewOrganization,
        )
        .await?;
    let now = state.clock.now();
    let org = store::Organization {
        id: ids::new_id("org"),
        name: req.name.to_string(),
        created_at: now,
        settings: OrgSettings::default(),
    };
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    // The first token of the new organization holds at most what the creating key holds:
    // a key never grants more than its creator, even to its own owner.
    let key = NewKey {
        owner: Some(owner.clone()),
        permissions: principal.key.permissions.clone(),
        // Nor does it outlive the creating key.
        expires_at: principal.key.expires_at,
        ..NewKey::for_plain(
            &plain,
            &org.id,
            format!("{} owner token", org.name),
            now,
            owner.label(),
        )
    };
    let mut audit = actor_event(
        &principal,
        now,
        "org.create",
        "organization",
        &org.id,
        serde_json::json!({ "name": org.name }),
    );
    audit.org_id = org.id.clone();
    let record = state
        .store
        .create_org(
            NewOrganization {
                org: org.clone(),
                owner_user_id: user_id.clone(),
                key,
                max_per_person: state.policy.max_orgs_per_person,
            },
            audit,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOrg {
            organization: org.into_api(),
            token: CreatedKey {
                key: ApiKey::new(plain.expose_secret()),
                details: KeyView::new(&state, &record),
            },
        }),
    ))
}

fn same_org(principal: &Principal, id: &str) -> Result<()> {
    if id != principal.org_id() {
        return Err(ApiError::NotFound("organization"));
    }
    Ok(())
}

/// The caller's organization and its settings.
#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    responses((status = 200, body = Organization), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["organizations:read"])))]
pub async fn get_org(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Organization>> {
    principal.require("organizations:read")?;
    same_org(&principal, &id)?;
    principal
        .authorize(
            &state,
            "organizations:read",
            Action::Read,
            Target::Organization,
        )
        .await?;
    Ok(Json(principal.organization(&state).await?.into_api()))
}

/// Rename the organization or change its limits (owners and org admins).
#[utoipa::path(patch, path = "/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    request_body = UpdateOrgRequest,
    responses((status = 200, body = Organization), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["organizations:write"])))]
pub async fn update_org(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateOrgRequest>,
) -> Result<Json<Organization>> {
    principal.require("organizations:write")?;
    same_org(&principal, &id)?;
    principal
        .authorize(
            &state,
            "organizations:write",
            Action::Write,
            Target::Organization,
        )
        .await?;
    let mut org = principal.organization(&state).await?;
    let before = org.clone();
    if let Some(name) = req.name {
        org.name = name.to_string();
    }
    if let Some(s) = req.settings {
        for (field, value) in [
            ("settings.max_keys", s.max_keys),
            ("settings.max_worker_keys", s.max_worker_keys),
        ] {
            if value.is_some_and(|v| !(1..=1_000_000).contains(&v)) {
                return Err(ApiError::validation(field, "must be between 1 and 1000000"));
            }
        }
        org.settings.max_keys = s.max_keys.unwrap_or(org.settings.max_keys);
        org.settings.max_worker_keys = s.max_worker_keys.unwrap_or(org.settings.max_worker_keys);
        org.settings.allow_legacy_tokens = s
            .allow_legacy_tokens
            .unwrap_or(org.settings.allow_legacy_tokens);
        if let Some(r) = s.default_ratelimit {
            super::key_policy::check_limits(r.as_ref(), None)?;
            org.settings.default_ratelimit = r;
        }
        if let Some(q) = s.default_quota {
            super::key_policy::check_limits(None, q.as_ref())?;
            org.settings.default_quota = q;
        }
    }
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "org.update",
        "organization",
        &id,
        serde_json::json!({ "from": { "name": before.name, "settings": before.settings }, "to": { "name": org.name, "settings": org.settings } }),
    );
    Ok(Json(state.store.update_org(&org, audit).await?.into_api()))
}

/// Delete the organization (owners only). Every key of it is revoked at once; its
/// audit log is kept.
#[utoipa::path(delete, path = "/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["organizations:write"])))]
pub async fn delete_org(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    principal.require("organizations:write")?;
    same_org(&principal, &id)?;
    let reach = principal
        .authorize(
            &state,
            "organizations:write",
            Action::Write,
            Target::Organization,
        )
        .await?;
    if !matches!(
        reach,
        Reach::Admin {
            role: Some(Role::Owner)
        }
    ) {
        return Err(ApiError::RoleForbidden(
            "only owners delete an organization".into(),
        ));
    }
    let now = state.clock.now();
    let audit = actor_event(
        &principal,
        now,
        "org.delete",
        "organization",
        &id,
        serde_json::json!({}),
    );
    let revoked = state
        .store
        .delete_org(&id, now, &principal.actor().name, audit)
        .await?;
    tracing::info!(org_id = %id, keys_revoked = revoked.len(), "organization deleted");
    Ok(StatusCode::NO_CONTENT)
}
