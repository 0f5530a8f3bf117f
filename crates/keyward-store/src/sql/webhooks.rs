//! Webhook ingress: endpoints (with their sealed secrets), the events they keep, and
//! each event's delivery.
//!
//! Sealed columns arrive sealed (the server encrypts, bound to the endpoint's id); the
//! store keeps them with their wrapped data key, like the integrations vault's, and key
//! rotation re-wraps them (`webhook_endpoints` is one of the `SEALED_TABLES`).
//!
//! One delivery at a time per event, across nodes: [`WebhookStore::claim_webhook_deliveries`]
//! leases each event with one conditional `UPDATE` (a row lock on PostgreSQL, the single
//! writer on SQLite), so of racing claimers exactly one gets it; the holder delivers and
//! writes the attempt with [`WebhookStore::finish_webhook_attempt`], which releases the
//! lease in the same statement as the outcome, and only if it still holds it.

use super::audit::insert_audit;
use super::backend::{args, Arg, Backend, SqlStore};
use super::change::exists;
use crate::encode::json;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{WebhookAttemptRow, WebhookEndpointRow, WebhookEventRow, WorkerHeadRow};
use crate::store::WebhookStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

const ENDPOINT_SELECT: &str = "SELECT id, org_id, workspace_id, name, provider, destination, \
    enabled, disabled_reason, managed_by, kek_id, wrapped_dek, provider_secrets, \
    signing_secrets, hints, failing_since, version, created_at, updated_at \
    FROM webhook_endpoints";

const EVENT_SELECT: &str = "SELECT id, org_id, endpoint_id, status, dedup_key, \
    provider_event_id, received_at, content_type, body, attempts, retry_base, next_attempt_at, \
    last_status_code, last_error, delivered_at, refusal, lease_owner, lease_until \
    FROM webhook_events";

/// A taken id inserts nothing (and is told apart from other failures by its count).
const INSERT_ENDPOINT: &str = "INSERT INTO webhook_endpoints (id, org_id, workspace_id, \
    name, provider, destination, enabled, disabled_reason, managed_by, kek_id, wrapped_dek, \
    provider_secrets, signing_secrets, hints, failing_since, version, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
    ON CONFLICT (id) DO NOTHING";

/// `$10` next attempt: `received_at` for a pending event, NULL for one kept failed.
const INSERT_EVENT: &str = "INSERT INTO webhook_events (id, org_id, endpoint_id, status, \
    dedup_key, provider_event_id, received_at, content_type, body, next_attempt_at, \
    last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (endpoint_id, dedup_key) DO NOTHING";

const INSERT_REFUSAL: &str = "INSERT INTO webhook_events (id, org_id, endpoint_id, status, \
    received_at, refusal) VALUES ($1, $2, $3, 'refused', $4, $5)";

/// `$1` endpoint, `$2` how many to keep: its refusals older than the newest `$2` (the
/// subquery is NULL, and nothing goes, while it has no more than that).
const TRIM_REFUSALS: &str = "DELETE FROM webhook_events \
    WHERE endpoint_id = $1 AND status = 'refused' AND id <= (SELECT id FROM webhook_events \
        WHERE endpoint_id = $1 AND status = 'refused' ORDER BY id DESC LIMIT 1 OFFSET $2)";

/// An endpoint `p`'s destination is its workspace's workers (`workers`,
/// `workers:LABEL`), compared case-sensitively on both backends (SQLite's `LIKE` is not).
macro_rules! to_workers {
    () => {
        "(p.destination = 'workers' OR substr(p.destination, 1, 8) = 'workers:')"
    };
}
const TO_WORKERS: &str = to_workers!();

/// The event's endpoint does not deliver to workers: the URL deliverer leaves those
/// events to the workers' deliverer (which takes them one at a time, in order).
const NOT_TO_WORKERS: &str = concat!(
    "NOT EXISTS (SELECT 1 FROM webhook_endpoints p ",
    "WHERE p.id = webhook_events.endpoint_id AND ",
    to_workers!(),
    ")"
);

/// `$1` now: pending events due, that no one holds.
const DUE: &str = "status = 'pending' AND next_attempt_at <= $1 \
    AND (lease_until IS NULL OR lease_until <= $1)";

/// `$1` owner, `$2` until, `$3` event, `$4` now: re-checked on the row as it is when
/// the statement gets it (after waiting for a racing claim's commit on PostgreSQL).
/// Never an event of an endpoint that delivers to workers (one pointed at them since the
/// candidates were read).
const LEASE_EVENT: &str = concat!(
    "UPDATE webhook_events SET lease_owner = $1, lease_until = $2 ",
    "WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4 ",
    "AND (lease_until IS NULL OR lease_until <= $4) ",
    "AND NOT EXISTS (SELECT 1 FROM webhook_endpoints p ",
    "WHERE p.id = webhook_events.endpoint_id AND ",
    to_workers!(),
    ")"
);

/// `$1` now, for the endpoint `p`: its oldest pending event `e` (event ids are
/// time-ordered), if it is due and no event of the endpoint holds a lease that has not
/// passed. A head that is not due (a retry later) keeps the events after it waiting:
/// an endpoint's workers get its events in order.
const WORKER_HEAD: &str = "e.id = (SELECT MIN(x.id) FROM webhook_events x \
        WHERE x.endpoint_id = p.id AND x.status = 'pending') \
    AND e.next_attempt_at <= $1 \
    AND NOT EXISTS (SELECT 1 FROM webhook_events l \
        WHERE l.endpoint_id = p.id AND l.lease_until IS NOT NULL AND l.lease_until > $1)";

/// `$1` status, `$2` attempts, `$3` last status code, `$4` last error, `$5` next
/// attempt, `$6` delivered at, `$7` event, `$8` owner: the outcome, written only by the
/// lease's holder, which it releases.
const FINISH_ATTEMPT: &str = "UPDATE webhook_events SET status = $1, attempts = $2, \
    last_status_code = $3, last_error = $4, next_attempt_at = $5, \
    delivered_at = COALESCE($6, delivered_at), lease_owner = NULL, lease_until = NULL \
    WHERE id = $7 AND lease_owner = $8 RETURNING endpoint_id";

/// Events one purge transaction deletes at most.
const PURGE_BATCH: usize = 1000;

const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts (event_id, attempt, at, \
    status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)";

const DROP_ENDPOINT_ATTEMPTS: &str = "DELETE FROM webhook_attempts WHERE event_id IN \
    (SELECT id FROM webhook_events WHERE endpoint_id = $1)";

async fn fetch_endpoint<B: Backend>(
    c: &mut B::Connection,
    id: &str,
) -> Result<WebhookEndpointRecord> {
    let sql = format!("{ENDPOINT_SELECT} WHERE id = $1");
    let row: Option<WebhookEndpointRow> = B::fetch_optional(c, &sql, args![id]).await?;
    row.map(WebhookEndpointRecord::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

async fn fetch_org_endpoint<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    id: &str,
) -> Result<WebhookEndpointRecord> {
    let sql = format!("{ENDPOINT_SELECT} WHERE org_id = $1 AND id = $2");
    let row: Option<WebhookEndpointRow> = B::fetch_optional(c, &sql, args![org_id, id]).await?;
    row.map(WebhookEndpointRecord::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// NotFound unless the organization has the endpoint; locks its row on PostgreSQL when
/// `lock` (so what is written under it sees no concurrent deletion).
async fn endpoint_in_org<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<()> {
    let sql = format!(
        "SELECT id FROM webhook_endpoints WHERE org_id = $1 AND id = $2{}",
        if lock { B::FOR_UPDATE } else { "" }
    );
    if exists::<B>(c, &sql, args![org_id, id]).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// An event of the organization's endpoint (`suffix`: a lock, or nothing).
async fn fetch_event<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    endpoint_id: &str,
    id: &str,
    suffix: &str,
) -> Result<WebhookEvent> {
    let sql = format!("{EVENT_SELECT} WHERE org_id = $1 AND endpoint_id = $2 AND id = $3{suffix}");
    let row: Option<WebhookEventRow> =
        B::fetch_optional(c, &sql, args![org_id, endpoint_id, id]).await?;
    row.map(WebhookEvent::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

fn status_arg(code: Option<u16>) -> Option<i64> {
    code.map(i64::from)
}

#[async_trait]
impl<B: Backend> WebhookStore for SqlStore<B> {
    async fn create_webhook_endpoint(
        &self,
        e: WebhookEndpointRecord,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord> {
        let mut tx = self.begin_change(&audit).await?;
        // Counted in the change (serialized per organization): racing creates stop at
        // the limit.
        let count: Option<(i64,)> = B::fetch_optional(
            &mut tx,
            "SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1",
            args![&e.org_id],
        )
        .await?;
        let current = count.map_or(0, |(n,)| n);
        if current >= i64::from(MAX_WEBHOOK_ENDPOINTS) {
            return Err(StoreError::LimitReached {
                limit: "webhook endpoints",
                max: MAX_WEBHOOK_ENDPOINTS,
                current: u32::try_from(current).unwrap_or(u32::MAX),
            });
        }
        let s = &e.secrets;
        let args = args![
            &e.id,
            &e.org_id,
            &e.workspace_id,
            &e.name,
            &e.provider,
            &e.destination,
            e.enabled,
            &e.disabled_reason,
            e.managed_by.as_str(),
            &s.dek.kek_id,
            s.dek.bytes.as_slice(),
            s.provider.0.as_slice(),
            s.signing.0.as_slice(),
            json(&s.hints),
            e.failing_since,
            e.version,
            e.created_at,
            e.updated_at,
        ];
        if B::execute(&mut tx, INSERT_ENDPOINT, args).await? == 0 {
            return Err(StoreError::Conflict(Conflict::Duplicate));
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let endpoint = fetch_endpoint::<B>(&mut tx, &e.id).await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    async fn find_webhook_endpoint(&self, id: &str) -> Result<WebhookEndpointRecord> {
        let mut c = self.reader.acquire().await?;
        fetch_endpoint::<B>(&mut c, id).await
    }

    async fn get_webhook_endpoint(&self, org_id: &str, id: &str) -> Result<WebhookEndpointRecord> {
        let mut c = self.reader.acquire().await?;
        fetch_org_endpoint::<B>(&mut c, org_id, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        org_id: &str,
        f: WebhookEndpointFilter,
    ) -> Result<Vec<WebhookEndpointRecord>> {
        let mut sql = format!("{ENDPOINT_SELECT} WHERE org_id = $1");
        let mut args: Vec<Arg<'_>> = vec![org_id.into()];
        let param = |value: Arg<'static>, args: &mut Vec<Arg<'_>>| {
            args.push(value);
            format!("${}", args.len())
        };
        if let Some(p) = &f.provider {
            let p = param(p.clone().into(), &mut args);
            sql.push_str(&format!(" AND provider = {p}"));
        }
        if let Some(w) = &f.workspace_id {
            let w = param(w.clone().into(), &mut args);
            sql.push_str(&format!(" AND workspace_id = {w}"));
        }
        if let Some(within) = f.within_workspaces.as_ref().map(json) {
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
        let rows: Vec<WebhookEndpointRow> = self.read(&sql, &args).await?;
        rows.into_iter()
            .map(WebhookEndpointRecord::try_from)
            .collect()
    }

    async fn config_webhook_endpoints(&self) -> Result<Vec<WebhookEndpointRecord>> {
        let sql = format!("{ENDPOINT_SELECT} WHERE managed_by = $1 ORDER BY id");
        let rows: Vec<WebhookEndpointRow> =
            self.read(&sql, args![ManagedBy::Config.as_str()]).await?;
        rows.into_iter()
            .map(WebhookEndpointRecord::try_from)
            .collect()
    }

    async fn update_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        patch: WebhookEndpointPatch,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord> {
        let mut tx = self.begin_change(&audit).await?;
        let mut args: Vec<Arg<'_>> = vec![audit.at.into()];
        let mut sets = vec!["version = version + 1".to_owned(), "updated_at = $1".into()];
        // `column = $n` of the next argument.
        fn set<'a>(sets: &mut Vec<String>, args: &mut Vec<Arg<'a>>, column: &str, v: Arg<'a>) {
            args.push(v);
            sets.push(format!("{column} = ${}", args.len()));
        }
        if let Some(name) = &patch.name {
            set(&mut sets, &mut args, "name", name.into());
        }
        if let Some(destination) = &patch.destination {
            set(&mut sets, &mut args, "destination", destination.into());
        }
        if let Some(s) = &patch.secrets {
            set(&mut sets, &mut args, "kek_id", (&s.dek.kek_id).into());
            set(
                &mut sets,
                &mut args,
                "wrapped_dek",
                s.dek.bytes.as_slice().into(),
            );
            set(
                &mut sets,
                &mut args,
                "provider_secrets",
                s.provider.0.as_slice().into(),
            );
            set(
                &mut sets,
                &mut args,
                "signing_secrets",
                s.signing.0.as_slice().into(),
            );
            set(&mut sets, &mut args, "hints", json(&s.hints).into());
        }
        // Switched on again, or pointed somewhere new: its failures so far no longer
        // count towards disabling. Not when it already was on and there (an edit that
        // repeats `enabled: true` must not reset the clock of auto-disabling). SET reads
        // the old row; one assignment only (PostgreSQL refuses a column twice).
        let mut fresh = vec![];
        if patch.enabled == Some(true) {
            fresh.push("enabled = FALSE".to_owned());
        }
        if let Some(destination) = &patch.destination {
            args.push(destination.into());
            fresh.push(format!("destination <> ${}", args.len()));
        }
        if !fresh.is_empty() {
            sets.push(format!(
                "failing_since = CASE WHEN {} THEN NULL ELSE failing_since END",
                fresh.join(" OR ")
            ));
        }
        match patch.enabled {
            Some(true) => {
                sets.extend(["enabled = TRUE", "disabled_reason = NULL"].map(str::to_owned))
            }
            Some(false) => {
                sets.push("enabled = FALSE".into());
                let reason = (&patch.disabled_reason).into();
                set(&mut sets, &mut args, "disabled_reason", reason);
            }
            // A reason alone rewords a disabled endpoint's; an enabled one has none.
            None => {
                if let Some(reason) = &patch.disabled_reason {
                    args.push(reason.into());
                    sets.push(format!(
                        "disabled_reason = CASE WHEN enabled THEN disabled_reason ELSE ${} END",
                        args.len()
                    ));
                }
            }
        }
        args.push(org_id.into());
        args.push(id.into());
        let mut sql = format!(
            "UPDATE webhook_endpoints SET {} WHERE org_id = ${} AND id = ${}",
            sets.join(", "),
            args.len() - 1,
            args.len()
        );
        if let Some(v) = patch.if_version {
            args.push(v.into());
            sql.push_str(&format!(" AND version = ${}", args.len()));
        }
        if B::execute(&mut tx, &sql, &args).await? == 0 {
            endpoint_in_org::<B>(&mut tx, org_id, id, false).await?;
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let endpoint = fetch_endpoint::<B>(&mut tx, id).await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    async fn delete_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        // Its events first, then the endpoint: the order in which a delivery's finish
        // and a worker's claim take them (event, then endpoint), so a deletion racing
        // an attempt's record waits for it instead of deadlocking with it (PostgreSQL).
        let sql = format!(
            "SELECT id FROM webhook_events WHERE endpoint_id = $1 AND org_id = $2{}",
            B::FOR_UPDATE
        );
        let _: Vec<(String,)> = B::fetch_all(&mut tx, &sql, args![id, org_id]).await?;
        // Then the endpoint: an event the ingress inserts meanwhile waits for the
        // deletion (and then finds its endpoint gone) instead of outliving it.
        endpoint_in_org::<B>(&mut tx, org_id, id, true).await?;
        // The foreign keys cascade too (SQLite's are switched on at connect); deleted
        // explicitly so the deletion does not depend on it.
        B::execute(&mut tx, DROP_ENDPOINT_ATTEMPTS, args![id]).await?;
        let sql = "DELETE FROM webhook_events WHERE endpoint_id = $1";
        B::execute(&mut tx, sql, args![id]).await?;
        let sql = "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2";
        if B::execute(&mut tx, sql, args![org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disable_failing_endpoint(
        &self,
        id: &str,
        failing_before: DateTime<Utc>,
        reason: &str,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        let mut tx = self.begin_change(&audit).await?;
        // One conditional statement: of nodes deciding at once, one disables it (and
        // writes the audit event); a person who enabled it again meanwhile reset
        // `failing_since`, so it stays on.
        let sql = "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, \
            version = version + 1, updated_at = $2 \
            WHERE id = $3 AND enabled = TRUE AND failing_since IS NOT NULL \
            AND failing_since <= $4";
        let args = args![reason, audit.at, id, failing_before];
        if B::execute(&mut tx, sql, args).await? != 1 {
            return Ok(false);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_webhook_event(&self, e: NewWebhookEvent) -> Result<EventInsert> {
        let next_attempt_at = match e.status {
            DeliveryState::Pending => Some(e.received_at),
            DeliveryState::Failed => None,
            DeliveryState::Delivered | DeliveryState::Refused => {
                return Err(StoreError::InvalidInput("status of a new event"))
            }
        };
        let mut tx = B::begin_write(&self.writer).await?;
        let args = args![
            &e.id,
            &e.org_id,
            &e.endpoint_id,
            e.status.as_str(),
            &e.dedup_key,
            &e.provider_event_id,
            e.received_at,
            &e.content_type,
            e.body.as_slice(),
            next_attempt_at,
            &e.last_error,
        ];
        if B::execute(&mut tx, INSERT_EVENT, args).await? == 1 {
            tx.commit().await?;
            return Ok(EventInsert::Kept);
        }
        // On PostgreSQL, `ON CONFLICT DO NOTHING` waited for a racing insert of the same
        // key to commit; this statement's snapshot (read committed) sees it.
        let sql = "SELECT id FROM webhook_events WHERE endpoint_id = $1 AND dedup_key = $2";
        let first: Option<(String,)> =
            B::fetch_optional(&mut tx, sql, args![&e.endpoint_id, &e.dedup_key]).await?;
        match first {
            Some((id,)) => Ok(EventInsert::Duplicate(id)),
            // Kept and purged (or its endpoint deleted) between the two statements.
            None => Err(StoreError::Conflict(Conflict::ChangedMeanwhile)),
        }
    }

    async fn record_webhook_refusal(&self, r: NewRefusal) -> Result<()> {
        let mut tx = B::begin_write(&self.writer).await?;
        let args = args![&r.id, &r.org_id, &r.endpoint_id, r.received_at, &r.code];
        B::execute(&mut tx, INSERT_REFUSAL, args).await?;
        let args = args![&r.endpoint_id, i64::from(REFUSALS_KEPT)];
        B::execute(&mut tx, TRIM_REFUSALS, args).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>> {
        // One write transaction for the batch (one commit, not one per event). On
        // SQLite the single writer makes the select and the leases one step. On
        // PostgreSQL the candidates are read without locks, and each lease is its own
        // conditional UPDATE: a row that a racing node is leasing makes it wait for that
        // node's commit, then read committed re-checks the WHERE on the row as that node
        // left it (leased: 0 rows), so each event goes to one node. The leases are taken
        // in id order, the same order on every node, so two batches holding each other's
        // rows cannot deadlock.
        let mut tx = B::begin_write(&self.writer).await?;
        let sql = format!(
            "SELECT id FROM webhook_events WHERE {DUE} AND {NOT_TO_WORKERS} \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        let mut candidates: Vec<(String,)> =
            B::fetch_all(&mut tx, &sql, args![now, i64::from(limit)]).await?;
        candidates.sort();
        let mut leased = Vec::with_capacity(candidates.len());
        for (id,) in candidates {
            if B::execute(&mut tx, LEASE_EVENT, args![owner, until, &id, now]).await? == 1 {
                leased.push(id);
            }
        }
        if leased.is_empty() {
            tx.commit().await?;
            return Ok(vec![]);
        }
        let sql = format!(
            "{EVENT_SELECT} WHERE id IN ({}) AND lease_owner = $2 \
             ORDER BY next_attempt_at, id",
            B::json_elements("$1", None)
        );
        let rows: Vec<WebhookEventRow> =
            B::fetch_all(&mut tx, &sql, args![json(&leased), owner]).await?;
        tx.commit().await?;
        rows.into_iter().map(WebhookEvent::try_from).collect()
    }

    async fn finish_webhook_attempt(
        &self,
        owner: &str,
        attempt: WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<Option<DateTime<Utc>>> {
        let error = attempt.error.as_deref();
        let (status, next, delivered_at, last_error) = match outcome {
            AttemptOutcome::Delivered => (DeliveryState::Delivered, None, Some(attempt.at), None),
            AttemptOutcome::Retry(at) => (DeliveryState::Pending, Some(at), None, error),
            AttemptOutcome::Failed => (DeliveryState::Failed, None, None, error),
        };
        let mut tx = B::begin_write(&self.writer).await?;
        let args = args![
            status.as_str(),
            i64::from(attempt.attempt),
            status_arg(attempt.status_code),
            last_error,
            next,
            delivered_at,
            &attempt.event_id,
            owner,
        ];
        let written: Option<(String,)> = B::fetch_optional(&mut tx, FINISH_ATTEMPT, args).await?;
        let Some((endpoint_id,)) = written else {
            // Deleted (or purged) meanwhile, or its lease passed to another node.
            let sql = "SELECT id FROM webhook_events WHERE id = $1";
            return if exists::<B>(&mut tx, sql, args![&attempt.event_id]).await? {
                Err(StoreError::Conflict(Conflict::LeaseLost))
            } else {
                Err(StoreError::NotFound)
            };
        };
        let args = args![
            &attempt.event_id,
            i64::from(attempt.attempt),
            attempt.at,
            status_arg(attempt.status_code),
            i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX),
            &attempt.error,
        ];
        B::execute(&mut tx, INSERT_ATTEMPT, args).await?;
        // Not a new version: the deliverer's bookkeeping must not fail a person's edit
        // that requires the version they read.
        if outcome == AttemptOutcome::Delivered {
            let sql = "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1";
            B::execute(&mut tx, sql, args![&endpoint_id]).await?;
        } else {
            let sql = "UPDATE webhook_endpoints \
                SET failing_since = COALESCE(failing_since, $1) WHERE id = $2";
            B::execute(&mut tx, sql, args![attempt.at, &endpoint_id]).await?;
        }
        let sql = "SELECT failing_since FROM webhook_endpoints WHERE id = $1";
        let failing: Option<(Option<i64>,)> =
            B::fetch_optional(&mut tx, sql, args![&endpoint_id]).await?;
        tx.commit().await?;
        Ok(failing.and_then(|(at,)| crate::encode::opt_ms(at)))
    }

    async fn release_webhook_lease(&self, event_id: &str, owner: &str) -> Result<()> {
        let sql = "UPDATE webhook_events SET lease_owner = NULL, lease_until = NULL \
            WHERE id = $1 AND lease_owner = $2";
        self.write_one(sql, args![event_id, owner]).await.map(drop)
    }

    async fn list_webhook_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        f: DeliveryFilter,
    ) -> Result<Vec<WebhookEvent>> {
        let mut c = self.reader.acquire().await?;
        endpoint_in_org::<B>(&mut c, org_id, endpoint_id, false).await?;
        let mut sql = format!("{EVENT_SELECT} WHERE org_id = $1 AND endpoint_id = $2");
        let mut args: Vec<Arg<'_>> = vec![org_id.into(), endpoint_id.into()];
        if let Some(s) = f.status {
            args.push(s.as_str().into());
            sql.push_str(&format!(" AND status = ${}", args.len()));
        }
        if let Some(before) = &f.before {
            args.push(before.into());
            sql.push_str(&format!(" AND id < ${}", args.len()));
        }
        args.push(i64::from(f.limit).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let rows: Vec<WebhookEventRow> = B::fetch_all(&mut c, &sql, &args).await?;
        rows.into_iter().map(WebhookEvent::try_from).collect()
    }

    async fn get_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
    ) -> Result<(WebhookEvent, Vec<WebhookAttempt>)> {
        let mut c = self.reader.acquire().await?;
        let event = fetch_event::<B>(&mut c, org_id, endpoint_id, id, "").await?;
        let sql = "SELECT event_id, attempt, at, status_code, latency_ms, error \
            FROM webhook_attempts WHERE event_id = $1 ORDER BY attempt";
        let rows: Vec<WebhookAttemptRow> = B::fetch_all(&mut c, sql, args![id]).await?;
        let attempts = rows
            .into_iter()
            .map(WebhookAttempt::try_from)
            .collect::<Result<_>>()?;
        Ok((event, attempts))
    }

    async fn replay_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<WebhookEvent> {
        let mut tx = self.begin_change(&audit).await?;
        // Locked: its status cannot change between the check and the write.
        let event = fetch_event::<B>(&mut tx, org_id, endpoint_id, id, B::FOR_UPDATE).await?;
        match event.status {
            DeliveryState::Refused => return Err(StoreError::NotFound),
            DeliveryState::Pending => return Err(StoreError::Conflict(Conflict::InUse)),
            DeliveryState::Failed | DeliveryState::Delivered => {}
        }
        let sql = "UPDATE webhook_events SET status = 'pending', next_attempt_at = $1, \
            delivered_at = NULL, lease_owner = NULL, lease_until = NULL, retry_base = attempts \
            WHERE id = $2 AND status IN ('failed', 'delivered')";
        if B::execute(&mut tx, sql, args![at, id]).await? != 1 {
            return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let event = fetch_event::<B>(&mut tx, org_id, endpoint_id, id, "").await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn replay_failed_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<u64> {
        let mut tx = self.begin_change(&audit).await?;
        endpoint_in_org::<B>(&mut tx, org_id, endpoint_id, false).await?;
        let sql = "UPDATE webhook_events SET status = 'pending', next_attempt_at = $1, \
            lease_owner = NULL, lease_until = NULL, retry_base = attempts \
            WHERE org_id = $2 AND endpoint_id = $3 AND status = 'failed' AND received_at >= $4";
        let n = B::execute(&mut tx, sql, args![at, org_id, endpoint_id, since]).await?;
        // Audited even when nothing was failed: the replay was asked for.
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn worker_delivery_heads(
        &self,
        selections: &[(String, String, String)],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WorkerHead>> {
        // Each selection as one text `org_id workspace_id destination` (ids and
        // destinations never hold a space; one that does could match no endpoint, so it
        // is left out), matched against the endpoint's, and every row checked against
        // the selections again.
        let keys: Vec<String> = selections
            .iter()
            .filter(|(o, w, d)| !o.contains(' ') && !w.contains(' ') && !d.contains(' '))
            .map(|(o, w, d)| format!("{o} {w} {d}"))
            .collect();
        if keys.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        // The organizations too, for their index.
        let mut orgs: Vec<&str> = selections.iter().map(|(o, _, _)| o.as_str()).collect();
        orgs.sort_unstable();
        orgs.dedup();
        let sql = format!(
            // Each endpoint's head found through the pending index, then the event by
            // its key: one lookup per endpoint, whatever the backlog behind the head.
            "SELECT e.id AS event_id, e.endpoint_id, p.org_id, p.workspace_id, p.destination \
             FROM webhook_endpoints p JOIN webhook_events e ON e.id = \
             (SELECT MIN(x.id) FROM webhook_events x \
              WHERE x.endpoint_id = p.id AND x.status = 'pending') \
             WHERE p.org_id IN ({}) AND p.enabled = TRUE AND {TO_WORKERS} \
             AND p.workspace_id IS NOT NULL \
             AND (p.org_id || ' ' || p.workspace_id || ' ' || p.destination) IN ({}) \
             AND {WORKER_HEAD} \
             ORDER BY e.id LIMIT $4",
            B::json_elements("$2", None),
            B::json_elements("$3", None)
        );
        let args = args![now, json(&orgs), json(&keys), i64::from(limit)];
        let rows: Vec<WorkerHeadRow> = self.read(&sql, args).await?;
        Ok(rows
            .into_iter()
            .map(WorkerHead::from)
            .filter(|h| {
                selections
                    .iter()
                    .any(|(o, w, d)| *o == h.org_id && *w == h.workspace_id && *d == h.destination)
            })
            .collect())
    }

    async fn claim_worker_delivery(
        &self,
        event_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<WebhookEvent>> {
        let mut tx = B::begin_write(&self.writer).await?;
        // The event's row first, then its endpoint's: the order in which
        // `finish_webhook_attempt` takes them (it writes the event, then the endpoint's
        // failing streak), so a claim of an event whose lease passed while its holder
        // is finishing waits for that finish instead of deadlocking with it (PostgreSQL;
        // SQLite's single writer serializes both anyway).
        let sql = format!(
            "SELECT endpoint_id FROM webhook_events WHERE id = $1{}",
            B::FOR_UPDATE
        );
        let event: Option<(String,)> = B::fetch_optional(&mut tx, &sql, args![event_id]).await?;
        let Some((endpoint_id,)) = event else {
            tx.commit().await?;
            return Ok(None);
        };
        // Every claim of the endpoint's events queues on its row, so of claims racing
        // for different events of one endpoint, the later ones see the first's lease.
        let sql = format!(
            "SELECT p.id FROM webhook_endpoints p WHERE p.id = $1{}",
            B::FOR_UPDATE
        );
        if !exists::<B>(&mut tx, &sql, args![&endpoint_id]).await? {
            tx.commit().await?;
            return Ok(None);
        }
        // Re-checked under the locks, with what committed before them.
        let sql = format!(
            "UPDATE webhook_events SET lease_owner = $2, lease_until = $3 \
             WHERE id = $4 AND status = 'pending' AND EXISTS (SELECT 1 \
                FROM webhook_endpoints p JOIN webhook_events e ON e.endpoint_id = p.id \
                WHERE e.id = $4 AND p.enabled = TRUE AND {TO_WORKERS} AND {WORKER_HEAD})"
        );
        if B::execute(&mut tx, &sql, args![now, owner, until, event_id]).await? != 1 {
            tx.commit().await?;
            return Ok(None);
        }
        let sql = format!("{EVENT_SELECT} WHERE id = $1");
        let row: Option<WebhookEventRow> =
            B::fetch_optional(&mut tx, &sql, args![event_id]).await?;
        tx.commit().await?;
        row.map(WebhookEvent::try_from).transpose()
    }

    async fn purge_webhook_events(&self, before: DateTime<Utc>) -> Result<u64> {
        // In batches, each its own transaction: a purge after a flood does not hold the
        // (SQLite) writer for long at a time.
        let mut total = 0;
        loop {
            let mut tx = B::begin_write(&self.writer).await?;
            // The events are locked (PostgreSQL) as their attempts go, so a replay that
            // races the purge waits, then finds them gone, rather than keeping an event
            // whose attempts were deleted.
            let batch = format!(
                "SELECT id FROM webhook_events WHERE received_at < $1 AND status <> 'pending' \
                 ORDER BY id LIMIT {PURGE_BATCH}{}",
                B::FOR_UPDATE
            );
            let ids: Vec<(String,)> = B::fetch_all(&mut tx, &batch, args![before]).await?;
            if ids.is_empty() {
                tx.commit().await?;
                return Ok(total);
            }
            let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
            let list = json(&ids);
            let sql = format!(
                "DELETE FROM webhook_attempts WHERE event_id IN ({})",
                B::json_elements("$1", None)
            );
            B::execute(&mut tx, &sql, args![&list]).await?;
            let sql = format!(
                "DELETE FROM webhook_events WHERE id IN ({}) AND status <> 'pending'",
                B::json_elements("$1", None)
            );
            let n = B::execute(&mut tx, &sql, args![&list]).await?;
            tx.commit().await?;
            total += n;
            if ids.len() < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
