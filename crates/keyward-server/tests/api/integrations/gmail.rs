//! The "done when", with the built-in `gmail` as an operator configures it (the
//! seed's `integrations: gmail: {enabled, credentials}`), its endpoints pointed at the
//! local authorization server: Google's parameters (offline access, consent, granted
//! scopes, credentials in the body), short scope names, fresh tokens for as long as one
//! likes without refreshing by hand, and a dead refresh token turning the connection
//! into `needs_reauth`.

use super::{OAuthProvider, APP_CALLBACK};
use crate::common::TestApp;
use keyward_server::integrations::Config;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn gmail_connects_stays_fresh_and_turns_needs_reauth_when_its_refresh_token_dies() {
    let Some(provider) = OAuthProvider::start().await else {
        return;
    };
    let secret = keyward_core::base62::random(32);
    let yaml = format!(
        "gmail:\n  enabled: true\n  credentials:\n    client_id: gmail-client\n    client_secret: {secret}\n  oauth:\n    authorize_url: {}\n    token_url: {}\n    revoke_url: {}\n",
        provider.authorize_url, provider.token_url, provider.revoke_url
    );
    let parsed: keyward_oauth::IntegrationsConfig = serde_yaml::from_str(&yaml).unwrap();
    let mut cfg = Config::ephemeral();
    cfg.providers = keyward_oauth::providers(&parsed).unwrap();
    let app = TestApp::spawn_with_settings(|s| s.policy.integrations = cfg).await;
    // Google takes the client's credentials in the body.
    provider
        .add_client(
            "gmail-client",
            &secret,
            &[APP_CALLBACK],
            "client_secret_post",
        )
        .await;
    let t = app.owner_token.clone();
    let started = app
        .post(
            "/v1/integrations/gmail/authorize",
            &t,
            json!({"connection_id": "alice", "redirect_uri": APP_CALLBACK, "scopes": ["gmail.readonly", "gmail.send"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let url = url::Url::parse(started.body["url"].as_str().unwrap()).unwrap();
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("access_type"), Some("offline"));
    assert_eq!(get("prompt"), Some("consent"));
    assert_eq!(get("include_granted_scopes"), Some("true"));
    assert_eq!(
        get("scope"),
        Some("https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send")
    );
    assert_eq!(get("code_challenge_method"), Some("S256"));
    let back = provider.authorize(url.as_str(), APP_CALLBACK).await;
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in the redirect: {back}"));
    let done = app
        .post(
            "/v1/integrations/gmail/exchange",
            &t,
            json!({"code": code, "state": started.body["state"], "redirect_uri": APP_CALLBACK}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "active");

    // A day of reads, an hour apart: always a live token, refreshed by Keyward alone.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..24 {
        let r = app.get("/v1/connections/alice/tokens", &t).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let access = r.body["access_token"].as_str().unwrap().to_owned();
        let live = provider
            .introspect("gmail-client", &secret, "client_secret_post", &access)
            .await;
        assert_eq!(live["active"], true, "{live}");
        seen.insert(access);
        app.clock.advance(chrono::Duration::hours(1));
    }
    assert_eq!(seen.len(), 24, "a new token every hour");
    let stats = provider.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 23, "{stats}");
    assert_eq!(
        stats["rejected_client_auth"], 0,
        "credentials in the body, as Google wants"
    );

    // The person revokes Keyward's access at Google: the next refresh is invalid_grant.
    provider.revoke_all().await;
    let r = app.get("/v1/connections/alice/tokens", &t).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("connection_needs_reauth"))
    );
    let c = app.get("/v1/connections/alice", &t).await;
    assert_eq!(c.body["status"], "needs_reauth");
    assert_eq!(c.body["authenticated"], false);
}
