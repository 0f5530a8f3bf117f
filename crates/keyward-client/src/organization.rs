//! The organization's other resources: service accounts, workspaces, agents, channels
//! and members.

use crate::{
    AcceptedInvitation, ApiKey, Channel, Client, CreateChannel, CreateInvitation,
    CreateServiceAccount, CreateServiceAccountKey, CreatedInvitation, CreatedKey,
    CreatedServiceAccount, Invitation, InvitationCode, Member, MyOrganization, OrgSettingsPatch,
    Organization, OwnerLimit, RateLimit, Resource, ResourceKind, Result, ServiceAccount,
    UpdateChannel, UpdateMember,
};
use reqwest::Method;
use serde_json::json;

const NO_BODY: Option<&()> = None;

impl Client {
    /// `POST /v1/service-accounts`: the account and its first key (shown once).
    pub async fn create_service_account(
        &self,
        req: &CreateServiceAccount,
    ) -> Result<CreatedServiceAccount> {
        self.send(
            Method::POST,
            self.url(&["v1", "service-accounts"]),
            Some(req),
        )
        .await
    }

    /// `GET /v1/service-accounts`.
    pub async fn list_service_accounts(&self) -> Result<Vec<ServiceAccount>> {
        self.send(Method::GET, self.url(&["v1", "service-accounts"]), NO_BODY)
            .await
    }

    /// `GET /v1/service-accounts/{id}`.
    pub async fn get_service_account(&self, id: &str) -> Result<ServiceAccount> {
        self.send(
            Method::GET,
            self.url(&["v1", "service-accounts", id]),
            NO_BODY,
        )
        .await
    }

    /// `PATCH /v1/service-accounts/{id}`: rename.
    pub async fn rename_service_account(&self, id: &str, name: &str) -> Result<ServiceAccount> {
        self.send(
            Method::PATCH,
            self.url(&["v1", "service-accounts", id]),
            Some(&json!({ "name": name })),
        )
        .await
    }

    /// `DELETE /v1/service-accounts/{id}`: deletes it and revokes its keys.
    pub async fn delete_service_account(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "service-accounts", id]),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/service-accounts/{id}/keys`: another key for the account (shown once).
    pub async fn create_service_account_key(
        &self,
        id: &str,
        req: &CreateServiceAccountKey,
    ) -> Result<CreatedKey> {
        self.send(
            Method::POST,
            self.url(&["v1", "service-accounts", id, "keys"]),
            Some(req),
        )
        .await
    }

    /// `POST /v1/workspaces` or `/v1/agents`.
    pub async fn create_resource(&self, kind: ResourceKind, name: &str) -> Result<Resource> {
        self.send(
            Method::POST,
            self.url(&["v1", kind.plural()]),
            Some(&json!({ "name": name })),
        )
        .await
    }

    /// `GET /v1/workspaces` or `/v1/agents`.
    pub async fn list_resources(&self, kind: ResourceKind) -> Result<Vec<Resource>> {
        self.send(Method::GET, self.url(&["v1", kind.plural()]), NO_BODY)
            .await
    }

    pub async fn get_resource(&self, kind: ResourceKind, id: &str) -> Result<Resource> {
        self.send(Method::GET, self.url(&["v1", kind.plural(), id]), NO_BODY)
            .await
    }

    pub async fn rename_resource(
        &self,
        kind: ResourceKind,
        id: &str,
        name: &str,
    ) -> Result<Resource> {
        self.send(
            Method::PATCH,
            self.url(&["v1", kind.plural(), id]),
            Some(&json!({ "name": name })),
        )
        .await
    }

    pub async fn delete_resource(&self, kind: ResourceKind, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", kind.plural(), id]),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/channels`.
    pub async fn create_channel(&self, req: &CreateChannel) -> Result<Channel> {
        self.send(Method::POST, self.url(&["v1", "channels"]), Some(req))
            .await
    }

    /// `GET /v1/channels`, optionally only one agent's.
    pub async fn list_channels(&self, agent: Option<&str>) -> Result<Vec<Channel>> {
        let mut url = self.url(&["v1", "channels"]);
        if let Some(agent) = agent {
            url.query_pairs_mut().append_pair("agent", agent);
        }
        self.send(Method::GET, url, NO_BODY).await
    }

    pub async fn get_channel(&self, id: &str) -> Result<Channel> {
        self.send(Method::GET, self.url(&["v1", "channels", id]), NO_BODY)
            .await
    }

    pub async fn update_channel(&self, id: &str, req: &UpdateChannel) -> Result<Channel> {
        self.send(Method::PATCH, self.url(&["v1", "channels", id]), Some(req))
            .await
    }

    pub async fn delete_channel(&self, id: &str) -> Result<()> {
        self.send(Method::DELETE, self.url(&["v1", "channels", id]), NO_BODY)
            .await
    }

    /// `POST /v1/invitations`: invites a person by email with a role. The answer holds
    /// the invitation's one-time code (shown once) for the invited person to redeem with
    /// [`Client::accept_invitation`].
    pub async fn create_invitation(&self, req: &CreateInvitation) -> Result<CreatedInvitation> {
        self.send(Method::POST, self.url(&["v1", "invitations"]), Some(req))
            .await
    }

    /// `GET /v1/invitations`: the invitations not accepted or revoked (pending or
    /// expired), newest first.
    pub async fn list_invitations(&self) -> Result<Vec<Invitation>> {
        self.send(Method::GET, self.url(&["v1", "invitations"]), NO_BODY)
            .await
    }

    /// `DELETE /v1/invitations/{id}`: the invitation's code stops working.
    pub async fn revoke_invitation(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "invitations", id]),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/invitations/accept`: redeems an invitation for the membership and a
    /// first personal access token. Sends `token` as the credential, or none at all
    /// when it is `None` (the client's own key is not used): a person new to Keyward
    /// needs none; a person whose email already has an account gets `identity_required`
    /// without one of their own personal access tokens (of any organization).
    pub async fn accept_invitation(
        &self,
        code: &InvitationCode,
        token: Option<&ApiKey>,
    ) -> Result<AcceptedInvitation> {
        self.send_as(
            token,
            Method::POST,
            self.url(&["v1", "invitations", "accept"]),
            Some(&json!({ "code": code.expose_secret() })),
        )
        .await
    }

    pub async fn list_members(&self) -> Result<Vec<Member>> {
        self.send(Method::GET, self.url(&["v1", "members"]), NO_BODY)
            .await
    }

    pub async fn get_member(&self, user_id: &str) -> Result<Member> {
        self.send(Method::GET, self.url(&["v1", "members", user_id]), NO_BODY)
            .await
    }

    pub async fn update_member(&self, user_id: &str, req: &UpdateMember) -> Result<Member> {
        self.send(
            Method::PATCH,
            self.url(&["v1", "members", user_id]),
            Some(req),
        )
        .await
    }

    pub async fn remove_member(&self, user_id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "members", user_id]),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/me/organizations`: the caller's organizations and role in each.
    pub async fn my_organizations(&self) -> Result<Vec<MyOrganization>> {
        self.send(
            Method::GET,
            self.url(&["v1", "me", "organizations"]),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/organizations/{id}` (the caller's own organization).
    pub async fn get_organization(&self, id: &str) -> Result<Organization> {
        self.send(Method::GET, self.url(&["v1", "organizations", id]), NO_BODY)
            .await
    }

    /// `PATCH /v1/organizations/{id}` with new settings (owners and org admins).
    pub async fn update_organization_settings(
        &self,
        id: &str,
        settings: &OrgSettingsPatch,
    ) -> Result<Organization> {
        self.send(
            Method::PATCH,
            self.url(&["v1", "organizations", id]),
            Some(&json!({ "settings": settings })),
        )
        .await
    }

    /// `GET /v1/owner-limits`: rate limits shared by all keys of an owner.
    pub async fn list_owner_limits(&self) -> Result<Vec<OwnerLimit>> {
        self.send(Method::GET, self.url(&["v1", "owner-limits"]), NO_BODY)
            .await
    }

    /// `PUT /v1/owner-limits/{owner_type}/{owner_id}`; `owner_type` is `user`,
    /// `service_account` or `external`.
    pub async fn set_owner_limit(
        &self,
        owner_type: &str,
        owner_id: &str,
        ratelimit: RateLimit,
    ) -> Result<OwnerLimit> {
        self.send(
            Method::PUT,
            self.url(&["v1", "owner-limits", owner_type, owner_id]),
            Some(&json!({ "ratelimit": ratelimit })),
        )
        .await
    }

    /// `DELETE /v1/owner-limits/{owner_type}/{owner_id}`.
    pub async fn remove_owner_limit(&self, owner_type: &str, owner_id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "owner-limits", owner_type, owner_id]),
            NO_BODY,
        )
        .await
    }
}
