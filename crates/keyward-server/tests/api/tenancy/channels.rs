//! Channel endpoints with dual authentication, and legacy tokens.

use super::*;

#[tokio::test]
async fn dual_authentication_on_channel_endpoints() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    let channel_token = app
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
    let pat = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "pat", "scope": w.fill(AGENT1)}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, via) in [(&channel_token, "channel_token"), (&pat, "personal_token")] {
        // The same request shape, header or body, works with either token.
        let by_header = app
            .client
            .get(format!("{}/v1/channel", app.base))
            .bearer_auth(token)
            .header("X-Hook-Id", &w.hook1)
            .send()
            .await
            .unwrap();
        assert_eq!(by_header.status(), StatusCode::OK);
        let body: Value = by_header.json().await.unwrap();
        assert_eq!(
            (
                body["authenticated_with"].as_str(),
                body["channel"]["hook_id"].as_str()
            ),
            (Some(via), Some(w.hook1.as_str()))
        );
        let by_body = app
            .post("/v1/channel", token, json!({"hookId": w.hook1}))
            .await;
        assert_eq!(
            (by_body.status, by_body.body["authenticated_with"].as_str()),
            (StatusCode::OK, Some(via)),
            "{}",
            by_body.body
        );
    }
    // A personal token whose scope does not reach the agent, or another channel's hook.
    let other_agent = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "a2", "scope": w.fill(AGENT2)}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post("/v1/channel", &other_agent, json!({"hookId": w.hook1}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/v1/channel", &channel_token, json!({"hookId": w.hook2}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Unknown, disabled, deleted: 404 "Channel not found".
    let r = app
        .post("/v1/channel", &pat, json!({"hookId": "doesnotexist"}))
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["detail"].as_str()),
        (
            StatusCode::NOT_FOUND,
            "channel_not_found",
            Some("Channel not found")
        )
    );
    let r = app.post("/v1/channel", &pat, json!({})).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hookId"))
    );
    app.patch(
        &format!("/v1/channels/{}", w.channel1),
        t,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        app.post("/v1/channel", &pat, json!({"hookId": w.hook1}))
            .await
            .code(),
        "channel_not_found"
    );
    app.patch(
        &format!("/v1/channels/{}", w.channel1),
        t,
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(
        app.post("/v1/channel", &pat, json!({"hookId": w.hook1}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/v1/channels/{}", w.channel1), t)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post("/v1/channel", &pat, json!({"hookId": w.hook1}))
            .await
            .code(),
        "channel_not_found"
    );
    assert_eq!(
        app.verify_code(&channel_token).await,
        "REVOKED",
        "deleting a channel revokes its tokens"
    );
    let audit = app.get("/v1/audit-log?limit=100", t).await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "channel.create",
        "channel.disable",
        "channel.enable",
        "channel.delete",
        "member.add",
        "workspace.create",
        "agent.create",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn legacy_tokens_work_with_a_deprecation_signal() {
    let w = world().await;
    let app = &w.app;
    let t = &app.owner_token;
    let org_id = app.org_id().await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org_id}"),
            t,
            json!({"settings": {"allow_legacy_tokens": true}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let legacy = app.post("/v1/keys", t, json!({"name": "old integration", "kind": "legacy_workspace", "workspace": w.ws1, "permissions": ["keys:read"]})).await;
    assert_eq!(legacy.status, StatusCode::CREATED, "{}", legacy.body);
    let key = legacy.body["key"].as_str().unwrap();
    assert!(key.starts_with("kw_ws_"));
    let r = app.get("/v1/keys", key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("deprecation"), Some("true"));
    assert!(r
        .header("warning")
        .unwrap()
        .contains("personal access token"));
    let me = app.get("/v1/me", key).await;
    assert_eq!(me.header("deprecation"), Some("true"));
    // Errors to legacy tokens carry it too; other keys never do.
    assert_eq!(
        app.post("/v1/keys", key, json!({"name": "x"}))
            .await
            .header("deprecation"),
        Some("true")
    );
    assert_eq!(app.get("/v1/me", t).await.header("deprecation"), None);
}
