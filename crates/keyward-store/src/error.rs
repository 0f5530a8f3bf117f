//! What can go wrong in the store, small enough for the server to map to API errors.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A caller-supplied value the store cannot use (a pagination cursor).
    #[error("invalid {0}")]
    InvalidInput(&'static str),
    /// A per-organization limit would be exceeded.
    #[error("the {limit} limit is {max} and {current} exist")]
    LimitReached {
        limit: &'static str,
        max: u32,
        current: u32,
    },
    /// Something the change depends on was deleted meanwhile (checked inside the
    /// writing transaction): the organization, a key's owner, service account, channel,
    /// workspace or agent. Names what is gone.
    #[error("the {0} no longer exists")]
    Gone(&'static str),
    /// The key the change was requested with stopped working before the change could
    /// be written (revoked, switched off, expired, or its owner or organization removed
    /// while the request ran). Nothing was written.
    #[error("the acting key no longer works")]
    ActorInactive,
    /// The change is not the actor's to make, as checked inside its transaction (a rule
    /// about people's keys, see `person_key_rules`).
    #[error("{0}")]
    Forbidden(&'static str),
    /// What the request was authorized with changed before its change could be
    /// written: the person's role, or the acting key's grants or scope (a demotion or an
    /// edit that committed while it ran). Nothing was written.
    #[error("the acting person's role or key changed")]
    ActorChanged,
    #[error(transparent)]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

/// The conflicts callers can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    AlreadyBootstrapped,
    KeyRevoked,
    KeyAlreadyRotated,
    Duplicate,
    /// A workspace or agent still has keys or channels.
    InUse,
    /// The change would leave the organization without an owner.
    LastOwner,
    /// The person is already a member of the organization.
    AlreadyMember,
    /// The invitation was already accepted.
    InvitationUsed,
    /// The invitation expired or was revoked (or the key that issued it stopped working).
    InvitationExpired,
    /// The invitation is for a person who already has an account: they must prove it.
    IdentityRequired,
    /// What the change acts on changed after the caller read it (a member's role, a
    /// key being rotated): nothing was written; read it again.
    ChangedMeanwhile,
    /// The password link was already redeemed, or a newer one replaced it.
    LinkUsed,
    /// The password link expired.
    LinkExpired,
    /// The CLI login's code was already exchanged for a token.
    LoginCodeUsed,
    /// The CLI login's code expired, or too many wrong verifiers ended it.
    LoginCodeExpired,
    /// The verifier presented with a CLI login's code is not the one its challenge was
    /// made from (PKCE). Nothing but the count of wrong verifiers changed.
    LoginVerifierMismatch,
    /// The authorization's state was already used by a callback or an exchange.
    OAuthStateUsed,
    /// The authorization's state is older than its ten minutes.
    OAuthStateExpired,
    /// A connection with this id exists for another provider.
    ConnectionProvider,
    /// A connection with this id belongs to another workspace (or to the whole
    /// organization).
    ConnectionWorkspace,
    /// The connection's refresh lease passed to another holder: this holder's answer
    /// was not written.
    LeaseLost,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::AlreadyBootstrapped => "an organization already exists",
            Conflict::KeyRevoked => "the key is revoked",
            Conflict::KeyAlreadyRotated => "the key was already rotated",
            Conflict::Duplicate => "a record with the same unique value exists",
            Conflict::InUse => "it still has active keys or channels; revoke or delete them first",
            Conflict::LastOwner => "an organization must keep at least one owner",
            Conflict::AlreadyMember => "that person is already a member of the organization",
            Conflict::InvitationUsed => "the invitation was already accepted",
            Conflict::InvitationExpired => {
                "the invitation expired or was revoked; ask for a new one"
            }
            Conflict::ChangedMeanwhile => {
                "it changed while this request ran; nothing was changed: read it again and retry"
            }
            Conflict::LinkUsed => {
                "the password link was already used or replaced by a newer one; ask for a new one"
            }
            Conflict::LinkExpired => "the password link expired; ask for a new one",
            Conflict::LoginCodeUsed => {
                "the CLI login code was already exchanged for a token; run keyward auth login --web again"
            }
            Conflict::LoginCodeExpired => {
                "the CLI login code expired or was ended by wrong verifiers; run keyward auth login --web again"
            }
            Conflict::LoginVerifierMismatch => {
                "the code_verifier does not match the code_challenge this login was approved with"
            }
            Conflict::OAuthStateUsed => {
                "this authorization was already completed or refused (a state works once); start it again"
            }
            Conflict::OAuthStateExpired => {
                "this authorization expired (a state works for ten minutes); start it again"
            }
            Conflict::ConnectionProvider => {
                "a connection with this id exists for another provider; choose another id or delete it first"
            }
            Conflict::ConnectionWorkspace => {
                "a connection with this id belongs to another workspace (or to the whole organization); connect it there"
            }
            Conflict::LeaseLost => {
                "another refresh of this connection took over; nothing was written"
            }
            Conflict::IdentityRequired => {
                "the invitation is for a person who already has a Keyward account; accept it with one of their own personal access tokens"
            }
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(Conflict::Duplicate)
            }
            // Every change checks what it refers to inside its transaction; this is the
            // safety net for one that does not, so a race never surfaces as a 500.
            sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
                StoreError::Gone("record it refers to")
            }
            other => StoreError::Other(Box::new(other)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(Box::new(e))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
