//! What every handler shares.

use crate::store::{Caches, CoherentStore};
use crate::usage::{Limits, UsageCounters};
use crate::verify::{self, cache::KeyCache, index::ResourceIndex, last_used::LastUsed, Verdict};
use chrono::{DateTime, Utc};
use keyward_core::Clock;
use keyward_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// The backend behind [`CoherentStore`]: every change made through it reaches this
    /// node's caches (`keys`, `index`, `limits`) before it returns.
    pub store: Arc<dyn Store>,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<KeyCache>,
    /// Whose workspaces, agents and channels are whose (`verify::index`).
    pub index: Arc<ResourceIndex>,
    pub last_used: LastUsed,
    pub usage: UsageCounters,
    pub limits: Arc<Limits>,
    /// Failed console sign-ins, per account and per address (this node's).
    pub throttle: crate::people::throttle::Throttle,
    /// The integrations vault: KEK ring, providers, refresh leases.
    pub vault: crate::integrations::Vault,
    /// Webhook ingress and delivery: the HTTP client, this node's lease name.
    pub webhooks: crate::webhooks::Hub,
    /// This node's open worker connections and their dispatcher's signal.
    pub workers: crate::workers::Hub,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Server-wide rules that an operator sets, not an organization (`keyward serve` flags
/// and `keyward.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Whether people may create organizations through the API (`POST /v1/organizations`).
    pub allow_org_creation: bool,
    /// Organizations (not deleted) one person may have created through the API.
    pub max_orgs_per_person: u32,
    /// Console sessions, cookies and links.
    pub console: crate::people::Settings,
    /// The integrations vault: the KEK ring, the providers, refresh timing.
    pub integrations: crate::integrations::Config,
    /// Webhook ingress: body limit, retry schedule, endpoints of keyward.yaml.
    pub webhooks: crate::webhooks::Config,
    /// Workers: retention, forward timeout.
    pub workers: crate::workers::Config,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_org_creation: true,
            max_orgs_per_person: 10,
            console: crate::people::Settings::default(),
            integrations: crate::integrations::Config::default(),
            webhooks: crate::webhooks::Config::default(),
            workers: crate::workers::Config::default(),
        }
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
        Self::with_settings(store, clock, max_keys, Policy::default())
    }

    pub fn with_settings(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        max_keys: usize,
        policy: Policy,
    ) -> Self {
        let caches = Caches {
            keys: Arc::new(KeyCache::new(
                std::time::Duration::from_secs(10),
                100_000,
                max_keys,
            )),
            index: Arc::new(ResourceIndex::default()),
            limits: Arc::new(Limits::new(clock.clone())),
        };
        Self(Arc::new(Inner {
            store: Arc::new(CoherentStore::new(store, caches.clone())),
            vault: crate::integrations::Vault::new(policy.integrations.clone()),
            webhooks: crate::webhooks::Hub::new(policy.webhooks.clone()),
            workers: crate::workers::Hub::new(policy.workers.clone()),
            policy,
            keys: caches.keys,
            index: caches.index,
            last_used: LastUsed::default(),
            usage: UsageCounters::default(),
            limits: caches.limits,
            throttle: crate::people::throttle::Throttle::new(Default::default()),
            clock,
        }))
    }
}

impl AppState {
    /// Whether `raw` is a working key now ([`verify::check`]).
    pub async fn check_key(&self, raw: &str) -> keyward_store::Result<Verdict> {
        self.check_at(raw, None, self.clock.now()).await
    }

    /// [`verify::check`] with this node's cache, store and last-used times.
    pub async fn check_at(
        &self,
        raw: &str,
        org_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> keyward_store::Result<Verdict> {
        verify::check(
            &self.keys,
            self.store.as_ref(),
            &self.last_used,
            raw,
            org_id,
            now,
        )
        .await
    }
}
