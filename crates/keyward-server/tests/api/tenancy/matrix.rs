//! Organizations, roles, scopes and permissions through the HTTP API: the
//! authorization matrix, limits under concurrency, channels and dual authentication,
//! legacy tokens, service accounts, members and organizations.

use crate::common::{Reply, TestApp};
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

struct World {
    app: TestApp,
    ws1: String,
    ws2: String,
    a1: String,
    a2: String,
    /// Hook ids of a channel of agent 1 and one of agent 2.
    hook1: String,
    hook2: String,
    channel1: String,
    admin: String,
    agent_admin: String,
    member: String,
    member_id: String,
}

async fn id_of(r: Reply) -> String {
    assert!(r.status.is_success(), "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn add_member(app: &TestApp, email: &str, role: &str, agents: &[&str]) -> (String, String) {
    app.join(email, role, agents).await
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let t = app.owner_token.clone();
    let ws1 = id_of(
        app.post("/v1/workspaces", &t, json!({"name": "prod"}))
            .await,
    )
    .await;
    let ws2 = id_of(
        app.post("/v1/workspaces", &t, json!({"name": "staging"}))
            .await,
    )
    .await;
    let a1 = id_of(
        app.post("/v1/agents", &t, json!({"name": "support-bot"}))
            .await,
    )
    .await;
    let a2 = id_of(
        app.post("/v1/agents", &t, json!({"name": "sales-bot"}))
            .await,
    )
    .await;
    let c1 = app
        .post(
            "/v1/channels",
            &t,
            json!({"agent": a1, "name": "Production API"}),
        )
        .await;
    let c2 = app
        .post(
            "/v1/channels",
            &t,
            json!({"agent": a2, "name": "Sales API"}),
        )
        .await;
    let (admin, _) = add_member(&app, "admin@company.com", "org_admin", &[]).await;
    let (agent_admin, _) = add_member(&app, "agents@company.com", "agent_admin", &[&a1]).await;
    let (member, member_id) = add_member(&app, "dev@company.com", "member", &[]).await;
    World {
        hook1: c1.body["hook_id"].as_str().unwrap().to_owned(),
        hook2: c2.body["hook_id"].as_str().unwrap().to_owned(),
        channel1: c1.body["id"].as_str().unwrap().to_owned(),
        app,
        ws1,
        ws2,
        a1,
        a2,
        admin,
        agent_admin,
        member,
        member_id,
    }
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Admin,
    AgentAdmin,
    Member,
}

impl World {
    fn token(&self, who: Who) -> &str {
        match who {
            Who::Owner => &self.app.owner_token,
            Who::Admin => &self.admin,
            Who::AgentAdmin => &self.agent_admin,
            Who::Member => &self.member,
        }
    }

    /// Placeholders in a matrix body: $ws1 $ws2 $a1 $a2 $channel1.
    fn fill(&self, body: &str) -> Value {
        let text = body
            .replace("$ws1", &self.ws1)
            .replace("$ws2", &self.ws2)
            .replace("$a1", &self.a1)
            .replace("$a2", &self.a2)
            .replace("$channel1", &self.channel1);
        serde_json::from_str(&text).unwrap()
    }

    /// A fresh customer (`api`) key with this scope: nobody's person, to act on.
    async fn api_key(&self, scope: &str) -> String {
        id_of(
            self.app
                .post(
                    "/v1/keys",
                    &self.app.owner_token,
                    json!({"name": "target", "kind": "api", "scope": self.fill(scope)}),
                )
                .await,
        )
        .await
    }

    /// A fresh key owned by the bootstrap owner with this scope, to act on.
    async fn owners_key(&self, scope: &str) -> String {
        id_of(
            self.app
                .post(
                    "/v1/keys",
                    &self.app.owner_token,
                    json!({"name": "target", "scope": self.fill(scope)}),
                )
                .await,
        )
        .await
    }
}

const ORG: &str = r#"{"type": "organization"}"#;
const AGENT1: &str = r#"{"type": "agent", "agent": "$a1"}"#;
const AGENT2: &str = r#"{"type": "agent", "agent": "$a2"}"#;
const WS1: &str = r#"{"type": "workspaces", "workspaces": ["$ws1"]}"#;

/// One cell: (who, method, path, body, expected status, expected code).
/// `{target:SCOPE}` in a path is replaced by a fresh owner's key of that scope.
type Cell = (
    Who,
    &'static str,
    &'static str,
    &'static str,
    u16,
    &'static str,
);

#[tokio::test]
async fn authorization_matrix() {
    use Who::*;
    let matrix: Vec<Cell> = vec![
        // Creating keys of each scope.
        (
            Owner,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "organization"}}"#,
            201,
            "",
        ),
        (
            Admin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "organization"}}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "organization"}}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "organization"}}"#,
            201,
            "",
        ),
        (
            Owner,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "agent", "agent": "$a1"}}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "agent", "agent": "$a1"}}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "agent", "agent": "$a2"}}"#,
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "workspaces", "workspaces": ["$ws1"]}}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "workspaces", "workspaces": ["$ws1"]}}"#,
            201,
            "",
        ),
        (
            Owner,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "scope": {"type": "agent", "agent": "agt_nope"}}"#,
            422,
            "validation_failed",
        ),
        // Kinds: api keys are issued by admins; worker keys by people for themselves.
        (
            Admin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "api", "owner": "cus_1"}"#,
            201,
            "",
        ),
        (
            Member,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "api"}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "worker", "workspace": "$ws1"}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "worker", "workspace": "$ws1"}"#,
            403,
            "role_forbidden",
        ),
        (
            Owner,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "worker"}"#,
            422,
            "validation_failed",
        ),
        (
            Admin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "channel", "channel": "$channel1"}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "channel", "channel": "$channel1"}"#,
            201,
            "",
        ),
        (
            Member,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "channel", "channel": "$channel1"}"#,
            403,
            "role_forbidden",
        ),
        (
            Owner,
            "POST",
            "/v1/keys",
            r#"{"name": "k", "kind": "legacy_workspace", "workspace": "$ws1"}"#,
            403,
            "legacy_tokens_disabled",
        ),
        // Acting on other people's keys of each scope.
        // Admins act on people ranked below them only: an owner's token is out of reach.
        (
            Admin,
            "DELETE",
            "/v1/keys/{target:ORG}",
            "",
            403,
            "role_forbidden",
        ),
        (Admin, "DELETE", "/v1/keys/{apikey:ORG}", "", 200, ""),
        (
            AgentAdmin,
            "DELETE",
            "/v1/keys/{target:ORG}",
            "",
            403,
            "role_forbidden",
        ),
        (
            Member,
            "DELETE",
            "/v1/keys/{target:ORG}",
            "",
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "DELETE",
            "/v1/keys/{apikey:AGENT1}",
            "",
            200,
            "",
        ),
        (
            AgentAdmin,
            "DELETE",
            "/v1/keys/{target:AGENT1}",
            "",
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "DELETE",
            "/v1/keys/{target:AGENT2}",
            "",
            403,
            "role_forbidden",
        ),
        (
            Member,
            "DELETE",
            "/v1/keys/{target:AGENT1}",
            "",
            403,
            "role_forbidden",
        ),
        (AgentAdmin, "GET", "/v1/keys/{target:AGENT1}", "", 200, ""),
        (
            AgentAdmin,
            "GET",
            "/v1/keys/{target:ORG}",
            "",
            403,
            "role_forbidden",
        ),
        (
            Member,
            "GET",
            "/v1/keys/{target:WS1}",
            "",
            403,
            "role_forbidden",
        ),
        (
            Admin,
            "PATCH",
            "/v1/keys/{apikey:ORG}",
            r#"{"name": "renamed", "permissions": "read_only"}"#,
            200,
            "",
        ),
        (
            Admin,
            "PATCH",
            "/v1/keys/{target:ORG}",
            r#"{"ratelimit": {"limit": 1, "period": "30d"}}"#,
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "PATCH",
            "/v1/keys/{apikey:AGENT1}",
            r#"{"permissions": ["keys:read"]}"#,
            200,
            "",
        ),
        (
            AgentAdmin,
            "PATCH",
            "/v1/keys/{target:ORG}",
            r#"{"name": "x"}"#,
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/keys/{apikey:AGENT1}/rotate",
            r#"{}"#,
            201,
            "",
        ),
        (
            Member,
            "POST",
            "/v1/keys/{target:AGENT1}/rotate",
            r#"{}"#,
            403,
            "role_forbidden",
        ),
        // The scope level is fixed; the workspace list is not.
        (
            Owner,
            "PATCH",
            "/v1/keys/{target:WS1}",
            r#"{"scope": {"type": "workspaces", "workspaces": ["$ws1", "$ws2"]}}"#,
            200,
            "",
        ),
        (
            Owner,
            "PATCH",
            "/v1/keys/{target:WS1}",
            r#"{"scope": {"type": "organization"}}"#,
            422,
            "validation_failed",
        ),
        (
            Owner,
            "PATCH",
            "/v1/keys/{target:AGENT1}",
            r#"{"scope": {"type": "agent", "agent": "$a2"}}"#,
            422,
            "validation_failed",
        ),
        (
            Admin,
            "PATCH",
            "/v1/keys/{apikey:AGENT1}",
            r#"{"scope": {"type": "organization"}}"#,
            422,
            "validation_failed",
        ),
        // Organization-level resources.
        (
            Admin,
            "POST",
            "/v1/workspaces",
            r#"{"name": "new-ws"}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/workspaces",
            r#"{"name": "new-ws-2"}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/workspaces",
            r#"{"name": "new-ws-3"}"#,
            403,
            "role_forbidden",
        ),
        (Member, "GET", "/v1/workspaces", "", 200, ""),
        (
            AgentAdmin,
            "POST",
            "/v1/agents",
            r#"{"name": "new-agent"}"#,
            403,
            "role_forbidden",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/channels",
            r#"{"agent": "$a1", "name": "ch"}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/channels",
            r#"{"agent": "$a2", "name": "ch"}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/channels",
            r#"{"agent": "$a1", "name": "ch"}"#,
            403,
            "role_forbidden",
        ),
        (
            Admin,
            "POST",
            "/v1/invitations",
            r#"{"email": "new@company.com", "role": "member"}"#,
            201,
            "",
        ),
        (
            Admin,
            "POST",
            "/v1/invitations",
            r#"{"email": "boss@company.com", "role": "owner"}"#,
            403,
            "role_forbidden",
        ),
        (
            Admin,
            "POST",
            "/v1/invitations",
            r#"{"email": "peer@company.com", "role": "org_admin"}"#,
            403,
            "role_forbidden",
        ),
        (
            Owner,
            "POST",
            "/v1/invitations",
            r#"{"email": "peer@company.com", "role": "org_admin"}"#,
            201,
            "",
        ),
        (
            AgentAdmin,
            "POST",
            "/v1/invitations",
            r#"{"email": "x@company.com", "role": "member"}"#,
            403,
            "role_forbidden",
        ),
        (
            Member,
            "POST",
            "/v1/service-accounts",
            r#"{"name": "bot", "scopes": "keys:read"}"#,
            403,
            "role_forbidden",
        ),
        (
            Admin,
            "POST",
            "/v1/service-accounts",
            r#"{"name": "bot", "scopes": "integrations:read,skills:execute"}"#,
            201,
            "",
        ),
        (Member, "GET", "/v1/audit-log", "", 200, ""),
    ];
    let w = world().await;
    let mut failures = vec![];
    for (i, (who, method, path, body, status, code)) in matrix.iter().enumerate() {
        let mut path = path.to_string();
        for (marker, scope) in [
            ("{target:ORG}", ORG),
            ("{target:AGENT1}", AGENT1),
            ("{target:AGENT2}", AGENT2),
            ("{target:WS1}", WS1),
        ] {
            if path.contains(marker) {
                path = path.replace(marker, &w.owners_key(scope).await);
            }
            let marker = marker.replace("target", "apikey");
            if path.contains(&marker) {
                path = path.replace(&marker, &w.api_key(scope).await);
            }
        }
        let body = (!body.is_empty()).then(|| w.fill(body));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = w
            .app
            .send(method.clone(), &path, Some(w.token(*who)), body)
            .await;
        if r.status.as_u16() != *status || (!code.is_empty() && r.code() != *code) {
            failures.push(format!(
                "row {i}: {who:?} {method} {path} → {} {} (expected {status} {code}): {}",
                r.status.as_u16(),
                r.code(),
                r.body["detail"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}

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

#[tokio::test]
async fn the_organization_key_limit_holds_under_200_parallel_creates() {
    let app = Arc::new(TestApp::spawn().await);
    let org_id = app.org_id().await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org_id}"),
            &app.owner_token,
            json!({"settings": {"max_keys": 10}}),
        )
        .await;
    assert_eq!(r.body["settings"]["max_keys"], 10);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(
                    "/v1/keys",
                    &app.owner_token,
                    json!({"name": format!("k{i}")}),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = None;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => refused = Some(r),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(created, 9, "10 keys including the bootstrap token");
    let refused = refused.unwrap();
    assert_eq!(refused.code(), "key_limit_reached");
    assert_eq!(
        refused.body["limit"],
        json!({"name": "keys per organization", "max": 10, "current": 10})
    );
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("limit is 10 and 10"));
    // Expired keys keep their slot; revoked keys free it.
    let list = app.get("/v1/keys?limit=100", &app.owner_token).await;
    let victim = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] != "bootstrap token")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(Duration::days(400));
    assert_eq!(
        app.post("/v1/keys", &app.owner_token, json!({"name": "more"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    app.delete(&format!("/v1/keys/{victim}"), &app.owner_token)
        .await;
    assert_eq!(
        app.post("/v1/keys", &app.owner_token, json!({"name": "more"}))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_worker_key_limit_is_per_user_per_workspace_under_concurrency() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.owner_token.clone();
    let ws1 = id_of(app.post("/v1/workspaces", &t, json!({"name": "w1"})).await).await;
    let ws2 = id_of(app.post("/v1/workspaces", &t, json!({"name": "w2"})).await).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (app, ws1) = (app.clone(), ws1.clone());
            tokio::spawn(async move {
                app.post("/v1/keys", &app.owner_token, json!({"name": format!("worker {i}"), "kind": "worker", "workspace": ws1, "expires": "30d"})).await
            })
        })
        .collect();
    let mut created = vec![];
    for task in tasks {
        let r = task.await.unwrap();
        if r.status == StatusCode::CREATED {
            assert!(r.body["key"].as_str().unwrap().starts_with("kw_wk_"));
            created.push(r.body["id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::CONFLICT, "key_limit_reached"),
                "{}",
                r.body
            );
            assert_eq!(r.body["limit"]["max"], 25);
        }
    }
    assert_eq!(created.len(), 25);
    // Another workspace, and another person, have their own allowance.
    let other = app
        .post(
            "/v1/keys",
            &t,
            json!({"name": "w2", "kind": "worker", "workspace": ws2}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let (member, _) = add_member(&app, "dev@company.com", "member", &[]).await;
    assert_eq!(
        app.post(
            "/v1/keys",
            &member,
            json!({"name": "m", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // Revoked and expired worker keys are not active.
    app.delete(&format!("/v1/keys/{}", created[0]), &t).await;
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "again", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "full", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    app.clock.advance(Duration::days(31));
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "after expiry", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // Worker keys do not use organization slots.
    let org = app
        .get(&format!("/v1/organizations/{}", app.org_id().await), &t)
        .await;
    assert_eq!(org.body["settings"]["max_worker_keys"], 25);
}

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
