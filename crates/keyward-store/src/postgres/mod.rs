//! The PostgreSQL backend, for several `keyward serve` nodes on one database.
//!
//! The SQL stays close to `sqlite/`: the same tables, times as BIGINT unix milliseconds,
//! JSON as TEXT (see ARCHITECTURE.md), `$n` placeholders instead of `?`. Two things differ:
//!
//! - **Check-then-write.** SQLite has one writer connection, so a limit check and the
//!   insert it guards cannot interleave. Here every such transaction first locks its
//!   organization's row (`SELECT … FOR UPDATE`), which serializes the writes of one
//!   organization and leaves other organizations and all reads in parallel.
//! - **Change feed.** A transaction that changes what a node may have cached sends
//!   `NOTIFY keyward_changes` with the key hash (hex) or `*` ("flush all"). PostgreSQL
//!   delivers it when, and only if, the transaction commits; [`PgChangeFeed`] is the
//!   `LISTEN` side that every node runs.

use crate::*;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, KeyKind, Owner, Quota, RateLimit, Role};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel every node listens on.
pub const CHANGES_CHANNEL: &str = "keyward_changes";
/// Payload of a "flush everything" notification.
const FLUSH_ALL: &str = "*";
/// Payload of "the workspaces, agents or channels changed".
const RESOURCES: &str = "resources";
/// Payload of a liveness probe (see [`Store::publish`] and `cluster.rs` in the server).
const PING: &str = "ping";

pub struct PgStore {
    pool: PgPool,
}

use crate::rows::{corrupt, from_ms, json_text, ms, owner_columns};
use crate::rows::{
    ChannelRow, InvitationRow, KeyRow, OrgRow, ResourceRefRow, ResourceRow, ServiceAccountRow,
};
use sqlx::FromRow;

fn key_from_row(row: &PgRow) -> Result<KeyRecord> {
    KeyRow::from_row(row)?.try_into()
}

fn org_from_row(row: &PgRow) -> Result<Organization> {
    OrgRow::from_row(row)?.try_into()
}

fn resource_from_row(row: &PgRow) -> Result<Resource> {
    Ok(ResourceRow::from_row(row)?.into())
}

fn channel_from_row(row: &PgRow) -> Result<Channel> {
    Ok(ChannelRow::from_row(row)?.into())
}

fn sa_from_row(row: &PgRow) -> Result<ServiceAccount> {
    ServiceAccountRow::from_row(row)?.try_into()
}

const KEY_SELECT: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.kind, k.environment, k.name, k.prefix, k.key_hash, \
    k.owner_type, k.owner_id, k.owner_name, k.permissions, k.scope, k.metadata, k.created_at, k.created_by, \
    k.expires_at, k.last_used_at, k.revoked_at, k.revoked_by, k.rotated_from, k.rotated_to, k.enabled, \
    k.workspace_id, k.channel_id, k.ratelimit, k.quota, k.disabled_by, k.limits_by \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id";

impl PgStore {
    /// Connects to `postgres://…`. Connection options in the URL apply (for example
    /// `?options=-c%20search_path%3Dmy_schema`, which the tests use to isolate themselves).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl PgStore {
    /// Starts a change requested by `audit.actor`: locks the organization the change is
    /// in and the one the acting key belongs to (in id order, so two changes never wait
    /// for each other), then checks that the acting key still works. Every deletion
    /// takes the same organization lock before it revokes, so a change that raced a
    /// deletion either committed before it (and the deletion revokes what it made) or
    /// sees it and writes nothing.
    async fn begin_change(
        &self,
        audit: &NewAuditEvent,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut tx = self.pool.begin().await?;
        let mut orgs = vec![audit.org_id.clone()];
        if let Some(key_id) = &audit.actor.key_id {
            let actor_org: Option<String> = sqlx::query_scalar(sql::KEY_ORG)
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await?;
            orgs.extend(actor_org);
        }
        orgs.sort();
        orgs.dedup();
        for org in &orgs {
            lock_org(&mut tx, org).await?;
        }
        if let Some(key_id) = &audit.actor.key_id {
            let found: Option<crate::KeyNow> = sqlx::query_as::<_, crate::KeyNow>(&format!(
                "SELECT role, permissions, scope, expires_at, rotated_to FROM ({}) AS w",
                sql::KEY_WORKS
            ))
            .bind(key_id)
            .bind(ms(audit.at))
            .fetch_optional(&mut *tx)
            .await?;
            crate::actor_allowed(&audit.actor, found)?;
        }
        Ok(tx)
    }
}

/// One row for `sql` bound to `args`?
async fn exists(conn: &mut sqlx::PgConnection, sql: &str, args: &[&str]) -> Result<bool> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(*a);
    }
    Ok(q.fetch_optional(&mut *conn).await?.is_some())
}

/// Inside the inserting transaction (after the organization lock): everything a new key
/// refers to is still there.
async fn check_references(conn: &mut sqlx::PgConnection, k: &NewKey) -> Result<()> {
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

/// Announces that these keys changed; delivered to every listening node on commit.
async fn notify_keys(conn: &mut sqlx::PgConnection, hashes: &[KeyHash]) -> Result<()> {
    for hash in hashes {
        notify(conn, &to_hex(hash)).await?;
    }
    Ok(())
}

async fn notify(conn: &mut sqlx::PgConnection, payload: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES_CHANNEL)
        .bind(payload)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Serializes the check-then-write transactions of one organization (see module docs).
async fn lock_org(conn: &mut sqlx::PgConnection, org_id: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

/// The `LISTEN keyward_changes` side: one dedicated connection per node.
pub struct PgChangeFeed {
    listener: PgListener,
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<FeedEvent> {
        // `try_recv` reports a lost connection as `None` instead of reconnecting behind
        // our back: notifications sent meanwhile are gone, and the caller must know.
        let Some(n) = self.listener.try_recv().await? else {
            return Err(StoreError::Other(
                "the change feed lost its connection".into(),
            ));
        };
        Ok(match n.payload() {
            FLUSH_ALL => FeedEvent::All,
            PING => FeedEvent::Ping,
            RESOURCES => FeedEvent::Resources,
            // Anything else that is not a hash (another program on the channel) is
            // read the safe way: forget everything.
            hex => from_hex(hex).map_or(FeedEvent::All, FeedEvent::Key),
        })
    }
}

fn to_hex(hash: &KeyHash) -> String {
    use std::fmt::Write;
    hash.as_bytes()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn from_hex(hex: &str) -> Option<KeyHash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    KeyHash::from_bytes(&bytes)
}

/// Inserts a key after [`check_references`].
async fn insert_key(conn: &mut sqlx::PgConnection, k: &NewKey) -> Result<()> {
    check_references(conn, k).await?;
    insert_key_row(conn, k).await
}

async fn insert_key_row(conn: &mut sqlx::PgConnection, k: &NewKey) -> Result<()> {
    let (owner_type, owner_id, owner_name) = owner_columns(&k.owner);
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, kind, environment, name, prefix, key_hash, owner_type, owner_id, \
         owner_name, permissions, scope, metadata, created_at, created_by, expires_at, rotated_from, \
         scope_level, workspace_id, channel_id, ratelimit, quota, enabled, disabled_by, limits_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
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
    .bind(k.ratelimit.map(|r| serde_json::to_string(&r).expect("ratelimit serializes")))
    .bind(k.quota.map(|q| serde_json::to_string(&q).expect("quota serializes")))
    .bind(k.enabled)
    .bind(&k.disabled_by)
    .bind(&k.limits_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Checks the organization's key limits for `k`; run inside the inserting transaction.
/// The organization row stays locked until it commits, so parallel creates cannot overshoot.
async fn check_limits(conn: &mut sqlx::PgConnection, k: &NewKey) -> Result<()> {
    if k.rotated_from.is_some() || k.kind == KeyKind::Channel || k.exempt_from_limits {
        return Ok(());
    }
    let (max_keys, max_workers): (i64, i64) = sqlx::query_as(
        "SELECT max_keys, max_worker_keys FROM organizations WHERE id = $1 FOR UPDATE",
    )
    .bind(&k.org_id)
    .fetch_one(&mut *conn)
    .await?;
    let (limit, max, current): (&'static str, i64, i64) = if k.kind == KeyKind::Worker {
        let current = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND kind = 'worker' AND owner_id = $2 \
             AND workspace_id = $3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)",
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
            "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND kind NOT IN ('worker', 'channel') AND revoked_at IS NULL",
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

async fn insert_audit(conn: &mut sqlx::PgConnection, e: &NewAuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, actor_type, actor_id, actor_name, actor_key_id, action, \
         target_type, target_id, source_ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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

async fn fetch_key(conn: &mut sqlx::PgConnection, org_id: &str, id: &str) -> Result<KeyRecord> {
    let sql = format!("{KEY_SELECT} WHERE k.org_id = $1 AND k.id = $2");
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
    conn: &mut sqlx::PgConnection,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Member>> {
    let row = sqlx::query(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let agents: Vec<String> = sqlx::query_scalar(
        "SELECT agent_id FROM agent_admins WHERE org_id = $1 AND user_id = $2 ORDER BY agent_id",
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
    conn: &mut sqlx::PgConnection,
    org_id: &str,
    user_id: &str,
    agents: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM agent_admins WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for agent in agents {
        sqlx::query("INSERT INTO agent_admins (org_id, user_id, agent_id) VALUES ($1, $2, $3)")
            .bind(org_id)
            .bind(user_id)
            .bind(agent)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Revokes the active keys matching `condition` (which uses `$2`, bound to `value`),
/// announces them to the other nodes, and returns their hashes so the caller can drop
/// them from its own cache.
async fn revoke_where(
    conn: &mut sqlx::PgConnection,
    org_id: &str,
    condition: &str,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Vec<KeyHash>> {
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
        "UPDATE api_keys SET revoked_at = $3, revoked_by = $4 WHERE org_id = $1 AND revoked_at IS NULL AND {condition} \
         RETURNING key_hash"
    ))
    .bind(org_id)
    .bind(value)
    .bind(ms(at))
    .bind(by)
    .fetch_all(&mut *conn)
    .await?;
    let hashes: Vec<KeyHash> = hashes
        .iter()
        .filter_map(|h| KeyHash::from_bytes(h))
        .collect();
    notify_keys(conn, &hashes).await?;
    Ok(hashes)
}

/// The conditions of a [`KeyFilter`] on `api_keys k`, numbering placeholders after `n`;
/// bound in the same order by [`bind_key_filter`].
fn key_filter_sql(filter: &KeyFilter, n: &mut usize) -> String {
    let mut next = || {
        *n += 1;
        *n
    };
    let mut sql = String::new();
    if filter.owner_user.is_some() {
        if filter.agents.is_some() {
            let (user, agents) = (next(), next());
            sql.push_str(&format!(" AND ((k.owner_type = 'user' AND k.owner_id = ${user}) OR (k.scope_level = 'agent' AND (k.scope::jsonb ->> 'agent') = ANY(${agents})))"));
        } else {
            sql.push_str(&format!(
                " AND k.owner_type = 'user' AND k.owner_id = ${}",
                next()
            ));
        }
    }
    if filter.service_account.is_some() {
        sql.push_str(&format!(
            " AND k.owner_type = 'service_account' AND k.owner_id = ${}",
            next()
        ));
    }
    sql
}

fn bind_key_filter<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    filter: &'q KeyFilter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    if let Some(user) = &filter.owner_user {
        q = q.bind(user);
        if let Some(agents) = &filter.agents {
            q = q.bind(agents);
        }
    }
    if let Some(sa) = &filter.service_account {
        q = q.bind(sa);
    }
    q
}

async fn fetch_invitation(
    conn: &mut sqlx::PgConnection,
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
    conn: &mut sqlx::PgConnection,
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
    conn: &mut sqlx::PgConnection,
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
async fn person_role(conn: &mut sqlx::PgConnection, key: &KeyRecord) -> Result<Option<Role>> {
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
impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord> {
        let mut tx = self.pool.begin().await?;
        // Racing bootstraps queue here, so the loser sees the winner's organization
        // (and reports AlreadyBootstrapped, not a duplicate organization name).
        sqlx::query("LOCK TABLE bootstrap IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let orgs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&mut *tx)
            .await?;
        if orgs > 0 {
            return Err(StoreError::Conflict(Conflict::AlreadyBootstrapped));
        }
        let at = ms(b.at);
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&b.org_id)
            .bind(&b.org_name)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO bootstrap (singleton, org_id, at) VALUES (1, $1, $2)")
            .bind(&b.org_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(Conflict::AlreadyBootstrapped),
                other => other,
            })?;
        sqlx::query("INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)")
            .bind(&b.user_id)
            .bind(&b.email)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
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
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        let sql = format!("{KEY_SELECT} WHERE k.key_hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch_key(&mut conn, org_id, id).await
    }

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>> {
        let limit = i64::from(page.limit);
        let mut sql = format!("{KEY_SELECT} WHERE k.org_id = $1");
        let mut n = 1;
        sql.push_str(&key_filter_sql(filter, &mut n));
        let mut next = || {
            n += 1;
            n
        };
        let cursor = page
            .cursor
            .as_deref()
            .map(|c| parse_key_cursor(c).ok_or_else(bad_cursor))
            .transpose()?;
        if cursor.is_some() {
            let (t, id) = (next(), next());
            sql.push_str(&format!(
                " AND (k.created_at < ${t} OR (k.created_at = ${t} AND k.id < ${id}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY k.created_at DESC, k.id DESC LIMIT ${}",
            next()
        ));
        let mut q = bind_key_filter(sqlx::query(&sql).bind(org_id), filter);
        if let Some((t, id)) = cursor {
            q = q.bind(t).bind(id);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
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
        let mut tx = self.pool.begin().await?;
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
            "UPDATE api_keys SET name = $1, permissions = $2, scope = $3, scope_level = $4, ratelimit = $5, quota = $6, \
             enabled = $7, disabled_by = $8, limits_by = $9 WHERE org_id = $10 AND id = $11",
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
            sqlx::query("DELETE FROM quota_balances WHERE key_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, &audit).await?;
        notify_keys(&mut tx, &[current.hash]).await?;
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
            "UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(by)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let record = fetch_key(&mut tx, org_id, id).await?;
        if done {
            insert_audit(&mut tx, &audit).await?;
            notify_keys(&mut tx, &[record.hash]).await?;
        }
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
                "UPDATE api_keys SET rotated_to = $1, revoked_at = $2, revoked_by = $3 WHERE id = $4",
            )
            .bind(&r.replacement.id)
            .bind(ends)
            .bind(&r.revoked_by)
            .bind(&r.old_id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE api_keys SET rotated_to = $1, expires_at = LEAST(COALESCE(expires_at, $2), $3) WHERE id = $4",
            )
            .bind(&r.replacement.id)
            .bind(ends)
            .bind(ends)
            .bind(&r.old_id)
            .execute(&mut *tx)
            .await?;
        }
        notify_keys(&mut tx, &[old.hash]).await?;
        let mut changed = vec![old.hash];
        // At most one key in grace per rotated key: the old key's own predecessor, if
        // it still works, stops now (revoke_where announces it).
        if let Some(ended) = rotation::end_predecessor(&old, &r) {
            let hashes = revoke_where(
                &mut tx,
                &r.org_id,
                "id = $2",
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
        // One statement for the whole flush (arrays, not a round trip per row), rows
        // locked in id order so two nodes flushing the same keys cannot deadlock.
        let mut sorted: Vec<&LastUse> = uses.iter().collect();
        sorted.sort_unstable_by(|a, b| a.key_id.cmp(&b.key_id));
        let ids: Vec<&str> = sorted.iter().map(|u| u.key_id.as_str()).collect();
        let ats: Vec<i64> = sorted.iter().map(|u| ms(u.at)).collect();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at) \
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE k.id = u.id",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&self.pool)
        .await?;
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
             source_ip, details FROM audit_log WHERE org_id = $1 AND id < $2",
        );
        let mut n = 2;
        if let Some(keys) = &filter.keys {
            sql.push_str(" AND target_type = 'key' AND target_id IN (SELECT k.id FROM api_keys k WHERE k.org_id = $1");
            sql.push_str(&key_filter_sql(keys, &mut n));
            sql.push(')');
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
        let mut q = sqlx::query(&sql).bind(org_id).bind(before);
        if let Some(keys) = &filter.keys {
            q = bind_key_filter(q, keys);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
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
        let row = sqlx::query(&format!(
            "{ORG_SELECT} WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        org_from_row(&row)
    }

    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.created_at, o.max_keys, o.max_worker_keys, o.allow_legacy_tokens, \
             o.default_ratelimit, o.default_quota, m.role \
             FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 AND o.deleted_at IS NULL ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
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
        // One person's creates queue here, so parallel ones cannot overshoot the cap.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(&owner_user_id)
            .fetch_optional(&mut *tx)
            .await?;
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
             default_ratelimit, default_quota, created_by_user) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(org_from_row).collect()
    }

    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query(
            "UPDATE organizations SET name = $1, max_keys = $2, max_worker_keys = $3, allow_legacy_tokens = $4, \
             default_ratelimit = $5, default_quota = $6 WHERE id = $7 AND deleted_at IS NULL",
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
        // The organization's name is part of every cached key record.
        notify(&mut tx, FLUSH_ALL).await?;
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
            "UPDATE organizations SET deleted_at = $1, name = name || ' (deleted ' || id || ')' \
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(ms(at))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where(&mut tx, id, "org_id = $2", id, at, by).await?;
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
            "INSERT INTO {} (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
            kind.table()
        ))
        .bind(&r.id)
        .bind(org_id)
        .bind(&r.name)
        .bind(ms(r.created_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit).await?;
        notify(&mut tx, RESOURCES).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>> {
        let rows = sqlx::query(&format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = $1 ORDER BY name",
            kind.table()
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(resource_from_row).collect()
    }

    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource> {
        let row = sqlx::query(&format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = $1 AND id = $2",
            kind.table()
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
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
            "UPDATE {} SET name = $1 WHERE org_id = $2 AND id = $3",
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
                "SELECT COUNT(*) FROM api_keys k WHERE k.org_id = $1 AND k.revoked_at IS NULL AND (k.workspace_id = $2 \
                 OR (k.scope_level = 'workspaces' AND (k.scope::jsonb -> 'workspaces') ? $3))",
            )
            .bind(org_id)
            .bind(id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
            ResourceKind::Agent => sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM channels WHERE org_id = $1 AND agent_id = $2 AND deleted_at IS NULL) + \
                 (SELECT COUNT(*) FROM api_keys WHERE org_id = $3 AND revoked_at IS NULL AND scope_level = 'agent' \
                  AND (scope::jsonb ->> 'agent') = $4)",
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
            sqlx::query("DELETE FROM agent_admins WHERE org_id = $1 AND agent_id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM channels WHERE org_id = $1 AND agent_id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE org_id = $1 AND id = $2",
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
        notify(&mut tx, RESOURCES).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_channel(&self, c: &Channel, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        if !exists(&mut tx, sql::AGENT_EXISTS, &[&c.org_id, &c.agent_id]).await? {
            return Err(StoreError::Gone("agent"));
        }
        sqlx::query("INSERT INTO channels (id, org_id, agent_id, name, hook_id, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
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
        notify(&mut tx, RESOURCES).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "{CHANNEL_SELECT} WHERE org_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR agent_id = $3) ORDER BY created_at, id"
        ))
        .bind(org_id)
        .bind(agent_id)
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel> {
        let row = sqlx::query(&format!(
            "{CHANNEL_SELECT} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        channel_from_row(&row)
    }

    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>> {
        let row = sqlx::query(&format!("{CHANNEL_SELECT} WHERE hook_id = $1"))
            .bind(hook_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn update_channel(&self, c: &Channel, audit: NewAuditEvent) -> Result<Channel> {
        let mut tx = self.begin_change(&audit).await?;
        let done = sqlx::query("UPDATE channels SET name = $1, enabled = $2 WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL")
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
        // Rare; flushing everything keeps any node-side view of channels honest too.
        notify(&mut tx, FLUSH_ALL).await?;
        notify(&mut tx, RESOURCES).await?;
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
        let done = sqlx::query("UPDATE channels SET deleted_at = $1, enabled = FALSE WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(ms(at))
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where(&mut tx, org_id, "channel_id = $2", id, at, by).await?;
        insert_audit(&mut tx, &audit).await?;
        notify(&mut tx, RESOURCES).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        let mut conn = self.pool.acquire().await?;
        fetch_member(&mut conn, org_id, user_id).await
    }

    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
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
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| InvitationRow::from_row(r)?.try_into())
            .collect()
    }

    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        let mut conn = self.pool.acquire().await?;
        fetch_invitation(&mut conn, "org_id = $1 AND id = $2", &[org_id, id])
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>> {
        let mut conn = self.pool.acquire().await?;
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
                // Two invitations of one new person accepted at once in two
                // organizations: the second finds the person created and must prove it.
                sqlx::query(sql::INSERT_USER)
                    .bind(user_id)
                    .bind(&inv.email)
                    .bind(ms(a.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match StoreError::from(e) {
                        StoreError::Conflict(Conflict::Duplicate) => {
                            StoreError::Conflict(Conflict::IdentityRequired)
                        }
                        other => other,
                    })?;
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
                "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
            )
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
            if owners <= 1 {
                return Err(StoreError::Conflict(Conflict::LastOwner));
            }
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(m.role.as_str())
            .bind(org_id)
            .bind(&m.user_id)
            .execute(&mut *tx)
            .await?;
        set_agent_admins(&mut tx, org_id, &m.user_id, &m.agents).await?;
        insert_audit(&mut tx, &audit).await?;
        notify(&mut tx, FLUSH_ALL).await?;
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
                "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'",
            )
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
            if owners <= 1 {
                return Err(StoreError::Conflict(Conflict::LastOwner));
            }
        }
        sqlx::query("DELETE FROM agent_admins WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let hashes = revoke_where(
            &mut tx,
            org_id,
            "owner_type = 'user' AND owner_id = $2",
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
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>> {
        let ids: Vec<String> = sqlx::query_scalar(sql::OWNERS)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(fetch_member(&mut conn, org_id, &id).await?);
        }
        Ok(out)
    }

    async fn all_resources(&self) -> Result<Vec<ResourceRef>> {
        let rows = sqlx::query(sql::ALL_RESOURCES)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| ResourceRefRow::from_row(r)?.try_into())
            .collect()
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!("{CHANNEL_SELECT} WHERE deleted_at IS NULL"))
            .fetch_all(&self.pool)
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
        sqlx::query("INSERT INTO service_accounts (id, org_id, name, scopes, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)")
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
            "{SA_SELECT} WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name, id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sa_from_row).collect()
    }

    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount> {
        let row = sqlx::query(&format!(
            "{SA_SELECT} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
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
        let done = sqlx::query("UPDATE service_accounts SET name = $1, scopes = $2 WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL")
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
            "UPDATE api_keys SET owner_name = $1 WHERE org_id = $2 \
             AND owner_type = 'service_account' AND owner_id = $3",
        )
        .bind(&sa.name)
        .bind(org_id)
        .bind(&sa.id)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, &audit).await?;
        // The account's name is the owner name of its cached keys.
        notify(&mut tx, FLUSH_ALL).await?;
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
        let done = sqlx::query("UPDATE service_accounts SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL")
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
            "owner_type = 'service_account' AND owner_id = $2",
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
        // One statement, rows in (key, minute) order (see `record_last_used`). The rows
        // come from a map, so no (key, minute) repeats, which ON CONFLICT would refuse.
        let mut sorted: Vec<&UsageRow> = rows.iter().collect();
        sorted.sort_unstable_by(|a, b| (&a.key_id, a.minute).cmp(&(&b.key_id, b.minute)));
        let col = |f: fn(&UsageRow) -> i64| sorted.iter().map(|r| f(r)).collect::<Vec<i64>>();
        let ids: Vec<&str> = sorted.iter().map(|r| r.key_id.as_str()).collect();
        sqlx::query(
            "INSERT INTO usage_minutes (key_id, minute, valid, denied, api) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
             ON CONFLICT (key_id, minute) DO UPDATE SET valid = usage_minutes.valid + excluded.valid, \
             denied = usage_minutes.denied + excluded.denied, api = usage_minutes.api + excluded.api",
        )
        .bind(&ids)
        .bind(col(|r| r.minute))
        .bind(col(|r| r.valid))
        .bind(col(|r| r.denied))
        .bind(col(|r| r.api))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT key_id, minute, valid, denied, api FROM usage_minutes WHERE key_id = $1 AND minute >= $2 AND minute < $3 \
             ORDER BY minute",
        )
        .bind(key_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Create the balance row if missing, then lock it: concurrent leases of one key
        // from several nodes queue here instead of both reading the same balance.
        sqlx::query(
            "INSERT INTO quota_balances (key_id, period, remaining) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(period)
        .bind(quota.limit)
        .execute(&mut *tx)
        .await?;
        let (p, remaining): (i64, i64) = sqlx::query_as(
            "SELECT period, remaining FROM quota_balances WHERE key_id = $1 FOR UPDATE",
        )
        .bind(key_id)
        .fetch_one(&mut *tx)
        .await?;
        let remaining = if p == period { remaining } else { quota.limit };
        let granted = want.min(remaining).max(0);
        sqlx::query("UPDATE quota_balances SET period = $2, remaining = $3 WHERE key_id = $1")
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
            "UPDATE quota_balances SET remaining = remaining + $1 WHERE key_id = $2 AND period = $3",
        )
        .bind(amount)
        .bind(key_id)
        .bind(period)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT period, remaining FROM quota_balances WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some((p, remaining)) if p == period => remaining,
            _ => quota.limit,
        })
    }

    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>> {
        let (owner_type, owner_id) = (owner.type_str(), owner.id());
        let raw: Option<String> = sqlx::query_scalar(
            "SELECT ratelimit FROM owner_limits WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3",
        )
        .bind(org_id)
        .bind(owner_type)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        raw.map(|s| serde_json::from_str(&s).map_err(|_| corrupt("ratelimit", &s)))
            .transpose()
    }

    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT owner_type, owner_id, ratelimit FROM owner_limits WHERE org_id = $1 ORDER BY owner_type, owner_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
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
                    "INSERT INTO owner_limits (org_id, owner_type, owner_id, ratelimit) VALUES ($1, $2, $3, $4) \
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
                    "DELETE FROM owner_limits WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3",
                )
                .bind(org_id)
                .bind(owner_type)
                .bind(owner_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_audit(&mut tx, &audit).await?;
        // Nodes that hold this owner's limit in memory must re-read it.
        notify(&mut tx, FLUSH_ALL).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // Closing the store (graceful shutdown) ends the feed rather than waiting for it.
        listener.ignore_pool_close_event(false);
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Box::new(PgChangeFeed { listener })))
    }

    async fn publish(&self, event: FeedEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        match event {
            FeedEvent::Key(hash) => notify(&mut conn, &to_hex(&hash)).await,
            FeedEvent::All => notify(&mut conn, FLUSH_ALL).await,
            FeedEvent::Resources => notify(&mut conn, RESOURCES).await,
            FeedEvent::Ping => notify(&mut conn, PING).await,
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
