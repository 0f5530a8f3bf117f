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

mod rows;
mod world;

use rows::table;

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
    CliLogin,
    ServiceAccount,
    NewServiceAccount,
    OwnerLimit,
    Org,
    FreshOrg,
    NewOrg,
    /// An authorization to start, for a connection in a fresh workspace.
    NewConnection,
    /// An active connection in a fresh workspace (the whole OAuth flow done).
    Connection,
    /// A code and state the provider sent back, for a connection in a fresh workspace.
    OAuthCode,
    /// The provider's redirect to Keyward's hosted callback.
    HostedCallback,
    /// A webhook endpoint to make, in a fresh workspace.
    NewWebhookEndpoint,
    /// A (disabled) webhook endpoint in a fresh workspace.
    WebhookEndpoint,
    /// A failed delivery of such an endpoint (what arrived while it was disabled).
    WebhookDelivery,
    /// A worker registered (through the store) with the owner's worker key of a fresh
    /// workspace, connected.
    Worker,
    /// A registration to send with a worker key of a fresh workspace (the only key that
    /// may: every other is refused `worker_key_required`).
    WorkerRegistration,
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
    /// A worker key of the target's workspace, for endpoints only worker keys call.
    worker_key: Option<String>,
}

struct World {
    app: TestApp,
    /// The local authorization server the vault's fixtures connect through.
    provider: crate::integrations::OAuthProvider,
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
        "webhooks",
        "workers",
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
    let Some(vault) = crate::integrations::Vault::start_with(|s| {
        s.policy.max_orgs_per_person = 10_000;
        // A replayed delivery fails at once instead of waiting for a retry.
        s.policy.webhooks.schedule = vec![];
    })
    .await
    else {
        return;
    };
    let crate::integrations::Vault { app, provider, .. } = vault;
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
        provider,
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
        if matches!(row.fixture, Fixture::WorkerRegistration) {
            // Worker keys only: the owner's token (every permission) is refused, the
            // workspace's worker key goes through.
            let call = w.make(row).await;
            let r = w.send(row, &call, Some(&owner)).await;
            calls += 1;
            if !(refused(&r) && r.code() == "worker_key_required") {
                failures.push(format!(
                    "{what}: the owner's token → {} {}",
                    r.status,
                    r.code()
                ));
            }
            let r = w.send(row, &call, call.worker_key.as_deref()).await;
            calls += 1;
            if !r.status.is_success() {
                failures.push(format!("{what}: a worker key → {} {}", r.status, r.body));
            }
            continue;
        }
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
