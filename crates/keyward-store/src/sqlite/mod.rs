//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! the process instead of failing with `SQLITE_BUSY`, and a check-then-insert inside
//! one transaction cannot race another. Reads use their own pool and run in parallel.

use crate::*;
use chrono::{DateTime, Utc};
use keyward_core::{key::Environment, KeyHash, KeyKind, Owner, PermissionSet, Scope};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

const KEY_SELECT: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.kind, k.environment, k.name, k.prefix, k.key_hash, \
    k.owner_type, k.owner_id, k.owner_name, k.permissions, k.scope, k.metadata, k.created_at, k.created_by, \
    k.expires_at, k.last_used_at, k.revoked_at, k.revoked_by, k.rotated_from, k.rotated_to \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id";

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self> {
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

    /// A consistent copy of the live database in one file (`VACUUM INTO`).
    pub async fn backup_to(&self, path: &str) -> Result<()> {
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unreadable {what} in the database: {value:?}").into())
}

fn owner_columns(owner: &Option<Owner>) -> (Option<&'static str>, Option<&str>, Option<&str>) {
    match owner {
        None => (None, None, None),
        Some(o @ Owner::External { id }) => (Some(o.type_str()), Some(id), None),
        Some(o) => (Some(o.type_str()), Some(o.id()), Some(o.label())),
    }
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord> {
    let kind: String = row.try_get("kind")?;
    let env: String = row.try_get("environment")?;
    let permissions: String = row.try_get("permissions")?;
    let scope: String = row.try_get("scope")?;
    let metadata: Option<String> = row.try_get("metadata")?;
    let owner_type: Option<String> = row.try_get("owner_type")?;
    let owner_id: Option<String> = row.try_get("owner_id")?;
    let owner_name: Option<String> = row.try_get("owner_name")?;
    let owner = match (owner_type.as_deref(), owner_id) {
        (Some("user"), Some(id)) => Some(Owner::User {
            id,
            name: owner_name.unwrap_or_default(),
        }),
        (Some("service_account"), Some(id)) => Some(Owner::ServiceAccount {
            id,
            name: owner_name.unwrap_or_default(),
        }),
        (Some("external"), Some(id)) => Some(Owner::External { id }),
        (None, _) => None,
        (Some(other), _) => return Err(corrupt("owner type", other)),
    };
    Ok(KeyRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        kind: KeyKind::parse(&kind).ok_or_else(|| corrupt("key kind", &kind))?,
        environment: Environment::parse(&env).ok_or_else(|| corrupt("environment", &env))?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        hash: KeyHash::from_bytes(&row.try_get::<Vec<u8>, _>("key_hash")?)
            .ok_or_else(|| corrupt("key hash", "…"))?,
        owner,
        permissions: serde_json::from_str::<PermissionSet>(&permissions)
            .map_err(|_| corrupt("permissions", &permissions))?,
        scope: serde_json::from_str::<Scope>(&scope).map_err(|_| corrupt("scope", &scope))?,
        metadata: metadata
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("metadata", "…"))?,
        created_at: from_ms(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        expires_at: opt_ms(row.try_get("expires_at")?),
        last_used_at: opt_ms(row.try_get("last_used_at")?),
        revoked_at: opt_ms(row.try_get("revoked_at")?),
        revoked_by: row.try_get("revoked_by")?,
        rotated_from: row.try_get("rotated_from")?,
        rotated_to: row.try_get("rotated_to")?,
    })
}

async fn insert_key(conn: &mut sqlx::SqliteConnection, k: &NewKey) -> Result<()> {
    let (owner_type, owner_id, owner_name) = owner_columns(&k.owner);
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, kind, environment, name, prefix, key_hash, owner_type, owner_id, \
         owner_name, permissions, scope, metadata, created_at, created_by, expires_at, rotated_from) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut *conn)
    .await?;
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
        let mut tx = self.writer.begin().await?;
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

    async fn list_keys(&self, org_id: &str, page: &PageRequest) -> Result<Page<KeyRecord>> {
        let limit = i64::from(page.limit);
        let rows = match page.cursor.as_deref() {
            None => {
                let sql = format!(
                    "{KEY_SELECT} WHERE k.org_id = ? ORDER BY k.created_at DESC, k.id DESC LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(org_id)
                    .bind(limit + 1)
                    .fetch_all(&self.reader)
                    .await?
            }
            Some(c) => {
                let (t, id) = parse_key_cursor(c).ok_or_else(bad_cursor)?;
                let sql = format!(
                    "{KEY_SELECT} WHERE k.org_id = ? AND (k.created_at < ? OR (k.created_at = ? AND k.id < ?)) \
                     ORDER BY k.created_at DESC, k.id DESC LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(org_id)
                    .bind(t)
                    .bind(t)
                    .bind(id)
                    .bind(limit + 1)
                    .fetch_all(&self.reader)
                    .await?
            }
        };
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
        let mut tx = self.writer.begin().await?;
        insert_key(&mut tx, &key).await?;
        insert_audit(&mut tx, &audit).await?;
        let record = fetch_key(&mut tx, &key.org_id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        for key in keys {
            insert_key(&mut tx, key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn rename_key(
        &self,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.writer.begin().await?;
        let current = fetch_key(&mut tx, org_id, id).await?;
        if current.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        sqlx::query("UPDATE api_keys SET name = ? WHERE org_id = ? AND id = ?")
            .bind(name)
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
    ) -> Result<(KeyRecord, bool)> {
        let mut tx = self.writer.begin().await?;
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
        Ok((record, done))
    }

    async fn rotate_key(&self, r: Rotation) -> Result<(KeyRecord, KeyRecord)> {
        let mut tx = self.writer.begin().await?;
        let old = fetch_key(&mut tx, &r.org_id, &r.old_id).await?;
        if old.revoked_at.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyRevoked));
        }
        if old.rotated_to.is_some() {
            return Err(StoreError::Conflict(Conflict::KeyAlreadyRotated));
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
        for event in &r.audit {
            insert_audit(&mut tx, event).await?;
        }
        let old = fetch_key(&mut tx, &r.org_id, &r.old_id).await?;
        let new = fetch_key(&mut tx, &r.org_id, &r.replacement.id).await?;
        tx.commit().await?;
        Ok((old, new))
    }

    async fn record_last_used(&self, uses: &[(String, DateTime<Utc>)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(ms(*at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, org_id: &str, page: &PageRequest) -> Result<Page<AuditEvent>> {
        let before = match page.cursor.as_deref() {
            None => i64::MAX,
            Some(c) => c.parse::<i64>().map_err(|_| bad_cursor())?,
        };
        let limit = i64::from(page.limit);
        let rows = sqlx::query(
            "SELECT id, at, actor_type, actor_id, actor_name, actor_key_id, action, target_type, target_id, \
             source_ip, details FROM audit_log WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(org_id)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.reader)
        .await?;
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

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
