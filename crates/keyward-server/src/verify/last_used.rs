//! `last_used_at` without a database write on the request path: uses are recorded in
//! memory and written in one transaction every few seconds and on graceful shutdown.
//! A crash loses at most one flush interval of `last_used_at` updates, nothing else.

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use keyward_store::Store;

#[derive(Default)]
pub struct LastUsed {
    pending: DashMap<String, DateTime<Utc>>,
}

impl LastUsed {
    pub fn record(&self, key_id: &str, at: DateTime<Utc>) {
        match self.pending.get_mut(key_id) {
            Some(mut t) => {
                if *t < at {
                    *t = at;
                }
            }
            None => {
                self.pending
                    .entry(key_id.to_owned())
                    .and_modify(|t| {
                        if *t < at {
                            *t = at
                        }
                    })
                    .or_insert(at);
            }
        }
    }

    /// The newest unflushed use, so listings are current before the flush.
    pub fn pending(&self, key_id: &str) -> Option<DateTime<Utc>> {
        self.pending.get(key_id).map(|t| *t)
    }

    /// Writes what is pending; entries updated meanwhile stay for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> keyward_store::Result<usize> {
        let batch: Vec<(String, DateTime<Utc>)> = self
            .pending
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        store.record_last_used(&batch).await?;
        for (id, at) in &batch {
            self.pending.remove_if(id, |_, t| t == at);
        }
        Ok(batch.len())
    }
}
