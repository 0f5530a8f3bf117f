//! Members, roles and removal, and organizations as isolated tenants.

use super::*;

#[tokio::test]
async fn members_roles_and_removal() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    let members = app.get("/v1/members", t).await;
    let roles: Vec<(&str, &str)> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert!(
        roles.contains(&("agents@company.com", "agent_admin"))
            && roles.contains(&("team@company.com", "owner"))
    );
    // Removing a member revokes their keys at once.
    let extra = app
        .post("/v1/keys", &w.member, json!({"name": "mine"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("/v1/members/{}", w.member_id), &w.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.verify_code(&extra).await, "REVOKED");
    assert_eq!(app.get("/v1/me", &w.member).await.code(), "token_revoked");
    // Roles change what a token may do, immediately.
    let me = app.get("/v1/me", t).await;
    let owner_id = me.body["owner"]["id"].as_str().unwrap().to_owned();
    let r = app.delete(&format!("/v1/members/{owner_id}"), t).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner"));
    let agents_user = roles
        .iter()
        .position(|(e, _)| *e == "agents@company.com")
        .unwrap();
    let agents_user_id = members.body[agents_user]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post("/v1/workspaces", &w.agent_admin, json!({"name": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .patch(
            &format!("/v1/members/{agents_user_id}"),
            t,
            json!({"role": "org_admin"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["agents"].clone()),
        (StatusCode::OK, json!([])),
        "{}",
        r.body
    );
    assert_eq!(
        app.post("/v1/workspaces", &w.agent_admin, json!({"name": "x"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = app
        .post(
            "/v1/invitations",
            t,
            json!({"email": "agents@company.com", "role": "member"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "already_member")
    );
    let r = app
        .post(
            "/v1/invitations",
            t,
            json!({"email": "bad", "role": "member"}),
        )
        .await;
    assert_eq!(r.body["field"], "email");
    let r = app
        .post(
            "/v1/invitations",
            t,
            json!({"email": "a@b.co", "role": "agent_admin"}),
        )
        .await;
    assert_eq!(r.body["field"], "agents");
}

#[tokio::test]
async fn organizations_are_isolated_tenants() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    let mine = app.get("/v1/me/organizations", t).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert_eq!(
        (mine.body[0]["name"].as_str(), mine.body[0]["role"].as_str()),
        (Some("acme"), Some("owner"))
    );
    let created = app
        .post("/v1/organizations", t, json!({"name": "acme-labs"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let other_token = created.body["token"]["key"].as_str().unwrap().to_owned();
    // A key sees only its own organization, even when its person belongs to more.
    let listed = app.get("/v1/me/organizations", t).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
    assert_eq!(listed.body[0]["name"], "acme");
    let listed = app.get("/v1/me/organizations", &other_token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
    assert_eq!(listed.body[0]["name"], "acme-labs");
    let me = app.get("/v1/me", &other_token).await;
    assert_eq!(me.body["org"]["name"], "acme-labs");
    // Nothing of one organization is visible from the other.
    let first_key = w.owners_key(ORG).await;
    assert_eq!(
        app.get(&format!("/v1/keys/{first_key}"), &other_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/v1/workspaces/{}", w.ws1), &other_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post("/v1/keys/verify", &other_token, json!({"key": t}))
        .await;
    assert_eq!(r.body["code"], "NOT_FOUND");
    let r = app
        .post("/v1/channel", &other_token, json!({"hookId": w.hook1}))
        .await;
    assert_eq!(r.code(), "channel_not_found");
    let first_org = app.org_id().await;
    assert_eq!(
        app.get(&format!("/v1/organizations/{first_org}"), &other_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Only an owner deletes an organization; then every key of it stops at once.
    let labs_id = me.body["org"]["id"].as_str().unwrap().to_owned();
    let r = app
        .delete(&format!("/v1/organizations/{first_org}"), &w.admin)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_forbidden")
    );
    assert_eq!(
        app.delete(&format!("/v1/organizations/{labs_id}"), t)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let labs_key = app
        .post("/v1/keys", &other_token, json!({"name": "labs key"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("/v1/organizations/{labs_id}"), &other_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/v1/me", &other_token).await.code(),
        "token_revoked"
    );
    assert_eq!(app.get("/v1/me", &labs_key).await.code(), "token_revoked");
    let again = app
        .post("/v1/organizations", t, json!({"name": "acme-labs"}))
        .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "a deleted organization's name is free again"
    );
    // A workspace in use cannot be deleted; an unused one can.
    let _bound = app
        .post("/v1/keys", t, json!({"name": "w", "scope": w.fill(WS1)}))
        .await;
    let r = app.delete(&format!("/v1/workspaces/{}", w.ws1), t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "resource_in_use")
    );
    assert_eq!(
        app.delete(&format!("/v1/workspaces/{}", w.ws2), t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
