//! `GET /v1/audit-log`: every change, newest first; `GET /v1/keys/{id}/audit-log`: the
//! changes to one key.

use super::shared::PageRequestExt as _;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Reach, Target};
use crate::errors::{ApiError, Result};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::Path;
use axum::extract::State;
use axum::Json;
use keyward_api::AuditEvent;
use keyward_api::{ListQuery, ListResponse};
use keyward_store::{AuditFilter, KeyFilter};

/// The organization's audit log, newest first. Owners and org admins see every event;
/// agent admins and members only the events about keys they manage (their own, and for
/// agent admins the agent-level keys of their agents), as in GitHub and Unkey.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(ListQuery),
    responses((status = 200, body = ListResponse<AuditEvent>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["audit:read"])))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<AuditEvent>>> {
    let reach = principal
        .authorize(&state, "audit:read", Action::Read, Target::Organization)
        .await?;
    let filter = match reach {
        Reach::Admin { .. } => AuditFilter::default(),
        Reach::AgentAdmin { user_id, agents } => AuditFilter {
            keys: Some(KeyFilter {
                owner_user: Some(user_id),
                agents: Some(agents),
                ..Default::default()
            }),
        },
        Reach::Member { user_id } => AuditFilter {
            keys: Some(KeyFilter {
                owner_user: Some(user_id),
                ..Default::default()
            }),
        },
        Reach::None => {
            return Err(ApiError::RoleForbidden(
                "this key cannot read the audit log".into(),
            ))
        }
    };
    let page = state
        .store
        .list_audit(principal.org_id(), &filter, &query.page_request()?)
        .await?;
    Ok(Json(ListResponse {
        data: page.items.into_api(),
        next_cursor: page.next_cursor,
    }))
}

/// The audit events about one key, newest first: for anyone who manages the key (its
/// owner too, as the audit log shows members the events of their own keys).
#[utoipa::path(get, path = "/v1/keys/{id}/audit-log", tag = "audit", params(("id" = String, Path), ListQuery),
    responses((status = 200, body = ListResponse<AuditEvent>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["audit:read"])))]
pub async fn key_audit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<AuditEvent>>> {
    let (key, _) = super::keys::find(&state, &principal, "audit:read", Action::Read, &id).await?;
    let filter = AuditFilter {
        keys: Some(KeyFilter {
            key: Some(key.id),
            ..Default::default()
        }),
    };
    let page = state
        .store
        .list_audit(principal.org_id(), &filter, &query.page_request()?)
        .await?;
    Ok(Json(ListResponse {
        data: page.items.into_api(),
        next_cursor: page.next_cursor,
    }))
}
