//! Gmail, Google Calendar and Google Drive: Google's parameters and its token endpoint.

use crate::server::{random, Server};
use crate::{provider, strings};
use keyward_core::pkce::CodeVerifier;
use keyward_oauth::{OAuthClient, Revocation};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

fn gmail(base: &str, secret: &str) -> std::sync::Arc<keyward_oauth::Provider> {
    provider(
        &format!(
            "gmail:\n  enabled: true\n  credentials: {{client_id: gid.apps.googleusercontent.com, client_secret: {secret}}}\n  oauth:\n    token_url: {base}/token\n    revoke_url: {base}/revoke\n"
        ),
        "gmail",
    )
}

#[test]
fn the_authorization_url_carries_googles_parameters_and_pkce() {
    let p = gmail("http://127.0.0.1:9", "s");
    assert_eq!(p.display_name, "Gmail");
    assert!(p.pkce);
    let scopes = p
        .full_scopes(&strings(&["gmail.readonly", "gmail.send"]))
        .unwrap();
    let verifier = CodeVerifier::generate();
    let challenge = verifier.challenge();
    let url = p.authorization_url(
        "https://keyward.example/v1/oauth/callback",
        &scopes,
        "state-123",
        Some(&challenge),
    );
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        "https://accounts.google.com/o/oauth2/v2/auth"
    );
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let want = [
        ("response_type", "code"),
        ("client_id", "gid.apps.googleusercontent.com"),
        ("redirect_uri", "https://keyward.example/v1/oauth/callback"),
        (
            "scope",
            "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send",
        ),
        ("state", "state-123"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ];
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(q, want);
    // Spaces between scopes are %20 or +, never a literal separator of our own.
    assert!(!url.as_str().contains(' '));
}

#[test]
fn short_names_map_and_only_configured_full_scopes_pass() {
    let drive = provider(
        "google_drive:\n  credentials: {client_id: i, client_secret: s}\n",
        "google_drive",
    );
    assert_eq!(
        drive.full_scopes(&[]).unwrap(),
        ["https://www.googleapis.com/auth/drive.file"]
    );
    assert_eq!(
        drive
            .full_scopes(&strings(&[
                "drive.metadata.readonly",
                "https://www.googleapis.com/auth/drive",
                "drive",
            ]))
            .unwrap(),
        [
            "https://www.googleapis.com/auth/drive.metadata.readonly",
            "https://www.googleapis.com/auth/drive",
        ]
    );
    // A scope the configuration does not name is refused, however full it looks: a
    // key that may connect Drive may not ask for all of Gmail.
    for wider in [
        "https://mail.google.com/",
        "openid:x",
        "https://www.googleapis.com/auth/drive x",
    ] {
        assert!(drive.full_scopes(&strings(&[wider])).is_err(), "{wider}");
    }
    let calendar = provider(
        "google_calendar:\n  credentials: {client_id: i, client_secret: s}\n",
        "google_calendar",
    );
    assert_eq!(
        calendar
            .full_scopes(&strings(&["calendar.events.readonly"]))
            .unwrap(),
        ["https://www.googleapis.com/auth/calendar.events.readonly"]
    );
    let err = calendar
        .full_scopes(&strings(&["calendar", "gmail.send"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`gmail.send`") && err.contains("google_calendar"),
        "{err}"
    );
}

#[tokio::test]
async fn the_code_exchange_sends_the_credentials_in_the_form_body_with_the_verifier() {
    let server = Server::start().await;
    let secret = random("GOCSPX");
    let p = gmail(&server.base, &secret);
    let (access, refresh) = (random("ya29"), random("1//0g"));
    server.reply(
        200,
        format!(
            r#"{{"access_token":"{access}","expires_in":3599,"refresh_token":"{refresh}","scope":"https://www.googleapis.com/auth/gmail.readonly","token_type":"Bearer","id_token":"x.y.z"}}"#
        ),
    );
    let verifier = CodeVerifier::generate();
    let answer = OAuthClient::new()
        .exchange_code(&p, "4/0Acode", "https://kw.example/cb", Some(&verifier))
        .await
        .unwrap();
    assert_eq!(answer.access_token.expose_secret(), access);
    assert_eq!(answer.refresh_token.unwrap().expose_secret(), refresh);
    assert_eq!(answer.token_type, "Bearer");
    assert_eq!(answer.expires_in, Some(3599));
    assert_eq!(
        answer.scope.as_deref(),
        Some("https://www.googleapis.com/auth/gmail.readonly")
    );

    let r = server.last();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/token"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.header("accept"), Some("application/json"));
    assert!(r.header("authorization").is_none());
    assert!(r.header("user-agent").unwrap().starts_with("keyward/"));
    let form = r.form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "4/0Acode");
    assert_eq!(form["redirect_uri"], "https://kw.example/cb");
    assert_eq!(form["code_verifier"], verifier.expose_secret());
    assert_eq!(form["client_id"], "gid.apps.googleusercontent.com");
    assert_eq!(form["client_secret"], secret);
    assert_eq!(form.len(), 6);
}

#[tokio::test]
async fn refresh_keeps_the_old_refresh_token_when_none_comes_back() {
    let server = Server::start().await;
    let p = gmail(&server.base, "s3cr3t");
    let client = OAuthClient::new();
    let old = SecretString::from(random("1//old"));

    server.reply(
        200,
        r#"{"access_token":"a1","token_type":"Bearer","expires_in":"3600"}"#,
    );
    let answer = client.refresh(&p, &old).await.unwrap();
    assert!(answer.refresh_token.is_none());
    assert_eq!(
        answer.expires_in,
        Some(3600),
        "a numeric string is accepted"
    );
    let form = server.last().form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], old.expose_secret());
    assert_eq!(form["client_secret"], "s3cr3t");
    assert!(!form.contains_key("code_verifier") && !form.contains_key("redirect_uri"));

    server.reply(
        200,
        r#"{"access_token":"a2","token_type":"bearer","refresh_token":"r2"}"#,
    );
    let answer = client.refresh(&p, &old).await.unwrap();
    assert_eq!(answer.refresh_token.unwrap().expose_secret(), "r2");
    assert_eq!(answer.expires_in, None);
}

#[tokio::test]
async fn revocation_posts_the_token_and_its_hint() {
    let server = Server::start().await;
    let p = gmail(&server.base, "s3cr3t");
    let token = SecretString::from(random("1//r"));
    server.reply(200, "{}");
    assert_eq!(
        OAuthClient::new()
            .revoke(&p, &token, "refresh_token")
            .await
            .unwrap(),
        Revocation::Revoked
    );
    let r = server.last();
    assert_eq!(r.path, "/revoke");
    let form = r.form();
    assert_eq!(form["token"], token.expose_secret());
    assert_eq!(form["token_type_hint"], "refresh_token");
    assert_eq!(form["client_id"], "gid.apps.googleusercontent.com");
    // The real endpoint, when not overridden.
    let real = provider(
        "gmail:\n  credentials: {client_id: i, client_secret: s}\n",
        "gmail",
    );
    assert_eq!(
        real.revoke_url.as_ref().unwrap().as_str(),
        "https://oauth2.googleapis.com/revoke"
    );
    assert_eq!(
        real.token_url.as_str(),
        "https://oauth2.googleapis.com/token"
    );
}
