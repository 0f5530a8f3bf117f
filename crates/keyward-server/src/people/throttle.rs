//! Sign-in throttling (issue 14): failed sign-ins are counted per account (the email
//! as typed, lower-cased) and per client address, each in a fixed window; once either
//! count reaches its limit, further attempts are refused until the window ends, with
//! the time to wait. A success forgets the account's failures (not the address's, so
//! one known password does not reset an address trying many accounts).
//!
//! Counts are per node, in memory: a guesser spread over N nodes gets N× the attempts,
//! which argon2's cost and the per-address limit keep small. Memory is bounded by
//! [`Throttle::sweep`] (windows that ended are dropped) and a cap on tracked keys.

use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;

/// Failures allowed in one window, and the window's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub failures: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_account: Limit,
    pub per_address: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_account: Limit {
                failures: 10,
                window: Duration::minutes(15),
            },
            per_address: Limit {
                failures: 50,
                window: Duration::minutes(15),
            },
        }
    }
}

/// Keys tracked at most per kind; past it, failures of new keys are not counted until a
/// sweep (a flood of distinct keys must not exhaust memory).
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
struct Counts(DashMap<String, (DateTime<Utc>, u32), foldhash::fast::RandomState>);

impl Counts {
    /// The end of the window whose count reached `limit`, if `key` is refused at `now`.
    fn refused_until(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let entry = self.0.get(key)?;
        let (start, count) = *entry;
        let end = start + limit.window;
        (now < end && count >= limit.failures).then_some(end)
    }

    fn fail(&self, key: &str, limit: Limit, now: DateTime<Utc>) {
        if self.0.len() >= MAX_TRACKED && !self.0.contains_key(key) {
            return;
        }
        let mut entry = self.0.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0 + limit.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Refused: try again at `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub until: DateTime<Utc>,
}

impl Throttled {
    /// Whole seconds to wait from `now` (at least one), for `Retry-After`.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> i64 {
        (self.until - now).num_seconds().max(1)
    }
}

#[derive(Default)]
pub struct Throttle {
    limits: Limits,
    accounts: Counts,
    addresses: Counts,
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether a sign-in for `email` from `address` may be tried at `now`. Checked
    /// before the password is (so a refused attempt costs no hashing), whatever the
    /// email: unknown and known accounts are throttled alike.
    pub fn check(&self, email: &str, address: &str, now: DateTime<Utc>) -> Result<(), Throttled> {
        let account =
            self.accounts
                .refused_until(&account_key(email), self.limits.per_account, now);
        let address = self
            .addresses
            .refused_until(address, self.limits.per_address, now);
        match account.max(address) {
            Some(until) => Err(Throttled { until }),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in (wrong password or unknown email).
    pub fn failed(&self, email: &str, address: &str, now: DateTime<Utc>) {
        self.accounts
            .fail(&account_key(email), self.limits.per_account, now);
        self.addresses.fail(address, self.limits.per_address, now);
    }

    /// A successful sign-in: the account's failures are forgotten.
    pub fn succeeded(&self, email: &str) {
        self.accounts.0.remove(&account_key(email));
    }

    /// Drops windows that ended before `now`. Run periodically.
    pub fn sweep(&self, now: DateTime<Utc>) {
        let (a, b) = (
            self.limits.per_account.window,
            self.limits.per_address.window,
        );
        self.accounts.0.retain(|_, (start, _)| now < *start + a);
        self.addresses.0.retain(|_, (start, _)| now < *start + b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        "2030-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute)
    }

    fn small() -> Throttle {
        Throttle::new(Limits {
            per_account: Limit {
                failures: 3,
                window: Duration::minutes(15),
            },
            per_address: Limit {
                failures: 5,
                window: Duration::minutes(15),
            },
        })
    }

    #[test]
    fn an_account_is_refused_after_its_failures_until_the_window_ends() {
        let t = small();
        for _ in 0..3 {
            assert!(t.check("ada@company.com", "10.0.0.1", at(0)).is_ok());
            t.failed("ada@company.com", "10.0.0.1", at(0));
        }
        // The case of the email does not matter; another address does not help.
        let refused = t.check("ADA@company.com", "10.0.0.2", at(1)).unwrap_err();
        assert_eq!(refused.until, at(15));
        assert_eq!(refused.retry_after_secs(at(1)), 14 * 60);
        assert!(t.check("ada@company.com", "10.0.0.1", at(15)).is_ok());
        // Another account from the same address is not refused for Ada's failures.
        assert!(t.check("bob@company.com", "10.0.0.1", at(1)).is_ok());
    }

    #[test]
    fn an_address_trying_many_accounts_is_refused() {
        let t = small();
        for i in 0..5 {
            t.failed(&format!("p{i}@company.com"), "10.0.0.9", at(0));
        }
        assert!(t.check("new@company.com", "10.0.0.9", at(2)).is_err());
        assert!(t.check("new@company.com", "10.0.0.8", at(2)).is_ok());
    }

    #[test]
    fn success_forgets_the_account_and_sweeps_free_memory() {
        let t = small();
        t.failed("ada@company.com", "10.0.0.1", at(0));
        t.failed("ada@company.com", "10.0.0.1", at(0));
        t.succeeded("ada@company.com");
        t.failed("ada@company.com", "10.0.0.1", at(1));
        t.failed("ada@company.com", "10.0.0.1", at(1));
        assert!(t.check("ada@company.com", "10.0.0.1", at(1)).is_ok());
        t.sweep(at(30));
        assert_eq!((t.accounts.0.len(), t.addresses.0.len()), (0, 0));
    }
}
