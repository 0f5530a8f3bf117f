//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! the process instead of failing with `SQLITE_BUSY`, and a check-then-insert inside
//! one transaction cannot race another. Reads use their own pool and run in parallel.

use crate::*;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, KeyKind, Owner, Role};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

mod files;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

use crate::rows::{corrupt, from_ms, json_text, ms, owner_columns};
use crate::rows::{
    ChannelRow, InvitationRow, KeyRow, OrgRow, ResourceRefRow, ResourceRow, ServiceAccountRow,
};
use sqlx::FromRow;

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord> {
    KeyRow::from_row(row)?.try_into()
}

fn org_from_row(row: &SqliteRow) -> Result<Organization> {
    OrgRow::from_row(row)?.try_into()
}

fn resource_from_row(row: &SqliteRow) -> Result<Resource> {
    Ok(ResourceRow::from_row(row)?.into())
}

fn channel_from_row(row: &SqliteRow) -> Result<Channel> {
    Ok(ChannelRow::from_row(row)?.into())
}

fn sa_from_row(row: &SqliteRow) -> Result<ServiceAccount> {
    ServiceAccountRow::from_row(row)?.try_into()
}

const KEY_SELECT: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.kind, k.environment, k.name, k.prefix, k.key_hash, \
    k.owner_type, k.owner_id, k.owner_name, k.permissions, k.scope, k.metadata, k.created_at, k.created_by, \
    k.expires_at, k.last_used_at, k.revoked_at, k.revoked_by, k.rotated_from, k.rotated_to, k.enabled, \
    k.workspace_id, k.channel_id, k.ratelimit, k.quota, k.disabled_by, k.limits_by \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id";

/// Rows per statement in the write-behind flushes: a hundredth of the round trips of one
/// statement per row, while each statement stays short, since the flush shares the CPU
/// with requests (5 bound values per row, far under SQLite's 32766).
const WRITE_BATCH: usize = 100;

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self> {
        files::prepare(url)?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(Self { reader, writer })
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock at once: the
    /// one writer connection serializes this process's changes, and an operator's
    /// `keyward admin` in another process waits for the lock (busy timeout) instead of
    /// failing a transaction that had already read.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Starts a change requested by `audit.actor`: the write transaction (serialized with
    /// every other change, deletions included), then the check that the acting key still
    /// works. A request authenticated just before a deletion that revoked its key writes
    /// nothing after it.
    async fn begin_change(
        &self,
        audit: &NewAuditEvent,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        let mut tx = self.write_tx().await?;
        check_actor(&mut tx, &audit.actor, audit.at).await?;
        Ok(tx)
    }

    /// A consistent copy of the live database in one new file, 0600 (`VACUUM INTO`).
    pub async fn backup_to(&self, path: &str) -> Result<()> {
        let target = files::BackupFile::create(path)?;
        sqlx::query("VACUUM INTO ?")
            .bind(target.name()?)
            .execute(&self.writer)
            .await?;
        target.keep();
        Ok(())
    }
}

/// One row for `sql` bound to `args`?
async fn exists(conn: &mut sqlx::SqliteConnection, sql: &str, args: &[&str]) -> Result<bool> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(*a);
    }
    Ok(q.fetch_optional(&mut *conn).await?.is_some())
}

/// [`sql::KEY_WORKS`] for the actor's key, if it acted with one.
async fn check_actor(
    conn: &mut sqlx::SqliteConnection,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(key_id) = &actor.key_id else {
        return Ok(());
    };
    let found: Option<crate::KeyNow> = sqlx::query_as::<_, crate::KeyNow>(&format!(
        "SELECT role, permissions, scope, expires_at, rotated_to FROM ({}) AS w",
        sql::KEY_WORKS
    ))
    .bind(key_id)
    .bind(ms(at))
    .fetch_optional(&mut *conn)
    .await?;
    crate::actor_allowed(actor, found)
}

/// Inside the inserting transaction: everything a new key refers to is still there, so
/// a key cannot outlive (or be born after) the deletion of its organization, owner,
/// service account, channel, workspace or agent.
async fn check_references(conn: &mut sqlx::SqliteConnection, k: &NewKey) -> Result<()> {
    let org = k.org_id.as_str();
    if !exists(conn, sql::ORG_ALIVE, &[org]).await? {
        return Err(StoreError::Gone("organization"));
    }
    for (what, query, id) in crate::references(k) {
        if !exists(conn, query, &[org, id]).await? {
            return Err(StoreError::Gone(what));
        }
    }
    Ok(())
}

/// Inserts a key after [`check_references`].
async fn insert_key(conn: &mut sqlx::SqliteConnection, k: &NewKey) -> Result<()> {
    check_references(conn, k).await?;
    insert_key_row(conn, k).await
}

async fn insert_key_row(conn: &mut sqlx::SqliteConnection, k: &NewKey) -> Result<()> {
    let (owner_type, owner_id, owner_name) = owner_columns(&k.owner);
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, kind, environment, name, prefix, key_hash, owner_type, owner_id, \
         owner_name, permissions, scope, metadata, created_at, created_by, expires_at, rotated_from, \
         scope_level, workspace_id, channel_id, ratelimit, quota, enabled, disabled_by, limits_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&k.id)
    .bind(&k.org_id)
    .bind(k.kind.as_str())
    .bind(k.environment.as_str())
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.hash.as_bytes()[..])
    .bind(owner_type)
    .bind(owner_id)
    .bind(owner_name)
    .bind(serde_json::to_string(&k.permissions).expect("permissions serialize"))
    .bind(serde_json::to_string(&k.scope).expect("scope serializes"))
    .bind(k.metadata.as_ref().map(|m| m.to_string()))
    .bind(ms(k.created_at))
    .bind(&k.created_by)
    .bind(k.expires_at.map(ms))
    .bind(&k.rotated_from)
    .bind(k.scope.level())
    .bind(&k.workspace_id)
    .bind(&k.channel_id)
    .bind(json_text(&k.ratelimit))
    .bind(json_text(&k.quota))
    .bind(k.enabled)
    .bind(&k.disabled_by)
    .bind(&k.limits_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Checks the organization's key limits for `k`; run inside the inserting transaction
/// (the single writer connection serializes them, so parallel creates cannot overshoot).
async fn check_limits(conn: &mut sqlx::SqliteConnection, k: &NewKey) -> Result<()> {
    if k.rotated_from.is_some() || k.kind == KeyKind::Channel || k.exempt_from_limits {
        return Ok(());
    }
    let (max_keys, max_workers): (i64, i64) =
        sqlx::query_as("SELECT max_keys, max_worker_keys FROM organizations WHERE id = ?")
            .bind(&k.org_id)
            .fetch_one(&mut *conn)
            .await?;
    let (limit, max, current): (&'static str, i64, i64) = if k.kind == KeyKind::Worker {
        let current = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND kind = 'worker' AND owner_id = ? \
             AND workspace_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(&k.org_id)
        .bind(k.owner.as_ref().map(|o| o.id()))
        .bind(&k.workspace_id)
        .bind(ms(k.created_at))
        .fetch_one(&mut *conn)
        .await?;
        (
            "active worker keys per user per workspace",
            max_workers,
            current,
        )
    } else {
        let current = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND kind NOT IN ('worker', 'channel') AND revoked_at IS NULL",
        )
        .bind(&k.org_id)
        .fetch_one(&mut *conn)
        .await?;
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

async fn insert_audit(conn: &mut sqlx::SqliteConnection, e: &NewAuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, actor_type, actor_id, actor_name, actor_key_id, action, \
         target_type, target_id, source_ip, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.org_id)
    .bind(ms(e.at))
    .bind(&e.actor.actor_type)
    .bind(&e.actor.id)
    .bind(&e.actor.name)
    .bind(&e.actor.key_id)
    .bind(&e.action)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(&e.source_ip)
    .bind(e.details.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn fetch_key(conn: &mut sqlx::SqliteConnection, org_id: &str, id: &str) -> Result<KeyRecord> {
    let sql = format!("{KEY_SELECT} WHERE k.org_id = ? AND k.id = ?");
    let row = sqlx::query(&sql)
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    key_from_row(&row.ok_or(StoreError::NotFound)?)
}

const ORG_SELECT: &str =
    "SELECT id, name, created_at, max_keys, max_worker_keys, allow_legacy_tokens, \
    default_ratelimit, default_quota FROM organizations";

const CHANNEL_SELECT: &str =
    "SELECT id, org_id, agent_id, name, hook_id, enabled, created_at, deleted_at FROM channels";
const SA_SELECT: &str = "SELECT id, name, scopes, created_at, created_by FROM service_accounts";

async fn fetch_member(
    conn: &mut sqlx::SqliteConnection,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Member>> {
    let row = sqlx::query(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = ? AND m.user_id = ?",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let agents: Vec<String> = sqlx::query_scalar(
        "SELECT agent_id FROM agent_admins WHERE org_id = ? AND user_id = ? ORDER BY agent_id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let role: String = row.try_get("role")?;
    Ok(Some(Member {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        agents,
        created_at: from_ms(row.try_get("created_at")?),
    }))
}

async fn set_agent_admins(
    conn: &mut sqlx::SqliteConnection,
    org_id: &str,
    user_id: &str,
    agents: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM agent_admins WHERE org_id = ? AND user_id = ?")
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for agent in agents {
        sqlx::query("INSERT INTO agent_admins (org_id, user_id, agent_id) VALUES (?, ?, ?)")
            .bind(org_id)
            .bind(user_id)
            .bind(agent)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Revokes the active keys matching `condition` (one `?`, bound to `value`) and
/// returns their hashes so the caller can drop them from caches.
async fn revoke_where(
    conn: &mut sqlx::SqliteConnection,
    org_id: &str,
    condition: &str,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Vec<KeyHash>> {
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT key_hash FROM api_keys WHERE org_id = ? AND revoked_at IS NULL AND {condition}"
    ))
    .bind(org_id)
    .bind(value)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE org_id = ? AND revoked_at IS NULL AND {condition}"
    ))
    .bind(ms(at))
    .bind(by)
    .bind(org_id)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(hashes
        .iter()
        .filter_map(|h| KeyHash::from_bytes(h))
        .collect())
}

/// The conditions of a [`KeyFilter`] on `api_keys k`, bound by [`bind_key_filter`].
fn key_filter_sql(filter: &KeyFilter) -> String {
    let mut sql = String::new();
    if filter.owner_user.is_some() {
        if filter.agents.is_some() {
            sql.push_str(" AND ((k.owner_type = 'user' AND k.owner_id = ?) OR (k.scope_level = 'agent' AND EXISTS (SELECT 1 FROM json_each(?) a WHERE a.value = json_extract(k.scope, '$.agent'))))");
        } else {
            sql.push_str(" AND k.owner_type = 'user' AND k.owner_id = ?");
        }
    }
    if filter.service_account.is_some() {
        sql.push_str(" AND k.owner_type = 'service_account' AND k.owner_id = ?");
    }
    sql
}

fn bind_key_filter<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    filter: &'q KeyFilter,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    if let Some(user) = &filter.owner_user {
        q = q.bind(user);
        if let Some(agents) = &filter.agents {
            q = q.bind(serde_json::to_string(agents).expect("strings serialize"));
        }
    }
    if let Some(sa) = &filter.service_account {
        q = q.bind(sa);
    }
    q
}

async fn fetch_invitation(
    conn: &mut sqlx::SqliteConnection,
    condition: &str,
    args: &[&str],
) -> Result<Option<Invitation>> {
    let sql = format!("{} WHERE {condition}", sql::INVITATION_SELECT);
    let mut q = sqlx::query(&sql);
    for a in args {
        q = q.bind(*a);
    }
    q.fetch_optional(&mut *conn)
        .await?
        .map(|r| InvitationRow::from_row(&r)?.try_into())
        .transpose()
}

async fn fetch_invitation_by_code(
    conn: &mut sqlx::SqliteConnection,
    code_hash: &KeyHash,
) -> Result<Option<Invitation>> {
    let sql = format!("{} WHERE code_hash = $1", sql::INVITATION_SELECT);
    sqlx::query(&sql)
        .bind(&code_hash.as_bytes()[..])
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| InvitationRow::from_row(&r)?.try_into())
        .transpose()
}

/// [`crate::inviter_may`] for the key that issued `inv` or its replacements (a rotated
/// key's replacement carries on its invitations): `None` if none of them may, else the
/// expiry of the one that decided, which the first token does not outlive.
async fn inviter_still_may(
    conn: &mut sqlx::SqliteConnection,
    inv: &Invitation,
    at: DateTime<Utc>,
) -> Result<Option<Option<DateTime<Utc>>>> {
    let Some(first) = inv.created_by_key.clone() else {
        return Ok(Some(None));
    };
    // The issuing key and its replacements, oldest first (a few at most).
    let mut chain = vec![first];
    while chain.len() < 16 {
        let next: Option<Option<String>> =
            sqlx::query_scalar("SELECT rotated_to FROM api_keys WHERE id = $1")
                .bind(chain.last().expect("not empty"))
                .fetch_optional(&mut *conn)
                .await?;
        match next.flatten() {
            Some(replacement) => chain.push(replacement),
            None => break,
        }
    }
    // The newest that works decides: a key in its grace period gives way to its
    // replacement, whose expiry the first token inherits.
    for key in chain.iter().rev() {
        let now: Option<crate::KeyNow> = sqlx::query_as(&format!(
            "SELECT role, permissions, scope, expires_at, rotated_to FROM ({}) AS w",
            sql::KEY_WORKS
        ))
        .bind(key)
        .bind(ms(at))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(now) = now {
            let expires = now.expires_at.map(from_ms);
            return Ok(crate::inviter_may(&now, inv)?.then_some(expires));
        }
    }
    Ok(None)
}

/// The role of the person who owns `key` (`None` for keys that are nobody's token).
async fn person_role(conn: &mut sqlx::SqliteConnection, key: &KeyRecord) -> Result<Option<Role>> {
    let Some(Owner::User { id, .. }) = &key.owner else {
        return Ok(None);
    };
    let role: Option<String> = sqlx::query_scalar(sql::MEMBER_ROLE)
        .bind(&key.org_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

fn bad_cursor() -> StoreError {
    StoreError::InvalidInput("cursor")
}

/// Key cursors are `<created_at ms>.<id>`; they are opaque to clients.
fn parse_key_cursor(c: &str) -> Option<(i64, &str)> {
    let (t, id) = c.split_once('.')?;
    Some((t.parse().ok()?, id))
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord> {
        let mut tx = self.write_tx().await?;
        let orgs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&mut *tx)
            .await?;
        if orgs > 0 {
            return Err(StoreError::Conflict(Conflict::AlreadyBootstrapped));
        }
        let at = ms(b.at);
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&b.org_id)
            .bind(&b.org_name)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO bootstrap (singleton, org_id, at) VALUES (1, ?, ?)")
            .bind(&b.org_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(Conflict::AlreadyBootstrapped),
                other => other,
            })?;
        sqlx::query("INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)")
            .bind(&b.user_id)
            .bind(&b.email)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
        )
        .bind(&b.org_id)
        .bind(&b.user_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_key(&mut tx, &b.key).await?;
        let actor = Actor {
            actor_type: "system".into(),
            id: None,
            name: "bootstrap".into(),
            key_id: None,
            authority: None,
        };
        for (action, target_type, target_id) in [
            ("org.bootstrap", "organization", &b.org_id),
            ("key.create", "key", &b.key.id),
        ] {
            insert_audit(
                &mut tx,
                &NewAuditEvent {
                    org_id: b.org_id.clone(),
                    at: b.at,
                    actor: actor.clone(),
                    action: action.into(),
                    target_type: target_type.into(),
                    target_id: target_id.clone(),
                    source_ip: b.source_ip.clone(),
                    details: serde_json::json!({ "org": b.org_name, "owner": b.email }),
                },
            )
            .await?;
        }
        let record = fetch_key(&mut tx, &b.org_id, &b.key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn organization_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!("{KEY_SELECT} WHERE k.key_hash = ?");
        let row = sqlx::query(&sql)
            .bind(&hash.as_bytes()[..])
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord> {
        let mut conn = self.reader.acquire().await?;
        fetch_key(&mut conn, org_id, id).await
    }

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>> {
        let limit = i64::from(page.limit);
        let mut sql = format!("{KEY_SELECT} WHERE k.org_id = ?");
        sql.push_str(&key_filter_sql(filter));
        let cursor = page
            .cursor
            .as_deref()
            .map(|c| parse_key_cursor(c).ok_or_else(bad_cursor))
            .transpose()?;
        if cursor.is_some() {
            sql.push_str(" AND (k.created_at < ? OR (k.created_at = ? AND k.id < ?))");
        }
        sql.push_str(" ORDER BY k.created_at DESC, k.id DESC LIMIT ?");
        let mut q = bind_key_filter(sqlx::query(&sql).bind(org_id), filter);
        if let Some((t, id)) = cursor {
            q = q.bind(t).bind(t).bind(id);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.reader).await?;
        let mut items = rows.iter().map(key_from_row).collect::<Result<Vec<_>>>()?;
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

    async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        check_limits(&mut tx, &key).await?;
        insert_key(&mut tx, &key).await?;
        insert_audit(&mut tx, &audit).await?;
        let record = fetch_key(&mut tx, &key.org_id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for key in keys {
            insert_key_row(&mut tx, key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_key(&mut tx, org_id, id).await?;
        if current.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        let role = person_role(&mut tx, &current).await?;
        crate::person_key_rules(&audit.actor, &current, role, Some(patch))?;
        let name = patch.name.as_deref().unwrap_or(&current.name);
        let permissions = patch.permissions.as_ref().unwrap_or(&current.permissions);
        let scope = patch.scope.as_ref().unwrap_or(&current.scope);
        let ratelimit = patch.ratelimit.unwrap_or(current.ratelimit);
        let quota = patch.quota.unwrap_or(current.quota);
        let enabled = patch.enabled.unwrap_or(current.enabled);
        let (disabled_by, limits_by) = crate::restrictions_after(&current, patch);
        sqlx::query(
            "UPDATE api_keys SET name = ?, permissions = ?, scope = ?, scope_level = ?, ratelimit = ?, quota = ?, \
             enabled = ?, disabled_by = ?, limits_by = ? WHERE org_id = ? AND id = ?",
        )
            .bind(name)
            .bind(serde_json::to_string(permissions).expect("permissions serialize"))
            .bind(serde_json::to_string(scope).expect("scope serializes"))
            .bind(scope.level())
            .bind(json_text(&ratelimit))
            .bind(json_text(&quota))
            .bind(enabled)
            .bind(&disabled_by)
            .bind(&limits_by)
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if patch.quota.is_some() {
            // A changed quota starts afresh.
            sqlx::query("DELETE FROM quota_balances WHERE key_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, &audit).await?;
        let record = fetch_key(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_key(&mut tx, org_id, id).await?;
        let role = person_role(&mut tx, &current).await?;
        crate::person_key_rules(&audit.actor, &current, role, None)?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(by)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            insert_audit(&mut tx, &audit).await?;
        }
        let record = fetch_key(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(Revoked {
            key: record,
            changed: done,
        })
    }

    async fn rotate_key(&self, r: Rotation) -> Result<Rotated> {
        let mut tx = self.begin_change(&r.audit[0]).await?;
        let old = fetch_key(&mut tx, &r.org_id, &r.old_id).await?;
        if old.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        if old.rotated_to.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyAlreadyRotated));
        }
        let role = person_role(&mut tx, &old).await?;
        crate::person_key_rules(&r.audit[0].actor, &old, role, None)?;
        if !rotation::still_matches(&old, &r.replacement) {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        insert_key(&mut tx, &r.replacement).await?;
        let ends = ms(r.old_ends_at);
        if r.revoke_old {
            sqlx::query(
                "UPDATE api_keys SET rotated_to = ?, revoked_at = ?, revoked_by = ? WHERE id = ?",
            )
            .bind(&r.replacement.id)
            .bind(ends)
            .bind(&r.revoked_by)
            .bind(&r.old_id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE api_keys SET rotated_to = ?, expires_at = MIN(COALESCE(expires_at, ?), ?) WHERE id = ?",
            )
            .bind(&r.replacement.id)
            .bind(ends)
            .bind(ends)
            .bind(&r.old_id)
            .execute(&mut *tx)
            .await?;
        }
        let mut changed = vec![old.hash];
        // At most one key in grace per rotated key: the old key's own predecessor, if
        // it still works, stops now.
        if let Some(ended) = rotation::end_predecessor(&old, &r) {
            let hashes = revoke_where(
                &mut tx,
                &r.org_id,
                "id = ?",
                &ended.target_id,
                r.replacement.created_at,
                &r.revoked_by,
            )
            .await?;
            if !hashes.is_empty() {
                insert_audit(&mut tx, &ended).await?;
                changed.extend(hashes);
            }
        }
        for event in &r.audit {
            insert_audit(&mut tx, event).await?;
        }
        let old = fetch_key(&mut tx, &r.org_id, &r.old_id).await?;
        let new = fetch_key(&mut tx, &r.org_id, &r.replacement.id).await?;
        tx.commit().await?;
        Ok(Rotated { old, new, changed })
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        // One statement per `WRITE_BATCH` rows instead of one per row: a flush after a
        // busy interval holds tens of thousands of keys.
        let mut tx = self.write_tx().await?;
        for chunk in uses.chunks(WRITE_BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(api_keys.last_used_at, 0), v.column2) FROM (",
            );
            q.push_values(chunk, |mut row, u| {
                row.push_bind(&u.key_id).push_bind(ms(u.at));
            });
            q.push(") AS v WHERE api_keys.id = v.column1");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let before = match page.cursor.as_deref() {
            None => i64::MAX,
            Some(c) => c.parse::<i64>().map_err(|_| bad_cursor())?,
        };
        let limit = i64::from(page.limit);
        let mut sql = String::from(
            "SELECT id, at, actor_type, actor_id, actor_name, actor_key_id, action, target_type, target_id, \
             source_ip, details FROM audit_log WHERE org_id = ? AND id < ?",
        );
        if let Some(keys) = &filter.keys {
            sql.push_str(" AND target_type = 'key' AND target_id IN (SELECT k.id FROM api_keys k WHERE k.org_id = ?");
            sql.push_str(&key_filter_sql(keys));
            sql.push(')');
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut q = sqlx::query(&sql).bind(org_id).bind(before);
        if let Some(keys) = &filter.keys {
            q = bind_key_filter(q.bind(org_id), keys);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.reader).await?;
        let mut items = rows
            .iter()
            .map(|row| -> Result<AuditEvent> {
                let details: String = row.try_get("details")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at: from_ms(row.try_get("at")?),
                    actor: Actor {
                        actor_type: row.try_get("actor_type")?,
                        id: row.try_get("actor_id")?,
                        name: row.try_get("actor_name")?,
                        key_id: row.try_get("actor_key_id")?,
                        authority: None,
                    },
                    action: row.try_get("action")?,
                    target: AuditTarget {
                        target_type: row.try_get("target_type")?,
                        id: row.try_get("target_id")?,
                    },
                    source_ip: row.try_get("source_ip")?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn get_org(&self, id: &str) -> Result<Organization> {
        let row = sqlx::query(&format!("{ORG_SELECT} WHERE id = ? AND deleted_at IS NULL"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound)?;
        org_from_row(&row)
    }

    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.created_at, o.max_keys, o.max_worker_keys, o.allow_legacy_tokens, \
             o.default_ratelimit, o.default_quota, m.role \
             FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ? AND o.deleted_at IS NULL ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(Membership {
                    organization: org_from_row(row)?,
                    role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
                })
            })
            .collect()
    }

    async fn create_org(&self, new: NewOrganization, audit: NewAuditEvent) -> Result<KeyRecord> {
        let NewOrganization {
            org,
            owner_user_id,
            key,
            max_per_person,
        } = new;
        let mut tx = self.begin_change(&audit).await?;
        let created: i64 = sqlx::query_scalar(sql::ORGS_CREATED_BY)
            .bind(&owner_user_id)
            .fetch_one(&mut *tx)
            .await?;
        if created >= i64::from(max_per_person) {
            return Err(StoreError::LimitReached {
                limit: "organizations per person",
                max: max_per_person,
                current: created as u32,
            });
        }
        sqlx::query(
            "INSERT INTO organizations (id, name, created_at, max_keys, max_worker_keys, allow_legacy_tokens, \
             default_ratelimit, default_quota, created_by_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
            .bind(&org.id)
            .bind(&org.name)
            .bind(ms(org.created_at))
            .bind(i64::from(org.settings.max_keys))
            .bind(i64::from(org.settings.max_worker_keys))
            .bind(org.settings.allow_legacy_tokens)
            .bind(json_text(&org.settings.default_ratelimit))
            .bind(json_text(&org.settings.default_quota))
            .bind(&owner_user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::INSERT_MEMBERSHIP)
            .bind(&org.id)
            .bind(&owner_user_id)
            .bind(Role::Owner.as_str())
            .bind(ms(org.created_at))
            .execute(&mut *tx)
            .await?;
        insert_key(&mut tx, &key).await?;
        insert_audit(&mut tx, &audit).await?;
        let record = fetch_key(&mut tx, &org.id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_orgs(&self) -> Result<Vec<Organization>> {
        let rows = sqlx::query(&format!(
            "{ORG_SELECT} WHERE deleted_at IS NULL ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(org_from_row).collect()
    }

    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query(
            "UPDATE organizations SET name = ?, max_keys = ?, max_worker_keys = ?, allow_legacy_tokens = ?, \
             default_ratelimit = ?, default_quota = ? WHERE id = ? AND deleted_at IS NULL",
        )
            .bind(&org.name)
            .bind(i64::from(org.settings.max_keys))
            .bind(i64::from(org.settings.max_worker_keys))
            .bind(org.settings.allow_legacy_tokens)
            .bind(json_text(&org.settings.default_ratelimit))
            .bind(json_text(&org.settings.default_quota))
            .bind(&org.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        self.get_org(&org.id).await
    }

    async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query(
            "UPDATE organizations SET deleted_at = ?, name = name || ' (deleted ' || id || ')' \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(ms(at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where(&mut tx, id, "org_id = ?", id, at, by).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        sqlx::query(&format!(
            "INSERT INTO {} (id, org_id, name, created_at) VALUES (?, ?, ?, ?)",
            kind.table()
        ))
        .bind(&r.id)
        .bind(org_id)
        .bind(&r.name)
        .bind(ms(r.created_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>> {
        let rows = sqlx::query(&format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = ? ORDER BY name",
            kind.table()
        ))
        .bind(org_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(resource_from_row).collect()
    }

    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource> {
        let row = sqlx::query(&format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = ? AND id = ?",
            kind.table()
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound)?;
        resource_from_row(&row)
    }

    async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query(&format!(
            "UPDATE {} SET name = ? WHERE org_id = ? AND id = ?",
            kind.table()
        ))
        .bind(name)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        self.get_resource(kind, org_id, id).await
    }

    async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        let in_use: i64 = match kind {
            ResourceKind::Workspace => sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_keys k WHERE k.org_id = ? AND k.revoked_at IS NULL AND (k.workspace_id = ? \
                 OR (k.scope_level = 'workspaces' AND EXISTS (SELECT 1 FROM json_each(k.scope, '$.workspaces') w WHERE w.value = ?)))",
            )
            .bind(org_id)
            .bind(id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
            ResourceKind::Agent => sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM channels WHERE org_id = ? AND agent_id = ? AND deleted_at IS NULL) + \
                 (SELECT COUNT(*) FROM api_keys WHERE org_id = ? AND revoked_at IS NULL AND scope_level = 'agent' \
                  AND json_extract(scope, '$.agent') = ?)",
            )
            .bind(org_id)
            .bind(id)
            .bind(org_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
        };
        if in_use > 0 {
            return Err(StoreError::Conflict(Conflict::InUse));
        }
        if kind == ResourceKind::Agent {
            sqlx::query("DELETE FROM agent_admins WHERE org_id = ? AND agent_id = ?")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM channels WHERE org_id = ? AND agent_id = ?")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE org_id = ? AND id = ?",
            kind.table()
        ))
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_channel(&self, c: &Channel, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        if !exists(&mut tx, sql::AGENT_EXISTS, &[&c.org_id, &c.agent_id]).await? {
            return Err(StoreError::Gone("agent"));
        }
        sqlx::query("INSERT INTO channels (id, org_id, agent_id, name, hook_id, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&c.id)
            .bind(&c.org_id)
            .bind(&c.agent_id)
            .bind(&c.name)
            .bind(&c.hook_id)
            .bind(c.enabled)
            .bind(ms(c.created_at))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "{CHANNEL_SELECT} WHERE org_id = ? AND deleted_at IS NULL AND (? IS NULL OR agent_id = ?) ORDER BY created_at, id"
        ))
        .bind(org_id)
        .bind(agent_id)
        .bind(agent_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel> {
        let row = sqlx::query(&format!(
            "{CHANNEL_SELECT} WHERE org_id = ? AND id = ? AND deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound)?;
        channel_from_row(&row)
    }

    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>> {
        let row = sqlx::query(&format!("{CHANNEL_SELECT} WHERE hook_id = ?"))
            .bind(hook_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn update_channel(&self, c: &Channel, audit: NewAuditEvent) -> Result<Channel> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query("UPDATE channels SET name = ?, enabled = ? WHERE org_id = ? AND id = ? AND deleted_at IS NULL")
            .bind(&c.name)
            .bind(c.enabled)
            .bind(&c.org_id)
            .bind(&c.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        self.get_channel(&c.org_id, &c.id).await
    }

    async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query("UPDATE channels SET deleted_at = ?, enabled = 0 WHERE org_id = ? AND id = ? AND deleted_at IS NULL")
            .bind(ms(at))
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where(&mut tx, org_id, "channel_id = ?", id, at, by).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        let mut conn = self.reader.acquire().await?;
        fetch_member(&mut conn, org_id, user_id).await
    }

    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY u.email",
        )
        .bind(org_id)
        .fetch_all(&self.reader)
        .await?;
        let mut conn = self.reader.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = fetch_member(&mut conn, org_id, &id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn create_invitation(
        &self,
        inv: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        let mut tx = self.begin_change(&audit).await?;
        if !exists(&mut tx, sql::ORG_ALIVE, &[&inv.org_id]).await? {
            return Err(StoreError::Gone("organization"));
        }
        if exists(&mut tx, sql::MEMBER_BY_EMAIL, &[&inv.org_id, &inv.email]).await? {
            return Err(StoreError::Conflict(Conflict::AlreadyMember));
        }
        for agent in &inv.agents {
            if !exists(&mut tx, sql::AGENT_EXISTS, &[&inv.org_id, agent]).await? {
                return Err(StoreError::Gone("agent"));
            }
        }
        sqlx::query(sql::REPLACE_PENDING_INVITATIONS)
            .bind(ms(inv.created_at))
            .bind(&inv.org_id)
            .bind(&inv.email)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::INSERT_INVITATION)
            .bind(&inv.id)
            .bind(&inv.org_id)
            .bind(&inv.email)
            .bind(inv.role.as_str())
            .bind(serde_json::to_string(&inv.agents).expect("strings serialize"))
            .bind(serde_json::to_string(&inv.permissions).expect("permissions serialize"))
            .bind(&inv.code_hash.as_bytes()[..])
            .bind(ms(inv.created_at))
            .bind(&inv.created_by)
            .bind(&inv.created_by_key)
            .bind(ms(inv.expires_at))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, &audit).await?;
        let invitation = fetch_invitation(&mut tx, "id = $1", &[&inv.id])
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(invitation)
    }

    async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "{} WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
            sql::INVITATION_SELECT
        ))
        .bind(org_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| InvitationRow::from_row(r)?.try_into())
            .collect()
    }

    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        let mut conn = self.reader.acquire().await?;
        fetch_invitation(&mut conn, "org_id = $1 AND id = $2", &[org_id, id])
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>> {
        let mut conn = self.reader.acquire().await?;
        fetch_invitation_by_code(&mut conn, code_hash).await
    }

    async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query(sql::REVOKE_INVITATION)
            .bind(ms(at))
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        let invitation = fetch_invitation(&mut tx, "org_id = $1 AND id = $2", &[org_id, id])
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(invitation)
    }

    async fn accept_invitation(&self, a: Acceptance) -> Result<Accepted> {
        let mut tx = self.begin_change(&a.audit).await?;
        let inv = fetch_invitation_by_code(&mut tx, &a.code_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org_id = inv.org_id.clone();
        if inv.accepted_at.is_some() {
            return Err(StoreError::Conflict(Conflict::InvitationUsed));
        }
        let inviter = inviter_still_may(&mut tx, &inv, a.at).await?;
        let Some(inviter_expires) =
            inviter.filter(|_| inv.revoked_at.is_none() && inv.expires_at > a.at)
        else {
            return Err(StoreError::Conflict(Conflict::InvitationExpired));
        };
        if !exists(&mut tx, sql::ORG_ALIVE, &[&org_id]).await? {
            return Err(StoreError::Gone("organization"));
        }
        let existing: Option<String> = sqlx::query_scalar(sql::USER_BY_EMAIL)
            .bind(&inv.email)
            .fetch_optional(&mut *tx)
            .await?;
        let user_id = match (&a.invitee, existing) {
            (Invitee::New { user_id }, None) => {
                sqlx::query(sql::INSERT_USER)
                    .bind(user_id)
                    .bind(&inv.email)
                    .bind(ms(a.at))
                    .execute(&mut *tx)
                    .await?;
                user_id.clone()
            }
            (Invitee::Existing { user_id }, Some(found)) if *user_id == found => found,
            (Invitee::Returning { user_id }, Some(found)) if *user_id == found => {
                if exists(&mut tx, sql::MEMBER_ANYWHERE, &[&found]).await? {
                    return Err(StoreError::Conflict(Conflict::IdentityRequired));
                }
                found
            }
            _ => return Err(StoreError::Conflict(Conflict::IdentityRequired)),
        };
        if exists(&mut tx, sql::MEMBER_EXISTS, &[&org_id, &user_id]).await? {
            return Err(StoreError::Conflict(Conflict::AlreadyMember));
        }
        for agent in &inv.agents {
            if !exists(&mut tx, sql::AGENT_EXISTS, &[&org_id, agent]).await? {
                return Err(StoreError::Gone("agent"));
            }
        }
        sqlx::query(sql::INSERT_MEMBERSHIP)
            .bind(&org_id)
            .bind(&user_id)
            .bind(inv.role.as_str())
            .bind(ms(a.at))
            .execute(&mut *tx)
            .await?;
        set_agent_admins(&mut tx, &org_id, &user_id, &inv.agents).await?;
        // The first token does not outlive the key that issued the invitation: a leaked
        // short-lived admin key cannot plant a lasting credential.
        let expires_at = match (a.key.expires_at, inviter_expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let key = NewKey {
            org_id: org_id.clone(),
            owner: Some(Owner::User {
                id: user_id.clone(),
                name: inv.email.clone(),
            }),
            expires_at,
            ..a.key
        };
        check_limits(&mut tx, &key).await?;
        insert_key(&mut tx, &key).await?;
        let marked = sqlx::query(sql::MARK_INVITATION_ACCEPTED)
            .bind(ms(a.at))
            .bind(&user_id)
            .bind(&inv.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if marked != 1 {
            return Err(StoreError::Conflict(Conflict::InvitationUsed));
        }
        insert_audit(
            &mut tx,
            &NewAuditEvent {
                org_id: org_id.clone(),
                target_id: user_id.clone(),
                actor: Actor {
                    id: Some(user_id.clone()),
                    ..a.audit.actor.clone()
                },
                ..a.audit
            },
        )
        .await?;
        let member = fetch_member(&mut tx, &org_id, &user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let record = fetch_key(&mut tx, &org_id, &key.id).await?;
        tx.commit().await?;
        Ok(Accepted {
            member,
            key: record,
        })
    }

    async fn update_member(
        &self,
        org_id: &str,
        m: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_member(&mut tx, org_id, &m.user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.role != expected {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        for agent in &m.agents {
            if !exists(&mut tx, sql::AGENT_EXISTS, &[org_id, agent]).await? {
                return Err(StoreError::Gone("agent"));
            }
        }
        if current.role == Role::Owner && m.role != Role::Owner {
            let owners: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner'",
            )
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
            if owners <= 1 {
                return Err(StoreError::Conflict(Conflict::LastOwner));
            }
        }
        sqlx::query("UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?")
            .bind(m.role.as_str())
            .bind(org_id)
            .bind(&m.user_id)
            .execute(&mut *tx)
            .await?;
        set_agent_admins(&mut tx, org_id, &m.user_id, &m.agents).await?;
        insert_audit(&mut tx, &audit).await?;
        let member = fetch_member(&mut tx, org_id, &m.user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        expected: Role,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let current = fetch_member(&mut tx, org_id, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.role != expected {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        if current.role == Role::Owner {
            let owners: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner'",
            )
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
            if owners <= 1 {
                return Err(StoreError::Conflict(Conflict::LastOwner));
            }
        }
        sqlx::query("DELETE FROM agent_admins WHERE org_id = ? AND user_id = ?")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM memberships WHERE org_id = ? AND user_id = ?")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let hashes = revoke_where(
            &mut tx,
            org_id,
            "owner_type = 'user' AND owner_id = ?",
            user_id,
            at,
            by,
        )
        .await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(sql::USER_BY_EMAIL)
            .bind(email)
            .fetch_optional(&self.reader)
            .await?)
    }

    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>> {
        let ids: Vec<String> = sqlx::query_scalar(sql::OWNERS)
            .bind(org_id)
            .fetch_all(&self.reader)
            .await?;
        let mut conn = self.reader.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(fetch_member(&mut conn, org_id, &id).await?);
        }
        Ok(out)
    }

    async fn all_resources(&self) -> Result<Vec<ResourceRef>> {
        let rows = sqlx::query(sql::ALL_RESOURCES)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| ResourceRefRow::from_row(r)?.try_into())
            .collect()
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!("{CHANNEL_SELECT} WHERE deleted_at IS NULL"))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        sqlx::query("INSERT INTO service_accounts (id, org_id, name, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&sa.id)
            .bind(org_id)
            .bind(&sa.name)
            .bind(serde_json::to_string(&sa.scopes).expect("scopes serialize"))
            .bind(ms(sa.created_at))
            .bind(&sa.created_by)
            .execute(&mut *tx)
            .await?;
        check_limits(&mut tx, &key).await?;
        insert_key(&mut tx, &key).await?;
        insert_audit(&mut tx, &audit).await?;
        let record = fetch_key(&mut tx, org_id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>> {
        let rows = sqlx::query(&format!(
            "{SA_SELECT} WHERE org_id = ? AND deleted_at IS NULL ORDER BY name, id"
        ))
        .bind(org_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(sa_from_row).collect()
    }

    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount> {
        let row = sqlx::query(&format!(
            "{SA_SELECT} WHERE org_id = ? AND id = ? AND deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound)?;
        sa_from_row(&row)
    }

    async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query("UPDATE service_accounts SET name = ?, scopes = ? WHERE org_id = ? AND id = ? AND deleted_at IS NULL")
            .bind(&sa.name)
            .bind(serde_json::to_string(&sa.scopes).expect("scopes serialize"))
            .bind(org_id)
            .bind(&sa.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        // Keys carry their owner's name (verify answers it without a join).
        sqlx::query(
            "UPDATE api_keys SET owner_name = ? WHERE org_id = ? \
             AND owner_type = 'service_account' AND owner_id = ?",
        )
        .bind(&sa.name)
        .bind(org_id)
        .bind(&sa.id)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        self.get_service_account(org_id, &sa.id).await
    }

    async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query("UPDATE service_accounts SET deleted_at = ? WHERE org_id = ? AND id = ? AND deleted_at IS NULL")
            .bind(ms(at))
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where(
            &mut tx,
            org_id,
            "owner_type = 'service_account' AND owner_id = ?",
            id,
            at,
            by,
        )
        .await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    async fn record_usage(&self, rows: &[UsageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for chunk in rows.chunks(WRITE_BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO usage_minutes (key_id, minute, valid, denied, api) ",
            );
            q.push_values(chunk, |mut row, r| {
                row.push_bind(&r.key_id)
                    .push_bind(r.minute)
                    .push_bind(r.valid)
                    .push_bind(r.denied)
                    .push_bind(r.api);
            });
            q.push(
                " ON CONFLICT (key_id, minute) DO UPDATE SET valid = valid + excluded.valid, \
                 denied = denied + excluded.denied, api = api + excluded.api",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT key_id, minute, valid, denied, api FROM usage_minutes WHERE key_id = ? AND minute >= ? AND minute < ? \
             ORDER BY minute",
        )
        .bind(key_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    key_id: r.try_get("key_id")?,
                    minute: r.try_get("minute")?,
                    valid: r.try_get("valid")?,
                    denied: r.try_get("denied")?,
                    api: r.try_get("api")?,
                })
            })
            .collect()
    }

    async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease> {
        let mut tx = self.write_tx().await?;
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT period, remaining FROM quota_balances WHERE key_id = ?")
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await?;
        let remaining = match row {
            Some((p, remaining)) if p == period => remaining,
            _ => quota.limit,
        };
        let granted = want.min(remaining).max(0);
        sqlx::query(
            "INSERT INTO quota_balances (key_id, period, remaining) VALUES (?, ?, ?) \
             ON CONFLICT (key_id) DO UPDATE SET period = excluded.period, remaining = excluded.remaining",
        )
        .bind(key_id)
        .bind(period)
        .bind(remaining - granted)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(QuotaLease {
            granted,
            remaining: remaining - granted,
        })
    }

    async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()> {
        sqlx::query(
            "UPDATE quota_balances SET remaining = remaining + ? WHERE key_id = ? AND period = ?",
        )
        .bind(amount)
        .bind(key_id)
        .bind(period)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT period, remaining FROM quota_balances WHERE key_id = ?")
                .bind(key_id)
                .fetch_optional(&self.reader)
                .await?;
        Ok(match row {
            Some((p, remaining)) if p == period => remaining,
            _ => quota.limit,
        })
    }

    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>> {
        let (owner_type, owner_id) = (owner.type_str(), owner.id());
        let raw: Option<String> =
            sqlx::query_scalar("SELECT ratelimit FROM owner_limits WHERE org_id = ? AND owner_type = ? AND owner_id = ?")
                .bind(org_id)
                .bind(owner_type)
                .bind(owner_id)
                .fetch_optional(&self.reader)
                .await?;
        raw.map(|s| serde_json::from_str(&s).map_err(|_| corrupt("ratelimit", &s)))
            .transpose()
    }

    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT owner_type, owner_id, ratelimit FROM owner_limits WHERE org_id = ? ORDER BY owner_type, owner_id",
        )
        .bind(org_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(owner_type, owner_id, raw)| {
                let ratelimit =
                    serde_json::from_str(&raw).map_err(|_| corrupt("ratelimit", &raw))?;
                Ok(OwnerLimit {
                    owner_type,
                    owner_id,
                    ratelimit,
                })
            })
            .collect()
    }

    async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let (owner_type, owner_id) = (owner.type_str(), owner.id());
        let mut tx = self.begin_change(&audit).await?;
        match limit {
            Some(l) => {
                sqlx::query(
                    "INSERT INTO owner_limits (org_id, owner_type, owner_id, ratelimit) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (org_id, owner_type, owner_id) DO UPDATE SET ratelimit = excluded.ratelimit",
                )
                .bind(org_id)
                .bind(owner_type)
                .bind(owner_id)
                .bind(serde_json::to_string(&l).expect("ratelimit serializes"))
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM owner_limits WHERE org_id = ? AND owner_type = ? AND owner_id = ?",
                )
                .bind(org_id)
                .bind(owner_type)
                .bind(owner_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
