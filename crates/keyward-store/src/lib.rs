//! Keyward's storage: the [`Store`] trait the server talks to, the records it returns,
//! and one implementation per backend, each with its own embedded migrations.
//!
//! Handlers never see SQL. Every change and its audit event are written in one
//! transaction, so the audit log cannot miss a change or record one that did not happen.
//! Storage errors stay small ([`StoreError`]); the server maps them to API errors.

mod model;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use model::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner, Quota, RateLimit, Role};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A caller-supplied value the store cannot use (a pagination cursor).
    #[error("invalid {0}")]
    InvalidInput(&'static str),
    /// A per-organization limit would be exceeded.
    #[error("the {limit} limit is {max} and {current} exist")]
    LimitReached {
        limit: &'static str,
        max: u32,
        current: u32,
    },
    /// Something the change depends on was deleted meanwhile (checked inside the
    /// writing transaction): the organization, a key's owner, service account, channel,
    /// workspace or agent. Names what is gone.
    #[error("the {0} no longer exists")]
    Gone(&'static str),
    /// The key the change was requested with stopped working before the change could
    /// be written (revoked, switched off, expired, or its owner or organization removed
    /// while the request ran). Nothing was written.
    #[error("the acting key no longer works")]
    ActorInactive,
    /// The change is not the actor's to make, as checked inside its transaction (a rule
    /// about people's keys, see `person_key_rules`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// What the request was authorized with changed before its change could be
    /// written: the person's role, or the acting key's grants or scope (a demotion or an
    /// edit that committed while it ran). Nothing was written.
    #[error("the acting person's role or key changed")]
    ActorChanged,
    #[error(transparent)]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

/// The conflicts callers can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    AlreadyBootstrapped,
    KeyRevoked,
    KeyAlreadyRotated,
    Duplicate,
    /// A workspace or agent still has keys or channels.
    InUse,
    /// The change would leave the organization without an owner.
    LastOwner,
    /// The person is already a member of the organization.
    AlreadyMember,
    /// The invitation was already accepted.
    InvitationUsed,
    /// The invitation expired or was revoked (or the key that issued it stopped working).
    InvitationExpired,
    /// The invitation is for a person who already has an account: they must prove it.
    IdentityRequired,
    /// What the change acts on changed after the caller read it (a member's role, a
    /// key being rotated): nothing was written; read it again.
    ChangedMeanwhile,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::AlreadyBootstrapped => "an organization already exists",
            Conflict::KeyRevoked => "the key is revoked",
            Conflict::KeyAlreadyRotated => "the key was already rotated",
            Conflict::Duplicate => "a record with the same unique value exists",
            Conflict::InUse => "it still has active keys or channels; revoke or delete them first",
            Conflict::LastOwner => "an organization must keep at least one owner",
            Conflict::AlreadyMember => "that person is already a member of the organization",
            Conflict::InvitationUsed => "the invitation was already accepted",
            Conflict::InvitationExpired => {
                "the invitation expired or was revoked; ask for a new one"
            }
            Conflict::ChangedMeanwhile => {
                "it changed while this request ran; nothing was changed: read it again and retry"
            }
            Conflict::IdentityRequired => {
                "the invitation is for a person who already has a Keyward account; accept it with one of their own personal access tokens"
            }
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(Conflict::Duplicate)
            }
            // Every change checks what it refers to inside its transaction; this is the
            // safety net for one that does not, so a race never surfaces as a 500.
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
                StoreError::Gone("record it refers to")
            }
            other => StoreError::Other(Box::new(other)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(Box::new(e))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<()>;

    /// Creates the first organization, its owner and the owner's token, once.
    /// Fails with [`Conflict::AlreadyBootstrapped`] when an organization exists.
    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord>;

    async fn organization_count(&self) -> Result<u64>;

    /// The key with this hash, whatever its status, with its organization's name.
    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>>;

    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord>;

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>>;

    /// Inserts a key after checking the organization's limits in the same
    /// transaction, so parallel creates cannot overshoot them.
    async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord>;

    /// Inserts many keys in one transaction, without audit events: for imports and
    /// for seeding benchmarks. Fails as a whole on any conflict.
    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()>;

    /// Edits a key that is not revoked.
    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord>;

    /// Revokes a key. Returns the record and whether this call revoked it (`false`
    /// when it already was, in which case nothing is written).
    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked>;

    /// Creates `replacement` for `old_id` and ends the old key at `old_ends_at`
    /// (revoked when `revoke_old`, otherwise its expiry is brought forward). A key in
    /// grace is never rotated into another grace: if the old key was itself a
    /// replacement whose predecessor still works, that predecessor is revoked now, so a
    /// rotation chain has at most one key in grace.
    async fn rotate_key(&self, rotation: Rotation) -> Result<Rotated>;

    /// Write-behind of `last_used_at`; never moves a time backwards.
    async fn record_last_used(&self, uses: &[LastUse]) -> Result<()>;

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;

    // Organizations and their settings.
    async fn get_org(&self, id: &str) -> Result<Organization>;
    /// The organizations a user belongs to, with their role in each.
    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>>;
    /// A new organization whose owner is an existing user, with the owner's first token.
    /// Refused with [`StoreError::LimitReached`] past `max_per_person`.
    async fn create_org(&self, new: NewOrganization, audit: NewAuditEvent) -> Result<KeyRecord>;
    /// Every organization that is not deleted, oldest first (for operators).
    async fn list_orgs(&self) -> Result<Vec<Organization>>;
    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization>;
    /// Marks an organization deleted (renamed so its name is free again) and revokes
    /// every key of it; returns their hashes.
    async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Workspaces and agents.
    async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>>;
    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource>;
    async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource>;
    /// Refused with [`Conflict::InUse`] while active keys or channels refer to it.
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()>;

    // Channels.
    async fn create_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<()>;
    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>>;
    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel>;
    /// By hook id, including disabled and deleted channels (callers decide).
    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>>;
    async fn update_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<Channel>;
    /// Deletes a channel and revokes its tokens; returns the revoked keys' hashes.
    async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Members.
    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>>;
    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>>;
    /// Stores an invitation, replacing pending ones for the same email in the
    /// organization. Refused with [`Conflict::AlreadyMember`] for a member.
    async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation>;
    /// The organization's invitations that were not accepted, newest first.
    async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>>;
    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation>;
    /// By the hash of its code, whatever its status.
    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>>;
    async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation>;
    /// Redeems an invitation once: checks in one transaction that it is pending, that
    /// the key that issued it still works, and that the invitee is who the caller says
    /// (a `New` invitee must not exist yet, an `Existing` one must own the email); adds
    /// the membership and the first token and marks the invitation accepted.
    async fn accept_invitation(&self, acceptance: Acceptance) -> Result<Accepted>;
    /// Changes a member's role and agents, if their role is still `expected` (what the
    /// caller was authorized against); else [`Conflict::ChangedMeanwhile`].
    async fn update_member(
        &self,
        org_id: &str,
        member: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member>;
    /// Removes a membership and revokes the person's keys in the organization, if their
    /// role is still `expected`; else [`Conflict::ChangedMeanwhile`].
    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        expected: Role,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<String>>;
    /// The owners of an organization (for operators' break-glass commands).
    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>>;

    /// Every workspace and agent of every organization, for the verify path's index.
    async fn all_resources(&self) -> Result<Vec<ResourceRef>>;
    /// Every channel that is not deleted, for the verify path's index of hook ids.
    async fn all_channels(&self) -> Result<Vec<Channel>>;

    // Service accounts.
    async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord>;
    async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>>;
    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount>;
    async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount>;
    /// Deletes a service account and revokes its keys; returns their hashes.
    async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Usage, quotas and owner limits.
    /// Adds counts to the per-minute usage rows (write-behind; additive).
    async fn record_usage(&self, rows: &[UsageRow]) -> Result<()>;
    /// A key's per-minute rows with `from <= minute < to`, oldest first.
    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>>;
    /// Takes up to `want` credits of `quota` for `period` (starting a fresh balance when
    /// the period changed); returns what was granted and what is left in the database.
    async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease>;
    /// Gives back unspent leased credits, if the period is still current.
    async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()>;
    /// Credits left in the database for `period` (not counting nodes' leases).
    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64>;
    /// The rate limit shared by the keys of `owner` (by its type and id).
    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>>;
    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>>;
    /// Sets (`Some`) or removes (`None`) an owner's shared rate limit.
    async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// Subscribes to the changes that any node commits, for a node's caches. `None` for
    /// a backend that serves one node only (SQLite), where the handlers' own cache
    /// invalidation is all there is. Backends with a feed announce their changes from
    /// inside the writing transaction, so a committed change is never left unannounced.
    async fn subscribe(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        Ok(None)
    }

    /// Sends `event` to every subscribed node (this one included): for liveness pings
    /// and for changes made outside the store's own write methods. A no-op without a feed.
    async fn publish(&self, _event: FeedEvent) -> Result<()> {
        Ok(())
    }

    /// Closes connections, after the last write-behind flush.
    async fn close(&self);
}

/// What a subscribed node hears from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent {
    /// This key changed (revoked, edited, rotated…): forget what you know about it.
    Key(KeyHash),
    /// Forget everything (organization, member, channel or account changes).
    All,
    /// A workspace, agent or channel was created, changed or deleted: reload the index
    /// of them that verification answers from.
    Resources,
    /// A liveness probe: proves that the subscription still delivers.
    Ping,
}

/// A live subscription to [`FeedEvent`]s on its own connection.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The next event. An error means the subscription is gone and events may have been
    /// missed: drop the feed, treat caches as stale, and subscribe again.
    async fn next(&mut self) -> Result<FeedEvent>;
}

/// `limits_by` of limits that are the organization's defaults.
pub const ORGANIZATION_DEFAULTS: &str = "organization";

/// The rules about a person's key that must hold when the change is written (checked
/// inside its transaction, with the key and its person's role as they are now, so no
/// race with a promotion or another change slips through):
/// - someone else acts on it only when they outrank its person (an org admin never on
///   an owner's or another admin's token);
/// - its person cannot undo what someone else imposed: switch it back on after someone
///   else switched it off, or change limits someone else set (owners, whom nobody
///   outranks, may). `patch` is `None` for a revocation or rotation.
fn person_key_rules(
    actor: &Actor,
    key: &KeyRecord,
    person_role: Option<keyward_core::Role>,
    patch: Option<&KeyPatch>,
) -> Result<()> {
    use keyward_core::{KeyKind, Owner, Role};
    let person = match (&key.owner, key.kind) {
        (Some(Owner::User { id, .. }), KeyKind::Personal | KeyKind::Worker) => id,
        _ => return Ok(()),
    };
    let Some(authority) = &actor.authority else {
        return Ok(()); // the system or an operator
    };
    if actor.id.as_deref() != Some(person.as_str()) {
        if person_role.is_some_and(|target| !Role::outranks(authority.role, target)) {
            return Err(StoreError::Forbidden(
                "only someone ranked above a person acts on their tokens; only owners act on owners' and org admins' tokens",
            ));
        }
        return Ok(());
    }
    let Some(patch) = patch else { return Ok(()) };
    if authority.role == Some(Role::Owner) {
        return Ok(());
    }
    let someone_else = |by: &Option<String>| {
        by.as_deref()
            .is_some_and(|b| b != person && b != ORGANIZATION_DEFAULTS)
    };
    if patch.enabled == Some(true) && !key.enabled && someone_else(&key.disabled_by) {
        return Err(StoreError::Forbidden(
            "someone else switched this key off; ask an admin to switch it on",
        ));
    }
    if (patch.ratelimit.is_some() || patch.quota.is_some()) && someone_else(&key.limits_by) {
        return Err(StoreError::Forbidden(
            "this key's limits were set by someone else; ask an admin to change them",
        ));
    }
    Ok(())
}

/// A key's `disabled_by` and `limits_by` after `patch`: who switched it off stays
/// recorded while it is off; who set its limits, while it has any.
fn restrictions_after(current: &KeyRecord, patch: &KeyPatch) -> (Option<String>, Option<String>) {
    let enabled = patch.enabled.unwrap_or(current.enabled);
    let person = match (&current.owner, current.kind) {
        (
            Some(keyward_core::Owner::User { id, .. }),
            keyward_core::KeyKind::Personal | keyward_core::KeyKind::Worker,
        ) => Some(id.as_str()),
        _ => None,
    };
    let disabled_by = match (current.enabled, enabled) {
        (_, true) => None,
        (true, false) => patch.by.clone(),
        // Switched off again while off: someone else's switch outweighs the key's
        // person's own, so the person cannot turn it back on afterwards.
        (false, false)
            if patch.enabled == Some(false)
                && patch.by.as_deref() != person
                && (current.disabled_by.is_none() || current.disabled_by.as_deref() == person) =>
        {
            patch.by.clone()
        }
        (false, false) => current.disabled_by.clone(),
    };
    let ratelimit = patch.ratelimit.unwrap_or(current.ratelimit);
    let quota = patch.quota.unwrap_or(current.quota);
    let limits_by = if ratelimit.is_none() && quota.is_none() {
        None
    } else if patch.ratelimit.is_some() || patch.quota.is_some() {
        patch.by.clone()
    } else {
        current.limits_by.clone()
    };
    (disabled_by, limits_by)
}

mod rotation {
    use crate::{KeyRecord, NewAuditEvent, Rotation};

    /// Whether the replacement copies the old key as it is now (read inside the
    /// rotating transaction): a key edited or switched off after the caller read it is
    /// not rotated from the stale copy (`Conflict::ChangedMeanwhile`).
    pub(crate) fn still_matches(old: &KeyRecord, replacement: &crate::NewKey) -> bool {
        old.permissions == replacement.permissions
            && old.scope == replacement.scope
            && old.metadata == replacement.metadata
            && old.ratelimit == replacement.ratelimit
            && old.quota == replacement.quota
            && old.enabled == replacement.enabled
            && old.owner == replacement.owner
            && old.workspace_id == replacement.workspace_id
            && old.channel_id == replacement.channel_id
            && old.kind == replacement.kind
            && old.disabled_by == replacement.disabled_by
            && old.limits_by == replacement.limits_by
    }

    /// When rotating `old`, which was itself a replacement, the audit event that ends
    /// its predecessor's grace period (the caller revokes it if it still works).
    pub(crate) fn end_predecessor(old: &KeyRecord, r: &Rotation) -> Option<NewAuditEvent> {
        let predecessor = old.rotated_from.clone()?;
        let first = r.audit.first()?;
        Some(NewAuditEvent {
            action: "key.revoke".into(),
            target_type: "key".into(),
            target_id: predecessor,
            details: serde_json::json!({
                "reason": "grace period ended: the key that replaced it was rotated again",
                "rotated": old.id,
            }),
            ..first.clone()
        })
    }
}

/// The acting key's row from [`sql::KEY_WORKS`].
#[derive(Debug, sqlx::FromRow)]
struct KeyNow {
    /// The role of the key's person (`None` for keys that are nobody's token).
    role: Option<String>,
    permissions: String,
    scope: String,
    expires_at: Option<i64>,
    /// The key that replaced it, if it was rotated.
    rotated_to: Option<String>,
}

/// Whether the acting key's row allows the change: the key works, and what the request
/// was authorized with (role, grants, scope) still holds.
fn actor_allowed(actor: &Actor, found: Option<KeyNow>) -> Result<()> {
    let Some(KeyNow {
        role,
        permissions,
        scope,
        rotated_to,
        ..
    }) = found
    else {
        return Err(StoreError::ActorInactive);
    };
    let Some(authority) = &actor.authority else {
        return Ok(());
    };
    let role_now = role.as_deref().and_then(keyward_core::Role::parse);
    let permissions_now: keyward_core::PermissionSet = serde_json::from_str(&permissions)
        .map_err(|_| rows::corrupt("permissions", &permissions))?;
    let scope_now =
        keyward_core::Scope::deserialize_stored(&mut serde_json::Deserializer::from_str(&scope))
            .map_err(|_| rows::corrupt("scope", &scope))?;
    if authority.role.is_some_and(|r| Some(r) != role_now)
        || authority.permissions != permissions_now
        || authority.scope != scope_now
        || authority.rotated != rotated_to.is_some()
    {
        return Err(StoreError::ActorChanged);
    }
    Ok(())
}

/// Whether the key that issued `inv`, as it is now (its [`sql::KEY_WORKS`] row), may
/// still hand out what the invitation gives: its holder is still an owner or org admin
/// (or a service account or legacy token, which rank as org admins) ranked above the
/// invitation's role, and the key still holds the first token's grants. An invitation
/// cannot outlive its inviter's demotion or narrowing.
fn inviter_may(inviter: &KeyNow, inv: &Invitation) -> Result<bool> {
    use keyward_core::Role;
    let KeyNow {
        role, permissions, ..
    } = inviter;
    let holds: keyward_core::PermissionSet =
        serde_json::from_str(permissions).map_err(|_| rows::corrupt("permissions", permissions))?;
    let ranks = match role.as_deref().map(Role::parse) {
        None => Role::OrgAdmin.rank() > inv.role.rank(),
        Some(Some(Role::Owner)) => true,
        Some(Some(Role::OrgAdmin)) => Role::OrgAdmin.rank() > inv.role.rank(),
        Some(_) => false,
    };
    Ok(ranks && holds.covers(&inv.permissions))
}

/// What a new key refers to besides its organization, as (what, query of
/// [`sql`] taking `$1` org id and `$2` id, id): each must still exist when it is inserted.
fn references(k: &NewKey) -> Vec<(&'static str, &'static str, &str)> {
    use keyward_core::{Owner, Scope};
    let mut needed = Vec::new();
    match &k.owner {
        Some(Owner::User { id, .. }) => needed.push(("member", sql::MEMBER_EXISTS, id.as_str())),
        Some(Owner::ServiceAccount { id, .. }) => {
            needed.push(("service account", sql::SERVICE_ACCOUNT_ALIVE, id.as_str()))
        }
        _ => {}
    }
    if let Some(c) = &k.channel_id {
        needed.push(("channel", sql::CHANNEL_ALIVE, c.as_str()));
    }
    if let Some(w) = &k.workspace_id {
        needed.push(("workspace", sql::WORKSPACE_EXISTS, w.as_str()));
    }
    match &k.scope {
        Scope::Organization => {}
        Scope::Workspaces { workspaces } => {
            for w in workspaces {
                needed.push(("workspace", sql::WORKSPACE_EXISTS, w.as_str()));
            }
        }
        Scope::Agent { agent } => needed.push(("agent", sql::AGENT_EXISTS, agent.as_str())),
    }
    needed
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or
/// `postgres://…` / `postgresql://…` (the database must exist).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::Other(
            format!(
                "unsupported database URL scheme in {:?} (expected sqlite://… or postgres://…)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***{}", &url[..s], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
