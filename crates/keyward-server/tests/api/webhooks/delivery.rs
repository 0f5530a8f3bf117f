//! Delivery to the app: every verified event reaches the destination re-signed with
//! Standard Webhooks (checked there by the `standardwebhooks` library), with the
//! provider's name and event id in `x-keyward-*` headers; retried through a destination's
//! outage and delivered once it is back; failed after the schedule, replayed; an endpoint
//! failing for its whole `disable_after` disabled and audited; two nodes on one
//! PostgreSQL database deliver each event once.

use crate::common::providers::{self, Receiver};
use crate::common::TestApp;
use keyward_core::{Clock, ManualClock};
use keyward_server::{Application, Settings};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn fast(s: &mut Settings) {
    s.policy.webhooks.schedule = vec![
        Duration::from_millis(100),
        Duration::from_millis(200),
        Duration::from_millis(300),
    ];
    s.policy.webhooks.poll_interval = Duration::from_millis(20);
    s.policy.webhooks.timeout = Duration::from_secs(2);
    // The receiver is on loopback.
    s.policy.webhooks.allow_private_destinations = true;
}

/// A Slack endpoint delivering to `receiver`, which is told Keyward's signing secret.
async fn slack_endpoint(app: &TestApp, receiver: &Receiver, secret: &str) -> (String, String) {
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "slack", "name": "support", "destination": receiver.url("/slack"),
                "secrets": [secret]}),
        )
        .await
        .expect(StatusCode::CREATED);
    receiver
        .set_secrets(&[created["signing_secret"].as_str().unwrap()])
        .await;
    (
        created["endpoint"]["id"].as_str().unwrap().to_owned(),
        created["endpoint"]["ingress_url"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

async fn post_signed(app: &TestApp, url: &str, signed: &providers::Signed) -> Value {
    let r = app
        .client
        .post(url)
        .headers(signed.header_map())
        .body(signed.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn slack_events(secret: &str, n: usize, now: i64) -> Vec<providers::Signed> {
    providers::sign_batch(
        (0..n)
            .map(|i| {
                json!({"provider": "slack", "secret": secret, "timestamp": now,
                    "body": format!(r#"{{"type":"event_callback","event_id":"Ev{i:04}","event":{{"type":"message","text":"m{i}"}}}}"#)})
            })
            .collect(),
    )
}

/// Each webhook-id once: what a receiver deduplicating on it keeps.
fn unique(log: &providers::ReceivedLog) -> BTreeMap<String, String> {
    log.received
        .iter()
        .map(|d| (d.webhook_id.clone(), d.body.clone()))
        .collect()
}

#[tokio::test]
async fn events_reach_the_app_re_signed_through_an_outage() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(fast).await;
    let receiver = Receiver::start(&[]).await;
    let secret = keyward_core::base62::random(32);
    let (id, ingress) = slack_endpoint(&app, &receiver, &secret).await;

    // The app is down for its first 6 requests, then back.
    receiver.fail(503, 6).await;
    let now = app.clock.now().timestamp();
    let events = slack_events(&secret, 5, now);
    for e in &events {
        post_signed(&app, &ingress, e).await;
    }
    let log = receiver.wait_received(5, Duration::from_secs(20)).await;
    let got = unique(&log);
    assert_eq!(got.len(), 5, "every event arrived: {:?}", log.received);
    assert!(log.failed >= 6, "the outage was seen: {}", log.failed);
    assert_eq!(
        log.rejected, 0,
        "every delivery verified with standardwebhooks"
    );
    let bodies: Vec<&String> = got.values().collect();
    for e in &events {
        assert!(bodies.contains(&&e.body), "the body arrives unchanged");
    }
    let d = &log.received[0];
    assert_eq!(d.provider.as_deref(), Some("slack"));
    assert_eq!(d.endpoint.as_deref(), Some(id.as_str()));
    assert!(d.event_id.as_deref().unwrap().starts_with("Ev"));
    assert!(d.webhook_id.starts_with("msg_"));

    // The log shows the attempts: 503s first, then 200.
    let deliveries = app
        .get(
            &format!("/v1/webhook-endpoints/{id}/deliveries"),
            &app.owner_token,
        )
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(deliveries.len(), 5);
    let retried = deliveries
        .iter()
        .find(|d| d["attempts"].as_u64() > Some(1))
        .unwrap();
    let one = app
        .get(
            &format!(
                "/v1/webhook-endpoints/{id}/deliveries/{}",
                retried["id"].as_str().unwrap()
            ),
            &app.owner_token,
        )
        .await
        .body;
    assert_eq!(one["status"], "delivered");
    let attempts = one["attempt_log"].as_array().unwrap();
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts.last().unwrap()["status_code"], 200);
    let endpoint = app
        .get(&format!("/v1/webhook-endpoints/{id}"), &app.owner_token)
        .await
        .body;
    assert_eq!(
        endpoint["failing_since"],
        Value::Null,
        "a success ends the streak"
    );
}

#[tokio::test]
async fn after_the_schedule_a_delivery_fails_and_is_replayed() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(fast).await;
    let receiver = Receiver::start(&[]).await;
    let secret = keyward_core::base62::random(32);
    let (id, ingress) = slack_endpoint(&app, &receiver, &secret).await;
    receiver.fail(500, -1).await;
    let e = &slack_events(&secret, 1, app.clock.now().timestamp())[0];
    let kept = post_signed(&app, &ingress, e).await;
    let msg = kept["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhook-endpoints/{id}/deliveries/{msg}");
    let mut d = Value::Null;
    for _ in 0..300 {
        d = app.get(&path, &app.owner_token).await.body;
        if d["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], 4, "the first attempt and the three retries");
    assert_eq!(d["last_status_code"], 500);
    // Pending deliveries are not replayed; failed ones are, with the same webhook-id.
    receiver.fail(200, 0).await;
    let replayed = app
        .post(&format!("{path}/replay"), &app.owner_token, json!({}))
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    let log = receiver.wait_received(1, Duration::from_secs(10)).await;
    assert_eq!(log.received[0].webhook_id, msg);
    assert_eq!(log.received[0].attempt, Some(5));
}

#[tokio::test]
async fn an_endpoint_failing_for_its_whole_window_is_disabled() {
    if !providers::available() {
        return;
    }
    let app = TestApp::spawn_live(|s| {
        fast(s);
        s.policy.webhooks.schedule = vec![Duration::from_millis(100); 20];
        s.policy.webhooks.disable_after = Duration::from_millis(600);
    })
    .await;
    let receiver = Receiver::start(&[]).await;
    let secret = keyward_core::base62::random(32);
    let (id, ingress) = slack_endpoint(&app, &receiver, &secret).await;
    receiver.fail(502, -1).await;
    let events = slack_events(&secret, 3, app.clock.now().timestamp());
    for e in &events[..2] {
        post_signed(&app, &ingress, e).await;
    }
    let mut endpoint = Value::Null;
    for _ in 0..300 {
        endpoint = app
            .get(&format!("/v1/webhook-endpoints/{id}"), &app.owner_token)
            .await
            .body;
        if endpoint["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
    assert!(endpoint["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("every delivery failed"));
    let audit = app
        .get("/v1/audit-log?limit=100", &app.owner_token)
        .await
        .body
        .to_string();
    assert!(
        audit.contains("webhook_endpoint.disable") && audit.contains("webhook deliverer"),
        "{audit}"
    );
    // What arrives now is kept, not sent; enabling and replaying delivers it.
    receiver.fail(200, 0).await;
    let late = post_signed(&app, &ingress, &events[2]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().await.received.is_empty());
    app.patch(
        &format!("/v1/webhook-endpoints/{id}"),
        &app.owner_token,
        json!({"enabled": true}),
    )
    .await
    .expect::<Value>(StatusCode::OK);
    let r: Value = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/replay"),
            &app.owner_token,
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(r["replayed"].as_u64().unwrap() >= 1, "{r}");
    let log = receiver.wait_received(3, Duration::from_secs(10)).await;
    let ids: Vec<String> = unique(&log).into_keys().collect();
    assert!(ids.contains(&late["id"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn two_nodes_on_postgres_deliver_each_event_once() {
    let Some(base) = keyward_store::testing::postgres_url_or_skip() else {
        return;
    };
    if !providers::available() {
        return;
    }
    let schema = keyward_store::testing::PgScratch::create(&base)
        .await
        .unwrap();
    let setup = keyward_store::connect(schema.url()).await.unwrap();
    setup.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let follow = Arc::downgrade(&clock);
    tokio::spawn(async move {
        while let Some(c) = follow.upgrade() {
            c.set(chrono::Utc::now());
            drop(c);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let (token, _) =
        keyward_server::bootstrap::bootstrap(setup.as_ref(), clock.as_ref(), "acme", "o@x.io")
            .await
            .unwrap();
    let token = token.expose_secret().to_owned();
    // Both nodes share the ring (an operator's config gives every node the same).
    let ring = keyward_server::integrations::Config::ephemeral();
    let mut nodes = vec![];
    for _ in 0..2 {
        let store = keyward_store::connect(schema.url()).await.unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: keyward_server::state::Policy {
                integrations: ring.clone(),
                ..Default::default()
            },
            ..Settings::default()
        };
        fast(&mut settings);
        let app = Application::build(settings, store, clock.clone() as Arc<dyn Clock>)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        nodes.push((base, tx, server));
    }
    let receiver = Receiver::start(&[]).await;
    // The app is slow, so both nodes' deliverers are busy at once.
    receiver.delay_ms(20).await;
    let http = reqwest::Client::new();
    let secret = keyward_core::base62::random(32);
    let created: Value = http
        .post(format!("{}/v1/webhook-endpoints", nodes[0].0))
        .bearer_auth(&token)
        .json(&json!({"provider": "slack", "name": "s", "destination": receiver.url("/s"), "secrets": [secret]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver
        .set_secrets(&[created["signing_secret"].as_str().unwrap()])
        .await;
    let id = created["endpoint"]["id"].as_str().unwrap();
    let events = slack_events(&secret, 60, clock.now().timestamp());
    for (i, e) in events.iter().enumerate() {
        let node = &nodes[i % 2].0;
        let r = http
            .post(format!("{node}/hooks/{id}"))
            .headers(e.header_map())
            .body(e.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let log = receiver.wait_received(60, Duration::from_secs(30)).await;
    assert_eq!(unique(&log).len(), 60, "every event");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = receiver.received().await;
    assert_eq!(log.received.len(), 60, "no event was delivered twice");
    for (_, tx, server) in nodes {
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn only_a_real_enable_or_a_new_destination_restarts_the_failure_clock() {
    let app = TestApp::spawn_live(fast).await;
    let secret = keyward_webhooks::standard::Secret::generate();
    // Nothing listens on port 9: every attempt fails.
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "standard", "name": "down", "destination": "http://127.0.0.1:9/app",
                "secrets": [secret.expose_whsec().as_str()]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let path = format!(
        "/v1/webhook-endpoints/{}",
        created["endpoint"]["id"].as_str().unwrap()
    );
    let ingress = created["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    super::send_standard(&app, &ingress, &secret).await;
    let mut since = Value::Null;
    for _ in 0..300 {
        since = app.get(&path, &app.owner_token).await.body["failing_since"].clone();
        if !since.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(since.is_string(), "a failed attempt starts the clock");
    // An edit that repeats `enabled: true` (as tools that send whole objects do) and a
    // rename leave it running…
    let same: Value = app
        .patch(
            &path,
            &app.owner_token,
            json!({"enabled": true, "name": "still down"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(same["failing_since"], since);
    let same: Value = app
        .patch(
            &path,
            &app.owner_token,
            json!({"destination": "http://127.0.0.1:9/app"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(same["failing_since"], since, "the same destination again");
    // … a new destination starts it again.
    let moved: Value = app
        .patch(
            &path,
            &app.owner_token,
            json!({"destination": "http://127.0.0.1:9/other"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["failing_since"], Value::Null);
}
