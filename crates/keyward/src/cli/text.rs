//! How Keyward's values read for people: rate limits and quotas in the flags' own
//! syntax, counts and percentages, roles, key kinds, scopes and statuses. A leaf of
//! pure functions, shared by the commands and by `keyward admin`.

use super::output::Color;
use keyward_client::{KeyKind, KeyStatus, Quota, RateLimit, Refill, Role, Scope};

/// `1m`, `90s`, `1h`, `7d`: as the server writes periods.
pub fn period_text(secs: u32) -> String {
    match secs {
        s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `100/1m`, the flag's own syntax.
pub fn ratelimit_text(r: &RateLimit) -> String {
    format!("{}/{}", r.limit, period_text(r.period))
}

/// `10000/monthly`, `10000/daily`, or `10000 (never refilled)`.
pub fn quota_text(q: &Quota) -> String {
    match q.refill {
        Some(Refill::Daily) => format!("{}/daily", q.limit),
        Some(Refill::Monthly) => format!("{}/monthly", q.limit),
        None => format!("{} (never refilled)", q.limit),
    }
}

/// `12 345 678`: digits grouped by three, for counts people read.
pub fn count_text(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `12%`; `<1%` for a little above nothing.
pub fn percent_text(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p > 0.0 && p < 0.5 {
        "<1%".to_owned()
    } else {
        format!("{:.0}%", p)
    }
}

/// For `keys show` and `keys edit`: `100/1m` or `none`.
pub fn ratelimit_or_none(r: Option<&RateLimit>) -> String {
    r.map(ratelimit_text).unwrap_or_else(|| "none".to_owned())
}

/// For `keys show` and `keys edit`: `10000/monthly` or `none`.
pub fn quota_or_none(q: Option<&Quota>) -> String {
    q.map(quota_text).unwrap_or_else(|| "none".to_owned())
}

/// `owner`, `org-admin`, `agent-admin`, `member`: as the `--role` flag takes them.
pub fn role_text(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::OrgAdmin => "org-admin",
        Role::AgentAdmin => "agent-admin",
        Role::Member => "member",
    }
}

/// "personal access token", "service account", …
pub fn kind_label(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Personal => "personal access token",
        KeyKind::ServiceAccount => "service account",
        KeyKind::Worker => "worker key",
        KeyKind::Channel => "channel token",
        KeyKind::LegacyWorkspace => "legacy workspace token",
        KeyKind::Api => "API key",
    }
}

/// `organization`, `workspaces ws_a, ws_b`, `agent agt_x`.
pub fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::Organization => "organization".to_owned(),
        Scope::Workspaces { workspaces } => format!("workspaces {}", workspaces.join(", ")),
        Scope::Agent { agent } => format!("agent {agent}"),
    }
}

/// `active`, `disabled`, `expired`, `revoked`.
pub fn status_word(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Expired => "expired",
        KeyStatus::Revoked => "revoked",
    }
}

/// Green for a key that works, yellow for one that may again, red for one that never will.
pub fn status_color(status: KeyStatus) -> Color {
    match status {
        KeyStatus::Active => Color::Green,
        KeyStatus::Disabled | KeyStatus::Expired => Color::Yellow,
        KeyStatus::Revoked => Color::Red,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentages_read_easily() {
        assert_eq!(count_text(0), "0");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_text(2340), "2 340");
        assert_eq!(count_text(1_234_567), "1 234 567");
        assert_eq!(percent_text(0.0), "0%");
        assert_eq!(percent_text(0.001), "<1%");
        assert_eq!(percent_text(0.234), "23%");
        assert_eq!(percent_text(1.0), "100%");
    }
}
