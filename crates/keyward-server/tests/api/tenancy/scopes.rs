//! Listings by role, key kinds and scoped keys, and verify's scope, channel and grants.

use super::*;

#[tokio::test]
async fn listings_show_each_role_only_what_it_manages() {
    let w = world().await;
    let a1_key = w.owners_key(AGENT1).await;
    let org_key = w.owners_key(ORG).await;
    let ids = |r: Reply| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let admin_sees = ids(w.app.get("/v1/keys?limit=100", &w.admin).await);
    assert!(admin_sees.contains(&a1_key) && admin_sees.contains(&org_key));
    let agent_admin_sees = ids(w.app.get("/v1/keys?limit=100", &w.agent_admin).await);
    assert!(
        agent_admin_sees.contains(&a1_key) && !agent_admin_sees.contains(&org_key),
        "{agent_admin_sees:?}"
    );
    let member_sees = w.app.get("/v1/keys?limit=100", &w.member).await;
    let data = member_sees.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "a member sees only their own first token");
    assert_eq!(data[0]["owner"]["id"], w.member_id.as_str());
}

#[tokio::test]
async fn key_kinds_and_scoped_keys_reach_only_what_they_may() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    // A read-only key cannot write.
    let ro = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "ro", "permissions": "read_only"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.post("/v1/keys", &ro, json!({"name": "x"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    // An owner's key scoped to agent 1 manages agent 1's keys only.
    let scoped = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "a1", "scope": w.fill(AGENT1)}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post(
            "/v1/keys",
            &scoped,
            json!({"name": "x", "scope": w.fill(AGENT1)})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let r = app
        .post(
            "/v1/keys",
            &scoped,
            json!({"name": "x", "scope": w.fill(AGENT2)}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_forbidden")
    );
    let org_key = w.owners_key(ORG).await;
    assert_eq!(
        app.delete(&format!("/v1/keys/{org_key}"), &scoped)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Customer keys and channel tokens cannot manage Keyward, but can say who they are.
    let api = app
        .post("/v1/keys", t, json!({"name": "cust", "kind": "api"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.get("/v1/keys", &api).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "key_kind_not_allowed")
    );
    assert_eq!(app.get("/v1/me", &api).await.status, StatusCode::OK);
    let channel_token = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "ch", "kind": "channel", "channel": w.channel1}),
        )
        .await;
    assert!(channel_token.body["key"]
        .as_str()
        .unwrap()
        .starts_with("kw_ch_"));
    let r = app
        .get("/v1/keys", channel_token.body["key"].as_str().unwrap())
        .await;
    assert_eq!(r.code(), "key_kind_not_allowed");
    // A service account acts with its scopes only, and its keys never expire by default.
    let sa = app.post("/v1/service-accounts", t, json!({"name": "production-bot", "scopes": "integrations:read,integrations:write,skills:execute"})).await;
    assert_eq!(sa.status, StatusCode::CREATED, "{}", sa.body);
    assert!(sa.body["id"].as_str().unwrap().starts_with("sa_"));
    assert_eq!(
        sa.body["scopes"],
        json!(["integrations:read", "integrations:write", "skills:execute"])
    );
    let sa_key = sa.body["key"]["key"].as_str().unwrap();
    assert!(sa_key.starts_with("kw_sa_"));
    assert_eq!(sa.body["key"]["expires_at"], Value::Null);
    let me = app.get("/v1/me", sa_key).await;
    assert_eq!(
        (me.body["name"].as_str(), me.body["key"]["kind"].as_str()),
        (Some("production-bot"), Some("service_account"))
    );
    let r = app.get("/v1/keys", sa_key).await;
    assert_eq!(
        (r.status, r.body["required_permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("keys:read"))
    );
    let v = app.verify(sa_key, Some("skills:execute")).await;
    assert_eq!(v.body["code"], "VALID");
    let sa_id = sa.body["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/service-accounts/{sa_id}"), t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.verify_code(sa_key).await, "REVOKED");
    // A service account cannot be given more than its creator holds.
    let r = app
        .post(
            "/v1/service-accounts",
            &ro,
            json!({"name": "b", "scopes": "keys:write"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn verify_checks_scope_channel_and_grants() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    let agent_key = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "a1", "scope": w.fill(AGENT1), "permissions": ["contacts:read"]}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_key = app
        .post("/v1/keys", t, json!({"name": "w1", "scope": w.fill(WS1)}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify = |key: &str, extra: Value| {
        let mut body = json!({"key": key});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.post("/v1/keys/verify", t, body)
    };
    let code = |r: Reply| r.body["code"].as_str().unwrap().to_owned();
    assert_eq!(
        code(verify(&agent_key, json!({"agent": w.a1})).await),
        "VALID"
    );
    assert_eq!(
        code(verify(&agent_key, json!({"agent": w.a2})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(verify(&agent_key, json!({"workspace": w.ws1})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            verify(
                &agent_key,
                json!({"channel": w.hook1, "permission": "contacts:read"})
            )
            .await
        ),
        "VALID"
    );
    assert_eq!(
        code(verify(&agent_key, json!({"channel": w.hook2})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(verify(&agent_key, json!({"channel": "nosuchhook"})).await),
        "CHANNEL_NOT_FOUND"
    );
    assert_eq!(
        code(
            verify(
                &agent_key,
                json!({"agent": w.a1, "permission": "contacts:write"})
            )
            .await
        ),
        "INSUFFICIENT_PERMISSIONS"
    );
    // Scope is judged before grants.
    assert_eq!(
        code(
            verify(
                &agent_key,
                json!({"agent": w.a2, "permission": "contacts:write"})
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(verify(&ws_key, json!({"workspace": w.ws1})).await),
        "VALID"
    );
    assert_eq!(
        code(verify(&ws_key, json!({"workspace": w.ws2})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(verify(&ws_key, json!({"agent": w.a1})).await),
        "FORBIDDEN"
    );
    // A channel token is good for its own channel only.
    let ct = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "ch", "kind": "channel", "channel": w.channel1}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .post("/v1/channels", t, json!({"agent": w.a1, "name": "other"}))
        .await;
    assert_eq!(
        code(verify(&ct, json!({"channel": w.hook1})).await),
        "VALID"
    );
    assert_eq!(
        code(verify(&ct, json!({"channel": other.body["hook_id"]})).await),
        "FORBIDDEN"
    );
    // Disabled channels are not found.
    app.patch(
        &format!("/v1/channels/{}", w.channel1),
        t,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        code(verify(&agent_key, json!({"channel": w.hook1})).await),
        "CHANNEL_NOT_FOUND"
    );
}
