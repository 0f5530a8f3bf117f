//! The service-account pages over HTTP (their keys' creation is in `keys.rs`).

use super::keys::revealed;
use super::owner;
use crate::common::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn a_service_account_is_renamed_and_deleted_with_its_keys() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get("/console/service-accounts/new").await;
    let created = b
        .post(
            "/console/service-accounts",
            &[
                ("name", "ci-bot"),
                ("permissions", "read_only"),
                ("expires", "90d"),
            ],
        )
        .await;
    let key = revealed(&created);
    let sa = app.get("/v1/service-accounts", &app.owner_token).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let renamed = b
        .post(
            &format!("/console/service-accounts/{sa}"),
            &[("name", "ci-robot")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    let page = b
        .get(&format!("/console/service-accounts/{sa}?done=renamed"))
        .await;
    assert!(page.body.contains("<h1>ci-robot</h1>"), "{}", page.body);
    let bad = b
        .post(&format!("/console/service-accounts/{sa}"), &[("name", "")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"name-error\""));
    let confirm = b
        .get(&format!("/console/service-accounts/{sa}/delete"))
        .await;
    assert!(confirm.body.contains("immediate and irreversible"));
    assert!(
        confirm
            .body
            .contains("(1 not revoked yet) are revoked at once"),
        "{}",
        confirm.body
    );
    let deleted = b
        .post(&format!("/console/service-accounts/{sa}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(app.verify_code(&key).await, "REVOKED");
    let list = b.get("/console/service-accounts?done=deleted").await;
    assert!(!list.body.contains("ci-robot"));
}
