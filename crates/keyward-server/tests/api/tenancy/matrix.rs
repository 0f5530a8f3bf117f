//! The authorization matrix: who may call what, on which scope, with what answer.

use super::*;

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
