//! Connecting: authorization URL with state and PKCE, the code exchange through the API
//! and through the hosted callback, and every way a callback can be wrong.

use super::{param, Vault, APP_CALLBACK, PROVIDER};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn connects_with_pkce_through_the_api_and_reads_tokens() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let started = v
        .authorize(
            v.token(),
            json!({"connection_id": "user-42", "redirect_uri": APP_CALLBACK, "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["connection"]["status"], "pending");
    let url = url::Url::parse(started.body["url"].as_str().unwrap()).unwrap();
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert_eq!(param(&q, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&q, "code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(param(&q, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&q, "scope").as_deref(), Some("read write"));
    assert_eq!(param(&q, "redirect_uri").as_deref(), Some(APP_CALLBACK));
    let state = started.body["state"].as_str().unwrap();
    assert!(state.len() >= 43, "32 random bytes, base64url");
    assert_eq!(param(&q, "state").as_deref(), Some(state));

    let back = v.consent(url.as_str(), APP_CALLBACK).await;
    let code = param(&back, "code").unwrap();
    let done = v.exchange(v.token(), &code, state, APP_CALLBACK).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "active");
    assert_eq!(done.body["authenticated"], true);
    assert_eq!(done.body["has_refresh_token"], true);
    assert_eq!(v.grants("authorization_code").await, 1);

    let t = v.tokens("user-42").await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert_eq!(t.header("cache-control"), Some("no-store"));
    let access = t.body["access_token"].as_str().unwrap();
    assert_eq!(
        t.body["token_type"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("bearer")
    );
    // The token is the provider's own, and alive there.
    let seen = v
        .provider
        .introspect(
            super::CLIENT_ID,
            &v.client_secret,
            "client_secret_basic",
            access,
        )
        .await;
    assert_eq!(seen["active"], true, "{seen}");
    // The exchange and the read are in the audit log.
    let actions = v.audit_actions().await;
    for a in [
        "connection.authorize",
        "connection.connect",
        "connection.tokens.read",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }

    // A state works once.
    let again = v.exchange(v.token(), &code, state, APP_CALLBACK).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "oauth_state_used")
    );
    assert_eq!(v.grants("authorization_code").await, 1, "nothing exchanged");

    // Listed, filtered.
    let list = v
        .app
        .get("/v1/connections?provider=acme&status=active", v.token())
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"][0]["id"], "user-42");
    let none = v
        .app
        .get("/v1/connections?status=needs_reauth", v.token())
        .await;
    assert_eq!(none.body["data"].as_array().unwrap().len(), 0);
    let listed = v.app.get("/v1/integrations", v.token()).await;
    assert_eq!(listed.body[0]["name"], PROVIDER, "{}", listed.body);
}

#[tokio::test]
async fn a_wrong_callback_exchanges_nothing() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let start = |id: &'static str| {
        let v = &v;
        async move {
            let r = v
                .authorize(
                    v.token(),
                    json!({"connection_id": id, "redirect_uri": APP_CALLBACK}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let url = r.body["url"].as_str().unwrap().to_owned();
            let state = r.body["state"].as_str().unwrap().to_owned();
            let back = v.consent(&url, APP_CALLBACK).await;
            (param(&back, "code").unwrap(), state)
        }
    };
    // A state this server never issued.
    let (code, _) = start("a").await;
    let r = v
        .exchange(
            v.token(),
            &code,
            "forged-state-value-0123456789",
            APP_CALLBACK,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "oauth_state_invalid")
    );
    // A redirect URI other than the authorization's: refused before the state is
    // spent (whoever merely saw a state cannot burn it).
    let (code, state) = start("b").await;
    let r = v
        .exchange(v.token(), &code, &state, "http://127.0.0.1:9/elsewhere")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "redirect_uri_mismatch")
    );
    assert_eq!(v.grants("authorization_code").await, 0);
    let r = v.exchange(v.token(), &code, &state, APP_CALLBACK).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = v.exchange(v.token(), &code, &state, APP_CALLBACK).await;
    assert_eq!(r.code(), "oauth_state_used");
    // Older than ten minutes.
    let (code, state) = start("c").await;
    v.app.clock.advance(chrono::Duration::minutes(11));
    let r = v.exchange(v.token(), &code, &state, APP_CALLBACK).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GONE, "oauth_state_expired")
    );
    // An unknown provider.
    let r = v
        .app
        .post(
            "/v1/integrations/nosuch/exchange",
            v.token(),
            json!({"code": "x", "state": "y", "redirect_uri": APP_CALLBACK}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "integration_not_found")
    );
    assert_eq!(
        v.grants("authorization_code").await,
        1,
        "only b's code reached the provider"
    );
    for id in ["a", "c"] {
        assert_eq!(v.connection(id).await["status"], "pending");
    }
    // Malformed requests are 400s naming the field, never 500s.
    for body in [
        json!({"connection_id": "", "redirect_uri": APP_CALLBACK}),
        json!({"connection_id": "has space"}),
        json!({"connection_id": "x", "redirect_uri": "not a url"}),
        json!({"connection_id": "x", "redirect_uri": "ftp://h/x"}),
        json!({"connection_id": "x", "redirect_uri": "https://h/x#frag"}),
        json!({"connection_id": "x", "scopes": ["no.such.scope"]}),
        json!({"connection_id": "x", "workspace": "ws_nope"}),
        json!({"connection_id": "x", "surprise": true}),
    ] {
        let r = v.authorize(v.token(), body.clone()).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {}", r.body);
        assert!(r.body["code"].is_string(), "{}", r.body);
    }
}

#[tokio::test]
async fn the_hosted_callback_exchanges_and_says_so() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let hosted = format!("{}/v1/oauth/callback", v.app.base);
    let r = v
        .authorize(v.token(), json!({"connection_id": "desk"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["redirect_uri"], hosted.as_str());
    let to = v
        .provider
        .authorize(r.body["url"].as_str().unwrap(), &hosted)
        .await;
    let page = v.app.client.get(&to).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme Mail is connected"), "{html}");
    assert_eq!(v.connection("desk").await["status"], "active");
    // The same callback again: the state is spent.
    let page = v.app.client.get(&to).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::CONFLICT);
    let html = page.text().await.unwrap();
    assert!(html.contains("oauth_state_used"), "{html}");

    // The person refuses at the provider: the page says so, the connection keeps the
    // error, nothing is exchanged.
    v.provider.deny_next().await;
    let r = v
        .authorize(v.token(), json!({"connection_id": "refused"}))
        .await;
    let to = v
        .provider
        .authorize(r.body["url"].as_str().unwrap(), &hosted)
        .await;
    assert!(to.contains("error=access_denied"), "{to}");
    let page = v.app.client.get(&to).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("access_denied"));
    let c = v.connection("refused").await;
    assert_eq!(
        (c["status"].as_str(), c["last_error"]["code"].as_str()),
        (Some("pending"), Some("access_denied"))
    );
    assert_eq!(v.grants("authorization_code").await, 1);
    // A state for the app's own callback cannot be completed here.
    let r = v
        .authorize(
            v.token(),
            json!({"connection_id": "app", "redirect_uri": APP_CALLBACK}),
        )
        .await;
    let state = r.body["state"].as_str().unwrap();
    let page = v
        .app
        .client
        .get(format!("{hosted}?code=abc&state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    // No state at all.
    let page = v
        .app
        .client
        .get(format!("{hosted}?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains("no state"));
}

#[tokio::test]
async fn other_tenants_and_narrower_keys_are_refused() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("user-1").await.status, StatusCode::OK);
    // Another organization sees nothing of it, and cannot spend this org's states.
    let created = v
        .app
        .post("/v1/organizations", v.token(), json!({"name": "rival"}))
        .await;
    let rival = created.body["token"]["key"].as_str().unwrap().to_owned();
    for path in ["/v1/connections/user-1", "/v1/connections/user-1/tokens"] {
        let r = v.app.get(path, &rival).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "connection_not_found"),
            "{path}"
        );
    }
    assert_eq!(
        v.app.get("/v1/connections", &rival).await.body["data"],
        json!([])
    );
    let r = v
        .authorize(
            v.token(),
            json!({"connection_id": "mine", "redirect_uri": APP_CALLBACK}),
        )
        .await;
    let state = r.body["state"].as_str().unwrap().to_owned();
    let back = v
        .consent(r.body["url"].as_str().unwrap(), APP_CALLBACK)
        .await;
    let code = param(&back, "code").unwrap();
    let stolen = v.exchange(&rival, &code, &state, APP_CALLBACK).await;
    assert_eq!(stolen.code(), "oauth_state_invalid");
    // …and the state still works for its own organization.
    let ok = v.exchange(v.token(), &code, &state, APP_CALLBACK).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // A read-only key reads status, but starts, refreshes and disconnects nothing.
    let (read_only, _) = v
        .app
        .create_key(json!({"name": "ro", "permissions": ["integrations:read"]}))
        .await;
    assert_eq!(
        v.app.get("/v1/connections/user-1", &read_only).await.status,
        StatusCode::OK
    );
    let r = v.authorize(&read_only, json!({"connection_id": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = v
        .app
        .post("/v1/connections/user-1/refresh", &read_only, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = v
        .app
        .delete("/v1/connections/user-1/tokens", &read_only)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A key without integrations permissions sees nothing.
    let (keys_only, _) = v
        .app
        .create_key(json!({"name": "k", "permissions": ["keys:read"]}))
        .await;
    assert_eq!(
        v.app.get("/v1/connections", &keys_only).await.status,
        StatusCode::FORBIDDEN
    );
    // A plain member may see that a connection exists, but not read its tokens.
    let (member, _) = v.app.join("member@company.com", "member", &[]).await;
    assert_eq!(
        v.app.get("/v1/connections/user-1", &member).await.status,
        StatusCode::OK
    );
    let r = v.app.get("/v1/connections/user-1/tokens", &member).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Nor can a workspace-scoped key reach a connection of the whole organization.
    let ws = v
        .app
        .post("/v1/workspaces", v.token(), json!({"name": "ops"}))
        .await;
    let ws_id = ws.body["id"].as_str().unwrap().to_owned();
    let (scoped, _) = v
        .app
        .create_key(json!({"name": "ws", "scope": {"type": "workspaces", "workspaces": [ws_id]}}))
        .await;
    let r = v.app.get("/v1/connections/user-1/tokens", &scoped).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        v.app.get("/v1/connections", &scoped).await.body["data"],
        json!([])
    );
}

#[tokio::test]
async fn a_connection_stays_in_its_workspace() {
    let Some(v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("user-1").await.status, StatusCode::OK);
    let ws = v
        .app
        .post("/v1/workspaces", v.token(), json!({"name": "ops"}))
        .await;
    let ws_id = ws.body["id"].as_str().unwrap().to_owned();
    let (scoped, _) = v
        .app
        .create_key(json!({"name": "ws", "scope": {"type": "workspaces", "workspaces": [ws_id]}}))
        .await;
    // A key of workspace ops cannot connect the organization's connection again into
    // its workspace (its next tokens would be the workspace's to read).
    let r = v
        .authorize(
            &scoped,
            json!({"connection_id": "user-1", "workspace": ws_id, "redirect_uri": APP_CALLBACK}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Nor can the owner move it by connecting it again elsewhere.
    let r = v
        .authorize(
            v.token(),
            json!({"connection_id": "user-1", "workspace": ws_id, "redirect_uri": APP_CALLBACK}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "connection_workspace_mismatch")
    );
    assert_eq!(
        v.connection("user-1").await["workspace"],
        serde_json::Value::Null
    );
    // The workspace's own connection is the scoped key's to connect and read.
    let r = v
        .authorize(
            &scoped,
            json!({"connection_id": "ops-1", "workspace": ws_id, "redirect_uri": APP_CALLBACK}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let back = v
        .consent(r.body["url"].as_str().unwrap(), APP_CALLBACK)
        .await;
    let done = v
        .exchange(
            &scoped,
            &param(&back, "code").unwrap(),
            r.body["state"].as_str().unwrap(),
            APP_CALLBACK,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let t = v.app.get("/v1/connections/ops-1/tokens", &scoped).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
}

#[tokio::test]
async fn an_authorization_does_not_outlive_its_connection() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let hosted = format!("{}/v1/oauth/callback", v.app.base);
    let r = v
        .authorize(v.token(), json!({"connection_id": "gone"}))
        .await;
    let to = v
        .provider
        .authorize(r.body["url"].as_str().unwrap(), &hosted)
        .await;
    // Deleted before the person came back: the callback brings nothing back.
    assert_eq!(
        v.app.delete("/v1/connections/gone", v.token()).await.status,
        StatusCode::NO_CONTENT
    );
    let page = v.app.client.get(&to).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        v.app.get("/v1/connections/gone", v.token()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(v.grants("authorization_code").await, 0);
}
