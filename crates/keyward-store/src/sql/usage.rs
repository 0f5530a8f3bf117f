//! Usage counters, quota balances (leased to nodes in small amounts) and the rate limits
//! shared by all keys of one owner.

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use crate::encode::{from_json, json};
use crate::error::Result;
use crate::model::*;
use crate::rows::{BalanceRow, OwnerLimitRow, UsageMinuteRow};
use crate::store::FeedEvent;
use keyward_core::{Owner, Quota, RateLimit};

const BALANCE: &str = "SELECT period, remaining FROM quota_balances WHERE key_id = $1";

/// What is left of `quota` in `period`, given the stored balance (a balance of another
/// period is void: the quota refilled).
fn left(balance: Option<BalanceRow>, quota: &Quota, period: i64) -> i64 {
    match balance {
        Some(b) if b.period == period => b.remaining,
        _ => quota.limit,
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn usage_minutes(
        &self,
        key_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<UsageRow>> {
        let sql = "SELECT key_id, minute, valid, denied, api FROM usage_minutes \
             WHERE key_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute";
        let rows: Vec<UsageMinuteRow> = self.read(sql, args![key_id, from, to]).await?;
        Ok(rows.into_iter().map(UsageRow::from).collect())
    }

    pub(crate) async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease> {
        let mut tx = B::begin_write(&self.writer).await?;
        // Create the balance row if missing, then lock it: concurrent leases of one key
        // from several nodes queue here instead of both reading the same balance.
        let sql = "INSERT INTO quota_balances (key_id, period, remaining) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id) DO NOTHING";
        B::execute(&mut tx, sql, args![key_id, period, quota.limit]).await?;
        let sql = format!("{BALANCE}{}", B::FOR_UPDATE);
        let balance = B::fetch_optional(&mut tx, &sql, args![key_id]).await?;
        let remaining = left(balance, quota, period);
        let granted = want.min(remaining).max(0);
        let sql = "UPDATE quota_balances SET period = $2, remaining = $3 WHERE key_id = $1";
        B::execute(&mut tx, sql, args![key_id, period, remaining - granted]).await?;
        tx.commit().await?;
        Ok(QuotaLease {
            granted,
            remaining: remaining - granted,
        })
    }

    pub(crate) async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()> {
        let sql = "UPDATE quota_balances SET remaining = remaining + $1 \
             WHERE key_id = $2 AND period = $3";
        let mut c = self.writer.acquire().await?;
        B::execute(&mut c, sql, args![amount, key_id, period]).await?;
        Ok(())
    }

    pub(crate) async fn quota_remaining(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
    ) -> Result<i64> {
        let balance = self.read_one(BALANCE, args![key_id]).await?;
        Ok(left(balance, quota, period))
    }

    pub(crate) async fn get_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
    ) -> Result<Option<RateLimit>> {
        let sql = "SELECT ratelimit FROM owner_limits \
             WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3";
        let args = args![org_id, owner.type_str(), owner.id()];
        let raw: Option<(String,)> = self.read_one(sql, args).await?;
        raw.map(|(r,)| from_json("ratelimit", &r)).transpose()
    }

    pub(crate) async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>> {
        let sql = "SELECT owner_type, owner_id, ratelimit FROM owner_limits \
             WHERE org_id = $1 ORDER BY owner_type, owner_id";
        let rows: Vec<OwnerLimitRow> = self.read(sql, args![org_id]).await?;
        rows.into_iter().map(OwnerLimit::try_from).collect()
    }

    pub(crate) async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        let (owner_type, owner_id) = (owner.type_str(), owner.id());
        match limit {
            Some(l) => {
                let sql = "INSERT INTO owner_limits (org_id, owner_type, owner_id, ratelimit) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, owner_type, owner_id) \
                     DO UPDATE SET ratelimit = excluded.ratelimit";
                B::execute(&mut tx, sql, args![org_id, owner_type, owner_id, json(&l)]).await?;
            }
            None => {
                let sql = "DELETE FROM owner_limits \
                     WHERE org_id = $1 AND owner_type = $2 AND owner_id = $3";
                B::execute(&mut tx, sql, args![org_id, owner_type, owner_id]).await?;
            }
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        // Nodes that hold this owner's limit in memory must re-read it.
        B::announce(&mut tx, FeedEvent::OwnerLimits(org_id.to_owned())).await?;
        tx.commit().await?;
        Ok(())
    }
}
