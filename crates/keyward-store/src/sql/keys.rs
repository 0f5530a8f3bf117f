//! API keys: reading, creating (within the organization's limits, with everything they
//! refer to still there), editing, revoking and rotating.

use super::audit::insert_audit;
use super::backend::{args, Arg, Backend, SqlStore};
use super::change::exists;
use super::filter::{bad_cursor, push_key_filter};
use crate::encode::{json, json_opt, ms, owner_columns};
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::KeyRow;
use crate::rules::{person_key_rules, restrictions_after, rotation};
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, KeyKind, Owner, Role, Scope};

pub(crate) const KEY_SELECT: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.kind, k.environment, k.name, k.prefix, k.key_hash, \
    k.owner_type, k.owner_id, k.owner_name, k.permissions, k.scope, k.metadata, k.created_at, k.created_by, \
    k.expires_at, k.last_used_at, k.revoked_at, k.revoked_by, k.rotated_from, k.rotated_to, k.enabled, \
    k.workspace_id, k.channel_id, k.ratelimit, k.quota, k.disabled_by, k.limits_by \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id";

const INSERT_KEY: &str = "INSERT INTO api_keys (id, org_id, kind, environment, name, prefix, key_hash, \
    owner_type, owner_id, owner_name, permissions, scope, metadata, created_at, created_by, expires_at, \
    rotated_from, scope_level, workspace_id, channel_id, ratelimit, quota, enabled, disabled_by, limits_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
    $21, $22, $23, $24, $25)";

/// `$1` org id: one row if the organization is there and not deleted.
pub(crate) const ORG_ALIVE: &str =
    "SELECT id FROM organizations WHERE id = $1 AND deleted_at IS NULL";

/// What a new key refers to, each `$1` org id and `$2` id: one row if it is there.
pub(crate) const MEMBER_EXISTS: &str =
    "SELECT user_id FROM memberships WHERE org_id = $1 AND user_id = $2";
const SERVICE_ACCOUNT_ALIVE: &str =
    "SELECT id FROM service_accounts WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL";
const CHANNEL_ALIVE: &str =
    "SELECT id FROM channels WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL";
const WORKSPACE_EXISTS: &str = "SELECT id FROM workspaces WHERE org_id = $1 AND id = $2";
pub(crate) const AGENT_EXISTS: &str = "SELECT id FROM agents WHERE org_id = $1 AND id = $2";

/// `$1` org id, `$2` user id: the person's role.
const MEMBER_ROLE: &str = "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2";

/// What a new key refers to besides its organization: (what, query taking `$1` org id
/// and `$2` id, id). Each must still exist when the key is inserted.
fn references(k: &NewKey) -> Vec<(&'static str, &'static str, &str)> {
    let mut needed = Vec::new();
    match &k.owner {
        Some(Owner::User { id, .. }) => needed.push(("member", MEMBER_EXISTS, id.as_str())),
        Some(Owner::ServiceAccount { id, .. }) => {
            needed.push(("service account", SERVICE_ACCOUNT_ALIVE, id.as_str()))
        }
        _ => {}
    }
    if let Some(c) = &k.channel_id {
        needed.push(("channel", CHANNEL_ALIVE, c.as_str()));
    }
    if let Some(w) = &k.workspace_id {
        needed.push(("workspace", WORKSPACE_EXISTS, w.as_str()));
    }
    match &k.scope {
        Scope::Organization => {}
        Scope::Workspaces { workspaces } => {
            for w in workspaces {
                needed.push(("workspace", WORKSPACE_EXISTS, w.as_str()));
            }
        }
        Scope::Agent { agent } => needed.push(("agent", AGENT_EXISTS, agent.as_str())),
    }
    needed
}

/// Inserts a key after checking, inside the inserting transaction, that everything it
/// refers to is still there: a key cannot outlive (or be born after) the deletion of its
/// organization, owner, service account, channel, workspace or agent.
pub(crate) async fn insert_key<B: Backend>(c: &mut B::Connection, k: &NewKey) -> Result<()> {
    let org = k.org_id.as_str();
    if !exists::<B>(c, ORG_ALIVE, args![org]).await? {
        return Err(StoreError::Gone("organization"));
    }
    for (what, query, id) in references(k) {
        if !exists::<B>(c, query, args![org, id]).await? {
            return Err(StoreError::Gone(what));
        }
    }
    insert_key_row::<B>(c, k).await
}

async fn insert_key_row<B: Backend>(c: &mut B::Connection, k: &NewKey) -> Result<()> {
    let (owner_type, owner_id, owner_name) = owner_columns(&k.owner);
    let args = args![
        &k.id,
        &k.org_id,
        k.kind.as_str(),
        k.environment.as_str(),
        &k.name,
        &k.prefix,
        &k.hash,
        owner_type,
        owner_id,
        owner_name,
        json(&k.permissions),
        json(&k.scope),
        json_opt(&k.metadata),
        k.created_at,
        &k.created_by,
        k.expires_at,
        &k.rotated_from,
        k.scope.level(),
        &k.workspace_id,
        &k.channel_id,
        json_opt(&k.ratelimit),
        json_opt(&k.quota),
        k.enabled,
        &k.disabled_by,
        &k.limits_by,
    ];
    B::execute(c, INSERT_KEY, args).await?;
    Ok(())
}

/// Which keys count against `max_keys` (`$1` org id): every kind but worker keys and
/// channel tokens, until revoked. One text for the check and for [`KeyCounts`].
const COUNTED_KEYS: &str = "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 \
     AND kind NOT IN ('worker', 'channel') AND revoked_at IS NULL";

/// Which worker keys count against `max_worker_keys` (`$1` org id, `$2` owner id, `$3`
/// now): a person's worker keys that are neither revoked nor expired, grouped by
/// workspace (the check adds its workspace to the condition).
pub(crate) const COUNTED_WORKER_KEYS: &str = "FROM api_keys WHERE org_id = $1 AND kind = 'worker' \
     AND owner_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)";

/// Checks the organization's key limits for `k`; run inside the inserting transaction,
/// which is serialized with the organization's other changes (the single writer on
/// SQLite, the organization's row lock on PostgreSQL), so parallel creates cannot
/// overshoot them.
pub(crate) async fn check_limits<B: Backend>(c: &mut B::Connection, k: &NewKey) -> Result<()> {
    if k.rotated_from.is_some() || k.kind == KeyKind::Channel || k.exempt_from_limits {
        return Ok(());
    }
    let sql = format!(
        "SELECT max_keys, max_worker_keys FROM organizations WHERE id = $1{}",
        B::FOR_UPDATE
    );
    let (max_keys, max_workers): (i64, i64) = B::fetch_optional(c, &sql, args![&k.org_id])
        .await?
        .ok_or(StoreError::NotFound)?;
    let (limit, max, (current,)): (&'static str, i64, (i64,)) = if k.kind == KeyKind::Worker {
        let sql = format!("SELECT COUNT(*) {COUNTED_WORKER_KEYS} AND workspace_id = $4");
        let owner = k.owner.as_ref().map(|o| o.id());
        let args = args![&k.org_id, owner, k.created_at, &k.workspace_id];
        let current = B::fetch_optional(c, &sql, args).await?.unwrap_or_default();
        (
            "active worker keys per user per workspace",
            max_workers,
            current,
        )
    } else {
        let current = B::fetch_optional(c, COUNTED_KEYS, args![&k.org_id])
            .await?
            .unwrap_or_default();
        ("keys per organization", max_keys, current)
    };
    if current >= max {
        return Err(StoreError::LimitReached {
            limit,
            max: max as u32,
            current: current as u32,
        });
    }
    Ok(())
}

pub(crate) async fn fetch_key<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    id: &str,
) -> Result<KeyRecord> {
    let sql = format!("{KEY_SELECT} WHERE k.org_id = $1 AND k.id = $2");
    let row: Option<KeyRow> = B::fetch_optional(c, &sql, args![org_id, id]).await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Revokes the active keys of `org_id` matching `condition` (which uses `$2`, bound to
/// `value`), announces them, and returns their hashes so the caller can drop them from
/// its own cache.
pub(crate) async fn revoke_where<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    condition: &str,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Vec<KeyHash>> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = $3, revoked_by = $4 \
         WHERE org_id = $1 AND revoked_at IS NULL AND {condition} RETURNING key_hash"
    );
    let rows: Vec<(Vec<u8>,)> = B::fetch_all(c, &sql, args![org_id, value, at, by]).await?;
    let hashes: Vec<KeyHash> = rows
        .iter()
        .filter_map(|(h,)| KeyHash::from_bytes(h))
        .collect();
    B::announce_keys(c, &hashes).await?;
    Ok(hashes)
}

/// The role of the person who owns `key` (`None` for keys that are nobody's token).
async fn person_role<B: Backend>(c: &mut B::Connection, key: &KeyRecord) -> Result<Option<Role>> {
    let Some(Owner::User { id, .. }) = &key.owner else {
        return Ok(None);
    };
    let role: Option<(String,)> = B::fetch_optional(c, MEMBER_ROLE, args![&key.org_id, id]).await?;
    Ok(role.and_then(|(r,)| Role::parse(&r)))
}

/// Key cursors are `<created_at ms>.<id>`; they are opaque to clients.
fn parse_key_cursor(c: &str) -> Option<(i64, &str)> {
    let (t, id) = c.split_once('.')?;
    Some((t.parse().ok()?, id))
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!("{KEY_SELECT} WHERE k.key_hash = $1");
        let row: Option<KeyRow> = self.read_one(&sql, args![hash]).await?;
        row.map(KeyRecord::try_from).transpose()
    }

    pub(crate) async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord> {
        let mut c = self.reader.acquire().await?;
        fetch_key::<B>(&mut c, org_id, id).await
    }

    /// What counts against the organization's key limits at `at`, and `user_id`'s worker
    /// keys per workspace: the conditions `check_limits` applies, read outside a change.
    pub(crate) async fn key_counts(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<KeyCounts> {
        let keys: Option<(i64,)> = self.read_one(COUNTED_KEYS, args![org_id]).await?;
        let worker_keys: Vec<(String, i64)> = match user_id {
            Some(user) => {
                let sql = format!(
                    "SELECT workspace_id, COUNT(*) {COUNTED_WORKER_KEYS} \
                     AND workspace_id IS NOT NULL GROUP BY workspace_id ORDER BY workspace_id"
                );
                self.read(&sql, args![org_id, user, at]).await?
            }
            None => Vec::new(),
        };
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(KeyCounts {
            keys: keys.map_or(0, |(n,)| count(n)),
            worker_keys: worker_keys
                .into_iter()
                .map(|(w, n)| (w, count(n)))
                .collect(),
        })
    }

    pub(crate) async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>> {
        let limit = i64::from(page.limit);
        let mut sql = format!("{KEY_SELECT} WHERE k.org_id = $1");
        let mut args = vec![Arg::from(org_id)];
        push_key_filter::<B>(&mut sql, &mut args, filter);
        let cursor = page
            .cursor
            .as_deref()
            .map(|c| parse_key_cursor(c).ok_or_else(bad_cursor))
            .transpose()?;
        if let Some((t, id)) = cursor {
            args.extend([Arg::from(t), Arg::from(id)]);
            let (t, id) = (args.len() - 1, args.len());
            sql.push_str(&format!(
                " AND (k.created_at < ${t} OR (k.created_at = ${t} AND k.id < ${id}))"
            ));
        }
        args.push((limit + 1).into());
        sql.push_str(&format!(
            " ORDER BY k.created_at DESC, k.id DESC LIMIT ${}",
            args.len()
        ));
        let rows: Vec<KeyRow> = self.read(&sql, &args).await?;
        let mut items = rows
            .into_iter()
            .map(KeyRecord::try_from)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|k| format!("{}.{}", ms(k.created_at), k.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub(crate) async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        check_limits::<B>(&mut tx, &key).await?;
        insert_key::<B>(&mut tx, &key).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let record = fetch_key::<B>(&mut tx, &key.org_id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(crate) async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()> {
        let mut tx = B::begin_write(&self.writer).await?;
        for key in keys {
            insert_key_row::<B>(&mut tx, key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_key::<B>(&mut tx, org_id, id).await?;
        if current.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        let role = person_role::<B>(&mut tx, &current).await?;
        person_key_rules(&audit.actor, &current, role, Some(patch))?;
        let scope = patch.scope.as_ref().unwrap_or(&current.scope);
        let restrictions = restrictions_after(&current, patch);
        let sql = "UPDATE api_keys SET name = $1, permissions = $2, scope = $3, scope_level = $4, \
             ratelimit = $5, quota = $6, enabled = $7, disabled_by = $8, limits_by = $9 \
             WHERE org_id = $10 AND id = $11";
        let args = args![
            patch.name.as_deref().unwrap_or(&current.name),
            json(patch.permissions.as_ref().unwrap_or(&current.permissions)),
            json(scope),
            scope.level(),
            json_opt(&patch.ratelimit.unwrap_or(current.ratelimit)),
            json_opt(&patch.quota.unwrap_or(current.quota)),
            patch.enabled.unwrap_or(current.enabled),
            restrictions.disabled_by,
            restrictions.limits_by,
            org_id,
            id,
        ];
        B::execute(&mut tx, sql, args).await?;
        if patch.quota.is_some() {
            // A changed quota starts afresh.
            let sql = "DELETE FROM quota_balances WHERE key_id = $1";
            B::execute(&mut tx, sql, args![id]).await?;
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        B::announce_keys(&mut tx, &[current.hash]).await?;
        let record = fetch_key::<B>(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(crate) async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_key::<B>(&mut tx, org_id, id).await?;
        let role = person_role::<B>(&mut tx, &current).await?;
        person_key_rules(&audit.actor, &current, role, None)?;
        let sql = "UPDATE api_keys SET revoked_at = $1, revoked_by = $2 \
             WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL";
        let changed = B::execute(&mut tx, sql, args![at, by, org_id, id]).await? == 1;
        if changed {
            insert_audit::<B>(&mut tx, &audit).await?;
            B::announce_keys(&mut tx, &[current.hash]).await?;
        }
        let key = fetch_key::<B>(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(Revoked { key, changed })
    }

    pub(crate) async fn rotate_key(&self, r: Rotation) -> Result<Rotated> {
        let mut tx = self.begin_change(&r.audit[0]).await?;
        let old = fetch_key::<B>(&mut tx, &r.org_id, &r.old_id).await?;
        if old.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        if old.rotated_to.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyAlreadyRotated));
        }
        let role = person_role::<B>(&mut tx, &old).await?;
        person_key_rules(&r.audit[0].actor, &old, role, None)?;
        if !rotation::still_matches(&old, &r.replacement) {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        insert_key::<B>(&mut tx, &r.replacement).await?;
        if r.revoke_old {
            let sql = "UPDATE api_keys SET rotated_to = $1, revoked_at = $2, revoked_by = $3 WHERE id = $4";
            let args = args![&r.replacement.id, r.old_ends_at, &r.revoked_by, &r.old_id];
            B::execute(&mut tx, sql, args).await?;
        } else {
            // Its expiry is brought forward to `$2`, never pushed back.
            let sql = "UPDATE api_keys SET rotated_to = $1, expires_at = CASE \
                 WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END WHERE id = $3";
            let args = args![&r.replacement.id, r.old_ends_at, &r.old_id];
            B::execute(&mut tx, sql, args).await?;
        }
        B::announce_keys(&mut tx, &[old.hash]).await?;
        let mut changed = vec![old.hash];
        // At most one key in grace per rotated key: the old key's own predecessor, if
        // it still works, stops now (revoke_where announces it).
        if let Some(ended) = rotation::end_predecessor(&old, &r) {
            let at = r.replacement.created_at;
            let hashes = revoke_where::<B>(
                &mut tx,
                &r.org_id,
                "id = $2",
                &ended.target_id,
                at,
                &r.revoked_by,
            )
            .await?;
            if !hashes.is_empty() {
                insert_audit::<B>(&mut tx, &ended).await?;
                changed.extend(hashes);
            }
        }
        for event in &r.audit {
            insert_audit::<B>(&mut tx, event).await?;
        }
        let old = fetch_key::<B>(&mut tx, &r.org_id, &r.old_id).await?;
        let new = fetch_key::<B>(&mut tx, &r.org_id, &r.replacement.id).await?;
        tx.commit().await?;
        Ok(Rotated { old, new, changed })
    }
}
