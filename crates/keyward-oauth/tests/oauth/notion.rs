//! Notion: owner=user, no PKCE, JSON bodies with Basic auth and a pinned version.

use crate::provider;
use crate::server::{random, Server};
use keyward_oauth::{OAuthClient, Revocation, TokenError, NOTION_VERSION};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

fn notion(base: &str, secret: &str) -> std::sync::Arc<keyward_oauth::Provider> {
    provider(
        &format!(
            "notion:\n  credentials: {{client_id: nid, client_secret: {secret}}}\n  oauth:\n    token_url: {base}/v1/oauth/token\n    revoke_url: {base}/v1/oauth/revoke\n"
        ),
        "notion",
    )
}

#[test]
fn the_authorization_url_asks_for_the_user_and_no_pkce() {
    let p = notion("http://localhost:1", "s");
    assert!(!p.pkce);
    assert_eq!(NOTION_VERSION, "2022-06-28");
    let scopes = p.full_scopes(&[]).unwrap();
    assert!(scopes.is_empty());
    let url = p.authorization_url("https://kw.example/cb", &scopes, "st", None);
    assert!(url
        .as_str()
        .starts_with("https://api.notion.com/v1/oauth/authorize?"));
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "nid");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["owner"], "user");
    assert_eq!(q["redirect_uri"], "https://kw.example/cb");
    assert_eq!(q["state"], "st");
    assert!(!q.contains_key("code_challenge") && !q.contains_key("code_challenge_method"));
    assert!(!q.contains_key("scope"));
}

#[tokio::test]
async fn the_token_request_is_json_with_basic_auth_and_the_version_header() {
    let server = Server::start().await;
    let secret = random("secret_");
    let p = notion(&server.base, &secret);
    server.reply(
        200,
        r#"{"access_token":"ntn_a","token_type":"bearer","refresh_token":"ntn_r","bot_id":"b","workspace_name":"W","owner":{"type":"user"}}"#,
    );
    let answer = OAuthClient::new()
        .exchange_code(&p, "c0de", "https://kw.example/cb", None)
        .await
        .unwrap();
    assert_eq!(answer.access_token.expose_secret(), "ntn_a");
    assert_eq!(answer.expires_in, None);
    assert_eq!(answer.refresh_token.unwrap().expose_secret(), "ntn_r");

    let r = server.last();
    assert_eq!(r.path, "/v1/oauth/token");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("notion-version"), Some("2022-06-28"));
    let basic = keyward_oauth_basic("nid", &secret);
    assert_eq!(r.header("authorization"), Some(basic.as_str()));
    assert_eq!(
        r.json(),
        serde_json::json!({"grant_type":"authorization_code","code":"c0de","redirect_uri":"https://kw.example/cb"})
    );
}

/// What the Authorization header must be: base64 of `id:secret` (both plain here).
fn keyward_oauth_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

#[tokio::test]
async fn notions_error_shape_is_an_invalid_grant() {
    let server = Server::start().await;
    let p = notion(&server.base, "s3cr3t-notion");
    server.reply(
        400,
        r#"{"object":"error","status":400,"code":"invalid_grant","message":"Invalid code: this code has been revoked.","request_id":"x"}"#,
    );
    let err = OAuthClient::new()
        .refresh(&p, &SecretString::from("ntn_r".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::Provider {
            status: 400,
            code: "invalid_grant".into(),
            description: Some("Invalid code: this code has been revoked.".into()),
        }
    );
    assert!(err.is_invalid_grant() && !err.is_retryable());
    assert_eq!(
        server.last().json(),
        serde_json::json!({"grant_type":"refresh_token","refresh_token":"ntn_r"})
    );
}

#[tokio::test]
async fn revocation_is_a_json_token() {
    let server = Server::start().await;
    let p = notion(&server.base, "s3cr3t-notion");
    server.reply(200, "{}");
    let outcome = OAuthClient::new()
        .revoke(&p, &SecretString::from("ntn_a".to_owned()), "access_token")
        .await
        .unwrap();
    assert_eq!(outcome, Revocation::Revoked);
    let r = server.last();
    assert_eq!(r.path, "/v1/oauth/revoke");
    assert_eq!(r.json(), serde_json::json!({"token":"ntn_a"}));
    assert_eq!(r.header("notion-version"), Some("2022-06-28"));
    assert!(r.header("authorization").unwrap().starts_with("Basic "));
}
