//! The verify path, shared by `POST /v1/keys/verify` and by the authentication of
//! every API request: checksum → SHA-256 → cache → status at the clock's "now".

pub mod cache;
pub mod index;
pub mod last_used;

pub use cache::{CachedKey, KeyCache};
use chrono::{DateTime, Utc};
use keyward_core::expiry::{status_at, KeyStatus};
use keyward_core::{key, KeyError, KeyHash};
use keyward_store::Store;
use last_used::LastUsed;
use std::sync::Arc;

pub enum Verdict {
    Valid(Arc<CachedKey>),
    Malformed(KeyError),
    NotFound,
    Revoked(Arc<CachedKey>),
    Expired(Arc<CachedKey>),
    Disabled(Arc<CachedKey>),
}

/// Decides whether `raw` is a working key at `now` (a time the caller read once for the
/// whole request: the hot path reads the clock as few times as it can), reading its
/// record through `keys` from `store`, and records its use in `last_used` when it is.
/// With `org_id`, a key of another organization is `NotFound`: a tenant's verify calls
/// learn nothing about other tenants' keys.
pub async fn check(
    keys: &KeyCache,
    store: &dyn Store,
    last_used: &LastUsed,
    raw: &str,
    org_id: Option<&str>,
    now: DateTime<Utc>,
) -> keyward_store::Result<Verdict> {
    if let Err(e) = key::check(raw) {
        return Ok(Verdict::Malformed(e));
    }
    let hash = KeyHash::of(raw);
    let Some(record) = keys.lookup(store, &hash).await? else {
        return Ok(Verdict::NotFound);
    };
    if org_id.is_some_and(|org| org != record.org_id) {
        return Ok(Verdict::NotFound);
    }
    Ok(
        match status_at(record.revoked_at, record.expires_at, record.enabled, now) {
            KeyStatus::Active => {
                last_used.record(&record.id, now);
                Verdict::Valid(record)
            }
            KeyStatus::Revoked => Verdict::Revoked(record),
            KeyStatus::Expired => Verdict::Expired(record),
            KeyStatus::Disabled => Verdict::Disabled(record),
        },
    )
}
