//! The integrations vault: OAuth 2.0 connections whose tokens Keyward keeps, sealed by
//! envelope encryption (`keyward-vault`), and refreshes before they expire.
//!
//! - [`Vault`]: what every node holds — the KEK ring, the configured providers
//!   (`keyward-oauth`), the HTTP client that talks to them, and the refresh settings.
//! - [`seal`]: store records ⇄ tokens in the clear (only ever in `secrecy` types).
//! - [`refresh`]: one refresh at a time per connection across nodes (a lease in the
//!   database), callers of getTokens during a refresh waiting for its result, retries
//!   with backoff, and the background refresher.
//!
//! - [`keks`]: at start, the ring against what the database has seen.
//!
//! HTTP handlers are in `http/integrations.rs`; they call into this module.

pub mod keks;
pub mod refresh;
pub mod seal;

use keyward_oauth::{OAuthClient, Providers};
use keyward_vault::Ring;
use std::sync::Arc;
use std::time::Duration;

/// How the vault runs; the operator's (`keyward.yaml`: `secrets:`, `integrations:`,
/// `oauth:`).
#[derive(Clone)]
pub struct Config {
    pub ring: Arc<Ring>,
    pub providers: Providers,
    /// getTokens and the background refresher renew an access token this long before
    /// it expires.
    pub refresh_margin: Duration,
    /// How often the background refresher looks for tokens to renew.
    pub refresh_interval: Duration,
    /// Delays between attempts of one refresh when the provider is unavailable.
    pub retry_delays: Vec<Duration>,
    /// A ring made up for this process alone ([`Config::ephemeral`]): not registered
    /// in the database ([`keks::check_ring`]).
    pub ephemeral: bool,
}

impl Config {
    /// No providers, and a ring of one random KEK that lives as long as the process
    /// (tests and embedded uses that configure nothing).
    pub fn ephemeral() -> Self {
        let kek = keyward_vault::generate_kek();
        let ring = Ring::new(vec![("ephemeral".to_owned(), kek)], "ephemeral")
            .expect("a ring of one generated KEK is valid");
        Self {
            ephemeral: true,
            ..Self::new(Arc::new(ring), Providers::empty())
        }
    }

    pub fn new(ring: Arc<Ring>, providers: Providers) -> Self {
        Self {
            ring,
            providers,
            refresh_margin: Duration::from_secs(300),
            refresh_interval: Duration::from_secs(30),
            retry_delays: vec![Duration::from_millis(250), Duration::from_secs(1)],
            ephemeral: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::ephemeral()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("keks", &self.ring.ids())
            .field("active_kek", &self.ring.active_id())
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>(),
            )
            .field("refresh_margin", &self.refresh_margin)
            .field("refresh_interval", &self.refresh_interval)
            .finish()
    }
}

/// Two configs are the same when they hold the same ring and providers (by identity)
/// and the same settings.
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ring, &other.ring)
            && self
                .providers
                .iter()
                .map(|p| &p.name)
                .eq(other.providers.iter().map(|p| &p.name))
            && self.refresh_margin == other.refresh_margin
            && self.refresh_interval == other.refresh_interval
            && self.retry_delays == other.retry_delays
            && self.ephemeral == other.ephemeral
    }
}

impl Eq for Config {}

/// What one node holds for the vault.
pub struct Vault {
    pub config: Config,
    pub client: OAuthClient,
    /// This node's name in refresh leases (random per process).
    pub node: String,
    /// Callers on this node wait here for a refresh of the same connection, instead of
    /// each polling the database.
    pub(crate) local: dashmap::DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl Vault {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            client: OAuthClient::new(),
            node: keyward_core::ids::new_id("node"),
            local: Default::default(),
        }
    }

    pub fn ring(&self) -> &Ring {
        &self.config.ring
    }

    pub fn providers(&self) -> &Providers {
        &self.config.providers
    }
}
