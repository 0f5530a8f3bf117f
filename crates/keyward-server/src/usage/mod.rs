//! Usage: counts per key per minute, rate limits (per key and per owner) and quotas.
//!
//! Nothing here writes to the database on the request path except a quota lease,
//! which happens once per [`Quota::lease_size`](keyward_core::Quota::lease_size)
//! credits. Counters are flushed behind with `last_used_at`.

pub mod counters;
pub mod limits;

pub use counters::{Outcome, UsageCounters};
pub use limits::{Limits, QuotaInfo, RateInfo};
