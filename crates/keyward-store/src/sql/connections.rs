//! The integrations vault: OAuth connections and authorization states.
//!
//! Sealed columns arrive sealed (the server encrypts); the store keeps them with their
//! wrapped data key. A connection is `(org_id, id)` for its callers and `uid` for its
//! sealed fields.
//!
//! One refresh at a time per connection, across nodes: [`SqlStore::lease_connection`]
//! takes the connection's lease with one conditional `UPDATE` (a row lock on
//! PostgreSQL, the single writer on SQLite), so of racing callers exactly one gets it;
//! the holder calls the provider and writes its outcome with
//! [`SqlStore::finish_refresh`], which releases the lease in the same statement as the
//! new tokens (a rotated refresh token replaces the old one in that transaction).

use super::audit::insert_audit;
use super::backend::{args, Arg, Backend, SqlStore};
use crate::encode::json;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{ConnectionRow, OAuthStateRow};
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;

const CONNECTION_SELECT: &str = "SELECT uid, org_id, id, provider, workspace_id, status, \
    scopes, token_type, kek_id, wrapped_dek, access_token, refresh_token, expires_at, \
    created_at, updated_at, last_refreshed_at, connected_at, last_error, failures, retry_at, lease_owner, \
    lease_until, generation FROM connections";

const STATE_SELECT: &str =
    "SELECT id, org_id, provider, connection_id, connection_uid, workspace_id, \
    redirect_uri, hosted, scopes, kek_id, wrapped_dek, verifier, actor, created_at, \
    expires_at, used_at FROM oauth_states";

const INSERT_STATE: &str = "INSERT INTO oauth_states (id, state_hash, org_id, provider, \
    connection_id, workspace_id, redirect_uri, hosted, scopes, kek_id, wrapped_dek, verifier, \
    actor, created_at, expires_at, connection_uid) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// A pending connection, unless one with the id exists.
const INSERT_PENDING: &str = "INSERT INTO connections (uid, org_id, id, provider, \
    workspace_id, status, scopes, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7) ON CONFLICT (org_id, id) DO NOTHING";

/// Tokens from a code exchange: active, errors and backoff cleared, any lease ended.
const UPDATE_GRANTED: &str = "UPDATE connections SET status = 'active', scopes = $1, \
    token_type = $2, kek_id = $3, wrapped_dek = $4, access_token = $5, refresh_token = $6, \
        expires_at = $7, updated_at = $8, last_refreshed_at = $8, connected_at = $8, last_error = NULL, failures = 0, \
    retry_at = NULL, lease_owner = NULL, lease_until = NULL, generation = generation + 1 \
    WHERE uid = $9";

/// `$1` new tokens …: written only by the lease's holder. A disconnect or a new code
/// exchange ends the lease, so a refresh still running then writes nothing.
const UPDATE_REFRESHED: &str = "UPDATE connections SET status = 'active', \
    scopes = COALESCE($1, scopes), token_type = $2, kek_id = $3, wrapped_dek = $4, \
    access_token = $5, refresh_token = $6, expires_at = $7, updated_at = $8, \
    last_refreshed_at = $8, last_error = NULL, failures = 0, retry_at = NULL, \
    lease_owner = NULL, lease_until = NULL, generation = generation + 1 \
    WHERE uid = $9 AND lease_owner = $10";

const UPDATE_FAILED: &str = "UPDATE connections SET status = $1, last_error = $2, \
    failures = failures + $3, retry_at = $4, updated_at = $5, lease_owner = NULL, \
    lease_until = NULL \
    WHERE uid = $6 AND lease_owner = $7";

/// Erases a connection's tokens (disconnect): nothing secret stays in the row.
const ERASE_TOKENS: &str = "UPDATE connections SET status = 'revoked', token_type = NULL, \
    kek_id = NULL, wrapped_dek = NULL, access_token = NULL, refresh_token = NULL, \
    expires_at = NULL, updated_at = $1, retry_at = NULL, lease_owner = NULL, \
    lease_until = NULL WHERE org_id = $2 AND id = $3";

/// `$1` org, `$2` connection id: its authorizations, also one being completed (its
/// grant then finds its state gone and writes nothing).
const DROP_OPEN_STATES: &str = "DELETE FROM oauth_states WHERE org_id = $1 AND connection_id = $2";

pub(crate) async fn fetch_connection<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    id: &str,
) -> Result<Connection> {
    let sql = format!("{CONNECTION_SELECT} WHERE org_id = $1 AND id = $2");
    let row: Option<ConnectionRow> = B::fetch_optional(c, &sql, args![org_id, id]).await?;
    row.map(Connection::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

async fn fetch_by_uid<B: Backend>(c: &mut B::Connection, uid: &str) -> Result<Connection> {
    let sql = format!("{CONNECTION_SELECT} WHERE uid = $1");
    let row: Option<ConnectionRow> = B::fetch_optional(c, &sql, args![uid]).await?;
    row.map(Connection::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

fn sealed(s: &Option<Sealed>) -> Option<&[u8]> {
    s.as_ref().map(|s| s.0.as_slice())
}

impl<B: Backend> SqlStore<B> {
    /// One statement in a write transaction of its own; the rows it changed.
    pub(super) async fn write_one(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        let mut tx = B::begin_write(&self.writer).await?;
        let n = B::execute(&mut tx, sql, args).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) async fn create_oauth_state(
        &self,
        s: NewOAuthState,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        let mut tx = self.begin_change(&audit).await?;
        match fetch_connection::<B>(&mut tx, &s.org_id, &s.connection_id).await {
            Ok(c) if c.provider != s.provider => {
                return Err(StoreError::Conflict(Conflict::ConnectionProvider))
            }
            // A connection stays in its workspace: authorizing it from another would
            // hand its next tokens to keys of that workspace.
            Ok(c) if c.workspace_id != s.workspace_id => {
                return Err(StoreError::Conflict(Conflict::ConnectionWorkspace))
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let args = args![
            &s.connection_uid,
            &s.org_id,
            &s.connection_id,
            &s.provider,
            &s.workspace_id,
            json(&s.scopes),
            s.created_at,
        ];
        B::execute(&mut tx, INSERT_PENDING, args).await?;
        let connection = fetch_connection::<B>(&mut tx, &s.org_id, &s.connection_id).await?;
        let args = args![
            &s.id,
            &s.state_hash,
            &s.org_id,
            &s.provider,
            &s.connection_id,
            &s.workspace_id,
            &s.redirect_uri,
            s.hosted,
            json(&s.scopes),
            &s.dek.kek_id,
            s.dek.bytes.as_slice(),
            sealed(&s.verifier),
            json(&s.actor),
            s.created_at,
            s.expires_at,
            &connection.uid,
        ];
        B::execute(&mut tx, INSERT_STATE, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(connection)
    }

    pub(crate) async fn find_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
    ) -> Result<OAuthState> {
        let mut c = self.reader.acquire().await?;
        let sql = format!("{STATE_SELECT} WHERE state_hash = $1");
        let row: Option<OAuthStateRow> = B::fetch_optional(&mut c, &sql, args![state_hash]).await?;
        row.map(OAuthState::try_from)
            .transpose()?
            .filter(|s| org_id.is_none_or(|o| o == s.org_id))
            .ok_or(StoreError::NotFound)
    }

    pub(crate) async fn take_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<OAuthState> {
        let mut tx = B::begin_write(&self.writer).await?;
        let sql = format!("{STATE_SELECT} WHERE state_hash = $1");
        let row: Option<OAuthStateRow> =
            B::fetch_optional(&mut tx, &sql, args![state_hash]).await?;
        let state = row
            .map(OAuthState::try_from)
            .transpose()?
            // Another organization's state is none of the caller's: not even spent.
            .filter(|s| org_id.is_none_or(|o| o == s.org_id))
            .ok_or(StoreError::NotFound)?;
        if state.used_at.is_some() {
            return Err(StoreError::Conflict(Conflict::OAuthStateUsed));
        }
        // Spent even when expired, so it cannot be tried again.
        let marked = B::execute(
            &mut tx,
            "UPDATE oauth_states SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
            args![at, &state.id],
        )
        .await?;
        if marked != 1 {
            return Err(StoreError::Conflict(Conflict::OAuthStateUsed));
        }
        tx.commit().await?;
        if state.expires_at <= at {
            return Err(StoreError::Conflict(Conflict::OAuthStateExpired));
        }
        Ok(state)
    }

    pub(crate) async fn grant_connection(
        &self,
        g: ConnectionGrant,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        let mut tx = self.begin_change(&audit).await?;
        let t = &g.tokens;
        match fetch_connection::<B>(&mut tx, &g.org_id, &g.id).await {
            Ok(c) if c.provider != g.provider => {
                return Err(StoreError::Conflict(Conflict::ConnectionProvider))
            }
            Ok(c) if c.workspace_id != g.workspace_id => {
                return Err(StoreError::Conflict(Conflict::ConnectionWorkspace))
            }
            Ok(c) if c.uid != g.uid => {
                return Err(StoreError::Conflict(Conflict::ChangedMeanwhile))
            }
            Ok(_) => {}
            // Deleted after the authorization started: it is not made again.
            Err(StoreError::NotFound) => return Err(StoreError::Gone("connection")),
            Err(e) => return Err(e),
        }
        // Disconnected (or deleted) while the code was being exchanged: its state is gone.
        let state = "SELECT id FROM oauth_states WHERE id = $1";
        if !super::change::exists::<B>(&mut tx, state, args![&g.state_id]).await? {
            return Err(StoreError::Gone("authorization"));
        }
        let args = args![
            json(&g.scopes),
            &t.token_type,
            &t.dek.kek_id,
            t.dek.bytes.as_slice(),
            t.access_token.0.as_slice(),
            sealed(&t.refresh_token),
            t.expires_at,
            g.at,
            &g.uid,
        ];
        B::execute(&mut tx, UPDATE_GRANTED, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let connection = fetch_by_uid::<B>(&mut tx, &g.uid).await?;
        tx.commit().await?;
        Ok(connection)
    }

    pub(crate) async fn note_connection_error(
        &self,
        org_id: &str,
        id: &str,
        error: ConnectionError,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        let mut tx = B::begin_write(&self.writer).await?;
        B::serialize_change(&mut tx, &audit).await?;
        let sql = "UPDATE connections SET last_error = $1, updated_at = $2 \
            WHERE org_id = $3 AND id = $4";
        if B::execute(&mut tx, sql, args![json(&error), error.at, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let connection = fetch_connection::<B>(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(connection)
    }

    pub(crate) async fn get_connection(&self, org_id: &str, id: &str) -> Result<Connection> {
        let mut c = self.reader.acquire().await?;
        fetch_connection::<B>(&mut c, org_id, id).await
    }

    pub(crate) async fn list_connections(
        &self,
        org_id: &str,
        f: ConnectionFilter,
    ) -> Result<Vec<Connection>> {
        let mut sql = format!("{CONNECTION_SELECT} WHERE org_id = $1");
        let within = f.within_workspaces.as_ref().map(json);
        let mut args: Vec<Arg<'_>> = vec![org_id.into()];
        let param = |value: Arg<'static>, args: &mut Vec<Arg<'_>>| {
            args.push(value);
            format!("${}", args.len())
        };
        if let Some(p) = &f.provider {
            let p = param(p.clone().into(), &mut args);
            sql.push_str(&format!(" AND provider = {p}"));
        }
        if let Some(s) = f.status {
            let s = param(s.as_str().to_owned().into(), &mut args);
            sql.push_str(&format!(" AND status = {s}"));
        }
        if let Some(w) = &f.workspace_id {
            let w = param(w.clone().into(), &mut args);
            sql.push_str(&format!(" AND workspace_id = {w}"));
        }
        if let Some(within) = within {
            let w = param(within.into(), &mut args);
            sql.push_str(&format!(
                " AND workspace_id IN ({})",
                B::json_elements(&w, None)
            ));
        }
        if let Some(after) = &f.after {
            let a = param(after.clone().into(), &mut args);
            sql.push_str(&format!(" AND id > {a}"));
        }
        let l = param(i64::from(f.limit).into(), &mut args);
        sql.push_str(&format!(" ORDER BY id LIMIT {l}"));
        let mut c = self.reader.acquire().await?;
        let rows: Vec<ConnectionRow> = B::fetch_all(&mut c, &sql, &args).await?;
        rows.into_iter().map(Connection::try_from).collect()
    }

    pub(crate) async fn lease_connection(
        &self,
        uid: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Connection>> {
        let mut tx = B::begin_write(&self.writer).await?;
        let sql = "UPDATE connections SET lease_owner = $1, lease_until = $2 \
            WHERE uid = $3 AND (lease_until IS NULL OR lease_until <= $4)";
        if B::execute(&mut tx, sql, args![owner, until, uid, now]).await? != 1 {
            return Ok(None);
        }
        let connection = fetch_by_uid::<B>(&mut tx, uid).await?;
        tx.commit().await?;
        Ok(Some(connection))
    }

    pub(crate) async fn release_lease(&self, uid: &str, owner: &str) -> Result<()> {
        let sql = "UPDATE connections SET lease_owner = NULL, lease_until = NULL \
            WHERE uid = $1 AND lease_owner = $2";
        self.write_one(sql, args![uid, owner]).await.map(drop)
    }

    pub(crate) async fn finish_refresh(
        &self,
        uid: &str,
        owner: &str,
        outcome: RefreshOutcome,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        let mut tx = B::begin_write(&self.writer).await?;
        B::serialize_change(&mut tx, &audit).await?;
        let at = audit.at;
        let written = match &outcome {
            RefreshOutcome::Refreshed { tokens: t, scopes } => {
                let args = args![
                    scopes.as_ref().map(json),
                    &t.token_type,
                    &t.dek.kek_id,
                    t.dek.bytes.as_slice(),
                    t.access_token.0.as_slice(),
                    sealed(&t.refresh_token),
                    t.expires_at,
                    at,
                    uid,
                    owner,
                ];
                B::execute(&mut tx, UPDATE_REFRESHED, args).await?
            }
            RefreshOutcome::Refused(error) => {
                let args = args![
                    ConnectionStatus::NeedsReauth.as_str(),
                    json(error),
                    0i64,
                    None::<DateTime<Utc>>,
                    at,
                    uid,
                    owner,
                ];
                B::execute(&mut tx, UPDATE_FAILED, args).await?
            }
            RefreshOutcome::Failed { error, retry_at } => {
                let args = args![
                    ConnectionStatus::RefreshFailing.as_str(),
                    json(error),
                    1i64,
                    Some(*retry_at),
                    at,
                    uid,
                    owner,
                ];
                B::execute(&mut tx, UPDATE_FAILED, args).await?
            }
        };
        if written != 1 {
            // Gone (deleted, disconnected meanwhile: its row has no lease) or taken over.
            return match fetch_by_uid::<B>(&mut tx, uid).await {
                Ok(_) => Err(StoreError::Conflict(Conflict::LeaseLost)),
                Err(e) => Err(e),
            };
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let connection = fetch_by_uid::<B>(&mut tx, uid).await?;
        tx.commit().await?;
        Ok(connection)
    }

    pub(crate) async fn revoke_connection(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        let mut tx = self.begin_change(&audit).await?;
        if B::execute(&mut tx, ERASE_TOKENS, args![audit.at, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        // An authorization still open would bring the tokens back.
        B::execute(&mut tx, DROP_OPEN_STATES, args![org_id, id]).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let connection = fetch_connection::<B>(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(connection)
    }

    pub(crate) async fn delete_connection(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "DELETE FROM connections WHERE org_id = $1 AND id = $2";
        if B::execute(&mut tx, sql, args![org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        B::execute(&mut tx, DROP_OPEN_STATES, args![org_id, id]).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn connections_due(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        let sql = format!(
            "{CONNECTION_SELECT} WHERE status IN ('active', 'refresh_failing') \
             AND refresh_token IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= $1 \
             AND (retry_at IS NULL OR retry_at <= $2) \
             AND (lease_until IS NULL OR lease_until <= $2) \
             AND provider IN ({}) \
             AND org_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL) \
             ORDER BY expires_at LIMIT $3",
            B::json_elements("$4", None)
        );
        let mut c = self.reader.acquire().await?;
        let args = args![before, now, i64::from(limit), json(providers)];
        let rows: Vec<ConnectionRow> = B::fetch_all(&mut c, &sql, args).await?;
        rows.into_iter().map(Connection::try_from).collect()
    }

    pub(crate) async fn purge_oauth_states(&self, before: DateTime<Utc>) -> Result<u64> {
        let sql = "DELETE FROM oauth_states WHERE expires_at <= $1";
        self.write_one(sql, args![before]).await
    }

    pub(crate) async fn record_event(&self, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn kek_checks(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut c = self.reader.acquire().await?;
        let sql = "SELECT kek_id, sealed FROM kek_checks ORDER BY kek_id";
        B::fetch_all(&mut c, sql, args![]).await
    }

    pub(crate) async fn register_kek(
        &self,
        kek_id: &str,
        sealed: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "INSERT INTO kek_checks (kek_id, sealed, created_at) VALUES ($1, $2, $3) \
            ON CONFLICT (kek_id) DO NOTHING";
        Ok(self.write_one(sql, args![kek_id, sealed, at]).await? == 1)
    }

    pub(crate) async fn forget_kek(&self, kek_id: &str) -> Result<bool> {
        let sql = "DELETE FROM kek_checks WHERE kek_id = $1";
        Ok(self.write_one(sql, args![kek_id]).await? == 1)
    }

    pub(crate) async fn kek_usage(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT kek_id, COUNT(*) FROM (SELECT kek_id FROM connections \
            WHERE kek_id IS NOT NULL UNION ALL SELECT kek_id FROM oauth_states \
            UNION ALL SELECT kek_id FROM webhook_endpoints) sealed \
            GROUP BY kek_id ORDER BY kek_id";
        let mut c = self.reader.acquire().await?;
        B::fetch_all(&mut c, sql, args![]).await
    }

    pub(crate) async fn sealed_records(
        &self,
        not_kek: &str,
        limit: u32,
    ) -> Result<Vec<SealedRecord>> {
        let mut c = self.reader.acquire().await?;
        let mut out = Vec::new();
        for (table, pk) in SEALED_TABLES {
            let sql = format!(
                "SELECT {pk}, kek_id, wrapped_dek FROM {table} \
                 WHERE kek_id IS NOT NULL AND wrapped_dek IS NOT NULL AND kek_id <> $1 \
                 ORDER BY {pk} LIMIT $2"
            );
            let rows: Vec<(String, String, Vec<u8>)> =
                B::fetch_all(&mut c, &sql, args![not_kek, i64::from(limit)]).await?;
            out.extend(rows.into_iter().map(|(id, kek_id, bytes)| SealedRecord {
                table,
                id,
                dek: WrappedDek { kek_id, bytes },
            }));
        }
        Ok(out)
    }

    pub(crate) async fn rewrap_record(&self, r: &SealedRecord, new: &WrappedDek) -> Result<bool> {
        let pk = SEALED_TABLES
            .iter()
            .find(|(t, _)| *t == r.table)
            .map(|(_, pk)| *pk)
            .ok_or(StoreError::InvalidInput("sealed table"))?;
        let sql = format!(
            "UPDATE {} SET kek_id = $1, wrapped_dek = $2 \
             WHERE {pk} = $3 AND kek_id = $4 AND wrapped_dek = $5",
            r.table
        );
        let args = args![
            &new.kek_id,
            new.bytes.as_slice(),
            &r.id,
            &r.dek.kek_id,
            r.dek.bytes.as_slice(),
        ];
        Ok(self.write_one(&sql, args).await? == 1)
    }
}

/// Every table with sealed columns, by its id column: what key rotation re-wraps and
/// what a KEK is still needed for.
pub(crate) const SEALED_TABLES: [(&str, &str); 3] = [
    ("connections", "uid"),
    ("oauth_states", "id"),
    ("webhook_endpoints", "id"),
];
