//! A key's ⋮ menu over HTTP: revoke (after its confirmation), rotate, disable and
//! enable, edit, Copy for LLM; names shown as text; another organization's keys.

use super::keys::{api_key, key_id, prefix, revealed};
use super::owner;
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn revoking_asks_first_says_it_is_for_good_and_then_verify_refuses_the_key() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let (key, id) = api_key(&app, &b, "to revoke").await;
    let confirm = b.get(&format!("/console/keys/{id}/revoke?back=keys")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("immediate and irreversible"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains(&format!("{}…", prefix(&key))));
    assert_eq!(
        app.verify_code(&key).await,
        "VALID",
        "asking revokes nothing"
    );
    let done = b
        .post(&format!("/console/keys/{id}/revoke"), &[("back", "keys")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/console/keys?done=revoked"));
    assert_eq!(app.verify_code(&key).await, "REVOKED");
    let list = b.get("/console/keys?done=revoked").await;
    assert!(list.body.contains("The key is revoked"));
    assert!(list.body.contains("status revoked"));
}

#[tokio::test]
async fn rotating_shows_the_new_key_once_and_ends_the_old_one() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let (old, id) = api_key(&app, &b, "rotating").await;
    let form = b.get(&format!("/console/keys/{id}/rotate")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("name=\"grace\""));
    let rotated = b
        .post(
            &format!("/console/keys/{id}/rotate"),
            &[("grace", "1h"), ("back", "keys")],
        )
        .await;
    let new = revealed(&rotated);
    assert_ne!(new, old);
    assert!(
        rotated.body.contains("keeps working until"),
        "{}",
        rotated.body
    );
    assert_eq!(app.verify_code(&new).await, "VALID");
    assert_eq!(app.verify_code(&old).await, "VALID", "within its grace");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.verify_code(&old).await, "EXPIRED");
    // Rotating again with no grace ends the current one at once.
    let current = key_id(&app, &prefix(&new)).await;
    let again = b
        .post(
            &format!("/console/keys/{current}/rotate"),
            &[("grace", "0")],
        )
        .await;
    let newest = revealed(&again);
    assert!(again.body.contains("stopped working now"));
    assert_eq!(app.verify_code(&new).await, "REVOKED");
    assert_eq!(app.verify_code(&newest).await, "VALID");
}

#[tokio::test]
async fn disabling_switches_a_key_off_until_it_is_enabled() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let (key, id) = api_key(&app, &b, "switch").await;
    let off = b
        .post(
            &format!("/console/keys/{id}/enabled"),
            &[("enabled", "false"), ("back", "keys")],
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert_eq!(off.location(), Some("/console/keys?done=disabled"));
    assert_eq!(app.verify_code(&key).await, "DISABLED");
    let list = b.get("/console/keys").await;
    assert!(list.body.contains("status disabled"));
    assert!(list.body.contains(">Enable</button>"));
    b.post(
        &format!("/console/keys/{id}/enabled"),
        &[("enabled", "true"), ("back", "keys")],
    )
    .await;
    assert_eq!(app.verify_code(&key).await, "VALID");
}

#[tokio::test]
async fn editing_renames_and_changes_permissions_workspaces_and_limits() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = |name: &'static str| {
        let app = &app;
        async move {
            app.post("/v1/workspaces", &app.owner_token, json!({"name": name}))
                .await
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a, c) = (ws("a").await, ws("c").await);
    let b = owner(&app).await;
    b.get("/console/tokens/new").await;
    let key = revealed(
        &b.post(
            "/console/tokens",
            &[
                ("name", "scoped"),
                ("kind", "personal"),
                ("scope", "workspaces"),
                ("workspaces", &a),
                ("rate_limit", "5"),
                ("rate_period", "1s"),
            ],
        )
        .await,
    );
    let id = key_id(&app, &prefix(&key)).await;
    let form = b.get(&format!("/console/keys/{id}/edit?back=tokens")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("value=\"scoped\""),
        "the name is filled in"
    );
    let saved = b
        .post(
            &format!("/console/keys/{id}/edit"),
            &[
                ("back", "tokens"),
                ("name", "renamed"),
                ("permissions", "restricted"),
                ("grant", "keys:read"),
                ("grant", "audit:read"),
                ("scope", "workspaces"),
                ("workspaces", &a),
                ("workspaces", &c),
                ("rate_limit", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), Some("/console/tokens?done=edited"));
    let shown = app.get(&format!("/v1/keys/{id}"), t).await.body;
    assert_eq!(shown["name"], "renamed");
    assert_eq!(shown["permissions"], json!(["audit:read", "keys:read"]));
    assert_eq!(shown["scope"]["workspaces"], json!([a, c]));
    assert_eq!(shown["ratelimit"], json!(null), "emptied, so removed");
    // A bad edit shows the form again with what was typed and the message beside it.
    let bad = b
        .post(
            &format!("/console/keys/{id}/edit"),
            &[
                ("name", "kept name"),
                ("permissions", "all"),
                ("rate_limit", "many"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.body.matches("role=\"alert\"").count(),
        1,
        "{}",
        bad.body
    );
    assert!(bad.body.contains("id=\"rate-error\""));
    assert!(bad.body.contains("value=\"kept name\""));
    assert!(bad.body.contains("value=\"many\""));
    // Saved unchanged: nothing is sent, nothing recorded.
    let path = format!("/v1/keys/{id}/audit-log");
    let events = || async {
        app.get(&path, &app.owner_token).await.body["data"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = events().await;
    let same = b
        .post(
            &format!("/console/keys/{id}/edit"),
            &[
                ("back", "tokens"),
                ("name", "renamed"),
                ("permissions", "restricted"),
                ("grant", "audit:read"),
                ("grant", "keys:read"),
                ("scope", "workspaces"),
                ("workspaces", &a),
                ("workspaces", &c),
            ],
        )
        .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER, "{}", same.body);
    assert_eq!(events().await, before);
}

#[tokio::test]
async fn copy_for_llm_summarizes_a_key_without_any_secret() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let (key, id) = api_key(&app, &b, "support bot").await;
    b.get(&format!("/console/keys/{id}/edit")).await;
    b.post(
        &format!("/console/keys/{id}/edit"),
        &[("name", "support bot 2"), ("permissions", "all")],
    )
    .await;
    let page = b.get(&format!("/console/keys/{id}/llm?back=keys")).await;
    assert_eq!(page.status, StatusCode::OK);
    let start = page.body.find("<textarea").unwrap();
    let text = &page.body[start..page.body.find("</textarea>").unwrap()];
    for part in [
        "Key name: support bot 2",
        &format!("Visible prefix: {}…", prefix(&key)),
        "Status: active",
        "Scope: whole organization",
        "Permissions: all",
        "Expires: never",
        "Organization: ",
        "key.update by team@company.com",
        "key.create by team@company.com",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(page.body.contains("data-copy=\"llm-text\""));
    let hash = keyward_core::KeyHash::of(&key);
    let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!page.body.contains(&key), "not the key");
    assert!(
        !page.body.contains(&key[prefix(&key).len()..]),
        "not its secret part"
    );
    assert!(!page.body.to_lowercase().contains(&hex), "not its hash");
}

#[tokio::test]
async fn another_organizations_key_is_not_found() {
    let app = TestApp::spawn().await;
    let other = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "elsewhere"}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let theirs = other.body["token"]["id"].as_str().unwrap().to_owned();
    let b = owner(&app).await;
    for path in ["edit", "revoke", "rotate", "llm"] {
        let page = b.get(&format!("/console/keys/{theirs}/{path}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    b.get("/console/keys").await;
    for (path, fields) in [
        ("revoke", vec![]),
        ("enabled", vec![("enabled", "false")]),
        ("rotate", vec![("grace", "0")]),
        ("edit", vec![("name", "mine now")]),
    ] {
        let r = b
            .post(&format!("/console/keys/{theirs}/{path}"), &fields)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let token = other.body["token"]["key"].as_str().unwrap();
    let me = app.get("/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK, "untouched: {}", me.body);
    assert_eq!(me.body["key"]["name"], "elsewhere owner token");
    let missing = b.get("/console/keys/key_nope/llm").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn names_are_shown_as_text() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let evil = "<script>alert(1)</script>";
    let (_, id) = api_key(&app, &b, evil).await;
    for path in [
        "/console/keys".to_owned(),
        format!("/console/keys/{id}/edit"),
        format!("/console/keys/{id}/revoke"),
        format!("/console/keys/{id}/llm"),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains(evil), "{path}: not as markup");
    }
}
