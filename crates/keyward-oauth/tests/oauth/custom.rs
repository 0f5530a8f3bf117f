//! A provider Keyward does not know, described in keyward.yaml.

use crate::server::{random, Server};
use crate::{provider, strings};
use keyward_core::pkce::CodeVerifier;
use keyward_oauth::{BodyFormat, ClientAuth, OAuthClient, Revocation};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

fn acme(base: &str, secret: &str, body: &str, auth: &str) -> String {
    format!(
        r#"
acme:
  display_name: Acme CRM
  credentials:
    client_id: acme-client
    client_secret: {secret}
  settings: {{anything: [1, 2]}}
  oauth:
    authorize_url: {base}/oauth/authorize?tenant=t1
    token_url: {base}/oauth/token
    revoke_url: {base}/oauth/revoke
    scopes: {{read: "acme:read", write: "acme:write"}}
    default_scopes: [read]
    pkce: true
    token_body: {body}
    client_auth: {auth}
    authorize_params: {{audience: api}}
    token_headers: {{X-Acme-Version: "7"}}
    scope_separator: ","
"#
    )
}

#[tokio::test]
async fn json_body_with_the_credentials_in_it() {
    let server = Server::start().await;
    let secret = random("acme");
    let p = provider(&acme(&server.base, &secret, "json", "body"), "acme");
    assert_eq!(p.display_name, "Acme CRM");
    assert_eq!(
        (p.token_body, p.client_auth),
        (BodyFormat::Json, ClientAuth::Body)
    );

    let scopes = p.full_scopes(&strings(&["read", "write"])).unwrap();
    let verifier = CodeVerifier::generate();
    let url = p.authorization_url(
        "http://127.0.0.1:4000/cb",
        &scopes,
        "st",
        Some(&verifier.challenge()),
    );
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["tenant"], "t1", "the URL's own query is kept");
    assert_eq!(q["scope"], "acme:read,acme:write");
    assert_eq!(q["audience"], "api");
    assert_eq!(q["code_challenge_method"], "S256");

    server.reply(
        200,
        r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#,
    );
    let answer = OAuthClient::new()
        .exchange_code(&p, "cd", "http://127.0.0.1:4000/cb", Some(&verifier))
        .await
        .unwrap();
    assert_eq!(answer.expires_in, Some(60));
    let r = server.last();
    assert_eq!(r.path, "/oauth/token");
    assert!(r.header("authorization").is_none());
    assert_eq!(r.header("x-acme-version"), Some("7"));
    assert_eq!(
        r.json(),
        serde_json::json!({
            "grant_type": "authorization_code",
            "code": "cd",
            "redirect_uri": "http://127.0.0.1:4000/cb",
            "code_verifier": verifier.expose_secret(),
            "client_id": "acme-client",
            "client_secret": secret,
        })
    );
}

#[tokio::test]
async fn form_body_with_basic_auth_and_revocation() {
    let server = Server::start().await;
    let p = provider(&acme(&server.base, "p@ss word:x", "form", "basic"), "acme");
    let client = OAuthClient::new();
    server.reply(200, "");
    let token = SecretString::from(random("rt"));
    assert_eq!(
        client.revoke(&p, &token, "refresh_token").await.unwrap(),
        Revocation::Revoked
    );
    let r = server.last();
    assert_eq!(r.path, "/oauth/revoke");
    let form = r.form();
    assert_eq!(form["token"], token.expose_secret());
    assert_eq!(form["token_type_hint"], "refresh_token");
    assert_eq!(form.len(), 2, "no credentials in the body with basic auth");
    // The secret is form-urlencoded before base64 (RFC 6749 §2.3.1).
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("acme-client:p%40ss+word%3Ax")
    );
    assert_eq!(r.header("authorization"), Some(expected.as_str()));

    let bare = provider(
        "acme:\n  credentials: {client_id: i, client_secret: s}\n  oauth: {authorize_url: 'https://a.example/auth', token_url: 'https://a.example/token'}\n",
        "acme",
    );
    assert!(bare.revoke_url.is_none());
    assert_eq!(
        client.revoke(&bare, &token, "refresh_token").await.unwrap(),
        Revocation::NotSupported
    );
    assert_eq!(
        (bare.pkce, bare.client_auth, bare.token_body),
        (true, ClientAuth::Basic, BodyFormat::Form)
    );
    assert_eq!(bare.display_name, "acme");
    assert_eq!(server.requests().len(), 1, "nothing sent for NotSupported");
}
