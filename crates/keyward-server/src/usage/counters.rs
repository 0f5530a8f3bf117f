//! Per-key, per-minute counts of valid and denied verifications and of API calls,
//! kept in memory and added to the database every flush.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyward_store::{Store, UsageRow};
use std::collections::BTreeMap;
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
    pending: DashMap<String, Mutex<BTreeMap<i64, [i64; 3]>>, foldhash::fast::RandomState>,
}

impl UsageCounters {
    pub fn record(&self, key_id: &str, at: DateTime<Utc>, outcome: Outcome) {
        let minute = at.timestamp().div_euclid(60);
        let slot = outcome as usize;
        if let Some(per_key) = self.pending.get(key_id) {
            per_key
                .lock()
                .expect("usage lock")
                .entry(minute)
                .or_default()[slot] += 1;
            return;
        }
        self.pending
            .entry(key_id.to_owned())
            .or_default()
            .lock()
            .expect("usage lock")
            .entry(minute)
            .or_default()[slot] += 1;
    }

    /// Unflushed rows of one key, so reports are current before the flush.
    pub fn pending(&self, key_id: &str) -> Vec<UsageRow> {
        self.pending
            .get(key_id)
            .map(|m| {
                m.lock()
                    .expect("usage lock")
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
            let taken = std::mem::take(&mut *entry.value().lock().expect("usage lock"));
            rows.extend(taken.into_iter().map(|(minute, c)| UsageRow {
                key_id: entry.key().clone(),
                minute,
                valid: c[0],
                denied: c[1],
                api: c[2],
            }));
        }
        self.pending
            .retain(|_, m| m.get_mut().map(|m| !m.is_empty()).unwrap_or(true));
        if rows.is_empty() {
            return Ok(0);
        }
        if let Err(e) = store.record_usage(&rows).await {
            for r in &rows {
                let per_key = self.pending.entry(r.key_id.clone()).or_default();
                let mut map = per_key.lock().expect("usage lock");
                let c = map.entry(r.minute).or_default();
                c[0] += r.valid;
                c[1] += r.denied;
                c[2] += r.api;
            }
            return Err(e);
        }
        Ok(rows.len())
    }
}
