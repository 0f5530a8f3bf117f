//! Rows as both backends return them, and how a row becomes a record. The backends
//! differ in their SQL, not in this: times are unix milliseconds, JSON columns are text,
//! enums are their snake_case names, on SQLite and PostgreSQL alike.

use crate::*;
use chrono::{DateTime, Utc};
use keyward_core::{key::Environment, KeyHash, KeyKind, Owner, PermissionSet, Scope};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub(crate) fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unreadable {what} in the database: {value:?}").into())
}

/// `owner_type`, `owner_id` and `owner_name` of an owner.
pub(crate) fn owner_columns(
    owner: &Option<Owner>,
) -> (Option<&'static str>, Option<&str>, Option<&str>) {
    match owner {
        None => (None, None, None),
        Some(o @ Owner::External { id }) => (Some(o.type_str()), Some(id), None),
        Some(o) => (Some(o.type_str()), Some(o.id()), Some(o.label())),
    }
}

/// A JSON text column of a typed value, or `None`.
pub(crate) fn json_text<T: serde::Serialize>(value: &Option<T>) -> Option<String> {
    value
        .as_ref()
        .map(|v| serde_json::to_string(v).expect("serializes"))
}

fn json<T: serde::de::DeserializeOwned>(column: &str, raw: Option<String>) -> Result<Option<T>> {
    raw.map(|s| serde_json::from_str(&s).map_err(|_| corrupt(column, &s)))
        .transpose()
}

fn json_required<T: serde::de::DeserializeOwned>(column: &str, raw: String) -> Result<T> {
    serde_json::from_str(&raw).map_err(|_| corrupt(column, &raw))
}

/// A key's scope column, read without the cap new scopes meet (`Scope::deserialize_stored`).
fn stored_scope(raw: String) -> Result<Scope> {
    Scope::deserialize_stored(&mut serde_json::Deserializer::from_str(&raw))
        .map_err(|_| corrupt("scope", &raw))
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    org_id: String,
    org_name: String,
    kind: String,
    environment: String,
    name: String,
    prefix: String,
    key_hash: Vec<u8>,
    owner_type: Option<String>,
    owner_id: Option<String>,
    owner_name: Option<String>,
    permissions: String,
    scope: String,
    metadata: Option<String>,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    rotated_from: Option<String>,
    rotated_to: Option<String>,
    enabled: bool,
    workspace_id: Option<String>,
    channel_id: Option<String>,
    ratelimit: Option<String>,
    quota: Option<String>,
    disabled_by: Option<String>,
    limits_by: Option<String>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self> {
        let owner = match (r.owner_type.as_deref(), r.owner_id) {
            (Some("user"), Some(id)) => Some(Owner::User {
                id,
                name: r.owner_name.unwrap_or_default(),
            }),
            (Some("service_account"), Some(id)) => Some(Owner::ServiceAccount {
                id,
                name: r.owner_name.unwrap_or_default(),
            }),
            (Some("external"), Some(id)) => Some(Owner::External { id }),
            (None, _) => None,
            (Some(other), _) => return Err(corrupt("owner type", other)),
        };
        Ok(KeyRecord {
            kind: KeyKind::parse(&r.kind).ok_or_else(|| corrupt("key kind", &r.kind))?,
            environment: Environment::parse(&r.environment)
                .ok_or_else(|| corrupt("environment", &r.environment))?,
            hash: KeyHash::from_bytes(&r.key_hash).ok_or_else(|| corrupt("key hash", "…"))?,
            owner,
            permissions: json_required::<PermissionSet>("permissions", r.permissions)?,
            scope: stored_scope(r.scope)?,
            metadata: json("metadata", r.metadata)?,
            created_at: from_ms(r.created_at),
            expires_at: opt_ms(r.expires_at),
            last_used_at: opt_ms(r.last_used_at),
            revoked_at: opt_ms(r.revoked_at),
            ratelimit: json("ratelimit", r.ratelimit)?,
            quota: json("quota", r.quota)?,
            id: r.id,
            org_id: r.org_id,
            org_name: r.org_name,
            name: r.name,
            prefix: r.prefix,
            created_by: r.created_by,
            revoked_by: r.revoked_by,
            rotated_from: r.rotated_from,
            rotated_to: r.rotated_to,
            enabled: r.enabled,
            workspace_id: r.workspace_id,
            channel_id: r.channel_id,
            disabled_by: r.disabled_by,
            limits_by: r.limits_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: String,
    name: String,
    created_at: i64,
    max_keys: i64,
    max_worker_keys: i64,
    allow_legacy_tokens: bool,
    default_ratelimit: Option<String>,
    default_quota: Option<String>,
}

impl TryFrom<OrgRow> for Organization {
    type Error = StoreError;

    fn try_from(r: OrgRow) -> Result<Self> {
        Ok(Organization {
            id: r.id,
            name: r.name,
            created_at: from_ms(r.created_at),
            settings: OrgSettings {
                max_keys: u32::try_from(r.max_keys)
                    .map_err(|_| corrupt("max_keys", &r.max_keys.to_string()))?,
                max_worker_keys: u32::try_from(r.max_worker_keys)
                    .map_err(|_| corrupt("max_worker_keys", &r.max_worker_keys.to_string()))?,
                allow_legacy_tokens: r.allow_legacy_tokens,
                default_ratelimit: json("default_ratelimit", r.default_ratelimit)?,
                default_quota: json("default_quota", r.default_quota)?,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResourceRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<ResourceRow> for Resource {
    fn from(r: ResourceRow) -> Self {
        Resource {
            id: r.id,
            name: r.name,
            created_at: from_ms(r.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    id: String,
    org_id: String,
    agent_id: String,
    name: String,
    hook_id: String,
    enabled: bool,
    created_at: i64,
    deleted_at: Option<i64>,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Self {
        Channel {
            id: r.id,
            org_id: r.org_id,
            agent_id: r.agent_id,
            name: r.name,
            hook_id: r.hook_id,
            enabled: r.enabled,
            created_at: from_ms(r.created_at),
            deleted: r.deleted_at.is_some(),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServiceAccountRow {
    id: String,
    name: String,
    scopes: String,
    created_at: i64,
    created_by: String,
}

impl TryFrom<ServiceAccountRow> for ServiceAccount {
    type Error = StoreError;

    fn try_from(r: ServiceAccountRow) -> Result<Self> {
        Ok(ServiceAccount {
            scopes: json_required("scopes", r.scopes)?,
            id: r.id,
            name: r.name,
            created_at: from_ms(r.created_at),
            created_by: r.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: String,
    org_id: String,
    email: String,
    role: String,
    agents: String,
    permissions: String,
    created_at: i64,
    created_by: String,
    created_by_key: Option<String>,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;

    fn try_from(r: InvitationRow) -> Result<Self> {
        Ok(Invitation {
            role: keyward_core::Role::parse(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
            agents: json_required("agents", r.agents)?,
            permissions: json_required("permissions", r.permissions)?,
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            created_at: from_ms(r.created_at),
            created_by: r.created_by,
            created_by_key: r.created_by_key,
            expires_at: from_ms(r.expires_at),
            accepted_at: opt_ms(r.accepted_at),
            revoked_at: opt_ms(r.revoked_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResourceRefRow {
    kind: String,
    id: String,
    org_id: String,
}

impl TryFrom<ResourceRefRow> for ResourceRef {
    type Error = StoreError;

    fn try_from(r: ResourceRefRow) -> Result<Self> {
        Ok(ResourceRef {
            kind: match r.kind.as_str() {
                "workspace" => ResourceKind::Workspace,
                "agent" => ResourceKind::Agent,
                other => return Err(corrupt("resource kind", other)),
            },
            id: r.id,
            org_id: r.org_id,
        })
    }
}
