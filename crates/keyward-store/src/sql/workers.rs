//! Workers (issue 17): one row per worker (a name in a workspace), written by its
//! registrations, its connections and its heartbeats.
//!
//! A registration reads the worker of its name and writes over it, or inserts it, in
//! one write transaction (the single writer on SQLite, a row lock on PostgreSQL). Two
//! registrations of a new name racing on PostgreSQL both find no row to lock; the
//! insert is `ON CONFLICT DO NOTHING` on the name's unique constraint, so the second
//! waits for the first's commit, inserts nothing, and then reads (and locks) the row
//! the first made, going on as a registration of an existing worker.
//!
//! Connections and heartbeats are single conditional statements on the worker's row:
//! a heartbeat or a disconnect of a connection that was replaced changes nothing.

use super::audit::insert_audit;
use super::backend::{args, Arg, Backend, SqlStore};
use super::keys::COUNTED_WORKER_KEYS;
use crate::encode::{json, ms};
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::WorkerRow;
use crate::store::WorkerStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::worker::{MAX_WORKERS_PER_KEY, MAX_WORKERS_PER_WORKSPACE};

/// A worker with its key (`w`, `k`).
const WORKER_SELECT: &str = "SELECT w.id, w.org_id, w.workspace_id, w.name, w.host, w.os, \
    w.version, w.labels, w.heartbeat_interval_secs, w.forwards, w.instance, w.registered_at, \
    w.connection, w.connected_since, w.last_heartbeat_at, w.stopped_at, \
    k.id AS key_id, k.name AS key_name, k.prefix AS key_prefix, k.owner_id AS key_owner_id, \
    k.enabled AS key_enabled, k.expires_at AS key_expires_at, k.revoked_at AS key_revoked_at \
    FROM workers w JOIN api_keys k ON k.id = w.key_id";

/// A new name inserts; a name taken meanwhile (a racing registration committed it)
/// inserts nothing, and the registration goes on as an update. A taken id is an error
/// (`Conflict::Duplicate`).
const INSERT_WORKER: &str = "INSERT INTO workers (id, org_id, workspace_id, key_id, name, \
    host, os, version, labels, heartbeat_interval_secs, forwards, instance, registered_at, \
    connection, connected_since, last_heartbeat_at, stopped_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $13, NULL) \
    ON CONFLICT (org_id, workspace_id, name) DO NOTHING";

/// A registration of an existing worker: what the daemon says of itself, its key, and
/// a fresh heartbeat; its id, first registration and connection stay.
const UPDATE_REGISTRATION: &str = "UPDATE workers SET host = $1, os = $2, version = $3, \
    labels = $4, key_id = $5, heartbeat_interval_secs = $6, forwards = $7, instance = $8, \
    last_heartbeat_at = $9, stopped_at = NULL WHERE id = $10";

/// What a registration reads of the worker of its name.
#[derive(sqlx::FromRow)]
struct Existing {
    id: String,
    connection: Option<String>,
    instance: String,
    last_heartbeat_at: i64,
    heartbeat_interval_secs: i64,
    stopped_at: Option<i64>,
    key_id: String,
}

/// Not offline by the status rule: not stopped, and heard from within five of its
/// intervals (`$1` now, unix ms).
fn live(now: &str) -> String {
    format!("stopped_at IS NULL AND last_heartbeat_at > {now} - heartbeat_interval_secs * 5000")
}

/// Attempts a registration makes at most: a row it could neither insert nor find was
/// inserted and deleted between its statements.
const REGISTER_TRIES: usize = 3;

/// Labels as stored: lowercased, sorted, without repeats (the server parses them so
/// already; kept that way whatever a caller passes).
fn stored_labels(labels: &[String]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|l| l.to_lowercase()).collect();
    labels.sort();
    labels.dedup();
    json(&labels)
}

fn interval_arg(secs: u32) -> i64 {
    i64::from(secs)
}

async fn fetch_worker<B: Backend>(c: &mut B::Connection, id: &str) -> Result<WorkerRecord> {
    let sql = format!("{WORKER_SELECT} WHERE w.id = $1");
    let row: Option<WorkerRow> = B::fetch_optional(c, &sql, args![id]).await?;
    row.map(WorkerRecord::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

async fn fetch_org_worker<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    id: &str,
) -> Result<WorkerRecord> {
    let sql = format!("{WORKER_SELECT} WHERE w.org_id = $1 AND w.id = $2");
    let row: Option<WorkerRow> = B::fetch_optional(c, &sql, args![org_id, id]).await?;
    row.map(WorkerRecord::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl<B: Backend> WorkerStore for SqlStore<B> {
    async fn register_worker(
        &self,
        w: NewWorker,
        busy_since: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Registered> {
        let labels = stored_labels(&w.labels);
        let mut tx = B::begin_write(&self.writer).await?;
        let find = format!(
            "SELECT id, connection, instance, last_heartbeat_at, heartbeat_interval_secs, \
             stopped_at, key_id FROM workers \
             WHERE org_id = $1 AND workspace_id = $2 AND name = $3{}",
            B::FOR_UPDATE
        );
        let owner_sql = "SELECT owner_id FROM api_keys WHERE id = $1";
        let owner: Option<(Option<String>,)> =
            B::fetch_optional(&mut tx, owner_sql, args![&w.key_id]).await?;
        let new_owner = owner.and_then(|(o,)| o);
        let now = ms(w.at);
        for _ in 0..REGISTER_TRIES {
            let existing: Option<Existing> =
                B::fetch_optional(&mut tx, &find, args![&w.org_id, &w.workspace_id, &w.name])
                    .await?;
            if let Some(e) = existing {
                // Another run of the daemon holds it and is alive (by its own interval,
                // or the caller's, whichever is longer): not taken over.
                let its_own = now - e.heartbeat_interval_secs.max(1) * 2000;
                if e.connection.is_some()
                    && e.instance != w.instance
                    && e.last_heartbeat_at > ms(busy_since).min(its_own)
                {
                    return Err(StoreError::Conflict(Conflict::InUse));
                }
                // Another person's worker that is not offline stays theirs.
                let offline = e.stopped_at.is_some()
                    || e.last_heartbeat_at <= now - e.heartbeat_interval_secs.max(1) * 5000;
                let theirs: Option<(Option<String>,)> =
                    B::fetch_optional(&mut tx, owner_sql, args![&e.key_id]).await?;
                if theirs.and_then(|(o,)| o) != new_owner && !offline {
                    return Err(StoreError::Conflict(Conflict::InUse));
                }
                let args = args![
                    &w.host,
                    &w.os,
                    &w.version,
                    &labels,
                    &w.key_id,
                    interval_arg(w.heartbeat_interval_secs),
                    w.forwards,
                    &w.instance,
                    w.at,
                    &e.id,
                ];
                B::execute(&mut tx, UPDATE_REGISTRATION, args).await?;
                if e.key_id != w.key_id {
                    // Now another key's (a rotation, or another person's machine).
                    let mut rekeyed = audit.clone();
                    rekeyed.target_id = e.id.clone();
                    rekeyed.details["previous_key_id"] = e.key_id.clone().into();
                    rekeyed.details["key_id"] = w.key_id.clone().into();
                    insert_audit::<B>(&mut tx, &rekeyed).await?;
                }
                let record = fetch_worker::<B>(&mut tx, &e.id).await?;
                tx.commit().await?;
                return Ok(Registered::Updated(record));
            }
            // A new row: within the limits (a leaked key cannot fill the table). What is
            // offline still counts, but the registering person's own longest-silent
            // offline worker (of this key, or of any of their keys in the workspace)
            // makes room, audited, so ephemeral machines with fresh names (CI runners,
            // pods) never hit the wall; nobody else's worker is ever evicted.
            for (limit, max, scope, value) in [
                (
                    "workers per key",
                    MAX_WORKERS_PER_KEY,
                    "key_id = $1",
                    &w.key_id,
                ),
                (
                    "workers per workspace",
                    MAX_WORKERS_PER_WORKSPACE,
                    "workspace_id = $1",
                    &w.workspace_id,
                ),
            ] {
                let sql = format!("SELECT COUNT(*) AS n FROM workers WHERE {scope}");
                let row: Option<(i64,)> = B::fetch_optional(&mut tx, &sql, args![value]).await?;
                let total = row.map_or(0, |(n,)| n);
                if total < i64::from(max) {
                    continue;
                }
                let sql = format!(
                    "SELECT id, name, host FROM workers WHERE {scope} AND NOT ({}) \
                     AND workspace_id = $3 \
                     AND key_id IN (SELECT id FROM api_keys WHERE owner_id = $4) \
                     ORDER BY last_heartbeat_at, registered_at, id LIMIT 1",
                    live("$2")
                );
                let oldest: Option<(String, String, String)> = B::fetch_optional(
                    &mut tx,
                    &sql,
                    args![value, now, &w.workspace_id, new_owner.as_deref()],
                )
                .await?;
                let Some((evicted, name, host)) = oldest else {
                    let sql = format!(
                        "SELECT COUNT(*) AS n FROM workers WHERE {scope} AND {}",
                        live("$2")
                    );
                    let live: Option<(i64,)> =
                        B::fetch_optional(&mut tx, &sql, args![value, now]).await?;
                    return Err(StoreError::LimitReached {
                        limit,
                        max,
                        current: live.map_or(0, |(n,)| n) as u32,
                    });
                };
                B::execute(
                    &mut tx,
                    "DELETE FROM workers WHERE id = $1",
                    args![&evicted],
                )
                .await?;
                let mut removal = audit.clone();
                removal.action = "worker.remove".into();
                removal.target_id = evicted;
                removal.details = serde_json::json!({
                    "name": name,
                    "workspace_id": w.workspace_id,
                    "host": host,
                    "reason": format!("offline; made room for the same person's new worker {:?} ({limit} limit)", w.name),
                    "automatic": true,
                });
                insert_audit::<B>(&mut tx, &removal).await?;
            }
            let args = args![
                &w.id,
                &w.org_id,
                &w.workspace_id,
                &w.key_id,
                &w.name,
                &w.host,
                &w.os,
                &w.version,
                &labels,
                interval_arg(w.heartbeat_interval_secs),
                w.forwards,
                &w.instance,
                w.at,
            ];
            if B::execute(&mut tx, INSERT_WORKER, args).await? == 1 {
                insert_audit::<B>(&mut tx, &audit).await?;
                let record = fetch_worker::<B>(&mut tx, &w.id).await?;
                tx.commit().await?;
                return Ok(Registered::Created(record));
            }
            // A racing registration inserted the name first (PostgreSQL): read it again.
        }
        Err(StoreError::Conflict(Conflict::ChangedMeanwhile))
    }

    async fn get_worker(&self, org_id: &str, id: &str) -> Result<WorkerRecord> {
        let mut c = self.reader.acquire().await?;
        fetch_org_worker::<B>(&mut c, org_id, id).await
    }

    async fn find_worker(&self, id: &str) -> Result<WorkerRecord> {
        let mut c = self.reader.acquire().await?;
        fetch_worker::<B>(&mut c, id).await
    }

    async fn list_workers(&self, org_id: &str, f: WorkerFilter) -> Result<Vec<WorkerRecord>> {
        if f.workspaces.as_ref().is_some_and(Vec::is_empty) || f.limit == 0 {
            return Ok(vec![]);
        }
        let mut sql = format!("{WORKER_SELECT} WHERE w.org_id = $1");
        let mut args: Vec<Arg<'_>> = vec![org_id.into()];
        if let Some(within) = f.workspaces.as_ref().map(json) {
            args.push(within.into());
            let p = format!("${}", args.len());
            sql.push_str(&format!(
                " AND w.workspace_id IN ({})",
                B::json_elements(&p, None)
            ));
        }
        if let Some(label) = &f.label {
            args.push(label.to_lowercase().into());
            sql.push_str(&format!(
                " AND ${} IN ({})",
                args.len(),
                B::json_elements("w.labels", None)
            ));
        }
        if let Some(after) = &f.after {
            args.push(after.into());
            sql.push_str(&format!(" AND w.id > ${}", args.len()));
        }
        args.push(i64::from(f.limit).into());
        sql.push_str(&format!(" ORDER BY w.id LIMIT ${}", args.len()));
        let rows: Vec<WorkerRow> = self.read(&sql, &args).await?;
        rows.into_iter().map(WorkerRecord::try_from).collect()
    }

    async fn connect_worker(
        &self,
        id: &str,
        connection: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let mut tx = B::begin_write(&self.writer).await?;
        let sql = format!(
            "SELECT connection FROM workers WHERE id = $1{}",
            B::FOR_UPDATE
        );
        let before: Option<(Option<String>,)> = B::fetch_optional(&mut tx, &sql, args![id]).await?;
        let Some((replaced,)) = before else {
            return Err(StoreError::NotFound);
        };
        let sql = "UPDATE workers SET connection = $1, connected_since = $2, \
            last_heartbeat_at = $2, stopped_at = NULL WHERE id = $3";
        B::execute(&mut tx, sql, args![connection, at, id]).await?;
        tx.commit().await?;
        Ok(replaced)
    }

    async fn heartbeat_worker(
        &self,
        id: &str,
        connection: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "UPDATE workers SET last_heartbeat_at = $1 WHERE id = $2 AND connection = $3";
        Ok(self.write_one(sql, args![at, id, connection]).await? == 1)
    }

    async fn disconnect_worker(
        &self,
        id: &str,
        connection: &str,
        at: DateTime<Utc>,
        stopped: bool,
    ) -> Result<bool> {
        let n = if stopped {
            let sql = "UPDATE workers SET connection = NULL, stopped_at = $1 \
                WHERE id = $2 AND connection = $3";
            self.write_one(sql, args![at, id, connection]).await?
        } else {
            let sql = "UPDATE workers SET connection = NULL WHERE id = $1 AND connection = $2";
            self.write_one(sql, args![id, connection]).await?
        };
        Ok(n == 1)
    }

    async fn remove_worker(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<WorkerRecord> {
        let mut tx = B::begin_write(&self.writer).await?;
        let sql = format!(
            "SELECT id FROM workers WHERE org_id = $1 AND id = $2{}",
            B::FOR_UPDATE
        );
        let locked: Option<(String,)> = B::fetch_optional(&mut tx, &sql, args![org_id, id]).await?;
        if locked.is_none() {
            return Err(StoreError::NotFound);
        }
        let record = fetch_org_worker::<B>(&mut tx, org_id, id).await?;
        let sql = "DELETE FROM workers WHERE org_id = $1 AND id = $2";
        if B::execute(&mut tx, sql, args![org_id, id]).await? != 1 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn purge_workers(
        &self,
        before: DateTime<Utc>,
        limit: u32,
        audit: &(dyn for<'r> Fn(&'r WorkerRecord) -> NewAuditEvent + Send + Sync),
    ) -> Result<Vec<WorkerRecord>> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let mut tx = B::begin_write(&self.writer).await?;
        // Locked (PostgreSQL) so a heartbeat or registration racing the purge either
        // commits first (and the row no longer qualifies when re-read below) or waits
        // and then finds the row gone.
        let sql = format!(
            "SELECT id FROM workers WHERE last_heartbeat_at < $1 ORDER BY last_heartbeat_at, id \
             LIMIT $2{}",
            B::FOR_UPDATE
        );
        let ids: Vec<(String,)> =
            B::fetch_all(&mut tx, &sql, args![before, i64::from(limit)]).await?;
        let mut purged = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let sql = "DELETE FROM workers WHERE id = $1 AND last_heartbeat_at < $2";
            let record = match fetch_worker::<B>(&mut tx, &id).await {
                Ok(r) => r,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            if B::execute(&mut tx, sql, args![&id, before]).await? == 1 {
                insert_audit::<B>(&mut tx, &audit(&record)).await?;
                purged.push(record);
            }
        }
        tx.commit().await?;
        Ok(purged)
    }

    async fn count_active_worker_keys(
        &self,
        org_id: &str,
        workspace_id: &str,
        owner_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u32> {
        let sql = format!("SELECT COUNT(*) {COUNTED_WORKER_KEYS} AND workspace_id = $4");
        let count: Option<(i64,)> = self
            .read_one(&sql, args![org_id, owner_id, now, workspace_id])
            .await?;
        Ok(count.map_or(0, |(n,)| u32::try_from(n).unwrap_or(u32::MAX)))
    }
}
