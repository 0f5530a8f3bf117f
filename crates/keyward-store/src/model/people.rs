//! People's console credentials: password hashes, one-time password links and
//! server-side sessions. The store never sees a password, a link's token or a cookie:
//! only what the caller derived from them (an argon2id PHC string, SHA-256 hashes).

use chrono::{DateTime, Duration, Utc};
use keyward_core::KeyHash;

/// What a password link is for; its redemption is audited as `password.set` or
/// `password.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPurpose {
    /// A person's first password.
    Setup,
    /// A new password in place of a forgotten one.
    Reset,
}

impl PasswordPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordPurpose::Setup => "setup",
            PasswordPurpose::Reset => "reset",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "setup" => Some(PasswordPurpose::Setup),
            "reset" => Some(PasswordPurpose::Reset),
            _ => None,
        }
    }

    /// The action of the audit event its redemption writes.
    pub fn audit_action(self) -> &'static str {
        match self {
            PasswordPurpose::Setup => "password.set",
            PasswordPurpose::Reset => "password.reset",
        }
    }
}

/// A one-time password link to store. Only the SHA-256 of its token is kept.
#[derive(Debug, Clone)]
pub struct NewPasswordLink {
    /// `pwl_…`.
    pub id: String,
    pub user_id: String,
    /// The organization in whose name it is issued (the person must be a member).
    pub org_id: String,
    pub purpose: PasswordPurpose,
    pub token_hash: KeyHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// An actor id, or `bootstrap` / `operator`.
    pub created_by: String,
}

/// A stored password link (without its token hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLink {
    pub id: String,
    pub user_id: String,
    pub org_id: String,
    pub purpose: PasswordPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was redeemed, or superseded by a newer link of the same purpose.
    pub used_at: Option<DateTime<Utc>>,
    pub created_by: String,
}

/// What a redeemed password link was for and whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: String,
    pub org_id: String,
    pub purpose: PasswordPurpose,
}

/// What signing in with a password checks. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: String,
    pub email: String,
    /// An argon2id PHC string; `None` until the person sets a password.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A console session to store: the caller made the random cookie value and passes
/// only its SHA-256.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// `ses_…`, shown in the person's list of sessions.
    pub id: String,
    pub token_hash: KeyHash,
    pub user_id: String,
    /// The organization it acts in (the person must be a member).
    pub org_id: String,
    pub created_at: DateTime<Utc>,
    pub idle_timeout: Duration,
    pub absolute_expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A stored session, whatever its state (see [`Session::is_active_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub org_id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub idle_timeout: Duration,
    pub absolute_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Session {
    /// Not revoked, not idle for longer than its idle timeout, not past its absolute
    /// expiry.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none()
            && now < self.absolute_expires_at
            && now < self.last_seen_at + self.idle_timeout
    }
}
