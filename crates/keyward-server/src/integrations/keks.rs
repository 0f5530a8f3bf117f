//! The ring a node starts with, against the database: every node must run with the
//! same key-encryption keys, or records one node seals are unreadable on another.
//!
//! - A sealed record whose KEK the ring lacks: the node refuses to start, naming it.
//! - `kek_checks` holds, per KEK id any node has made active, a data key wrapped by it
//!   (a check value). A ring with a KEK of the same id but other bytes, or lacking a
//!   KEK the database has seen (another node's, say, that made its own key file), is
//!   refused too. `keyward secrets retire` forgets a retired KEK's check.
//! - The ring's active KEK is registered the first time it starts.

use chrono::{DateTime, Utc};
use keyward_store::Store;
use keyward_vault::{Ring, WrappedKey};

/// Checks `ring` against the database; registers its active KEK. `ephemeral` rings
/// (made up for one process, tests) are only checked against the sealed records.
pub async fn check_ring(
    store: &dyn Store,
    ring: &Ring,
    ephemeral: bool,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let read = |e: keyward_store::StoreError| {
        format!("cannot read which key-encryption keys the database uses: {e}")
    };
    let usage = store.kek_usage().await.map_err(read)?;
    let missing: Vec<String> = usage
        .iter()
        .filter(|(id, _)| !ring.contains(id))
        .map(|(id, n)| format!("{id} ({n} records)"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the database needs the key-encryption key {} which the configured ring does not have (it has: {}); add it back to the ring (keyward.yaml secrets:, KEYWARD_KEKS or the key file)",
            missing.join(", "),
            ring.ids().join(", ")
        ));
    }
    if ephemeral {
        return Ok(());
    }
    verify_checks(store, ring).await?;
    let (_, wrapped) = ring.new_data_key();
    store
        .register_kek(&wrapped.kek_id, &wrapped.bytes, now)
        .await
        .map_err(read)?;
    // Read again: a node that started at the same moment with another ring registered
    // its KEK meanwhile (then both stop here, and say why).
    verify_checks(store, ring).await
}

async fn verify_checks(store: &dyn Store, ring: &Ring) -> Result<(), String> {
    let checks = store
        .kek_checks()
        .await
        .map_err(|e| format!("cannot read which key-encryption keys the database uses: {e}"))?;
    for (id, bytes) in checks {
        if !ring.contains(&id) {
            return Err(format!(
                "the database has seen the key-encryption key {id}, which this ring lacks (it has: {}): every node must run with the same keys; copy the key file (or secrets.keks, KEYWARD_KEKS) of the other nodes, or, if {id} was retired, run `keyward secrets retire {id}`",
                ring.ids().join(", ")
            ));
        }
        let check = WrappedKey {
            kek_id: id.clone(),
            bytes,
        };
        if ring.unwrap_key(&check).is_err() {
            return Err(format!(
                "the key-encryption key {id} of this ring is not the key the database knows by that id: another node runs with other bytes under the same id; give every node the same ring"
            ));
        }
    }
    Ok(())
}
