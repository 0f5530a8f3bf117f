//! `POST /v1/auth/cli/token`: a CLI login's code and its PKCE verifier make one working
//! personal access token of the person who approved it, named after the machine; a
//! wrong verifier, a used or expired code, or a person removed since approval make none.
//! (The approval itself is made in the store here, as the console's page does; the
//! whole flow through the console is `keyward`'s `cli_client` test.)

use crate::common::TestApp;
use chrono::Duration;
use keyward_core::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_code_and_its_verifier_make_a_working_token_named_after_the_machine() {
    let app = TestApp::spawn().await;
    let (member_token, user_id) = app.join("dev@company.com", "member", &[]).await;
    let (code, verifier) = app.approve_cli_login(&user_id, "dev-laptop").await;
    let r = app.exchange_cli_code(&code, &verifier).await;
    let created: Value = r.expect(StatusCode::CREATED);
    let token = created["key"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kw_pat_"), "{created}");
    assert_eq!(created["name"], "keyward CLI on dev-laptop");
    assert_eq!(created["kind"], "personal");
    assert_eq!(created["owner"]["id"], user_id.as_str());
    assert_eq!(created["created_by"], "dev@company.com");
    let expires = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(expires, app.clock.now() + Duration::days(90));

    // It works, it is the person's, and it is in their token list.
    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["email"], "dev@company.com");
    let listed = app.get("/v1/keys", &member_token).await;
    let names: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"keyward CLI on dev-laptop"), "{names:?}");

    // Audited as the person, saying it came from a CLI login.
    let audit = app.get("/v1/audit-log", &app.owner_token).await;
    let event = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"]["id"] == created["id"])
        .cloned()
        .unwrap();
    assert_eq!(event["action"], "key.create");
    assert_eq!(event["actor"]["id"], user_id.as_str());
    assert_eq!(event["details"]["via"], "cli_login");
    assert_eq!(event["details"]["machine"], "dev-laptop");

    // Once only.
    let again = app.exchange_cli_code(&code, &verifier).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "login_code_used"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn a_read_only_login_makes_a_read_only_token() {
    let app = TestApp::spawn().await;
    let owner = app.owner_id().await;
    let read_only = keyward_core::PermissionSet::read_only();
    let (code, verifier) = app
        .approve_cli_login_with(&owner, "ci-box", read_only)
        .await;
    let r = app.exchange_cli_code(&code, &verifier).await;
    let created: Value = r.expect(StatusCode::CREATED);
    assert_eq!(created["permissions"], json!(["*:read"]));
    let token = created["key"].as_str().unwrap();
    assert_eq!(app.get("/v1/keys", token).await.status, StatusCode::OK);
    let write = app.post("/v1/keys", token, json!({"name": "x"})).await;
    assert_eq!(write.code(), "forbidden", "{}", write.body);
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_without_spending_the_code() {
    let app = TestApp::spawn().await;
    let owner = app.owner_id().await;
    let (code, verifier) = app.approve_cli_login(&owner, "box").await;
    let other = keyward_core::pkce::CodeVerifier::generate();
    let wrong = app.exchange_cli_code(&code, other.expose_secret()).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::BAD_REQUEST, "login_verifier_mismatch"),
        "{}",
        wrong.body
    );
    assert!(wrong.body.get("key").is_none());
    let r = app.exchange_cli_code(&code, &verifier).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Five wrong verifiers end a login.
    let (code, verifier) = app.approve_cli_login(&owner, "box").await;
    for _ in 0..5 {
        let r = app.exchange_cli_code(&code, other.expose_secret()).await;
        assert_eq!(r.code(), "login_verifier_mismatch", "{}", r.body);
    }
    let r = app.exchange_cli_code(&code, &verifier).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GONE, "login_code_expired"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn malformed_and_unknown_codes_are_told_apart() {
    let app = TestApp::spawn().await;
    let verifier = keyward_core::pkce::CodeVerifier::generate();
    let v = verifier.expose_secret();
    let r = app.exchange_cli_code("kw_inv_nope", v).await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("code")
        ),
        "{}",
        r.body
    );
    let code = keyward_core::invite::CliLoginCode::generate();
    let r = app
        .exchange_cli_code(code.expose_secret(), "too-short")
        .await;
    assert_eq!(
        (r.code(), r.body["field"].as_str()),
        ("validation_failed", Some("code_verifier")),
        "{}",
        r.body
    );
    let r = app.exchange_cli_code(code.expose_secret(), v).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "not_found"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_expired_code_makes_no_token() {
    let app = TestApp::spawn().await;
    let owner = app.owner_id().await;
    let (code, verifier) = app.approve_cli_login(&owner, "box").await;
    app.clock.advance(Duration::minutes(5));
    let r = app.exchange_cli_code(&code, &verifier).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GONE, "login_code_expired"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_person_removed_after_approving_gets_no_token() {
    let app = TestApp::spawn().await;
    let (_, user_id) = app.join("leaving@company.com", "member", &[]).await;
    let (code, verifier) = app.approve_cli_login(&user_id, "box").await;
    let removed = app
        .delete(&format!("/v1/members/{user_id}"), &app.owner_token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let r = app.exchange_cli_code(&code, &verifier).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GONE, "login_code_expired"),
        "{}",
        r.body
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("membership"),
        "{}",
        r.body
    );
}
