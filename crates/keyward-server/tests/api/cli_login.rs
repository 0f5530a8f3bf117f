//! `POST /v1/auth/cli/token`: a CLI login's code and its PKCE verifier make one working
//! personal access token of the person who approved it, named after the machine; a
//! wrong verifier, a used or expired code, or a person removed since approval make none.
//! (The approval itself is made in the store here, as the console's page does; the
//! whole flow through the console is `keyward`'s `cli_client` test.)

use crate::common::TestApp;
use crate::console;
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

/// The whole approval through the console over HTTP, as a person in a browser: the page
/// names the machine, the person and the organization; approving sends the browser to
/// the CLI's loopback (and nowhere else) with a code that, with the CLI's verifier,
/// makes the token chosen on the page; cancelling sends `error=access_denied`.
#[tokio::test]
async fn the_console_page_approves_and_sends_the_code_to_the_loopback() {
    use keyward_core::pkce::{CodeVerifier, LoginState};
    let app = TestApp::spawn().await;
    let (browser, _, user_id) = console::person(&app, "dev@company.com", "member").await;
    let verifier = CodeVerifier::generate();
    let state = LoginState::generate();
    let query = keyward_api::CliLoginQuery {
        port: 49152,
        state: state.as_str().to_owned(),
        challenge: verifier.challenge().as_str().to_owned(),
        machine: "devs-laptop".into(),
    };
    let path = format!(
        "/console/cli-login?{}",
        serde_urlencoded::to_string(&query).unwrap()
    );

    // Not signed in: to the sign-in page, and back here afterwards.
    let away = console::Browser::new(&app).get(&path).await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    let location = away.location().unwrap();
    let next: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    assert_eq!(next, vec![("next".to_owned(), path.clone())]);

    let shown = browser.get(&path).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("Authorize the Keyward CLI"));
    assert!(shown
        .body
        .contains("calls itself <strong>devs-laptop</strong>"));
    assert!(shown.body.contains("dev@company.com"));
    assert!(shown.body.contains("acme"));
    let csp = shown.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:49152;"),
        "{csp}"
    );
    let port = query.port.to_string();
    let fields = |decision: &'static str| {
        [
            ("port", port.clone()),
            ("state", query.state.clone()),
            ("challenge", query.challenge.clone()),
            ("machine", query.machine.clone()),
            ("permissions", "read_only".to_owned()),
            ("expires", "30d".to_owned()),
            ("decision", decision.to_owned()),
        ]
    };
    let post = |decision: &'static str| {
        let fields = fields(decision);
        let browser = &browser;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post("/console/cli-login", &pairs).await
        }
    };

    // Cancel: back to the CLI with access_denied.
    let cancelled = post("cancel").await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    assert_eq!(
        cancelled.location().unwrap(),
        format!(
            "http://127.0.0.1:49152/callback?state={}&error=access_denied",
            state.as_str()
        )
    );

    // Approve: back to the CLI with a code and the state.
    let approved = post("approve").await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let location = approved.location().unwrap();
    let query_part = location
        .strip_prefix("http://127.0.0.1:49152/callback?")
        .unwrap_or_else(|| panic!("{location}"));
    let callback: keyward_api::CliCallback = serde_urlencoded::from_str(query_part).unwrap();
    assert_eq!(callback.state.as_deref(), Some(state.as_str()));
    let code = callback.code.unwrap();
    assert!(code.starts_with("kw_cli_"), "{code}");

    let r = app.exchange_cli_code(&code, verifier.expose_secret()).await;
    let created: Value = r.expect(StatusCode::CREATED);
    assert_eq!(created["name"], "keyward CLI on devs-laptop");
    assert_eq!(created["permissions"], json!(["*:read"]));
    assert_eq!(created["owner"]["id"], user_id.as_str());
    let expires = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(expires, app.clock.now() + Duration::days(30));

    // The approval is in the audit log, as the person.
    let audit = app.get("/v1/audit-log", &app.owner_token).await;
    let approval = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cli_login.approve")
        .cloned()
        .unwrap();
    assert_eq!(approval["actor"]["id"], user_id.as_str());
    assert_eq!(approval["details"]["machine"], "devs-laptop");

    // A form without its CSRF token is refused before anything happens.
    let fields = fields("approve");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let forged = browser.post_raw("/console/cli-login", &pairs, &[]).await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    assert!(forged.location().is_none());
}

#[tokio::test]
async fn the_console_page_refuses_damaged_requests() {
    let app = TestApp::spawn().await;
    let browser = console::owner(&app).await;
    let verifier = keyward_core::pkce::CodeVerifier::generate();
    let state = keyward_core::pkce::LoginState::generate();
    let good = keyward_api::CliLoginQuery {
        port: 50000,
        state: state.as_str().to_owned(),
        challenge: verifier.challenge().as_str().to_owned(),
        machine: "box".into(),
    };
    use keyward_api::CliLoginQuery as Q;
    for (what, query) in [
        (
            "port",
            Q {
                port: 80,
                ..good.clone()
            },
        ),
        (
            "state",
            Q {
                state: "a&b".into(),
                ..good.clone()
            },
        ),
        (
            "challenge",
            Q {
                challenge: "plain".into(),
                ..good.clone()
            },
        ),
        (
            "machine",
            Q {
                machine: " ".into(),
                ..good.clone()
            },
        ),
    ] {
        let path = format!(
            "/console/cli-login?{}",
            serde_urlencoded::to_string(&query).unwrap()
        );
        let shown = browser.get(&path).await;
        assert_eq!(
            shown.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            shown.body
        );
        assert!(shown.body.contains(what), "{what}: {}", shown.body);
        assert!(!shown.body.contains("Authorize the Keyward CLI"), "{what}");
    }
    for broken in ["", "?port=50000", "?port=x&state=a&challenge=b&machine=c"] {
        let shown = browser.get(&format!("/console/cli-login{broken}")).await;
        assert_eq!(
            shown.status,
            StatusCode::BAD_REQUEST,
            "{broken:?}: {}",
            shown.body
        );
    }
}

#[tokio::test]
async fn an_agent_admin_gets_no_organization_wide_token_from_a_cli_login() {
    // `POST /v1/keys` makes them only agent-level keys; the console's approval is the
    // same decision.
    use keyward_core::pkce::{CodeVerifier, LoginState};
    let app = TestApp::spawn().await;
    let agent = app
        .post(
            "/v1/agents",
            &app.owner_token,
            json!({"name": "support-bot"}),
        )
        .await;
    let agent = agent.body["id"].as_str().unwrap().to_owned();
    let (first_token, user_id) = app
        .join("agents@company.com", "agent_admin", &[&agent])
        .await;
    let api = app
        .post(
            "/v1/keys",
            &first_token,
            json!({"name": "second", "kind": "personal"}),
        )
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.body);
    let link = console::password_link(&app, &user_id, keyward_store::PasswordPurpose::Setup).await;
    let browser = console::set_password(&app, &link).await;
    let (verifier, state) = (CodeVerifier::generate(), LoginState::generate());
    let challenge = verifier.challenge().as_str().to_owned();
    let shown = browser
        .get(&format!(
            "/console/cli-login?port=50000&state={}&challenge={challenge}&machine=box",
            state.as_str()
        ))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let approved = browser
        .post(
            "/console/cli-login",
            &[
                ("port", "50000"),
                ("state", state.as_str()),
                ("challenge", &challenge),
                ("machine", "box"),
                ("permissions", "all"),
                ("expires", "never"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::FORBIDDEN, "{}", approved.body);
    assert!(
        approved.location().is_none(),
        "no code goes to the loopback"
    );
}

#[tokio::test]
async fn a_machine_name_cannot_pass_for_the_pages_own_words() {
    let app = TestApp::spawn().await;
    let browser = console::owner(&app).await;
    let verifier = keyward_core::pkce::CodeVerifier::generate();
    let state = keyward_core::pkce::LoginState::generate();
    let query = keyward_api::CliLoginQuery {
        port: 50000,
        state: state.as_str().to_owned(),
        challenge: verifier.challenge().as_str().to_owned(),
        machine: "ana-laptop (this computer)".into(),
    };
    let path = format!(
        "/console/cli-login?{}",
        serde_urlencoded::to_string(&query).unwrap()
    );
    let shown = browser.get(&path).await;
    assert_eq!(
        shown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        shown.body
    );
}
