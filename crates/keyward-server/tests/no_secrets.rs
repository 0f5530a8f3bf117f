//! Raw keys appear only in the responses that create them: not in the database
//! files, not in logs (captured at TRACE), not in error bodies. Nor do the vault's
//! secrets: a provider's access and refresh tokens, and the client secret.
//!
//! A test binary of its own: it installs the process's global log subscriber, which
//! would capture (and slow) every other test of the suite.

#[path = "api/common/mod.rs"]
mod common;
#[path = "api/integrations/vault.rs"]
mod vault;

use common::TestApp;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn raw_keys_never_reach_the_database_or_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    // The vault's secrets first (a provider's tokens, the client secret), on a server
    // with the local authorization server configured; then the keys on the same server.
    let flush = std::time::Duration::from_millis(50);
    let mut oauth_secrets = vec![];
    let (mut app, _provider) = match vault::Vault::start_with(|s| s.flush_interval = flush).await {
        Some(v) => {
            oauth_secrets = vault_secrets(&v).await;
            (v.app, Some(v.provider))
        }
        None => (TestApp::spawn_with(flush).await, None),
    };
    let webhook_secrets = webhook_secrets(&app).await;
    let mut raw_keys = vec![app.owner_token.clone()];
    for i in 0..10 {
        let (key, id) = app
            .create_key(json!({"name": format!("k{i}"), "expires": "30d"}))
            .await;
        assert_eq!(app.verify_code(&key).await, "VALID");
        if i == 3 {
            let r = app
                .post(
                    &format!("/v1/keys/{id}/rotate"),
                    &app.owner_token,
                    json!({"grace": "1h"}),
                )
                .await;
            raw_keys.push(r.body["key"].as_str().unwrap().to_owned());
        }
        if i == 5 {
            app.delete(&format!("/v1/keys/{id}"), &app.owner_token)
                .await;
            let r = app.get("/v1/me", &key).await;
            assert!(
                !r.body.to_string().contains(&key),
                "an error body echoes the key"
            );
        }
        // Misplaced keys: in the query string, in a verify body, in a bad request.
        let _ = app
            .client
            .get(format!("{}/v1/me?access_token={key}", app.base))
            .send()
            .await
            .unwrap();
        let r = app
            .post(
                "/v1/keys",
                &key,
                json!({"name": key.clone(), "bogus": key.clone()}),
            )
            .await;
        assert!(
            !r.body.to_string().contains(&key),
            "a validation error echoes the key"
        );
        raw_keys.push(key);
    }
    // A CLI login: its code and verifier are secrets too, and so is the token they make.
    let owner_id = app.owner_id().await;
    let (code, verifier) = app.approve_cli_login(&owner_id, "laptop").await;
    let wrong = app.exchange_cli_code(&code, &verifier[1..]).await;
    assert!(!wrong.body.to_string().contains(&code[7..]));
    let r = app.exchange_cli_code(&code, &verifier).await;
    raw_keys.push(r.body["key"].as_str().unwrap().to_owned());
    raw_keys.push(code);
    let mut secrets = vec![verifier];
    secrets.extend(oauth_secrets);
    secrets.extend(webhook_secrets);
    app.stop().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("key created"), "logs were not captured");
    let mut files = vec![];
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        files.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    if let Some(schema) = &app.pg {
        // On PostgreSQL: every row of every table, as text.
        files.push(schema.dump_text().await.unwrap().into_bytes());
    }
    assert!(!files.is_empty());
    secrets.extend(raw_keys.iter().map(|key| key[key.len() - 38..].to_owned()));
    for secret_part in &secrets {
        assert!(!logs.contains(secret_part), "a raw key is in the logs");
        for bytes in &files {
            assert!(
                !bytes
                    .windows(secret_part.len())
                    .any(|w| w == secret_part.as_bytes()),
                "a raw key is in a database file"
            );
        }
    }
}

/// Connects, reads, refreshes and disconnects a connection; returns every secret that
/// went by: both generations of access and refresh tokens, and the client secret.
async fn vault_secrets(v: &vault::Vault) -> Vec<String> {
    use secrecy::ExposeSecret;
    let mut found = vec![v.client_secret.clone()];
    let opened = |org: String| async move {
        let c = v.app.store.get_connection(&org, "leak-test").await.unwrap();
        let o = keyward_server::integrations::seal::open_tokens(v.app.state.vault.ring(), &c)
            .unwrap()
            .unwrap();
        [
            o.access_token.expose_secret().to_owned(),
            o.refresh_token.unwrap().expose_secret().to_owned(),
        ]
    };
    assert_eq!(v.connect("leak-test").await.status, reqwest::StatusCode::OK);
    let org = v.app.org_id().await;
    found.extend(opened(org.clone()).await);
    let r = v
        .app
        .post("/v1/connections/leak-test/refresh", v.token(), json!({}))
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    found.extend(opened(org.clone()).await);
    assert_eq!(v.tokens("leak-test").await.status, reqwest::StatusCode::OK);
    // A provider's error that echoes what it was sent is not logged as it was.
    v.provider.revoke_all().await;
    let r = v
        .app
        .post("/v1/connections/leak-test/refresh", v.token(), json!({}))
        .await;
    assert_eq!(r.code(), "connection_needs_reauth");
    for t in &found {
        assert!(
            !r.body.to_string().contains(t.as_str()),
            "an error body holds a secret"
        );
    }
    let r = v
        .app
        .delete("/v1/connections/leak-test/tokens", v.token())
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    found
}

/// Webhook endpoints of every kind of secret (Slack's signing secret, Meta's app secret
/// and verify token, a Telegram token Keyward made, a `whsec_` secret), a rotation of
/// Keyward's signing secret, a genuine event and forged ones; returns every secret.
async fn webhook_secrets(app: &TestApp) -> Vec<String> {
    let t = &app.owner_token;
    let mut found = vec![];
    let create = |body: serde_json::Value| {
        let r = app.post("/v1/webhook-endpoints", t, body);
        async move {
            let r = r.await;
            assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
            r.body
        }
    };
    let slack = keyward_core::base62::random(32);
    let app_secret = keyward_core::base62::random(32);
    let verify_token = keyward_core::base62::random(24);
    let incoming = keyward_webhooks::standard::Secret::generate();
    let whsec = incoming.expose_whsec().to_string();
    let dest = "http://127.0.0.1:9/app";
    let a =
        create(json!({"provider": "slack", "name": "s", "destination": dest, "secrets": [slack]}))
            .await;
    let b = create(
        json!({"provider": "whatsapp", "name": "w", "destination": dest,
        "secrets": [app_secret], "verify_token": verify_token}),
    )
    .await;
    let c = create(json!({"provider": "telegram", "name": "t", "destination": dest})).await;
    let d = create(
        json!({"provider": "standard", "name": "d", "destination": dest,
        "secrets": [whsec], "enabled": false}),
    )
    .await;
    found.push(c["generated_secret"].as_str().unwrap().to_owned());
    for created in [&a, &b, &c, &d] {
        let s = created["signing_secret"].as_str().unwrap();
        found.push(s["whsec_".len()..].to_owned());
    }
    let id = a["endpoint"]["id"].as_str().unwrap();
    let rotated = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            t,
            json!({}),
        )
        .await;
    found.push(rotated.body["signing_secret"].as_str().unwrap()["whsec_".len()..].to_owned());
    // A genuine event and forged ones (wrong token, wrong verify token).
    let body = br#"{"type":"ping"}"#;
    let now = keyward_core::Clock::now(app.clock.as_ref()).timestamp();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in keyward_webhooks::standard::headers(&incoming, "msg_leak", now, body) {
        headers.insert(name, value.parse().unwrap());
    }
    let ingress = d["endpoint"]["ingress_url"].as_str().unwrap();
    let r = app
        .client
        .post(ingress)
        .headers(headers)
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tg = c["endpoint"]["ingress_url"].as_str().unwrap();
    let r = app
        .client
        .post(tg)
        .header("X-Telegram-Bot-Api-Secret-Token", "forged-token")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let wa = b["endpoint"]["ingress_url"].as_str().unwrap();
    let r = app
        .client
        .get(format!(
            "{wa}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    found.extend([
        slack,
        app_secret,
        verify_token,
        whsec["whsec_".len()..].to_owned(),
    ]);
    found
}
