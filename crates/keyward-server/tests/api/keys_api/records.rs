//! What the server tells: me, the audit log, last-used times, health and OpenAPI.

use super::*;

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
