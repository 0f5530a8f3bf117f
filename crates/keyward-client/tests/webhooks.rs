//! The SDK's webhook calls against a stand-in HTTP server on loopback: each method's
//! HTTP method, path, query and body, the answers decoded, `DELETE`'s 204, and the
//! webhook error codes. The real server is exercised end to end by
//! `crates/keyward/tests/cli_webhooks.rs`.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use keyward_client::{
    ApiKey, Client, CreateWebhookEndpointRequest, DeliveryQuery, DeliveryStatus, ErrorCode,
    RotateSigningSecretRequest, UpdateWebhookEndpointRequest, WebhookEndpointQuery,
    WebhookEndpointStatus, WebhookProvider, WebhookSecretInput,
};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the stand-in received: method, path with query, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

fn endpoint() -> Value {
    json!({"id": "wh_1", "name": "bot", "provider": "slack", "workspace": null,
           "destination": "https://app.example.com/slack", "status": "enabled",
           "disabled_reason": null, "ingress_url": "http://k.example.com/hooks/wh_1",
           "secrets": [{"prefix": "8f14…"}], "has_verify_token": false,
           "signing_secrets": [{"prefix": "Q2x5…"}], "managed_by": "api", "failing_since": null,
           "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"})
}

fn delivery() -> Value {
    json!({"id": "msg_1", "endpoint": "wh_1", "status": "failed", "provider_event_id": "Ev1",
           "received_at": "2026-12-01T00:00:00Z", "attempts": 3, "next_attempt_at": null,
           "last_status_code": 503, "last_error": "HTTP 503", "delivered_at": null, "refusal": null,
           "attempt_log": [{"attempt": 1, "at": "2026-12-01T00:00:01Z", "status_code": 503,
                            "latency_ms": 12, "error": "HTTP 503"}]})
}

async fn answer(seen: Seen, method: Method, uri: Uri, body: String) -> Response {
    let path = uri.path().to_owned();
    let full = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    seen.lock()
        .unwrap()
        .push((method.to_string(), full, body.clone()));
    let ok = |v: Value| axum::Json(v).into_response();
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/webhook-endpoints") => (
            StatusCode::CREATED,
            axum::Json(json!({"endpoint": endpoint(),
                              "signing_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"})),
        )
            .into_response(),
        ("GET", "/v1/webhook-endpoints") => {
            ok(json!({"data": [endpoint()], "next_cursor": "c2"}))
        }
        ("GET", "/v1/webhook-endpoints/wh_1") | ("PATCH", "/v1/webhook-endpoints/wh_1") => {
            let mut e = endpoint();
            if body.contains(r#""enabled":false"#) {
                e["status"] = json!("disabled");
                e["disabled_reason"] = json!("by hand");
            }
            ok(e)
        }
        ("DELETE", "/v1/webhook-endpoints/wh_1") => StatusCode::NO_CONTENT.into_response(),
        ("POST", "/v1/webhook-endpoints/wh_1/rotate-secret") => {
            let mut e = endpoint();
            e["signing_secrets"] = json!([{"prefix": "Zm9v…"},
                                          {"prefix": "Q2x5…", "expires_at": "2026-12-02T00:00:00Z"}]);
            ok(json!({"signing_secret": "whsec_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0", "endpoint": e}))
        }
        ("GET", "/v1/webhook-endpoints/wh_1/deliveries") => {
            ok(json!({"data": [delivery()], "next_cursor": null}))
        }
        ("GET", "/v1/webhook-endpoints/wh_1/deliveries/msg_1")
        | ("POST", "/v1/webhook-endpoints/wh_1/deliveries/msg_1/replay") => ok(delivery()),
        ("POST", "/v1/webhook-endpoints/wh_1/replay") => ok(json!({"replayed": 2})),
        ("POST", "/v1/webhook-endpoints/wh_1/deliveries/msg_2/replay") => (
            StatusCode::CONFLICT,
            [("content-type", "application/problem+json")],
            json!({"type": "/problems/delivery_pending", "title": "Delivery is still pending",
                   "status": 409, "detail": "delivery msg_2 is pending", "code": "delivery_pending"})
            .to_string(),
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            [("content-type", "application/problem+json")],
            json!({"type": "/problems/webhook_endpoint_not_found", "title": "Webhook endpoint not found",
                   "status": 404, "detail": "no webhook endpoint here", "code": "webhook_endpoint_not_found"})
            .to_string(),
        )
            .into_response(),
    }
}

async fn spawn() -> (Client, Seen) {
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri, body: String| {
        answer(kept.clone(), method, uri, body)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::new(&format!("http://{addr}"), ApiKey::new("kw_pat_x")).unwrap();
    (client, seen)
}

fn last(seen: &Seen) -> (String, String, String) {
    seen.lock().unwrap().last().cloned().unwrap()
}

#[tokio::test]
async fn every_webhook_call_goes_where_the_api_says() {
    let (client, seen) = spawn().await;

    let created = client
        .create_webhook_endpoint(&CreateWebhookEndpointRequest {
            provider: WebhookProvider::Slack,
            name: "bot".into(),
            workspace: None,
            destination: "https://app.example.com/slack".into(),
            secrets: vec![WebhookSecretInput::new("8f14e45fceea167a5a36dedd4bea2543")],
            verify_token: None,
            enabled: None,
        })
        .await
        .unwrap();
    assert!(created.signing_secret.expose_secret().starts_with("whsec_"));
    assert!(created.generated_secret.is_none());
    let (method, path, body) = last(&seen);
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/v1/webhook-endpoints")
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["secrets"], json!(["8f14e45fceea167a5a36dedd4bea2543"]));

    let page = client
        .webhook_endpoints(&WebhookEndpointQuery {
            provider: Some(WebhookProvider::Slack),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.data[0].id, "wh_1");
    assert_eq!(page.next_cursor.as_deref(), Some("c2"));
    assert_eq!(
        last(&seen).1,
        "/v1/webhook-endpoints?provider=slack&limit=10"
    );

    assert_eq!(client.webhook_endpoint("wh_1").await.unwrap().name, "bot");
    let disabled = client
        .update_webhook_endpoint(
            "wh_1",
            &UpdateWebhookEndpointRequest {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(disabled.status, WebhookEndpointStatus::Disabled);
    let (method, path, body) = last(&seen);
    assert_eq!(
        (method.as_str(), path.as_str(), body.as_str()),
        (
            "PATCH",
            "/v1/webhook-endpoints/wh_1",
            r#"{"enabled":false}"#
        )
    );

    let rotated = client
        .rotate_webhook_secret(
            "wh_1",
            &RotateSigningSecretRequest {
                overlap_secs: Some(3600),
            },
        )
        .await
        .unwrap();
    assert_eq!(rotated.endpoint.signing_secrets.len(), 2);
    assert_eq!(last(&seen).2, r#"{"overlap_secs":3600}"#);

    let deliveries = client
        .webhook_deliveries(
            "wh_1",
            &DeliveryQuery {
                status: Some(DeliveryStatus::Failed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(deliveries.data[0].last_status_code, Some(503));
    assert_eq!(
        last(&seen).1,
        "/v1/webhook-endpoints/wh_1/deliveries?status=failed"
    );
    let one = client.webhook_delivery("wh_1", "msg_1").await.unwrap();
    assert_eq!(one.attempt_log.unwrap()[0].latency_ms, 12);
    client
        .replay_webhook_delivery("wh_1", "msg_1")
        .await
        .unwrap();
    let (method, path, body) = last(&seen);
    assert_eq!(
        (method.as_str(), path.as_str(), body.as_str()),
        (
            "POST",
            "/v1/webhook-endpoints/wh_1/deliveries/msg_1/replay",
            "{}"
        )
    );
    let since = "2026-12-01T00:00:00Z".parse().unwrap();
    let replayed = client
        .replay_failed_webhook_deliveries("wh_1", since)
        .await
        .unwrap();
    assert_eq!(replayed.replayed, 2);
    assert_eq!(last(&seen).2, r#"{"since":"2026-12-01T00:00:00Z"}"#);

    client.delete_webhook_endpoint("wh_1").await.unwrap();
    assert_eq!(last(&seen).0, "DELETE");
}

#[tokio::test]
async fn webhook_problems_carry_their_codes() {
    let (client, _) = spawn().await;
    let err = client.webhook_endpoint("wh_gone").await.unwrap_err();
    assert_eq!(err.api().unwrap().code, ErrorCode::WebhookEndpointNotFound);
    let err = client
        .replay_webhook_delivery("wh_1", "msg_2")
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().code, ErrorCode::DeliveryPending);
    assert_eq!(err.api().unwrap().status, 409);
}
