//! Console sessions: stored by the hash of their cookie value, acting in one
//! organization the person is a member of, revoked (never deleted) when the person signs
//! out, sets a password, leaves the organization or the organization is deleted.
//!
//! Creating a session and switching its organization check the membership in their
//! transaction, after locking the organization's row (`FOR UPDATE` on PostgreSQL, the
//! single writer on SQLite), so they serialize with removing the member and deleting the
//! organization, which revoke the sessions in theirs. Sessions write no audit events.

use super::backend::{args, Backend, SqlStore};
use super::change::exists;
use super::keys::{MEMBER_EXISTS, ORG_ALIVE};
use crate::error::{Result, StoreError};
use crate::model::*;
use crate::rows::SessionRow;
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;

const SESSION_SELECT: &str = "SELECT id, user_id, org_id, created_at, last_seen_at, \
    idle_timeout_ms, absolute_expires_at, revoked_at, user_agent, ip FROM sessions";

const INSERT_SESSION: &str = "INSERT INTO sessions (id, token_hash, user_id, org_id, \
    created_at, last_seen_at, idle_timeout_ms, absolute_expires_at, user_agent, ip) \
    VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)";

/// `$1` time, `$2` user id: revokes every session of the person.
pub(crate) const REVOKE_USER_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL";

/// `$1` time, `$2` org id, `$3` user id: revokes the person's sessions acting in the
/// organization (when they leave it).
pub(crate) const REVOKE_MEMBER_SESSIONS: &str = "UPDATE sessions SET revoked_at = $1 \
    WHERE org_id = $2 AND user_id = $3 AND revoked_at IS NULL";

/// `$1` time, `$2` org id: revokes every session acting in the organization.
pub(crate) const REVOKE_ORG_SESSIONS: &str =
    "UPDATE sessions SET revoked_at = $1 WHERE org_id = $2 AND revoked_at IS NULL";

async fn fetch_session<B: Backend>(c: &mut B::Connection, id: &str) -> Result<Option<Session>> {
    let sql = format!("{SESSION_SELECT} WHERE id = $1");
    let row: Option<SessionRow> = B::fetch_optional(c, &sql, args![id]).await?;
    Ok(row.map(Session::from))
}

/// Locks the organization's row (PostgreSQL) and checks that it exists and that the
/// person is a member of it.
async fn lock_membership<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    user_id: &str,
) -> Result<()> {
    let sql = format!("{ORG_ALIVE}{}", B::FOR_UPDATE);
    if !exists::<B>(c, &sql, args![org_id]).await? {
        return Err(StoreError::Gone("organization"));
    }
    if !exists::<B>(c, MEMBER_EXISTS, args![org_id, user_id]).await? {
        return Err(StoreError::Gone("membership"));
    }
    Ok(())
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn create_session(&self, s: NewSession) -> Result<Session> {
        let mut tx = B::begin_write(&self.writer).await?;
        lock_membership::<B>(&mut tx, &s.org_id, &s.user_id).await?;
        let args = args![
            &s.id,
            &s.token_hash,
            &s.user_id,
            &s.org_id,
            s.created_at,
            s.idle_timeout.num_milliseconds(),
            s.absolute_expires_at,
            &s.user_agent,
            &s.ip,
        ];
        B::execute(&mut tx, INSERT_SESSION, args).await?;
        let session = fetch_session::<B>(&mut tx, &s.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(session)
    }

    pub(crate) async fn find_session(&self, token_hash: &KeyHash) -> Result<Option<Session>> {
        let sql = format!("{SESSION_SELECT} WHERE token_hash = $1");
        let row: Option<SessionRow> = self.read_one(&sql, args![token_hash]).await?;
        Ok(row.map(Session::from))
    }

    pub(crate) async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE sessions SET last_seen_at = $1 \
            WHERE id = $2 AND last_seen_at < $1 AND revoked_at IS NULL";
        let mut c = self.writer.acquire().await?;
        B::execute(&mut c, sql, args![now, id]).await?;
        Ok(())
    }

    pub(crate) async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let sql = format!(
            "{SESSION_SELECT} WHERE user_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<SessionRow> = self.read(&sql, args![user_id]).await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    pub(crate) async fn revoke_session(
        &self,
        user_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = "UPDATE sessions SET revoked_at = $1 \
            WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL";
        let mut c = self.writer.acquire().await?;
        Ok(B::execute(&mut c, sql, args![now, id, user_id]).await? == 1)
    }

    pub(crate) async fn revoke_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let sql = "UPDATE sessions SET revoked_at = $1 \
            WHERE user_id = $2 AND revoked_at IS NULL AND id <> COALESCE($3, '')";
        let mut c = self.writer.acquire().await?;
        B::execute(&mut c, sql, args![now, user_id, except]).await
    }

    pub(crate) async fn switch_session_org(&self, id: &str, org_id: &str) -> Result<Session> {
        let mut tx = B::begin_write(&self.writer).await?;
        let session = fetch_session::<B>(&mut tx, id)
            .await?
            .filter(|s| s.revoked_at.is_none())
            .ok_or(StoreError::NotFound)?;
        lock_membership::<B>(&mut tx, org_id, &session.user_id).await?;
        let sql = "UPDATE sessions SET org_id = $1 WHERE id = $2 AND revoked_at IS NULL";
        if B::execute(&mut tx, sql, args![org_id, id]).await? != 1 {
            return Err(StoreError::NotFound);
        }
        let session = fetch_session::<B>(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(session)
    }
}
