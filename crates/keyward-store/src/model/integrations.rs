//! The integrations vault: OAuth 2.0 connections and the `state` of each authorization
//! in flight.
//!
//! The store never sees a token, a verifier or a key in clear: the server seals them
//! (keyward-vault's envelope encryption) and hands over [`Sealed`] bytes, bound to the
//! record's id and the field's name. The store keeps them with the wrapped data key and
//! the id of the key-encryption key that wrapped it, which rotation rewrites.

use super::Actor;
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;
use serde::{Deserialize, Serialize};

/// How long an authorization's `state` may wait for its callback, at most.
pub const OAUTH_STATE_MAX_AGE_MINUTES: i64 = 10;

/// A record's data key, wrapped by a key-encryption key of the ring.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDek {
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for WrappedDek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedDek({}, {} bytes)", self.kek_id, self.bytes.len())
    }
}

/// `nonce ‖ ciphertext ‖ tag` of one field; opaque to the store.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Authorization started; no tokens yet.
    Pending,
    Active,
    /// Refreshing failed for a reason worth retrying (the provider was down); the
    /// refresher keeps trying, and a success makes it active again.
    RefreshFailing,
    /// The provider refused the refresh token (`invalid_grant`): the person must
    /// connect again.
    NeedsReauth,
    /// Disconnected: its tokens were revoked and erased.
    Revoked,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 5] = [
        Self::Pending,
        Self::Active,
        Self::RefreshFailing,
        Self::NeedsReauth,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::RefreshFailing => "refresh_failing",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The last thing that went wrong with a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionError {
    /// A stable code: the provider's OAuth error (`invalid_grant`, `access_denied`) or
    /// `unavailable`, `malformed`.
    pub code: String,
    pub message: String,
    pub at: DateTime<Utc>,
    /// What failed: `authorization` (the callback, the code exchange) or `refresh`.
    #[serde(default = "refresh_phase")]
    pub during: String,
}

fn refresh_phase() -> String {
    "refresh".into()
}

/// A connection's sealed tokens, with the data key they were sealed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub dek: WrappedDek,
    pub access_token: Sealed,
    pub refresh_token: Option<Sealed>,
    pub token_type: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `con_…`: what its sealed fields are bound to.
    pub uid: String,
    pub org_id: String,
    /// The caller's id for it.
    pub id: String,
    pub provider: String,
    pub workspace_id: Option<String>,
    pub status: ConnectionStatus,
    pub scopes: Vec<String>,
    pub tokens: Option<SealedTokens>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// When a code exchange last gave it tokens.
    pub connected_at: Option<DateTime<Utc>>,
    pub last_error: Option<ConnectionError>,
    pub failures: i64,
    pub retry_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Counts every write of its tokens (exchange, refresh), not re-wraps.
    pub generation: i64,
}

impl Connection {
    /// Whether its access token expires before `at` (a token without a lifetime never does).
    pub fn expires_before(&self, at: DateTime<Utc>) -> bool {
        self.tokens
            .as_ref()
            .and_then(|t| t.expires_at)
            .is_some_and(|e| e <= at)
    }

    pub fn has_refresh_token(&self) -> bool {
        self.tokens
            .as_ref()
            .is_some_and(|t| t.refresh_token.is_some())
    }
}

/// An authorization to start: its state (by hash) and the sealed PKCE verifier.
#[derive(Debug, Clone)]
pub struct NewOAuthState {
    /// `ost_…`: what the sealed verifier is bound to.
    pub id: String,
    pub state_hash: KeyHash,
    pub org_id: String,
    pub provider: String,
    pub connection_id: String,
    /// `con_…` of the pending connection to make when none has this id yet.
    pub connection_uid: String,
    pub workspace_id: Option<String>,
    pub redirect_uri: String,
    pub hosted: bool,
    pub scopes: Vec<String>,
    pub dek: WrappedDek,
    pub verifier: Option<Sealed>,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored authorization state (taken once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub id: String,
    pub org_id: String,
    pub provider: String,
    pub connection_id: String,
    /// The connection row it completes.
    pub connection_uid: String,
    pub workspace_id: Option<String>,
    pub redirect_uri: String,
    pub hosted: bool,
    pub scopes: Vec<String>,
    pub dek: WrappedDek,
    pub verifier: Option<Sealed>,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Tokens from a code exchange, for the connection the state names (made if missing).
#[derive(Debug, Clone)]
pub struct ConnectionGrant {
    /// The authorization's state (`ost_…`): the grant is written only while it exists
    /// (a disconnect or delete meanwhile removes it).
    pub state_id: String,
    /// The connection row the authorization's state names: the tokens are sealed for
    /// it. Deleted meanwhile: `Gone`; made again under another uid: `ChangedMeanwhile`.
    pub uid: String,
    pub org_id: String,
    pub id: String,
    pub provider: String,
    pub workspace_id: Option<String>,
    pub scopes: Vec<String>,
    pub tokens: SealedTokens,
    pub at: DateTime<Utc>,
}

/// What a refresh came to, written by the holder of the connection's lease.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// New tokens (the refresh token re-sealed when the answer had none).
    Refreshed {
        tokens: SealedTokens,
        scopes: Option<Vec<String>>,
    },
    /// The provider refused the refresh token: `needs_reauth`, no retries.
    Refused(ConnectionError),
    /// Worth retrying: `refresh_failing`, next attempt at `retry_at`.
    Failed {
        error: ConnectionError,
        retry_at: DateTime<Utc>,
    },
}

/// Filters of a connection listing.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub provider: Option<String>,
    pub status: Option<ConnectionStatus>,
    pub workspace_id: Option<String>,
    /// Only connections whose workspace is one of these (`None`: any); for scoped keys.
    pub within_workspaces: Option<Vec<String>>,
    /// Ids after this one (paging).
    pub after: Option<String>,
    pub limit: u32,
}

/// A record's wrapped data key, as key rotation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// `connections`, `oauth_states` or `webhook_endpoints`.
    pub table: &'static str,
    pub id: String,
    pub dek: WrappedDek,
}
