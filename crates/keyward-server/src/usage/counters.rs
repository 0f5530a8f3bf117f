//! Per-key, per-minute counts of valid and denied verifications and of API calls,
//! kept in memory and added to the database every flush.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyward_store::{Store, UsageRow};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A verification that answered VALID.
    Valid,
    /// A verification of an existing key that answered anything else.
    Denied,
    /// A call to Keyward's own API authenticated with the key.
    Api,
}

/// Keyed by key id, hashed with a process-seeded foldhash (the verify path records two
/// uses per request).
#[derive(Default)]
pub struct UsageCounters {
    pending: DashMap<String, Mutex<Minutes>, foldhash::fast::RandomState>,
}

/// One key's unflushed counts: (minute, [valid, denied, api]) in minute order. Almost
/// always a single minute, so a small vector (a few dozen bytes per key waiting for
/// the flush) rather than a B-tree (a ~400-byte node each).
#[derive(Default)]
struct Minutes(Vec<(i64, [i64; 3])>);

impl Minutes {
    fn counts(&mut self, minute: i64) -> &mut [i64; 3] {
        let i = match self.0.last() {
            Some((m, _)) if *m == minute => self.0.len() - 1,
            _ => match self.0.binary_search_by_key(&minute, |(m, _)| *m) {
                Ok(i) => i,
                Err(i) => {
                    self.0.insert(i, (minute, [0; 3]));
                    i
                }
            },
        };
        &mut self.0[i].1
    }
}

impl UsageCounters {
    pub fn record(&self, key_id: &str, at: DateTime<Utc>, outcome: Outcome) {
        let minute = at.timestamp().div_euclid(60);
        let slot = outcome as usize;
        if let Some(per_key) = self.pending.get(key_id) {
            per_key.lock().expect("usage lock").counts(minute)[slot] += 1;
            return;
        }
        self.pending
            .entry(key_id.to_owned())
            .or_default()
            .lock()
            .expect("usage lock")
            .counts(minute)[slot] += 1;
    }

    /// Unflushed rows of one key, so reports are current before the flush.
    pub fn pending(&self, key_id: &str) -> Vec<UsageRow> {
        self.pending
            .get(key_id)
            .map(|m| {
                m.lock()
                    .expect("usage lock")
                    .0
                    .iter()
                    .map(|(minute, c)| UsageRow {
                        key_id: key_id.to_owned(),
                        minute: *minute,
                        valid: c[0],
                        denied: c[1],
                        api: c[2],
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves everything counted so far to the database. On failure the counts are put
    /// back, so nothing is lost or counted twice.
    pub async fn flush(&self, store: &dyn Store) -> keyward_store::Result<usize> {
        let mut rows = vec![];
        for entry in self.pending.iter() {
            let taken = std::mem::take(&mut entry.value().lock().expect("usage lock").0);
            rows.extend(taken.into_iter().map(|(minute, c)| UsageRow {
                key_id: entry.key().clone(),
                minute,
                valid: c[0],
                denied: c[1],
                api: c[2],
            }));
        }
        self.pending
            .retain(|_, m| m.get_mut().map(|m| !m.0.is_empty()).unwrap_or(true));
        if rows.is_empty() {
            return Ok(0);
        }
        if let Err(e) = store.record_usage(&rows).await {
            for r in &rows {
                let per_key = self.pending.entry(r.key_id.clone()).or_default();
                let mut minutes = per_key.lock().expect("usage lock");
                let c = minutes.counts(r.minute);
                c[0] += r.valid;
                c[1] += r.denied;
                c[2] += r.api;
            }
            return Err(e);
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minutes arriving out of order (threads read the clock a moment apart) each keep
    /// their own counts, reported in minute order.
    #[test]
    fn counts_per_minute_in_any_arrival_order() {
        let c = UsageCounters::default();
        let at = |minute: i64| DateTime::from_timestamp(minute * 60 + 30, 0).unwrap();
        for (minute, outcome) in [
            (6, Outcome::Valid),
            (5, Outcome::Denied),
            (6, Outcome::Valid),
            (7, Outcome::Api),
            (5, Outcome::Valid),
        ] {
            c.record("key_1", at(minute), outcome);
        }
        let rows: Vec<(i64, i64, i64, i64)> = c
            .pending("key_1")
            .iter()
            .map(|r| (r.minute, r.valid, r.denied, r.api))
            .collect();
        assert_eq!(rows, vec![(5, 1, 1, 0), (6, 2, 0, 0), (7, 0, 0, 1)]);
        assert!(c.pending("key_2").is_empty());
    }
}
