//! What every handler shares.

use crate::usage::{Limits, UsageCounters};
use crate::verify::{cache::KeyCache, last_used::LastUsed};
use keyward_core::Clock;
use keyward_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyCache,
    pub last_used: LastUsed,
    pub usage: UsageCounters,
    pub limits: Limits,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Key records the verify cache keeps by default: a few hundred MB at most even with
/// rich metadata (BENCHMARKS.md, "all keys hot").
pub const DEFAULT_CACHE_MAX_KEYS: usize = 100_000;

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self::with_cache_limit(store, clock, DEFAULT_CACHE_MAX_KEYS)
    }

    /// As [`Self::new`], keeping at most about `max_keys` key records in the cache.
    pub fn with_cache_limit(store: Arc<dyn Store>, clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self(Arc::new(Inner {
            store,
            keys: KeyCache::new(std::time::Duration::from_secs(10), 100_000, max_keys),
            last_used: LastUsed::default(),
            usage: UsageCounters::default(),
            limits: Limits::new(clock.clone()),
            clock,
        }))
    }
}
