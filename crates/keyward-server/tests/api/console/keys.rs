//! The key pages over HTTP, as a browser without JavaScript uses them: API Keys and
//! Personal Access Tokens, creating each kind of key with its one-time dialog, forms sent
//! back with their problems, the organization's limits, and who may create what. The
//! helpers here serve `key_actions.rs` and `service_accounts.rs` too.

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
pub async fn api_key(app: &TestApp, b: &Browser, name: &str) -> (String, String) {
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
