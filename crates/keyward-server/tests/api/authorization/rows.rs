//! The table: every operation of the OpenAPI document, with what it needs and acts on.

use super::*;

#[rustfmt::skip]
pub(super) fn table() -> Vec<Row> {
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
        row("GET", "/v1/keys/{id}/audit-log", Some("audit:read"), Admins, Key, F::Key),
        row("GET", "/v1/me/keys", Some("keys:read"), Anyone, Any, F::Nothing),
        row("POST", "/v1/keys/verify", Some("keys:verify"), Anyone, Any, F::Verify),
        row("GET", "/v1/me", None, Anyone, Any, F::Nothing),
        row("GET", "/v1/me/organizations", None, Anyone, Any, F::Nothing),
        row("POST", "/v1/auth/cli/token", None, Public, Any, F::CliLogin),
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
        Row {
            personal_only: true,
            ..row("POST", "/v1/members/{user_id}/password-link", Some("members:write"), Admins, Org, F::Member)
        },
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
        row("GET", "/v1/service-accounts/{id}/keys", Some("keys:read"), Anyone, Any, F::ServiceAccount),
        row("GET", "/v1/integrations", Some("integrations:read"), Anyone, Any, F::Nothing),
        row("POST", "/v1/integrations/{provider}/authorize", Some("integrations:write"), Admins, Workspace, F::NewConnection),
        row("POST", "/v1/integrations/{provider}/exchange", Some("integrations:write"), Admins, Workspace, F::OAuthCode),
        row("GET", "/v1/oauth/callback", None, Public, Any, F::HostedCallback),
        row("GET", "/v1/connections", Some("integrations:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/connections/{id}", Some("integrations:read"), Anyone, Workspace, F::Connection),
        row("DELETE", "/v1/connections/{id}", Some("integrations:write"), Admins, Workspace, F::Connection),
        // A token of someone else is a credential: only those who manage the organization.
        row("GET", "/v1/connections/{id}/tokens", Some("integrations:read"), Admins, Workspace, F::Connection),
        row("DELETE", "/v1/connections/{id}/tokens", Some("integrations:write"), Admins, Workspace, F::Connection),
        row("POST", "/v1/connections/{id}/refresh", Some("integrations:write"), Admins, Workspace, F::Connection),
        row("POST", "/v1/webhook-endpoints", Some("webhooks:write"), Admins, Workspace, F::NewWebhookEndpoint),
        row("GET", "/v1/webhook-endpoints", Some("webhooks:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/webhook-endpoints/{id}", Some("webhooks:read"), Anyone, Workspace, F::WebhookEndpoint),
        row("PATCH", "/v1/webhook-endpoints/{id}", Some("webhooks:write"), Admins, Workspace, F::WebhookEndpoint),
        row("DELETE", "/v1/webhook-endpoints/{id}", Some("webhooks:write"), Admins, Workspace, F::WebhookEndpoint),
        row("POST", "/v1/webhook-endpoints/{id}/rotate-secret", Some("webhooks:write"), Admins, Workspace, F::WebhookEndpoint),
        row("POST", "/v1/webhook-endpoints/{id}/replay", Some("webhooks:write"), Admins, Workspace, F::WebhookEndpoint),
        row("GET", "/v1/webhook-endpoints/{id}/deliveries", Some("webhooks:read"), Anyone, Workspace, F::WebhookEndpoint),
        row("GET", "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}", Some("webhooks:read"), Anyone, Workspace, F::WebhookDelivery),
        row("POST", "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/replay", Some("webhooks:write"), Admins, Workspace, F::WebhookDelivery),
        row("POST", "/v1/workers/register", None, Anyone, Workspace, F::WorkerRegistration),
        row("GET", "/v1/workers", Some("workers:read"), Anyone, Any, F::Nothing),
        row("GET", "/v1/workers/{id}", Some("workers:read"), Anyone, Workspace, F::Worker),
        row("DELETE", "/v1/workers/{id}", Some("workers:write"), Admins, Workspace, F::Worker),
        row("GET", "/healthz", None, Public, Any, F::Nothing),
    ]
}
