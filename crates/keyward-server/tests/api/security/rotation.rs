//! Rotation and lifetimes: grace periods, personal tokens, keys that make keys.

use super::*;

/// Rotating a replacement while its predecessor is in grace ends that grace at once, so
/// chained rotations cannot multiply working keys past the organization's limit.
#[tokio::test]
async fn chained_rotations_keep_one_key_in_grace() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org}"),
            &app.owner_token,
            json!({"settings": {"max_keys": 10}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let existing = app.get("/v1/keys", &app.owner_token).await.body["data"]
        .as_array()
        .unwrap()
        .len();
    let mut raws = vec![app.owner_token.clone()];
    let mut last = String::new();
    for i in existing..10 {
        let (raw, id) = app
            .create_key(json!({"name": format!("k{i}"), "kind": "api"}))
            .await;
        raws.push(raw);
        last = id;
    }
    for _ in 0..20 {
        let r = app
            .post(
                &format!("/v1/keys/{last}/rotate"),
                &app.owner_token,
                json!({"grace": "30d"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        raws.push(r.body["key"].as_str().unwrap().to_owned());
        last = r.body["id"].as_str().unwrap().to_owned();
    }
    let mut valid = 0;
    for raw in &raws {
        if app.verify_code(raw).await == "VALID" {
            valid += 1;
        }
    }
    // Ten keys, plus the one predecessor of the rotated key still in its grace period.
    assert_eq!(valid, 11);
}

/// Rotating hands over the new secret: only a token's own person rotates it. An admin,
/// an agent admin, a service account or a legacy token that could (they reach the key)
/// would otherwise hold a working credential of someone else.
#[tokio::test]
async fn only_its_person_rotates_a_personal_token() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"allow_legacy_tokens": true}}),
    )
    .await;
    let agent = app.post("/v1/agents", t, json!({"name": "bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "prod"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let (agent_admin, _) = app
        .join("agents@company.com", "agent_admin", &[&agent])
        .await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let sa = app
        .post(
            "/v1/service-accounts",
            t,
            json!({"name": "ops", "scopes": ["keys:write", "keys:read"]}),
        )
        .await;
    let sa_key = sa.body["key"]["key"].as_str().unwrap().to_owned();
    let (legacy, _) = app
        .create_key(json!({"name": "legacy", "kind": "legacy_workspace", "workspace": ws}))
        .await;
    let theirs = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "agent pat", "scope": {"type": "agent", "agent": agent}}),
        )
        .await;
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();
    for (who, token) in [
        ("an org admin", admin.as_str()),
        ("the agent's admin", agent_admin.as_str()),
        ("a service account", sa_key.as_str()),
        ("the owner", t.as_str()),
    ] {
        let r = app
            .post(&format!("/v1/keys/{theirs}/rotate"), token, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        assert!(!r.body.to_string().contains("kw_pat_"), "{who}");
    }
    let r = app
        .post(&format!("/v1/keys/{theirs}/rotate"), &legacy, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "legacy: {}", r.body);
    // Revoking or switching it off stays possible; the person rotates their own.
    let r = app
        .patch(
            &format!("/v1/keys/{theirs}"),
            &admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(&format!("/v1/keys/{theirs}/rotate"), &member, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// A key never outlives the key that makes it: a 20-minute key cannot mint, rotate into
/// or found anything that lasts longer.
#[tokio::test]
async fn keys_never_outlive_the_key_that_made_them() {
    let app = TestApp::spawn().await;
    let (short, short_id) = app
        .create_key(json!({"name": "short", "expires": chrono::DateTime::parse_from_rfc3339(common::START).unwrap().checked_add_signed(chrono::Duration::minutes(20)).unwrap().to_rfc3339()}))
        .await;
    let ends = app.get(&format!("/v1/keys/{short_id}"), &short).await.body["expires_at"].clone();
    let r = app
        .post(
            "/v1/keys",
            &short,
            json!({"name": "forever", "expires": "never"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
        "{}",
        r.body
    );
    let r = app
        .post("/v1/keys", &short, json!({"name": "default"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["expires_at"], ends,
        "a key without expiry inherits its creator's"
    );
    let r = app
        .post(
            &format!("/v1/keys/{short_id}/rotate"),
            &short,
            json!({"expires": "never"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post("/v1/organizations", &short, json!({"name": "lasting"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["expires_at"], ends);
    let sa = app
        .post(
            "/v1/service-accounts",
            &short,
            json!({"name": "bot", "scopes": "keys:read", "expires": "1y"}),
        )
        .await;
    assert_eq!(sa.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sa.body);
}

/// A key renews itself by rotation for its own lifetime at a time, never longer; a key in
/// its rotation grace period mints nothing (it cannot take over its own replacement);
/// and another key rotating it says so rather than shortening its life silently.
#[tokio::test]
async fn rotation_renews_within_the_keys_lifetime_and_grace_keys_mint_nothing() {
    let app = TestApp::spawn().await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let made = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "leaked", "expires": "7d"}),
        )
        .await;
    let (leaked, leaked_id) = (
        made.body["key"].as_str().unwrap().to_owned(),
        made.body["id"].as_str().unwrap().to_owned(),
    );
    app.clock.advance(chrono::Duration::days(1));
    // Rotating itself for longer than its lifetime: refused; for its lifetime: renewed.
    let r = app
        .post(
            &format!("/v1/keys/{leaked_id}/rotate"),
            &leaked,
            json!({"grace": "1h", "expires": "30d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/keys/{leaked_id}/rotate"),
            &leaked,
            json!({"grace": "1h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let renewed = (common::start_time() + chrono::Duration::days(8))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(r.body["expires_at"], renewed.as_str(), "{}", r.body);
    let successor = r.body["id"].as_str().unwrap().to_owned();
    // In grace, the old key creates and rotates nothing, its successor included.
    let r = app
        .post(&format!("/v1/keys/{successor}/rotate"), &leaked, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .post("/v1/keys", &leaked, json!({"name": "spare"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.get("/v1/me", &leaked).await.status,
        StatusCode::OK,
        "it still works"
    );
}

/// Another key rotating a key keeps the key's lifetime, which may not outlive the
/// rotating key: it is refused with a clear message rather than shortened silently.
#[tokio::test]
async fn rotating_with_a_shorter_lived_key_is_refused_not_shortened() {
    let app = TestApp::spawn().await;
    let (short, _) = app
        .create_key(json!({"name": "short", "expires": "7d"}))
        .await;
    let (_, bot) = app.create_key(json!({"name": "bot", "kind": "api"})).await;
    let r = app
        .post(&format!("/v1/keys/{bot}/rotate"), &short, json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expires")),
        "{}",
        r.body
    );
    let r = app
        .post(
            &format!("/v1/keys/{bot}/rotate"),
            &short,
            json!({"expires": "7d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
