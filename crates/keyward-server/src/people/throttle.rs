//! Sign-in throttling (issue 14): attempts are counted per account (the email as typed,
//! lower-cased) and per client address (an IPv6 address by its /64), each in a fixed
//! window, *before* the password is checked; once either count reaches its limit,
//! further attempts are refused until the window ends, with the time to wait. A success
//! forgets the account's failures and gives its attempt back to the address (so one
//! known password does not reset an address trying many accounts, nor does a busy
//! address of people who type their passwords right get refused).
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

/// Where attempts for keys the full map cannot track are counted, all together: when
/// the map is full, new keys share one window rather than not being counted at all.
const OVERFLOW: &str = "\0overflow";

impl Counts {
    /// Counts an attempt for `key` at `now` unless its window already holds `limit`
    /// attempts, in one step on the map's entry, so concurrent attempts cannot all pass
    /// a check made before any of them is counted. `Err(end of the window)` if refused.
    fn take(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let key = if self.0.len() >= MAX_TRACKED && !self.0.contains_key(key) {
            self.0.retain(|_, (start, _)| now < *start + limit.window);
            if self.0.len() >= MAX_TRACKED {
                OVERFLOW
            } else {
                key
            }
        } else {
            key
        };
        let mut entry = self.0.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0 + limit.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit.failures {
            return Err(entry.0 + limit.window);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back an attempt that turned out not to be a failure.
    fn give_back(&self, key: &str) {
        if let Some(mut entry) = self.0.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
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

/// The address an attempt is counted for: an IPv4 address, or an IPv6 address's /64
/// (one host usually has a whole /64 to pick addresses from).
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Counts a sign-in attempt for `email` (`None`: not even an email, counted for the
    /// address only) from `address` before its password is checked, or refuses it. An
    /// attempt counts as a failure until [`Throttle::succeeded`] says otherwise, so a
    /// burst of parallel guesses is held to the limit like a sequence of them.
    pub fn attempt(
        &self,
        email: Option<&str>,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Throttled> {
        let account = email.map(account_key);
        if let Some(account) = &account {
            self.accounts
                .take(account, self.limits.per_account, now)
                .map_err(|until| Throttled { until })?;
        }
        if let Err(until) = self.addresses.take(address, self.limits.per_address, now) {
            if let Some(account) = &account {
                self.accounts.give_back(account);
            }
            return Err(Throttled { until });
        }
        Ok(())
    }

    /// The attempt was right: the account's failures are forgotten, and the attempt
    /// does not count against the address.
    pub fn succeeded(&self, email: &str, address: &str) {
        self.accounts.0.remove(&account_key(email));
        self.addresses.give_back(address);
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
            assert!(t
                .attempt(Some("ada@company.com"), "10.0.0.1", at(0))
                .is_ok());
        }
        // The case of the email does not matter; another address does not help.
        let refused = t
            .attempt(Some("ADA@company.com"), "10.0.0.2", at(1))
            .unwrap_err();
        assert_eq!(refused.until, at(15));
        assert_eq!(refused.retry_after_secs(at(1)), 14 * 60);
        assert!(t
            .attempt(Some("ada@company.com"), "10.0.0.1", at(15))
            .is_ok());
        // Another account from the same address is not refused for Ada's failures.
        assert!(t
            .attempt(Some("bob@company.com"), "10.0.0.1", at(1))
            .is_ok());
    }

    #[test]
    fn an_address_trying_many_accounts_is_refused() {
        let t = small();
        for i in 0..5 {
            let email = format!("p{i}@company.com");
            assert!(t.attempt(Some(&email), "10.0.0.9", at(0)).is_ok());
        }
        assert!(t
            .attempt(Some("new@company.com"), "10.0.0.9", at(2))
            .is_err());
        assert!(t.attempt(None, "10.0.0.9", at(2)).is_err());
        // The refused attempt did not count against the new account.
        assert_eq!(t.accounts.0.get("new@company.com").map(|e| e.1), Some(0));
        assert!(t
            .attempt(Some("new@company.com"), "10.0.0.8", at(2))
            .is_ok());
    }

    #[test]
    fn parallel_attempts_are_held_to_the_limit() {
        let t = std::sync::Arc::new(small());
        let passed: usize = (0..16)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let address = format!("10.0.1.{i}");
                    t.attempt(Some("ada@company.com"), &address, at(0)).is_ok() as usize
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(passed, 3);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }

    #[test]
    fn success_forgets_the_account_and_sweeps_free_memory() {
        let t = small();
        t.attempt(Some("ada@company.com"), "10.0.0.1", at(0))
            .unwrap();
        t.attempt(Some("ada@company.com"), "10.0.0.1", at(0))
            .unwrap();
        t.attempt(Some("ada@company.com"), "10.0.0.1", at(0))
            .unwrap();
        t.succeeded("ada@company.com", "10.0.0.1");
        t.attempt(Some("ada@company.com"), "10.0.0.1", at(1))
            .unwrap();
        t.attempt(Some("ada@company.com"), "10.0.0.1", at(1))
            .unwrap();
        assert!(t
            .attempt(Some("ada@company.com"), "10.0.0.1", at(1))
            .is_ok());
        t.sweep(at(30));
        assert_eq!((t.accounts.0.len(), t.addresses.0.len()), (0, 0));
    }
}
