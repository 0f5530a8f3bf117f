//! Console sessions (issue 14): how long one lives, the cookie that carries it, and the
//! CSRF token bound to it. Sessions themselves are rows in the database (several nodes
//! share them); the cookie holds a random `kw_ses_` token whose SHA-256 is the row's key.
//!
//! Timeouts: a session ends after [`Timeouts::idle`] without a request, and in any case
//! [`Timeouts::absolute`] after sign-in (GitHub's web sessions last two weeks; ours too
//! by default, with a day of idleness).
//!
//! CSRF: every state-changing console request carries a token derived from the session
//! token (`SHA-256("keyward csrf" ‖ token)`, base62). A cross-site page can make the
//! browser send the cookie (SameSite=Lax still allows top-level GETs) but can read
//! neither the cookie nor a page, so it cannot know the token; the server derives it
//! again from the cookie and compares in constant time. No server-side state.

use chrono::{DateTime, Duration, Utc};
use keyward_core::invite::SessionToken;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's name. With HTTPS it takes the `__Host-` prefix, which browsers accept
/// only from a secure origin, for the whole host, without a `Domain`: no subdomain can
/// plant or read it.
pub const COOKIE: &str = "keyward_session";
const SECURE_COOKIE: &str = "__Host-keyward_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: Duration::hours(24),
            absolute: Duration::days(14),
        }
    }
}

/// Whether a session still works at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Active,
    /// No request for longer than the idle timeout.
    Idle,
    /// Past its absolute lifetime.
    Expired,
    /// Signed out (here, everywhere, by a password change or a removal).
    Revoked,
}

/// The times a stored session is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub last_seen_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Timeouts {
    /// When a session signed in at `now` ends at the latest.
    pub fn absolute_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.absolute
    }

    /// Revoked, then expired, then idle: what is for good wins.
    pub fn liveness(&self, t: &Times, now: DateTime<Utc>) -> Liveness {
        if t.revoked_at.is_some_and(|at| at <= now) {
            Liveness::Revoked
        } else if now >= t.absolute_expires_at {
            Liveness::Expired
        } else if now - t.last_seen_at >= self.idle {
            Liveness::Idle
        } else {
            Liveness::Active
        }
    }
}

/// The cookie's name for a console served over HTTPS (`secure`) or plain HTTP.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it), SameSite=Lax (not
/// sent on cross-site subrequests or POSTs), Secure with the `__Host-` name over HTTPS,
/// for the whole host, expiring with the session's absolute lifetime.
pub fn set_cookie(token: &SessionToken, secure: bool, max_age: Duration) -> String {
    let mut c = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        cookie_name(secure),
        token.expose_secret(),
        max_age.num_seconds().max(0)
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// `Set-Cookie` that removes the session cookie (sign out).
pub fn clear_cookie(secure: bool) -> String {
    let mut c = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(secure)
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The CSRF token of the session whose cookie holds `token`.
pub fn csrf_token(token: &SessionToken) -> String {
    let mut h = Sha256::new();
    h.update(b"keyward csrf\0");
    h.update(token.expose_secret().as_bytes());
    let digest = h.finalize();
    // 32 bytes as base62 digits of 4-byte words: 48 characters, URL- and form-safe.
    digest
        .chunks(4)
        .map(|w| {
            let word = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
            String::from_utf8(keyward_core::base62::encode_u32_fixed6(word).to_vec())
                .expect("base62 is ascii")
        })
        .collect()
}

/// Whether `presented` is the CSRF token of the session `token`, compared in constant
/// time.
pub fn csrf_matches(token: &SessionToken, presented: &str) -> bool {
    csrf_token(token)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_session_ends_idle_expired_or_revoked() {
        let policy = Timeouts::default();
        let signed_in = t("2030-01-01T00:00:00Z");
        let times = Times {
            last_seen_at: signed_in,
            absolute_expires_at: policy.absolute_end(signed_in),
            revoked_at: None,
        };
        assert_eq!(
            policy.liveness(&times, t("2030-01-01T23:59:59Z")),
            Liveness::Active
        );
        assert_eq!(
            policy.liveness(&times, t("2030-01-02T00:00:00Z")),
            Liveness::Idle
        );
        let busy = Times {
            last_seen_at: t("2030-01-14T23:00:00Z"),
            ..times
        };
        assert_eq!(
            policy.liveness(&busy, t("2030-01-14T23:30:00Z")),
            Liveness::Active
        );
        assert_eq!(
            policy.liveness(&busy, t("2030-01-15T00:00:00Z")),
            Liveness::Expired
        );
        let revoked = Times {
            revoked_at: Some(t("2030-01-01T01:00:00Z")),
            ..times
        };
        assert_eq!(
            policy.liveness(&revoked, t("2030-01-01T00:30:00Z")),
            Liveness::Active
        );
        assert_eq!(
            policy.liveness(&revoked, t("2030-01-01T01:00:00Z")),
            Liveness::Revoked
        );
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_over_https() {
        let token = SessionToken::generate();
        let secure = set_cookie(&token, true, Duration::days(14));
        assert!(
            secure.starts_with("__Host-keyward_session=kw_ses_"),
            "{secure}"
        );
        for part in [
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Max-Age=1209600",
        ] {
            assert!(secure.contains(part), "{secure} lacks {part}");
        }
        assert!(!secure.contains("Domain"));
        let plain = set_cookie(&token, false, Duration::days(14));
        assert!(plain.starts_with("keyward_session=") && !plain.contains("Secure"));
        assert!(clear_cookie(true).contains("Max-Age=0"));
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let (a, b) = (SessionToken::generate(), SessionToken::generate());
        let token = csrf_token(&a);
        assert_eq!(token.len(), 48);
        assert_eq!(token, csrf_token(&a), "derived, so the same every time");
        assert!(csrf_matches(&a, &token));
        assert!(
            !csrf_matches(&b, &token),
            "another session's token is refused"
        );
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_matches(&a, &token[..47]));
        assert!(!token.contains(&a.expose_secret()[7..]));
    }
}
