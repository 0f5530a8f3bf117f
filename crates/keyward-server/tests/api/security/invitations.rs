//! Invitations: one-time codes, redemption, the inviter's standing and the inviting key.

use super::*;

/// An invitation hands the inviter a one-time code, never a token of the invited person;
/// a person who already has an account redeems only with their own token, once.
#[tokio::test]
async fn invitations_never_hand_the_inviter_a_credential() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    // A victim who belongs to another organization.
    let other = app
        .post("/v1/organizations", t, json!({"name": "victim-co"}))
        .await;
    let victim_owner = other.body["token"]["key"].as_str().unwrap().to_owned();
    let victim_org = other.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/v1/invitations",
            &victim_owner,
            json!({"email": "victim@company.com", "role": "member"}),
        )
        .await;
    let code = r.body["code"].as_str().unwrap().to_owned();
    assert!(r.body.get("token").is_none(), "{}", r.body);
    let accepted = app.accept(&code, None).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    let victim = accepted.body["token"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.accept(&code, None).await.code(), "invitation_used");

    // The attacker (an admin of acme) invites the victim's email.
    let (attacker, _) = app.join("mallory@company.com", "org_admin", &[]).await;
    let r = app
        .post(
            "/v1/invitations",
            &attacker,
            json!({"email": "Victim@Company.com", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let text = r.body.to_string();
    assert!(
        !text.contains("kw_pat_"),
        "the invitation holds a token: {text}"
    );
    let code = r.body["code"].as_str().unwrap().to_owned();
    // Redeeming it without the victim's own token, or with someone else's, is refused.
    for token in [None, Some(attacker.as_str())] {
        let r = app.accept(&code, token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "identity_required"),
            "{}",
            r.body
        );
    }
    // The victim accepts with their own token; their new token sees only acme.
    let r = app.accept(&code, Some(&victim)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let in_acme = r.body["token"]["key"].as_str().unwrap().to_owned();
    let orgs = app.get("/v1/me/organizations", &in_acme).await;
    assert_eq!(orgs.body.as_array().unwrap().len(), 1, "{}", orgs.body);
    assert_eq!(orgs.body[0]["name"], "acme");
    let orgs = app.get("/v1/me/organizations", &victim).await;
    let names: Vec<_> = orgs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(names, vec![json!(victim_org)]);

    // Codes expire, can be revoked, and are refused when mistyped.
    let code = app
        .invite(
            t,
            json!({"email": "late@company.com", "role": "member", "expires": "1h"}),
        )
        .await;
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");
    let r = app
        .post(
            "/v1/invitations",
            t,
            json!({"email": "maybe@company.com", "role": "member"}),
        )
        .await;
    let (code, id) = (
        r.body["code"].as_str().unwrap().to_owned(),
        r.body["invitation"]["id"].as_str().unwrap().to_owned(),
    );
    let listed = app.get("/v1/invitations", t).await;
    assert!(listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id));
    assert!(!listed.body.to_string().contains(&code));
    assert_eq!(
        app.delete(&format!("/v1/invitations/{id}"), t).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");
    let mut typo = code.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let r = app.accept(&String::from_utf8(typo).unwrap(), None).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );
}

/// Two redemptions of one code at once: exactly one person joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_is_redeemed_once_under_concurrency() {
    let app = Arc::new(TestApp::spawn().await);
    let code = app
        .invite(
            &app.owner_token,
            json!({"email": "once@company.com", "role": "member"}),
        )
        .await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, code) = (app.clone(), code.clone());
            tokio::spawn(async move { app.accept(&code, None).await.status })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

/// Someone removed from every organization (or whose organizations were deleted) has no
/// token left to prove who they are: an invitation alone brings them back.
#[tokio::test]
async fn a_removed_person_can_be_invited_back() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (member, user_id) = app.join("back@company.com", "member", &[]).await;
    assert_eq!(
        app.delete(&format!("/v1/members/{user_id}"), t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/me", &member).await.status,
        StatusCode::UNAUTHORIZED
    );
    let code = app
        .invite(t, json!({"email": "back@company.com", "role": "member"}))
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["member"]["user_id"],
        user_id.as_str(),
        "the same person"
    );
    let token = r.body["token"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
}

/// An invitation is only as good as its inviter now: demoting or narrowing the inviter
/// ends it, rotating the inviter's key does not; and an admin cannot replace an owner's
/// pending invitation by inviting the same email again.
#[tokio::test]
async fn invitations_follow_their_inviter() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (admin, admin_id) = app.join("inviter@company.com", "org_admin", &[]).await;
    let admin_key = app.get("/v1/me", &admin).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app
        .invite(&admin, json!({"email": "b@company.com", "role": "member"}))
        .await;
    // Rotating the inviter's key carries its invitations over.
    let r = app
        .post(&format!("/v1/keys/{admin_key}/rotate"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let admin = r.body["key"].as_str().unwrap().to_owned();
    let rotated_code = app
        .invite(&admin, json!({"email": "c@company.com", "role": "member"}))
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "after a rotation: {}",
        r.body
    );
    // Demoting the inviter ends what they handed out.
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            t,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.accept(&rotated_code, None).await.code(),
        "invitation_expired"
    );

    // Narrowing the inviter's key ends invitations it could no longer hand out.
    let (narrowable, narrowable_id) = app.create_key(json!({"name": "inviter key"})).await;
    let code = app
        .invite(
            &narrowable,
            json!({"email": "d@company.com", "role": "member"}),
        )
        .await;
    let r = app
        .patch(
            &format!("/v1/keys/{narrowable_id}"),
            t,
            json!({"permissions": ["members:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.accept(&code, None).await.code(), "invitation_expired");

    // An owner's pending invitation is not an admin's to replace.
    app.invite(t, json!({"email": "boss@company.com", "role": "owner"}))
        .await;
    let (other_admin, _) = app.join("admin2@company.com", "org_admin", &[]).await;
    let r = app
        .post(
            "/v1/invitations",
            &other_admin,
            json!({"email": "boss@company.com", "role": "member"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "invitation_pending"),
        "{}",
        r.body
    );
}

/// An invitation issued by a key that is later rotated (grace period) gives a first token
/// that follows the replacement, not the ending grace.
#[tokio::test]
async fn an_invitation_follows_its_inviting_key_through_a_rotation() {
    let app = TestApp::spawn().await;
    let (inviter, inviter_id) = app.create_key(json!({"name": "inviter"})).await;
    let code = app
        .invite(
            &inviter,
            json!({"email": "new@company.com", "role": "member"}),
        )
        .await;
    let r = app
        .post(
            &format!("/v1/keys/{inviter_id}/rotate"),
            &app.owner_token,
            json!({"grace": "2h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["token"]["expires_at"],
        serde_json::Value::Null,
        "{}",
        r.body
    );
}

/// An invitation issued with a short-lived key gives a first token that expires with it.
#[tokio::test]
async fn an_invitations_first_token_does_not_outlive_the_inviting_key() {
    let app = TestApp::spawn().await;
    let made = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "short", "expires": "7d"}),
        )
        .await;
    let short = made.body["key"].as_str().unwrap().to_owned();
    let code = app
        .invite(
            &short,
            json!({"email": "new@company.com", "role": "org_admin"}),
        )
        .await;
    let r = app.accept(&code, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["expires_at"], made.body["expires_at"]);
}
