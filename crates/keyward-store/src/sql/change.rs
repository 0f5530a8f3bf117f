//! How every change starts: its transaction, serialized with the deletions that could
//! invalidate it, then the check that the key it was requested with still works.

use super::backend::{args, Arg, Backend, SqlStore};
use crate::error::Result;
use crate::model::NewAuditEvent;
use crate::rows::KeyNow;
use chrono::{DateTime, Utc};
use sqlx::Transaction;

/// `$1` key id, `$2` the change's time (unix ms): one row if the key works now — not
/// revoked, switched on, not expired, its organization not deleted, and what it belongs
/// to still there (the person's membership, the service account, the channel). Run
/// inside every change, after the change has taken its serialization (the single writer
/// on SQLite, the organization's row lock on PostgreSQL), so a change requested with a
/// key that a deletion has since revoked sees the deletion and writes nothing.
///
/// Selects the role of the key's person (NULL for other keys) and the key's grants and
/// scope, which a change compares with what its request was authorized with.
///
/// A console session (`ses_…`) acts as its person's token with every grant for the
/// whole organization, so their role alone limits it: the second half finds it while
/// it is signed in (not revoked, idle or expired) and the person is still a member of
/// the organization it acts in, with their role now.
pub const KEY_WORKS: &str = "SELECT k.id, k.org_id, (SELECT m.role FROM memberships m \
        WHERE m.org_id = k.org_id AND m.user_id = k.owner_id AND k.owner_type = 'user') AS role, \
    k.permissions, k.scope, k.expires_at, k.rotated_to \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id \
    WHERE k.id = $1 AND k.revoked_at IS NULL AND k.enabled = TRUE \
    AND (k.expires_at IS NULL OR k.expires_at > $2) AND o.deleted_at IS NULL \
    AND (k.owner_type IS NULL OR k.owner_type <> 'user' OR EXISTS \
        (SELECT 1 FROM memberships m WHERE m.org_id = k.org_id AND m.user_id = k.owner_id)) \
    AND (k.owner_type IS NULL OR k.owner_type <> 'service_account' OR EXISTS \
        (SELECT 1 FROM service_accounts s WHERE s.org_id = k.org_id AND s.id = k.owner_id AND s.deleted_at IS NULL)) \
    AND (k.channel_id IS NULL OR EXISTS \
        (SELECT 1 FROM channels c WHERE c.org_id = k.org_id AND c.id = k.channel_id AND c.deleted_at IS NULL)) \
    UNION ALL SELECT s.id, s.org_id, m.role, '[\"*:*\"]', '{\"type\":\"organization\"}', \
        NULL, NULL \
    FROM sessions s JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id \
    JOIN organizations o ON o.id = s.org_id \
    WHERE s.id = $1 AND s.revoked_at IS NULL AND s.absolute_expires_at > $2 \
    AND s.last_seen_at + s.idle_timeout_ms > $2 AND o.deleted_at IS NULL";

impl<B: Backend> SqlStore<B> {
    /// Starts a change requested by `audit.actor`: the write transaction, serialized
    /// with every other change that could invalidate it (deletions included), then the
    /// check that the acting key still works and still has the standing the request was
    /// authorized with. A request authenticated just before a deletion that revoked its
    /// key writes nothing after it.
    pub(crate) async fn begin_change(
        &self,
        audit: &NewAuditEvent,
    ) -> Result<Transaction<'static, B>> {
        let mut tx = B::begin_write(&self.writer).await?;
        B::serialize_change(&mut tx, audit).await?;
        if let Some(key_id) = &audit.actor.key_id {
            let found = key_now::<B>(&mut tx, key_id, audit.at).await?;
            crate::rules::actor_allowed(&audit.actor, found)?;
        }
        Ok(tx)
    }
}

/// The key's [`KEY_WORKS`] row at `at`, if it works.
pub(crate) async fn key_now<B: Backend>(
    c: &mut B::Connection,
    key_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<KeyNow>> {
    B::fetch_optional(c, KEY_WORKS, args![key_id, at]).await
}

/// Whether `sql` (selecting one text column) finds a row.
pub(crate) async fn exists<B: Backend>(
    c: &mut B::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<bool> {
    Ok(B::fetch_optional::<(String,)>(c, sql, args)
        .await?
        .is_some())
}
