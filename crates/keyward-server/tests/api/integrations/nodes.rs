//! Two nodes on one PostgreSQL database: 50 callers spread over both, on an expired
//! token, make exactly one refresh request reach the provider.

use super::oauth_provider::OAuthProvider;
use super::{config, APP_CALLBACK, CLIENT_ID, PROVIDER};
use keyward_core::{Clock, ManualClock};
use keyward_server::{Application, Settings};
use keyward_store::testing::{postgres_url_or_skip, PgScratch};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn two_nodes_refresh_a_connection_once() {
    let Some(base) = postgres_url_or_skip() else {
        return;
    };
    let Some(provider) = OAuthProvider::start().await else {
        return;
    };
    let schema = PgScratch::create(&base).await.unwrap();
    let setup = keyward_store::connect(schema.url()).await.unwrap();
    setup.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(crate::common::start_time()));
    let (token, _) =
        keyward_server::bootstrap::bootstrap(setup.as_ref(), clock.as_ref(), "acme", "o@x.io")
            .await
            .unwrap();
    let token = token.expose_secret().to_owned();
    let secret = keyward_core::base62::random(32);
    // Both nodes share the ring, as an operator's configuration gives every node.
    let cfg = config(&provider, &secret);
    let mut nodes = vec![];
    for _ in 0..2 {
        let store = keyward_store::connect(schema.url()).await.unwrap();
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: keyward_server::state::Policy {
                integrations: cfg.clone(),
                ..Default::default()
            },
            ..Settings::default()
        };
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
    provider
        .add_client(CLIENT_ID, &secret, &[APP_CALLBACK], "client_secret_basic")
        .await;
    let http = reqwest::Client::new();
    let post = |base: &str, path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let started: Value = post(
        &nodes[0].0,
        &format!("/v1/integrations/{PROVIDER}/authorize"),
        json!({"connection_id": "shared", "redirect_uri": APP_CALLBACK}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let to = provider
        .authorize(started["url"].as_str().unwrap(), APP_CALLBACK)
        .await;
    let url = url::Url::parse(&to).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let done = post(
        &nodes[1].0,
        &format!("/v1/integrations/{PROVIDER}/exchange"),
        json!({"code": code, "state": started["state"], "redirect_uri": APP_CALLBACK}),
    )
    .await
    .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    clock.advance(chrono::Duration::hours(2));
    provider.token_delay_ms(300).await;
    let mut calls = vec![];
    for i in 0..50 {
        let url = format!("{}/v1/connections/shared/tokens", nodes[i % 2].0);
        let req = http.get(url).bearer_auth(&token);
        calls.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut tokens = std::collections::BTreeSet::new();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.insert(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1);
    let stats = provider.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 1, "{stats}");
    for (_, tx, server) in nodes {
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
    setup.close().await;
}
