//! Roles and restrictions: owners and admins, the audit log, new organizations, tenants.

use super::*;

/// An org admin cannot throttle, switch off or revoke owners (or other admins); an
/// owner can limit an admin.
#[tokio::test]
async fn admins_cannot_lock_owners_out() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let owner_id = app.get("/v1/me", t).await.body["owner"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, admin_id) = app.join("admin@company.com", "org_admin", &[]).await;
    let (other_admin, _) = app.join("admin2@company.com", "org_admin", &[]).await;
    let (_, member_id) = app.join("dev@company.com", "member", &[]).await;
    let limit = json!({"ratelimit": {"limit": 1, "period": "30d"}});
    for target in [&owner_id, &admin_id] {
        let r = app
            .send(
                reqwest::Method::PUT,
                &format!("/v1/owner-limits/user/{target}"),
                Some(&other_admin),
                Some(limit.clone()),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "role_forbidden"),
            "{}",
            r.body
        );
    }
    for _ in 0..3 {
        assert_eq!(app.get("/v1/me", t).await.status, StatusCode::OK);
    }
    let owner_key = app.get("/v1/me", t).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, body) in [
        (reqwest::Method::PATCH, Some(json!({"enabled": false}))),
        (reqwest::Method::PATCH, Some(limit.clone())),
        (reqwest::Method::DELETE, None),
        (reqwest::Method::POST, None),
    ] {
        let path = if method == reqwest::Method::POST {
            format!("/v1/keys/{owner_key}/rotate")
        } else {
            format!("/v1/keys/{owner_key}")
        };
        let r = app.send(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.body
        );
    }
    assert_eq!(app.get("/v1/me", t).await.status, StatusCode::OK);
    // Below their rank, admins do limit.
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/owner-limits/user/{member_id}"),
            Some(&admin),
            Some(limit.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Owners limit admins, and admins are then limited.
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/owner-limits/user/{admin_id}"),
            Some(t),
            Some(limit),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/me", &admin).await.code(), "rate_limited");
    // An admin can neither make nor unmake an admin, nor remove one.
    let r = app
        .patch(
            &format!("/v1/members/{member_id}"),
            &other_admin,
            json!({"role": "org_admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .delete(&format!("/v1/members/{admin_id}"), &other_admin)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

/// The audit log is for owners and admins; a member sees events about their own keys
/// only (no other actors, no source addresses of others).
#[tokio::test]
async fn members_read_only_the_audit_events_of_their_own_keys() {
    let app = TestApp::spawn().await;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let mine = app.post("/v1/keys", &member, json!({"name": "mine"})).await;
    let mine_id = mine.body["id"].as_str().unwrap().to_owned();
    app.create_key(json!({"name": "someone else's"})).await;
    app.post("/v1/workspaces", &app.owner_token, json!({"name": "prod"}))
        .await;
    let seen = app.get("/v1/audit-log", &member).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let events = seen.body["data"].as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["target"]["type"], "key", "{e}");
        assert!(
            e["target"]["id"] == mine_id
                || e["details"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("first token")),
            "a member saw {e}"
        );
    }
    assert!(events.iter().any(|e| e["target"]["id"] == mine_id));
    let all = app.get("/v1/audit-log", &admin).await;
    let all = all.body["data"].as_array().unwrap();
    assert!(all.iter().any(|e| e["action"] == "workspace.create"));
    assert!(all.len() > events.len());
}

/// A narrow key creates an organization whose first token is no wider than it; the
/// server can forbid creating organizations and caps them per person.
#[tokio::test]
async fn new_organizations_grant_no_more_than_their_creator() {
    let app = TestApp::spawn().await;
    let (narrow, _) = app
        .create_key(json!({"name": "narrow", "permissions": ["organizations:write"]}))
        .await;
    let r = app
        .post("/v1/organizations", &narrow, json!({"name": "sneaky"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["token"]["permissions"],
        json!(["organizations:write"])
    );
    let token = r.body["token"]["key"].as_str().unwrap().to_owned();
    let r = app.post("/v1/keys", &token, json!({"name": "all"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // The per-person cap (default 10) counts the organizations this person created.
    let mut last = StatusCode::CREATED;
    for i in 0..10 {
        last = app
            .post(
                "/v1/organizations",
                &app.owner_token,
                json!({"name": format!("org {i}")}),
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::CONFLICT);
    let r = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "one more"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "org_limit_reached")
    );
}

#[tokio::test]
async fn a_server_can_forbid_creating_organizations() {
    let app = TestApp::spawn_with_settings(|s| s.policy.allow_org_creation = false).await;
    let r = app
        .post("/v1/organizations", &app.owner_token, json!({"name": "x"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "org_creation_disabled")
    );
}

/// Verify answers FORBIDDEN for a workspace or agent that is not the key's
/// organization's (another tenant's, or none at all), and honours the channel however
/// it is named: `channel`, `hookId` or `X-Hook-Id`, refusing two that differ.
#[tokio::test]
async fn verify_checks_that_workspaces_agents_and_channels_are_the_keys() {
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
    let hook = app
        .post("/v1/channels", t, json!({"agent": agent, "name": "c"}))
        .await
        .body["hook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .post("/v1/organizations", t, json!({"name": "tenant-b"}))
        .await;
    let b = other.body["token"]["key"].as_str().unwrap().to_owned();
    let b_ws = app
        .post("/v1/workspaces", &b, json!({"name": "theirs"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_agent = app
        .post("/v1/agents", &b, json!({"name": "theirs"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (key, _) = app
        .create_key(json!({"name": "org-wide", "kind": "api"}))
        .await;
    let verify = |body: serde_json::Value| async {
        let mut body = body;
        body["key"] = json!(key);
        app.post("/v1/keys/verify", t, body).await
    };
    for (field, id) in [
        ("workspace", b_ws.as_str()),
        ("workspace", "ws_doesnotexist"),
        ("agent", b_agent.as_str()),
        ("agent", "agt_doesnotexist"),
        ("workspace", agent.as_str()),
    ] {
        let r = verify(json!({ field: id })).await;
        assert_eq!(r.body["code"], "FORBIDDEN", "{field} {id}: {}", r.body);
    }
    assert_eq!(verify(json!({"workspace": ws})).await.body["code"], "VALID");
    assert_eq!(verify(json!({"agent": agent})).await.body["code"], "VALID");
    for body in [json!({"channel": hook}), json!({"hookId": hook})] {
        assert_eq!(verify(body).await.body["code"], "VALID");
    }
    assert_eq!(
        verify(json!({"hookId": "no-such-hook"})).await.body["code"],
        "CHANNEL_NOT_FOUND"
    );
    let with_header = |value: &str, body: serde_json::Value| {
        let mut body = body;
        body["key"] = json!(key);
        app.client
            .post(format!("{}/v1/keys/verify", app.base))
            .bearer_auth(t)
            .header("x-hook-id", value)
            .json(&body)
    };
    let r: serde_json::Value = with_header("no-such-hook", json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], "CHANNEL_NOT_FOUND");
    let r = with_header(&hook, json!({})).send().await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "VALID"
    );
    let r = with_header(&hook, json!({"hookId": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    let r = verify(json!({"channel": hook, "hookId": "x"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    // Deleting the channel takes it out of the index at once.
    let channels = app.get("/v1/channels", t).await;
    let id = channels.body[0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/channels/{id}"), t).await;
    assert_eq!(
        verify(json!({"channel": hook})).await.body["code"],
        "CHANNEL_NOT_FOUND"
    );
}

/// What an admin imposes on a person's key (switching it off, limits, the
/// organization's default limits) the person cannot undo; what they did themselves,
/// they can.
#[tokio::test]
async fn people_cannot_undo_restrictions_others_put_on_their_keys() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    let made = app.post("/v1/keys", &member, json!({"name": "mine"})).await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/keys/{id}");
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": false}))
            .await
            .status,
        StatusCode::OK
    );
    let r = app.patch(&path, &member, json!({"enabled": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Their own switch they may flip back.
    assert_eq!(
        app.patch(&path, &member, json!({"enabled": false}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.patch(&path, &member, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Switched off by its person, then by an admin: the admin's switch is the one that
    // holds.
    for (who, body) in [
        (&member, json!({"enabled": false})),
        (&admin, json!({"enabled": false})),
    ] {
        assert_eq!(app.patch(&path, who, body).await.status, StatusCode::OK);
    }
    let r = app.patch(&path, &member, json!({"enabled": true})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.get(&path, &admin).await.body["disabled_by"]
            .as_str()
            .map(|s| s.starts_with("usr_")),
        Some(true)
    );
    assert_eq!(
        app.patch(&path, &admin, json!({"enabled": true}))
            .await
            .status,
        StatusCode::OK
    );
    // Limits set by an admin stay.
    let limit = json!({"ratelimit": {"limit": 10, "period": "1m"}});
    assert_eq!(
        app.patch(&path, &admin, limit.clone()).await.status,
        StatusCode::OK
    );
    let r = app.patch(&path, &member, json!({"ratelimit": null})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The organization's defaults are defaults, not a cap: a person may change them on
    // their own key, as they could by creating the key with limits of their own.
    let org = app.org_id().await;
    app.patch(
        &format!("/v1/organizations/{org}"),
        t,
        json!({"settings": {"default_ratelimit": {"limit": 100, "period": "1m"}}}),
    )
    .await;
    let made = app
        .post("/v1/keys", &member, json!({"name": "defaulted"}))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &member,
            json!({"ratelimit": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Limits a person put on their own key they may change.
    let made = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "self-limited", "ratelimit": {"limit": 5, "period": "1m"}}),
        )
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &member,
            json!({"ratelimit": {"limit": 50, "period": "1m"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A service account's key holds at most the account's scopes, whoever edits it.
#[tokio::test]
async fn a_service_account_key_cannot_be_widened_past_its_scopes() {
    let app = TestApp::spawn().await;
    let sa = app
        .post(
            "/v1/service-accounts",
            &app.owner_token,
            json!({"name": "ro", "scopes": "keys:read"}),
        )
        .await;
    let key_id = sa.body["key"]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{key_id}"),
            &app.owner_token,
            json!({"permissions": "all"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("permissions")),
        "{}",
        r.body
    );
}

/// `POST /v1/keys` tells a caller it may not create such a key before anything else
/// about the body: a member asking for an api key is refused for the role whatever
/// the rest of the request says (found by review when the policy became a function).
#[tokio::test]
async fn a_key_the_caller_may_not_create_is_refused_before_its_body_is_checked() {
    let app = TestApp::spawn().await;
    let (member, _) = app.join("m@company.com", "member", &[]).await;
    for body in [
        json!({"name": "x", "kind": "api"}),
        json!({"name": "x", "kind": "api", "expires": "soon"}),
        json!({"name": "x", "kind": "api", "permissions": ["nothing:real"]}),
        json!({"name": "x", "kind": "api", "ratelimit": {"limit": 0, "period": "1m"}}),
    ] {
        let r = app.post("/v1/keys", &member, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "role_forbidden"),
            "{body}: {}",
            r.body
        );
    }
}
