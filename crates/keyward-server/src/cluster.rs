//! Several nodes on one database: every node follows the store's change feed
//! (PostgreSQL `LISTEN keyward_changes`) and drops what changed from its caches.
//!
//! The store announces each change from inside the transaction that makes it, so a
//! committed change always reaches every connected node. The danger is a node that is
//! *not* connected: notifications sent while its listening connection is down are lost
//! for good. So a node treats its cache as stale (every lookup reads the database,
//! nothing read then is kept) from the moment it suspects the feed until it has
//! reconnected, re-subscribed and cleared its cache. It suspects the feed when the
//! connection fails and also when the feed has been silent for [`SILENCE`]: every node
//! publishes a ping every [`PING_EVERY`], so a healthy feed is never silent that long,
//! and a silently dead connection (a network partition without a reset) is caught
//! within [`SILENCE`] rather than by TCP timeouts minutes later.
//!
//! SQLite has no feed (one node): [`follow`] is not started and nothing here runs.

use crate::state::AppState;
use crate::store::{Caches, Touched};
use keyward_store::{ChangeFeed, FeedEvent};
use std::time::Duration;

/// How often each node proves the feed is alive.
pub const PING_EVERY: Duration = Duration::from_millis(250);
/// A feed silent for this long is presumed dead.
pub const SILENCE: Duration = Duration::from_millis(1000);
/// Wait between attempts to re-subscribe.
const RETRY: Duration = Duration::from_millis(250);

/// Applies one event to this node's caches: what another node's change touched goes
/// through the same [`Caches::apply`] as this node's own changes (`CoherentStore`).
pub fn apply(state: &AppState, event: FeedEvent) {
    let caches = Caches {
        keys: state.keys.clone(),
        index: state.index.clone(),
        limits: state.limits.clone(),
    };
    match event {
        FeedEvent::Key(hash) => caches.apply(Touched::Keys(&[hash])),
        FeedEvent::Organization(org_id) => caches.apply(Touched::Organization(&org_id)),
        FeedEvent::Owner {
            org_id,
            owner_type,
            owner_id,
        } => caches.apply(Touched::Owner {
            org_id: &org_id,
            owner_type: &owner_type,
            owner_id: &owner_id,
        }),
        // Its hook in the index follows from the `Resources` event sent with it.
        FeedEvent::Channel(id) => caches.apply(Touched::ChannelTokens(&id)),
        FeedEvent::OwnerLimits(org_id) => caches.apply(Touched::OwnerLimits(&org_id)),
        FeedEvent::All => {
            state.keys.clear();
            state.limits.forget_all_owners();
        }
        FeedEvent::Resources => reload_index(state),
        FeedEvent::Ping => {}
    }
}

/// Follows `feed` (already subscribed) until the task is aborted, re-subscribing
/// whenever it is lost. The cache is trusted only while a feed is live.
pub async fn follow(state: AppState, feed: Box<dyn ChangeFeed>) {
    let mut feed = Some(feed);
    loop {
        let mut live = match feed.take() {
            // The first feed: subscribed, and the index read after it, before serving.
            Some(f) => f,
            None => {
                let f = resubscribe(&state).await;
                // Anything changed while the feed was down is read again.
                reload_index(&state);
                f
            }
        };
        // Subscribed: anything committed from now on will be heard, and everything
        // cached before is dropped. Only now is the cache trusted.
        state.keys.set_stale(false);
        tracing::debug!("change feed live; key cache trusted");
        loop {
            match tokio::time::timeout(SILENCE, live.next()).await {
                Ok(Ok(event)) => apply(&state, event),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "change feed lost; verifying from the database until it is back");
                    break;
                }
                Err(_) => {
                    tracing::warn!(
                        silent_ms = SILENCE.as_millis() as u64,
                        "change feed silent; verifying from the database until it is back"
                    );
                    break;
                }
            }
        }
        state.keys.set_stale(true);
    }
}

/// Reloads the index of workspaces, agents and channels in the background (reloads are
/// serialized inside the index, so the last one reads the newest state).
fn reload_index(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = state.index.reload(state.store.as_ref()).await {
            tracing::warn!(error = %e, "could not reload the workspace, agent and channel index");
        }
    });
}

async fn resubscribe(state: &AppState) -> Box<dyn ChangeFeed> {
    loop {
        match state.store.subscribe().await {
            Ok(Some(feed)) => {
                tracing::info!("change feed re-subscribed");
                return feed;
            }
            Ok(None) => std::future::pending::<()>().await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-subscribe to the change feed; retrying")
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Publishes a ping every [`PING_EVERY`], so that every node's feed hears something.
pub async fn ping(state: AppState) {
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.store.publish(FeedEvent::Ping).await {
            tracing::debug!(error = %e, "could not publish a change-feed ping");
        }
    }
}
