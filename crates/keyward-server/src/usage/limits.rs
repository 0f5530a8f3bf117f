//! Rate limits (GCRA, via `governor`) per key and per owner, and quotas spent from
//! leases of credits taken from the database.
//!
//! Rate limits are enforced **per node**, in memory: exact on one node; with N nodes
//! behind a load balancer a key gets up to N times its limit unless requests for a key
//! stick to a node. Quotas are exact **cluster-wide**: a node only spends credits it
//! has leased from the database in one transaction, so the sum of spends never exceeds
//! the balance. The price is that a crash strands the unspent part of the node's
//! current lease (at most `Quota::lease_size`, ≤ 100 credits per key): the customer
//! can lose those credits, the platform never over-serves.
//!
//! Both take time from the application's [`Clock`], so tests move time instead of
//! sleeping.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use keyward_core::{Clock, Owner, Quota, RateLimit};
use keyward_store::{KeyRecord, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Feeds governor from the application's clock (nanoseconds since the epoch).
#[derive(Clone)]
pub struct GovClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(
            self.0
                .now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .max(0) as u64,
        )
    }
}

/// Owner limits of one organization: owner type → owner id → limit.
type OwnerLimits = HashMap<&'static str, HashMap<String, RateLimit, Hasher>, Hasher>;

/// The maps on the verify path hash short ids with a process-seeded foldhash: several
/// lookups per request, where SipHash showed in profiles.
type Hasher = foldhash::fast::RandomState;
type Limiters = DashMap<String, (RateLimit, Arc<Limiter>), Hasher>;

type Gcra = governor::RateLimiter<NotKeyed, InMemoryState, GovClock, StateInformationMiddleware>;

/// One GCRA limiter and when it last counted a request: a limiter idle for a whole
/// period has its full allowance back, the same as a new one, so `sweep` may drop it.
/// Where a key record keeps its limiter once found ([`Limits::admit`]).
pub type LimiterSlot = std::sync::OnceLock<Arc<Limiter>>;

pub struct Limiter {
    gcra: Gcra,
    last_ms: AtomicI64,
}

/// The state of one rate limit after a request was counted against it. Serialized as
/// `keyward_api::RateInfo` (the verify answer's `ratelimit`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// When the allowance is full again (unix milliseconds).
    pub reset: i64,
    #[serde(skip)]
    pub allowed: bool,
    /// When refused: how long until the next request is allowed.
    #[serde(skip)]
    pub retry_after: Duration,
    /// How long until the allowance is full again.
    #[serde(skip)]
    pub reset_after: Duration,
}

/// Serialized as `keyward_api::QuotaInfo` (the verify answer's `quota`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QuotaInfo {
    pub limit: i64,
    pub remaining: i64,
    #[serde(skip)]
    pub allowed: bool,
}

struct Lease {
    quota: Option<Quota>,
    period: i64,
    available: i64,
    /// What the database held after our last lease.
    db_remaining: i64,
}

pub struct Limits {
    clock: GovClock,
    by_key: Limiters,
    by_owner: Limiters,
    /// Each organization's owner limits, read from the database, remembered for `owner_ttl`.
    owner_limits: DashMap<String, (Arc<OwnerLimits>, Instant), Hasher>,
    /// Bumped by every `forget_*`: settings read before a change are not remembered
    /// after it (the key cache's generation rule, `verify/cache.rs`).
    owner_generation: std::sync::atomic::AtomicU64,
    owner_ttl: Duration,
    leases: DashMap<String, Arc<tokio::sync::Mutex<Lease>>, Hasher>,
}

pub fn owner_key(org_id: &str, owner: &Owner) -> String {
    format!("{org_id}/{}/{}", owner.type_str(), owner.id())
}

impl Limits {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: GovClock(clock),
            by_key: DashMap::default(),
            by_owner: DashMap::default(),
            owner_limits: DashMap::default(),
            owner_generation: std::sync::atomic::AtomicU64::new(0),
            owner_ttl: Duration::from_secs(5),
            leases: DashMap::default(),
        }
    }

    /// The limiter of `id` for `cfg`. Created (or replaced, when the limit changed) under
    /// the map's entry lock, so concurrent first requests share one limiter instead of
    /// each counting on its own.
    fn limiter(&self, map: &Limiters, id: &str, cfg: RateLimit) -> Arc<Limiter> {
        if let Some(entry) = map.get(id) {
            if entry.0 == cfg {
                return entry.1.clone();
            }
        }
        let new = || {
            let burst = NonZeroU32::new(cfg.limit.max(1)).expect("limit >= 1");
            let interval = Duration::from_secs(u64::from(cfg.period)) / cfg.limit.max(1);
            let quota = governor::Quota::with_period(interval.max(Duration::from_nanos(1)))
                .expect("non-zero interval")
                .allow_burst(burst);
            (
                cfg,
                Arc::new(Limiter {
                    gcra: governor::RateLimiter::direct_with_clock(quota, self.clock.clone())
                        .with_middleware(),
                    last_ms: AtomicI64::new(0),
                }),
            )
        };
        let mut entry = map.entry(id.to_owned()).or_insert_with(new);
        if entry.0 != cfg {
            *entry = new();
        }
        entry.1.clone()
    }

    /// Counts one request; `now_ms` (the request's time) only dates `reset`, governor
    /// reads the clock itself.
    fn count(&self, cfg: RateLimit, limiter: &Limiter, now_ms: i64) -> RateInfo {
        limiter.last_ms.fetch_max(now_ms, Ordering::Relaxed);
        let gcra = &limiter.gcra;
        let interval_ns =
            (u128::from(cfg.period) * 1_000_000_000 / u128::from(cfg.limit.max(1))) as i64;
        match gcra.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let to_full_ms =
                    i64::from(cfg.limit - remaining.min(cfg.limit)) * interval_ns / 1_000_000;
                RateInfo {
                    limit: cfg.limit,
                    remaining,
                    reset: now_ms + to_full_ms,
                    allowed: true,
                    retry_after: Duration::ZERO,
                    reset_after: Duration::from_millis(to_full_ms as u64),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let to_full_ms = wait.as_millis() as i64
                    + i64::from(cfg.limit.saturating_sub(1)) * interval_ns / 1_000_000;
                RateInfo {
                    limit: cfg.limit,
                    remaining: 0,
                    reset: now_ms + to_full_ms,
                    allowed: false,
                    retry_after: wait,
                    reset_after: Duration::from_millis(to_full_ms as u64),
                }
            }
        }
    }

    /// The owner's shared limit. Owner limits are read per organization (one query,
    /// remembered for `owner_ttl`) and looked up without allocating, so keys of
    /// organizations without owner limits pay one map lookup.
    async fn owner_limit(
        &self,
        store: &dyn Store,
        key: &KeyRecord,
        owner: &Owner,
    ) -> keyward_store::Result<Option<RateLimit>> {
        let cached = self
            .owner_limits
            .get(key.org_id.as_str())
            .filter(|e| e.1.elapsed() < self.owner_ttl)
            .map(|e| e.0.clone());
        let limits = match cached {
            Some(limits) => limits,
            None => {
                let generation = self.owner_generation.load(Ordering::SeqCst);
                let mut by_type = OwnerLimits::default();
                for l in store.list_owner_limits(&key.org_id).await? {
                    let owner_type = match l.owner_type.as_str() {
                        "user" => "user",
                        "service_account" => "service_account",
                        "external" => "external",
                        _ => continue,
                    };
                    by_type
                        .entry(owner_type)
                        .or_default()
                        .insert(l.owner_id, l.ratelimit);
                }
                let limits = Arc::new(by_type);
                // Remembered only if no change was forgotten meanwhile: checked under the
                // entry's shard lock, which `forget_*` takes too after bumping.
                let slot = self.owner_limits.entry(key.org_id.clone());
                if self.owner_generation.load(Ordering::SeqCst) == generation {
                    slot.insert((limits.clone(), Instant::now()));
                }
                limits
            }
        };
        Ok(limits
            .get(owner.type_str())
            .and_then(|m| m.get(owner.id()))
            .copied())
    }

    /// Drops limiters idle for longer than their period (their allowance is full, so a
    /// new limiter would answer the same): without this the maps would keep an entry for
    /// every key and owner ever limited. Run periodically. A limiter that a cached key
    /// record holds (`CachedKey::limiter`) stays: dropped from the map, it would go on
    /// counting for that record while a reloaded record got a fresh one beside it, its
    /// allowance full again.
    pub fn sweep(&self, now: DateTime<Utc>) {
        let now_ms = now.timestamp_millis();
        let busy = |(cfg, l): &mut (RateLimit, Arc<Limiter>)| {
            Arc::strong_count(l) > 1
                || now_ms - l.last_ms.load(Ordering::Relaxed) <= i64::from(cfg.period) * 1000
        };
        self.by_key.retain(|_, v| busy(v));
        self.by_owner.retain(|_, v| busy(v));
    }

    /// Forgets every cached owner-limit setting (another node announced changes it does
    /// not detail). Only the settings: what owners have already spent stays counted, and
    /// `limiter` starts afresh only for an owner whose limit really changed.
    pub fn forget_all_owners(&self) {
        self.owner_generation.fetch_add(1, Ordering::SeqCst);
        self.owner_limits.clear();
    }

    /// Forgets an organization's cached owner-limit settings (after one changed here).
    pub fn forget_owner_limits(&self, org_id: &str) {
        self.owner_generation.fetch_add(1, Ordering::SeqCst);
        self.owner_limits.remove(org_id);
    }

    /// Counts one request against the owner's and the key's limits. Returns the most
    /// constraining of the two (the refusal, if any), or `None` when neither is limited.
    /// `slot` is where the caller keeps the key's limiter for the life of this record
    /// (the verify cache's `CachedKey::limiter`), so it is looked up once per record.
    pub async fn admit(
        &self,
        store: &dyn Store,
        key: &KeyRecord,
        slot: &LimiterSlot,
        now: DateTime<Utc>,
    ) -> keyward_store::Result<Option<RateInfo>> {
        let now_ms = now.timestamp_millis();
        let mut result: Option<RateInfo> = None;
        if let Some(owner) = &key.owner {
            if let Some(cfg) = self.owner_limit(store, key, owner).await? {
                let info = self.count(
                    cfg,
                    &self.limiter(&self.by_owner, &owner_key(&key.org_id, owner), cfg),
                    now_ms,
                );
                if !info.allowed {
                    return Ok(Some(info));
                }
                result = Some(info);
            }
        }
        if let Some(cfg) = key.ratelimit {
            // A key's limit is part of its record, and a changed record comes with a new
            // slot: the limiter found once stays right for the record's life.
            let limiter = slot.get_or_init(|| self.limiter(&self.by_key, &key.id, cfg));
            let info = self.count(cfg, limiter, now_ms);
            if !info.allowed || result.is_none_or(|r| info.remaining < r.remaining) {
                result = Some(info);
            }
        }
        Ok(result)
    }

    /// Spends `cost` credits of the key's quota, leasing more from the database when the
    /// node's lease runs short. `None` when the key has no quota.
    pub async fn spend(
        &self,
        store: &dyn Store,
        key: &KeyRecord,
        cost: i64,
        now: DateTime<Utc>,
    ) -> keyward_store::Result<Option<QuotaInfo>> {
        let Some(quota) = key.quota else {
            return Ok(None);
        };
        let period = quota.period_at(now);
        let lease = self
            .leases
            .entry(key.id.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Lease {
                    quota: None,
                    period,
                    available: 0,
                    db_remaining: quota.limit,
                }))
            })
            .clone();
        let mut lease = lease.lock().await;
        if lease.quota != Some(quota) || lease.period != period {
            // A new period, or a changed quota (whose balance restarted): old credits are void.
            *lease = Lease {
                quota: Some(quota),
                period,
                available: 0,
                db_remaining: store.quota_remaining(&key.id, &quota, period).await?,
            };
        }
        if lease.available < cost {
            let want = quota.lease_size(cost).max(cost - lease.available);
            let leased = store.lease_quota(&key.id, &quota, period, want).await?;
            lease.available += leased.granted;
            lease.db_remaining = leased.remaining;
        }
        let allowed = lease.available >= cost;
        if allowed {
            lease.available -= cost;
        }
        Ok(Some(QuotaInfo {
            limit: quota.limit,
            remaining: lease.db_remaining + lease.available,
            allowed,
        }))
    }

    /// What is left of a key's quota, counting this node's unspent lease.
    pub async fn remaining(
        &self,
        store: &dyn Store,
        key: &KeyRecord,
        now: DateTime<Utc>,
    ) -> keyward_store::Result<Option<i64>> {
        let Some(quota) = key.quota else {
            return Ok(None);
        };
        let period = quota.period_at(now);
        let local = match self.leases.get(&key.id).map(|l| l.clone()) {
            Some(lease) => {
                let lease = lease.lock().await;
                if lease.quota == Some(quota) && lease.period == period {
                    lease.available
                } else {
                    0
                }
            }
            None => 0,
        };
        Ok(Some(
            store.quota_remaining(&key.id, &quota, period).await? + local,
        ))
    }

    /// Gives unspent leased credits back to the database (graceful shutdown).
    pub async fn return_leases(&self, store: &dyn Store) -> keyward_store::Result<()> {
        let leases: Vec<(String, Arc<tokio::sync::Mutex<Lease>>)> = self
            .leases
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        for (key_id, lease) in leases {
            let mut lease = lease.lock().await;
            if lease.available > 0 {
                store
                    .return_quota(&key_id, lease.period, lease.available)
                    .await?;
                lease.available = 0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::ManualClock;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Barrier;

    /// Threads released together on a limiter nobody has used yet must share one
    /// allowance: exactly `limit` requests pass, whoever creates the limiter.
    #[test]
    fn concurrent_first_requests_share_one_limiter() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let limits = Arc::new(Limits::new(clock));
        let cfg = RateLimit {
            limit: 10,
            period: 60,
        };
        for round in 0..50 {
            let id = format!("key_{round}");
            let allowed = Arc::new(AtomicU32::new(0));
            let barrier = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (limits, id, allowed, barrier) =
                        (limits.clone(), id.clone(), allowed.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..4 {
                            if limits
                                .count(cfg, &limits.limiter(&limits.by_key, &id, cfg), 0)
                                .allowed
                            {
                                allowed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(allowed.load(Ordering::SeqCst), 10, "round {round}");
        }
    }

    /// Other nodes' changes flush cached settings at any moment; they must not hand an
    /// owner a fresh allowance.
    #[test]
    fn forgetting_settings_keeps_what_was_spent() {
        let limits = Limits::new(Arc::new(ManualClock::new(chrono::Utc::now())));
        let cfg = RateLimit {
            limit: 10,
            period: 60,
        };
        let mut allowed = 0;
        for i in 0..30 {
            if i % 4 == 0 {
                limits.forget_all_owners();
                limits.forget_owner_limits("org");
            }
            if limits
                .count(
                    cfg,
                    &limits.limiter(&limits.by_owner, "org/external/cus_1", cfg),
                    0,
                )
                .allowed
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
        // A changed limit is a new allowance.
        let bigger = RateLimit {
            limit: 20,
            period: 60,
        };
        assert!(
            limits
                .count(
                    bigger,
                    &limits.limiter(&limits.by_owner, "org/external/cus_1", bigger),
                    0,
                )
                .allowed
        );
    }

    /// The sweep drops a limiter only once it has been idle for a whole period: a busy
    /// key keeps what it spent.
    #[test]
    fn the_sweep_keeps_busy_limiters_and_drops_idle_ones() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let limits = Limits::new(clock.clone());
        let cfg = RateLimit {
            limit: 2,
            period: 60,
        };
        let count = |limits: &Limits| {
            let now_ms = clock.now().timestamp_millis();
            limits
                .count(cfg, &limits.limiter(&limits.by_key, "key_1", cfg), now_ms)
                .allowed
        };
        assert!(count(&limits) && count(&limits));
        assert!(!count(&limits));
        clock.advance(chrono::Duration::seconds(20));
        limits.sweep(clock.now());
        assert_eq!(limits.by_key.len(), 1);
        assert!(!count(&limits), "a sweep must not hand back the allowance");
        // Held by a cached record: kept however idle, so the record and the map never
        // count on two different limiters.
        let pinned = limits.limiter(&limits.by_key, "key_1", cfg);
        clock.advance(chrono::Duration::seconds(61));
        limits.sweep(clock.now());
        assert_eq!(limits.by_key.len(), 1);
        drop(pinned);
        limits.sweep(clock.now());
        assert_eq!(limits.by_key.len(), 0);
        assert!(count(&limits));
    }
}
