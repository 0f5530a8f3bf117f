//! The organization's pages on the console: channels, workspaces and agents, settings,
//! the audit log and usage — each acting through the API's handlers, so what a page
//! changes is what the API then answers, and a member gets neither the buttons nor the
//! changes.

use super::{owner, person, Browser};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const XSS: &str = "<script>alert(1)</script>";

async fn agent(app: &TestApp, name: &str) -> String {
    let r = app
        .post("/v1/agents", &app.owner_token, json!({"name": name}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/channel` naming the hook id: how callers reach the channel.
async fn context(app: &TestApp, hook: &str) -> StatusCode {
    app.send(
        reqwest::Method::POST,
        "/v1/channel",
        Some(&app.owner_token),
        Some(json!({ "hookId": hook })),
    )
    .await
    .status
}

fn channel_named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no channel {name}: {list}"))
}

#[tokio::test]
async fn channels_are_created_switched_off_and_on_and_deleted_with_a_hook_id_to_copy() {
    let app = TestApp::spawn().await;
    let bot = agent(&app, "support-bot").await;
    let admin = owner(&app).await;
    let page = admin.get("/console/channels").await;
    assert!(page.body.contains("New channel"), "{}", page.body);
    let r = admin
        .post(
            "/console/channels",
            &[("agent", &bot), ("name", "Production API")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let list = app.get("/v1/channels", &app.owner_token).await.body;
    let ch = channel_named(&list, "Production API");
    let (id, hook) = (ch["id"].as_str().unwrap(), ch["hook_id"].as_str().unwrap());
    let page = admin.get("/console/channels").await;
    assert!(
        page.body
            .contains(&format!("<code id=\"hook-{id}\">{hook}</code>")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("data-copy=\"hook-{id}\"")));
    assert!(page.body.contains("support-bot"));

    // Off: the hook id answers "Channel not found"; on again: it works.
    assert_eq!(context(&app, hook).await, StatusCode::OK);
    let r = admin
        .post(
            &format!("/console/channels/{id}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get(&format!("/v1/channels/{id}"), &app.owner_token)
            .await
            .body["enabled"],
        false
    );
    assert_eq!(context(&app, hook).await, StatusCode::NOT_FOUND);
    let page = admin.get("/console/channels").await;
    assert!(page.body.contains("Switch on"), "{}", page.body);
    admin
        .post(
            &format!("/console/channels/{id}/enabled"),
            &[("enabled", "true")],
        )
        .await;
    assert_eq!(context(&app, hook).await, StatusCode::OK);
    // A name the API refuses comes back with its reason and what was typed.
    let bad = admin
        .post("/console/channels", &[("agent", &bot), ("name", "   ")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));

    // A member sees the channels (and can copy hook ids) but no buttons, and is refused.
    let (member, _, _) = person(&app, "dev@company.com", "member").await;
    let page = member.get("/console/channels").await;
    assert!(page.body.contains(hook));
    for absent in ["New channel", "Switch off", "Delete"] {
        assert!(!page.body.contains(absent), "{absent}: {}", page.body);
    }
    let forced = member
        .post("/console/channels", &[("agent", &bot), ("name", "sneaky")])
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    let forced = member
        .post(&format!("/console/channels/{id}/delete"), &[])
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN);
    // An agent admin of the agent manages its channels.
    let (bot_admin, _, _) = {
        let (token, user_id) = app.join("bots@company.com", "agent_admin", &[&bot]).await;
        let link =
            super::password_link(&app, &user_id, keyward_store::PasswordPurpose::Setup).await;
        (super::set_password(&app, &link).await, token, user_id)
    };
    let page = bot_admin.get("/console/channels").await;
    assert!(page.body.contains("New channel") && page.body.contains("Switch off"));

    // Deleted for good.
    let r = admin
        .post(&format!("/console/channels/{id}/delete"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(context(&app, hook).await, StatusCode::NOT_FOUND);
    assert!(!admin.get("/console/channels").await.body.contains(hook));
}

#[tokio::test]
async fn workspaces_and_agents_are_managed_by_admins_and_names_are_escaped() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let page = admin.get("/console/resources").await;
    assert!(page.body.contains("Create workspace") && page.body.contains("Create agent"));
    let r = admin
        .post("/console/resources/workspaces", &[("name", XSS)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = admin
        .post("/console/resources/agents", &[("name", "support-bot")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let ws = app.get("/v1/workspaces", &app.owner_token).await.body[0].clone();
    assert_eq!(ws["name"], XSS);
    let ws_id = ws["id"].as_str().unwrap().to_owned();
    let page = admin.get("/console/resources").await;
    assert!(
        !page.body.contains(XSS),
        "the name is escaped: {}",
        page.body
    );
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The same name where others see it: the audit log, a member's view.
    let audit = admin.get("/console/audit").await;
    assert!(
        !audit.body.contains(XSS) && audit.body.contains("&lt;script&gt;"),
        "{}",
        audit.body
    );
    let (member, _, _) = person(&app, "dev@company.com", "member").await;
    let seen = member.get("/console/resources").await;
    assert!(!seen.body.contains(XSS) && seen.body.contains("&lt;script&gt;alert(1)"));
    for absent in ["Create workspace", "Rename", "Delete"] {
        assert!(!seen.body.contains(absent), "{absent}: {}", seen.body);
    }
    let forced = member
        .post("/console/resources/workspaces", &[("name", "mine")])
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    let forced = member
        .post(
            &format!("/console/resources/workspaces/{ws_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN);

    // Rename; a duplicate name is refused on the page with what was typed.
    admin.get("/console/resources").await;
    let r = admin
        .post(
            &format!("/console/resources/workspaces/{ws_id}/rename"),
            &[("name", "prod")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get(&format!("/v1/workspaces/{ws_id}"), &app.owner_token)
            .await
            .body["name"],
        "prod"
    );
    admin
        .post("/console/resources/workspaces", &[("name", "staging")])
        .await;
    let dup = admin
        .post(
            &format!("/console/resources/workspaces/{ws_id}/rename"),
            &[("name", "staging")],
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", dup.body);
    assert!(
        dup.body.contains("role=\"alert\"") && dup.body.contains("exists"),
        "{}",
        dup.body
    );
    // In use by a key: refused with the API's reason; free again: deleted.
    let (_, key_id) = app
        .create_key(
            json!({"name": "ws key", "scope": {"type": "workspaces", "workspaces": [ws_id]}}),
        )
        .await;
    let used = admin
        .post(
            &format!("/console/resources/workspaces/{ws_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(
        used.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        used.body
    );
    assert!(used.body.contains("role=\"alert\""));
    app.delete(&format!("/v1/keys/{key_id}"), &app.owner_token)
        .await;
    let r = admin
        .post(
            &format!("/console/resources/workspaces/{ws_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get(&format!("/v1/workspaces/{ws_id}"), &app.owner_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn settings_saved_on_the_page_are_what_the_api_answers() {
    let app = TestApp::spawn().await;
    let org = app.org_id().await;
    let admin = owner(&app).await;
    let page = admin.get("/console/settings").await;
    assert!(page.body.contains("Save settings"), "{}", page.body);
    let form = [
        ("name", "acme"),
        ("max_keys", "42"),
        ("max_worker_keys", "7"),
        ("allow_legacy_tokens", "on"),
        ("rate_limit", "100"),
        ("rate_period", "1m"),
        ("quota_limit", "5000"),
        ("quota_refill", "monthly"),
    ];
    let r = admin.post("/console/settings", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let s = &app
        .get(&format!("/v1/organizations/{org}"), &app.owner_token)
        .await
        .body["settings"];
    assert_eq!(
        *s,
        json!({"max_keys": 42, "max_worker_keys": 7, "allow_legacy_tokens": true,
               "default_ratelimit": {"limit": 100, "period": "1m"},
               "default_quota": {"limit": 5000, "refill": "monthly"}})
    );
    // Blank limits remove the defaults; an unticked box turns the switch off.
    let cleared = [
        ("name", "acme"),
        ("max_keys", "42"),
        ("max_worker_keys", "7"),
        ("rate_limit", ""),
        ("rate_period", "1m"),
        ("quota_limit", ""),
        ("quota_refill", ""),
    ];
    admin.get("/console/settings").await;
    assert_eq!(
        admin.post("/console/settings", &cleared).await.status,
        StatusCode::SEE_OTHER
    );
    let s = &app
        .get(&format!("/v1/organizations/{org}"), &app.owner_token)
        .await
        .body["settings"];
    assert_eq!(
        (
            &s["allow_legacy_tokens"],
            &s["default_ratelimit"],
            &s["default_quota"]
        ),
        (&json!(false), &Value::Null, &Value::Null)
    );
    // What the API refuses comes back with its reason and what was typed.
    let bad = admin
        .post(
            "/console/settings",
            &[
                ("name", "acme"),
                ("max_keys", "0"),
                ("max_worker_keys", "7"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("settings.max_keys"), "{}", bad.body);
    assert!(
        bad.body.contains("name=\"max_keys\" value=\"0\""),
        "{}",
        bad.body
    );

    // Owner limits: set for a customer and a person (by email), then removed.
    let (member, _, member_id) = person(&app, "dev@company.com", "member").await;
    admin.get("/console/settings").await;
    for (owner_type, who) in [("external", "cus_42"), ("user", "dev@company.com")] {
        let r = admin
            .post(
                "/console/settings/owner-limits",
                &[
                    ("owner_type", owner_type),
                    ("owner", who),
                    ("rate_limit", "30"),
                    ("rate_period", "1h"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let limits = app.get("/v1/owner-limits", &app.owner_token).await.body;
    let mut owners: Vec<_> = limits
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["owner_id"].as_str().unwrap().to_owned())
        .collect();
    owners.sort();
    let mut expected = vec!["cus_42".to_owned(), member_id.clone()];
    expected.sort();
    assert_eq!(owners, expected);
    let page = admin.get("/console/settings").await;
    assert!(page.body.contains("30 per 1h") && page.body.contains("dev@company.com"));
    let r = admin
        .post("/console/settings/owner-limits/external/cus_42/delete", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.get("/v1/owner-limits", &app.owner_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A member reads the settings, has no form, and is refused a forced post.
    let page = member.get("/console/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Keys per organization") && page.body.contains("42"));
    for absent in ["Save settings", "Set limit", "Rate limits per owner"] {
        assert!(!page.body.contains(absent), "{absent}: {}", page.body);
    }
    let forced = member.post("/console/settings", &form).await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    let forced = member
        .post(
            "/console/settings/owner-limits",
            &[
                ("owner_type", "external"),
                ("owner", "x"),
                ("rate_limit", "1"),
                ("rate_period", "1m"),
            ],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN);
}

/// The `<code>` actions listed on an audit page, in order.
fn actions(body: &str) -> Vec<String> {
    body.split("<td><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect()
}

/// The href of the link named `label` (`Older →`), if the page has one.
fn link(body: &str, label: &str) -> Option<String> {
    let end = body.find(&format!("\">{label}</a>"))?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(
        body[start..end]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&"),
    )
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_action_target_and_time_and_pages_both_ways() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let mut workspaces = vec![];
    for i in 0..60 {
        app.clock.advance(chrono::Duration::minutes(1));
        let r = app
            .post(
                "/v1/workspaces",
                &app.owner_token,
                json!({"name": format!("ws-{i}")}),
            )
            .await;
        workspaces.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // 50 a page, newest first.
    let first = admin.get("/console/audit").await;
    assert_eq!(first.status, StatusCode::OK);
    let listed = actions(&first.body);
    assert_eq!(listed.len(), 50, "{}", first.body);
    assert!(link(&first.body, "← Newer").is_none());
    let older = link(&first.body, "Older →").expect("an Older link");
    let second = admin.get(&older).await;
    assert!(!actions(&second.body).is_empty());
    assert!(link(&second.body, "Older →").is_none(), "the oldest page");
    let newer = link(&second.body, "← Newer").expect("a Newer link");
    let back = admin.get(&newer).await;
    assert_eq!(
        actions(&back.body),
        listed,
        "Newer leads back to the first page"
    );
    assert!(link(&back.body, "← Newer").is_none());
    assert!(link(&back.body, "Older →").is_some());

    // Filters, alone and together, kept across pages.
    let page = admin.get("/console/audit?action=workspace.create").await;
    assert!(actions(&page.body).iter().all(|a| a == "workspace.create"));
    let next = link(&page.body, "Older →").unwrap();
    assert!(next.contains("action=workspace.create"), "{next}");
    assert_eq!(actions(&admin.get(&next).await.body).len(), 10);
    let page = admin
        .get("/console/audit?action=workspace.*&actor=team%40company.com")
        .await;
    assert_eq!(actions(&page.body).len(), 50);
    let page = admin
        .get(&format!("/console/audit?target={}", workspaces[7]))
        .await;
    assert_eq!(actions(&page.body), vec!["workspace.create"]);
    assert!(page.body.contains(&workspaces[7]));
    // Times as the browser's datetime-local sends them, in UTC: minutes 5 to 9.
    let page = admin
        .get("/console/audit?action=workspace.create&from=2030-01-01T00%3A05&to=2030-01-01T00%3A10")
        .await;
    assert_eq!(actions(&page.body).len(), 5, "{}", page.body);
    assert!(
        page.body.contains("value=\"2030-01-01T00:05\""),
        "the filter is kept"
    );
    let none = admin.get("/console/audit?actor=nobody%40company.com").await;
    assert!(none.body.contains("No event matches"), "{}", none.body);
    let bad = admin.get("/console/audit?from=yesterday-ish").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("role=\"alert\""));

    // The API takes the same filters.
    let r = app
        .get(
            "/v1/audit-log?action=workspace.*&limit=100",
            &app.owner_token,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 60);
    // A member sees only the events about their own keys.
    let (member, _, _) = person(&app, "dev@company.com", "member").await;
    let page = member.get("/console/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !actions(&page.body)
            .iter()
            .any(|a| a.starts_with("workspace.")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_usage_page_charts_valid_and_denied_verifications_against_the_limits() {
    let app = TestApp::spawn().await;
    let (key, id) = app
        .create_key(json!({
            "name": "acme api", "kind": "api", "permissions": ["keys:read"],
            "ratelimit": {"limit": 3, "period": "1h"}, "quota": {"limit": 100, "refill": "monthly"},
        }))
        .await;
    for _ in 0..2 {
        assert_eq!(
            app.verify(&key, Some("keys:read")).await.body["code"],
            "VALID"
        );
    }
    for _ in 0..3 {
        assert_ne!(
            app.verify(&key, Some("keys:write")).await.body["code"],
            "VALID"
        );
    }
    // A report runs up to now, exclusive: look a minute later.
    app.clock.advance(chrono::Duration::minutes(1));
    let admin = owner(&app).await;
    let pick = admin.get("/console/usage").await;
    assert!(
        pick.body.contains(&format!("href=\"/console/usage/{id}\"")),
        "{}",
        pick.body
    );
    let page = admin.get(&format!("/console/usage/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<svg class=\"chart\""), "{body}");
    assert!(body.contains("role=\"img\""));
    assert!(
        body.contains("<rect class=\"valid\"") && body.contains("<rect class=\"denied\""),
        "{body}"
    );
    assert!(
        body.contains("<line class=\"limit\""),
        "a limit of 3 an hour is drawn: {body}"
    );
    assert!(
        body.contains("2 valid and 3 denied verifications per hour"),
        "{body}"
    );
    assert!(body.contains("2 valid, 3 denied"));
    assert!(
        body.contains("<meter id=\"quota-meter\" min=\"0\" max=\"100\" value=\"2\""),
        "{body}"
    );
    assert!(!body.contains("style="), "no inline styles (CSP)");
    // The table alternative holds the same numbers.
    assert!(
        body.contains("<tfoot><tr><th scope=\"row\">Total</th><td>2</td><td>3</td>"),
        "{body}"
    );
    // Other ranges, and a key the person cannot see.
    for range in ["1h", "30d"] {
        let r = admin
            .get(&format!("/console/usage/{id}?range={range}"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("aria-current=\"page\""));
    }
    let (member, _, _) = person(&app, "dev@company.com", "member").await;
    let r = member.get(&format!("/console/usage/{id}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(!member.get("/console/usage").await.body.contains("acme api"));
}

#[tokio::test]
async fn every_page_of_this_part_carries_the_csp_and_needs_a_session() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let stranger = Browser::new(&app);
    for path in [
        "/console/members",
        "/console/channels",
        "/console/resources",
        "/console/settings",
        "/console/audit",
        "/console/usage",
    ] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        assert!(
            !page.body.contains("<script>") && !page.body.contains(" style="),
            "{path}"
        );
        assert!(
            page.body.contains("aria-current=\"page\""),
            "{path} is marked in the navigation"
        );
        let away = stranger.get(path).await;
        assert_eq!(away.status, StatusCode::SEE_OTHER, "{path}");
    }
    // Forms without the session's CSRF token are refused before any handler runs.
    let r = admin
        .post_raw("/console/resources/workspaces", &[("name", "x")], &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app
        .get("/v1/workspaces", &app.owner_token)
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty());
}
