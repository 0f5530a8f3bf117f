//! The verify path, shared by `POST /v1/keys/verify` and by the authentication of
//! every API request: checksum → SHA-256 → cache → status at the clock's "now".

pub mod cache;
pub mod index;
pub mod last_used;

use crate::state::AppState;
pub use cache::CachedKey;
use chrono::{DateTime, Utc};
use keyward_core::expiry::{status_at, KeyStatus};
use keyward_core::{key, KeyError, KeyHash};
use std::sync::Arc;

pub enum Verdict {
    Valid(Arc<CachedKey>),
    Malformed(KeyError),
    NotFound,
    Revoked(Arc<CachedKey>),
    Expired(Arc<CachedKey>),
    Disabled(Arc<CachedKey>),
}

impl AppState {
    /// Decides whether `raw` is a working key now. Records its use when it is.
    pub async fn check_key(&self, raw: &str) -> keyward_store::Result<Verdict> {
        self.check_at(raw, None, self.clock.now()).await
    }

    /// The check at a `now` the caller read once for the whole request (the hot path
    /// reads the clock as few times as it can). With `org_id`, a key of another
    /// organization is `NotFound`: a tenant's verify calls learn nothing about other
    /// tenants' keys.
    pub async fn check_at(
        &self,
        raw: &str,
        org_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> keyward_store::Result<Verdict> {
        if let Err(e) = key::check(raw) {
            return Ok(Verdict::Malformed(e));
        }
        let hash = KeyHash::of(raw);
        let Some(record) = self.keys.lookup(self.store.as_ref(), &hash).await? else {
            return Ok(Verdict::NotFound);
        };
        if org_id.is_some_and(|org| org != record.org_id) {
            return Ok(Verdict::NotFound);
        }
        Ok(
            match status_at(record.revoked_at, record.expires_at, record.enabled, now) {
                KeyStatus::Active => {
                    self.last_used.record(&record.id, now);
                    Verdict::Valid(record)
                }
                KeyStatus::Revoked => Verdict::Revoked(record),
                KeyStatus::Expired => Verdict::Expired(record),
                KeyStatus::Disabled => Verdict::Disabled(record),
            },
        )
    }
}
