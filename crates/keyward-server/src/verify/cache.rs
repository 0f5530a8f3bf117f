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
    pub(crate) limiter: OnceLock<Arc<crate::usage::limits::Gcra>>,
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
    /// Other nodes' changes may be missing (see the module docs).
    stale: AtomicBool,
}

impl KeyCache {
    pub fn new(negative_ttl: Duration, max_missing: usize) -> Self {
        Self {
            entries: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            generation: AtomicU64::new(0),
            missing: AtomicUsize::new(0),
            negative_ttl,
            max_missing,
            stale: AtomicBool::new(false),
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
            Some(record) => Entry::Found(record.clone()),
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

    /// Forgets `hash`. Call after the change is committed and before responding.
    pub fn invalidate(&self, hash: &KeyHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some((_, Entry::Missing { .. })) = self.entries.remove(hash) {
            self.missing.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Puts a record just written (a new key) in the cache, replacing any "unknown".
    pub fn insert_fresh(&self, record: &KeyRecord) {
        let hash = record.hash;
        self.invalidate(&hash);
        self.entries
            .insert(hash, Entry::Found(Arc::new(CachedKey::new(record.clone()))));
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

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
