//! The vault's operator side: the KEK ring and providers `serve` runs with, and
//! `keyward secrets …`, which works on the database directly (like `admin`) to re-wrap
//! data keys after a new KEK became active, and on the key file to add or retire KEKs.
//!
//! Rotation, step by step (docs/security.md, "Encryption at rest"):
//! 1. `keyward secrets add-kek` (key file) or add an entry to `secrets.keks` /
//!    `KEYWARD_KEKS` and make it active; restart the servers: new records use it.
//! 2. `keyward secrets rotate`: every data key still wrapped by another KEK is
//!    re-wrapped by the active one (ciphertexts untouched), with progress.
//! 3. `keyward secrets retire <old id>`: refused while a record still needs it.

use crate::config::FileConfig;
use anyhow::{bail, Context};
use clap::Subcommand;
use keyward_server::integrations::Config;
use keyward_store::Store;
use keyward_vault::{load_ring, Ring, RingOrigin, Sources};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Show the key-encryption keys of the ring, the active one, and how many sealed
    /// records each wraps.
    ///
    /// Example: keyward secrets status --data-dir /var/lib/keyward
    Status,
    /// Re-wrap every data key with the ring's active key-encryption key.
    ///
    /// Ciphertexts are not touched; servers keep running. Run after making a new KEK
    /// active (and restarting the servers with it); then the old KEK can be retired.
    ///
    /// Example: keyward secrets rotate --data-dir /var/lib/keyward
    Rotate {
        /// Records read per step
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
    /// Add a new key-encryption key to the key file (and make it active).
    ///
    /// For rings kept in the key file (<data dir>/keks or secrets.kek_file). Restart the
    /// servers, then run `keyward secrets rotate`.
    ///
    /// Example: keyward secrets add-kek --data-dir /var/lib/keyward
    AddKek {
        /// Add it without making it active
        #[arg(long)]
        inactive: bool,
    },
    /// Remove a key-encryption key from the key file, if no record needs it any more.
    ///
    /// Example: keyward secrets retire kek-20260101-ab12 --data-dir /var/lib/keyward
    Retire {
        /// The KEK's id
        kek_id: String,
    },
}

/// The data directory `serve` uses (for the key file).
pub fn data_dir(global_data_dir: Option<PathBuf>, file: &FileConfig) -> PathBuf {
    global_data_dir
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR))
}

/// The ring from keyward.yaml, the environment, or the key file (created on first
/// start when `create` is set).
pub fn ring(
    file: &FileConfig,
    data_dir: &Path,
    create: bool,
) -> anyhow::Result<(Ring, RingOrigin)> {
    let env = |name: &str| std::env::var(name).ok();
    load_ring(Sources {
        config: file.secrets.as_ref(),
        env: &env,
        data_dir,
        now: chrono::Utc::now(),
        create_if_missing: create,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn duration(name: &str, raw: Option<&String>, default: Duration) -> anyhow::Result<Duration> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let d = keyward_core::expiry::parse_duration(raw, chrono::Duration::days(1), "1d")
        .map_err(|_| anyhow::anyhow!("{name} {raw:?} is not a duration like 30s, 5m or 1h"))?;
    d.to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{name} must be positive"))
}

/// What `serve` runs the vault with; says so when it created the key file.
pub fn config(file: &FileConfig, data_dir: &Path) -> anyhow::Result<Config> {
    let (ring, origin) = ring(file, data_dir, true)?;
    if let RingOrigin::Created(path) = &origin {
        println!(
            "Created the key-encryption key file {} (mode 0600) for the secrets Keyward keeps encrypted. \
             Back it up with the database, or move its keys to a secret manager (docs/security.md).",
            path.display()
        );
    }
    let providers = match &file.integrations {
        Some(i) => keyward_oauth::providers(i).map_err(|e| anyhow::anyhow!("integrations: {e}"))?,
        None => keyward_oauth::Providers::empty(),
    };
    let mut config = Config::new(Arc::new(ring), providers);
    let oauth = file.oauth.clone().unwrap_or_default();
    config.refresh_margin = duration(
        "oauth.refresh_margin",
        oauth.refresh_margin.as_ref(),
        config.refresh_margin,
    )?;
    config.refresh_interval = duration(
        "oauth.refresh_interval",
        oauth.refresh_interval.as_ref(),
        config.refresh_interval,
    )?;
    Ok(config)
}

pub async fn run(
    command: SecretsCommand,
    file: &FileConfig,
    data_dir: &Path,
    store: &dyn Store,
) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Status => {
            let (ring, origin) = ring(file, data_dir, false)?;
            let usage = store.kek_usage().await?;
            println!("Ring from {origin}; active: {}", ring.active_id());
            for id in ring.ids() {
                let n = usage.iter().find(|(k, _)| *k == id).map_or(0, |(_, n)| *n);
                let active = if id == ring.active_id() {
                    " (active)"
                } else {
                    ""
                };
                println!("  {id}{active}: {n} records");
            }
            for (id, n) in usage.iter().filter(|(k, _)| !ring.contains(k)) {
                println!(
                    "  {id}: {n} records — NOT IN THE RING: add it back before starting a server"
                );
            }
            Ok(())
        }
        SecretsCommand::Rotate { batch } => {
            let (ring, _) = ring(file, data_dir, false)?;
            rotate(store, &ring, batch.clamp(1, 10_000)).await
        }
        SecretsCommand::AddKek { inactive } => {
            // The key file `serve` reads, by the same rules.
            let path = match ring(file, data_dir, false)?.1 {
                RingOrigin::File(path) | RingOrigin::Created(path) => path,
                origin => bail!("the ring comes from {origin}, not a key file: add the new key there (<id>=<base64 of 32 random bytes>, e.g. from `head -c 32 /dev/urandom | base64`) and make it active"),
            };
            let id = keyward_vault::add_to_key_file(&path, chrono::Utc::now(), !inactive)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "Added {id} to {}{}. Restart the servers, then run `keyward secrets rotate`.",
                path.display(),
                if inactive { "" } else { " and made it active" }
            );
            Ok(())
        }
        SecretsCommand::Retire { kek_id } => {
            let usage = store.kek_usage().await?;
            if let Some((_, n)) = usage.iter().find(|(k, _)| *k == kek_id) {
                bail!("{kek_id} still wraps {n} records; run `keyward secrets rotate` first");
            }
            let (ring, origin) = ring(file, data_dir, false)?;
            if kek_id == ring.active_id() {
                bail!("{kek_id} is the active key-encryption key; make another active first (keyward secrets add-kek)");
            }
            if !ring.contains(&kek_id) {
                bail!(
                    "{kek_id} is not in the ring (it has: {})",
                    ring.ids().join(", ")
                );
            }
            match origin {
                RingOrigin::File(path) | RingOrigin::Created(path) => {
                    // A copy first: a node not restarted since may still seal with it.
                    let kept = keep_copy(&path)?;
                    keyward_vault::retire_from_key_file(&path, &kek_id)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("(The key file as it was is kept in {}; delete it once every node runs without {kek_id}.)", kept.display());
                    store.forget_kek(&kek_id).await?;
                    println!("Retired {kek_id} from {}.", path.display());
                }
                RingOrigin::Config | RingOrigin::Environment => {
                    store.forget_kek(&kek_id).await?;
                    println!(
                        "No record needs {kek_id} any more; remove it from {origin} and restart the servers."
                    );
                }
            }
            Ok(())
        }
    }
}

/// Copies the key file beside itself (`keks.retired-<time>`, 0600) before a retirement.
fn keep_copy(path: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let name = format!(
        "{}.retired-{stamp}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("keks")
    );
    let kept = path.with_file_name(name);
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&kept)
        .with_context(|| format!("cannot write {}", kept.display()))?;
    out.write_all(&bytes)?;
    out.sync_all()?;
    Ok(kept)
}

/// How many sealed records have a data key wrapped by a KEK other than `kek_id`.
async fn not_wrapped_by(store: &dyn Store, kek_id: &str) -> anyhow::Result<i64> {
    Ok(store
        .kek_usage()
        .await?
        .iter()
        .filter(|(k, _)| k != kek_id)
        .map(|(_, n)| n)
        .sum())
}

/// Re-wraps every data key not wrapped by the active KEK; prints progress.
pub async fn rotate(store: &dyn Store, ring: &Ring, batch: u32) -> anyhow::Result<()> {
    let active = ring.active_id().to_owned();
    let total = not_wrapped_by(store, &active).await?;
    if total == 0 {
        println!("Every sealed record already uses {active}; nothing to do.");
        return Ok(());
    }
    println!("Re-wrapping {total} data keys with {active}…");
    let (mut done, mut skipped) = (0u64, 0u64);
    loop {
        let records = store.sealed_records(&active, batch).await?;
        if records.is_empty() {
            break;
        }
        let done_before = done;
        for r in &records {
            let wrapped = keyward_server::integrations::seal::from_store(&r.dek);
            let new = ring
                .rewrap(&wrapped)
                .map_err(|e| anyhow::anyhow!("{} {}: {e}", r.table, r.id))?;
            if store
                .rewrap_record(r, &keyward_server::integrations::seal::to_store(new))
                .await?
            {
                done += 1;
            } else {
                // Re-sealed or deleted meanwhile: it no longer needs the old KEK.
                skipped += 1;
            }
        }
        println!("  {done} of {total} re-wrapped");
        if done == done_before {
            // Every record of this batch changed meanwhile; the next read shows what is left.
            if store.sealed_records(&active, batch).await? == records {
                break;
            }
        }
    }
    let left = not_wrapped_by(store, &active).await?;
    println!(
        "Done: {done} re-wrapped, {skipped} changed meanwhile; {left} records use another KEK."
    );
    if left > 0 {
        bail!("{left} records still use another KEK; run keyward secrets rotate again");
    }
    Ok(())
}
