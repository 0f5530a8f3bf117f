//! Organizations, roles, scopes and permissions through the HTTP API: the
//! authorization matrix, limits under concurrency, channels and dual authentication,
//! legacy tokens, service accounts, members and organizations.

use crate::common::{Reply, TestApp};
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

mod channels;
mod limits;
mod matrix;
mod members;
mod scopes;

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
