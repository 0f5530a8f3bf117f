//! Values on the command line, as clap's value parsers: rate limits (`100/1m`), quotas
//! (`10000/monthly`), expiries and durations, permissions, metadata, report times. A
//! leaf: a bad value is a usage error before anything is sent.

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use keyward_client::{Quota, RateLimit, Refill, Role};

/// `LIMIT/PERIOD`: `100/1m`, `5/1s`, `1000/1h`, `50000/1d` (period at most 30d).
pub fn parse_ratelimit(s: &str) -> Result<RateLimit, String> {
    let s = s.trim();
    let Some((limit, period)) = s.split_once('/') else {
        return Err(format!(
            "{s:?} is not LIMIT/PERIOD; write e.g. 100/1m (100 requests per minute)"
        ));
    };
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a whole number of requests", limit.trim()))?;
    let period = keyward_core::expiry::parse_duration(period, chrono::Duration::days(30), "30d")
        .map_err(|_| {
            format!(
                "{:?} is not a period such as 1s, 1m, 1h or 1d (at most 30d)",
                period.trim()
            )
        })?;
    let period = u32::try_from(period.num_seconds()).unwrap_or(0);
    let r = RateLimit { limit, period };
    r.validate().map_err(|e| e.to_string())?;
    Ok(r)
}

/// `LIMIT[/daily|/monthly]`: `10000` (never refilled), `10000/monthly`.
pub fn parse_quota(s: &str) -> Result<Quota, String> {
    let s = s.trim();
    let (limit, refill) = match s.split_once('/') {
        Some((l, r)) => (l.trim(), Some(r.trim())),
        None => (s, None),
    };
    let limit: i64 = limit.replace('_', "").parse().map_err(|_| {
        format!("{limit:?} is not a whole number of credits; write e.g. 10000 or 10000/monthly")
    })?;
    let refill = match refill.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("daily" | "day") => Some(Refill::Daily),
        Some("monthly" | "month") => Some(Refill::Monthly),
        Some(other) => {
            return Err(format!(
                "{other:?} is not a refill; use daily or monthly (or nothing: never refilled)"
            ))
        }
    };
    let q = Quota { limit, refill };
    q.validate().map_err(|e| e.to_string())?;
    Ok(q)
}

/// `--expires`: a preset (`90d`), `never`, a date or an RFC 3339 time.
pub fn parse_expiry(s: &str) -> Result<String, String> {
    keyward_core::expiry::Expiry::parse(s)
        .map(|_| s.trim().to_owned())
        .map_err(|e| e.to_string())
}

/// `--grace`: how long a rotated key keeps working, `0` to `30d`.
pub fn parse_grace(s: &str) -> Result<String, String> {
    keyward_core::expiry::parse_duration(s, chrono::Duration::days(30), "30d")
        .map(|_| s.trim().to_owned())
        .map_err(|e| e.to_string())
}

/// A `resource:action` grant, written as the server writes it.
pub fn parse_permission(s: &str) -> Result<String, String> {
    keyward_core::Permission::parse(s.trim())
        .map(|p| p.to_string())
        .map_err(|e| e.to_string())
}

/// `KEY=VALUE`.
pub fn parse_metadata(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `1h` to `30d`, as the server accepts.
pub fn parse_invitation_expiry(s: &str) -> Result<String, String> {
    let d = keyward_core::expiry::parse_duration(s, chrono::Duration::days(30), "30d")
        .map_err(|e| e.to_string())?;
    if d < chrono::Duration::hours(1) {
        return Err("must be at least 1h".to_owned());
    }
    Ok(s.trim().to_owned())
}

/// `keyward connect --timeout`: how long to wait for the person, `10s` to `10m` (an
/// authorization's state lives ten minutes).
pub fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let d = keyward_core::expiry::parse_duration(s, chrono::Duration::minutes(10), "10m")
        .map_err(|e| e.to_string())?;
    if d < chrono::Duration::seconds(10) {
        return Err("must be at least 10s".to_owned());
    }
    d.to_std().map_err(|e| e.to_string())
}

/// `keyward webhooks rotate-secret --overlap`: how long the replaced signing secret
/// still signs beside the new one, `0` to `7d`, in seconds (as the server takes it).
pub fn parse_overlap(s: &str) -> Result<u64, String> {
    keyward_core::expiry::parse_duration(s, chrono::Duration::days(7), "7d")
        .map(|d| u64::try_from(d.num_seconds()).unwrap_or(0))
        .map_err(|e| e.to_string())
}

/// `--from` / `--to`: RFC 3339, a date (`2026-11-01`, midnight UTC), `now`, or a
/// duration ago (`30m`, `24h`, `7d`, `2w`), read as the server reads `?from=`.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    keyward_core::expiry::parse_instant(s, Utc::now()).map_err(|e| e.to_string())
}

/// `--role`: owner, org-admin, agent-admin or member.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    #[value(alias = "org_admin")]
    OrgAdmin,
    #[value(alias = "agent_admin")]
    AgentAdmin,
    Member,
}

impl RoleArg {
    pub fn role(self) -> Role {
        match self {
            RoleArg::Owner => Role::Owner,
            RoleArg::OrgAdmin => Role::OrgAdmin,
            RoleArg::AgentAdmin => Role::AgentAdmin,
            RoleArg::Member => Role::Member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::{quota_text, ratelimit_text};
    use super::*;

    #[test]
    fn rate_limits_parse_and_print_in_the_flag_syntax() {
        let r = parse_ratelimit("100/1m").unwrap();
        assert_eq!((r.limit, r.period), (100, 60));
        assert_eq!(ratelimit_text(&r), "100/1m");
        assert_eq!(
            ratelimit_text(&parse_ratelimit(" 5/90s ").unwrap()),
            "5/90s"
        );
        assert_eq!(ratelimit_text(&parse_ratelimit("7/30d").unwrap()), "7/30d");
        for bad in [
            "0/1m", "100", "100/", "x/1m", "1/0", "1/31d", "1/1w", "-1/1m",
        ] {
            assert!(parse_ratelimit(bad).is_err(), "{bad}");
        }
        assert!(parse_ratelimit("0/1m").unwrap_err().contains("at least 1"));
    }

    #[test]
    fn quotas_parse_with_an_optional_refill() {
        let q = parse_quota("10000").unwrap();
        assert_eq!((q.limit, q.refill), (10_000, None));
        assert_eq!(
            parse_quota("10000/monthly").unwrap().refill,
            Some(Refill::Monthly)
        );
        assert_eq!(parse_quota("5/daily").unwrap().refill, Some(Refill::Daily));
        assert_eq!(
            quota_text(&parse_quota("10000/monthly").unwrap()),
            "10000/monthly"
        );
        for bad in ["abc", "0", "-5", "10/hourly", "", "1000000000001"] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }
}
