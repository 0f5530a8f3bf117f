//! Records the store reads and writes. Times are UTC; JSON columns are typed here.

use chrono::{DateTime, Utc};
use keyward_core::{
    key::Environment, KeyHash, KeyKind, Owner, PermissionSet, PlainKey, Quota, RateLimit, Role,
    Scope,
};
use serde::Serialize;

mod cli_login;
mod integrations;
mod people;
mod webhooks;
mod workers;
pub use cli_login::*;
pub use integrations::*;
pub use people::*;
pub use webhooks::*;
pub use workers::*;

/// `limits_by` of limits that are the organization's defaults.
pub const ORGANIZATION_DEFAULTS: &str = "organization";

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
    /// Who switched the key off (a user or service-account id), while it is off.
    pub disabled_by: Option<String>,
    /// Who set its rate limit or quota (an id, or `organization` for defaults).
    pub limits_by: Option<String>,
}

/// A freshly generated key as the store may know it: a new id, the kind and
/// environment its prefix says, its visible prefix and the SHA-256 of the secret, never
/// the secret itself.
#[derive(Debug, Clone)]
pub struct FreshKey {
    pub id: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub prefix: String,
    pub hash: KeyHash,
}

impl FreshKey {
    /// The parts of `plain` the store keeps, with a fresh `key_…` id.
    pub fn of(plain: &PlainKey) -> Self {
        Self {
            id: keyward_core::ids::new_id("key"),
            kind: plain.kind(),
            environment: plain.environment(),
            prefix: plain.visible_prefix(),
            hash: plain.hash(),
        }
    }
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
        Self::for_fresh(FreshKey::of(plain), org_id, name, created_at, created_by)
    }

    /// [`NewKey::for_plain`] for a key the store knows only as a [`FreshKey`].
    pub fn for_fresh(
        fresh: FreshKey,
        org_id: &str,
        name: impl Into<String>,
        created_at: DateTime<Utc>,
        created_by: impl Into<String>,
    ) -> Self {
        Self {
            id: fresh.id,
            org_id: org_id.to_owned(),
            kind: fresh.kind,
            environment: fresh.environment,
            name: name.into(),
            prefix: fresh.prefix,
            hash: fresh.hash,
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
            exempt_from_limits: false,
            disabled_by: None,
            limits_by: None,
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
    /// Not counted against the organization's key limits: an operator's break-glass
    /// token must be issued even when the organization is full.
    pub exempt_from_limits: bool,
    /// Who created it switched off (with `enabled: false`).
    pub disabled_by: Option<String>,
    /// Who gave it its rate limit or quota (`organization` for the defaults).
    pub limits_by: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `user`, `service_account`, `system`, …
    #[serde(rename = "type")]
    pub actor_type: String,
    pub id: Option<String>,
    /// Email, service-account name or `system`.
    pub name: String,
    /// The key the actor authenticated with.
    pub key_id: Option<String>,
    /// What the request was authorized with. A change checks it still holds (the
    /// person's role, the key's grants and scope), so a demotion or an edit of the key
    /// that commits while the request runs stops it (`StoreError::ActorChanged`). Not
    /// part of the audit record.
    #[serde(skip)]
    pub authority: Option<Authority>,
}

/// The role, grants and scope a request was authorized with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The person's membership role (people's keys only).
    pub role: Option<Role>,
    pub permissions: PermissionSet,
    pub scope: Scope,
    /// Whether the key had been rotated (was in its grace period): a key rotated while
    /// the request ran no longer has the standing it was authorized with.
    pub rotated: bool,
    /// The organization the request was authorized in: a console session that switched
    /// to another organization meanwhile no longer acts in this one.
    pub org_id: Option<String>,
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
    /// Who makes the change: recorded as `disabled_by` when it switches the key off and
    /// as `limits_by` when it sets a rate limit or quota.
    pub by: Option<String>,
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
    /// Only this key (for the audit events of one key).
    pub key: Option<String>,
}

/// What counts against an organization's key limits at an instant, as `create_key`
/// counts it (`sql/keys.rs`, `check_limits`): for forms that say how much room is left
/// before anyone fills them in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// Keys against `max_keys`: every kind but worker keys and channel tokens, until
    /// revoked (expired keys count).
    pub keys: u32,
    /// The person's active worker keys against `max_worker_keys`, per workspace id
    /// (workspaces without any are left out), in workspace id order.
    pub worker_keys: Vec<(String, u32)>,
}

/// A new organization whose owner is an existing person, with the owner's first token.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub org: Organization,
    pub owner_user_id: String,
    pub key: NewKey,
    /// Organizations (not deleted) one person may have created; checked in the
    /// inserting transaction, so parallel creates cannot overshoot it.
    pub max_per_person: u32,
}

/// An invitation to join an organization, redeemed once with its code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// For `agent_admin`: the agents they will administer.
    pub agents: Vec<String>,
    /// What the invited person's first token will hold.
    #[schema(value_type = Vec<String>)]
    pub permissions: PermissionSet,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub org_id: String,
    /// The key that issued the invitation: it must still work when the invitation is
    /// accepted (removing the inviter ends their pending invitations).
    #[serde(skip)]
    pub created_by_key: Option<String>,
}

/// Where an invitation stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl Invitation {
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
}

/// An invitation to store; only the SHA-256 of its code is kept.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: Role,
    pub agents: Vec<String>,
    pub permissions: PermissionSet,
    pub code_hash: KeyHash,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub created_by_key: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Who redeems an invitation: a person new to Keyward (created with this id), or one
/// who already has an account and proved it with one of their own tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitee {
    New {
        user_id: String,
    },
    Existing {
        user_id: String,
    },
    /// A person with an account but no membership left in any organization (removed
    /// everywhere, or their organizations deleted): nothing of theirs is reachable, so
    /// the invitation alone may bring them back, as for a new person. Refused with
    /// [`crate::Conflict::IdentityRequired`] if they are a member somewhere after all.
    Returning {
        user_id: String,
    },
}

/// Redeeming an invitation: membership and a first token, in one transaction.
#[derive(Debug, Clone)]
pub struct Acceptance {
    pub code_hash: KeyHash,
    pub at: DateTime<Utc>,
    pub invitee: Invitee,
    /// The first token, if one is wanted (the API and CLI want one; the console signs
    /// the person in instead); its owner is set to the invitee by the store.
    pub key: Option<NewKey>,
    /// An argon2id PHC string to set as the person's password in the same transaction
    /// (the console's join page), for a person who has none yet or is returning.
    pub password_hash: Option<String>,
    pub audit: NewAuditEvent,
}

/// What a rotation changed: the old key, its replacement, and the hashes of every key
/// whose record changed (the old key, and a predecessor whose grace period it ended).
#[derive(Debug, Clone)]
pub struct Rotated {
    pub old: KeyRecord,
    pub new: KeyRecord,
    pub changed: Vec<KeyHash>,
}

/// Which audit events a listing shows: those matching every condition given (all of
/// them by default).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events about the keys a [`KeyFilter`] selects.
    pub keys: Option<KeyFilter>,
    /// Whose: the actor's id, name (an email, a service account's name) or key id.
    pub actor: Option<String>,
    pub action: Option<TextMatch>,
    /// What about: the target's id or its type (`key`, `user`, …).
    pub target: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Instead of the page's cursor (older events): the events just newer than this
    /// event id, still newest first; the page's `next_cursor` is then the newest id of
    /// the page when there are newer events still.
    pub newer_than: Option<i64>,
}

/// A text column equal to a value, or starting with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Exact(String),
    Prefix(String),
}

/// Where a workspace, agent or channel lives, for the server's in-memory index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    pub id: String,
    pub org_id: String,
}

/// What [`crate::Store::revoke_key`] did: the key as it is now, and whether this call
/// revoked it (`false` when it already was, in which case nothing was written).
#[derive(Debug, Clone)]
pub struct Revoked {
    pub key: KeyRecord,
    pub changed: bool,
}

/// An organization a person belongs to, with their role in it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub organization: Organization,
    pub role: Role,
}

/// Credits taken from a key's quota balance: how many were `granted`, and how many are
/// `remaining` in the database after it (never below zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLease {
    pub granted: i64,
    pub remaining: i64,
}

/// A redeemed invitation: the new membership and the person's first token.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub member: Member,
    pub key: Option<KeyRecord>,
}

/// The latest use of a key, for the write-behind of `last_used_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub key_id: String,
    pub at: DateTime<Utc>,
}

impl OwnerLimit {
    /// The owner this limit is for (see [`limit_owner`]); `None` for an owner type this
    /// version does not know.
    pub fn owner(&self) -> Option<Owner> {
        limit_owner(&self.owner_type, &self.owner_id)
    }
}

/// The owner of type `owner_type` (`user`, `service_account` or `external`) with this id,
/// as owner limits name it: by type and id only, so `name` is left empty.
pub fn limit_owner(owner_type: &str, owner_id: &str) -> Option<Owner> {
    let id = owner_id.to_owned();
    match owner_type {
        "user" => Some(Owner::User {
            id,
            name: String::new(),
        }),
        "service_account" => Some(Owner::ServiceAccount {
            id,
            name: String::new(),
        }),
        "external" => Some(Owner::External { id }),
        _ => None,
    }
}
