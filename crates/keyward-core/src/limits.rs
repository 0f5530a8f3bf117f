//! Rate limits and quotas as configured on keys, owners and organizations.
//!
//! - A [`RateLimit`] is `limit` requests per `period` (GCRA: the allowance refills
//!   continuously, bursts up to `limit`).
//! - A [`Quota`] is a balance of credits that each verification spends (`cost`,
//!   default 1), optionally refilled at the start of every UTC day or month.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per period (also the largest burst).
    pub limit: u32,
    /// `1s`, `1m`, `1h` or `1d` (any count of those units, e.g. `10s`).
    #[serde(with = "period")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1m"))]
    pub period: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("limit must be at least 1")]
    ZeroLimit,
    #[error("period must be a duration such as 1s, 1m, 1h or 1d, at most 30d")]
    BadPeriod,
    #[error("quota limit must be between 1 and 1000000000000")]
    BadQuota,
}

impl RateLimit {
    /// The period as the API writes it: `1m`, `10s`, `1d`.
    pub fn period_text(&self) -> String {
        period::text(self.period)
    }

    pub fn validate(&self) -> Result<(), LimitError> {
        if self.limit == 0 {
            return Err(LimitError::ZeroLimit);
        }
        if self.period == 0 || self.period > 30 * 86_400 {
            return Err(LimitError::BadPeriod);
        }
        Ok(())
    }
}

mod period {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secs: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*secs))
    }

    /// `60` → `1m`, `86400` → `1d`, `90` → `90s`: the largest unit that divides it.
    pub fn text(secs: u32) -> String {
        let (n, unit) = match secs {
            s if s % 86_400 == 0 => (s / 86_400, "d"),
            s if s % 3600 == 0 => (s / 3600, "h"),
            s if s % 60 == 0 => (s / 60, "m"),
            s => (s, "s"),
        };
        format!("{n}{unit}")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let raw = String::deserialize(d)?;
        let max = chrono::Duration::days(30);
        crate::expiry::parse_duration(&raw, max, "30d")
            .ok()
            .and_then(|d| u32::try_from(d.num_seconds()).ok())
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                D::Error::custom("period must be a duration such as 1s, 1m, 1h or 1d, at most 30d")
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Refill {
    Daily,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Credits per period (or in total, without refill).
    pub limit: i64,
    /// Refill to `limit` at the start of every UTC day or month; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
}

impl Quota {
    pub fn validate(&self) -> Result<(), LimitError> {
        if !(1..=1_000_000_000_000).contains(&self.limit) {
            return Err(LimitError::BadQuota);
        }
        Ok(())
    }

    /// Which refill period `now` falls in: days or months since 1970, or 0 without refill.
    pub fn period_at(&self, now: DateTime<Utc>) -> i64 {
        match self.refill {
            None => 0,
            Some(Refill::Daily) => now.timestamp().div_euclid(86_400),
            Some(Refill::Monthly) => i64::from(now.year() - 1970) * 12 + i64::from(now.month0()),
        }
    }

    /// How many credits a node takes from the database at a time: enough to keep
    /// writes rare, small enough that a crash strands little (see ARCHITECTURE.md).
    pub fn lease_size(&self, cost: i64) -> i64 {
        (self.limit / 100).clamp(1, 100).max(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn periods_parse_and_print() {
        let r: RateLimit = serde_json::from_str(r#"{"limit": 100, "period": "1m"}"#).unwrap();
        assert_eq!(
            r,
            RateLimit {
                limit: 100,
                period: 60
            }
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"limit":100,"period":"1m"}"#
        );
        assert_eq!(
            serde_json::to_string(&RateLimit {
                limit: 1,
                period: 90
            })
            .unwrap(),
            r#"{"limit":1,"period":"90s"}"#
        );
        for bad in [
            r#"{"limit": 1, "period": "0"}"#,
            r#"{"limit": 1, "period": "31d"}"#,
            r#"{"limit": 1, "period": "x"}"#,
        ] {
            assert!(serde_json::from_str::<RateLimit>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RateLimit {
                limit: 0,
                period: 60
            }
            .validate(),
            Err(LimitError::ZeroLimit)
        );
    }

    #[test]
    fn refill_periods_follow_the_utc_calendar() {
        let daily = Quota {
            limit: 10,
            refill: Some(Refill::Daily),
        };
        assert_eq!(
            daily.period_at(t("2030-01-01T23:59:59Z")) + 1,
            daily.period_at(t("2030-01-02T00:00:00Z"))
        );
        let monthly = Quota {
            limit: 10,
            refill: Some(Refill::Monthly),
        };
        assert_eq!(
            monthly.period_at(t("2030-01-31T23:59:59Z")) + 1,
            monthly.period_at(t("2030-02-01T00:00:00Z"))
        );
        assert_eq!(
            monthly.period_at(t("2030-12-15T00:00:00Z")) + 1,
            monthly.period_at(t("2031-01-01T00:00:00Z"))
        );
        let total = Quota {
            limit: 10,
            refill: None,
        };
        assert_eq!(
            total.period_at(t("2030-01-01T00:00:00Z")),
            total.period_at(t("2040-01-01T00:00:00Z"))
        );
        assert_eq!(
            Quota {
                limit: 1_000_000,
                refill: None
            }
            .lease_size(1),
            100
        );
        assert_eq!(
            Quota {
                limit: 50,
                refill: None
            }
            .lease_size(1),
            1
        );
        assert_eq!(
            Quota {
                limit: 50,
                refill: None
            }
            .lease_size(7),
            7
        );
    }
}
