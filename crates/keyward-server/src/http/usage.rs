//! Usage reports per key, and rate limits shared by all keys of one owner.

use super::shared::actor_event;
use super::wire::IntoApi;
use crate::auth::Principal;
use crate::authz::{Action, Target};
use crate::errors::{ApiError, Result};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
pub use keyward_api::{
    Granularity, OwnerLimit, OwnerLimitRequest, QuotaUsage, RateLimitUsage, UsageQuery, UsageReport,
};
use keyward_api::{UsageBucket as Bucket, UsageCounts as Counts};
use keyward_core::expiry::parse_instant;
use keyward_core::{ExternalId, RateLimit};
use keyward_store::UsageRow;
use std::collections::BTreeMap;

const MAX_POINTS: i64 = 5000;

/// The range a usage query names.
trait UsageRange {
    fn range(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)>;
}

impl UsageRange for UsageQuery {
    /// `(from, to)`, relative times counted back from `now` (the request's clock).
    fn range(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let at = |field: &'static str, raw: &Option<String>| {
            raw.as_deref()
                .map(|t| parse_instant(t, now).map_err(|e| ApiError::validation(field, e)))
                .transpose()
        };
        let to = at("to", &self.to)?.unwrap_or(now);
        let from = at("from", &self.from)?.unwrap_or(to - Duration::hours(24));
        Ok((from, to))
    }
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

fn at_minute(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(m * 60, 0).unwrap_or_default()
}

/// Sums of valid + api requests over every window of `period_minutes` ending in the
/// report, at minute resolution: (last window, highest window).
fn windows(per_minute: &BTreeMap<i64, Counts>, period_minutes: i64, now_minute: i64) -> (i64, i64) {
    let load = |m: &i64| per_minute.get(m).map(|c| c.valid + c.api).unwrap_or(0);
    let last: i64 = (now_minute - period_minutes + 1..=now_minute)
        .map(|m| load(&m))
        .sum();
    let mut peak = 0;
    for end in per_minute.keys() {
        let sum: i64 = (end - period_minutes + 1..=*end).map(|m| load(&m)).sum();
        peak = peak.max(sum);
    }
    (last, peak.max(last))
}

fn rate_usage(
    limit: RateLimit,
    per_minute: &BTreeMap<i64, Counts>,
    now_minute: i64,
) -> RateLimitUsage {
    let period_minutes = (i64::from(limit.period) + 59) / 60;
    let (last, peak) = windows(per_minute, period_minutes, now_minute);
    // Periods shorter than a minute are measured per minute and scaled down.
    let scale = f64::from(limit.period) / (period_minutes * 60) as f64;
    let denominator = f64::from(limit.limit);
    RateLimitUsage {
        limit: limit.limit,
        period: limit.period_text(),
        used_in_last_period: last,
        utilization: last as f64 * scale / denominator,
        peak_utilization: peak as f64 * scale / denominator,
    }
}

/// A key's usage over time, with utilization of its rate limits and quota.
#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "keys", params(("id" = String, Path), UsageQuery),
    responses((status = 200, body = UsageReport), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["keys:read"])))]
pub async fn key_usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>> {
    let (key, _) = super::keys::find(&state, &principal, "keys:read", Action::Read, &id).await?;
    let now = state.clock.now();
    let granularity = q.granularity.unwrap_or(Granularity::Hour);
    let (from, to) = q.range(now)?;
    if from >= to {
        return Err(ApiError::validation("from", "must be before to"));
    }
    let step = granularity.minutes();
    let first = minute_of(from).div_euclid(step) * step;
    let end = minute_of(to - Duration::nanoseconds(1)).div_euclid(step) * step + step;
    if (end - first) / step > MAX_POINTS {
        return Err(ApiError::validation(
            "granularity",
            format!("the range holds more than {MAX_POINTS} points; use a coarser granularity"),
        ));
    }
    // Read a little further back so the rate-limit windows are complete.
    let lookback = key
        .ratelimit
        .map(|r| (i64::from(r.period) + 59) / 60)
        .unwrap_or(0)
        .max(60);
    let read_from = first.min(minute_of(now) - lookback);
    let read_to = end.max(minute_of(now) + 1);
    let mut rows: Vec<UsageRow> = state
        .store
        .usage_minutes(&key.id, read_from, read_to)
        .await?;
    rows.extend(state.usage.pending(&key.id));
    let mut per_minute: BTreeMap<i64, Counts> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.minute >= read_from && r.minute < read_to)
    {
        let c = per_minute.entry(r.minute).or_default();
        c.valid += r.valid;
        c.denied += r.denied;
        c.api += r.api;
    }
    let mut buckets: BTreeMap<i64, Counts> = (0..(end - first) / step)
        .map(|i| (first + i * step, Counts::default()))
        .collect();
    let mut totals = Counts::default();
    for (minute, c) in per_minute.range(first..end) {
        let b = buckets.entry(minute.div_euclid(step) * step).or_default();
        for (sum, add) in [
            (&mut b.valid, c.valid),
            (&mut b.denied, c.denied),
            (&mut b.api, c.api),
        ] {
            *sum += add;
        }
        totals.valid += c.valid;
        totals.denied += c.denied;
        totals.api += c.api;
    }
    let now_minute = minute_of(now);
    let owner_limit = match &key.owner {
        Some(o) => state.store.get_owner_limit(&key.org_id, o).await?,
        None => None,
    };
    let quota = match key.quota {
        Some(quota) => {
            let remaining = state
                .limits
                .remaining(state.store.as_ref(), &key, now)
                .await?
                .unwrap_or(quota.limit);
            let used = quota.limit - remaining;
            Some(QuotaUsage {
                limit: quota.limit,
                refill: quota.refill,
                remaining,
                used,
                utilization: used as f64 / quota.limit as f64,
            })
        }
        None => None,
    };
    Ok(Json(UsageReport {
        key_id: key.id.clone(),
        from: at_minute(first),
        to: at_minute(end),
        granularity,
        totals,
        series: buckets
            .into_iter()
            .map(|(m, counts)| Bucket {
                start: at_minute(m),
                counts,
            })
            .collect(),
        ratelimit: key
            .ratelimit
            .map(|r| rate_usage(r, &per_minute, now_minute)),
        owner_ratelimit: owner_limit.map(|r| rate_usage(r, &per_minute, now_minute)),
        quota,
    }))
}

/// 404 unless the owner exists in the caller's organization (any customer id is one),
/// then grants × reach × scope: a person's limit is set only by someone who outranks
/// them (an org admin cannot throttle an owner or another admin).
async fn authorize_owner(
    state: &AppState,
    principal: &Principal,
    owner_type: &str,
    owner_id: &str,
) -> Result<()> {
    principal.require("limits:write")?;
    let org = principal.org_id();
    let target = match owner_type {
        "user" => {
            let member = state
                .store
                .get_member(org, owner_id)
                .await?
                .ok_or(ApiError::NotFound("member"))?;
            return principal
                .authorize(
                    state,
                    "limits:write",
                    Action::Write,
                    Target::Person(member.role),
                )
                .await
                .map(drop);
        }
        "service_account" => {
            state
                .store
                .get_service_account(org, owner_id)
                .await
                .map_err(|_| ApiError::NotFound("service account"))?;
            Target::Organization
        }
        "external" => {
            ExternalId::parse(owner_id).map_err(|e| ApiError::validation("owner_id", e))?;
            Target::Organization
        }
        _ => {
            return Err(ApiError::validation(
                "owner_type",
                "must be user, service_account or external",
            ))
        }
    };
    principal
        .authorize(state, "limits:write", Action::Write, target)
        .await
        .map(drop)
}

/// The owner a path's `{owner_type}/{owner_id}` names (checked by [`authorize_owner`]).
fn limit_owner(owner_type: &str, owner_id: &str) -> Result<keyward_core::Owner> {
    keyward_store::limit_owner(owner_type, owner_id).ok_or_else(|| {
        ApiError::validation("owner_type", "must be user, service_account or external")
    })
}

/// Rate limits shared by all keys of an owner.
#[utoipa::path(get, path = "/v1/owner-limits", tag = "keys",
    responses((status = 200, body = Vec<OwnerLimit>), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["limits:read"])))]
pub async fn list_owner_limits(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<OwnerLimit>>> {
    principal
        .authorize(&state, "limits:read", Action::Read, Target::AdminRecords)
        .await?;
    Ok(Json(
        state
            .store
            .list_owner_limits(principal.org_id())
            .await?
            .into_api(),
    ))
}

/// Set the rate limit shared by all keys of a user, service account or customer.
#[utoipa::path(put, path = "/v1/owner-limits/{owner_type}/{owner_id}", tag = "keys",
    params(("owner_type" = String, Path), ("owner_id" = String, Path)), request_body = OwnerLimitRequest,
    responses((status = 200, body = OwnerLimit), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["limits:write"])))]
pub async fn set_owner_limit(
    State(state): State<AppState>,
    principal: Principal,
    Path((owner_type, owner_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<OwnerLimitRequest>,
) -> Result<Json<OwnerLimit>> {
    authorize_owner(&state, &principal, &owner_type, &owner_id).await?;
    req.ratelimit
        .validate()
        .map_err(|e| ApiError::validation("ratelimit", e))?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "owner_limit.set",
        &owner_type,
        &owner_id,
        serde_json::json!({ "ratelimit": req.ratelimit }),
    );
    state
        .store
        .set_owner_limit(
            principal.org_id(),
            &limit_owner(&owner_type, &owner_id)?,
            Some(req.ratelimit),
            audit,
        )
        .await?;
    Ok(Json(OwnerLimit {
        owner_type,
        owner_id,
        ratelimit: req.ratelimit,
    }))
}

/// Remove an owner's shared rate limit.
#[utoipa::path(delete, path = "/v1/owner-limits/{owner_type}/{owner_id}", tag = "keys",
    params(("owner_type" = String, Path), ("owner_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::errors::Problem)),
    security(("bearer" = ["limits:write"])))]
pub async fn delete_owner_limit(
    State(state): State<AppState>,
    principal: Principal,
    Path((owner_type, owner_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    authorize_owner(&state, &principal, &owner_type, &owner_id).await?;
    let audit = actor_event(
        &principal,
        state.clock.now(),
        "owner_limit.delete",
        &owner_type,
        &owner_id,
        serde_json::json!({}),
    );
    state
        .store
        .set_owner_limit(
            principal.org_id(),
            &limit_owner(&owner_type, &owner_id)?,
            None,
            audit,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
