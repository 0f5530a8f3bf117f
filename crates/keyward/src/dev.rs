//! Hidden developer commands (`keyward dev …`), for benchmarks and local testing.
//!
//! `keyward dev seed-keys --count N --out FILE` fills a database with N API keys in
//! bulk (one transaction per chunk, no audit events), writes the raw keys of the first
//! 1000 to FILE (mode 0600) and prints a token that holds `keys:verify`, so a load
//! generator can call `POST /v1/keys/verify`. Raw keys exist only in FILE and on
//! stdout: the database holds their hashes, as always.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use keyward_core::key::Environment;
use keyward_core::{ids, Clock, KeyHash, KeyKind, Owner, PermissionSet, PlainKey, RateLimit};
use keyward_store::{NewKey, Store};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Keys inserted per transaction: big enough to be fast, small enough that a million
/// keys never sit in memory at once.
const CHUNK: usize = 20_000;

#[derive(Subcommand)]
pub enum DevCommand {
    /// Create N API keys in bulk and write the first 1000 (or --write) raw keys to a file.
    ///
    /// Example: keyward dev seed-keys --count 1000000 --out /tmp/keys.txt --data-dir /tmp/kw
    SeedKeys(SeedArgs),
}

#[derive(Args)]
pub struct SeedArgs {
    /// How many keys to create
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Where to write the raw keys of the first --write keys (created with mode 0600)
    #[arg(long)]
    out: PathBuf,
    /// How many raw keys to write to --out
    #[arg(long, default_value_t = 1000)]
    write: usize,
    /// A key of the organization to seed, when the database is already bootstrapped
    #[arg(long)]
    token: Option<String>,
    /// Permissions of the seeded keys
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "keys:read,skills:execute"
    )]
    permissions: Vec<String>,
}

pub async fn run(command: DevCommand, store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<()> {
    match command {
        DevCommand::SeedKeys(args) => seed_keys(args, store, clock).await,
    }
}

async fn seed_keys(args: SeedArgs, store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<()> {
    let permissions = PermissionSet::parse_list(&args.permissions)
        .map_err(|e| anyhow::anyhow!("--permissions: {e}"))?;
    let org_id = if store.organization_count().await? == 0 {
        let (_, record) = keyward_server::bootstrap::bootstrap(
            store,
            clock,
            keyward_server::bootstrap::DEFAULT_ORG,
            keyward_server::bootstrap::DEFAULT_EMAIL,
        )
        .await?;
        record.org_id
    } else {
        let Some(token) = args.token.as_deref() else {
            bail!("the database already has an organization: pass --token with one of its keys, or use an empty --data-dir");
        };
        match store.find_key_by_hash(&KeyHash::of(token.trim())).await? {
            Some(record) => record.org_id,
            None => bail!("--token is not a key of this database"),
        }
    };

    let mut out = open_private(&args.out)?;
    let started = Instant::now();
    let now = clock.now();
    let mut chunk = Vec::with_capacity(CHUNK.min(args.count));
    let mut written = 0;
    for i in 0..args.count {
        let plain = PlainKey::generate(KeyKind::Api, Environment::Live);
        if written < args.write {
            writeln!(out, "{}", plain.expose_secret())?;
            written += 1;
        }
        chunk.push(NewKey {
            owner: Some(Owner::External {
                id: format!("cust_{i}"),
            }),
            permissions: permissions.clone(),
            metadata: Some(serde_json::json!({ "plan": "bench" })),
            // A limit that never refuses, so the benchmark pays for the GCRA check.
            ratelimit: Some(RateLimit {
                limit: 1_000_000,
                period: 1,
            }),
            ..NewKey::for_plain(
                &plain,
                &org_id,
                format!("bench key {i}"),
                now,
                "dev seed-keys",
            )
        });
        if chunk.len() == CHUNK {
            store.create_keys_bulk(&chunk).await?;
            chunk.clear();
        }
    }
    let verifier = PlainKey::generate(KeyKind::ServiceAccount, Environment::Live);
    chunk.push(NewKey {
        owner: Some(Owner::ServiceAccount {
            id: ids::new_id("sa"),
            name: "bench-verifier".into(),
        }),
        permissions: PermissionSet::parse_list(&["keys:verify"]).expect("valid permission"),
        ..NewKey::for_plain(&verifier, &org_id, "bench verifier", now, "dev seed-keys")
    });
    store.create_keys_bulk(&chunk).await?;
    out.flush()?;
    eprintln!(
        "seeded {} keys in {:.1} s; {} raw keys in {}",
        args.count,
        started.elapsed().as_secs_f64(),
        written,
        args.out.display()
    );
    println!("{}", verifier.expose_secret());
    Ok(())
}

/// Creates (or truncates) `path` readable by its owner only.
fn open_private(path: &PathBuf) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // `mode` applies only to a new file; an existing one is narrowed too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(std::io::BufWriter::new(file))
}
