//! The running server's ingress against payloads signed by the providers' own libraries
//! (slack_sdk, standardwebhooks, svix, PyNaCl; Meta's `sha256=` HMAC): genuine ones
//! are kept for delivery, forged ones refused 401 with nothing kept but why.

use crate::common::providers::{self, Signed};
use crate::common::TestApp;
use keyward_core::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Hook {
    id: String,
    url: String,
    handshakes_refused: bool,
}

/// A disabled endpoint (nothing is sent anywhere; what arrives is kept as failed).
async fn endpoint(app: &TestApp, provider: &str, secrets: &[&str], extra: Value) -> Hook {
    let mut body = json!({
        "provider": provider, "name": provider, "destination": "http://127.0.0.1:9/app",
        "enabled": false, "secrets": secrets,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created: Value = app
        .post("/v1/webhook-endpoints", &app.owner_token, body)
        .await
        .expect(StatusCode::CREATED);
    Hook {
        id: created["endpoint"]["id"].as_str().unwrap().to_owned(),
        url: created["endpoint"]["ingress_url"]
            .as_str()
            .unwrap()
            .to_owned(),
        handshakes_refused: false,
    }
}

async fn send(app: &TestApp, hook: &Hook, s: &Signed) -> (StatusCode, Value, String) {
    let r = app
        .client
        .post(&hook.url)
        .headers(s.header_map())
        .body(s.body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ct,
    )
}

async fn log(app: &TestApp, hook: &Hook) -> Vec<Value> {
    app.get(
        &format!("/v1/webhook-endpoints/{}/deliveries?limit=100", hook.id),
        &app.owner_token,
    )
    .await
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn now(app: &TestApp) -> i64 {
    app.clock.now().timestamp()
}

/// Genuine → 200 and kept; tampered body, wrong secret, stale timestamp, no signature →
/// 401 with the code, and the log has the refusals without bodies.
async fn check_provider(
    app: &TestApp,
    hook: &Hook,
    sign: impl Fn(&str, i64) -> Signed,
    wrong: Signed,
    stale_code: Option<&str>,
) {
    // Telegram's secret token does not cover the body: nothing to tamper with.
    let body_signed = sign("{}", 0)
        .header("X-Telegram-Bot-Api-Secret-Token")
        .is_none();
    let genuine = sign(
        r#"{"event_id":"Ev1","update_id":1,"id":"1","type":2}"#,
        now(app),
    );
    let (status, body, _) = send(app, hook, &genuine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["duplicate"].as_bool().unwrap_or(false), "{body}");

    if body_signed {
        let mut tampered = genuine.clone();
        tampered.body = tampered.body.replace("Ev1", "Ev2");
        let (status, body, ct) = send(app, hook, &tampered).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered: {body}");
        assert_eq!(body["code"], "webhook_signature_invalid", "{body}");
        assert_eq!(ct, "application/problem+json");
    }

    let (status, body, _) = send(app, hook, &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret: {body}");

    if let Some(code) = stale_code {
        let stale = sign(r#"{"event_id":"Ev3"}"#, now(app) - 301);
        let (status, body, _) = send(app, hook, &stale).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "stale: {body}");
        assert_eq!(body["code"], code, "{body}");
        let future = sign(r#"{"event_id":"Ev4"}"#, now(app) + 301);
        assert_eq!(send(app, hook, &future).await.0, StatusCode::UNAUTHORIZED);
    }
    let bare = Signed {
        headers: vec![("content-type".into(), "application/json".into())],
        body: genuine.body.clone(),
        public_key: None,
    };
    let (status, body, _) = send(app, hook, &bare).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned: {body}");
    assert_eq!(body["code"], "webhook_signature_missing", "{body}");

    let entries = log(app, hook).await;
    let kept: Vec<&Value> = entries
        .iter()
        .filter(|d| d["status"] != "refused")
        .collect();
    assert_eq!(kept.len(), 1, "only the genuine event is kept: {entries:?}");
    let refused = entries.iter().filter(|d| d["status"] == "refused").count();
    // Each noted (a flood past a burst of 20 is answered, not kept: see below).
    let sent = if body_signed { 3 } else { 2 } + usize::from(stale_code.is_some()) * 2;
    // (WhatsApp's test was refused a handshake before.)
    let before = usize::from(hook.handshakes_refused);
    assert_eq!(
        refused,
        sent + before,
        "the refusals are in the log: {entries:?}"
    );
    for d in &entries {
        assert!(d.get("body").is_none());
    }
}

#[tokio::test]
async fn slack_requests_signed_by_slack_sdk() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn().await;
    let secret = keyward_core::base62::random(32);
    let hook = endpoint(&app, "slack", &[&secret], json!({})).await;
    let sign = |body: &str, ts: i64| {
        providers::sign(
            json!({"provider": "slack", "secret": secret, "body": body, "timestamp": ts}),
        )
    };
    let wrong = providers::sign(
        json!({"provider": "slack", "secret": "another", "body": "{}", "timestamp": now(&app)}),
    );
    check_provider(&app, &hook, sign, wrong, Some("webhook_timestamp_stale")).await;

    // url_verification: verified, then answered with the challenge as text.
    let challenge = sign(
        r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#,
        now(&app),
    );
    let (status, body, ct) = send(&app, &hook, &challenge).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        Value::String("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into())
    );
    assert!(ct.starts_with("text/plain"), "{ct}");
    // A retry of the same event (Slack resends on timeouts): acknowledged, kept once.
    let again = sign(
        r#"{"event_id":"Ev1","update_id":1,"id":"1","type":2}"#,
        now(&app),
    );
    let (status, body, _) = send(&app, &hook, &again).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["duplicate"], true, "{body}");
    let kept = log(&app, &hook)
        .await
        .into_iter()
        .filter(|d| d["status"] != "refused")
        .count();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn standard_webhooks_and_svix_signed_deliveries() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn().await;
    let old = providers::whsec_secret();
    let new = providers::whsec_secret();
    // Two secrets: the sender rotates from one to the other.
    let hook = endpoint(&app, "standard", &[&new, &old], json!({})).await;
    let sign = |body: &str, ts: i64| {
        providers::sign(
            json!({"provider": "standard", "secret": old, "body": body, "timestamp": ts,
            "msg_id": format!("msg_{ts}_{}", body.len())}),
        )
    };
    let wrong = providers::sign(
        json!({"provider": "standard", "secret": providers::whsec_secret(), "body": "{}", "timestamp": now(&app)}),
    );
    check_provider(&app, &hook, sign, wrong, Some("webhook_timestamp_stale")).await;
    // The other secret, through the svix library and Svix's own header names.
    let svix = providers::sign(
        json!({"provider": "svix", "secret": new, "body": "{\"a\":1}", "timestamp": now(&app), "msg_id": "msg_svix_1"}),
    );
    let (status, body, _) = send(&app, &hook, &svix).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same webhook-id again is a duplicate.
    let (status, body, _) = send(&app, &hook, &svix).await;
    assert_eq!(
        (status, body["duplicate"].clone()),
        (StatusCode::OK, json!(true))
    );
}

#[tokio::test]
async fn discord_interactions_signed_by_pynacl() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn().await;
    let (seed, public_key) = providers::discord_keypair();
    let hook = endpoint(&app, "discord", &[&public_key], json!({})).await;
    let sign = |body: &str, ts: i64| {
        providers::sign(
            json!({"provider": "discord", "secret": seed, "body": body, "timestamp": ts}),
        )
    };
    let (other_seed, _) = providers::discord_keypair();
    let wrong = providers::sign(
        json!({"provider": "discord", "secret": other_seed, "body": "{\"type\":1}", "timestamp": now(&app)}),
    );
    check_provider(&app, &hook, sign, wrong.clone(), None).await;
    // PING: answered {"type":1} after verification; with a bad signature, 401.
    let ping = sign(r#"{"type":1,"id":"p1","application_id":"a"}"#, now(&app));
    let (status, body, ct) = send(&app, &hook, &ping).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"type": 1})));
    assert!(ct.starts_with("application/json"));
    let bad_ping = ping
        .clone()
        .with_header("X-Signature-Ed25519", &"0".repeat(128));
    assert_eq!(
        send(&app, &hook, &bad_ping).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(&app, &hook, &wrong).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn telegram_updates_with_the_secret_token() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn().await;
    // Keyward makes the secret token (passed to setWebhook).
    let created: Value = app
        .post("/v1/webhook-endpoints", &app.owner_token,
            json!({"provider": "telegram", "name": "bot", "destination": "http://127.0.0.1:9/app", "enabled": false}))
        .await
        .expect(StatusCode::CREATED);
    let token = created["generated_secret"].as_str().unwrap().to_owned();
    let hook = Hook {
        id: created["endpoint"]["id"].as_str().unwrap().to_owned(),
        url: created["endpoint"]["ingress_url"]
            .as_str()
            .unwrap()
            .to_owned(),
        handshakes_refused: false,
    };
    let sign = |body: &str, _ts: i64| {
        providers::sign(json!({"provider": "telegram", "secret": token, "body": body}))
    };
    let wrong =
        providers::sign(json!({"provider": "telegram", "secret": "not-the-token", "body": "{}"}));
    check_provider(&app, &hook, sign, wrong, None).await;
}

#[tokio::test]
async fn whatsapp_handshake_and_signed_payloads() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn().await;
    let hook = endpoint(
        &app,
        "whatsapp",
        &["test_app_secret"],
        json!({"verify_token": "my-verify-token"}),
    )
    .await;
    // Meta's GET handshake: the challenge exactly as sent; a wrong token 403.
    let ok = app
        .client
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=my-verify-token&hub.challenge=1158201444",
            hook.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let refused = app
        .client
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1",
            hook.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let hook = Hook {
        handshakes_refused: true,
        ..hook
    };
    let sign = |body: &str, _ts: i64| {
        providers::sign(json!({"provider": "whatsapp", "secret": "test_app_secret", "body": body}))
    };
    // The spec's vector, as Meta signs it.
    let vector = sign(
        r#"{"object":"whatsapp_business_account","entry":[{"id":"0","changes":[]}]}"#,
        0,
    );
    assert_eq!(
        vector.header("X-Hub-Signature-256"),
        Some("sha256=a37fa64f5d8354b552710ad1f2231eabc431936f4cb824b5dc6390568a05dede")
    );
    let wrong = providers::sign(json!({"provider": "whatsapp", "secret": "other", "body": "{}"}));
    check_provider(&app, &hook, sign, wrong, None).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_an_unknown_endpoint_404() {
    let app = TestApp::spawn_with_settings(|s| s.policy.webhooks.body_limit = 2048).await;
    let secret = keyward_webhooks::standard::Secret::generate();
    let hook = endpoint(
        &app,
        "standard",
        &[secret.expose_whsec().as_str()],
        json!({}),
    )
    .await;
    let big = vec![b'a'; 4096];
    let headers = super::standard_headers(&secret, "msg_big", now(&app), &big);
    let r = app
        .client
        .post(&hook.url)
        .headers(headers.clone())
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "webhook_body_too_large");
    // Without a Content-Length (chunked), the limit holds too.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut raw = format!(
        "POST /hooks/{} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        hook.id
    );
    for (name, value) in &headers {
        raw.push_str(&format!("{}: {}\r\n", name, value.to_str().unwrap()));
    }
    raw.push_str("\r\n");
    for chunk in big.chunks(512) {
        raw.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    raw.push_str("0\r\n\r\n");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = tcp.write_all(raw.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(log(&app, &hook).await.is_empty(), "nothing kept");
    let r = app
        .client
        .post(format!("{}/hooks/wh_nope", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_flood_of_forged_requests_is_answered_but_only_a_burst_is_kept() {
    let app = TestApp::spawn().await;
    let secret = keyward_webhooks::standard::Secret::generate();
    let hook = endpoint(
        &app,
        "standard",
        &[secret.expose_whsec().as_str()],
        json!({}),
    )
    .await;
    let other = keyward_webhooks::standard::Secret::generate();
    for i in 0..60 {
        let body = format!(r#"{{"n":{i}}}"#);
        let headers =
            super::standard_headers(&other, &format!("msg_{i}"), now(&app), body.as_bytes());
        let r = app
            .client
            .post(&hook.url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = log(&app, &hook)
        .await
        .iter()
        .filter(|d| d["status"] == "refused")
        .count();
    // A burst of 20 and about one a second after it (the loop takes well under 10 s).
    assert!((20..30).contains(&refused), "{refused} refusals kept of 60");
}
