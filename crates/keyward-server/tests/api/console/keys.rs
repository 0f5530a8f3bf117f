//! The key pages over HTTP, as a browser without JavaScript uses them: API Keys,
//! Personal Access Tokens, a key's ⋮ menu (edit, disable/enable, rotate, revoke, Copy
//! for LLM), the organization's limits, and who may create what.

use super::{owner, person, Browser, Page};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

/// The raw key in a page's one-time dialog.
pub fn secret(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"new-key\"")
        .unwrap_or_else(|| panic!("no new key on the page: {}", page.body));
    let rest = &page.body[at..];
    let start = rest.find("value=\"").unwrap() + "value=\"".len();
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end].to_owned()
}

/// Asserts the page shows a new key in the dialog that holds it once, and returns it.
pub fn revealed(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert!(
        page.body.contains("<dialog")
            && page.body.contains("data-secret")
            && page.body.contains("data-open-on-load")
            && page.body.contains(" open"),
        "the key is in a dialog rendered open: {}",
        page.body
    );
    assert!(
        page.body.contains("data-copy=\"new-key\""),
        "with a Copy button"
    );
    assert!(
        page.body.contains("you cannot see it again"),
        "{}",
        page.body
    );
    secret(page)
}

/// The visible prefix of a raw key, as lists show it (`kw_pat_` and four characters).
pub fn prefix(key: &str) -> String {
    let kind = keyward_core::key::PREFIXES
        .iter()
        .find(|(p, _, _)| key.starts_with(p))
        .unwrap()
        .0;
    key[..kind.len() + keyward_core::key::VISIBLE_RANDOM_CHARS].to_owned()
}

/// The id of the key whose visible prefix is `prefix`, from the API.
pub async fn key_id(app: &TestApp, prefix: &str) -> String {
    let all = app.get("/v1/keys?limit=100", &app.owner_token).await;
    all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == prefix)
        .unwrap_or_else(|| panic!("no key {prefix}: {}", all.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Creates an api key on API Keys: (raw key, id).
async fn api_key(app: &TestApp, b: &Browser, name: &str) -> (String, String) {
    b.get("/console/keys/new").await;
    let page = b
        .post(
            "/console/keys",
            &[
                ("name", name),
                ("kind", "api"),
                ("expires", "never"),
                ("permissions", "all"),
                ("scope", "organization"),
            ],
        )
        .await;
    let key = revealed(&page);
    let id = key_id(app, &prefix(&key)).await;
    (key, id)
}

#[tokio::test]
async fn an_owner_creates_a_key_that_is_shown_once_and_listed_by_its_prefix() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let list = b.get("/console/keys").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("href=\"/console/keys/new\""),
        "a create button"
    );
    assert!(list.body.contains("1 of 10"), "the count against the limit");
    let form = b.get("/console/keys/new").await;
    assert_eq!(form.status, StatusCode::OK);
    for part in [
        "name=\"expires\"",
        "value=\"180d\"",
        "value=\"1y\"",
        "value=\"custom\"",
        "name=\"expires_on\"",
        "value=\"read_only\"",
        "value=\"restricted\"",
        "value=\"skills:execute\"",
        "value=\"workspaces\"",
        "name=\"rate_limit\"",
        "name=\"quota_limit\"",
    ] {
        assert!(form.body.contains(part), "the form has {part}");
    }
    let created = b
        .post(
            "/console/keys",
            &[
                ("name", "CI pipeline"),
                ("kind", "api"),
                ("environment", "test"),
                ("customer", "cus_42"),
                ("expires", "30d"),
                ("permissions", "restricted"),
                ("grant", "keys:read"),
                ("grant", ""),
                ("grant", "keys:verify"),
                ("scope", "organization"),
                ("rate_limit", "100"),
                ("rate_period", "1m"),
                ("quota_limit", "1000"),
                ("quota_refill", "monthly"),
            ],
        )
        .await;
    let key = revealed(&created);
    assert!(key.starts_with("kw_test_"), "{key}");
    assert!(
        created.headers.get("location").is_none(),
        "answered, not redirected"
    );
    assert_eq!(app.verify_code(&key).await, "VALID");
    let details = app.verify(&key, Some("keys:read")).await;
    assert_eq!(details.body["code"], "VALID", "{}", details.body);
    assert_eq!(
        app.verify(&key, Some("keys:write")).await.body["code"],
        "INSUFFICIENT_PERMISSIONS"
    );
    let id = key_id(&app, &prefix(&key)).await;
    let shown = app.get(&format!("/v1/keys/{id}"), &app.owner_token).await;
    assert_eq!(
        shown.body["ratelimit"],
        json!({"limit": 100, "period": "1m"})
    );
    assert_eq!(
        shown.body["quota"],
        json!({"limit": 1000, "refill": "monthly"})
    );
    assert_eq!(shown.body["owner"]["id"], "cus_42");
    assert!(shown.body["expires_at"].is_string());
    // The list shows it by its masked prefix, never the key.
    let list = b.get("/console/keys").await;
    assert!(
        list.body.contains(&format!("{}…", prefix(&key))),
        "{}",
        list.body
    );
    assert!(!list.body.contains(&key));
    assert!(list.body.contains("CI pipeline"));
    assert!(list.body.contains("by team@company.com"));
    assert!(list.body.contains("2 of 10"));
    assert!(list.body.contains("aria-label=\"Actions for CI pipeline\""));
    assert!(list.body.contains(&format!("href=\"/console/usage/{id}\"")));
}

#[tokio::test]
async fn every_kind_is_created_with_the_dialog_and_verifies() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "prod"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = app.post("/v1/agents", t, json!({"name": "bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = app
        .post("/v1/channels", t, json!({"agent": agent, "name": "api"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"allow_legacy_tokens": true}}),
    )
    .await;
    let b = owner(&app).await;
    b.get("/console/keys/new").await;
    // (page, fields of the kind, prefix of the key)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/console/keys",
            vec![("kind", "api"), ("scope", "agent"), ("agent", &agent)],
            "kw_live_",
        ),
        (
            "/console/keys",
            vec![("kind", "channel"), ("channel", &channel)],
            "kw_ch_",
        ),
        (
            "/console/keys",
            vec![("kind", "legacy_workspace"), ("workspace", &ws)],
            "kw_ws_",
        ),
        (
            "/console/tokens",
            vec![
                ("kind", "personal"),
                ("scope", "workspaces"),
                ("workspaces", &ws),
            ],
            "kw_pat_",
        ),
        (
            "/console/tokens",
            vec![("kind", "worker"), ("workspace", &ws)],
            "kw_wk_",
        ),
    ];
    for (path, fields, expected) in cases {
        let mut all = vec![("name", "a key"), ("expires", "7d"), ("permissions", "all")];
        all.extend(fields);
        let key = revealed(&b.post(path, &all).await);
        assert!(key.starts_with(expected), "{path}: {key}");
        assert_eq!(app.verify_code(&key).await, "VALID", "{path} {expected}");
    }
    // A service account and another key of it.
    b.get("/console/service-accounts/new").await;
    let created = b
        .post(
            "/console/service-accounts",
            &[
                ("name", "production-bot"),
                ("permissions", "restricted"),
                ("grant", "integrations:write"),
                ("grant", "skills:execute"),
            ],
        )
        .await;
    let first = revealed(&created);
    assert!(first.starts_with("kw_sa_"));
    assert_eq!(app.verify_code(&first).await, "VALID");
    let accounts = app.get("/v1/service-accounts", t).await;
    let sa = accounts.body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        accounts.body[0]["scopes"],
        json!(["integrations:write", "skills:execute"])
    );
    let second = b
        .post(
            &format!("/console/service-accounts/{sa}/keys"),
            &[("name", "second"), ("expires", "never")],
        )
        .await;
    let second = revealed(&second);
    assert_eq!(app.verify_code(&second).await, "VALID");
    let page = b.get(&format!("/console/service-accounts/{sa}")).await;
    assert!(page.body.contains(&format!("{}…", prefix(&second))));
    assert!(page.body.contains(&format!("{}…", prefix(&first))));
}

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
}

#[tokio::test]
async fn a_bad_form_is_shown_again_with_the_message_next_to_what_is_wrong() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get("/console/keys/new").await;
    let no_name = b
        .post(
            "/console/keys",
            &[("name", ""), ("kind", "api"), ("customer", "cus_7")],
        )
        .await;
    assert_eq!(
        no_name.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        no_name.body
    );
    assert!(
        no_name.body.contains("id=\"name-error\""),
        "{}",
        no_name.body
    );
    assert_eq!(no_name.body.matches("role=\"alert\"").count(), 1);
    assert!(
        no_name.body.contains("value=\"cus_7\""),
        "what was typed is kept"
    );
    let past = b
        .post(
            "/console/keys",
            &[
                ("name", "x"),
                ("kind", "api"),
                ("expires", "custom"),
                ("expires_on", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(past.body.contains("id=\"expires-error\""), "{}", past.body);
    assert!(past.body.contains("ust be in the future"), "{}", past.body);
    let bad_grant = b
        .post(
            "/console/keys",
            &[
                ("name", "x"),
                ("kind", "api"),
                ("permissions", "restricted"),
                ("other_grants", "NOT A GRANT"),
            ],
        )
        .await;
    assert_eq!(bad_grant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_grant.body.contains("id=\"permissions-error\""),
        "{}",
        bad_grant.body
    );
    let no_workspace = b
        .post(
            "/console/keys",
            &[("name", "x"), ("kind", "api"), ("scope", "workspaces")],
        )
        .await;
    assert_eq!(no_workspace.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_workspace.body.contains("id=\"scope-error\""),
        "{}",
        no_workspace.body
    );
}

#[tokio::test]
async fn when_the_limit_is_reached_the_pages_say_so_before_any_form() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let b = owner(&app).await;
    api_key(&app, &b, "second").await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org}"),
            &app.owner_token,
            json!({"settings": {"max_keys": 2}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (path, new) in [
        ("/console/keys", "/console/keys/new"),
        ("/console/tokens", "/console/tokens/new"),
        ("/console/service-accounts", "/console/service-accounts/new"),
    ] {
        let list = b.get(path).await;
        assert!(list.body.contains("2 of 2"), "{path}: {}", list.body);
        assert!(
            list.body.contains("id=\"limit-reached\""),
            "{path}: {}",
            list.body
        );
        assert!(
            !list.body.contains(&format!("href=\"{new}\"")),
            "{path}: no create button"
        );
        let form = b.get(new).await;
        assert!(form.body.contains("id=\"limit-reached\""), "{new}");
        assert!(
            !form.body.contains(&format!("action=\"{path}\"")),
            "{new}: no form to fill in"
        );
    }
    // Sent anyway, the API's limit answers, on the form.
    let sent = b
        .post("/console/keys", &[("name", "third"), ("kind", "api")])
        .await;
    assert_eq!(sent.status, StatusCode::CONFLICT, "{}", sent.body);
    assert!(sent.body.contains("role=\"alert\""));
    assert!(
        sent.body.contains("keys per organization limit is 2"),
        "{}",
        sent.body
    );
}

#[tokio::test]
async fn a_member_sees_no_create_button_on_api_keys_and_is_refused_but_makes_own_tokens() {
    let app = TestApp::spawn().await;
    let (member, _, _) = person(&app, "dev@company.com", "member").await;
    let list = member.get("/console/keys").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.body.contains("href=\"/console/keys/new\""),
        "{}",
        list.body
    );
    assert!(!list.body.contains("Create API key"));
    let form = member.get("/console/keys/new").await;
    assert!(!form.body.contains("action=\"/console/keys\""));
    let sent = member
        .post(
            "/console/keys",
            &[
                ("name", "sneaky"),
                ("kind", "api"),
                ("scope", "organization"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "{}", sent.body);
    assert!(sent.body.contains("role_forbidden"), "{}", sent.body);
    let channel = member
        .post(
            "/console/keys",
            &[("name", "x"), ("kind", "channel"), ("channel", "ch_x")],
        )
        .await;
    assert!(
        matches!(
            channel.status,
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "{}",
        channel.status
    );
    // Service accounts: no create button, 403 posting.
    let accounts = member.get("/console/service-accounts").await;
    assert!(!accounts
        .body
        .contains("href=\"/console/service-accounts/new\""));
    let sa = member
        .post(
            "/console/service-accounts",
            &[("name", "bot"), ("permissions", "all")],
        )
        .await;
    assert_eq!(sa.status, StatusCode::FORBIDDEN, "{}", sa.body);
    // Their own tokens they make.
    let tokens = member.get("/console/tokens").await;
    assert!(tokens.body.contains("href=\"/console/tokens/new\""));
    assert!(tokens.body.contains("dev@company.com first token"));
    let key = revealed(
        &member
            .post(
                "/console/tokens",
                &[("name", "my laptop"), ("kind", "personal")],
            )
            .await,
    );
    assert_eq!(app.verify_code(&key).await, "VALID");
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

#[tokio::test]
async fn an_agent_admin_makes_agent_level_keys_of_their_agents_only() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let agent = app
        .post("/v1/agents", t, json!({"name": "support"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .post("/v1/agents", t, json!({"name": "sales"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, user) = app
        .join("agents@company.com", "agent_admin", &[&agent])
        .await;
    let link = super::password_link(&app, &user, keyward_store::PasswordPurpose::Setup).await;
    let admin = super::set_password(&app, &link).await;
    let list = admin.get("/console/keys").await;
    assert!(
        list.body.contains("href=\"/console/keys/new\""),
        "{}",
        list.body
    );
    let form = admin.get("/console/keys/new").await;
    assert!(
        !form.body.contains("value=\"organization\""),
        "agent scope only"
    );
    assert!(form.body.contains(&format!("value=\"{agent}\"")));
    assert!(!form.body.contains(&format!("value=\"{other}\"")));
    let key = revealed(
        &admin
            .post(
                "/console/keys",
                &[
                    ("name", "support key"),
                    ("kind", "api"),
                    ("scope", "agent"),
                    ("agent", &agent),
                ],
            )
            .await,
    );
    assert_eq!(app.verify_code(&key).await, "VALID");
    let beyond = admin
        .post(
            "/console/keys",
            &[
                ("name", "x"),
                ("kind", "api"),
                ("scope", "agent"),
                ("agent", &other),
            ],
        )
        .await;
    assert_eq!(beyond.status, StatusCode::FORBIDDEN, "{}", beyond.body);
    let org = admin
        .post(
            "/console/keys",
            &[("name", "x"), ("kind", "api"), ("scope", "organization")],
        )
        .await;
    assert_eq!(org.status, StatusCode::FORBIDDEN, "{}", org.body);
}

#[tokio::test]
async fn a_workspace_with_all_of_a_persons_worker_keys_is_offered_as_full() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "prod"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"max_worker_keys": 1}}),
    )
    .await;
    let b = owner(&app).await;
    b.get("/console/tokens/new").await;
    revealed(
        &b.post(
            "/console/tokens",
            &[
                ("name", "laptop worker"),
                ("kind", "worker"),
                ("workspace", &ws),
            ],
        )
        .await,
    );
    let form = b.get("/console/tokens/new").await;
    assert!(form.body.contains("(1 of 1, full)"), "{}", form.body);
    assert!(form.body.contains("active worker keys in every workspace"));
    assert!(
        form.body.contains("action=\"/console/tokens\""),
        "personal tokens can still be made"
    );
}
