//! How every kind of failure is sorted, and that none of them shows a secret.

use crate::provider;
use crate::server::{closed_port, random, Server};
use keyward_core::pkce::CodeVerifier;
use keyward_oauth::{OAuthClient, Provider, TokenError};
use secrecy::SecretString;
use std::sync::Arc;

fn acme(base: &str, secret: &str) -> Arc<Provider> {
    provider(
        &format!(
            "acme:\n  credentials: {{client_id: cid, client_secret: {secret}}}\n  oauth:\n    authorize_url: {base}/authorize\n    token_url: {base}/token\n    revoke_url: {base}/revoke\n"
        ),
        "acme",
    )
}

async fn refresh_answered(status: u16, content_type: &'static str, body: &str) -> TokenError {
    let server = Server::start().await;
    let p = acme(&server.base, "s3cr3t");
    server.reply_as(status, content_type, body);
    OAuthClient::new()
        .refresh(&p, &SecretString::from("rt".to_owned()))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn server_errors_and_throttling_are_retryable() {
    for (status, body) in [
        (503, "<html>down</html>"),
        (500, r#"{"error":"invalid_grant"}"#),
        (429, ""),
    ] {
        let err = refresh_answered(status, "text/html", body).await;
        assert!(
            err.is_retryable() && !err.is_invalid_grant(),
            "{status}: {err:?}"
        );
        assert_eq!(err.code(), "unavailable");
        assert_eq!(
            err.to_string(),
            format!("the provider is unavailable: HTTP {status}")
        );
    }
}

#[tokio::test]
async fn a_closed_port_is_retryable() {
    let base = format!("http://127.0.0.1:{}", closed_port().await);
    let p = acme(&base, "s3cr3t");
    let err = OAuthClient::new()
        .exchange_code(
            &p,
            "code",
            "http://127.0.0.1/cb",
            Some(&CodeVerifier::generate()),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(
        err,
        TokenError::Unavailable {
            reason: "could not connect".into()
        }
    );
}

#[tokio::test]
async fn temporarily_unavailable_and_server_error_codes_are_retryable() {
    for code in ["temporarily_unavailable", "server_error"] {
        let err =
            refresh_answered(400, "application/json", &format!(r#"{{"error":"{code}"}}"#)).await;
        assert!(err.is_retryable(), "{code}: {err:?}");
    }
}

#[tokio::test]
async fn invalid_grant_is_final() {
    let err = refresh_answered(
        400,
        "application/json",
        r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
    )
    .await;
    assert!(err.is_invalid_grant() && !err.is_retryable());
    assert_eq!(err.code(), "invalid_grant");
    let err = refresh_answered(401, "application/json", r#"{"error":"invalid_client"}"#).await;
    assert_eq!(
        err,
        TokenError::Provider {
            status: 401,
            code: "invalid_client".into(),
            description: None
        }
    );
    // An error in a 200 (some providers) is still an error.
    let err = refresh_answered(200, "application/json", r#"{"error":"invalid_grant"}"#).await;
    assert!(err.is_invalid_grant(), "{err:?}");
}

#[tokio::test]
async fn answers_that_are_not_tokens_are_malformed() {
    for (status, body) in [
        (200, r#"{"token_type":"Bearer"}"#),
        (200, r#"{"access_token":"a"}"#),
        (200, "access_token=a&token_type=bearer"),
        (
            200,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
        ),
        (404, "<html>not found</html>"),
        (302, ""),
        (400, r#"{"message":"no code here"}"#),
    ] {
        let err = refresh_answered(status, "application/json", body).await;
        assert_eq!(err.code(), "malformed", "{status} {body}: {err:?}");
        assert!(!err.is_retryable());
    }
    let huge = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "a".repeat(70_000)
    );
    let err = refresh_answered(200, "application/json", &huge).await;
    assert!(err.to_string().contains("64 KiB"), "{err}");
}

#[tokio::test]
async fn no_token_or_secret_shows_in_debug_or_display() {
    let server = Server::start().await;
    let client_secret = random("cs");
    let p = acme(&server.base, &client_secret);
    assert!(!format!("{p:?}").contains(&client_secret));
    let client = OAuthClient::new();
    let (access, refresh) = (random("at"), random("rt"));

    server.reply(
        200,
        format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","refresh_token":"{refresh}"}}"#
        ),
    );
    let answer = client
        .refresh(&p, &SecretString::from(refresh.clone()))
        .await
        .unwrap();
    let debug = format!("{answer:?}");
    assert!(
        !debug.contains(&access) && !debug.contains(&refresh),
        "{debug}"
    );
    assert!(debug.contains("[REDACTED]"));

    // Providers that echo what they were sent: blanked out.
    let code = random("code");
    let verifier = CodeVerifier::generate();
    let echo = |sent: &str, verifier: &str| {
        format!(
            r#"{{"error":"invalid_grant {sent}","error_description":"bad grant {sent} verifier {verifier} secret {client_secret}\r\n\u001b[31m"}}"#
        )
    };
    server.reply(400, echo(&code, verifier.expose_secret()));
    let mut errors = vec![client
        .exchange_code(&p, &code, "http://127.0.0.1/cb", Some(&verifier))
        .await
        .unwrap_err()];
    server.reply(400, echo(&refresh, ""));
    errors.push(
        client
            .refresh(&p, &SecretString::from(refresh.clone()))
            .await
            .unwrap_err(),
    );
    server.reply(400, echo(&access, ""));
    errors.push(
        client
            .revoke(&p, &SecretString::from(access.clone()), "access_token")
            .await
            .unwrap_err(),
    );
    server.reply(503, "");
    errors.push(
        client
            .refresh(&p, &SecretString::from(refresh.clone()))
            .await
            .unwrap_err(),
    );
    server.reply(200, "{}");
    errors.push(
        client
            .refresh(&p, &SecretString::from(refresh.clone()))
            .await
            .unwrap_err(),
    );
    for err in &errors {
        for text in [err.to_string(), format!("{err:?}")] {
            for secret in [
                &access,
                &refresh,
                &code,
                &client_secret,
                &verifier.expose_secret().to_owned(),
            ] {
                assert!(!text.contains(secret.as_str()), "{text}");
            }
            assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
        }
    }
    assert!(
        errors[0].to_string().contains("[REDACTED]"),
        "{}",
        errors[0]
    );
}
