//! Regressions found by a hostile review of the ingress and the deliverer: replays get
//! the whole schedule, short secrets show no prefix, metadata destinations are refused,
//! a keyward.yaml signing secret must be whsec_, odd event ids still deliver, stale
//! Discord timestamps are refused.

use super::delivery::fast;
use crate::common::providers::{self, Receiver};
use crate::common::TestApp;
use keyward_core::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn delivery_status(app: &TestApp, path: &str, want: &str, tries: usize) -> Value {
    let mut d = Value::Null;
    for _ in 0..tries {
        d = app.get(path, &app.owner_token).await.body;
        if d["status"] == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d
}

/// A replay is "deliver again": it should get the schedule's retries, not a single shot
/// (before the fix: `attempts` was kept, so `schedule.get(attempts)` was None and the first failed
/// attempt of the replay makes it `failed` at once).
#[tokio::test]
async fn review_a_replay_is_retried_on_the_schedule() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(fast).await;
    let receiver = Receiver::start(&[]).await;
    let secret = keyward_core::base62::random(32);
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "slack", "name": "s", "destination": receiver.url("/s"),
                "secrets": [secret]}),
        )
        .await
        .expect(StatusCode::CREATED);
    receiver
        .set_secrets(&[created["signing_secret"].as_str().unwrap()])
        .await;
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let ingress = created["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.fail(500, -1).await;
    let e = providers::sign(json!({"provider": "slack", "secret": secret,
        "timestamp": app.clock.now().timestamp(),
        "body": r#"{"type":"event_callback","event_id":"EvR1","event":{}}"#}));
    let r = app
        .client
        .post(&ingress)
        .headers(e.header_map())
        .body(e.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let msg = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/webhook-endpoints/{id}/deliveries/{msg}");
    let d = delivery_status(&app, &path, "failed", 300).await;
    assert_eq!(d["status"], "failed", "{d}");
    // The app is back but still flaky: its next answer is a 500, then 200s.
    receiver.fail(500, 1).await;
    let replayed = app
        .post(&format!("{path}/replay"), &app.owner_token, json!({}))
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    let d = delivery_status(&app, &path, "delivered", 250).await;
    assert_eq!(
        d["status"], "delivered",
        "a replay whose first attempt fails is retried: {d}"
    );
}

/// Listings show "a prefix only" of a provider's secret: for a short secret the
/// four-character prefix is the whole secret (also stored in clear in `hints`).
#[tokio::test]
async fn review_a_short_secret_is_not_shown_whole() {
    let app = TestApp::spawn().await;
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "telegram", "name": "t", "destination": "http://127.0.0.1:9/x",
                "enabled": false, "secrets": ["ab12"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let shown = created["endpoint"]["secrets"][0]["prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !shown.contains("ab12"),
        "the whole secret is shown as its prefix: {shown:?}"
    );
}

/// A destination on the cloud metadata address (link-local) lets anyone with
/// `webhooks:write` make the server POST chosen bodies there and read the status code
/// and latency in the delivery log.
#[tokio::test]
async fn review_a_metadata_destination_is_refused() {
    let app = TestApp::spawn().await;
    for dest in [
        "http://169.254.169.254/latest/api/token",
        "http://[fd00:ec2::254]/latest",
        "http://0.0.0.0:2379/v3/kv/put",
    ] {
        let r = app
            .post(
                "/v1/webhook-endpoints",
                &app.owner_token,
                json!({"provider": "standard", "name": "x", "destination": dest,
                    "enabled": false, "secrets": [providers_free_whsec()]}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{dest} accepted: {}",
            r.body
        );
    }
}

fn providers_free_whsec() -> String {
    keyward_webhooks::standard::Secret::generate()
        .expose_whsec()
        .to_string()
}

/// keyward.yaml's `signing_secret` is not checked: a value that is not `whsec_…` is
/// accepted at start, and every delivery then goes out with an empty
/// `webhook-signature` (no secret parses).
#[tokio::test]
async fn review_a_config_signing_secret_must_be_whsec() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let endpoint = keyward_server::webhooks::ConfigEndpoint {
        id: "cfg-std".into(),
        org,
        provider: keyward_server::webhooks::WebhookProvider::Standard,
        name: "cfg".into(),
        workspace: None,
        destination: "http://127.0.0.1:9/x".into(),
        enabled: true,
        secrets: vec![keyward_oauth::SecretText::new(providers_free_whsec())],
        verify_token: None,
        signing_secret: Some(keyward_oauth::SecretText::new("my-app-secret")),
    };
    let applied = keyward_server::webhooks::sync::apply(
        app.store.as_ref(),
        app.state.vault.ring(),
        &[endpoint],
        true,
        app.clock.now(),
    )
    .await;
    assert!(
        applied.is_err(),
        "a signing secret that is not whsec_ was accepted"
    );
}

/// A verified event whose provider id holds a control character (a Telegram
/// `update_id` sent as a string with a newline) can never be delivered: the
/// `x-keyward-event-id` header is invalid, every attempt fails "request failed", and the
/// failures count towards disabling the endpoint.
#[tokio::test]
async fn review_an_event_id_with_a_newline_is_still_delivered() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(fast).await;
    let receiver = Receiver::start(&[]).await;
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "telegram", "name": "t", "destination": receiver.url("/t"),
                "secrets": ["tok_abc-123"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    receiver
        .set_secrets(&[created["signing_secret"].as_str().unwrap()])
        .await;
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let ingress = created["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .post(&ingress)
        .header("X-Telegram-Bot-Api-Secret-Token", "tok_abc-123")
        .header("content-type", "application/json")
        .body(r#"{"update_id":"7\nX-Injected: 1","message":{"text":"hi"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let msg = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/webhook-endpoints/{id}/deliveries/{msg}");
    let d = delivery_status(&app, &path, "delivered", 150).await;
    assert_eq!(d["status"], "delivered", "{d}");
}

/// Discord signs `X-Signature-Timestamp` with the body; main never checks it, so a
/// captured interaction is accepted again years later (after the dedup rows were purged:
/// a replay).
#[tokio::test]
async fn review_a_stale_discord_timestamp_is_refused() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(|_| {}).await;
    let (seed, public) = providers::discord_keypair();
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "discord", "name": "d", "destination": "http://127.0.0.1:9/x",
                "enabled": false, "secrets": [public]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ingress = created["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = app.clock.now().timestamp() - 3 * 365 * 86_400;
    let s = providers::sign(
        json!({"provider": "discord", "secret": seed, "timestamp": old,
        "body": r#"{"type":2,"id":"1111","data":{"name":"pay"}}"#}),
    );
    let r = app
        .client
        .post(&ingress)
        .headers(s.header_map())
        .body(s.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a 3-year-old signed interaction was accepted"
    );
}
