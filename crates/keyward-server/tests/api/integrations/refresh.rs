//! Tokens that refresh themselves: once per connection however many callers race,
//! rotation persisted, an answer without a refresh token keeping the old one,
//! `invalid_grant` → needs_reauth, an unavailable provider → backoff → recovery, and
//! disconnecting revokes at the provider.

use super::Vault;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test]
async fn fifty_callers_on_an_expired_token_cause_one_refresh() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("user-1").await.status, StatusCode::OK);
    let before = v.tokens("user-1").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    v.app.clock.advance(hours(2));
    // Slow answers, so every caller arrives while the one refresh is running.
    v.provider.token_delay_ms(300).await;
    let v = Arc::new(v);
    let calls = (0..50).map(|_| {
        let v = v.clone();
        tokio::spawn(async move { v.tokens("user-1").await })
    });
    let mut tokens = std::collections::BTreeSet::new();
    for call in calls {
        let r = call.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokens.insert(r.body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1, "every caller got the one new token");
    assert!(!tokens.contains(&before));
    assert_eq!(
        v.grants("refresh_token").await,
        1,
        "exactly one refresh reached the provider"
    );
    v.provider.token_delay_ms(0).await;
    // The provider rotated the refresh token; reusing the old one would kill the grant
    // (oidc-provider revokes it), so a second refresh working proves the new one was kept.
    v.app.clock.advance(hours(2));
    let r = v.tokens("user-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(v.grants("refresh_token").await, 2);
    let seen = v.provider.stats().await["refresh_tokens_presented"].clone();
    let presented = seen.as_array().unwrap();
    assert_eq!(presented.len(), 2);
    assert_ne!(
        presented[0], presented[1],
        "the rotated refresh token was used"
    );
    let c = v.connection("user-1").await;
    assert_eq!(c["status"], "active");
    assert!(c["last_refreshed_at"].is_string());
}

#[tokio::test]
async fn an_answer_without_a_refresh_token_keeps_the_old_one() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    let connected_at = v.connection("u").await["connected_at"].clone();
    assert!(connected_at.is_string());
    v.app.clock.advance(chrono::Duration::minutes(1));
    v.provider.omit_refresh_token(true).await;
    let r = v
        .app
        .post("/v1/connections/u/refresh", v.token(), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["has_refresh_token"], true);
    v.provider.omit_refresh_token(false).await;
    let r = v
        .app
        .post("/v1/connections/u/refresh", v.token(), json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the old refresh token still works: {}",
        r.body
    );
    // Only a code exchange sets connected_at (what `keyward connect` waits for).
    assert_eq!(r.body["connected_at"], connected_at);
    assert_eq!(v.grants("refresh_token").await, 2);
}

#[tokio::test]
async fn a_dead_refresh_token_means_needs_reauth_without_retries() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    v.provider.revoke_all().await;
    v.app.clock.advance(hours(2));
    let r = v.tokens("u").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "connection_needs_reauth"),
        "{}",
        r.body
    );
    assert_eq!(
        v.grants("refresh_token").await,
        1,
        "no retry on invalid_grant"
    );
    let c = v.connection("u").await;
    assert_eq!(c["status"], "needs_reauth");
    assert_eq!(c["authenticated"], false);
    assert_eq!(c["last_error"]["code"], "invalid_grant");
    assert!(v
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "connection.needs_reauth"));
    // It stays so: no more requests to the provider.
    let r = v.tokens("u").await;
    assert_eq!(r.code(), "connection_needs_reauth");
    assert_eq!(v.grants("refresh_token").await, 1);
    // Connecting again makes it active.
    assert_eq!(v.connect("u").await.body["status"], "active");
}

#[tokio::test]
async fn an_unavailable_provider_is_retried_then_backed_off_then_recovered() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    // Three attempts (the first and two retries) all meet a 503.
    v.provider.fail_next(503, 3).await;
    v.app.clock.advance(hours(2));
    let r = v.tokens("u").await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "connection_refresh_failing"
        ),
        "{}",
        r.body
    );
    assert_eq!(v.provider.stats().await["failed_token_requests"], 3);
    let c = v.connection("u").await;
    assert_eq!(c["status"], "refresh_failing");
    assert_eq!(c["last_error"]["code"], "unavailable");
    // In backoff, callers do not hammer the provider.
    let r = v.tokens("u").await;
    assert_eq!(r.code(), "connection_refresh_failing");
    assert_eq!(v.provider.stats().await["failed_token_requests"], 3);
    assert_eq!(v.grants("refresh_token").await, 0);
    // After the backoff the background refresher succeeds, and the connection is active.
    v.app.clock.advance(chrono::Duration::seconds(31));
    let parallel = Arc::new(tokio::sync::Semaphore::new(4));
    let tried = keyward_server::integrations::refresh::pass(&v.app.state, &parallel)
        .await
        .unwrap();
    assert_eq!(tried, 1);
    let c = v.connection("u").await;
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(c["last_error"], serde_json::Value::Null);
    assert_eq!(v.grants("refresh_token").await, 1);
    let actions = v.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "connection.refresh_failed"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "connection.refresh"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_background_refresher_renews_ahead_of_expiry() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    let parallel = Arc::new(tokio::sync::Semaphore::new(4));
    let pass = || keyward_server::integrations::refresh::pass(&v.app.state, &parallel);
    assert_eq!(pass().await.unwrap(), 0, "an hour left: nothing due");
    // Within the five-minute margin of expiry.
    v.app.clock.advance(chrono::Duration::minutes(56));
    assert_eq!(pass().await.unwrap(), 1);
    assert_eq!(v.grants("refresh_token").await, 1);
    assert_eq!(pass().await.unwrap(), 0, "renewed: nothing due");
    let r = v.tokens("u").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        v.grants("refresh_token").await,
        1,
        "getTokens found it fresh"
    );
}

#[tokio::test]
async fn disconnecting_revokes_at_the_provider_then_erases() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    let access = v.tokens("u").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = v.app.delete("/v1/connections/u/tokens", v.token()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["revoked_at_provider"], true);
    assert_eq!(r.body["connection"]["status"], "revoked");
    assert!(v.provider.stats().await["revocations"].as_u64().unwrap() >= 1);
    let seen = v
        .provider
        .introspect(
            super::CLIENT_ID,
            &v.client_secret,
            "client_secret_basic",
            &access,
        )
        .await;
    assert_eq!(seen["active"], false, "{seen}");
    let stored = v
        .app
        .store
        .get_connection(&v.app.org_id().await, "u")
        .await
        .unwrap();
    assert!(stored.tokens.is_none(), "nothing of the tokens stays");
    let r = v.tokens("u").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "connection_not_active")
    );
    // Deleting removes the record.
    assert_eq!(
        v.app.delete("/v1/connections/u", v.token()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        v.app.get("/v1/connections/u", v.token()).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn short_lived_tokens_are_still_refreshed_once() {
    // Tokens of two minutes, shorter than the five-minute margin: the margin shrinks to
    // half their lifetime, and the callers of one refresh all take its answer.
    let Some(provider) = super::OAuthProvider::start_with_ttl(120).await else {
        return;
    };
    let client_secret = keyward_core::base62::random(32);
    let cfg = super::config(&provider, &client_secret);
    let app = crate::common::TestApp::spawn_with_settings(|s| s.policy.integrations = cfg).await;
    provider
        .add_client(
            super::CLIENT_ID,
            &client_secret,
            &[super::APP_CALLBACK],
            "client_secret_basic",
        )
        .await;
    let v = Arc::new(Vault {
        app,
        provider,
        client_secret,
    });
    assert_eq!(v.connect("short").await.status, StatusCode::OK);
    assert_eq!(v.tokens("short").await.status, StatusCode::OK);
    assert_eq!(
        v.grants("refresh_token").await,
        0,
        "a fresh two-minute token is fresh"
    );
    v.app.clock.advance(chrono::Duration::seconds(90));
    v.provider.token_delay_ms(200).await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let v = v.clone();
            tokio::spawn(async move { v.tokens("short").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().status, StatusCode::OK);
    }
    assert_eq!(
        v.grants("refresh_token").await,
        1,
        "one refresh for ten callers"
    );
}
