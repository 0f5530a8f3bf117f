//! Rows as both backends return them, and how a row becomes a record: one struct per
//! shape of row (`sqlx::FromRow`, so any backend's row decodes into it), decoded with
//! the helpers of [`crate::encode`].

use crate::encode::owner_from_columns;
use crate::encode::{corrupt, from_json, from_json_opt, from_ms, hash_from_bytes, opt_ms};
use crate::error::{Result, StoreError};
use crate::model::*;
use keyward_core::{key::Environment, KeyKind, PermissionSet, Role, Scope};

/// A key's scope column, read without the cap new scopes meet (`Scope::deserialize_stored`).
pub(crate) fn stored_scope(raw: &str) -> Result<Scope> {
    Scope::deserialize_stored(&mut serde_json::Deserializer::from_str(raw))
        .map_err(|_| corrupt("scope", raw))
}

fn role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| corrupt("role", raw))
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
        let owner = owner_from_columns(r.owner_type.as_deref(), r.owner_id, r.owner_name)?;
        Ok(KeyRecord {
            kind: KeyKind::parse(&r.kind).ok_or_else(|| corrupt("key kind", &r.kind))?,
            environment: Environment::parse(&r.environment)
                .ok_or_else(|| corrupt("environment", &r.environment))?,
            hash: hash_from_bytes(&r.key_hash)?,
            owner,
            permissions: from_json::<PermissionSet>("permissions", &r.permissions)?,
            scope: stored_scope(&r.scope)?,
            metadata: from_json_opt("metadata", r.metadata.as_deref())?,
            created_at: from_ms(r.created_at),
            expires_at: opt_ms(r.expires_at),
            last_used_at: opt_ms(r.last_used_at),
            revoked_at: opt_ms(r.revoked_at),
            ratelimit: from_json_opt("ratelimit", r.ratelimit.as_deref())?,
            quota: from_json_opt("quota", r.quota.as_deref())?,
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
                default_ratelimit: from_json_opt(
                    "default_ratelimit",
                    r.default_ratelimit.as_deref(),
                )?,
                default_quota: from_json_opt("default_quota", r.default_quota.as_deref())?,
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
            scopes: from_json("scopes", &r.scopes)?,
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
            role: role(&r.role)?,
            agents: from_json("agents", &r.agents)?,
            permissions: from_json("permissions", &r.permissions)?,
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

/// An organization with the role of one of its members (`list_user_orgs`).
#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    #[sqlx(flatten)]
    org: OrgRow,
    role: String,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;

    fn try_from(r: MembershipRow) -> Result<Self> {
        Ok(Membership {
            role: role(&r.role)?,
            organization: r.org.try_into()?,
        })
    }
}

/// A membership with the person's email; the agents they administer come separately.
#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: String,
    email: String,
    role: String,
    created_at: i64,
}

impl MemberRow {
    pub(crate) fn user_id(&self) -> &str {
        &self.user_id
    }

    pub(crate) fn with_agents(self, agents: Vec<String>) -> Result<Member> {
        Ok(Member {
            role: role(&self.role)?,
            user_id: self.user_id,
            email: self.email,
            agents,
            created_at: from_ms(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor_type: String,
    actor_id: Option<String>,
    actor_name: String,
    actor_key_id: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    source_ip: Option<String>,
    details: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            at: from_ms(r.at),
            actor: Actor {
                actor_type: r.actor_type,
                id: r.actor_id,
                name: r.actor_name,
                key_id: r.actor_key_id,
                authority: None,
            },
            action: r.action,
            target: AuditTarget {
                target_type: r.target_type,
                id: r.target_id,
            },
            source_ip: r.source_ip,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UsageMinuteRow {
    key_id: String,
    minute: i64,
    valid: i64,
    denied: i64,
    api: i64,
}

impl From<UsageMinuteRow> for UsageRow {
    fn from(r: UsageMinuteRow) -> Self {
        UsageRow {
            key_id: r.key_id,
            minute: r.minute,
            valid: r.valid,
            denied: r.denied,
            api: r.api,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OwnerLimitRow {
    owner_type: String,
    owner_id: String,
    ratelimit: String,
}

impl TryFrom<OwnerLimitRow> for OwnerLimit {
    type Error = StoreError;

    fn try_from(r: OwnerLimitRow) -> Result<Self> {
        Ok(OwnerLimit {
            ratelimit: from_json("ratelimit", &r.ratelimit)?,
            owner_type: r.owner_type,
            owner_id: r.owner_id,
        })
    }
}

/// A key's quota balance.
#[derive(sqlx::FromRow)]
pub(crate) struct BalanceRow {
    pub period: i64,
    pub remaining: i64,
}

/// A key as [`crate::sql::change::KEY_WORKS`] finds it when it works: what a change compares with
/// what its request was authorized with.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyNow {
    /// The organization the key (or session) acts in now.
    pub org_id: String,
    /// The role of the key's person (`None` for keys that are nobody's token).
    pub role: Option<String>,
    pub permissions: String,
    pub scope: String,
    pub expires_at: Option<i64>,
    /// The key that replaced it, if it was rotated.
    pub rotated_to: Option<String>,
}

fn purpose(raw: &str) -> Result<PasswordPurpose> {
    PasswordPurpose::parse(raw).ok_or_else(|| corrupt("password link purpose", raw))
}

#[derive(sqlx::FromRow)]
pub(crate) struct PasswordLinkRow {
    id: String,
    user_id: String,
    org_id: String,
    purpose: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    created_by: String,
}

impl TryFrom<PasswordLinkRow> for PasswordLink {
    type Error = StoreError;

    fn try_from(r: PasswordLinkRow) -> Result<Self> {
        Ok(PasswordLink {
            purpose: purpose(&r.purpose)?,
            id: r.id,
            user_id: r.user_id,
            org_id: r.org_id,
            created_at: from_ms(r.created_at),
            expires_at: from_ms(r.expires_at),
            used_at: opt_ms(r.used_at),
            created_by: r.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    id: String,
    email: String,
    password_hash: Option<String>,
}

impl From<CredentialsRow> for Credentials {
    fn from(r: CredentialsRow) -> Self {
        Credentials {
            user_id: r.id,
            email: r.email,
            password_hash: r.password_hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    user_id: String,
    org_id: String,
    created_at: i64,
    last_seen_at: i64,
    idle_timeout_ms: i64,
    absolute_expires_at: i64,
    revoked_at: Option<i64>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            user_id: r.user_id,
            org_id: r.org_id,
            created_at: from_ms(r.created_at),
            last_seen_at: from_ms(r.last_seen_at),
            idle_timeout: chrono::Duration::milliseconds(r.idle_timeout_ms),
            absolute_expires_at: from_ms(r.absolute_expires_at),
            revoked_at: opt_ms(r.revoked_at),
            user_agent: r.user_agent,
            ip: r.ip,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CliLoginRow {
    id: String,
    org_id: String,
    user_id: String,
    code_challenge: String,
    machine: String,
    permissions: String,
    token_lifetime_ms: Option<i64>,
    created_at: i64,
    expires_at: i64,
    failed_attempts: i64,
    used_at: Option<i64>,
    key_id: Option<String>,
}

impl TryFrom<CliLoginRow> for CliLogin {
    type Error = StoreError;

    fn try_from(r: CliLoginRow) -> Result<Self> {
        Ok(CliLogin {
            code_challenge: keyward_core::pkce::CodeChallenge::parse(&r.code_challenge)
                .map_err(|_| corrupt("code challenge", &r.code_challenge))?,
            permissions: from_json::<PermissionSet>("permissions", &r.permissions)?,
            token_lifetime: r.token_lifetime_ms.map(chrono::Duration::milliseconds),
            id: r.id,
            org_id: r.org_id,
            user_id: r.user_id,
            machine: r.machine,
            created_at: from_ms(r.created_at),
            expires_at: from_ms(r.expires_at),
            failed_attempts: r.failed_attempts,
            used_at: opt_ms(r.used_at),
            key_id: r.key_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    uid: String,
    org_id: String,
    id: String,
    provider: String,
    workspace_id: Option<String>,
    status: String,
    scopes: String,
    token_type: Option<String>,
    kek_id: Option<String>,
    wrapped_dek: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_refreshed_at: Option<i64>,
    connected_at: Option<i64>,
    last_error: Option<String>,
    failures: i64,
    retry_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    generation: i64,
}

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;

    fn try_from(r: ConnectionRow) -> Result<Self> {
        let tokens = match (r.kek_id, r.wrapped_dek, r.access_token) {
            (Some(kek_id), Some(bytes), Some(access)) => Some(SealedTokens {
                dek: WrappedDek { kek_id, bytes },
                access_token: Sealed(access),
                refresh_token: r.refresh_token.map(Sealed),
                token_type: r.token_type.unwrap_or_else(|| "bearer".into()),
                expires_at: opt_ms(r.expires_at),
            }),
            _ => None,
        };
        Ok(Connection {
            status: ConnectionStatus::parse(&r.status)
                .ok_or_else(|| corrupt("connection status", &r.status))?,
            scopes: from_json("scopes", &r.scopes)?,
            last_error: from_json_opt("last_error", r.last_error.as_deref())?,
            tokens,
            uid: r.uid,
            org_id: r.org_id,
            id: r.id,
            provider: r.provider,
            workspace_id: r.workspace_id,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
            last_refreshed_at: opt_ms(r.last_refreshed_at),
            connected_at: opt_ms(r.connected_at),
            failures: r.failures,
            retry_at: opt_ms(r.retry_at),
            lease_owner: r.lease_owner,
            lease_until: opt_ms(r.lease_until),
            generation: r.generation,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OAuthStateRow {
    id: String,
    org_id: String,
    provider: String,
    connection_id: String,
    connection_uid: String,
    workspace_id: Option<String>,
    redirect_uri: String,
    hosted: bool,
    scopes: String,
    kek_id: String,
    wrapped_dek: Vec<u8>,
    verifier: Option<Vec<u8>>,
    actor: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<OAuthStateRow> for OAuthState {
    type Error = StoreError;

    fn try_from(r: OAuthStateRow) -> Result<Self> {
        Ok(OAuthState {
            scopes: from_json("scopes", &r.scopes)?,
            actor: from_json("actor", &r.actor)?,
            dek: WrappedDek {
                kek_id: r.kek_id,
                bytes: r.wrapped_dek,
            },
            verifier: r.verifier.map(Sealed),
            id: r.id,
            org_id: r.org_id,
            provider: r.provider,
            connection_id: r.connection_id,
            connection_uid: r.connection_uid,
            workspace_id: r.workspace_id,
            redirect_uri: r.redirect_uri,
            hosted: r.hosted,
            created_at: from_ms(r.created_at),
            expires_at: from_ms(r.expires_at),
            used_at: opt_ms(r.used_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookEndpointRow {
    id: String,
    org_id: String,
    workspace_id: Option<String>,
    name: String,
    provider: String,
    destination: String,
    enabled: bool,
    disabled_reason: Option<String>,
    managed_by: String,
    kek_id: String,
    wrapped_dek: Vec<u8>,
    provider_secrets: Vec<u8>,
    signing_secrets: Vec<u8>,
    hints: String,
    failing_since: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WebhookEndpointRow> for WebhookEndpointRecord {
    type Error = StoreError;

    fn try_from(r: WebhookEndpointRow) -> Result<Self> {
        Ok(WebhookEndpointRecord {
            managed_by: ManagedBy::parse(&r.managed_by)
                .ok_or_else(|| corrupt("endpoint manager", &r.managed_by))?,
            secrets: EndpointSecrets {
                dek: WrappedDek {
                    kek_id: r.kek_id,
                    bytes: r.wrapped_dek,
                },
                provider: Sealed(r.provider_secrets),
                signing: Sealed(r.signing_secrets),
                hints: from_json("hints", &r.hints)?,
            },
            id: r.id,
            org_id: r.org_id,
            workspace_id: r.workspace_id,
            name: r.name,
            provider: r.provider,
            destination: r.destination,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            failing_since: opt_ms(r.failing_since),
            version: r.version,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookEventRow {
    id: String,
    org_id: String,
    endpoint_id: String,
    status: String,
    dedup_key: Option<String>,
    provider_event_id: Option<String>,
    received_at: i64,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    attempts: i64,
    retry_base: i64,
    next_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    refusal: Option<String>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
}

/// An HTTP status column read back.
fn status_code(raw: Option<i64>) -> Result<Option<u16>> {
    raw.map(|v| u16::try_from(v).map_err(|_| corrupt("HTTP status", &v.to_string())))
        .transpose()
}

impl TryFrom<WebhookEventRow> for WebhookEvent {
    type Error = StoreError;

    fn try_from(r: WebhookEventRow) -> Result<Self> {
        Ok(WebhookEvent {
            status: DeliveryState::parse(&r.status)
                .ok_or_else(|| corrupt("delivery status", &r.status))?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| corrupt("attempt count", &r.attempts.to_string()))?,
            retry_base: u32::try_from(r.retry_base)
                .map_err(|_| corrupt("attempt count", &r.retry_base.to_string()))?,
            last_status_code: status_code(r.last_status_code)?,
            id: r.id,
            org_id: r.org_id,
            endpoint_id: r.endpoint_id,
            dedup_key: r.dedup_key,
            provider_event_id: r.provider_event_id,
            received_at: from_ms(r.received_at),
            content_type: r.content_type,
            body: r.body,
            next_attempt_at: opt_ms(r.next_attempt_at),
            last_error: r.last_error,
            delivered_at: opt_ms(r.delivered_at),
            refusal: r.refusal,
            lease_owner: r.lease_owner,
            lease_until: opt_ms(r.lease_until),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookAttemptRow {
    event_id: String,
    attempt: i64,
    at: i64,
    status_code: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
}

impl TryFrom<WebhookAttemptRow> for WebhookAttempt {
    type Error = StoreError;

    fn try_from(r: WebhookAttemptRow) -> Result<Self> {
        Ok(WebhookAttempt {
            attempt: u32::try_from(r.attempt)
                .map_err(|_| corrupt("attempt number", &r.attempt.to_string()))?,
            status_code: status_code(r.status_code)?,
            latency_ms: u64::try_from(r.latency_ms)
                .map_err(|_| corrupt("attempt latency", &r.latency_ms.to_string()))?,
            event_id: r.event_id,
            at: from_ms(r.at),
            error: r.error,
        })
    }
}

/// A worker with what listings show of its key (`workers` joined with `api_keys`).
#[derive(sqlx::FromRow)]
pub(crate) struct WorkerRow {
    id: String,
    org_id: String,
    workspace_id: String,
    name: String,
    host: String,
    os: String,
    version: String,
    labels: String,
    heartbeat_interval_secs: i64,
    forwards: bool,
    instance: String,
    registered_at: i64,
    connection: Option<String>,
    connected_since: Option<i64>,
    last_heartbeat_at: i64,
    stopped_at: Option<i64>,
    key_id: String,
    key_name: String,
    key_prefix: String,
    key_owner_id: Option<String>,
    key_enabled: bool,
    key_expires_at: Option<i64>,
    key_revoked_at: Option<i64>,
}

impl TryFrom<WorkerRow> for WorkerRecord {
    type Error = StoreError;

    fn try_from(r: WorkerRow) -> Result<Self> {
        Ok(WorkerRecord {
            labels: from_json("worker labels", &r.labels)?,
            heartbeat_interval_secs: u32::try_from(r.heartbeat_interval_secs).map_err(|_| {
                corrupt("heartbeat interval", &r.heartbeat_interval_secs.to_string())
            })?,
            id: r.id,
            org_id: r.org_id,
            workspace_id: r.workspace_id,
            name: r.name,
            host: r.host,
            os: r.os,
            version: r.version,
            forwards: r.forwards,
            instance: r.instance,
            registered_at: from_ms(r.registered_at),
            connection: r.connection,
            connected_since: opt_ms(r.connected_since),
            last_heartbeat_at: from_ms(r.last_heartbeat_at),
            stopped_at: opt_ms(r.stopped_at),
            key: WorkerKeyInfo {
                id: r.key_id,
                name: r.key_name,
                prefix: r.key_prefix,
                owner_id: r.key_owner_id,
                enabled: r.key_enabled,
                expires_at: opt_ms(r.key_expires_at),
                revoked_at: opt_ms(r.key_revoked_at),
            },
        })
    }
}

/// An endpoint's next event for its workers.
#[derive(sqlx::FromRow)]
pub(crate) struct WorkerHeadRow {
    event_id: String,
    endpoint_id: String,
    org_id: String,
    workspace_id: String,
    destination: String,
}

impl From<WorkerHeadRow> for WorkerHead {
    fn from(r: WorkerHeadRow) -> Self {
        WorkerHead {
            event_id: r.event_id,
            endpoint_id: r.endpoint_id,
            org_id: r.org_id,
            workspace_id: r.workspace_id,
            destination: r.destination,
        }
    }
}
