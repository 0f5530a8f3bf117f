//! The key cache on the verify path: SHA-256 → key record, plus a short memory of
//! hashes that are not keys.
//!
//! Correctness rule: once a change's response has been sent, no lookup may return the
//! record from before the change. Every change bumps `generation` and then removes the
//! entry; a lookup that missed reads the generation *before* going to the database and
//! inserts what it read only if the generation is unchanged, checked under the shard
//! lock that `remove` also takes. So a slow database read can never put a revoked key
//! back, and a freshly created key is never refused because of a stale "unknown" entry.
//!
//! Memory is bounded: past `max_keys` records, each insert of a record first evicts a
//! batch of arbitrary entries (hash order, i.e. random with respect to use). Eviction
//! only removes, so it cannot break the rule above; an evicted key is read from the
//! database again on its next use.
//!
//! Across nodes (PostgreSQL), other nodes' changes arrive through `crate::cluster`,
//! which calls the same `invalidate` (or `clear`), so the rule above holds for them
//! too, delayed by the notification. While that feed is down the cache is *stale*:
//! every lookup reads the database and nothing read then is ever served from memory
//! (`set_stale(false)` clears the cache before trusting it again).

use dashmap::DashMap;
use keyward_core::KeyHash;
use keyward_store::{KeyRecord, Store};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A key record as the verify path holds it, with what is derived from it computed once
/// per cached record instead of once per request. A change to the key replaces the whole
/// `CachedKey` (invalidation drops it), so nothing derived can outlive the record it was
/// derived from.
pub struct CachedKey {
    pub record: KeyRecord,
    /// The serialized start of a VALID verify answer, up to `"ratelimit":`; filled by
    /// `http::verify` on first use.
    pub valid_answer_head: OnceLock<Box<[u8]>>,
    /// The key's own rate limiter, looked up once in `Limits`.
    pub(crate) limiter: crate::usage::limits::LimiterSlot,
}

impl CachedKey {
    pub fn new(record: KeyRecord) -> Self {
        Self {
            record,
            valid_answer_head: OnceLock::new(),
            limiter: OnceLock::new(),
        }
    }
}

impl Deref for CachedKey {
    type Target = KeyRecord;
    fn deref(&self) -> &KeyRecord {
        &self.record
    }
}

#[derive(Clone)]
enum Entry {
    Found(Arc<CachedKey>),
    Missing { until: Instant },
}

pub struct KeyCache {
    /// Keyed by SHA-256 output; the hasher is seeded per process, so nobody can aim
    /// entries at one shard or bucket.
    entries: DashMap<KeyHash, Entry, foldhash::fast::RandomState>,
    generation: AtomicU64,
    missing: AtomicUsize,
    negative_ttl: Duration,
    max_missing: usize,
    /// Records (not "unknown" entries) kept at most, roughly: see `make_room`.
    max_keys: usize,
    /// Other nodes' changes may be missing (see the module docs).
    stale: AtomicBool,
    /// Told (after the fact) of every invalidation, so what holds a key for long (a
    /// worker's connection) looks at it again at once.
    changes: tokio::sync::watch::Sender<u64>,
}

impl KeyCache {
    pub fn new(negative_ttl: Duration, max_missing: usize, max_keys: usize) -> Self {
        Self {
            entries: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            generation: AtomicU64::new(0),
            missing: AtomicUsize::new(0),
            negative_ttl,
            max_missing,
            max_keys: max_keys.max(1),
            stale: AtomicBool::new(false),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Changes whenever a record may have been dropped (after it was): a holder of a
    /// key reads it again through [`Self::lookup`].
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn announce(&self) {
        self.changes.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Before a record is added: when the cache holds `max_keys` records or more, evicts
    /// a batch (1% of the bound, at least one) so the next ones fit without evicting on
    /// every miss. Never called under a shard lock (iteration takes them).
    fn make_room(&self) {
        let missing = self.missing.load(Ordering::Relaxed);
        if self.entries.len().saturating_sub(missing) < self.max_keys {
            return;
        }
        let batch = (self.max_keys / 100).max(1);
        let victims: Vec<KeyHash> = self
            .entries
            .iter()
            .filter(|e| matches!(e.value(), Entry::Found(_)))
            .take(batch)
            .map(|e| *e.key())
            .collect();
        for hash in victims {
            // Only records: an "unknown" entry that took the slot meanwhile is counted
            // in `missing` and must go through `invalidate`/`sweep`.
            self.entries
                .remove_if(&hash, |_, e| matches!(e, Entry::Found(_)));
        }
    }

    /// The record for `hash`, from memory or else from the store.
    pub async fn lookup(
        &self,
        store: &dyn Store,
        hash: &KeyHash,
    ) -> keyward_store::Result<Option<Arc<CachedKey>>> {
        if self.stale.load(Ordering::SeqCst) {
            return Ok(store
                .find_key_by_hash(hash)
                .await?
                .map(|r| Arc::new(CachedKey::new(r))));
        }
        if let Some(entry) = self.entries.get(hash) {
            match &*entry {
                Entry::Found(record) => return Ok(Some(record.clone())),
                Entry::Missing { until } if *until > Instant::now() => return Ok(None),
                Entry::Missing { .. } => {}
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = store
            .find_key_by_hash(hash)
            .await?
            .map(|r| Arc::new(CachedKey::new(r)));
        let entry = match &loaded {
            Some(record) => {
                self.make_room();
                Entry::Found(record.clone())
            }
            None if self.missing.load(Ordering::Relaxed) < self.max_missing => Entry::Missing {
                until: Instant::now() + self.negative_ttl,
            },
            None => return Ok(None),
        };
        let slot = self.entries.entry(*hash);
        if self.generation.load(Ordering::SeqCst) == generation
            && !self.stale.load(Ordering::SeqCst)
        {
            let was_missing = matches!(&slot, dashmap::Entry::Occupied(o) if matches!(o.get(), Entry::Missing { .. }));
            let now_missing = matches!(entry, Entry::Missing { .. });
            slot.insert(entry);
            match (was_missing, now_missing) {
                (false, true) => {
                    self.missing.fetch_add(1, Ordering::Relaxed);
                }
                (true, false) => {
                    self.missing.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        Ok(loaded)
    }

    /// Forgets `hash`. Call after the change is committed and before responding; also
    /// after creating a key, to drop a remembered "unknown". A new key is never put in
    /// the cache from the creating request: a deletion that committed between its
    /// insert and the response revokes it, and the record in hand would not know
    /// (the next lookup reads it under the generation rule instead).
    pub fn invalidate(&self, hash: &KeyHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some((_, Entry::Missing { .. })) = self.entries.remove(hash) {
            self.missing.fetch_sub(1, Ordering::Relaxed);
        }
        self.announce();
    }

    /// Forgets every record `touched` selects (an organization's, an owner's, a
    /// channel's keys), with the same guarantee as [`Self::invalidate`]. Scans the
    /// cache: for changes to organizations and owners, not for each request.
    pub fn invalidate_where(&self, touched: impl Fn(&KeyRecord) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.retain(|_, e| match e {
            Entry::Found(k) => !touched(&k.record),
            Entry::Missing { .. } => true,
        });
        self.announce();
    }

    /// Forgets everything, with the same guarantee as [`Self::invalidate`].
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut removed = 0;
        self.entries.retain(|_, e| {
            if matches!(e, Entry::Missing { .. }) {
                removed += 1;
            }
            false
        });
        self.missing.fetch_sub(removed, Ordering::Relaxed);
        self.announce();
    }

    /// Stale: lookups bypass memory until `set_stale(false)`, which clears first.
    pub fn set_stale(&self, stale: bool) {
        if stale {
            self.stale.store(true, Ordering::SeqCst);
            self.clear();
        } else {
            self.clear();
            self.stale.store(false, Ordering::SeqCst);
        }
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }

    /// Drops "unknown" entries whose time is up; run periodically.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut removed = 0;
        self.entries.retain(|_, e| match e {
            Entry::Missing { until } if *until <= now => {
                removed += 1;
                false
            }
            _ => true,
        });
        self.missing.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Whether a record for `hash` is in memory (for tests and diagnostics).
    pub fn holds(&self, hash: &KeyHash) -> bool {
        matches!(self.entries.get(hash).as_deref(), Some(Entry::Found(_)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::key::Environment;
    use keyward_core::{Clock, KeyKind, PlainKey, SystemClock};
    use keyward_store::NewKey;

    /// Past `max_keys` records the cache evicts instead of growing, and an evicted key
    /// is still found (read again from the database).
    #[tokio::test]
    async fn the_cache_stays_within_its_bound_and_evicted_keys_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (store, org_id) = crate::test_store(dir.path()).await;
        let plains: Vec<PlainKey> = (0..60)
            .map(|_| PlainKey::generate(KeyKind::Api, Environment::Live))
            .collect();
        let rows: Vec<NewKey> = plains
            .iter()
            .enumerate()
            .map(|(i, p)| NewKey::for_plain(p, &org_id, format!("k{i}"), SystemClock.now(), "t"))
            .collect();
        store.create_keys_bulk(&rows).await.unwrap();

        let cache = KeyCache::new(Duration::from_secs(10), 100, 20);
        for round in 0..2 {
            for (i, p) in plains.iter().enumerate() {
                let hash = KeyHash::of(p.expose_secret());
                let found = cache.lookup(store.as_ref(), &hash).await.unwrap();
                assert_eq!(
                    found.map(|k| k.name.clone()),
                    Some(format!("k{i}")),
                    "round {round}"
                );
                assert!(cache.len() <= 20, "{} entries", cache.len());
            }
        }
        // Unknown keys are bounded separately and do not count against records.
        let unknown = KeyHash::of("kw_live_unknown");
        assert!(cache
            .lookup(store.as_ref(), &unknown)
            .await
            .unwrap()
            .is_none());
        assert!(cache.len() <= 21);
    }

    /// A key remembered as unknown (a flood of garbage stays off the database) is still
    /// found the moment it is created: creation replaces the "unknown" entry.
    #[tokio::test]
    async fn a_key_created_after_being_remembered_as_unknown_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (store, org_id) = crate::test_store(dir.path()).await;
        let cache = KeyCache::new(Duration::from_secs(3600), 100, 100);
        let plain = PlainKey::generate(KeyKind::Api, Environment::Live);
        let hash = KeyHash::of(plain.expose_secret());
        assert!(cache.lookup(store.as_ref(), &hash).await.unwrap().is_none());

        let key = NewKey::for_plain(&plain, &org_id, "late", SystemClock.now(), "t");
        store.create_keys_bulk(&[key]).await.unwrap();
        // Without the creation path the remembered "unknown" would still answer.
        assert!(cache.lookup(store.as_ref(), &hash).await.unwrap().is_none());
        // What creating a key does: forget the "unknown", so the next lookup reads it.
        cache.invalidate(&hash);
        let found = cache.lookup(store.as_ref(), &hash).await.unwrap();
        assert_eq!(found.map(|k| k.name.clone()), Some("late".to_owned()));
    }
}
