//! What the API sends and accepts: the wire types are `keyward-api`'s (shared with the
//! server, so both ends agree by construction), re-exported here under the names this
//! SDK has always used. A few types are the SDK's own conveniences: [`VerifyOptions`],
//! [`UsageParams`], [`ResourceKind`] and [`Deprecation`].

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use keyward_api::{
    AcceptRequest, AcceptedInvitation, AuditEvent, AuditTarget, Channel, ChannelContext,
    CreatedInvitation, CreatedKey, CreatedServiceAccount, Granularity, InvitationStatus, KeyView,
    LimitInfo, Me, MeKey, Member, MyOrganization, NameRequest, OrgRef, OrgSettings, Organization,
    OwnerLimit, OwnerLimitRequest, PermissionsInput, Problem, QuotaUsage, RateLimitUsage, Resource,
    RestrictedInput, RotatedKey, ScopesInput, ServiceAccount, UpdateOrgRequest, UsageBucket,
    UsageCounts, UsageReport, VerifyCode,
};
pub use keyward_api::{
    Access, Environment, KeyKind, KeyStatus, Owner, Quota, RateLimit, Refill, Role, Scope,
};
/// The integrations vault: integrations, connections and their tokens.
pub use keyward_api::{
    AuthorizeRequest, AuthorizeResponse, ConnectionProblem, ConnectionQuery, ConnectionStatus,
    ConnectionTokens, ConnectionView, Disconnected, ExchangeRequest, Integration, IntegrationScope,
};
/// Webhook ingress: endpoints, their secrets and their deliveries.
pub use keyward_api::{
    CreateWebhookEndpointRequest, DeliveryAttempt, DeliveryQuery, DeliveryStatus,
    ReplayDeliveryRequest, ReplayFailedRequest, Replayed, RotateSigningSecretRequest, SecretHint,
    SigningSecretRotated, UpdateWebhookEndpointRequest, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointCreated, WebhookEndpointQuery, WebhookEndpointStatus, WebhookProvider,
    WebhookSecretInput,
};
/// Workers: machines running `keyward worker`, and what they say on their WebSocket.
pub use keyward_api::{
    RegisterWorkerRequest, ServerMessage, TroubleshootingCheck, Worker, WorkerAck, WorkerDelivery,
    WorkerDetail, WorkerKey, WorkerMessage, WorkerQuery, WorkerRegistration, WorkerStatus,
};

/// One entry's actor in the audit log.
pub use keyward_api::Actor as AuditActor;
/// An invitation and where it stands (`status`); its other fields read through.
pub use keyward_api::InvitationView as Invitation;
/// A quota's state after a verification.
pub use keyward_api::QuotaInfo as VerifyQuota;
/// A rate limit's state after a verification.
pub use keyward_api::RateInfo as VerifyRateLimit;
/// `PATCH /v1/invitations`' `settings`: only what is `Some` changes.
pub use keyward_api::SettingsPatch as OrgSettingsPatch;
/// The answer of `POST /v1/keys/verify`: always a 200; read `code`.
pub use keyward_api::VerifyResponse as Verification;

/// `POST /v1/keys`.
pub type CreateKey = keyward_api::CreateKeyRequest;
/// `PATCH /v1/keys/{id}`.
pub type UpdateKey = keyward_api::UpdateKeyRequest;
/// `POST /v1/keys/{id}/rotate`.
pub type RotateKey = keyward_api::RotateKeyRequest;
/// What a key may do: `Permissions::all()`, `Permissions::read_only()`, a list of
/// `resource:action` grants (`Permissions::Grants`), or per-resource access.
pub type Permissions = keyward_api::PermissionsInput;
/// One page of a listing; pass `next_cursor` back to get the next.
pub type Page<T> = keyward_api::ListResponse<T>;
/// `limit` (1 to 100) and `cursor` of a listing.
pub type ListParams = keyward_api::ListQuery;
/// `POST /v1/channels`.
pub type CreateChannel = keyward_api::CreateChannelRequest;
/// `PATCH /v1/channels/{id}`.
pub type UpdateChannel = keyward_api::UpdateChannelRequest;
/// `POST /v1/invitations`.
pub type CreateInvitation = keyward_api::InviteRequest;
/// `PATCH /v1/members/{user_id}`.
pub type UpdateMember = keyward_api::UpdateMemberRequest;
/// `POST /v1/service-accounts`.
pub type CreateServiceAccount = keyward_api::CreateServiceAccountRequest;
/// `POST /v1/service-accounts/{id}/keys`.
pub type CreateServiceAccountKey = keyward_api::CreateServiceAccountKeyRequest;

/// What a verification may check besides the key itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyOptions {
    /// A permission the key must hold, e.g. `keys:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// A workspace id the key's scope must reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// An agent id the key's scope must reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A channel's hook id: it must exist and be enabled, and the key must reach it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Quota credits this verification spends (server default 1; 0 checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<i64>,
}

impl VerifyOptions {
    /// The request body: `key` and these checks.
    pub(crate) fn request<'a>(&self, key: &'a str) -> keyward_api::VerifyRequest<'a> {
        keyward_api::VerifyRequest {
            key: key.into(),
            permission: self.permission.clone(),
            workspace: self.workspace.clone(),
            agent: self.agent.clone(),
            channel: self.channel.clone(),
            hook_id: None,
            cost: self.cost,
        }
    }
}

/// The query of `GET /v1/keys/{id}/usage`; the server defaults to the last 24 hours by hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageParams {
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub granularity: Option<Granularity>,
}

impl UsageParams {
    /// The query string: times in RFC 3339.
    pub(crate) fn query(&self) -> keyward_api::UsageQuery {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        keyward_api::UsageQuery {
            from: self.from.as_ref().map(time),
            to: self.to.as_ref().map(time),
            granularity: self.granularity,
        }
    }
}

/// The deprecation signal a response carried (legacy workspace tokens get one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deprecation {
    /// The `Deprecation` header as sent (`true`, or `@<unix time>` per RFC 9745).
    pub deprecation: String,
    /// The `Sunset` header, if any: when it stops working.
    pub sunset: Option<String>,
    /// The `Link` header, if any: where to read more.
    pub link: Option<String>,
    /// The `Warning` header, if any: what to use instead.
    pub warning: Option<String>,
}

/// Which kind of [`Resource`]: the two share one API shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Workspace,
    Agent,
}

impl ResourceKind {
    /// The path segment: `workspaces` or `agents`.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "workspaces",
            ResourceKind::Agent => "agents",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "workspace",
            ResourceKind::Agent => "agent",
        }
    }

    /// The prefix of its ids: `ws_` or `agt_`.
    pub fn id_prefix(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "ws_",
            ResourceKind::Agent => "agt_",
        }
    }
}
