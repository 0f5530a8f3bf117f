//! The Keyward HTTP service.
//!
//! - [`Application`] binds the listener, wires the store, cache and background
//!   flushers, and serves until a shutdown signal, then flushes what is pending.
//! - [`http`]: one module per feature; [`http::router`] merges them.
//! - [`verify`]: the hot path (checksum → hash → cache) and its write-behind.
//! - [`auth`]: the bearer-token extractor; [`errors`]: the one API error type.

pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod cluster;
pub mod console;
pub mod errors;
pub mod extract;
pub mod http;
pub mod integrations;
pub mod people;
pub mod state;
pub mod store;
pub mod usage;
pub mod verify;
pub mod webhooks;
pub mod workers;

pub use http::{openapi, router};

/// For unit tests that need a real store: a migrated SQLite database in `dir` with one
/// bootstrapped organization, whose id is returned.
#[cfg(test)]
pub(crate) async fn test_store(dir: &std::path::Path) -> (Arc<dyn Store>, String) {
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let store = keyward_store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let (_, owner) =
        bootstrap::bootstrap(store.as_ref(), &keyward_core::SystemClock, "org", "o@x.io")
            .await
            .unwrap();
    (store, owner.org_id)
}
pub use state::AppState;

use keyward_core::Clock;
use keyward_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// How often `last_used_at` is written behind.
    pub flush_interval: Duration,
    /// Also serve `POST /__bench/floor` (see [`http::meta::bench_floor`]); for
    /// `bench/run.sh` only, never needed in production.
    pub bench_floor: bool,
    /// Key records the verify cache keeps at most (`state::DEFAULT_CACHE_MAX_KEYS`).
    pub cache_max_keys: usize,
    /// Server-wide rules (creating organizations).
    pub policy: state::Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            flush_interval: Duration::from_secs(2),
            bench_floor: false,
            cache_max_keys: state::DEFAULT_CACHE_MAX_KEYS,
            policy: state::Policy::default(),
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    settings: Settings,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) on a migrated store.
    pub async fn build(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let state = AppState::with_settings(
            store,
            clock,
            settings.cache_max_keys,
            settings.policy.clone(),
        );
        Ok(Self {
            listener,
            state,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then drains requests and flushes
    /// write-behind data before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        // Several nodes (PostgreSQL): subscribe to the change feed before serving, so no
        // request is answered from a cache that could miss another node's change.
        let feed = state.store.subscribe().await?;
        if feed.is_some() {
            state.keys.set_stale(false);
        }
        // Read once, before serving and after subscribing: a workspace, agent or channel
        // another node changes from now on reaches this node's index through the feed.
        state
            .index
            .reload(state.store.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot read workspaces, agents and channels: {e}"))?;
        let followers = match feed {
            Some(feed) => vec![
                tokio::spawn(cluster::follow(state.clone(), feed)),
                tokio::spawn(cluster::ping(state.clone())),
            ],
            None => vec![],
        };
        // Fail at once when the database holds records sealed by a KEK the ring lacks.
        integrations::keks::check_ring(
            state.store.as_ref(),
            state.vault.ring(),
            state.vault.config.ephemeral,
            state.clock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        webhooks::sync::apply(
            state.store.as_ref(),
            state.vault.ring(),
            &state.webhooks.config.endpoints,
            state.webhooks.config.allow_private_destinations,
            state.clock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let flusher = tokio::spawn(background(state.clone(), self.settings.flush_interval));
        let refresher = tokio::spawn(integrations::refresh::run(state.clone()));
        let deliverer = tokio::spawn(webhooks::deliver::run(state.clone()));
        let dispatcher = tokio::spawn(workers::dispatch::run(state.clone()));
        let app = http::router_with(self.state.clone(), self.settings.bench_floor)
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        // Workers' WebSockets outlive the graceful shutdown (they are upgraded out of
        // it): close them, so their daemons reconnect at once.
        state
            .workers
            .close_all(
                keyward_api::CLOSE_SERVICE_RESTART,
                "service_restart",
                Duration::from_secs(2),
            )
            .await;
        flusher.abort();
        refresher.abort();
        deliverer.abort();
        dispatcher.abort();
        for task in followers {
            task.abort();
        }
        match state
            .last_used
            .flush(state.store.as_ref(), state.clock.now(), true)
            .await
        {
            Ok(n) => tracing::info!(flushed = n, "last-used times written on shutdown"),
            Err(e) => tracing::error!(error = %e, "could not write last-used times on shutdown"),
        }
        if let Err(e) = state.usage.flush(state.store.as_ref()).await {
            tracing::error!(error = %e, "could not write usage counts on shutdown");
        }
        if let Err(e) = state.limits.return_leases(state.store.as_ref()).await {
            tracing::error!(error = %e, "could not return unspent quota leases on shutdown");
        }
        state.store.close().await;
        Ok(())
    }
}

/// Write-behind and housekeeping, every `interval`.
async fn background(state: AppState, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state
            .last_used
            .flush(state.store.as_ref(), state.clock.now(), false)
            .await
        {
            tracing::warn!(error = %e, "could not write last-used times; will retry");
        }
        if let Err(e) = state.usage.flush(state.store.as_ref()).await {
            tracing::warn!(error = %e, "could not write usage counts; will retry");
        }
        state.keys.sweep();
        state.limits.sweep(state.clock.now());
        state.throttle.sweep(state.clock.now());
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered when this is
/// called, not when the future is first polled, so a signal that arrives while the
/// server is still starting is not lost (and does not kill the process uncleanly).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! { _ = i.recv() => {}, _ = t.recv() => {} }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down: finishing requests and flushing");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests and flushing");
    }
}
