//! CLI logins (`keyward auth login --web`): a person signed in to the console approves a
//! CLI's request, which the store keeps as a [`NewCliLogin`] for a few minutes; the CLI
//! redeems it once with the code from its loopback redirect and its PKCE verifier, and
//! gets a personal access token made in the same transaction ([`CliRedemption`]).
//!
//! The store never sees the code or the verifier: only the code's SHA-256 and the S256
//! challenge made from the presented verifier.

use super::FreshKey;
use chrono::{DateTime, Duration, Utc};
use keyward_core::pkce::CodeChallenge;
use keyward_core::{KeyHash, PermissionSet};

/// Wrong verifiers a login survives; the next ends it. A verifier of our CLI has 256
/// random bits, so this stops only guessing at weak verifiers of other clients, while
/// one stray request cannot spend the code its CLI is about to redeem.
pub const CLI_LOGIN_MAX_FAILED_ATTEMPTS: i64 = 5;

/// An approved CLI login to store.
#[derive(Debug, Clone)]
pub struct NewCliLogin {
    /// `cli_…`.
    pub id: String,
    pub org_id: String,
    /// The person who approved it: the token will be theirs (they must be a member).
    pub user_id: String,
    pub code_hash: KeyHash,
    pub code_challenge: CodeChallenge,
    /// The machine the CLI runs on, as it named itself (a checked display name).
    pub machine: String,
    /// What the token will hold.
    pub permissions: PermissionSet,
    /// How long the token will live from its redemption; `None`: it does not expire.
    pub token_lifetime: Option<Duration>,
    pub created_at: DateTime<Utc>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored CLI login (without its code's hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliLogin {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub code_challenge: CodeChallenge,
    pub machine: String,
    pub permissions: PermissionSet,
    pub token_lifetime: Option<Duration>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub failed_attempts: i64,
    pub used_at: Option<DateTime<Utc>>,
    /// The token its redemption made.
    pub key_id: Option<String>,
}

impl CliLogin {
    /// The name of the token it makes, as the person's token list shows it.
    pub fn token_name(&self) -> String {
        format!("keyward CLI on {}", self.machine)
    }
}

/// Redeeming a CLI login: the code's hash, the challenge of the verifier the CLI
/// presented, and the token to make. The store sets everything else of the token from
/// the login (organization, owner, name, permissions, expiry) and writes its audit event
/// (`key.create`, acted by the person, `via: cli_login`).
#[derive(Debug, Clone)]
pub struct CliRedemption {
    pub code_hash: KeyHash,
    /// `S256(verifier)` of the verifier presented: compared with the stored challenge.
    pub presented: CodeChallenge,
    pub at: DateTime<Utc>,
    /// A personal access token's id, hash and prefix.
    pub token: FreshKey,
    pub source_ip: Option<String>,
}

/// A redeemed CLI login and the token it made.
#[derive(Debug, Clone)]
pub struct CliRedeemed {
    pub login: CliLogin,
    pub key: super::KeyRecord,
}
