//! Health, the OpenAPI document, and the pages behind each problem `type`.

use crate::errors::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use keyward_api::ErrorCode;
pub use keyward_api::Health;
use std::sync::Arc;

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store.organization_count().await {
        Ok(_) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
            }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "database unreachable".into(),
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

/// The benchmark's floor (`keyward serve --bench-floor` only): takes a request shaped like
/// a verify call (its body read in full) and answers a fixed verify answer of the same
/// size, checking nothing. `bench/run.sh` runs it beside `/livez` and verify: what verify
/// costs above it is the cost of verifying; what it costs above `/livez` is the cost of
/// moving the bigger request and answer.
pub async fn bench_floor(_body: axum::body::Bytes) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        BENCH_FLOOR_ANSWER,
    )
}

/// The size and shape of the benchmark keys' VALID answer (`bench/run.sh` prints both
/// lengths).
const BENCH_FLOOR_ANSWER: &str = concat!(
    r#"{"valid":true,"code":"VALID","message":null,"key_id":"key_TRg4yDY92mL6eSJlQz2m","#,
    r#""name":"bench key 0","owner":{"type":"external","id":"cust_0"},"#,
    r#""org":{"id":"org_YOmGUlzJKAtu0FJTNqcI","name":"default"},"scope":{"type":"organization"},"#,
    r#""permissions":["keys:read","skills:execute"],"expires_at":null,"metadata":{"plan":"bench"},"#,
    r#""ratelimit":{"limit":1000000,"remaining":999999,"reset":1795372896156},"quota":null}"#
);

pub async fn openapi_json(doc: Arc<utoipa::openapi::OpenApi>) -> impl IntoResponse {
    Json(doc.as_ref().clone())
}

/// What a problem `type` URI points at: the code, its status and its title.
pub async fn problem_type(Path(code): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let code = ErrorCode::parse(&code);
    if !code.is_known() {
        return Err(ApiError::NotFound("problem type"));
    }
    let (status, title) = (code.status(), code.title());
    Ok(Json(
        serde_json::json!({ "code": code, "status": status, "title": title }),
    ))
}
