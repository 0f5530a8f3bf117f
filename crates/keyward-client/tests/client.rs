//! The SDK against a stand-in HTTP server on loopback: response shapes, the
//! deprecation signal that only legacy tokens get (the real server cannot issue one),
//! problem documents, and transport errors. The real server is exercised end to end by
//! `crates/keyward/tests/cli_client.rs`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use keyward_client::{ApiKey, Client, Error, ErrorCode, KeyKind};
use serde_json::json;

const LEGACY: &str = "kw_ws_legacy";

async fn me(headers: HeaderMap) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let legacy = auth == format!("Bearer {LEGACY}");
    let body = json!({
        "name": "ws-token", "email": null, "owner": null,
        "org": {"id": "org_1", "name": "my-org"},
        "key": {"id": "key_1", "name": "ws-token", "prefix": "kw_ws_abcd",
                "kind": if legacy { "legacy_workspace" } else { "personal" },
                "scope": {"type": "organization"}, "permissions": ["*:read"],
                "created_at": "2026-01-01T00:00:00Z", "expires_at": null, "status": "active"}
    });
    let mut response = axum::Json(body).into_response();
    if legacy {
        let h = response.headers_mut();
        h.insert("deprecation", "true".parse().unwrap());
        h.insert("sunset", "Wed, 01 Jul 2027 00:00:00 GMT".parse().unwrap());
    }
    response
}

async fn forbidden() -> impl IntoResponse {
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/problem+json")],
        json!({"type": "/problems/forbidden", "title": "Permission denied", "status": 403,
               "detail": "this API key lacks the permission keys:read", "code": "forbidden",
               "required_permission": "keys:read"})
        .to_string(),
    )
}

async fn spawn() -> String {
    let app = Router::new()
        .route("/v1/me", get(me))
        .route("/v1/keys", get(forbidden));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn legacy_tokens_carry_a_deprecation_signal() {
    let base = spawn().await;
    let client = Client::new(&base, ApiKey::new(LEGACY)).unwrap();
    let me = client.me().await.unwrap();
    assert_eq!(me.key.kind, KeyKind::LegacyWorkspace);
    let d = client.deprecation().expect("deprecation recorded");
    assert_eq!(d.deprecation, "true");
    assert_eq!(d.sunset.as_deref(), Some("Wed, 01 Jul 2027 00:00:00 GMT"));

    let modern = Client::new(&base, ApiKey::new("kw_pat_x")).unwrap();
    assert_eq!(modern.me().await.unwrap().key.kind, KeyKind::Personal);
    assert!(modern.deprecation().is_none());
}

#[tokio::test]
async fn problems_become_typed_errors() {
    let base = spawn().await;
    let client = Client::new(&base, ApiKey::new("kw_pat_x")).unwrap();
    let err = client.list_keys(&Default::default()).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.code, ErrorCode::Forbidden);
    assert_eq!(api.status, 403);
    assert!(api.is_auth());
    assert_eq!(api.required_permission.as_deref(), Some("keys:read"));
    // A route the stand-in does not have: no problem body, still a code.
    let err = client.get_key("key_x").await.unwrap_err();
    assert_eq!(err.code().unwrap().as_str(), "http_404");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_that_names_it() {
    // Bind then drop: the port is very likely closed now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(&format!("http://{addr}"), ApiKey::new("kw_pat_x")).unwrap();
    match client.me().await.unwrap_err() {
        Error::Connect { url, .. } => assert_eq!(url, format!("http://{addr}")),
        other => panic!("expected a connect error, got {other:?}"),
    }
}
