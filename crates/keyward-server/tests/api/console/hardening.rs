//! The hostile review of the console's foundation: each test failed before its fix.

use super::{owner, owner_id, password_link, person, Browser, PASSWORD};
use crate::common::TestApp;
use keyward_core::Clock as _;
use keyward_core::{PermissionSet, Role, Scope};
use keyward_server::people::links;
use keyward_store::{Actor, Authority, PasswordPurpose};
use reqwest::StatusCode;
use std::sync::Arc;

#[tokio::test]
async fn a_planted_presession_cookie_is_not_a_csrf_token_for_a_signed_in_session() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let planted = "P".repeat(48);
    b.cookies
        .lock()
        .unwrap()
        .insert("keyward_presession".into(), planted.clone());
    let forged = b
        .post_raw("/console/signout", &[("_csrf", planted.as_str())], &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/console/keys").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_form_from_this_origin_passes_as_browsers_send_it() {
    // Browsers send `Origin` with every form post; ours must pass.
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get("/console/sessions").await;
    let origin = app.base.clone();
    let csrf = b.csrf.lock().unwrap().clone().unwrap();
    let r = b
        .post_raw(
            "/console/signout",
            &[("_csrf", &csrf)],
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = Browser::new(&app).get("/console/signin").await;
    assert_eq!(page.headers["referrer-policy"], "same-origin");
}

#[tokio::test]
async fn concurrent_wrong_passwords_do_not_get_past_the_account_limit() {
    let app = TestApp::spawn().await;
    owner(&app).await;
    let b = Arc::new(Browser::new(&app));
    b.get("/console/signin").await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move {
                let guess = format!("guess number {i:04}");
                b.post(
                    "/console/signin",
                    &[("email", "team@company.com"), ("password", &guess)],
                )
                .await
                .status
            })
        })
        .collect();
    let mut tried = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::UNAUTHORIZED {
            tried += 1;
        }
    }
    assert!(tried <= 10, "{tried} passwords were checked (limit 10)");
}

#[tokio::test]
async fn a_session_switched_away_does_not_write_in_an_organization_it_was_removed_from() {
    let app = TestApp::spawn().await;
    let org_a = app.org_id().await;
    let team_id = owner_id(&app).await;
    let (p, p_token, p_id) = person(&app, "p@company.com", "owner").await;
    let created = app
        .post(
            "/v1/organizations",
            &p_token,
            serde_json::json!({"name": "B"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let org_b = created.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(p.get("/console/keys").await.status, StatusCode::OK);
    let session = app.store.list_sessions(&p_id).await.unwrap().remove(0);
    let actor = Actor {
        actor_type: "user".into(),
        id: Some(p_id.clone()),
        name: "p@company.com".into(),
        key_id: Some(session.id.clone()),
        authority: Some(Authority {
            role: Some(Role::Owner),
            permissions: PermissionSet::all(),
            scope: Scope::Organization,
            rotated: false,
            org_id: Some(org_a.clone()),
        }),
    };
    app.store
        .switch_session_org(&session.id, &org_b)
        .await
        .unwrap();
    let removed = app
        .delete(&format!("/v1/members/{p_id}"), &app.owner_token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let wrote = links::issue(
        app.store.as_ref(),
        links::Issue {
            user_id: &team_id,
            org_id: &org_a,
            purpose: PasswordPurpose::Reset,
            at: app.clock.now(),
            lifetime: chrono::Duration::hours(1),
            actor,
            source_ip: None,
        },
    )
    .await;
    assert!(
        wrote.is_err(),
        "a person removed from A wrote in A through a session now in B"
    );
}

#[tokio::test]
async fn guessing_the_current_password_on_the_account_page_is_throttled() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    b.get("/console/account").await;
    let mut refused = false;
    for i in 0..12 {
        let r = b
            .post(
                "/console/account/password",
                &[
                    ("current", &format!("wrong guess {i:03}")),
                    ("password", "a brand new passphrase"),
                    ("repeat", "a brand new passphrase"),
                ],
            )
            .await;
        refused |= r.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused);
}

#[tokio::test]
async fn a_password_change_ends_every_unused_link_of_the_person() {
    let app = TestApp::spawn().await;
    let b = owner(&app).await;
    let stale = password_link(&app, &owner_id(&app).await, PasswordPurpose::Setup).await;
    b.get("/console/account").await;
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
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app).get(&stale).await.status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn a_huge_or_broken_email_is_no_account_and_no_server_error() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    b.get("/console/signin").await;
    let huge = format!("{}@x.io", "a".repeat(60_000));
    for email in [huge.as_str(), "a\0b@x.io"] {
        let r = b
            .post(
                "/console/signin",
                &[("email", email), ("password", "whatever it is")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.len() < 20_000, "the input is not echoed back");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_guesser_does_not_lock_everyone_out() {
    let app = TestApp::spawn_with_settings(|s| {
        s.policy.console.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    owner(&app).await;
    let attacker = Browser::new(&app);
    attacker.get("/console/signin").await;
    let csrf = attacker.csrf.lock().unwrap().clone().unwrap();
    for i in 0..50 {
        let email = format!("nobody{i}@company.com");
        attacker
            .post_raw(
                "/console/signin",
                &[
                    ("_csrf", &csrf),
                    ("email", &email),
                    ("password", "whatever it is"),
                ],
                &[("x-forwarded-for", "203.0.113.66")],
            )
            .await;
    }
    let blocked = attacker
        .post_raw(
            "/console/signin",
            &[
                ("_csrf", &csrf),
                ("email", "x@company.com"),
                ("password", "whatever it is"),
            ],
            &[("x-forwarded-for", "203.0.113.66")],
        )
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let team = Browser::new(&app);
    team.get("/console/signin").await;
    let csrf = team.csrf.lock().unwrap().clone().unwrap();
    let r = team
        .post_raw(
            "/console/signin",
            &[
                ("_csrf", &csrf),
                ("email", "team@company.com"),
                ("password", PASSWORD),
            ],
            &[("x-forwarded-for", "198.51.100.7")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn an_invitation_made_in_the_console_outlives_the_session_not_the_role() {
    // Issued through a session, it is the person's: signing out does not end it.
    let app = TestApp::spawn().await;
    let (admin, _, admin_id) = person(&app, "admin@company.com", "org_admin").await;
    let session = app.store.list_sessions(&admin_id).await.unwrap().remove(0);
    let org_id = app.org_id().await;
    let make = |email: &'static str| {
        let app = &app;
        let session = session.clone();
        let org_id = org_id.clone();
        async move {
            let code = keyward_core::invite::InviteCode::generate();
            let inv = keyward_store::NewInvitation {
                id: keyward_core::ids::new_id("inv"),
                org_id: org_id.clone(),
                email: email.to_owned(),
                role: Role::Member,
                agents: vec![],
                permissions: PermissionSet::all(),
                code_hash: code.hash(),
                created_at: app.clock.now(),
                created_by: session.user_id.clone(),
                created_by_key: Some(session.id.clone()),
                expires_at: app.clock.now() + chrono::Duration::days(1),
            };
            let audit = keyward_store::NewAuditEvent {
                org_id,
                at: app.clock.now(),
                actor: Actor {
                    actor_type: "user".into(),
                    id: Some(session.user_id.clone()),
                    name: "admin@company.com".into(),
                    key_id: Some(session.id.clone()),
                    authority: None,
                },
                action: "invitation.create".into(),
                target_type: "invitation".into(),
                target_id: String::new(),
                source_ip: None,
                details: serde_json::json!({}),
            };
            app.store.create_invitation(&inv, audit).await.unwrap();
            code.expose_secret().to_owned()
        }
    };
    let first = make("one@company.com").await;
    let second = make("two@company.com").await;
    // The admin signs out: the invitation still works.
    admin.get("/console/sessions").await;
    admin.post("/console/signout", &[]).await;
    assert_eq!(app.accept(&first, None).await.status, StatusCode::CREATED);
    // Demoted to member: it no longer does.
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            &app.owner_token,
            serde_json::json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(app.accept(&second, None).await.status, StatusCode::CREATED);
}
