//! The life of a key through the HTTP API: create, list, show, rename, verify,
//! rotate, revoke, expire, last-used and audit.

use crate::common::{start_time, TestApp};
use chrono::Duration;
use keyward_core::key::Environment;
use keyward_core::{KeyKind, PlainKey};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_returns_the_key_once_and_listings_never_do() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "CI pipeline", "expires": "30d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = r.body["key"].as_str().unwrap();
    assert!(key.starts_with("kw_pat_") && key.len() == 7 + 32 + 6);
    assert_eq!(r.body["name"], "CI pipeline");
    assert_eq!(r.body["kind"], "personal");
    assert_eq!(r.body["prefix"], &key[..11]);
    assert_eq!(r.body["created_at"], "2030-01-01T00:00:00Z");
    assert_eq!(r.body["expires_at"], "2030-01-31T00:00:00Z");
    assert_eq!(r.body["permissions"], json!(["*:*"]));
    assert_eq!(r.body["created_by"], "team@company.com");
    let id = r.body["id"].as_str().unwrap();

    let shown = app.get(&format!("/v1/keys/{id}"), &app.owner_token).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["name"], "CI pipeline");
    assert_eq!(shown.body["status"], "active");
    let listed = app.get("/v1/keys", &app.owner_token).await;
    for text in [shown.body.to_string(), listed.body.to_string()] {
        assert!(!text.contains(key), "a listing shows the raw key");
        assert!(!text.contains("hash"), "a listing shows a hash field");
    }
    assert!(shown.body.get("key").is_none());
}

#[tokio::test]
async fn listing_is_paginated_newest_first() {
    let app = TestApp::spawn().await;
    let mut ids = vec![];
    for i in 0..5 {
        app.clock.advance(Duration::seconds(1));
        ids.push(app.create_key(json!({"name": format!("key {i}")})).await.1);
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=2&cursor={c}"),
            None => "/v1/keys?limit=2".to_owned(),
        };
        let page = app.get(&path, &app.owner_token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let data = page.body["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        for k in data {
            for field in [
                "name",
                "prefix",
                "kind",
                "created_at",
                "created_by",
                "last_used_at",
                "expires_at",
                "status",
                "revoked_at",
            ] {
                assert!(k.get(field).is_some(), "listing lacks {field}");
            }
            seen.push(k["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // Five created keys, newest first, then the bootstrap token.
    ids.reverse();
    assert_eq!(&seen[..5], &ids[..]);
    assert_eq!(seen.len(), 6);
    let bad = app.get("/v1/keys?limit=0", &app.owner_token).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(bad.body["field"], "limit");
    let bad = app.get("/v1/keys?cursor=garbage", &app.owner_token).await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor"))
    );
}

#[tokio::test]
async fn rename_changes_only_the_name_and_is_audited() {
    let app = TestApp::spawn().await;
    let (key, id) = app
        .create_key(json!({"name": "old name", "permissions": ["keys:read"]}))
        .await;
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"name": "new name"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "new name");
    assert_eq!(r.body["permissions"], json!(["keys:read"]));
    let v = app.verify(&key, None).await;
    assert_eq!(
        v.body["name"], "new name",
        "verify serves a stale name after an edit"
    );
    let empty = app
        .patch(&format!("/v1/keys/{id}"), &app.owner_token, json!({}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let audit = app.get("/v1/audit-log", &app.owner_token).await;
    assert_eq!(audit.body["data"][0]["action"], "key.update");
    assert_eq!(
        audit.body["data"][0]["details"]["name"],
        json!({"from": "old name", "to": "new name"})
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/keys/key_00000000000000000000",
        "/v1/keys/nonsense",
        "/v1/keys/key_%20",
    ] {
        let r = app.get(path, &app.owner_token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
        let r = app.delete(path, &app.owner_token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn revoke_is_immediate_permanent_and_listed() {
    let app = TestApp::spawn().await;
    let (key, id) = app.create_key(json!({"name": "to revoke"})).await;
    assert_eq!(app.verify_code(&key).await, "VALID");
    assert_eq!(app.get("/v1/me", &key).await.status, StatusCode::OK);

    app.clock.advance(Duration::minutes(5));
    let r = app
        .delete(&format!("/v1/keys/{id}"), &app.owner_token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(r.body["revoked_by"], "team@company.com");
    assert_eq!(r.body["revoked_at"], "2030-01-01T00:05:00Z");

    let v = app.verify(&key, None).await;
    assert_eq!(
        (v.body["valid"].as_bool(), v.body["code"].as_str()),
        (Some(false), Some("REVOKED"))
    );
    assert_eq!(v.body["key_id"], id.as_str());
    let me = app.get("/v1/me", &key).await;
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    // Revoking again changes nothing; the key stays listed as revoked.
    let again = app
        .delete(&format!("/v1/keys/{id}"), &app.owner_token)
        .await;
    assert_eq!(
        (again.status, again.body["revoked_at"].as_str()),
        (StatusCode::OK, Some("2030-01-01T00:05:00Z"))
    );
    let listed = app.get("/v1/keys", &app.owner_token).await;
    let entry = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "revoked");
    let rename = app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        (rename.status, rename.code()),
        (StatusCode::CONFLICT, "key_revoked")
    );
    let audit = app.get("/v1/audit-log", &app.owner_token).await;
    let revokes = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.revoke")
        .count();
    assert_eq!(revokes, 1, "a second revoke wrote another audit event");
}

/// `enabled: false` switches a key off at once, on every path that checks it, until it
/// is switched back on; revoked and expired stay what they are.
#[tokio::test]
async fn disabling_refuses_the_key_until_it_is_enabled_again() {
    let app = TestApp::spawn().await;
    let (key, id) = app
        .create_key(json!({"name": "paused", "permissions": ["keys:read"]}))
        .await;
    let path = format!("/v1/keys/{id}");
    assert_eq!(app.verify_code(&key).await, "VALID");
    assert_eq!(app.get("/v1/me", &key).await.status, StatusCode::OK);

    let off = app
        .patch(&path, &app.owner_token, json!({"enabled": false}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(
        (off.body["status"].as_str(), off.body["enabled"].as_bool()),
        (Some("disabled"), Some(false))
    );
    let v = app.verify(&key, Some("keys:read")).await;
    assert_eq!(
        (
            v.body["valid"].as_bool(),
            v.body["code"].as_str(),
            v.body["key_id"].as_str()
        ),
        (Some(false), Some("DISABLED"), Some(id.as_str())),
        "verify served the cached, enabled key after it was disabled"
    );
    let me = app.get("/v1/me", &key).await;
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, "token_disabled")
    );
    assert_eq!(
        app.get(&path, &app.owner_token).await.body["status"],
        "disabled"
    );
    let audit = app.get("/v1/audit-log", &app.owner_token).await;
    assert_eq!(audit.body["data"][0]["action"], "key.update");
    assert_eq!(
        audit.body["data"][0]["details"]["enabled"],
        json!({"from": true, "to": false})
    );

    let on = app
        .patch(&path, &app.owner_token, json!({"enabled": true}))
        .await;
    assert_eq!(
        (on.body["status"].as_str(), on.body["enabled"].as_bool()),
        (Some("active"), Some(true))
    );
    assert_eq!(app.verify_code(&key).await, "VALID");
    assert_eq!(app.get("/v1/me", &key).await.status, StatusCode::OK);

    let wrong = app
        .patch(&path, &app.owner_token, json!({"enabled": "no"}))
        .await;
    assert_eq!(
        (wrong.status, wrong.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("enabled")),
        "{}",
        wrong.body
    );

    // Created switched off, and a rotation keeps the switch where it was.
    let created = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "later", "enabled": false}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (
            created.body["status"].as_str(),
            created.body["enabled"].as_bool()
        ),
        (Some("disabled"), Some(false))
    );
    let later = created.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.verify_code(&later).await, "DISABLED");
    let rotated = app
        .post(
            &format!("/v1/keys/{}/rotate", created.body["id"].as_str().unwrap()),
            &app.owner_token,
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    assert_eq!(
        app.verify_code(rotated.body["key"].as_str().unwrap()).await,
        "DISABLED",
        "rotating a disabled key gave a working one"
    );

    // Expired (for good) wins over disabled (for now).
    let (expiring, expiring_id) = app
        .create_key(json!({"name": "short", "expires": "7d"}))
        .await;
    app.patch(
        &format!("/v1/keys/{expiring_id}"),
        &app.owner_token,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(app.verify_code(&expiring).await, "DISABLED");
    app.clock.advance(Duration::days(8));
    assert_eq!(app.verify_code(&expiring).await, "EXPIRED");
    let shown = app
        .get(&format!("/v1/keys/{expiring_id}"), &app.owner_token)
        .await;
    assert_eq!(
        (
            shown.body["status"].as_str(),
            shown.body["enabled"].as_bool()
        ),
        (Some("expired"), Some(false))
    );
}

#[tokio::test]
async fn expiry_presets_custom_dates_and_never() {
    let app = TestApp::spawn().await;
    let (week, _) = app
        .create_key(json!({"name": "week", "expires": "7d"}))
        .await;
    let (dated, _) = app
        .create_key(json!({"name": "dated", "expires": "2030-03-01"}))
        .await;
    let (forever, id) = app.create_key(json!({"name": "forever"})).await;
    let shown = app.get(&format!("/v1/keys/{id}"), &app.owner_token).await;
    assert_eq!(shown.body["expires_at"], serde_json::Value::Null);
    for preset in [
        "7d",
        "30d",
        "60d",
        "90d",
        "180d",
        "1y",
        "never",
        "2031-01-01T00:00:00Z",
    ] {
        let r = app
            .post(
                "/v1/keys",
                &app.owner_token,
                json!({"name": preset, "expires": preset}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{preset}: {}", r.body);
    }
    for bad in ["45d", "2029-12-31", "soon", ""] {
        let r = app
            .post(
                "/v1/keys",
                &app.owner_token,
                json!({"name": "x", "expires": bad}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
            "{bad}"
        );
    }

    app.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert_eq!(app.verify_code(&week).await, "VALID");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(app.verify_code(&week).await, "EXPIRED");
    let me = app.get("/v1/me", &week).await;
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    assert!(
        me.body["detail"]
            .as_str()
            .unwrap()
            .contains("2030-01-08T00:00:00Z"),
        "{}",
        me.body
    );
    assert_eq!(app.verify_code(&dated).await, "VALID");
    app.clock.set(start_time() + Duration::days(59));
    assert_eq!(app.verify_code(&dated).await, "EXPIRED");
    app.clock.set(start_time() + Duration::days(3650));
    assert_eq!(app.verify_code(&forever).await, "VALID");
}

#[tokio::test]
async fn verify_answers_every_code_with_200() {
    let app = TestApp::spawn().await;
    let (reader, reader_id) = app
        .create_key(json!({"name": "reader", "permissions": "read_only"}))
        .await;
    let v = app.verify(&reader, Some("keys:read")).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["valid"], true);
    assert_eq!(v.body["code"], "VALID");
    assert_eq!(v.body["key_id"], reader_id.as_str());
    assert_eq!(v.body["owner"]["name"], "team@company.com");
    assert_eq!(v.body["org"]["name"], "acme");
    assert_eq!(v.body["permissions"], json!(["*:read"]));
    assert!(v.body.get("expires_at").is_some());

    let v = app.verify(&reader, Some("keys:write")).await;
    assert_eq!(
        (v.body["valid"].as_bool(), v.body["code"].as_str()),
        (Some(false), Some("INSUFFICIENT_PERMISSIONS"))
    );

    let unknown = PlainKey::generate(KeyKind::Personal, Environment::Live);
    assert_eq!(app.verify_code(unknown.expose_secret()).await, "NOT_FOUND");
    let mut damaged = reader.clone();
    damaged.replace_range(10..11, if &reader[10..11] == "a" { "b" } else { "a" });
    assert_eq!(app.verify_code(&damaged).await, "MALFORMED");
    assert_eq!(app.verify_code("gh_pat_whatever").await, "MALFORMED");
    assert_eq!(app.verify_code(&"k".repeat(300)).await, "MALFORMED");

    // A key just created is never refused because it was looked up before it existed.
    let bad_permission = app.verify(&reader, Some("not a permission")).await;
    assert_eq!(
        (bad_permission.status, bad_permission.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("permission"))
    );
}

#[tokio::test]
async fn verify_needs_the_keys_verify_permission() {
    let app = TestApp::spawn().await;
    let (reader, _) = app
        .create_key(json!({"name": "reader", "permissions": "read_only"}))
        .await;
    let (verifier, _) = app
        .create_key(json!({"name": "gateway", "permissions": ["keys:verify"]}))
        .await;
    let r = app
        .post("/v1/keys/verify", &reader, json!({"key": verifier}))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(r.body["required_permission"], "keys:verify");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="keys:verify""#),
        "{challenge}"
    );
    let ok = app
        .post(
            "/v1/keys/verify",
            &verifier,
            json!({"key": reader, "permission": "keys:read"}),
        )
        .await;
    assert_eq!(ok.body["code"], "VALID");
    // The gateway key may verify but not list or create keys.
    assert_eq!(
        app.get("/v1/keys", &verifier).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn permission_presets_all_read_only_and_restricted() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!("all"), json!(["*:*"])),
        (json!("read_only"), json!(["*:read"])),
        (
            json!({"restricted": {"keys": "write", "audit": "read", "skills": "none"}, "actions": ["skills:execute"]}),
            json!(["audit:read", "keys:write", "skills:execute"]),
        ),
        (
            json!(["keys:read", "keys:verify"]),
            json!(["keys:read", "keys:verify"]),
        ),
    ];
    for (input, stored) in cases {
        let r = app
            .post(
                "/v1/keys",
                &app.owner_token,
                json!({"name": "p", "permissions": input}),
            )
            .await;
        assert_eq!(
            (r.status, &r.body["permissions"]),
            (StatusCode::CREATED, &stored),
            "{input}"
        );
    }
    let (restricted, _) = app
        .create_key(json!({"name": "r", "permissions": {"restricted": {"keys": "read"}}}))
        .await;
    assert_eq!(
        app.verify(&restricted, Some("keys:read")).await.body["code"],
        "VALID"
    );
    assert_eq!(
        app.verify(&restricted, Some("keys:write")).await.body["code"],
        "INSUFFICIENT_PERMISSIONS"
    );
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "p", "permissions": {"restricted": {"keys": "admin"}}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_key_cannot_grant_more_than_its_creator_holds() {
    let app = TestApp::spawn().await;
    let (writer, _) = app
        .create_key(json!({"name": "key admin", "permissions": ["keys:write"]}))
        .await;
    let r = app
        .post(
            "/v1/keys",
            &writer,
            json!({"name": "escalate", "permissions": "all"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "cannot_grant"),
        "{}",
        r.body
    );
    assert!(r.body["detail"].as_str().unwrap().contains("*:*"));
    let ok = app
        .post(
            "/v1/keys",
            &writer,
            json!({"name": "reader", "permissions": ["keys:read"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    // Omitting permissions hands on exactly the creator's own.
    let inherited = app.post("/v1/keys", &writer, json!({"name": "same"})).await;
    assert_eq!(inherited.body["permissions"], json!(["keys:write"]));
    let (reader, _) = app
        .create_key(json!({"name": "ro", "permissions": "read_only"}))
        .await;
    let r = app.post("/v1/keys", &reader, json!({"name": "nope"})).await;
    assert_eq!(
        (r.status, r.body["required_permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("keys:write"))
    );
}

#[tokio::test]
async fn api_keys_for_customers_have_live_and_test_prefixes() {
    let app = TestApp::spawn().await;
    let live = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "acme customer", "kind": "api", "owner": "cus_123",
        "permissions": ["orders:read"], "metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(live.status, StatusCode::CREATED, "{}", live.body);
    assert!(live.body["key"].as_str().unwrap().starts_with("kw_live_"));
    let test = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "sandbox", "kind": "api", "environment": "test"}),
        )
        .await;
    assert!(test.body["key"].as_str().unwrap().starts_with("kw_test_"));
    let v = app
        .verify(live.body["key"].as_str().unwrap(), Some("orders:read"))
        .await;
    assert_eq!(v.body["code"], "VALID");
    assert_eq!(
        v.body["owner"],
        json!({"type": "external", "id": "cus_123"})
    );
    assert_eq!(v.body["metadata"], json!({"plan": "pro"}));
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "x", "environment": "test"}),
        )
        .await;
    assert_eq!(bad.body["field"], "environment");
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "x", "kind": "service_account"}),
        )
        .await;
    assert_eq!(bad.body["field"], "kind");
}

#[tokio::test]
async fn rotation_with_and_without_grace() {
    let app = TestApp::spawn().await;
    let (old, old_id) = app
        .create_key(
            json!({"name": "deploy", "expires": "90d", "permissions": ["keys:read", "audit:read"]}),
        )
        .await;

    // Grace 24h: both work until the grace ends, then only the new one.
    let r = app
        .post(
            &format!("/v1/keys/{old_id}/rotate"),
            &app.owner_token,
            json!({"grace": "24h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new = r.body["key"].as_str().unwrap().to_owned();
    let new_id = r.body["id"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(r.body["name"], "deploy");
    assert_eq!(r.body["permissions"], json!(["audit:read", "keys:read"]));
    assert_eq!(r.body["rotated_from"], old_id.as_str());
    assert_eq!(
        r.body["expires_at"], "2030-04-01T00:00:00Z",
        "the new key keeps the old key's lifetime"
    );
    assert_eq!(r.body["previous"]["rotated_to"], new_id.as_str());
    assert_eq!(r.body["previous"]["expires_at"], "2030-01-02T00:00:00Z");
    assert_eq!(app.verify_code(&old).await, "VALID");
    assert_eq!(app.verify_code(&new).await, "VALID");
    app.clock.advance(Duration::hours(24));
    assert_eq!(app.verify_code(&old).await, "EXPIRED");
    assert_eq!(app.verify_code(&new).await, "VALID");
    let again = app
        .post(
            &format!("/v1/keys/{old_id}/rotate"),
            &app.owner_token,
            json!({}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "key_already_rotated")
    );

    // Grace 0 (the default, also with no body at all): the old key stops at once.
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/keys/{new_id}/rotate"),
            Some(&app.owner_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(app.verify_code(&new).await, "REVOKED");
    assert_eq!(
        app.verify_code(r.body["key"].as_str().unwrap()).await,
        "VALID"
    );

    // A grace longer than the old key's own life ends at its expiry; a replacement may
    // not live longer than the key it replaces did.
    let (short, short_id) = app
        .create_key(json!({"name": "short", "expires": "7d"}))
        .await;
    let r = app
        .post(
            &format!("/v1/keys/{short_id}/rotate"),
            &app.owner_token,
            json!({"grace": "30d", "expires": "1y"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
        "{}",
        r.body
    );
    let r = app
        .post(
            &format!("/v1/keys/{short_id}/rotate"),
            &app.owner_token,
            json!({"grace": "30d"}),
        )
        .await;
    assert_eq!(r.body["previous"]["expires_at"], "2030-01-09T00:00:00Z");
    app.clock.advance(Duration::days(7));
    assert_eq!(app.verify_code(&short).await, "EXPIRED");

    for (body, field) in [
        (json!({"grace": "31d"}), "grace"),
        (json!({"grace": "soon"}), "grace"),
        (json!({"bogus": 1}), "bogus"),
    ] {
        let (_, id) = app.create_key(json!({"name": "k"})).await;
        let r = app
            .post(&format!("/v1/keys/{id}/rotate"), &app.owner_token, body)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains(field) || r.body["field"] == field,
            "{}",
            r.body
        );
    }
    let (_, revoked_id) = app.create_key(json!({"name": "gone"})).await;
    app.delete(&format!("/v1/keys/{revoked_id}"), &app.owner_token)
        .await;
    let r = app
        .post(
            &format!("/v1/keys/{revoked_id}/rotate"),
            &app.owner_token,
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "key_revoked"));

    let audit = app.get("/v1/audit-log?limit=100", &app.owner_token).await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.iter().filter(|a| **a == "key.rotate").count() >= 3,
        "{actions:?}"
    );
}

#[tokio::test]
async fn me_describes_the_bearer() {
    let app = TestApp::spawn().await;
    let me = app.get("/v1/me", &app.owner_token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "team@company.com");
    assert_eq!(me.body["org"]["name"], "acme");
    assert_eq!(me.body["key"]["kind"], "personal");
    assert_eq!(me.body["key"]["permissions"], json!(["*:*"]));
    assert_eq!(me.body["key"]["expires_at"], serde_json::Value::Null);
    assert_eq!(me.body["key"]["prefix"], &app.owner_token[..11]);
}

#[tokio::test]
async fn audit_log_records_every_change_newest_first() {
    let app = TestApp::spawn().await;
    let (_, id) = app.create_key(json!({"name": "audited"})).await;
    app.clock.advance(Duration::seconds(1));
    app.patch(
        &format!("/v1/keys/{id}"),
        &app.owner_token,
        json!({"name": "audited 2"}),
    )
    .await;
    app.clock.advance(Duration::seconds(1));
    let rotated = app
        .post(
            &format!("/v1/keys/{id}/rotate"),
            &app.owner_token,
            json!({"grace": "1h"}),
        )
        .await;
    let new_id = rotated.body["id"].as_str().unwrap();
    app.clock.advance(Duration::seconds(1));
    app.delete(&format!("/v1/keys/{new_id}"), &app.owner_token)
        .await;

    let log = app.get("/v1/audit-log", &app.owner_token).await;
    assert_eq!(log.status, StatusCode::OK);
    let events = log.body["data"].as_array().unwrap();
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got[..5],
        [
            ("key.revoke", new_id),
            ("key.create", new_id),
            ("key.rotate", id.as_str()),
            ("key.update", id.as_str()),
            ("key.create", id.as_str()),
        ]
    );
    // The test harness raises the key limit right after bootstrapping.
    assert_eq!(got[5].0, "org.update");
    assert_eq!(got[6].0, "key.create", "bootstrap token");
    assert_eq!(got[7].0, "org.bootstrap");
    let first = &events[0];
    assert_eq!(first["actor"]["name"], "team@company.com");
    assert_eq!(first["actor"]["type"], "user");
    assert!(first["actor"]["key_id"]
        .as_str()
        .unwrap()
        .starts_with("key_"));
    assert_eq!(first["source_ip"], "127.0.0.1");
    assert_eq!(first["at"], "2030-01-01T00:00:03Z");

    let page = app.get("/v1/audit-log?limit=3", &app.owner_token).await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 3);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/v1/audit-log?limit=3&cursor={cursor}"),
            &app.owner_token,
        )
        .await;
    assert_eq!(next.body["data"][0]["action"], "key.update");
    let (reader, _) = app
        .create_key(json!({"name": "r", "permissions": ["keys:read"]}))
        .await;
    assert_eq!(
        app.get("/v1/audit-log", &reader).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn last_used_is_written_behind_and_on_shutdown() {
    let mut app = TestApp::spawn().await;
    let (key, id) = app.create_key(json!({"name": "used"})).await;
    app.clock.advance(Duration::minutes(3));
    assert_eq!(app.verify_code(&key).await, "VALID");
    // Shown at once (from memory), before any write.
    let shown = app.get(&format!("/v1/keys/{id}"), &app.owner_token).await;
    assert_eq!(shown.body["last_used_at"], "2030-01-01T00:03:00Z");
    let stored = app.store.get_key(&app.org_id().await, &id).await.unwrap();
    assert_eq!(
        stored.last_used_at, None,
        "last_used_at was written on the request path"
    );
    app.stop().await;
    let store = keyward_store::connect(&app.db_url).await.unwrap();
    let page = store
        .list_keys(
            &stored.org_id,
            &keyward_store::KeyFilter::default(),
            &keyward_store::PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    let flushed = page.items.iter().find(|k| k.id == id).unwrap();
    assert_eq!(
        flushed.last_used_at,
        Some(start_time() + Duration::minutes(3))
    );
}

#[tokio::test]
async fn last_used_is_flushed_periodically() {
    let app = TestApp::spawn_with(std::time::Duration::from_millis(100)).await;
    let (key, id) = app.create_key(json!({"name": "used"})).await;
    app.verify_code(&key).await;
    let org = app.org_id().await;
    let mut written = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        written = app.store.get_key(&org, &id).await.unwrap().last_used_at;
        if written.is_some() {
            break;
        }
    }
    assert_eq!(written, Some(start_time()));
}

#[tokio::test]
async fn health_and_openapi() {
    let app = TestApp::spawn().await;
    let r = app.send(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let doc = app
        .send(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    for path in [
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/keys/{id}/rotate",
        "/v1/keys/verify",
        "/v1/me",
        "/v1/audit-log",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let problem = app
        .send(reqwest::Method::GET, "/problems/token_expired", None, None)
        .await;
    assert_eq!(problem.body["status"], 401);
}
