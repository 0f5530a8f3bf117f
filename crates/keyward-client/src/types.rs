//! What the API sends and accepts. Enums shared with the server (kinds, scopes, owners,
//! statuses) come from `keyward-core`, so both ends agree by construction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use keyward_core::expiry::KeyStatus;
pub use keyward_core::key::Environment;
pub use keyward_core::{KeyKind, Owner, Quota, RateLimit, Refill, Role, Scope};

use crate::{ApiKey, InvitationCode};

/// `{id, name}` of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

/// `GET /v1/me`: who the key belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// The person's email, the service account's name, or the customer id.
    pub name: String,
    pub email: Option<String>,
    pub owner: Option<Owner>,
    pub org: OrgRef,
    pub key: MeKey,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub kind: KeyKind,
    pub scope: Scope,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
}

/// A key as listings show it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The visible start of the key, e.g. `kw_pat_kcnl`.
    pub prefix: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub owner: Option<Owner>,
    pub scope: Scope,
    pub permissions: Vec<String>,
    pub metadata: Option<serde_json::Value>,
    /// `revoked` and `expired` win over `disabled`: they are for good.
    pub status: KeyStatus,
    /// `false` while the key is switched off. Absent from servers older than the switch.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub rotated_from: Option<String>,
    pub rotated_to: Option<String>,
    /// The workspace a worker or legacy workspace key is bound to.
    #[serde(default)]
    pub workspace: Option<String>,
    /// The channel a channel token belongs to.
    #[serde(default)]
    pub channel: Option<String>,
    /// Requests per period the key may make, if it is rate limited.
    #[serde(default)]
    pub ratelimit: Option<RateLimit>,
    /// Credits verifications spend, if the key has a quota.
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// The answer to a create: the only time the raw key is shown.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedKey {
    pub key: ApiKey,
    #[serde(flatten)]
    pub details: KeyView,
}

/// The answer to a rotate: the replacement key, once, and the key it replaces.
#[derive(Debug, Clone, Deserialize)]
pub struct RotatedKey {
    pub key: ApiKey,
    #[serde(flatten)]
    pub details: KeyView,
    pub previous: KeyView,
}

/// One page of a listing; pass `next_cursor` back to get the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `limit` (1 to 100) and `cursor` of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// What a key may do: a preset or a list of `resource:action` grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissions {
    All,
    ReadOnly,
    Grants(Vec<String>),
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Permissions::All => s.serialize_str("all"),
            Permissions::ReadOnly => s.serialize_str("read_only"),
            Permissions::Grants(list) => list.serialize(s),
        }
    }
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateKey {
    pub name: String,
    /// `7d`, `30d`, `60d`, `90d`, `180d`, `1y`, `never`, RFC 3339 or `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Defaults to the caller's own permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<KeyKind>,
    /// Organization (default), a list of workspaces, or one agent. Fixed in level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// For `worker` and `legacy_workspace` keys: the workspace they are bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// For `channel` tokens: the channel id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Requests per period; defaults to the organization's default rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimit>,
    /// Credits verifications spend; defaults to the organization's default quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// `Some(false)` creates the key switched off (verify answers `DISABLED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `PATCH /v1/keys/{id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Never more than the editor holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// A new scope of the same level (e.g. another list of workspaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// `Some(None)` removes the key's rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<Option<RateLimit>>,
    /// A new quota (its balance starts afresh); `Some(None)` removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Option<Quota>>,
    /// `Some(false)` switches the key off (verify answers `DISABLED`) until
    /// `Some(true)`; unlike revoking, it can be undone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `POST /v1/keys/{id}/rotate`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RotateKey {
    /// How long the old key keeps working: `0` (default) up to `30d`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// Expiry of the new key; defaults to the old key's lifetime counted from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The answer of `POST /v1/keys/verify`: always a 200; read `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND`, `REVOKED`, `EXPIRED`, `DISABLED`, `INSUFFICIENT_PERMISSIONS`, …
    pub code: String,
    pub message: Option<String>,
    pub key_id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<Owner>,
    pub org: Option<OrgRef>,
    pub scope: Option<Scope>,
    pub permissions: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<serde_json::Value>,
    /// The key's (or its owner's) rate limit after this request, if it has one.
    #[serde(default)]
    pub ratelimit: Option<VerifyRateLimit>,
    /// The key's quota after this request, if it has one.
    #[serde(default)]
    pub quota: Option<VerifyQuota>,
}

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

/// A rate limit's state after a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// When the allowance is full again (unix milliseconds).
    pub reset: i64,
}

/// A quota's state after a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyQuota {
    pub limit: i64,
    pub remaining: i64,
}

/// `minute`, `hour` or `day`: the size of a usage report's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
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

/// Verifications and API calls, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounts {
    /// Verifications that answered VALID.
    pub valid: i64,
    /// Verifications of this key that answered anything else.
    pub denied: i64,
    /// Calls to Keyward's API made with this key.
    pub api: i64,
}

/// One bucket of a usage series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: UsageCounts,
}

/// How much of a rate limit a key used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitUsage {
    pub limit: u32,
    /// `1m`, `1h`, `10s`, … as the server prints it.
    pub period: String,
    /// Requests (valid verifications and API calls) in the last period.
    pub used_in_last_period: i64,
    /// `used_in_last_period / limit`.
    pub utilization: f64,
    /// The highest utilization of any period-long window in the report.
    pub peak_utilization: f64,
}

/// How much of its quota a key spent in the current refill period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    pub remaining: i64,
    pub used: i64,
    pub utilization: f64,
}

/// `GET /v1/keys/{id}/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub key_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub totals: UsageCounts,
    pub series: Vec<UsageBucket>,
    pub ratelimit: Option<RateLimitUsage>,
    /// The limit shared by all keys of the key's owner, measured on this key.
    pub owner_ratelimit: Option<RateLimitUsage>,
    pub quota: Option<QuotaUsage>,
}

/// A rate limit shared by all keys of one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerLimit {
    /// `user`, `service_account` or `external`.
    pub owner_type: String,
    pub owner_id: String,
    pub ratelimit: RateLimit,
}

/// Per-organization limits and switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSettings {
    /// Keys per organization (worker keys and channel tokens aside).
    pub max_keys: u32,
    /// Active worker keys per user per workspace.
    pub max_worker_keys: u32,
    /// Whether new legacy workspace tokens may be created.
    pub allow_legacy_tokens: bool,
    /// Rate limit given to new keys created without one.
    #[serde(default)]
    pub default_ratelimit: Option<RateLimit>,
    /// Quota given to new keys created without one.
    #[serde(default)]
    pub default_quota: Option<Quota>,
}

/// An organization and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: OrgSettings,
}

/// An organization of the caller's, with the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyOrganization {
    #[serde(flatten)]
    pub org: Organization,
    pub role: Role,
}

/// The `settings` of `PATCH /v1/organizations/{id}`: only what is `Some` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgSettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_worker_keys: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_legacy_tokens: Option<bool>,
    /// `Some(None)` removes the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_ratelimit: Option<Option<RateLimit>>,
    /// `Some(None)` removes the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_quota: Option<Option<Quota>>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// `key.create`, `key.update`, `key.rotate`, `key.revoke`, `org.bootstrap`, …
    pub action: String,
    pub target: AuditTarget,
    pub source_ip: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditActor {
    #[serde(rename = "type")]
    pub actor_type: String,
    pub id: Option<String>,
    pub name: String,
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub target_type: String,
    pub id: String,
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

/// A non-human principal of the organization with explicit scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// The answer to creating a service account: the account and its first key, once.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedServiceAccount {
    #[serde(flatten)]
    pub account: ServiceAccount,
    pub key: CreatedKey,
}

/// `POST /v1/service-accounts`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateServiceAccount {
    pub name: String,
    /// `resource:action` grants, e.g. `integrations:read`.
    pub scopes: Vec<String>,
    /// Expiry of the first key; `never` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// `POST /v1/service-accounts/{id}/keys`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateServiceAccountKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A workspace or an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
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

/// An agent's channel; callers name it by its public `hook_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    pub agent_id: String,
    pub name: String,
    pub hook_id: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/channels`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateChannel {
    pub agent: String,
    pub name: String,
}

/// `PATCH /v1/channels/{id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateChannel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `false` disables the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A person in the organization and their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// For agent admins: the agents they administer.
    pub agents: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Its code can be redeemed.
    Pending,
    Accepted,
    Revoked,
    /// Past `expires_at` without being accepted.
    Expired,
    /// A status this SDK does not know yet (a newer server).
    #[serde(other)]
    Unknown,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Unknown => "unknown",
        }
    }
}

/// An invitation to join the organization; never its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// For agent admins: the agents they will administer.
    #[serde(default)]
    pub agents: Vec<String>,
    /// What the invited person's first token will hold.
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub status: InvitationStatus,
}

/// `POST /v1/invitations`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateInvitation {
    pub email: String,
    pub role: Role,
    /// For `agent_admin`: the agents they will administer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// How long the code works: `1h` to `30d`; the server's default is `24h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The answer to an invitation: the invitation and its one-time code, shown only here.
/// The code is for the invited person to redeem; it is not a credential of theirs.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    pub code: InvitationCode,
}

/// The answer to redeeming an invitation: the organization joined, the membership,
/// and the invited person's first personal access token (shown once).
#[derive(Debug, Clone, Deserialize)]
pub struct AcceptedInvitation {
    pub organization: OrgRef,
    pub member: Member,
    pub token: CreatedKey,
}

/// `PATCH /v1/members/{user_id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateMember {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
}

fn enabled_default() -> bool {
    true
}
