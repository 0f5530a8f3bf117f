//! `last_used_at` without a database write on the request path: uses are recorded in
//! memory and written every few seconds and on graceful shutdown.
//!
//! A key's first use seen by this node is written at the next flush; after that, a key
//! in continuous use is written at most once per [`WRITE_EVERY_MS`] (GitHub shows "last
//! used within the last week"; nobody needs a busy key's time to the second in the
//! database, and a flush of every busy key every 2 s was half of all write-behind work).
//! Listings on this node overlay the in-memory value, so they are exact; the database
//! and other nodes may be up to a minute behind for a key in continuous use. A crash
//! loses at most that much of last-used times (and, elsewhere, the usage counts not
//! yet flushed and unspent quota leases; see ARCHITECTURE.md).
//!
//! A hit on a key already tracked costs a shard *read* lock and one atomic max: readers
//! never wait for each other, and nothing is allocated. Times are unix milliseconds, the
//! precision the database stores.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyward_store::{LastUse, Store};
use std::sync::atomic::{AtomicI64, Ordering};

/// How often, at most, a key in continuous use has its `last_used_at` written.
pub const WRITE_EVERY_MS: i64 = 60_000;

/// Nothing written yet by this node.
const NEVER: i64 = i64::MIN;

struct Slot {
    /// The newest use.
    latest: AtomicI64,
    /// What this node last wrote for the key.
    written: AtomicI64,
}

pub struct LastUsed {
    tracked: DashMap<String, Slot, foldhash::fast::RandomState>,
}

impl Default for LastUsed {
    fn default() -> Self {
        Self {
            tracked: DashMap::with_hasher(foldhash::fast::RandomState::default()),
        }
    }
}

impl LastUsed {
    pub fn record(&self, key_id: &str, at: DateTime<Utc>) {
        let ms = at.timestamp_millis();
        if let Some(slot) = self.tracked.get(key_id) {
            slot.latest.fetch_max(ms, Ordering::Relaxed);
            return;
        }
        self.tracked
            .entry(key_id.to_owned())
            .or_insert_with(|| Slot {
                latest: AtomicI64::new(ms),
                written: AtomicI64::new(NEVER),
            })
            .latest
            .fetch_max(ms, Ordering::Relaxed);
    }

    /// The newest use this node has seen, so listings are current before any flush.
    pub fn pending(&self, key_id: &str) -> Option<DateTime<Utc>> {
        self.tracked
            .get(key_id)
            .and_then(|t| DateTime::from_timestamp_millis(t.latest.load(Ordering::Relaxed)))
    }

    /// Writes the uses that are due: a key's first, then at most one per
    /// [`WRITE_EVERY_MS`]; with `all` (shutdown), every use not yet written. Forgets keys
    /// fully written and idle for longer than that. Returns how many were written.
    pub async fn flush(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
        all: bool,
    ) -> keyward_store::Result<usize> {
        let batch: Vec<(String, i64)> = self
            .tracked
            .iter()
            .filter_map(|e| {
                let latest = e.latest.load(Ordering::Relaxed);
                let written = e.written.load(Ordering::Relaxed);
                let due = latest > written
                    && (all || written == NEVER || latest - written >= WRITE_EVERY_MS);
                due.then(|| (e.key().clone(), latest))
            })
            .collect();
        if !batch.is_empty() {
            let uses: Vec<LastUse> = batch
                .iter()
                .filter_map(|(id, ms)| {
                    Some(LastUse {
                        key_id: id.clone(),
                        at: DateTime::from_timestamp_millis(*ms)?,
                    })
                })
                .collect();
            store.record_last_used(&uses).await?;
            for (id, ms) in &batch {
                if let Some(slot) = self.tracked.get(id) {
                    slot.written.fetch_max(*ms, Ordering::Relaxed);
                }
            }
        }
        // `retain` holds the shard's write lock while it compares, and `record` raises
        // `latest` under the read lock: a use racing this either shows as a newer
        // `latest` (the slot stays) or finds no slot and adds one (written at the next
        // flush, as a first use).
        let idle_before = now.timestamp_millis() - WRITE_EVERY_MS;
        self.tracked.retain(|_, slot| {
            let latest = slot.latest.load(Ordering::Relaxed);
            latest != slot.written.load(Ordering::Relaxed) || latest >= idle_before
        });
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn keeps_the_newest_use() {
        let l = LastUsed::default();
        l.record("key_a", at(2_000));
        l.record("key_a", at(1_000));
        assert_eq!(l.pending("key_a"), Some(at(2_000)));
        l.record("key_a", at(3_000));
        assert_eq!(l.pending("key_a"), Some(at(3_000)));
        assert_eq!(l.pending("key_b"), None);
    }

    /// First use written at once; a busy key at most once a minute; everything on
    /// shutdown; idle, fully written keys forgotten.
    #[tokio::test]
    async fn writes_first_uses_then_at_most_once_a_minute() {
        use keyward_core::key::Environment;
        use keyward_core::{KeyKind, PlainKey};
        let dir = tempfile::tempdir().unwrap();
        let (store, org_id) = crate::test_store(dir.path()).await;
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let plain = PlainKey::generate(KeyKind::Api, Environment::Live);
        let key = keyward_store::NewKey::for_plain(&plain, &org_id, "k", t0, "t");
        store
            .create_keys_bulk(std::slice::from_ref(&key))
            .await
            .unwrap();
        let stored = || async { store.get_key(&org_id, &key.id).await.unwrap().last_used_at };
        let s = |secs| t0 + chrono::Duration::seconds(secs);

        let l = LastUsed::default();
        l.record(&key.id, s(0));
        assert_eq!(l.flush(store.as_ref(), s(0), false).await.unwrap(), 1);
        assert_eq!(stored().await, Some(s(0)));

        l.record(&key.id, s(10));
        assert_eq!(l.flush(store.as_ref(), s(10), false).await.unwrap(), 0);
        assert_eq!(stored().await, Some(s(0)), "written again within a minute");
        assert_eq!(l.pending(&key.id), Some(s(10)), "listings still see it");

        l.record(&key.id, s(61));
        assert_eq!(l.flush(store.as_ref(), s(61), false).await.unwrap(), 1);
        assert_eq!(stored().await, Some(s(61)));

        l.record(&key.id, s(70));
        assert_eq!(l.flush(store.as_ref(), s(70), true).await.unwrap(), 1);
        assert_eq!(stored().await, Some(s(70)), "shutdown writes everything");

        assert_eq!(l.flush(store.as_ref(), s(200), false).await.unwrap(), 0);
        assert_eq!(l.pending(&key.id), None, "idle and written: forgotten");
    }
}
