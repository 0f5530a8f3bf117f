//! The error contract: RFC 6750 challenges and RFC 9457 bodies with stable codes,
//! pinned by snapshots, and bad input answered without a 500.

use crate::common::TestApp;
use chrono::Duration;
use keyward_core::key::Environment;
use keyward_core::{KeyKind, PlainKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn snapshot(name: &str, status: StatusCode, challenge: Option<&str>, body: &Value) {
    insta::assert_json_snapshot!(
        name,
        json!({ "status": status.as_u16(), "www_authenticate": challenge, "body": body })
    );
}

#[tokio::test]
async fn authentication_failures() {
    let app = TestApp::spawn().await;
    let (revoked, revoked_id) = app.create_key(json!({"name": "r"})).await;
    app.delete(&format!("/v1/keys/{revoked_id}"), &app.owner_token)
        .await;
    let (expiring, _) = app.create_key(json!({"name": "e", "expires": "7d"})).await;
    let (disabled, disabled_id) = app.create_key(json!({"name": "d"})).await;
    app.patch(
        &format!("/v1/keys/{disabled_id}"),
        &app.owner_token,
        json!({"enabled": false}),
    )
    .await;
    app.clock.advance(Duration::days(8));
    let unknown = PlainKey::generate(KeyKind::Personal, Environment::Live);
    let mut bad_checksum = app.owner_token.clone();
    bad_checksum.replace_range(8..9, if &bad_checksum[8..9] == "x" { "y" } else { "x" });

    let cases: Vec<(&str, Option<String>, StatusCode)> = vec![
        ("missing_token", None, StatusCode::UNAUTHORIZED),
        (
            "malformed_token_prefix",
            Some("gh_pat_0123456789".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed_token_length",
            Some("kw_pat_abc".into()),
            StatusCode::UNAUTHORIZED,
        ),
        ("bad_checksum", Some(bad_checksum), StatusCode::UNAUTHORIZED),
        (
            "unknown_token",
            Some(unknown.expose_secret().to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
        ("token_revoked", Some(revoked), StatusCode::UNAUTHORIZED),
        ("token_expired", Some(expiring), StatusCode::UNAUTHORIZED),
        ("token_disabled", Some(disabled), StatusCode::UNAUTHORIZED),
    ];
    for (name, token, status) in cases {
        let r = app
            .send(Method::GET, "/v1/me", token.as_deref(), None)
            .await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{name}"
        );
        assert_eq!(
            r.code(),
            name.trim_end_matches("_prefix").trim_end_matches("_length")
        );
        let challenge = r
            .header("www-authenticate")
            .expect("401 carries a challenge");
        if name == "missing_token" {
            assert_eq!(challenge, r#"Bearer realm="keyward""#);
        } else {
            assert!(challenge.starts_with(
                r#"Bearer realm="keyward", error="invalid_token", error_description=""#
            ));
        }
        snapshot(name, r.status, Some(challenge), &r.body);
    }
}

#[tokio::test]
async fn bearer_header_rules() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/me", app.base);
    let token = &app.owner_token;
    // The scheme is case-insensitive.
    let r = app
        .client
        .get(&url)
        .header("authorization", format!("bEaReR {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Another scheme is no credentials.
    let r = app
        .client
        .get(&url)
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A token in the query string is refused, even alongside a valid header.
    let r = app
        .client
        .get(format!("{url}?access_token={token}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(r#"error="invalid_request""#));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    snapshot("token_in_query", StatusCode::BAD_REQUEST, None, &body);
    // Two tokens.
    let r = app
        .client
        .get(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .client
        .get(&url)
        .header("authorization", format!("Bearer {token} {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn forbidden() {
    let app = TestApp::spawn().await;
    let (reader, _) = app
        .create_key(json!({"name": "reader", "permissions": "read_only"}))
        .await;
    let r = app.post("/v1/keys", &reader, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    snapshot("forbidden", r.status, r.header("www-authenticate"), &r.body);
}

#[tokio::test]
async fn bad_bodies_name_the_field_and_never_500() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/keys", app.base);
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&app.owner_token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, &str, &str, StatusCode)> = vec![
        (
            "invalid_json",
            r#"{"name": "#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "trailing_garbage",
            r#"{"name": "a"} x"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong_type",
            r#"{"name": 5}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing_field",
            r#"{}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown_field",
            r#"{"name": "a", "colour": "red"}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not_an_object",
            r#"[1, 2]"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad_permission",
            r#"{"name": "a", "permissions": ["Keys"]}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad_preset",
            r#"{"name": "a", "permissions": "superuser"}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "metadata_not_object",
            r#"{"name": "a", "metadata": 3}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not_json",
            r#"name=a"#,
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (name, body, content_type, status) in cases {
        let r = raw(body, content_type).await.unwrap();
        assert_eq!(r.status(), status, "{name}");
        let body: Value = r.json().await.unwrap();
        snapshot(&format!("body_{name}"), status, None, &body);
    }
    let long = json!({"name": "n".repeat(101)});
    let r = app.post("/v1/keys", &app.owner_token, long).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    snapshot("body_name_too_long", r.status, None, &r.body);
    let r = app
        .post("/v1/keys", &app.owner_token, json!({"name": "\u{7}bell"}))
        .await;
    assert_eq!(r.body["field"], "name");
    let huge = json!({"name": "a", "metadata": {"blob": "x".repeat(100_000)}});
    let r = app.post("/v1/keys", &app.owner_token, huge).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let big_meta = json!({"name": "a", "metadata": {"blob": "x".repeat(5000)}});
    let r = app.post("/v1/keys", &app.owner_token, big_meta).await;
    assert_eq!(r.body["field"], "metadata");
}

#[tokio::test]
async fn routing_errors_are_problems_too() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            Method::GET,
            "/v1/nothing-here",
            Some(&app.owner_token),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    snapshot("route_not_found", r.status, None, &r.body);
    let r = app
        .send(Method::PUT, "/v1/keys", Some(&app.owner_token), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let r = app
        .get("/v1/keys/key_00000000000000000000", &app.owner_token)
        .await;
    snapshot("key_not_found", r.status, None, &r.body);
}

#[tokio::test]
async fn openapi_document_is_stable() {
    insta::assert_json_snapshot!("openapi", keyward_server::openapi());
}

/// The benchmark's floor route exists only with `serve --bench-floor`.
#[tokio::test]
async fn the_benchmark_floor_route_is_off_by_default() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/__bench/floor", &app.owner_token, json!({"key": "x"}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
