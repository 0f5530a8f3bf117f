//! When keys stop working. Every function takes "now" so tests move the clock.
//!
//! Accepted expiry forms: the presets `7d`, `30d`, `60d`, `90d`, `180d`, `1y`; `never`
//! (the default); an RFC 3339 timestamp; or a date `YYYY-MM-DD` (00:00 UTC that day).
//! Report times ([`parse_instant`]) also take `now` and times ago (`24h`, `2w ago`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const PRESETS: &[(&str, i64)] = &[
    ("7d", 7),
    ("30d", 30),
    ("60d", 60),
    ("90d", 90),
    ("180d", 180),
    ("1y", 365),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("must be one of 7d, 30d, 60d, 90d, 180d, 1y, never, an RFC 3339 time or a YYYY-MM-DD date (got {0:?})")]
    Unrecognised(String),
    #[error("must be in the future (got {0})")]
    InThePast(DateTime<Utc>),
    #[error("must be a duration such as 0, 30s, 15m, 24h or 7d (got {0:?})")]
    BadDuration(String),
    #[error("must be at most {max} (got {got:?})")]
    DurationTooLong { got: String, max: &'static str },
}

/// An expiry as asked for, before it is fixed against the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    After(Duration),
    At(DateTime<Utc>),
}

impl Expiry {
    pub fn parse(raw: &str) -> Result<Self, ExpiryError> {
        let s = raw.trim();
        if s.eq_ignore_ascii_case("never") {
            return Ok(Expiry::Never);
        }
        if let Some((_, days)) = PRESETS.iter().find(|(p, _)| p.eq_ignore_ascii_case(s)) {
            return Ok(Expiry::After(Duration::days(*days)));
        }
        if let Ok(at) = DateTime::parse_from_rfc3339(s) {
            return Ok(Expiry::At(at.with_timezone(&Utc)));
        }
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
            return Ok(Expiry::At(midnight.and_utc()));
        }
        Err(ExpiryError::Unrecognised(raw.to_owned()))
    }

    /// The expiry instant, or `None` for a key that never expires.
    pub fn resolve(self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ExpiryError> {
        match self {
            Expiry::Never => Ok(None),
            Expiry::After(d) => Ok(Some(now + d)),
            Expiry::At(at) if at <= now => Err(ExpiryError::InThePast(at)),
            Expiry::At(at) => Ok(Some(at)),
        }
    }
}

/// A short duration: `0`, `45s`, `30m`, `24h`, `7d`. Used for rotation grace periods.
pub fn parse_duration(
    raw: &str,
    max: Duration,
    max_text: &'static str,
) -> Result<Duration, ExpiryError> {
    let s = raw.trim();
    let bad = || ExpiryError::BadDuration(raw.to_owned());
    if s == "0" {
        return Ok(Duration::zero());
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(unit_secs).ok_or_else(bad)?;
    let d = Duration::try_seconds(secs).ok_or_else(bad)?;
    if d > max {
        return Err(ExpiryError::DurationTooLong {
            got: raw.to_owned(),
            max: max_text,
        });
    }
    Ok(d)
}

/// A time that is not one [`parse_instant`] reads; the message lists what it reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time: use RFC 3339 (2026-11-22T16:00:00Z), a date (2026-11-22), now, or a time ago (30m, 24h, 7d, 2w)")]
pub struct InstantError(pub String);

/// An instant as people write one for a report (`keyward keys usage --from`, `GET
/// /v1/keys/{id}/usage?from=`): RFC 3339, a date `YYYY-MM-DD` (midnight UTC), `now`, or a
/// time ago `30m`, `24h`, `7d`, `2w` (up to 3660 days), optionally followed by ` ago`.
/// Relative forms count back from `now`, the caller's clock.
pub fn parse_instant(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, InstantError> {
    let s = raw.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    let ago = s.strip_suffix(" ago").unwrap_or(s);
    let ago = match ago.strip_suffix('w') {
        Some(weeks) => weeks.parse::<i64>().ok().and_then(Duration::try_weeks),
        None => parse_duration(ago, Duration::days(3660), "3660d").ok(),
    };
    ago.and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| InstantError(s.to_owned()))
}

/// Where a key stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Switched off for now; can be switched back on.
    Disabled,
    Expired,
    Revoked,
}

/// Revoked and expired are for good, so they win over disabled, which is for now.
pub fn status_at(
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    enabled: bool,
    now: DateTime<Utc>,
) -> KeyStatus {
    if revoked_at.is_some_and(|r| r <= now) {
        KeyStatus::Revoked
    } else if expires_at.is_some_and(|e| e <= now) {
        KeyStatus::Expired
    } else if !enabled {
        KeyStatus::Disabled
    } else {
        KeyStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn presets_resolve_against_the_given_clock() {
        let now = t("2026-01-01T00:00:00Z");
        let cases = [
            ("7d", "2026-01-08"),
            ("30d", "2026-01-31"),
            ("60d", "2026-03-02"),
            ("90d", "2026-04-01"),
            ("180d", "2026-06-30"),
            ("1y", "2027-01-01"),
        ];
        for (preset, date) in cases {
            let at = Expiry::parse(preset)
                .unwrap()
                .resolve(now)
                .unwrap()
                .unwrap();
            assert_eq!(at, t(&format!("{date}T00:00:00Z")), "{preset}");
        }
        assert_eq!(Expiry::parse("never").unwrap().resolve(now), Ok(None));
    }

    #[test]
    fn custom_dates_must_be_in_the_future() {
        let now = t("2026-06-01T12:00:00Z");
        assert_eq!(
            Expiry::parse("2027-01-01").unwrap().resolve(now).unwrap(),
            Some(t("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            Expiry::parse("2026-07-01T08:00:00+02:00")
                .unwrap()
                .resolve(now)
                .unwrap(),
            Some(t("2026-07-01T06:00:00Z"))
        );
        assert!(matches!(
            Expiry::parse("2026-05-01").unwrap().resolve(now),
            Err(ExpiryError::InThePast(_))
        ));
        assert!(matches!(
            Expiry::parse("45d"),
            Err(ExpiryError::Unrecognised(_))
        ));
        assert!(matches!(
            Expiry::parse("tomorrow"),
            Err(ExpiryError::Unrecognised(_))
        ));
    }

    #[test]
    fn durations() {
        let max = Duration::days(30);
        assert_eq!(parse_duration("0", max, "30d"), Ok(Duration::zero()));
        assert_eq!(parse_duration("45s", max, "30d"), Ok(Duration::seconds(45)));
        assert_eq!(parse_duration("24h", max, "30d"), Ok(Duration::hours(24)));
        assert_eq!(parse_duration("30d", max, "30d"), Ok(Duration::days(30)));
        assert!(matches!(
            parse_duration("31d", max, "30d"),
            Err(ExpiryError::DurationTooLong { .. })
        ));
        for bad in ["", "h", "-1h", "1w", "1.5h", "99999999999999999999d"] {
            assert!(
                matches!(
                    parse_duration(bad, max, "30d"),
                    Err(ExpiryError::BadDuration(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn instants_are_absolute_or_ago() {
        let now = t("2030-01-10T12:00:00Z");
        let cases = [
            ("24h", "2030-01-09T12:00:00Z"),
            ("24h ago", "2030-01-09T12:00:00Z"),
            ("30m", "2030-01-10T11:30:00Z"),
            ("7d", "2030-01-03T12:00:00Z"),
            ("2w", "2029-12-27T12:00:00Z"),
            ("2w ago", "2029-12-27T12:00:00Z"),
            ("0", "2030-01-10T12:00:00Z"),
            ("now", "2030-01-10T12:00:00Z"),
            ("NOW", "2030-01-10T12:00:00Z"),
            ("2030-01-01T01:00:00+01:00", "2030-01-01T00:00:00Z"),
            ("2030-01-02", "2030-01-02T00:00:00Z"),
            (" 2026-11-30 ", "2026-11-30T00:00:00Z"),
        ];
        for (raw, at) in cases {
            assert_eq!(parse_instant(raw, now), Ok(t(at)), "{raw}");
        }
        for bad in [
            "yesterday",
            "24",
            "h",
            "",
            "-1h",
            "1.5h",
            "3661d",
            "2026-11-31",
            "9999999999999w",
        ] {
            assert_eq!(
                parse_instant(bad, now),
                Err(InstantError(bad.trim().to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            InstantError("24".into()).to_string(),
            "\"24\" is not a time: use RFC 3339 (2026-11-22T16:00:00Z), a date (2026-11-22), now, or a time ago (30m, 24h, 7d, 2w)"
        );
    }

    #[test]
    fn status_depends_on_the_clock_then_on_the_switch() {
        let now = t("2026-06-01T00:00:00Z");
        let before = now - Duration::seconds(1);
        let after = now + Duration::seconds(1);
        assert_eq!(status_at(None, None, true, now), KeyStatus::Active);
        assert_eq!(status_at(None, Some(after), true, now), KeyStatus::Active);
        assert_eq!(status_at(None, Some(now), true, now), KeyStatus::Expired);
        assert_eq!(
            status_at(Some(before), Some(before), true, now),
            KeyStatus::Revoked
        );
        assert_eq!(status_at(Some(after), None, true, now), KeyStatus::Active);
        assert_eq!(status_at(None, None, false, now), KeyStatus::Disabled);
        assert_eq!(
            status_at(None, Some(after), false, now),
            KeyStatus::Disabled
        );
        // For good wins over for now.
        assert_eq!(status_at(None, Some(now), false, now), KeyStatus::Expired);
        assert_eq!(
            status_at(Some(before), None, false, now),
            KeyStatus::Revoked
        );
    }
}
