//! Members and roles on the console: inviting with a one-time join link, joining in the
//! browser (a new person sets a password; one with an account accepts signed in), what
//! a member may do, role changes, removal, and an admin's password reset link.

use super::{link_in, owner, owner_id, person, Browser, PASSWORD};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const NEW_PASSWORD: &str = "another long passphrase here";

/// The owner invites `email` as `role` on the Members page; returns the join link.
async fn invite(owner: &Browser, email: &str, role: &str) -> String {
    owner.get("/console/members").await;
    let page = owner
        .post(
            "/console/members/invite",
            &[("email", email), ("role", role), ("expires", "24h")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("shown only once"), "{}", page.body);
    link_in(&page.body, "/console/join?code=kw_inv_")
}

/// Opens `link` in a fresh browser and sets the password there: the joined browser.
async fn join_with_password(app: &TestApp, link: &str) -> Browser {
    let b = Browser::new(app);
    let page = b.get(link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = page.field("code").unwrap();
    let done = b
        .post(
            "/console/join",
            &[
                ("code", &code),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/console"));
    assert!(b.has_cookie("keyward_session"));
    b
}

#[tokio::test]
async fn an_invitation_link_lets_a_new_person_set_a_password_and_join_as_a_member() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let page = admin.get("/console/members").await;
    assert!(page.body.contains("Invite someone"), "{}", page.body);
    let link = invite(&admin, "dev@company.com", "member").await;
    assert!(link.starts_with(&app.base), "{link}");
    // The inviter holds a link for them, never a credential of theirs.
    let invited = admin.get("/console/members").await;
    assert!(!invited.body.contains("kw_pat_") && !invited.body.contains("kw_inv_"));
    assert!(
        invited.body.contains("Pending invitations") && invited.body.contains("dev@company.com")
    );

    // The link outlives the inviter's session: it rests on the inviter, not the session.
    assert_eq!(
        admin.post("/console/signout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    // The invited person sees the organization and the role, sets a password, and is in.
    let visitor = Browser::new(&app);
    let join = visitor.get(&link).await;
    assert_eq!(join.status, StatusCode::OK);
    assert!(join.body.contains("Join acme"), "{}", join.body);
    assert!(
        join.body.contains("<strong>member</strong>"),
        "{}",
        join.body
    );
    for label in ["New password", "Repeat password", ">Join<"] {
        assert!(join.body.contains(label), "{label}: {}", join.body);
    }
    let member = join_with_password(&app, &link).await;
    let members = member.get("/console/members").await;
    assert_eq!(members.status, StatusCode::OK);
    assert!(members.body.contains("dev@company.com") && members.body.contains("team@company.com"));
    assert!(members.body.contains("<span class=\"role\">member</span>"));
    // A member has no buttons for what they may not do, and is refused if they try.
    for absent in ["Invite someone", "Manage", "Pending invitations", "Revoke"] {
        assert!(!members.body.contains(absent), "{absent}: {}", members.body);
    }
    let forced = member
        .post(
            "/console/members/invite",
            &[
                ("email", "x@company.com"),
                ("role", "member"),
                ("expires", "24h"),
            ],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    assert!(forced.body.contains("role_forbidden"), "{}", forced.body);

    // Joined with a password only: no first token was made for them.
    let listed = app.get("/v1/members", &app.owner_token).await;
    let dev = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "dev@company.com")
        .unwrap();
    assert_eq!(dev["role"], "member");
    let keys = app.get("/v1/keys", &app.owner_token).await;
    assert!(!keys
        .body
        .to_string()
        .contains("dev@company.com first token"));
    // The password works for signing in, and the link works only once.
    let again = Browser::new(&app).get(&link).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already accepted"), "{}", again.body);
    let fresh = Browser::new(&app);
    fresh.get("/console/signin").await;
    let signed = fresh
        .post(
            "/console/signin",
            &[("email", "dev@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
}

#[tokio::test]
async fn the_api_and_the_join_page_share_one_link_and_its_rules() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/invitations",
            &app.owner_token,
            json!({"email": "dev@company.com", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let link = r.body["link"].as_str().unwrap().to_owned();
    let code = r.body["code"].as_str().unwrap();
    assert_eq!(link, format!("{}/console/join?code={code}", app.base));
    // Mismatched and short passwords come back with the reason; the link still works.
    let b = Browser::new(&app);
    b.get(&link).await;
    for (password, repeat) in [("short", "short"), (PASSWORD, "not the same one at all")] {
        let page = b
            .post(
                "/console/join",
                &[("code", code), ("password", password), ("repeat", repeat)],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
        assert!(page.body.contains("role=\"alert\""), "{}", page.body);
        assert!(!b.has_cookie("keyward_session"));
    }
    // Redeemed through the API instead, the link is used up too.
    assert_eq!(app.accept(code, None).await.status, StatusCode::CREATED);
    let used = b
        .post(
            "/console/join",
            &[("code", code), ("password", PASSWORD), ("repeat", PASSWORD)],
        )
        .await;
    assert_eq!(used.status, StatusCode::CONFLICT, "{}", used.body);
    assert!(!b.has_cookie("keyward_session"));
    // The operator's public URL, when set, is the links' address.
    let behind = TestApp::spawn_with_settings(|s| {
        s.policy.console.public_url = Some("https://keys.example.com/".into())
    })
    .await;
    let r = behind
        .post(
            "/v1/invitations",
            &behind.owner_token,
            json!({"email": "a@company.com", "role": "member"}),
        )
        .await;
    assert!(r.body["link"]
        .as_str()
        .unwrap()
        .starts_with("https://keys.example.com/console/join?code=kw_inv_"));
}

#[tokio::test]
async fn revoked_expired_and_broken_links_say_why() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let revoked = invite(&admin, "gone@company.com", "member").await;
    let expired = invite(&admin, "late@company.com", "member").await;
    let list = app.get("/v1/invitations", &app.owner_token).await;
    let id = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "gone@company.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.get("/console/members").await;
    let r = admin
        .post(&format!("/console/members/invitations/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = Browser::new(&app).get(&revoked).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(
        page.body.contains("expired or was revoked"),
        "{}",
        page.body
    );
    app.clock.advance(chrono::Duration::hours(25));
    let page = Browser::new(&app).get(&expired).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("role=\"alert\""));
    let page = Browser::new(&app)
        .get("/console/join?code=kw_inv_nope")
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("not complete"), "{}", page.body);
    let forged = format!(
        "/console/join?code={}",
        keyward_core::invite::InviteCode::generate().expose_secret()
    );
    let page = Browser::new(&app).get(&forged).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("not valid"), "{}", page.body);
}

#[tokio::test]
async fn a_person_with_an_account_signs_in_and_accepts_with_their_session() {
    let app = TestApp::spawn().await;
    let (dev, _, dev_id) = person(&app, "dev@company.com", "member").await;
    // Another organization (the owner's), which invites dev.
    let r = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "beta"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let beta_token = r.body["token"]["key"].as_str().unwrap().to_owned();
    let beta = r.body["organization"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/v1/invitations",
            &beta_token,
            json!({"email": "dev@company.com", "role": "member"}),
        )
        .await;
    let link = r.body["link"].as_str().unwrap().to_owned();
    // Not signed in: no password form (that would take over an account), a way to sign in.
    let stranger = Browser::new(&app);
    let page = stranger.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("New password"), "{}", page.body);
    assert!(page.body.contains("Sign in to accept"), "{}", page.body);
    assert!(page
        .body
        .contains("/console/signin?next=%2Fconsole%2Fjoin%3Fcode%3Dkw_inv_"));
    // A forced password post is refused too, and sets nothing.
    let code = link.split("code=").nth(1).unwrap().to_owned();
    stranger.get("/console/signin").await; // a form token of their own
    let forced = stranger
        .post(
            "/console/join",
            &[
                ("code", &code),
                ("password", NEW_PASSWORD),
                ("repeat", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        forced.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        forced.body
    );
    assert!(!stranger.has_cookie("keyward_session"));
    // Signed in as dev: one button, and the session joins beta.
    let page = dev.get(&link).await;
    assert!(
        page.body.contains(">Join<") && !page.body.contains("New password"),
        "{}",
        page.body
    );
    let done = dev.post("/console/join", &[("code", &code)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let members = dev.get("/console/members").await;
    assert!(
        members.body.contains("beta"),
        "the session acts in beta now: {}",
        members.body
    );
    let beta_members = app.get("/v1/members", &beta_token).await;
    assert!(beta_members.body.to_string().contains(&dev_id));
    let _ = beta;
    // Their password is the one they had.
    let fresh = Browser::new(&app);
    fresh.get("/console/signin").await;
    let r = fresh
        .post(
            "/console/signin",
            &[("email", "dev@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_owner_changes_a_role_and_removing_a_member_ends_their_session() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let (member, _, member_id) = person(&app, "dev@company.com", "member").await;
    let list = admin.get("/console/members").await;
    assert!(
        list.body.contains(&format!("/console/members/{member_id}")),
        "{}",
        list.body
    );
    let page = admin.get(&format!("/console/members/{member_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for part in [
        "Change role",
        "Password reset link",
        "Remove dev@company.com",
    ] {
        assert!(page.body.contains(part), "{part}: {}", page.body);
    }
    // A role the API refuses comes back with its reason and what was chosen.
    let bad = admin
        .post(
            &format!("/console/members/{member_id}/role"),
            &[("role", "agent_admin")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("at least one agent"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"agent_admin\" selected"),
        "{}",
        bad.body
    );
    let r = admin
        .post(
            &format!("/console/members/{member_id}/role"),
            &[("role", "org_admin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let m = app
        .get(&format!("/v1/members/{member_id}"), &app.owner_token)
        .await;
    assert_eq!(m.body["role"], "org_admin");
    // Now an org admin: they manage members but not the owner.
    let as_admin = member.get("/console/members").await;
    assert!(as_admin.body.contains("Invite someone"));
    assert!(!as_admin
        .body
        .contains(&format!("/console/members/{}\"", owner_id(&app).await)));
    let owner_page = member
        .get(&format!("/console/members/{}", owner_id(&app).await))
        .await;
    assert!(
        !owner_page.body.contains("Change role"),
        "{}",
        owner_page.body
    );
    let forced = member
        .post(
            &format!("/console/members/{}/role", owner_id(&app).await),
            &[("role", "member")],
        )
        .await;
    assert_eq!(forced.status, StatusCode::FORBIDDEN, "{}", forced.body);
    // Removal: their session ends at once.
    admin.get(&format!("/console/members/{member_id}")).await;
    let r = admin
        .post(&format!("/console/members/{member_id}/remove"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some("/console/members?done=removed"));
    let after = member.get("/console/members").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().unwrap().starts_with("/console/signin"));
    assert_eq!(
        app.get(&format!("/v1/members/{member_id}"), &app.owner_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_admins_reset_link_works_once_and_a_member_cannot_make_one_for_the_owner() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let owner_user = owner_id(&app).await;
    let (member, member_token, member_id) = person(&app, "dev@company.com", "member").await;
    admin.get(&format!("/console/members/{member_id}")).await;
    let page = admin
        .post(&format!("/console/members/{member_id}/password-link"), &[])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let link = link_in(&page.body, "/console/password?code=kw_pwl_");
    // Used once: it sets the password and signs out their other sessions.
    let b = Browser::new(&app);
    let form = b.get(&link).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let code = form.field("code").unwrap();
    let done = b
        .post(
            "/console/password",
            &[
                ("code", &code),
                ("password", NEW_PASSWORD),
                ("repeat", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        member.get("/console/members").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(Browser::new(&app).get(&link).await.status, StatusCode::GONE);
    // A member cannot make one for the owner, nor the owner for themselves.
    let (other, _, _) = person(&app, "ops@company.com", "member").await;
    other.get("/console/members").await;
    let r = other
        .post(&format!("/console/members/{owner_user}/password-link"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = admin
        .post(&format!("/console/members/{owner_user}/password-link"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The API: the same rules, a link and its expiry.
    let path = format!("/v1/members/{owner_user}/password-link");
    // (A reset ends sessions, not tokens: dev's first token still works, as a member.)
    let r = app
        .send(reqwest::Method::POST, &path, Some(&member_token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.code(), "role_forbidden");
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/members/{member_id}/password-link"),
            Some(&app.owner_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["link"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/console/password?code=kw_pwl_", app.base)));
    assert_eq!(r.body["expires_at"], "2030-01-02T00:00:00Z");
    let path = format!("/v1/members/{member_id}/password-link");
    let r = app
        .post(&path, &app.owner_token, json!({"expires": "4h"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["expires_at"], "2030-01-01T04:00:00Z");
    let r = app
        .post(&path, &app.owner_token, json!({"expires": "10d"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "expires");
}

#[tokio::test]
async fn a_reset_link_is_refused_for_someone_of_another_organization_too() {
    let app = TestApp::spawn().await;
    let admin = owner(&app).await;
    let (_, dev_token, dev_id) = person(&app, "dev@company.com", "member").await;
    // dev founds an organization of their own, where they are the owner.
    let r = app
        .post("/v1/organizations", &dev_token, json!({"name": "devs"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let page = admin.get(&format!("/console/members/{dev_id}")).await;
    assert!(!page.body.contains("Password reset link"), "{}", page.body);
    assert!(
        page.body.contains("another organization too"),
        "{}",
        page.body
    );
    let r = admin
        .post(&format!("/console/members/{dev_id}/password-link"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("another organization"), "{}", r.body);
}

#[tokio::test]
async fn an_invitation_cannot_set_the_password_of_a_returning_account() {
    // Removed from every organization, the person still has their password: a new
    // invitation's holder must prove it is them with it, not choose a new one.
    let app = TestApp::spawn().await;
    let owner_browser = owner(&app).await;
    let (_, _, user_id) = person(&app, "back@company.com", "member").await;
    let removed = app
        .delete(&format!("/v1/members/{user_id}"), &app.owner_token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let link = invite(&owner_browser, "back@company.com", "member").await;
    let b = Browser::new(&app);
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Your password"), "{}", page.body);
    assert!(!page.body.contains("New password"));
    let code = page.field("code").unwrap();
    // Choosing a new password is not a way in.
    let hijack = b
        .post(
            "/console/join",
            &[
                ("code", &code),
                ("password", NEW_PASSWORD),
                ("repeat", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        hijack.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        hijack.body
    );
    assert!(!b.has_cookie("keyward_session"));
    let joined = b
        .post("/console/join", &[("code", &code), ("current", PASSWORD)])
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    assert_eq!(b.get("/console/keys").await.status, StatusCode::OK);
    // The password is still the one they had.
    let fresh = Browser::new(&app);
    fresh.get("/console/signin").await;
    let r = fresh
        .post(
            "/console/signin",
            &[("email", "back@company.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn a_reset_link_ends_when_its_issuer_may_no_longer_act_on_the_person() {
    // An admin's link made for a member must not open the account once that member
    // outranks them.
    let app = TestApp::spawn().await;
    let (admin, _, _) = person(&app, "admin@company.com", "org_admin").await;
    let (_, _, member_id) = person(&app, "dev@company.com", "member").await;
    admin.get(&format!("/console/members/{member_id}")).await;
    let page = admin
        .post(&format!("/console/members/{member_id}/password-link"), &[])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let link = link_in(&page.body, "/console/password?code=kw_pwl_");
    let promoted = app
        .patch(
            &format!("/v1/members/{member_id}"),
            &app.owner_token,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let b = Browser::new(&app);
    let form = b.get(&link).await;
    let code = form.field("code").unwrap();
    let done = b
        .post(
            "/console/password",
            &[
                ("code", &code),
                ("password", NEW_PASSWORD),
                ("repeat", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FORBIDDEN, "{}", done.body);
    assert!(!b.has_cookie("keyward_session"));
}
