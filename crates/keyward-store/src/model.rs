//! Records the store reads and writes. Times are UTC; JSON columns are typed here.

use chrono::{DateTime, Utc};
use keyward_core::{
    key::Environment, KeyHash, KeyKind, Owner, PermissionSet, PlainKey, Quota, RateLimit, Role,
    Scope,
};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub name: String,
    /// The visible start of the key (`kw_pat_kcnl`), never the secret.
    pub prefix: String,
    /// SHA-256 of the key: what the verify cache is keyed by. Never sent to clients.
    pub hash: KeyHash,
    pub owner: Option<Owner>,
    pub permissions: PermissionSet,
    pub scope: Scope,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub rotated_from: Option<String>,
    pub rotated_to: Option<String>,
    /// `false` while the key is switched off (verify answers DISABLED); revocation, by
    /// contrast, is for good.
    pub enabled: bool,
    /// The workspace a worker or legacy workspace key is bound to.
    pub workspace_id: Option<String>,
    /// The channel a channel token belongs to.
    pub channel_id: Option<String>,
    pub ratelimit: Option<RateLimit>,
    pub quota: Option<Quota>,
}

impl NewKey {
    /// A key for `plain` with a fresh id and the defaults of a new key: organization
    /// scope, no owner, no permissions, no expiry, no limits. Callers set what differs
    /// with struct-update syntax: `NewKey { owner, permissions, ..NewKey::for_plain(…) }`.
    pub fn for_plain(
        plain: &PlainKey,
        org_id: &str,
        name: impl Into<String>,
        created_at: DateTime<Utc>,
        created_by: impl Into<String>,
    ) -> Self {
        Self {
            id: keyward_core::ids::new_id("key"),
            org_id: org_id.to_owned(),
            kind: plain.kind(),
            environment: plain.environment(),
            name: name.into(),
            prefix: plain.visible_prefix(),
            hash: plain.hash(),
            owner: None,
            permissions: PermissionSet::default(),
            scope: Scope::Organization,
            metadata: None,
            created_at,
            created_by: created_by.into(),
            expires_at: None,
            rotated_from: None,
            workspace_id: None,
            channel_id: None,
            ratelimit: None,
            quota: None,
            enabled: true,
        }
    }
}

/// A key to insert. Holds only the hash of the secret.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub org_id: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub name: String,
    pub prefix: String,
    pub hash: KeyHash,
    pub owner: Option<Owner>,
    pub permissions: PermissionSet,
    pub scope: Scope,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_from: Option<String>,
    pub workspace_id: Option<String>,
    pub channel_id: Option<String>,
    pub ratelimit: Option<RateLimit>,
    pub quota: Option<Quota>,
    /// `false` creates the key switched off (verify answers DISABLED until enabled).
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct NewBootstrap {
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub email: String,
    pub at: DateTime<Utc>,
    /// The owner's first personal access token.
    pub key: NewKey,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Rotation {
    pub org_id: String,
    pub old_id: String,
    pub replacement: NewKey,
    /// When the old key stops: now for a grace of 0, else the earlier of the end of
    /// the grace period and its own expiry.
    pub old_ends_at: DateTime<Utc>,
    pub revoke_old: bool,
    pub revoked_by: String,
    pub audit: Vec<NewAuditEvent>,
}

/// Who did something, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub org_id: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub source_ip: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `key.create`, `key.update`, `key.rotate`, `key.revoke`, `org.bootstrap`, …
    pub action: String,
    pub target: AuditTarget,
    pub source_ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub target_type: String,
    pub id: String,
}

/// Keyset pagination: `cursor` is what the previous page returned as `next_cursor`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Per-organization limits and switches. Defaults come from the seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
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

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            max_keys: 10,
            max_worker_keys: 25,
            allow_legacy_tokens: false,
            default_ratelimit: None,
            default_quota: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: OrgSettings,
}

/// Workspaces and agents share one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Workspace,
    Agent,
}

impl ResourceKind {
    pub fn table(self) -> &'static str {
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
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: String,
    #[serde(skip)]
    pub org_id: String,
    pub agent_id: String,
    pub name: String,
    /// The public identifier callers send as `X-Hook-Id` or `hookId`.
    pub hook_id: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// For agent admins: the agents they administer.
    pub agents: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAccount {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: PermissionSet,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// What may change on a key; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub permissions: Option<PermissionSet>,
    pub scope: Option<Scope>,
    /// `Some(None)` removes the rate limit.
    pub ratelimit: Option<Option<RateLimit>>,
    /// `Some(_)` sets or removes the quota and restarts its balance.
    pub quota: Option<Option<Quota>>,
    pub enabled: Option<bool>,
}

/// Counts of one key in one minute (unix minutes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub key_id: String,
    pub minute: i64,
    pub valid: i64,
    pub denied: i64,
    pub api: i64,
}

/// A rate limit shared by all keys of one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OwnerLimit {
    /// `user`, `service_account` or `external`.
    pub owner_type: String,
    pub owner_id: String,
    pub ratelimit: RateLimit,
}

/// Which keys a listing shows.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Only keys owned by this user, or (with `agents`) also agent-level keys of these agents.
    pub owner_user: Option<String>,
    pub agents: Option<Vec<String>>,
    /// Only keys of this service account.
    pub service_account: Option<String>,
}
