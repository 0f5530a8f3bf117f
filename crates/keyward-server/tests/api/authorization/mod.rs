//! Every endpoint of the OpenAPI document, through one table, against the three checks
//! of `authz.rs`:
//! - **grants**: a key holding everything but the endpoint's permission gets 403
//!   `forbidden` naming that permission;
//! - **reach**: a member (all permissions, whole organization) is refused what only
//!   admins, owners or the target's agent admins may do, and allowed what anyone may;
//! - **scope**: for every kind of scope (organization; workspaces in and out of the
//!   target; agent in and out; legacy workspace tokens in and out) the call succeeds
//!   exactly when the key's scope covers the target's, as this file decides on its own.
//!
//! Each call gets fresh targets, so a refused call that wrongly went through would show
//! as a success. An endpoint in the document but not in the table fails the test: a new
//! endpoint cannot skip these checks unnoticed.

use crate::common::{Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What an endpoint acts on, for the scope check.
#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    /// Organization-level: only keys scoped to the whole organization.
    Org,
    /// A listing or a question about the caller: any scope may ask.
    Any,
    /// The fixture's workspace.
    Workspace,
    /// The fixture's agent (an agent, or a channel of it).
    Agent,
    /// The fixture's key (scoped to the fixture's workspace).
    Key,
}

/// Who may, by role.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    /// Anyone in the organization.
    Anyone,
    /// Owners and org admins.
    Admins,
    /// Owners only.
    Owners,
    /// Org admins and the agent admins of the fixture's agent.
    AgentAdmins,
    /// No key at all (public endpoints); nothing to check.
    Public,
}

#[derive(Clone, Copy, Debug)]
enum Fixture {
    Nothing,
    Key,
    NewKey,
    Verify,
    Workspace,
    NewWorkspace,
    Agent,
    NewAgent,
    Channel,
    NewChannel,
    ChannelContext,
    Member,
    Invitation,
    NewInvitation,
    Accept,
    ServiceAccount,
    NewServiceAccount,
    OwnerLimit,
    Org,
    FreshOrg,
    NewOrg,
}

struct Row {
    method: &'static str,
    path: &'static str,
    permission: Option<&'static str>,
    who: Who,
    on: On,
    fixture: Fixture,
    /// Only people's own tokens may call it (legacy tokens never).
    personal_only: bool,
}

const fn row(
    method: &'static str,
    path: &'static str,
    permission: Option<&'static str>,
    who: Who,
    on: On,
    fixture: Fixture,
) -> Row {
    Row {
        method,
        path,
        permission,
        who,
        on,
        fixture,
        personal_only: false,
    }
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Fixture as F;
    use On::*;
    use Who::*;
    vec![
        row("POST", "/v1/keys", Some("keys:write"), Admins, Key, F::NewKey),
        row("GET", "/v1/keys", Some("keys:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/keys/{id}", Some("keys:read"), Admins, Key, F::Key),
        row("PATCH", "/v1/keys/{id}", Some("keys:write"), Admins, Key, F::Key),
        row("DELETE", "/v1/keys/{id}", Some("keys:write"), Admins, Key, F::Key),
        row("POST", "/v1/keys/{id}/rotate", Some("keys:write"), Admins, Key, F::Key),
        row("GET", "/v1/keys/{id}/usage", Some("keys:read"), Admins, Key, F::Key),
        row("POST", "/v1/keys/verify", Some("keys:verify"), Anyone, Any, F::Verify),
        row("GET", "/v1/me", None, Anyone, Any, F::Nothing),
        row("GET", "/v1/me/organizations", None, Anyone, Any, F::Nothing),
        row("GET", "/v1/audit-log", Some("audit:read"), Anyone, Org, F::Nothing),
        row("GET", "/v1/owner-limits", Some("limits:read"), Admins, Org, F::Nothing),
        row("PUT", "/v1/owner-limits/{owner_type}/{owner_id}", Some("limits:write"), Admins, Org, F::OwnerLimit),
        row("DELETE", "/v1/owner-limits/{owner_type}/{owner_id}", Some("limits:write"), Admins, Org, F::OwnerLimit),
        Row {
            personal_only: true,
            ..row("POST", "/v1/organizations", Some("organizations:write"), Anyone, Org, F::NewOrg)
        },
        row("GET", "/v1/organizations/{id}", Some("organizations:read"), Anyone, Org, F::Org),
        row("PATCH", "/v1/organizations/{id}", Some("organizations:write"), Admins, Org, F::Org),
        row("DELETE", "/v1/organizations/{id}", Some("organizations:write"), Owners, Org, F::FreshOrg),
        row("POST", "/v1/workspaces", Some("workspaces:write"), Admins, Org, F::NewWorkspace),
        row("GET", "/v1/workspaces", Some("workspaces:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/workspaces/{id}", Some("workspaces:read"), Anyone, Workspace, F::Workspace),
        row("PATCH", "/v1/workspaces/{id}", Some("workspaces:write"), Admins, Workspace, F::Workspace),
        row("DELETE", "/v1/workspaces/{id}", Some("workspaces:write"), Admins, Workspace, F::Workspace),
        row("POST", "/v1/agents", Some("agents:write"), Admins, Org, F::NewAgent),
        row("GET", "/v1/agents", Some("agents:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/agents/{id}", Some("agents:read"), Anyone, Agent, F::Agent),
        row("PATCH", "/v1/agents/{id}", Some("agents:write"), Admins, Agent, F::Agent),
        row("DELETE", "/v1/agents/{id}", Some("agents:write"), Admins, Agent, F::Agent),
        row("POST", "/v1/channels", Some("channels:write"), AgentAdmins, Agent, F::NewChannel),
        row("GET", "/v1/channels", Some("channels:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/channels/{id}", Some("channels:read"), Anyone, Agent, F::Channel),
        row("PATCH", "/v1/channels/{id}", Some("channels:write"), AgentAdmins, Agent, F::Channel),
        row("DELETE", "/v1/channels/{id}", Some("channels:write"), AgentAdmins, Agent, F::Channel),
        Row {
            personal_only: true,
            ..row("GET", "/v1/channel", Some("channels:read"), Anyone, Agent, F::ChannelContext)
        },
        Row {
            personal_only: true,
            ..row("POST", "/v1/channel", Some("channels:read"), Anyone, Agent, F::ChannelContext)
        },
        row("GET", "/v1/members", Some("members:read"), Anyone, Org, F::Nothing),
        row("GET", "/v1/members/{user_id}", Some("members:read"), Anyone, Org, F::Member),
        row("PATCH", "/v1/members/{user_id}", Some("members:write"), Admins, Org, F::Member),
        row("DELETE", "/v1/members/{user_id}", Some("members:write"), Admins, Org, F::Member),
        row("POST", "/v1/invitations", Some("members:write"), Admins, Org, F::NewInvitation),
        row("GET", "/v1/invitations", Some("members:read"), Admins, Org, F::Nothing),
        row("DELETE", "/v1/invitations/{id}", Some("members:write"), Admins, Org, F::Invitation),
        row("POST", "/v1/invitations/accept", None, Public, Any, F::Accept),
        row("POST", "/v1/service-accounts", Some("service_accounts:write"), Admins, Org, F::NewServiceAccount),
        row("GET", "/v1/service-accounts", Some("service_accounts:read"), Anyone, Org, F::Nothing),
        row("GET", "/v1/service-accounts/{id}", Some("service_accounts:read"), Anyone, Org, F::ServiceAccount),
        row("PATCH", "/v1/service-accounts/{id}", Some("service_accounts:write"), Admins, Org, F::ServiceAccount),
        row("DELETE", "/v1/service-accounts/{id}", Some("service_accounts:write"), Admins, Org, F::ServiceAccount),
        row("POST", "/v1/service-accounts/{id}/keys", Some("service_accounts:write"), Admins, Org, F::ServiceAccount),
        row("GET", "/healthz", None, Public, Any, F::Nothing),
    ]
}

/// A request ready to send, with what its target is made of.
struct Call {
    /// The owner token of the organization the target lives in.
    org_token: String,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    /// The target's workspace and agent, for building scoped callers.
    workspace: Option<String>,
    agent: Option<String>,
    /// The organization's id (for inviting members into it).
    org_id: String,
}

struct World {
    app: TestApp,
    org_id: String,
    /// A workspace and an agent that no target is in.
    other_ws: String,
    other_agent: String,
    n: std::sync::atomic::AtomicUsize,
}

fn ok(r: &Reply, what: &str) -> Value {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    r.body.clone()
}

impl World {
    fn fresh(&self, what: &str) -> String {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("{what}-{n}")
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        ok(&self.app.post(path, token, body).await, path)
    }

    async fn workspace(&self, token: &str) -> String {
        let name = self.fresh("ws");
        self.post(token, "/v1/workspaces", json!({ "name": name }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn agent(&self, token: &str) -> String {
        let name = self.fresh("agent");
        self.post(token, "/v1/agents", json!({ "name": name }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn channel(&self, token: &str, agent: &str) -> Value {
        let name = self.fresh("channel");
        self.post(
            token,
            "/v1/channels",
            json!({ "agent": agent, "name": name }),
        )
        .await
    }

    /// A key of `scope` (JSON) created with `token`: (raw key, id).
    async fn key(&self, token: &str, body: Value) -> (String, String) {
        let v = self.post(token, "/v1/keys", body).await;
        (
            v["key"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn member(&self, org_token: &str, role: &str, agents: &[&str]) -> (String, String) {
        let email = format!("{}@company.com", self.fresh("person"));
        let code = self
            .app
            .invite(
                org_token,
                json!({"email": email, "role": role, "agents": agents}),
            )
            .await;
        let r = self.app.accept(&code, None).await;
        let v = ok(&r, "accept");
        (
            v["token"]["key"].as_str().unwrap().to_owned(),
            v["member"]["user_id"].as_str().unwrap().to_owned(),
        )
    }

    async fn make(&self, row: &Row) -> Call {
        let owner = self.app.owner_token.clone();
        let mut call = Call {
            org_token: owner.clone(),
            path: row.path.to_owned(),
            body: None,
            headers: vec![],
            workspace: None,
            agent: None,
            org_id: self.org_id.clone(),
        };
        let set = |call: &mut Call, param: &str, value: &str| {
            call.path = call.path.replace(&format!("{{{param}}}"), value);
        };
        match row.fixture {
            Fixture::Nothing => {}
            Fixture::Key | Fixture::NewKey => {
                let ws = self.workspace(&owner).await;
                let body = json!({
                    "name": self.fresh("key"), "kind": "api",
                    "scope": {"type": "workspaces", "workspaces": [ws]},
                });
                if matches!(row.fixture, Fixture::Key) {
                    let (_, id) = self.key(&owner, body).await;
                    set(&mut call, "id", &id);
                    call.body = match row.method {
                        "PATCH" => Some(json!({"name": self.fresh("renamed")})),
                        "POST" => Some(json!({})),
                        _ => None,
                    };
                } else {
                    call.body = Some(body);
                }
                call.workspace = Some(ws);
            }
            Fixture::Verify => {
                let (raw, _) = self
                    .key(
                        &owner,
                        json!({"name": self.fresh("verified"), "kind": "api"}),
                    )
                    .await;
                call.body = Some(json!({ "key": raw }));
            }
            Fixture::Workspace => {
                let ws = self.workspace(&owner).await;
                set(&mut call, "id", &ws);
                call.body =
                    (row.method == "PATCH").then(|| json!({"name": self.fresh("renamed-ws")}));
                call.workspace = Some(ws);
            }
            Fixture::NewWorkspace => call.body = Some(json!({"name": self.fresh("new-ws")})),
            Fixture::Agent => {
                let agent = self.agent(&owner).await;
                set(&mut call, "id", &agent);
                call.body =
                    (row.method == "PATCH").then(|| json!({"name": self.fresh("renamed-agent")}));
                call.agent = Some(agent);
            }
            Fixture::NewAgent => call.body = Some(json!({"name": self.fresh("new-agent")})),
            Fixture::Channel => {
                let agent = self.agent(&owner).await;
                let channel = self.channel(&owner, &agent).await;
                set(&mut call, "id", channel["id"].as_str().unwrap());
                call.body = (row.method == "PATCH").then(|| json!({"enabled": false}));
                call.agent = Some(agent);
            }
            Fixture::NewChannel => {
                let agent = self.agent(&owner).await;
                call.body = Some(json!({"agent": agent, "name": self.fresh("new-channel")}));
                call.agent = Some(agent);
            }
            Fixture::ChannelContext => {
                let agent = self.agent(&owner).await;
                let channel = self.channel(&owner, &agent).await;
                let hook = channel["hook_id"].as_str().unwrap().to_owned();
                if row.method == "GET" {
                    call.headers.push(("x-hook-id", hook));
                } else {
                    call.body = Some(json!({ "hookId": hook }));
                }
                call.agent = Some(agent);
            }
            Fixture::Member => {
                let (_, user_id) = self.member(&owner, "member", &[]).await;
                set(&mut call, "user_id", &user_id);
                call.body = (row.method == "PATCH").then(|| json!({"role": "member"}));
            }
            Fixture::Invitation => {
                let email = format!("{}@company.com", self.fresh("invited"));
                let v = self
                    .post(
                        &owner,
                        "/v1/invitations",
                        json!({"email": email, "role": "member"}),
                    )
                    .await;
                set(&mut call, "id", v["invitation"]["id"].as_str().unwrap());
            }
            Fixture::NewInvitation => {
                let email = format!("{}@company.com", self.fresh("invited"));
                call.body = Some(json!({"email": email, "role": "member"}));
            }
            Fixture::Accept => {
                let email = format!("{}@company.com", self.fresh("joining"));
                let code = self
                    .app
                    .invite(&owner, json!({"email": email, "role": "member"}))
                    .await;
                call.body = Some(json!({ "code": code }));
            }
            Fixture::ServiceAccount | Fixture::NewServiceAccount => {
                let body = json!({"name": self.fresh("bot"), "scopes": "keys:read"});
                if matches!(row.fixture, Fixture::ServiceAccount) {
                    let v = self.post(&owner, "/v1/service-accounts", body).await;
                    set(&mut call, "id", v["id"].as_str().unwrap());
                    call.body = match row.method {
                        "PATCH" => Some(json!({"name": self.fresh("renamed-bot")})),
                        "POST" => Some(json!({})),
                        _ => None,
                    };
                } else {
                    call.body = Some(body);
                }
            }
            Fixture::OwnerLimit => {
                set(&mut call, "owner_type", "external");
                set(&mut call, "owner_id", &self.fresh("cus"));
                call.body = (row.method == "PUT")
                    .then(|| json!({"ratelimit": {"limit": 100, "period": "1m"}}));
            }
            Fixture::Org => {
                set(&mut call, "id", &self.org_id);
                call.body = (row.method == "PATCH").then(|| json!({"name": "acme"}));
            }
            Fixture::FreshOrg => {
                let v = self
                    .post(
                        &owner,
                        "/v1/organizations",
                        json!({"name": self.fresh("org")}),
                    )
                    .await;
                let token = v["token"]["key"].as_str().unwrap().to_owned();
                let id = v["organization"]["id"].as_str().unwrap().to_owned();
                ok(
                    &self
                        .app
                        .patch(
                            &format!("/v1/organizations/{id}"),
                            &token,
                            json!({"settings": {"allow_legacy_tokens": true, "max_keys": 1000}}),
                        )
                        .await,
                    "settings",
                );
                set(&mut call, "id", &id);
                call.org_token = token;
                call.org_id = id;
            }
            Fixture::NewOrg => call.body = Some(json!({"name": self.fresh("new-org")})),
        }
        call
    }

    async fn send(&self, row: &Row, call: &Call, token: Option<&str>) -> Reply {
        let method = Method::from_bytes(row.method.as_bytes()).unwrap();
        let mut req = self
            .app
            .client
            .request(method, format!("{}{}", self.app.base, call.path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (name, value) in &call.headers {
            req = req.header(*name, value);
        }
        if let Some(b) = &call.body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

/// The scope of a caller, in this file's own terms.
#[derive(Clone, Debug)]
enum Scope {
    Org,
    Workspaces(String),
    Agent(String),
}

/// Whether a key of scope `mine` may act on `row`'s target `call` (the rule of the
/// issue: the key's scope covers the target's).
fn covers(mine: &Scope, row: &Row, call: &Call) -> bool {
    match (row.on, mine) {
        (On::Any, _) | (_, Scope::Org) => true,
        (On::Org, _) => false,
        (On::Workspace | On::Key, Scope::Workspaces(w)) => call.workspace.as_ref() == Some(w),
        (On::Agent, Scope::Agent(a)) => call.agent.as_ref() == Some(a),
        _ => false,
    }
}

fn scope_json(scope: &Scope) -> Value {
    match scope {
        Scope::Org => json!({"type": "organization"}),
        Scope::Workspaces(w) => json!({"type": "workspaces", "workspaces": [w]}),
        Scope::Agent(a) => json!({"type": "agent", "agent": a}),
    }
}

/// Every `resource:write` there is, but the one `permission` names (and its `read` if it
/// is a read), plus the named actions: what a key holds when it lacks only `permission`.
fn all_but(permission: &str) -> Vec<String> {
    let (resource, action) = permission.split_once(':').unwrap();
    let mut grants: Vec<String> = [
        "keys",
        "audit",
        "organizations",
        "workspaces",
        "agents",
        "channels",
        "members",
        "service_accounts",
        "limits",
        "integrations",
        "skills",
    ]
    .iter()
    .filter(|r| **r != resource)
    .map(|r| format!("{r}:write"))
    .collect();
    if action == "write" {
        grants.push(format!("{resource}:read"));
    }
    for named in ["keys:verify", "skills:execute"] {
        if named != permission {
            grants.push(named.to_owned());
        }
    }
    grants
}

fn refused(r: &Reply) -> bool {
    r.status == StatusCode::FORBIDDEN
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_applies_grants_reach_and_scope() {
    let app = TestApp::spawn_with_settings(|s| s.policy.max_orgs_per_person = 10_000).await;
    let owner = app.owner_token.clone();
    let org_id = app.org_id().await;
    ok(
        &app.patch(
            &format!("/v1/organizations/{org_id}"),
            &owner,
            json!({"settings": {"allow_legacy_tokens": true, "max_keys": 100000}}),
        )
        .await,
        "settings",
    );
    let w = World {
        app,
        org_id,
        other_ws: String::new(),
        other_agent: String::new(),
        n: Default::default(),
    };
    let other_ws = w.workspace(&owner).await;
    let other_agent = w.agent(&owner).await;
    let w = World {
        other_ws,
        other_agent,
        ..w
    };

    // Every operation of the document is in the table, and nothing else is.
    let doc = w.app.get("/openapi.json", &owner).await.body;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let rows = table();
    let tabled: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "endpoints without an authorization row: add them to table()"
    );
    assert_eq!(
        tabled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows for endpoints that do not exist"
    );

    let mut failures = vec![];
    let mut calls = 0;
    for row in &rows {
        let what = format!("{} {}", row.method, row.path);
        if row.who == Who::Public {
            let call = w.make(row).await;
            let r = w.send(row, &call, None).await;
            calls += 1;
            if !r.status.is_success() {
                failures.push(format!("{what}: public call → {} {}", r.status, r.body));
            }
            continue;
        }

        // Grants: everything but this endpoint's permission.
        if let Some(permission) = row.permission {
            let call = w.make(row).await;
            let (narrow, _) = w
                .key(
                    &call.org_token,
                    json!({"name": w.fresh("narrow"), "permissions": all_but(permission)}),
                )
                .await;
            let r = w.send(row, &call, Some(&narrow)).await;
            calls += 1;
            if !(refused(&r)
                && r.code() == "forbidden"
                && r.body["required_permission"] == permission)
            {
                failures.push(format!(
                    "{what}: a key without {permission} → {} {} {}",
                    r.status,
                    r.code(),
                    r.body["detail"]
                ));
            }
        }

        // Reach: a member with every permission, for the whole organization; and for
        // agent-admin endpoints, agent admins of the target's agent and of another.
        let call = w.make(row).await;
        let (member, _) = w.member(&call.org_token, "member", &[]).await;
        let r = w.send(row, &call, Some(&member)).await;
        calls += 1;
        let member_may = row.who == Who::Anyone;
        if refused(&r) == member_may || (member_may && !r.status.is_success()) {
            failures.push(format!(
                "{what}: a member → {} {} (expected {})",
                r.status,
                r.code(),
                if member_may { "success" } else { "403" }
            ));
        }
        if row.who == Who::Owners {
            let call = w.make(row).await;
            let (admin, _) = w.member(&call.org_token, "org_admin", &[]).await;
            let r = w.send(row, &call, Some(&admin)).await;
            calls += 1;
            if !refused(&r) {
                failures.push(format!(
                    "{what}: an org admin → {} (expected 403)",
                    r.status
                ));
            }
        }
        if row.who == Who::AgentAdmins {
            for theirs in [true, false] {
                let call = w.make(row).await;
                let agent = if theirs {
                    call.agent.clone().unwrap()
                } else {
                    w.other_agent.clone()
                };
                let (admin, _) = w.member(&call.org_token, "agent_admin", &[&agent]).await;
                let r = w.send(row, &call, Some(&admin)).await;
                calls += 1;
                if refused(&r) == theirs || (theirs && !r.status.is_success()) {
                    failures.push(format!(
                        "{what}: an agent admin of {} agent → {} {}",
                        if theirs { "the target's" } else { "another" },
                        r.status,
                        r.code()
                    ));
                }
            }
        }

        // Scope: the owner's keys of every scope kind, in and out of the target.
        for kind in [
            "org",
            "ws-in",
            "ws-out",
            "agent-in",
            "agent-out",
            "legacy-in",
            "legacy-out",
        ] {
            let call = w.make(row).await;
            let ws_in = call.workspace.clone().unwrap_or_else(|| w.other_ws.clone());
            let agent_in = call.agent.clone().unwrap_or_else(|| w.other_agent.clone());
            let (scope, legacy) = match kind {
                "org" => (Scope::Org, false),
                "ws-in" => (Scope::Workspaces(ws_in), false),
                "ws-out" => (Scope::Workspaces(w.other_ws.clone()), false),
                "agent-in" => (Scope::Agent(agent_in), false),
                "agent-out" => (Scope::Agent(w.other_agent.clone()), false),
                "legacy-in" => (Scope::Workspaces(ws_in), true),
                _ => (Scope::Workspaces(w.other_ws.clone()), true),
            };
            if call.org_id != w.org_id && !matches!(scope, Scope::Org) {
                // Targets in an organization of their own have no workspaces or agents
                // of the world's: only the organization scope applies there.
                continue;
            }
            let token = if legacy {
                let Scope::Workspaces(ws) = &scope else {
                    unreachable!()
                };
                w.key(
                    &call.org_token,
                    json!({"name": w.fresh("legacy"), "kind": "legacy_workspace", "workspace": ws}),
                )
                .await
                .0
            } else {
                w.key(
                    &call.org_token,
                    json!({"name": w.fresh("scoped"), "scope": scope_json(&scope)}),
                )
                .await
                .0
            };
            let mut allowed = covers(&scope, row, &call);
            if legacy && (row.personal_only || row.who == Who::Owners) {
                allowed = false;
            }
            let r = w.send(row, &call, Some(&token)).await;
            calls += 1;
            let ok = if allowed {
                // Deleting a workspace or agent that the caller's own key is scoped to
                // is refused for being in use, which is not an authorization answer.
                r.status.is_success() || r.code() == "resource_in_use"
            } else {
                refused(&r)
            };
            if !ok {
                failures.push(format!(
                    "{what}: {kind} key ({scope:?}) → {} {} (expected {}): {}",
                    r.status,
                    r.code(),
                    if allowed { "success" } else { "403" },
                    r.body["detail"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
