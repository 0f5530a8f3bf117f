//! Every kind of change is seen at once by verify and by `GET /v1/me`, whose answers
//! come from the key cache (records and precomputed answer heads). Each test first
//! warms the cache with the answers from before the change, then changes, then asks
//! again. Runs on SQLite, and on PostgreSQL with `KEYWARD_TEST_BACKEND=postgres`.

use crate::common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Verify and `/v1/me` for `key`, twice each, so the second answers come from memory.
async fn warm(app: &TestApp, key: &str) -> (Value, Value) {
    for _ in 0..2 {
        app.verify(key, None).await;
        app.get("/v1/me", key).await;
    }
    (
        app.verify(key, None).await.body,
        app.get("/v1/me", key).await.body,
    )
}

fn ok(r: &crate::common::Reply) -> &Value {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    &r.body
}

#[tokio::test]
async fn an_organization_rename_reaches_verify_and_me_at_once() {
    let app = TestApp::spawn().await;
    let (key, _) = app
        .create_key(json!({"name": "k", "permissions": ["keys:read"]}))
        .await;
    let (v, me) = warm(&app, &key).await;
    assert_eq!(
        (v["org"]["name"].as_str(), me["org"]["name"].as_str()),
        (Some("acme"), Some("acme"))
    );
    let org = app.org_id().await;

    let r = app
        .patch(
            &format!("/v1/organizations/{org}"),
            &app.owner_token,
            json!({"name": "acme-renamed", "settings": {"default_ratelimit": {"limit": 5, "period": "1m"}}}),
        )
        .await;
    assert_eq!(ok(&r)["name"], "acme-renamed");

    for token in [&key, &app.owner_token] {
        let v = app.verify(token, None).await;
        assert_eq!(v.body["org"]["name"], "acme-renamed", "verify: {}", v.body);
        let me = app.get("/v1/me", token).await;
        assert_eq!(
            me.body["org"]["name"], "acme-renamed",
            "/v1/me: {}",
            me.body
        );
    }
    // The settings hold for the next key at once.
    let (fresh, _) = app.create_key(json!({"name": "fresh"})).await;
    let v = app.verify(&fresh, None).await;
    assert_eq!(v.body["ratelimit"]["limit"], 5, "{}", v.body);
}

#[tokio::test]
async fn a_key_edit_reaches_verify_and_me_at_once() {
    let app = TestApp::spawn().await;
    let (key, id) = app
        .create_key(
            json!({"name": "before", "permissions": ["keys:read"], "metadata": {"plan": "free"}}),
        )
        .await;
    warm(&app, &key).await;
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"name": "after", "permissions": ["keys:read", "keys:write"], "ratelimit": {"limit": 100, "period": "1m"}}),
        )
        .await;
    ok(&r);
    let v = app.verify(&key, Some("keys:write")).await;
    assert_eq!(
        (
            v.body["code"].as_str(),
            v.body["name"].as_str(),
            v.body["ratelimit"]["limit"].as_i64()
        ),
        (Some("VALID"), Some("after"), Some(100)),
        "{}",
        v.body
    );
    assert_eq!(app.get("/v1/me", &key).await.body["key"]["name"], "after");

    // Switched off, then revoked: refused at once.
    ok(&app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"enabled": false}),
        )
        .await);
    assert_eq!(app.verify_code(&key).await, "DISABLED");
    assert_eq!(
        app.get("/v1/me", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    ok(&app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"enabled": true}),
        )
        .await);
    assert_eq!(app.verify_code(&key).await, "VALID");
    ok(&app
        .delete(&format!("/v1/keys/{id}"), &app.owner_token)
        .await);
    assert_eq!(app.verify_code(&key).await, "REVOKED");
    assert_eq!(
        app.get("/v1/me", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn member_role_changes_and_removal_are_seen_at_once() {
    let app = TestApp::spawn().await;
    let (token, user_id) = app.join("dana@company.com", "org_admin", &[]).await;
    warm(&app, &token).await;
    // As an admin, Dana may list the members' invitations.
    assert_eq!(
        app.get("/v1/invitations", &token).await.status,
        StatusCode::OK
    );

    let r = app
        .patch(
            &format!("/v1/members/{user_id}"),
            &app.owner_token,
            json!({"role": "member"}),
        )
        .await;
    ok(&r);
    let r = app.get("/v1/invitations", &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(app.verify_code(&token).await, "VALID");

    ok(&app
        .delete(&format!("/v1/members/{user_id}"), &app.owner_token)
        .await);
    assert_eq!(app.verify_code(&token).await, "REVOKED");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_service_account_rename_reaches_its_keys_and_a_deletion_revokes_them() {
    let app = TestApp::spawn().await;
    let sa = app
        .post(
            "/v1/service-accounts",
            &app.owner_token,
            json!({"name": "bot", "scopes": "keys:read"}),
        )
        .await;
    let sa = ok(&sa).clone();
    let (id, key) = (
        sa["id"].as_str().unwrap(),
        sa["key"]["key"].as_str().unwrap(),
    );
    let (v, me) = warm(&app, key).await;
    assert_eq!(
        (v["owner"]["name"].as_str(), me["name"].as_str()),
        (Some("bot"), Some("bot"))
    );

    let r = app
        .patch(
            &format!("/v1/service-accounts/{id}"),
            &app.owner_token,
            json!({"name": "robot"}),
        )
        .await;
    assert_eq!(ok(&r)["name"], "robot");
    let v = app.verify(key, None).await;
    assert_eq!(v.body["owner"]["name"], "robot", "verify: {}", v.body);
    let me = app.get("/v1/me", key).await;
    assert_eq!(
        (me.body["name"].as_str(), me.body["owner"]["name"].as_str()),
        (Some("robot"), Some("robot")),
        "/v1/me: {}",
        me.body
    );
    // A key listing shows the new name too.
    let listed = app.get("/v1/keys", &app.owner_token).await;
    let owners: Vec<&Value> = ok(&listed)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["owner"])
        .filter(|o| o["id"] == id)
        .collect();
    assert_eq!(owners.len(), 1, "{}", listed.body);
    assert_eq!(owners[0]["name"], "robot", "{}", listed.body);

    ok(&app
        .delete(&format!("/v1/service-accounts/{id}"), &app.owner_token)
        .await);
    assert_eq!(app.verify_code(key).await, "REVOKED");
    assert_eq!(
        app.get("/v1/me", key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn channel_disable_and_delete_are_seen_at_once() {
    let app = TestApp::spawn().await;
    let agent = app
        .post("/v1/agents", &app.owner_token, json!({"name": "support"}))
        .await;
    let agent = ok(&agent)["id"].as_str().unwrap().to_owned();
    let channel = app
        .post(
            "/v1/channels",
            &app.owner_token,
            json!({"agent": agent, "name": "whatsapp"}),
        )
        .await;
    let channel = ok(&channel).clone();
    let (cid, hook) = (
        channel["id"].as_str().unwrap(),
        channel["hook_id"].as_str().unwrap(),
    );
    let (token, _) = app
        .create_key(json!({"name": "wa", "kind": "channel", "channel": cid}))
        .await;
    let by_hook = json!({"key": token, "channel": hook});
    let verify_hook = || app.post("/v1/keys/verify", &app.owner_token, by_hook.clone());
    warm(&app, &token).await;
    assert_eq!(verify_hook().await.body["code"], "VALID");

    ok(&app
        .patch(
            &format!("/v1/channels/{cid}"),
            &app.owner_token,
            json!({"enabled": false}),
        )
        .await);
    let v = verify_hook().await;
    assert_ne!(
        v.body["code"], "VALID",
        "a disabled channel's hook still verifies: {}",
        v.body
    );
    ok(&app
        .patch(
            &format!("/v1/channels/{cid}"),
            &app.owner_token,
            json!({"enabled": true}),
        )
        .await);
    assert_eq!(verify_hook().await.body["code"], "VALID");

    ok(&app
        .delete(&format!("/v1/channels/{cid}"), &app.owner_token)
        .await);
    assert_eq!(app.verify_code(&token).await, "REVOKED");
    assert_eq!(verify_hook().await.body["code"], "REVOKED");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn owner_limits_hold_from_the_next_request() {
    let app = TestApp::spawn().await;
    let (key, _) = app
        .create_key(json!({"name": "customer", "kind": "api", "owner": "cus_42"}))
        .await;
    warm(&app, &key).await;
    assert!(app.verify(&key, None).await.body["ratelimit"].is_null());

    let path = "/v1/owner-limits/external/cus_42";
    let r = app
        .send(
            Method::PUT,
            path,
            Some(&app.owner_token),
            Some(json!({"ratelimit": {"limit": 2, "period": "1h"}})),
        )
        .await;
    ok(&r);
    let v = app.verify(&key, None).await;
    assert_eq!(v.body["ratelimit"]["limit"], 2, "{}", v.body);
    app.verify(&key, None).await;
    assert_eq!(app.verify_code(&key).await, "RATE_LIMITED");

    ok(&app.delete(path, &app.owner_token).await);
    assert_eq!(app.verify_code(&key).await, "VALID");
}
