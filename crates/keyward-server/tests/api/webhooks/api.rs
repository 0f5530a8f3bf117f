//! Endpoints through the API: made with their provider's secrets (checked per provider,
//! never shown again), listed and shown with prefixes only, edited, disabled, deleted,
//! audited; another organization and keys of another workspace see none of them.

use super::standard_endpoint_body;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn slack(name: &str, secret: &str) -> Value {
    json!({
        "provider": "slack", "name": name, "destination": "http://127.0.0.1:9/hooks/slack",
        "secrets": [secret],
    })
}

#[tokio::test]
async fn an_endpoint_shows_its_secrets_once_and_prefixes_after() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let r = app
        .post("/v1/webhook-endpoints", t, slack("Support", secret))
        .await;
    let created: Value = r.expect(StatusCode::CREATED);
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    assert_eq!(
        created["endpoint"]["ingress_url"],
        format!("{}/hooks/{id}", app.base)
    );
    let signing = created["signing_secret"].as_str().unwrap().to_owned();
    assert!(signing.starts_with("whsec_"), "a Standard Webhooks secret");
    assert!(keyward_webhooks::standard::Secret::parse(&signing).is_ok());
    assert_eq!(created["endpoint"]["secrets"], json!([{"prefix": "8f74…"}]));
    assert_eq!(created["endpoint"]["status"], "enabled");
    assert_eq!(created["endpoint"]["managed_by"], "api");
    assert!(created.get("generated_secret").is_none());

    // Never again: not in the endpoint, the listing or the audit log.
    let shown = app.get(&format!("/v1/webhook-endpoints/{id}"), t).await;
    let listed = app.get("/v1/webhook-endpoints", t).await;
    let audit = app.get("/v1/audit-log", t).await;
    for text in [
        shown.body.to_string(),
        listed.body.to_string(),
        audit.body.to_string(),
    ] {
        assert!(
            !text.contains(secret),
            "the provider's secret leaked: {text}"
        );
        assert!(
            !text.contains(&signing[6..]),
            "the signing secret leaked: {text}"
        );
    }
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(audit.body.to_string().contains("webhook_endpoint.create"));
    // Nor in the database: sealed at rest (the SQLite file with its WAL, when on SQLite).
    for file in [app.db_path.clone(), app.db_path.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(
                !hay.contains(secret),
                "the provider's secret is in {}",
                file.display()
            );
            assert!(
                !hay.contains(&signing[6..]),
                "the signing secret is in {}",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn each_provider_s_secrets_are_checked() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let base = |provider: &str| json!({"provider": provider, "name": "n", "destination": "https://app.example.com/h"});
    let with = |provider: &str, extra: Value| {
        let mut b = base(provider);
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let cases = [
        (with("slack", json!({})), "secrets"),
        (
            with("whatsapp", json!({"secrets": ["app-secret"]})),
            "verify_token",
        ),
        (
            with("slack", json!({"secrets": ["s"], "verify_token": "v"})),
            "verify_token",
        ),
        (
            with("discord", json!({"secrets": ["not-hex"]})),
            "secrets[0]",
        ),
        (
            with("standard", json!({"secrets": ["no-prefix"]})),
            "secrets[0]",
        ),
        (
            with("telegram", json!({"secrets": ["bad token"]})),
            "secrets[0]",
        ),
        (
            json!({"provider": "slack", "name": "n", "destination": "ftp://x", "secrets": ["s"]}),
            "destination",
        ),
        (
            json!({"provider": "slack", "name": "n", "destination": "https://u:p@x.example", "secrets": ["s"]}),
            "destination",
        ),
        (
            json!({"provider": "slack", "name": "", "destination": "https://x.example", "secrets": ["s"]}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/v1/webhook-endpoints", t, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }
    let r = app
        .post(
            "/v1/webhook-endpoints",
            t,
            json!({"provider": "icq", "name": "n", "destination": "https://x.example"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        app.get("/v1/webhook-endpoints", t).await.body["data"],
        json!([])
    );

    // Telegram without a secret token: one is made, valid for setWebhook, shown once.
    let r = app.post("/v1/webhook-endpoints", t, base("telegram")).await;
    let created: Value = r.expect(StatusCode::CREATED);
    let token = created["generated_secret"].as_str().unwrap();
    assert!(
        keyward_webhooks::telegram::valid_secret_token(token),
        "{token}"
    );
    // A valid Discord key and a WhatsApp endpoint with its verify token.
    let discord = with(
        "discord",
        json!({"secrets": ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]}),
    );
    app.post("/v1/webhook-endpoints", t, discord)
        .await
        .expect::<Value>(StatusCode::CREATED);
    let whatsapp = with(
        "whatsapp",
        json!({"secrets": ["app-secret"], "verify_token": "vt"}),
    );
    let w: Value = app
        .post("/v1/webhook-endpoints", t, whatsapp)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(w["endpoint"]["has_verify_token"], true);
    // New secrets keep the verify token; a verify token alone keeps the secrets.
    let path = format!(
        "/v1/webhook-endpoints/{}",
        w["endpoint"]["id"].as_str().unwrap()
    );
    let edited: Value = app
        .patch(
            &path,
            t,
            json!({"secrets": ["another-app-secret-0123456789"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["has_verify_token"], true);
    assert_eq!(edited["secrets"], json!([{"prefix": "anot…"}]));
    let edited: Value = app
        .patch(&path, t, json!({"verify_token": "vt2"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["secrets"], json!([{"prefix": "anot…"}]));
    let telegram_id = app
        .get("/v1/webhook-endpoints?provider=telegram", t)
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("/v1/webhook-endpoints/{telegram_id}"),
            t,
            json!({"verify_token": "v"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "verify_token");
}

#[tokio::test]
async fn edits_disable_rotate_and_delete_are_audited() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            t,
            slack("Support", "first-secret-0123456789"),
        )
        .await
        .expect(StatusCode::CREATED);
    let path = format!(
        "/v1/webhook-endpoints/{}",
        created["endpoint"]["id"].as_str().unwrap()
    );
    let edited: Value = app
        .patch(
            &path,
            t,
            json!({"name": "Helpdesk", "secrets": ["second-secret-0123456789", "first-secret-0123456789"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["name"], "Helpdesk");
    assert_eq!(
        edited["secrets"],
        json!([{"prefix": "seco…"}, {"prefix": "firs…"}])
    );
    let off: Value = app
        .patch(&path, t, json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(off["status"], "disabled");
    assert!(off["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("team@company.com"));
    let on: Value = app
        .patch(&path, t, json!({"enabled": true}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(on["status"], "enabled");
    assert_eq!(on["disabled_reason"], Value::Null);

    let rotated: Value = app
        .post(
            &format!("{path}/rotate-secret"),
            t,
            json!({"overlap_secs": 60}),
        )
        .await
        .expect(StatusCode::OK);
    assert_ne!(rotated["signing_secret"], created["signing_secret"]);
    let signing = rotated["endpoint"]["signing_secrets"].as_array().unwrap();
    assert_eq!(signing.len(), 2, "the old one signs during the overlap");
    assert!(signing[0]["expires_at"].is_null() && signing[1]["expires_at"].is_string());
    app.clock.advance(chrono::Duration::seconds(61));
    let later: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(later["signing_secrets"].as_array().unwrap().len(), 1);
    let r = app
        .post(
            &format!("{path}/rotate-secret"),
            t,
            json!({"overlap_secs": 999_999_999}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    app.delete(&path, t)
        .await
        .expect::<()>(StatusCode::NO_CONTENT);
    let gone = app.get(&path, t).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "webhook_endpoint_not_found");
    let audit = app.get("/v1/audit-log?limit=100", t).await.body.to_string();
    for action in [
        "webhook_endpoint.update",
        "webhook_endpoint.disable",
        "webhook_endpoint.enable",
        "webhook_endpoint.rotate_secret",
        "webhook_endpoint.delete",
    ] {
        assert!(audit.contains(action), "{action} in the audit log");
    }
    assert!(
        !audit.contains("second-secret-0123456789") && !audit.contains("first-secret-0123456789")
    );
}

#[tokio::test]
async fn other_tenants_and_other_workspaces_see_nothing() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws: Value = app
        .post("/v1/workspaces", t, json!({"name": "billing"}))
        .await
        .expect(StatusCode::CREATED);
    let other: Value = app
        .post("/v1/workspaces", t, json!({"name": "support"}))
        .await
        .expect(StatusCode::CREATED);
    let ws = ws["id"].as_str().unwrap();
    let (body, _) = standard_endpoint_body(ws);
    let created: Value = app
        .post("/v1/webhook-endpoints", t, body)
        .await
        .expect(StatusCode::CREATED);
    let path = format!(
        "/v1/webhook-endpoints/{}",
        created["endpoint"]["id"].as_str().unwrap()
    );

    // Another organization's owner.
    let org: Value = app
        .post("/v1/organizations", t, json!({"name": "rival"}))
        .await
        .expect(StatusCode::CREATED);
    let rival = org["token"]["key"].as_str().unwrap();
    assert_eq!(app.get(&path, rival).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, rival, json!({"name": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, rival).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/webhook-endpoints", rival).await.body["data"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("{path}/deliveries"), rival).await.status,
        StatusCode::NOT_FOUND
    );

    // A key of the other workspace: not listed, not reachable.
    let (narrow, _) = app
        .create_key(json!({"name": "support", "scope": {"type": "workspaces", "workspaces": [other["id"]]}}))
        .await;
    assert_eq!(
        app.get("/v1/webhook-endpoints", &narrow).await.body["data"],
        json!([])
    );
    assert_ne!(app.get(&path, &narrow).await.status, StatusCode::OK);
    // A read-only key cannot change it.
    let (reader, _) = app
        .create_key(json!({"name": "reader", "permissions": ["webhooks:read"]}))
        .await;
    let r = app.patch(&path, &reader, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, &reader).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_organization_has_at_most_100_endpoints_even_when_creates_race() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let body = |i: usize| {
        json!({"provider": "telegram", "name": format!("bot {i}"),
            "destination": "https://app.example.com/telegram", "enabled": false})
    };
    for i in 0..95 {
        app.post("/v1/webhook-endpoints", t, body(i))
            .await
            .expect::<Value>(StatusCode::CREATED);
    }
    // Ten at once for the last five places.
    let racing: Vec<_> = (95..105)
        .map(|i| {
            let req = app
                .client
                .post(format!("{}/v1/webhook-endpoints", app.base))
                .bearer_auth(t)
                .json(&body(i));
            tokio::spawn(async move {
                let r = req.send().await.unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = vec![];
    for task in racing {
        answers.push(task.await.unwrap());
    }
    let made = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(made, 5, "{answers:?}");
    let (status, refused) = answers
        .iter()
        .find(|(s, _)| *s != StatusCode::CREATED)
        .unwrap();
    assert_eq!(*status, StatusCode::CONFLICT);
    assert_eq!(refused["code"], "webhook_endpoint_limit_reached");
    assert_eq!(refused["limit"]["max"], 100);
    // Deleting one makes room again.
    let listed = app.get("/v1/webhook-endpoints?limit=1", t).await.body;
    let id = listed["data"][0]["id"].as_str().unwrap();
    app.delete(&format!("/v1/webhook-endpoints/{id}"), t)
        .await
        .expect::<()>(StatusCode::NO_CONTENT);
    app.post("/v1/webhook-endpoints", t, body(200))
        .await
        .expect::<Value>(StatusCode::CREATED);
}
