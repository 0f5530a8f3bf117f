//! Create, list, rename, revoke, switch off, expire and rotate a key.

use super::*;

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
