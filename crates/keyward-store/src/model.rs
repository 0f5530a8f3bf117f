//! Records the store reads and writes. Times are UTC; JSON columns are typed here.

use chrono::{DateTime, Utc};
use keyward_core::{key::Environment, KeyHash, KeyKind, Owner, PermissionSet, Scope};
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
