//! Who the caller is, organizations and their settings, workspaces and agents, channels,
//! the audit log and the health check.

use crate::keys::CreatedKey;
use crate::verify::OrgRef;
use chrono::{DateTime, Utc};
use keyward_core::expiry::KeyStatus;
use keyward_core::{KeyKind, Owner, Quota, RateLimit, Role, Scope};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The person's email, the service account's name, or the customer id.
    pub name: String,
    /// Set for people.
    pub email: Option<String>,
    pub owner: Option<Owner>,
    pub org: OrgRef,
    pub key: MeKey,
}

/// Per-organization limits and switches. Defaults come from the seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgSettings {
    /// Keys per organization, counting every kind except worker keys and channel
    /// tokens; revoked keys free their slot, expired keys count until revoked.
    pub max_keys: u32,
    /// Active worker keys per user per workspace.
    pub max_worker_keys: u32,
    /// Whether new legacy workspace tokens may be created (for migrations).
    pub allow_legacy_tokens: bool,
    /// Rate limit given to new keys created without one.
    pub default_ratelimit: Option<RateLimit>,
    /// Quota given to new keys created without one.
    pub default_quota: Option<Quota>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: OrgSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyOrganization {
    #[serde(flatten)]
    pub org: Organization,
    pub role: Role,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedOrg {
    pub organization: Organization,
    /// The caller's first token in the new organization (shown once).
    pub token: CreatedKey,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_worker_keys: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_legacy_tokens: Option<bool>,
    /// Rate limit for new keys created without one; `null` removes it.
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<RateLimit>))]
    pub default_ratelimit: Option<Option<RateLimit>>,
    /// Quota for new keys created without one; `null` removes it.
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Quota>))]
    pub default_quota: Option<Option<Quota>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    #[serde(
        default,
        deserialize_with = "crate::wire::opt_name",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsPatch>,
}

// A workspace or an agent: the two share one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: String,
}

// An agent's channel; callers name it by its public `hook_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub id: String,
    pub agent_id: String,
    pub name: String,
    /// The public identifier callers send as `X-Hook-Id` or `hookId`.
    pub hook_id: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    pub agent: String,
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateChannelRequest {
    #[serde(
        default,
        deserialize_with = "crate::wire::opt_name",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<String>,
    /// `false` disables the channel: its hook id then answers "Channel not found".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct ChannelQuery {
    /// Only this agent's channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelContext {
    pub channel: Channel,
    /// `channel_token` or `personal_token`: how the caller was authorized.
    pub authenticated_with: String,
    /// Who is calling: the person's email, or the channel token's name.
    pub caller: String,
}

/// `POST /v1/channel`'s optional body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HookBody {
    /// The channel's hook id, if not sent in `X-Hook-Id`.
    #[serde(rename = "hookId", default, skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<String>,
}

/// `GET /v1/channel`'s query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct HookQuery {
    /// The channel's hook id, if not sent in `X-Hook-Id`.
    #[serde(rename = "hookId", default, skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<String>,
}

/// `GET /v1/audit-log`'s query string: a page (newest first) of the events that match
/// every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page: the events older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// An event's id: the page of events just newer than it (still newest first), for
    /// paging back; that page's `next_cursor`, passed as `after` again, leads further
    /// towards the newest (absent on the newest page). Not with `cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Who acted: an email, a service account's name, or an id (`usr_…`, `key_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// An action (`key.revoke`), or every action of a kind (`key.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What was acted on: an id (`key_…`, `usr_…`) or a kind (`key`, `user`, `channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Events at or after this time (RFC 3339, a date, or `24h` ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Events before this time (RFC 3339, a date, or `1h` ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `key.create`, `key.update`, `key.rotate`, `key.revoke`, `org.bootstrap`, …
    pub action: String,
    pub target: AuditTarget,
    pub source_ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// Who did something, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// `user`, `service_account`, `system`, …
    #[serde(rename = "type")]
    pub actor_type: String,
    pub id: Option<String>,
    /// Email, service-account name or `system`.
    pub name: String,
    /// The key the actor authenticated with.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub target_type: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
}
