//! `GET /v1/keys/{id}/usage` and the rate limits shared by an owner's keys.

use chrono::{DateTime, Utc};
use keyward_core::{Quota, RateLimit, Refill};
use serde::{Deserialize, Serialize};

// `minute`, `hour` or `day`: the size of a usage report's buckets.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// The length of one bucket in minutes.
    pub fn minutes(self) -> i64 {
        match self {
            Granularity::Minute => 1,
            Granularity::Hour => 60,
            Granularity::Day => 1440,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Start: RFC 3339, a date (`2026-11-30`, midnight UTC), `now`, or a time ago (`30m`,
    /// `24h`, `7d`, `2w`); default: 24 hours before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(example = "7d"))]
    pub from: Option<String>,
    /// End, exclusive, in the same forms as `from`; default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(example = "now"))]
    pub to: Option<String>,
    /// `minute`, `hour` (default) or `day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<Granularity>,
}

// Verifications and API calls, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Counts))]
pub struct UsageCounts {
    /// Verifications that answered VALID.
    pub valid: i64,
    /// Verifications of this key that answered anything else.
    pub denied: i64,
    /// Calls to Keyward's API made with this key.
    pub api: i64,
}

// One bucket of a usage series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Bucket))]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: UsageCounts,
}

/// How much of a rate limit a key used: the limit's own fields (`limit`, `period` as the
/// API writes it, e.g. `1m`) and the measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitUsage {
    pub limit: u32,
    /// `1m`, `1h`, `10s`, … as the server prints it.
    pub period: String,
    /// Requests (valid verifications and API calls) in the last period, counted by minute.
    pub used_in_last_period: i64,
    /// `used_in_last_period / limit`.
    pub utilization: f64,
    /// The highest utilization of any period-long window in the report.
    pub peak_utilization: f64,
}

/// How much of its quota a key spent in the current refill period: the quota's own
/// fields (`limit`, `refill`) and the measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    pub remaining: i64,
    pub used: i64,
    /// `used / limit` in the current refill period.
    pub utilization: f64,
}

impl QuotaUsage {
    pub fn quota(&self) -> Quota {
        Quota {
            limit: self.limit,
            refill: self.refill,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub key_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub totals: UsageCounts,
    pub series: Vec<UsageBucket>,
    pub ratelimit: Option<RateLimitUsage>,
    /// The limit shared by all keys of this key's owner, measured on this key.
    pub owner_ratelimit: Option<RateLimitUsage>,
    pub quota: Option<QuotaUsage>,
}

/// A rate limit shared by all keys of one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnerLimit {
    /// `user`, `service_account` or `external`.
    pub owner_type: String,
    pub owner_id: String,
    pub ratelimit: RateLimit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnerLimitRequest {
    pub ratelimit: RateLimit,
}

/// The OpenAPI schemas of the two usage measurements keep the shape they were published
/// with: the limit's (or quota's) own schema, `allOf` the measurements.
#[cfg(feature = "openapi")]
mod schema {
    use keyward_core::{Quota, RateLimit};
    use std::borrow::Cow;
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    #[allow(dead_code)]
    #[derive(utoipa::ToSchema)]
    #[schema(as = RateLimitUsage)]
    struct RateLimitUsageSchema {
        #[serde(flatten)]
        limit: RateLimit,
        /// Requests (valid verifications and API calls) in the last period, counted by minute.
        used_in_last_period: i64,
        /// `used_in_last_period / limit`.
        utilization: f64,
        /// The highest utilization of any period-long window in the report.
        peak_utilization: f64,
    }

    #[allow(dead_code)]
    #[derive(utoipa::ToSchema)]
    #[schema(as = QuotaUsage)]
    struct QuotaUsageSchema {
        #[serde(flatten)]
        quota: Quota,
        remaining: i64,
        used: i64,
        /// `used / limit` in the current refill period.
        utilization: f64,
    }

    macro_rules! same_schema {
        ($ty:ty, $shape:ty) => {
            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    <$shape as PartialSchema>::schema()
                }
            }
            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    <$shape as ToSchema>::name()
                }
                fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                    <$shape as ToSchema>::schemas(schemas)
                }
            }
        };
    }

    same_schema!(super::RateLimitUsage, RateLimitUsageSchema);
    same_schema!(super::QuotaUsage, QuotaUsageSchema);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_carry_the_limits_as_the_api_writes_them() {
        let r = RateLimitUsage {
            limit: 10,
            period: RateLimit {
                limit: 10,
                period: 60,
            }
            .period_text(),
            used_in_last_period: 1,
            utilization: 0.1,
            peak_utilization: 0.2,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"limit":10,"period":"1m","used_in_last_period":1,"utilization":0.1,"peak_utilization":0.2}"#
        );
        let q = QuotaUsage {
            limit: 10,
            refill: None,
            remaining: 9,
            used: 1,
            utilization: 0.1,
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"limit":10,"remaining":9,"used":1,"utilization":0.1}"#
        );
    }
}
