//! Signing in: the one-time password link, sign-in and its throttling, CSRF, session
//! ends, and a session acting with its person's role.

use super::{owner, owner_id, password_link, person, Browser, PASSWORD};
use crate::common::TestApp;
use keyward_core::Clock as _;
use keyward_store::PasswordPurpose;
use reqwest::StatusCode;

#[tokio::test]
async fn a_password_link_signs_the_owner_in_and_works_once() {
    let app = TestApp::spawn().await;
    let link = password_link(&app, &owner_id(&app).await, PasswordPurpose::Setup).await;
    let browser = super::set_password(&app, &link).await;
    let keys = browser.get("/console/keys").await;
    assert_eq!(keys.status, StatusCode::OK);
    assert!(keys.body.contains("<h1>API Keys</h1>"), "{}", keys.body);
    assert!(keys.body.contains("team@company.com"));
    // The same link again: refused, and it says why.
    let again = Browser::new(&app).get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already used"), "{}", again.body);
    // A made-up code is not a link.
    let forged = Browser::new(&app)
        .get("/console/password?code=kw_pwl_nope")
        .await;
    assert_eq!(forged.status, StatusCode::GONE);
    // The password works for signing in.
    let fresh = Browser::new(&app);
    fresh.get("/console/signin").await;
    let signed = fresh
        .post(
            "/console/signin",
            &[("email", "Team@Company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), Some("/console"));
    assert_eq!(fresh.get("/console/keys").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_short_or_mismatched_password_is_refused_and_the_link_still_works() {
    let app = TestApp::spawn().await;
    let link = password_link(&app, &owner_id(&app).await, PasswordPurpose::Setup).await;
    let browser = Browser::new(&app);
    let page = browser.get(&link).await;
    let code = page.field("code").unwrap();
    let short = browser
        .post(
            "/console/password",
            &[("code", &code), ("password", "short"), ("repeat", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("role=\"alert\""), "{}", short.body);
    let mismatch = browser
        .post(
            "/console/password",
            &[
                ("code", &code),
                ("password", PASSWORD),
                ("repeat", "another long one"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!browser.has_cookie("keyward_session"));
    super::set_password(&app, &link).await;
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    owner(&app).await;
    let b = Browser::new(&app);
    b.get("/console/signin").await;
    let wrong = b
        .post(
            "/console/signin",
            &[
                ("email", "team@company.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let unknown = b
        .post(
            "/console/signin",
            &[
                ("email", "nobody@company.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let alert = |body: &str| {
        let start = body.find("role=\"alert\">").unwrap();
        body[start..start + body[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(alert(&wrong.body), alert(&unknown.body));
    assert!(!b.has_cookie("keyward_session"));
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    owner(&app).await;
    let b = Browser::new(&app);
    b.get("/console/signin").await;
    for _ in 0..10 {
        let r = b
            .post(
                "/console/signin",
                &[
                    ("email", "team@company.com"),
                    ("password", "guess guess guess"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let right = b
        .post(
            "/console/signin",
            &[("email", "team@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        right.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        right.body
    );
    assert!(right.body.contains("Too many sign-in attempts"));
    assert!(right.headers.contains_key("retry-after"));
    assert!(!b.has_cookie("keyward_session"));
    // After the window the right password works again.
    app.clock.advance(chrono::Duration::minutes(16));
    let later = b
        .post(
            "/console/signin",
            &[("email", "team@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.body);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let page = b.get("/console/sessions").await;
    let token = page.field("_csrf").unwrap();
    let none = b.post_raw("/console/signout", &[], &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(none.body.contains("csrf_failed"), "{}", none.body);
    let wrong = b
        .post_raw(
            "/console/signout",
            &[("_csrf", "x".repeat(48).as_str())],
            &[],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross = b
        .post_raw(
            "/console/signout",
            &[("_csrf", &token)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let fetch = b
        .post_raw(
            "/console/signout",
            &[("_csrf", &token)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(fetch.status, StatusCode::FORBIDDEN);
    // The session survived all of them, and the right token signs out.
    assert_eq!(b.get("/console/keys").await.status, StatusCode::OK);
    let out = b
        .post_raw("/console/signout", &[("_csrf", &token)], &[])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = b.get("/console/keys").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().unwrap().starts_with("/console/signin"));
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_the_cookie_is_http_only() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    let page = b.get("/console/signin").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.body.contains("<script>"), "no inline script");
    let link = password_link(&app, &owner_id(&app).await, PasswordPurpose::Setup).await;
    let b = Browser::new(&app);
    let form = b.get(&link).await;
    let r = b
        .post(
            "/console/password",
            &[
                ("code", &form.field("code").unwrap()),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("keyward_session=kw_ses_"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn an_idle_session_goes_back_to_sign_in_with_the_page_to_return_to() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    assert_eq!(b.get("/console/keys").await.status, StatusCode::OK);
    app.clock.advance(chrono::Duration::hours(25));
    let page = b.get("/console/keys").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        Some("/console/signin?next=%2Fconsole%2Fkeys")
    );
}

#[tokio::test]
async fn signing_out_everywhere_else_ends_the_other_sessions_only() {
    let app = TestApp::spawn().await;
    let first = owner(&app).await;
    let second = Browser::new(&app);
    second.get("/console/signin").await;
    second
        .post(
            "/console/signin",
            &[("email", "team@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(second.get("/console/keys").await.status, StatusCode::OK);
    let list = first.get("/console/sessions").await;
    assert!(list.body.contains("Sign out everywhere else"));
    assert_eq!(
        list.body.matches("<tr>").count(),
        3,
        "header and two sessions"
    );
    let r = first.post("/console/sessions/revoke-others", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        second.get("/console/keys").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(first.get("/console/keys").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_acts_with_the_persons_role_and_ends_with_their_membership() {
    let app = TestApp::spawn().await;
    let (member, member_token, member_id) = person(&app, "dev@company.com", "member").await;
    let keys = member.get("/console/keys").await;
    assert_eq!(keys.status, StatusCode::OK);
    // A member sees their own token, not the owner's.
    assert!(
        keys.body.contains("dev@company.com first token"),
        "{}",
        keys.body
    );
    assert!(!keys.body.contains("bootstrap token"));
    let removed = app
        .delete(&format!("/v1/members/{member_id}"), &app.owner_token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(
        member.get("/console/keys").await.status,
        StatusCode::SEE_OTHER
    );
    // The token went with the membership.
    assert_ne!(app.verify_code(&member_token).await, "VALID");
}

#[tokio::test]
async fn a_password_change_is_a_change_by_the_session_and_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let other = Browser::new(&app);
    other.get("/console/signin").await;
    other
        .post(
            "/console/signin",
            &[("email", "team@company.com"), ("password", PASSWORD)],
        )
        .await;
    b.get("/console/account").await;
    let wrong = b
        .post(
            "/console/account/password",
            &[
                ("current", "not my password"),
                ("password", "a brand new passphrase"),
                ("repeat", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let changed = b
        .post(
            "/console/account/password",
            &[
                ("current", PASSWORD),
                ("password", "a brand new passphrase"),
                ("repeat", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    // This browser goes on with a new session; the other one is signed out.
    assert_eq!(b.get("/console/keys").await.status, StatusCode::OK);
    assert_eq!(
        other.get("/console/keys").await.status,
        StatusCode::SEE_OTHER
    );
    // The audit log names the session the change was made through.
    let log = app.get("/v1/audit-log", &app.owner_token).await;
    let link = log.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "password.link")
        .expect("the link is audited");
    assert!(link["actor"]["key_id"]
        .as_str()
        .unwrap()
        .starts_with("ses_"));
    let fresh = Browser::new(&app);
    fresh.get("/console/signin").await;
    let old = fresh
        .post(
            "/console/signin",
            &[("email", "team@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_signed_out_session_cannot_change_anything_even_if_the_request_was_authorized() {
    // The store finds the session inside the change's transaction: once it is revoked,
    // a change in its name writes nothing (as for a revoked key).
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let sessions = app
        .state
        .store
        .list_sessions(&owner_id(&app).await)
        .await
        .unwrap();
    let session = sessions.first().unwrap().clone();
    app.state
        .store
        .revoke_session(&session.user_id, &session.id, app.clock.now())
        .await
        .unwrap();
    let actor = keyward_store::Actor {
        actor_type: "user".into(),
        id: Some(session.user_id.clone()),
        name: "team@company.com".into(),
        key_id: Some(session.id.clone()),
        authority: None,
    };
    let r = keyward_server::people::links::issue(
        app.state.store.as_ref(),
        keyward_server::people::links::Issue {
            user_id: &session.user_id,
            org_id: &session.org_id,
            purpose: PasswordPurpose::Reset,
            at: app.clock.now(),
            lifetime: chrono::Duration::hours(1),
            actor,
            source_ip: None,
        },
    )
    .await;
    assert!(
        matches!(r, Err(keyward_store::StoreError::ActorInactive)),
        "{:?}",
        r.err()
    );
    assert_eq!(b.get("/console/keys").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_person_in_two_organizations_switches_between_them() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let one = b.get("/console/keys").await;
    assert!(
        !one.body.contains("org-switch"),
        "one organization: no switcher"
    );
    let created = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            serde_json::json!({"name": "second-org"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let second = created.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = b.get("/console/keys").await;
    assert!(page.body.contains("id=\"org-switch\""), "{}", page.body);
    assert!(page.body.contains("second-org"));
    let switched = b.post("/console/organization", &[("org", &second)]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let there = b.get("/console/keys").await;
    assert!(
        there
            .body
            .contains(&format!("<option value=\"{second}\" selected>")),
        "{}",
        there.body
    );
    assert!(
        !there.body.contains("bootstrap token"),
        "the other organization's keys"
    );
    // An organization the person is not a member of is not one to switch to.
    let foreign = b
        .post("/console/organization", &[("org", "org_nope")])
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}
