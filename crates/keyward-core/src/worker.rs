//! Workers: machines running `keyward worker` with a worker key (`kw_wk_`). What a
//! worker is called and labelled, and how its status follows from its key and the age
//! of its last heartbeat, by the clock.

use crate::expiry::KeyStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Heartbeats missed before a worker is `stale`.
pub const STALE_AFTER_MISSED: i64 = 2;
/// Heartbeats missed before a worker is `offline`.
pub const OFFLINE_AFTER_MISSED: i64 = 5;
/// The daemon's heartbeat interval unless `--heartbeat` says otherwise.
pub const DEFAULT_HEARTBEAT_SECS: u32 = 15;
/// The heartbeat intervals a worker may ask for.
pub const HEARTBEAT_SECS: std::ops::RangeInclusive<u32> = 1..=300;
/// Workers one key may register (each a name in its workspace).
pub const MAX_WORKERS_PER_KEY: u32 = 50;
/// Workers one workspace may hold.
pub const MAX_WORKERS_PER_WORKSPACE: u32 = 1000;
/// Labels one worker may carry.
pub const MAX_LABELS: usize = 20;
pub const MAX_LABEL_CHARS: usize = 64;

/// A worker's status, as its list and detail pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Heartbeats arrive.
    Online,
    /// Two heartbeats missed.
    Stale,
    /// Five heartbeats missed, or it stopped (deregistered).
    Offline,
    /// Its key was revoked.
    Revoked,
    /// Its key expired.
    Expired,
    /// Its key is disabled.
    Disabled,
}

impl WorkerStatus {
    pub const ALL: [WorkerStatus; 6] = [
        Self::Online,
        Self::Stale,
        Self::Offline,
        Self::Revoked,
        Self::Expired,
        Self::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Stale => "stale",
            Self::Offline => "offline",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a worker's status follows from.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub key: KeyStatus,
    pub last_heartbeat_at: DateTime<Utc>,
    pub heartbeat_interval_secs: u32,
    /// When it deregistered (stopped cleanly), if it did after its last connection.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The key decides first (a revoked key's worker is `revoked`, whatever its
/// heartbeats), then a clean stop, then the age of the last heartbeat: more than two
/// intervals is `stale`, more than five is `offline`.
pub fn status_at(l: &Liveness, now: DateTime<Utc>) -> WorkerStatus {
    match l.key {
        KeyStatus::Revoked => return WorkerStatus::Revoked,
        KeyStatus::Expired => return WorkerStatus::Expired,
        KeyStatus::Disabled => return WorkerStatus::Disabled,
        KeyStatus::Active => {}
    }
    if l.stopped_at.is_some() {
        return WorkerStatus::Offline;
    }
    let interval_ms = i64::from(l.heartbeat_interval_secs.max(1)) * 1000;
    let age = (now - l.last_heartbeat_at).num_milliseconds();
    if age > OFFLINE_AFTER_MISSED * interval_ms {
        WorkerStatus::Offline
    } else if age > STALE_AFTER_MISSED * interval_ms {
        WorkerStatus::Stale
    } else {
        WorkerStatus::Online
    }
}

/// Heartbeats missed at `now` (0 while they arrive on time).
pub fn missed_heartbeats(l: &Liveness, now: DateTime<Utc>) -> i64 {
    let interval_ms = i64::from(l.heartbeat_interval_secs.max(1)) * 1000;
    ((now - l.last_heartbeat_at).num_milliseconds() / interval_ms).max(0)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("a label must be 1 to {MAX_LABEL_CHARS} characters")]
    Length,
    #[error(
        "{0:?}: a label holds letters, digits, '.', '_' or '-', and starts with a letter or digit"
    )]
    Charset(String),
    #[error("at most {MAX_LABELS} labels")]
    TooMany,
}

/// A label, lowercased: labels compare without case (`GPU` is `gpu`).
pub fn parse_label(raw: &str) -> Result<String, LabelError> {
    let s = raw.trim();
    if s.is_empty() || s.len() > MAX_LABEL_CHARS {
        return Err(LabelError::Length);
    }
    let ok = s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(LabelError::Charset(s.to_owned()));
    }
    Ok(s.to_ascii_lowercase())
}

/// Labels checked, lowercased, sorted and without repeats.
pub fn parse_labels<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, LabelError> {
    let mut out = raw
        .iter()
        .map(|l| parse_label(l.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    if out.len() > MAX_LABELS {
        return Err(LabelError::TooMany);
    }
    Ok(out)
}

/// A webhook endpoint's destination when it is the workers of its workspace:
/// `workers`, or `workers:LABEL` for those carrying a label.
pub const WORKERS_DESTINATION: &str = "workers";

/// `Some(None)` for `workers`, `Some(Some(label))` for `workers:LABEL`, `None` for
/// anything else (a URL). A malformed label is an error.
pub fn parse_workers_destination(raw: &str) -> Option<Result<Option<String>, LabelError>> {
    let rest = raw.strip_prefix(WORKERS_DESTINATION)?;
    if rest.is_empty() {
        return Some(Ok(None));
    }
    let label = rest.strip_prefix(':')?;
    Some(parse_label(label).map(Some))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
    }

    fn live(key: KeyStatus) -> Liveness {
        Liveness {
            key,
            last_heartbeat_at: at(0),
            heartbeat_interval_secs: 15,
            stopped_at: None,
        }
    }

    #[test]
    fn status_follows_the_heartbeat_age() {
        let l = live(KeyStatus::Active);
        assert_eq!(status_at(&l, at(0)), WorkerStatus::Online);
        assert_eq!(status_at(&l, at(30)), WorkerStatus::Online);
        assert_eq!(status_at(&l, at(31)), WorkerStatus::Stale);
        assert_eq!(status_at(&l, at(75)), WorkerStatus::Stale);
        assert_eq!(status_at(&l, at(76)), WorkerStatus::Offline);
        assert_eq!(missed_heartbeats(&l, at(31)), 2);
        assert_eq!(missed_heartbeats(&l, at(-5)), 0);
    }

    #[test]
    fn the_key_decides_first_then_a_clean_stop() {
        for (key, status) in [
            (KeyStatus::Revoked, WorkerStatus::Revoked),
            (KeyStatus::Expired, WorkerStatus::Expired),
            (KeyStatus::Disabled, WorkerStatus::Disabled),
        ] {
            assert_eq!(status_at(&live(key), at(1)), status);
        }
        let mut l = live(KeyStatus::Active);
        l.stopped_at = Some(at(0) + Duration::seconds(1));
        assert_eq!(status_at(&l, at(2)), WorkerStatus::Offline);
    }

    #[test]
    fn labels_and_destinations() {
        assert_eq!(
            parse_labels(&["GPU", "gpu", " linux "]).unwrap(),
            ["gpu", "linux"]
        );
        assert!(parse_label("-x").is_err());
        assert!(parse_label("a b").is_err());
        assert!(parse_label("").is_err());
        assert!(parse_labels(&(0..21).map(|i| format!("l{i}")).collect::<Vec<_>>()).is_err());
        assert_eq!(parse_workers_destination("workers"), Some(Ok(None)));
        assert_eq!(
            parse_workers_destination("workers:GPU"),
            Some(Ok(Some("gpu".into())))
        );
        assert!(matches!(
            parse_workers_destination("workers:"),
            Some(Err(_))
        ));
        assert_eq!(parse_workers_destination("workersx"), None);
        assert_eq!(parse_workers_destination("https://x.example/workers"), None);
    }
}
