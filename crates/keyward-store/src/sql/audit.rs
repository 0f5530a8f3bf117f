//! The audit log: every change writes its event in its own transaction.

use super::backend::{args, Arg, Backend, SqlStore};
use super::filter::{bad_cursor, push_key_filter};
use crate::error::Result;
use crate::model::*;
use crate::rows::AuditRow;

const INSERT_AUDIT: &str = "INSERT INTO audit_log (org_id, at, actor_type, actor_id, actor_name, \
    actor_key_id, action, target_type, target_id, source_ip, details) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

pub(crate) async fn insert_audit<B: Backend>(
    c: &mut B::Connection,
    e: &NewAuditEvent,
) -> Result<()> {
    let args = args![
        &e.org_id,
        e.at,
        &e.actor.actor_type,
        &e.actor.id,
        &e.actor.name,
        &e.actor.key_id,
        &e.action,
        &e.target_type,
        &e.target_id,
        &e.source_ip,
        e.details.to_string(),
    ];
    B::execute(c, INSERT_AUDIT, args).await?;
    Ok(())
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn list_audit(
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
            "SELECT id, at, actor_type, actor_id, actor_name, actor_key_id, action, target_type, \
             target_id, source_ip, details FROM audit_log WHERE org_id = $1 AND id < $2",
        );
        let mut args = vec![Arg::from(org_id), Arg::from(before)];
        if let Some(keys) = &filter.keys {
            sql.push_str(
                " AND target_type = 'key' AND target_id IN (SELECT k.id FROM api_keys k WHERE k.org_id = $1",
            );
            push_key_filter::<B>(&mut sql, &mut args, keys);
            sql.push(')');
        }
        args.push((limit + 1).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let rows: Vec<AuditRow> = self.read(&sql, &args).await?;
        let mut items: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
