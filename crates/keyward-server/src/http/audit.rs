//! `GET /v1/audit-log`: every change, newest first, filtered by actor, action, target
//! and time, paged both ways; `GET /v1/keys/{id}/audit-log`: the changes to one key.

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
pub use keyward_api::AuditQuery;
use keyward_api::{AuditEvent, ListQuery, ListResponse};
use keyward_core::expiry::parse_instant;
use keyward_store::{AuditFilter, KeyFilter, TextMatch};

/// The store's filter for a query's conditions (actor, action, target, time, direction).
fn event_filter(q: &AuditQuery, now: chrono::DateTime<chrono::Utc>) -> Result<AuditFilter> {
    let text = |field: &'static str, v: &Option<String>| -> Result<Option<String>> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) if t.len() > 200 => Err(ApiError::validation(field, "is too long")),
            Some(t) => Ok(Some(t.to_owned())),
        }
    };
    let at = |field: &'static str, v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| parse_instant(t, now).map_err(|e| ApiError::validation(field, e)))
            .transpose()
    };
    let action = text("action", &q.action)?.map(|a| match a.strip_suffix('*') {
        Some(prefix) => TextMatch::Prefix(prefix.to_owned()),
        None => TextMatch::Exact(a),
    });
    let newer_than = match q.after.as_deref() {
        None => None,
        Some(_) if q.cursor.is_some() => {
            return Err(ApiError::validation("after", "send either cursor or after"))
        }
        Some(a) => Some(
            a.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::validation("after", "must be an event id"))?,
        ),
    };
    let (from, to) = (at("from", &q.from)?, at("to", &q.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ApiError::validation("from", "must be before to"));
        }
    }
    Ok(AuditFilter {
        keys: None,
        actor: text("actor", &q.actor)?,
        action,
        target: text("target", &q.target)?,
        from,
        to,
        newer_than,
    })
}

/// The organization's audit log, newest first. Owners and org admins see every event;
/// agent admins and members only the events about keys they manage (their own, and for
/// agent admins the agent-level keys of their agents), as in GitHub and Unkey. Filters
/// narrow that down; every one given must match.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(AuditQuery),
    responses((status = 200, body = ListResponse<AuditEvent>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["audit:read"])))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<ListResponse<AuditEvent>>> {
    let reach = principal
        .authorize(&state, "audit:read", Action::Read, Target::Organization)
        .await?;
    let mut filter = event_filter(&query, state.clock.now())?;
    filter.keys = match reach {
        Reach::Admin { .. } => None,
        Reach::AgentAdmin { user_id, agents } => Some(KeyFilter {
            owner_user: Some(user_id),
            agents: Some(agents),
            ..Default::default()
        }),
        Reach::Member { user_id } => Some(KeyFilter {
            owner_user: Some(user_id),
            ..Default::default()
        }),
        Reach::None => {
            return Err(ApiError::RoleForbidden(
                "this key cannot read the audit log".into(),
            ))
        }
    };
    let page = ListQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page_request()?;
    let page = state
        .store
        .list_audit(principal.org_id(), &filter, &page)
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
        ..Default::default()
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
