//! `GET /v1/audit-log`: every change, newest first.

use super::{ListQuery, ListResponse};
use crate::auth::Principal;
use crate::errors::Result;
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use keyward_store::AuditEvent;

/// The organization's audit log, newest first.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(ListQuery),
    responses((status = 200, body = ListResponse<AuditEvent>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["audit:read"])))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<AuditEvent>>> {
    principal.require("audit:read")?;
    let page = state
        .store
        .list_audit(principal.org_id(), &query.page_request()?)
        .await?;
    Ok(Json(ListResponse {
        data: page.items,
        next_cursor: page.next_cursor,
    }))
}
