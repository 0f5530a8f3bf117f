//! Regressions found by a hostile review of the endpoints' API and keyward.yaml: short
//! secrets, the lifecycle of endpoints from the file (deleted once dropped, enabled
//! again after failures, checked like API ones, unchanged when the file is, two nodes
//! starting together), replays of refused deliveries, bounded signing secrets, private
//! destinations, invisible names, and a delivery loop through Keyward's own ingress.

use super::standard_headers;
use crate::common::TestApp;
use keyward_core::Clock;
use keyward_oauth::SecretText;
use keyward_server::webhooks::{sync, ConfigEndpoint, WebhookProvider};
use keyward_webhooks::standard::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

fn config_endpoint(org: &str, id: &str) -> ConfigEndpoint {
    ConfigEndpoint {
        id: id.into(),
        org: org.into(),
        provider: WebhookProvider::Slack,
        name: "from yaml".into(),
        workspace: None,
        destination: "http://127.0.0.1:9/hooks/slack".into(),
        enabled: true,
        secrets: vec![SecretText::new("8f742231b10e8888abcd99yyyzzz85a5")],
        verify_token: None,
        signing_secret: None,
    }
}

async fn apply(app: &TestApp, endpoints: &[ConfigEndpoint]) -> Result<(), String> {
    sync::apply(
        app.store.as_ref(),
        app.state.vault.ring(),
        endpoints,
        true,
        app.clock.now(),
    )
    .await
}

/// Listings show the first four characters of every provider secret; a short Telegram
/// secret token (1 to 256 characters are accepted) or Slack secret is then shown whole
/// (or mostly) to everyone with `webhooks:read`.
#[tokio::test]
async fn a_short_secret_is_not_shown_whole_in_its_prefix() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let created: Value = app
        .post(
            "/v1/webhook-endpoints",
            t,
            json!({"provider": "telegram", "name": "tg", "destination": "https://app.example.com/tg",
                "secrets": ["abcd"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = created["endpoint"]["id"].as_str().unwrap();
    let shown = app.get(&format!("/v1/webhook-endpoints/{id}"), t).await;
    let prefix = shown.body["secrets"][0]["prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !prefix.contains("abcd"),
        "the whole secret token is in the listing: {prefix}"
    );
}

/// An endpoint removed from keyward.yaml is disabled ("keeps its delivery log until
/// deleted", says the sync), but the API refuses to delete it (managed_by config), so
/// it can never be deleted, and its ingress keeps verifying and storing events.
#[tokio::test]
async fn an_endpoint_removed_from_the_file_can_be_deleted() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    apply(&app, &[config_endpoint(&org, "slack")])
        .await
        .unwrap();
    apply(&app, &[]).await.unwrap();
    let shown = app
        .get("/v1/webhook-endpoints/slack", &app.owner_token)
        .await;
    assert_eq!(shown.body["status"], "disabled", "{}", shown.body);
    let r = app
        .delete("/v1/webhook-endpoints/slack", &app.owner_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

/// A config endpoint disabled by the deliverer after a day of failures cannot be
/// enabled again through the API (409 managed by config), though the docs say
/// `keyward webhooks enable ID`.
#[tokio::test]
async fn a_config_endpoint_disabled_for_failures_can_be_enabled_again() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    apply(&app, &[config_endpoint(&org, "slack")])
        .await
        .unwrap();
    // What the deliverer does after `disable_after` of failures.
    let failing = app
        .store
        .webhooks()
        .find_webhook_endpoint("slack")
        .await
        .unwrap();
    assert!(failing.enabled);
    let patch = keyward_store::WebhookEndpointPatch {
        enabled: Some(false),
        disabled_reason: Some("every delivery failed since …".into()),
        ..Default::default()
    };
    let audit = keyward_store::NewAuditEvent {
        org_id: org.clone(),
        at: app.clock.now(),
        actor: keyward_server::webhooks::deliver::deliverer(),
        action: "webhook_endpoint.disable".into(),
        target_type: "webhook_endpoint".into(),
        target_id: "slack".into(),
        source_ip: None,
        details: json!({}),
    };
    app.store
        .webhooks()
        .update_webhook_endpoint(&org, "slack", patch, audit)
        .await
        .unwrap();
    let r = app
        .patch(
            "/v1/webhook-endpoints/slack",
            &app.owner_token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// keyward.yaml's `signing_secret` is not checked: a value that is no `whsec_` secret
/// is accepted at start, and every delivery then goes out with an empty
/// `webhook-signature` (the deliverer drops secrets that do not parse).
#[tokio::test]
async fn a_bad_signing_secret_in_the_file_is_refused_at_start() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let mut c = config_endpoint(&org, "slack");
    c.signing_secret = Some(SecretText::new("not-a-whsec-secret"));
    assert!(
        apply(&app, &[c]).await.is_err(),
        "a signing secret that cannot sign was accepted"
    );
}

/// Nor is the name, nor that the workspace is the organization's (the API checks both).
#[tokio::test]
async fn a_config_endpoint_is_checked_like_an_api_one() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let mut bad_name = config_endpoint(&org, "bad-name");
    bad_name.name = format!("evil\u{1b}[2J{}", "x".repeat(5000));
    let mut bad_ws = config_endpoint(&org, "bad-ws");
    bad_ws.workspace = Some("ws_of_nobody".into());
    for c in [bad_name, bad_ws] {
        let id = c.id.clone();
        assert!(
            apply(&app, &[c]).await.is_err(),
            "{id}: accepted from keyward.yaml though the API refuses it"
        );
    }
}

/// With `signing_secret` in the file, every start rewrites the endpoint (a new version,
/// an audit event "webhook_endpoint.update" each time), which also undoes any
/// rotation made through the API without an overlap, and makes nodes that start at the
/// same time fail with changed_meanwhile.
#[tokio::test]
async fn an_unchanged_file_changes_nothing_at_start() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let mut c = config_endpoint(&org, "slack");
    c.signing_secret = Some(SecretText::new(
        Secret::generate().expose_whsec().to_string(),
    ));
    apply(&app, std::slice::from_ref(&c)).await.unwrap();
    let before = app
        .store
        .webhooks()
        .find_webhook_endpoint("slack")
        .await
        .unwrap();
    apply(&app, std::slice::from_ref(&c)).await.unwrap();
    let after = app
        .store
        .webhooks()
        .find_webhook_endpoint("slack")
        .await
        .unwrap();
    assert_eq!(
        before.version, after.version,
        "an unchanged keyward.yaml rewrote the endpoint"
    );
}

/// Two nodes starting at once on one database (PostgreSQL) both create the file's
/// endpoint; the loser's `create_webhook_endpoint` fails with a duplicate, and
/// `run_until_stopped` fails the whole start.
#[tokio::test]
async fn nodes_starting_together_both_start() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    for round in 0..20 {
        let c = config_endpoint(&org, &format!("slack-{round}"));
        let (a, b) = tokio::join!(
            apply(&app, std::slice::from_ref(&c)),
            apply(&app, std::slice::from_ref(&c))
        );
        assert!(
            a.is_ok() && b.is_ok(),
            "round {round}: a node failed to start: {a:?} {b:?}"
        );
    }
}

/// A refused request is listed as a delivery, but replaying it answers 404
/// delivery_not_found, as if it did not exist.
#[tokio::test]
async fn replaying_a_refused_delivery_says_why() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (body, _) = standard_endpoint_body_org();
    let created: Value = app
        .post("/v1/webhook-endpoints", t, body)
        .await
        .expect(StatusCode::CREATED);
    let id = created["endpoint"]["id"].as_str().unwrap();
    let ingress = created["endpoint"]["ingress_url"].as_str().unwrap();
    let wrong = Secret::generate();
    let r = app
        .client
        .post(ingress)
        .headers(standard_headers(
            &wrong,
            "msg_x",
            app.clock.now().timestamp(),
            b"{}",
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let listed = app
        .get(&format!("/v1/webhook-endpoints/{id}/deliveries"), t)
        .await;
    let d = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed.body["data"][0]["status"], "refused");
    let r = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/deliveries/{d}/replay"),
            t,
            json!({}),
        )
        .await;
    assert_ne!(
        r.code(),
        "delivery_not_found",
        "the delivery is listed; a replay of it is refused as not found: {}",
        r.body
    );
}

fn standard_endpoint_body_org() -> (Value, Secret) {
    let secret = Secret::generate();
    let body = json!({
        "provider": "standard", "name": "fixture",
        "destination": "http://127.0.0.1:9/hooks", "enabled": false,
        "secrets": [secret.expose_whsec().as_str()],
    });
    (body, secret)
}

/// Every rotation keeps every secret still in its overlap: rotating again and again
/// grows the list without bound, and each delivery carries one signature per secret.
#[tokio::test]
async fn rotations_keep_a_bounded_number_of_signing_secrets() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (body, _) = standard_endpoint_body_org();
    let created: Value = app
        .post("/v1/webhook-endpoints", t, body)
        .await
        .expect(StatusCode::CREATED);
    let id = created["endpoint"]["id"].as_str().unwrap();
    let mut last = Value::Null;
    for _ in 0..20 {
        last = app
            .post(
                &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
                t,
                json!({"overlap_secs": 604800}),
            )
            .await
            .expect(StatusCode::OK);
    }
    let n = last["endpoint"]["signing_secrets"]
        .as_array()
        .unwrap()
        .len();
    assert!(n <= 5, "{n} signing secrets sign every delivery");
}

/// Any organization's admin (and anyone may found an organization by default) can point
/// a destination at the server's own network and read, from the delivery log, whether a
/// port is open and what a service answers: a blind-POST SSRF with a status oracle.
/// Expected fix: private, loopback and link-local destinations refused unless the
/// operator allows them (`webhooks.allow_private_destinations`).
#[tokio::test]
async fn a_destination_on_the_servers_own_network_is_refused_by_default() {
    let app = TestApp::spawn_with_settings(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
        s.policy.webhooks.schedule = vec![];
        // The default (the suite's servers allow loopback for their receivers).
        s.policy.webhooks.allow_private_destinations = false;
    })
    .await;
    // A tenant of its own organization.
    let org: Value = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "tenant"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let tenant = org["token"]["key"].as_str().unwrap().to_owned();
    let secret = Secret::generate();
    // Keyward's own API, as an internal service of the host.
    let internal = format!("{}/v1/keys", app.base);
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &tenant,
            json!({"provider": "standard", "name": "probe", "destination": internal,
                "secrets": [secret.expose_whsec().as_str()]}),
        )
        .await;
    if r.status == StatusCode::CREATED {
        let id = r.body["endpoint"]["id"].as_str().unwrap().to_owned();
        let ingress = r.body["endpoint"]["ingress_url"]
            .as_str()
            .unwrap()
            .to_owned();
        super::send_standard(&app, &ingress, &secret).await;
        let mut seen = Value::Null;
        for _ in 0..200 {
            let l = app
                .get(&format!("/v1/webhook-endpoints/{id}/deliveries"), &tenant)
                .await;
            if l.body["data"][0]["attempts"].as_u64().unwrap_or(0) > 0 {
                seen = l.body["data"][0].clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("a tenant's destination reached the server's own network; its log says: {seen}");
    }
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

/// Names may hold invisible and direction-changing characters (`char::is_control`
/// covers Cc only), which make one endpoint look like another in the console and CLI.
#[tokio::test]
async fn a_name_with_bidi_overrides_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "slack", "name": "support\u{202E}kcals\u{200B}", "destination": "https://app.example.com/h",
                "secrets": ["s3cret-value-long-enough"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

/// Two Standard Webhooks endpoints whose destinations are each other's ingress, each
/// checking the other's signing secret: every delivery is a new verified event with a
/// new `webhook-id`, delivered again, for ever. One event sent by a tenant keeps the
/// shared deliverer and database busy until someone notices.
#[tokio::test]
async fn endpoints_cannot_deliver_to_keywards_own_ingress() {
    let app = TestApp::spawn_with_settings(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
    })
    .await;
    let t = &app.owner_token;
    let placeholder = Secret::generate();
    let a: Value = app
        .post(
            "/v1/webhook-endpoints",
            t,
            json!({"provider": "standard", "name": "a", "destination": "http://127.0.0.1:9/x",
                "secrets": [placeholder.expose_whsec().as_str()]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let a_id = a["endpoint"]["id"].as_str().unwrap().to_owned();
    let a_ingress = a["endpoint"]["ingress_url"].as_str().unwrap().to_owned();
    let b = app
        .post(
            "/v1/webhook-endpoints",
            t,
            json!({"provider": "standard", "name": "b", "destination": a_ingress,
                "secrets": [a["signing_secret"]]}),
        )
        .await;
    if b.status != StatusCode::CREATED {
        return; // refused: fixed
    }
    let b_ingress = b.body["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_signing = b.body["signing_secret"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/v1/webhook-endpoints/{a_id}"),
        t,
        json!({"destination": b_ingress, "secrets": [b_signing.clone()]}),
    )
    .await
    .expect::<Value>(StatusCode::OK);
    let secret = Secret::parse(&b_signing).unwrap();
    super::send_standard(&app, &a_ingress, &secret).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{a_id}/deliveries?limit=100"),
            t,
        )
        .await;
    let n = log.body["data"].as_array().unwrap().len();
    assert!(
        n <= 1,
        "one event sent, {n} events received by endpoint a: a delivery loop"
    );
}
