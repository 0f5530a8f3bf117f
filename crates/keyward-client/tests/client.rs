//! The SDK against a stand-in HTTP server on loopback: response shapes, the
//! deprecation signal that only legacy tokens get (the real server cannot issue one),
//! problem documents, and transport errors. The real server is exercised end to end by
//! `crates/keyward/tests/cli_client/`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use keyward_client::{ApiKey, Client, Error, ErrorCode, InvitationCode, KeyKind};
use serde_json::json;

const LEGACY: &str = "kw_ws_legacy";

async fn me(headers: HeaderMap) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let legacy = auth == format!("Bearer {LEGACY}");
    let body = json!({
        "name": "ws-token", "email": null, "owner": null,
        "org": {"id": "org_1", "name": "my-org"},
        "key": {"id": "key_1", "name": "ws-token", "prefix": "kw_ws_abcd",
                "kind": if legacy { "legacy_workspace" } else { "personal" },
                "scope": {"type": "organization"}, "permissions": ["*:read"],
                "created_at": "2026-01-01T00:00:00Z", "expires_at": null, "status": "active"}
    });
    let mut response = axum::Json(body).into_response();
    if legacy {
        let h = response.headers_mut();
        h.insert("deprecation", "true".parse().unwrap());
        h.insert("sunset", "Wed, 01 Jul 2027 00:00:00 GMT".parse().unwrap());
    }
    response
}

async fn forbidden() -> impl IntoResponse {
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/problem+json")],
        json!({"type": "/problems/forbidden", "title": "Permission denied", "status": 403,
               "detail": "this API key lacks the permission keys:read", "code": "forbidden",
               "required_permission": "keys:read"})
        .to_string(),
    )
}

/// A code that passes the offline check (prefix, shape, checksum), made at run time.
static CODE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    keyward_core::invite::InviteCode::generate()
        .expose_secret()
        .to_owned()
});

/// `POST /v1/invitations/accept`: a new person's code works without a key; with a key,
/// the answer names the key it was given, so the test sees what was sent.
async fn accept(headers: HeaderMap, body: String) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    if body["code"] != CODE.as_str() {
        return (StatusCode::NOT_FOUND, "{}").into_response();
    }
    let key = match auth.as_deref() {
        None => "kw_pat_from_no_auth".to_owned(),
        Some(a) => format!("kw_pat_sent_{}", a.trim_start_matches("Bearer ")),
    };
    let created = "2026-01-01T00:00:00Z";
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "organization": {"id": "org_1", "name": "my-org"},
            "member": {"user_id": "usr_1", "email": "a@x.com", "role": "member", "agents": [],
                       "created_at": created},
            "token": {"key": key, "id": "key_1", "name": "a@x.com first token", "prefix": "kw_pat_abcd",
                      "kind": "personal", "environment": "live", "owner": null,
                      "scope": {"type": "organization"}, "permissions": ["*:read"], "metadata": null,
                      "status": "active", "created_at": created, "created_by": "x",
                      "last_used_at": null, "expires_at": null, "revoked_at": null,
                      "revoked_by": null, "rotated_from": null, "rotated_to": null}
        })),
    )
        .into_response()
}

async fn spawn() -> String {
    let app = Router::new()
        .route("/v1/me", get(me))
        .route("/v1/keys", get(forbidden))
        .route("/v1/invitations/accept", post(accept));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn legacy_tokens_carry_a_deprecation_signal() {
    let base = spawn().await;
    let client = Client::new(&base, ApiKey::new(LEGACY)).unwrap();
    let me = client.me().await.unwrap();
    assert_eq!(me.key.kind, KeyKind::LegacyWorkspace);
    let d = client.deprecation().expect("deprecation recorded");
    assert_eq!(d.deprecation, "true");
    assert_eq!(d.sunset.as_deref(), Some("Wed, 01 Jul 2027 00:00:00 GMT"));

    let modern = Client::new(&base, ApiKey::new("kw_pat_x")).unwrap();
    assert_eq!(modern.me().await.unwrap().key.kind, KeyKind::Personal);
    assert!(modern.deprecation().is_none());
}

#[tokio::test]
async fn problems_become_typed_errors() {
    let base = spawn().await;
    let client = Client::new(&base, ApiKey::new("kw_pat_x")).unwrap();
    let err = client.list_keys(&Default::default()).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.code, ErrorCode::Forbidden);
    assert_eq!(api.status, 403);
    assert!(api.is_auth());
    assert_eq!(api.required_permission.as_deref(), Some("keys:read"));
    // A route the stand-in does not have: no problem body, still a code.
    let err = client.get_key("key_x").await.unwrap_err();
    assert_eq!(err.code().unwrap().as_str(), "http_404");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_that_names_it() {
    // Bind then drop: the port is very likely closed now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(&format!("http://{addr}"), ApiKey::new("kw_pat_x")).unwrap();
    match client.me().await.unwrap_err() {
        Error::Connect { url, .. } => assert_eq!(url, format!("http://{addr}")),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn accepting_an_invitation_sends_only_the_token_asked_for() {
    let base = spawn().await;
    let code = InvitationCode::new(CODE.as_str());
    // No key at all: no Authorization header.
    let anonymous = Client::without_key(&base).unwrap();
    let accepted = anonymous.accept_invitation(&code, None).await.unwrap();
    assert_eq!(accepted.token.key.expose_secret(), "kw_pat_from_no_auth");
    assert_eq!(accepted.organization.name, "my-org");
    // The token given, not the client's own key.
    let client = Client::new(&base, ApiKey::new("kw_pat_own")).unwrap();
    let accepted = client
        .accept_invitation(&code, Some(&ApiKey::new("kw_pat_given")))
        .await
        .unwrap();
    assert_eq!(
        accepted.token.key.expose_secret(),
        "kw_pat_sent_kw_pat_given"
    );
    let accepted = client.accept_invitation(&code, None).await.unwrap();
    assert_eq!(accepted.token.key.expose_secret(), "kw_pat_from_no_auth");
}

#[test]
fn invitation_codes_are_checked_offline_and_never_shown() {
    let code = InvitationCode::parse(format!("  {}\n", *CODE)).unwrap();
    assert_eq!(code.expose_secret(), CODE.as_str());
    assert_eq!(format!("{code:?}"), "InvitationCode(kw_inv_[REDACTED])");
    let mut typo = CODE.clone();
    let other = if &typo[10..11] == "1" { "2" } else { "1" };
    typo.replace_range(10..11, other);
    assert!(InvitationCode::parse(typo).is_err());
    assert!(InvitationCode::parse(CODE.replace("kw_inv_", "kw_pat_")).is_err());
}

/// The console link carries the loopback port, the state, the challenge and the machine,
/// encoded, under the server's own path; decoding it gives them back.
#[test]
fn the_cli_login_link_is_the_console_page_with_the_query_encoded() {
    use keyward_client::api::CliLoginQuery;
    use keyward_client::pkce::{CodeVerifier, LoginState};
    let client = Client::without_key("https://keys.example.com/keyward/").unwrap();
    let query = CliLoginQuery {
        port: 49152,
        state: LoginState::generate().as_str().to_owned(),
        challenge: CodeVerifier::generate().challenge().as_str().to_owned(),
        machine: "Ana's laptop & co".into(),
    };
    let url = client.cli_login_url(&query);
    assert_eq!(url.path(), "/keyward/console/cli-login");
    assert!(
        url.as_str().contains("machine=Ana%27s+laptop+%26+co"),
        "{url}"
    );
    let back: CliLoginQuery = serde_urlencoded::from_str(url.query().unwrap()).unwrap();
    assert_eq!(back, query);
}
