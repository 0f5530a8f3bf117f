//! `/v1/keys`: keys as listings show them, the answers that carry a raw key once, and
//! the requests that create, change and rotate keys; listings' pages.

use crate::secret::{expose, ApiKey};
use chrono::{DateTime, Utc};
use keyward_core::expiry::KeyStatus;
use keyward_core::key::Environment;
use keyward_core::permission::Access;
use keyward_core::{KeyKind, Owner, Quota, RateLimit, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key as listings show it: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// `revoked` and `expired` win over `disabled`: they are for good.
    pub status: KeyStatus,
    /// `false` while the key is switched off (`PATCH` with `enabled`).
    // Servers older than the switch do not send it: their keys are all on.
    #[serde(default = "crate::wire::enabled_default")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
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
    pub workspace: Option<String>,
    /// The channel a channel token belongs to.
    pub channel: Option<String>,
    /// While switched off: who switched it off (a user or service-account id).
    pub disabled_by: Option<String>,
    /// Who set its rate limit or quota (an id, or `organization` for the defaults).
    pub limits_by: Option<String>,
    /// Requests allowed per period, if limited.
    pub ratelimit: Option<RateLimit>,
    /// Credits verifications spend, if the key has a quota.
    pub quota: Option<Quota>,
}

/// The one response that contains the raw key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The raw key. Shown only in this response: store it now.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: ApiKey,
    #[serde(flatten)]
    pub details: KeyView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    /// The replacement key. Shown only in this response.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: ApiKey,
    #[serde(flatten)]
    pub details: KeyView,
    /// The key that was rotated, with the time it stops working.
    pub previous: KeyView,
}

/// `all`, `read_only`, a list of `resource:action` grants, or
/// `{"restricted": {"keys": "write", "audit": "read", "skills": "none"}, "actions": ["skills:execute"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum PermissionsInput {
    Preset(String),
    Grants(Vec<String>),
    Restricted(RestrictedInput),
}

impl PermissionsInput {
    /// The preset `all`: everything the creating key holds.
    pub fn all() -> Self {
        PermissionsInput::Preset("all".into())
    }

    /// The preset `read_only`: every `read` the creating key holds.
    pub fn read_only() -> Self {
        PermissionsInput::Preset("read_only".into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestrictedInput {
    /// Per resource: `none`, `read` or `write` (write includes read).
    pub restricted: BTreeMap<String, Access>,
    /// Named actions on top, e.g. `skills:execute`.
    #[serde(default)]
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// 1 to 100 characters.
    #[serde(deserialize_with = "crate::wire::name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "CI pipeline"))]
    pub name: String,
    /// `7d`, `30d`, `60d`, `90d`, `180d`, `1y`, `never` (default), RFC 3339 or YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "30d"))]
    pub expires: Option<String>,
    /// Defaults to the caller's own permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsInput>,
    /// `personal` (default for people), `worker` (needs `workspace`), `channel` (needs
    /// `channel`), `legacy_workspace` (needs `workspace` and the organization setting),
    /// or `api` (a key for your own customers). Service-account keys are created under
    /// `/v1/service-accounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KeyKind>,
    /// Organization (default), a list of workspaces, or one agent. Fixed in level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// For `worker` and `legacy_workspace` keys: the workspace they are bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// For `channel` tokens: the channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// e.g. `{"limit": 100, "period": "1m"}`; defaults to the organization's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimit>,
    /// e.g. `{"limit": 10000, "refill": "monthly"}`; defaults to the organization's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// For `api` keys: `live` (default) or `test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// For `api` keys: your identifier of the customer the key belongs to.
    #[serde(
        default,
        deserialize_with = "crate::wire::opt_external_id",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<keyward_core::ExternalId>))]
    pub owner: Option<String>,
    /// Up to 4 KiB of JSON, returned by verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `false` creates the key switched off: verify answers `DISABLED` until it is
    /// enabled (`PATCH` with `enabled: true`). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    #[serde(
        default,
        deserialize_with = "crate::wire::opt_name",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<String>,
    /// New permissions; never more than the editor holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsInput>,
    /// New scope of the same level (e.g. another list of workspaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// New rate limit; `null` removes it.
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<RateLimit>))]
    pub ratelimit: Option<Option<RateLimit>>,
    /// New quota (its balance starts afresh); `null` removes it.
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Quota>))]
    pub quota: Option<Option<Quota>>,
    /// `false` switches the key off until it is set back to `true`: verify answers
    /// `DISABLED` and the key cannot call Keyward. Unlike revoking, it can be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old key keeps working: `0` (default, stop now) up to `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "24h"))]
    pub grace: Option<String>,
    /// Expiry of the new key; defaults to the old key's lifetime counted from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

// `limit` (1 to 100) and `cursor` of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

// One page of a listing; pass `next_cursor` back to get the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
