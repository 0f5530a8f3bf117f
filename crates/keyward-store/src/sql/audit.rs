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
        let newer = filter.newer_than.is_some();
        let bound = match (filter.newer_than, page.cursor.as_deref()) {
            (Some(_), Some(_)) => return Err(bad_cursor()),
            (Some(after), None) => after,
            (None, None) => i64::MAX,
            (None, Some(c)) => c.parse::<i64>().map_err(|_| bad_cursor())?,
        };
        let limit = i64::from(page.limit);
        let mut sql = format!(
            "SELECT id, at, actor_type, actor_id, actor_name, actor_key_id, action, target_type, \
             target_id, source_ip, details FROM audit_log WHERE org_id = $1 AND id {} $2",
            if newer { ">" } else { "<" }
        );
        let mut args = vec![Arg::from(org_id), Arg::from(bound)];
        if let Some(keys) = &filter.keys {
            sql.push_str(
                " AND target_type = 'key' AND target_id IN (SELECT k.id FROM api_keys k WHERE k.org_id = $1",
            );
            push_key_filter::<B>(&mut sql, &mut args, keys);
            sql.push(')');
        }
        push_event_filter(&mut sql, &mut args, filter);
        args.push((limit + 1).into());
        sql.push_str(&format!(
            " ORDER BY id {} LIMIT ${}",
            if newer { "ASC" } else { "DESC" },
            args.len()
        ));
        let rows: Vec<AuditRow> = self.read(&sql, &args).await?;
        let mut items: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        if newer {
            items.reverse();
        }
        let next_cursor = match (more, newer) {
            (false, _) => None,
            (true, false) => items.last().map(|e| e.id.to_string()),
            (true, true) => items.first().map(|e| e.id.to_string()),
        };
        Ok(Page { items, next_cursor })
    }
}

/// The conditions on the event itself (actor, action, target, time) of `filter`.
fn push_event_filter<'a>(sql: &mut String, args: &mut Vec<Arg<'a>>, filter: &'a AuditFilter) {
    let mut param = |value: Arg<'a>| {
        args.push(value);
        format!("${}", args.len())
    };
    if let Some(actor) = &filter.actor {
        let p = param(actor.into());
        sql.push_str(&format!(
            " AND (actor_id = {p} OR actor_name = {p} OR actor_key_id = {p})"
        ));
    }
    match &filter.action {
        Some(TextMatch::Exact(a)) => {
            let p = param(a.into());
            sql.push_str(&format!(" AND action = {p}"));
        }
        Some(TextMatch::Prefix(a)) => {
            let p = param(a.into());
            sql.push_str(&format!(" AND substr(action, 1, length({p})) = {p}"));
        }
        None => {}
    }
    if let Some(target) = &filter.target {
        let p = param(target.into());
        sql.push_str(&format!(" AND (target_id = {p} OR target_type = {p})"));
    }
    if let Some(from) = filter.from {
        let p = param(from.into());
        sql.push_str(&format!(" AND at >= {p}"));
    }
    if let Some(to) = filter.to {
        let p = param(to.into());
        sql.push_str(&format!(" AND at < {p}"));
    }
}
