//! Health, the OpenAPI document, and the pages behind each problem `type`.

use crate::errors::{ApiError, CODES};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store.organization_count().await {
        Ok(_) => (StatusCode::OK, Json(Health { status: "ok" })),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "database unreachable",
                }),
            )
        }
    }
}

/// Liveness only: a static 200 with no database, no authentication and no
/// allocation. Also the baseline the HTTP benchmark compares verify against.
pub async fn livez() -> &'static str {
    "ok"
}

pub async fn openapi_json(doc: Arc<utoipa::openapi::OpenApi>) -> impl IntoResponse {
    Json(doc.as_ref().clone())
}

/// What a problem `type` URI points at: the code, its status and its title.
pub async fn problem_type(Path(code): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let (code, status, title) = CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .ok_or(ApiError::NotFound("problem type"))?;
    Ok(Json(
        serde_json::json!({ "code": code, "status": status, "title": title }),
    ))
}
