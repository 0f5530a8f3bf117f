//! `last_used_at` without a database write on the request path: uses are recorded in
//! memory and written in one transaction every few seconds and on graceful shutdown.
//! A crash loses at most one flush interval of `last_used_at` updates, nothing else.
//!
//! A hit on a key already pending costs a shard *read* lock and one atomic max: readers
//! never wait for each other, and nothing is allocated. Only the first use of a key
//! after a flush allocates its map entry. Times are kept in unix milliseconds, the
//! precision the database stores.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyward_store::Store;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct LastUsed {
    pending: DashMap<String, AtomicI64, foldhash::fast::RandomState>,
}

impl Default for LastUsed {
    fn default() -> Self {
        Self {
            pending: DashMap::with_hasher(foldhash::fast::RandomState::default()),
        }
    }
}

impl LastUsed {
    pub fn record(&self, key_id: &str, at: DateTime<Utc>) {
        let ms = at.timestamp_millis();
        if let Some(t) = self.pending.get(key_id) {
            t.fetch_max(ms, Ordering::Relaxed);
            return;
        }
        self.pending
            .entry(key_id.to_owned())
            .or_insert_with(|| AtomicI64::new(ms))
            .fetch_max(ms, Ordering::Relaxed);
    }

    /// The newest unflushed use, so listings are current before the flush.
    pub fn pending(&self, key_id: &str) -> Option<DateTime<Utc>> {
        self.pending
            .get(key_id)
            .and_then(|t| DateTime::from_timestamp_millis(t.load(Ordering::Relaxed)))
    }

    /// Writes what is pending; entries updated meanwhile stay for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> keyward_store::Result<usize> {
        let batch: Vec<(String, i64)> = self
            .pending
            .iter()
            .map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed)))
            .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        let uses: Vec<(String, DateTime<Utc>)> = batch
            .iter()
            .filter_map(|(id, ms)| Some((id.clone(), DateTime::from_timestamp_millis(*ms)?)))
            .collect();
        store.record_last_used(&uses).await?;
        // `remove_if` holds the shard's write lock while it compares, and `record`
        // raises the value under the read lock: a use that raced the flush either
        // shows here as a newer value (and stays) or finds no entry and adds one.
        for (id, ms) in &batch {
            self.pending
                .remove_if(id, |_, t| t.load(Ordering::Relaxed) == *ms);
        }
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
}
