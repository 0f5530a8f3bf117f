//! Which organization every workspace, agent and channel hook id belongs to, in memory,
//! so that verification can answer "is this workspace, agent or channel the key's?"
//! without a database read.
//!
//! The index is loaded whole when the server starts, updated by this node's own changes
//! right after they commit (`http::resources`, `http::channels`), and reloaded whole
//! when another node announces a change (`FeedEvent::Resources` on PostgreSQL) or the
//! change feed comes back after an outage. Workspaces, agents and channels change
//! rarely, so a reload is cheap; between another node's change and this node's reload
//! (milliseconds) a new workspace may be answered FORBIDDEN and a deleted channel as
//! found. Keys never depend on it: revocation goes through the key cache.

use dashmap::DashMap;
use keyward_store::{Channel, ResourceKind, Store};
use std::sync::Arc;

/// What verification needs to know of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub channel_id: String,
    pub org_id: String,
    pub agent_id: String,
    pub enabled: bool,
}

impl From<&Channel> for HookTarget {
    fn from(c: &Channel) -> Self {
        Self {
            channel_id: c.id.clone(),
            org_id: c.org_id.clone(),
            agent_id: c.agent_id.clone(),
            enabled: c.enabled,
        }
    }
}

type Hasher = foldhash::fast::RandomState;

#[derive(Default)]
struct Maps {
    /// Workspace or agent id → (kind, organization id).
    resources: DashMap<String, (ResourceKind, String), Hasher>,
    /// Hook id → its channel, for channels that are not deleted.
    hooks: DashMap<String, HookTarget, Hasher>,
}

#[derive(Default, Clone)]
pub struct ResourceIndex {
    /// Replaced whole by a reload; changed in place by this node's own changes.
    maps: Arc<std::sync::RwLock<Arc<Maps>>>,
    /// Serializes reloads, so an older one cannot land after a newer one.
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl ResourceIndex {
    /// Reads every workspace, agent and channel, and replaces the index at once.
    pub async fn reload(&self, store: &dyn Store) -> keyward_store::Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let maps = Maps::default();
        for r in store.all_resources().await? {
            maps.resources.insert(r.id, (r.kind, r.org_id));
        }
        for c in store.all_channels().await? {
            maps.hooks.insert(c.hook_id.clone(), HookTarget::from(&c));
        }
        *self.maps.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(maps);
        Ok(())
    }

    fn load(&self) -> Arc<Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `id` is a workspace (or agent) of `org_id`.
    pub fn belongs(&self, kind: ResourceKind, id: &str, org_id: &str) -> bool {
        self.load()
            .resources
            .get(id)
            .is_some_and(|e| e.0 == kind && e.1 == org_id)
    }

    /// The channel with this hook id, if it is not deleted.
    pub fn hook(&self, hook_id: &str) -> Option<HookTarget> {
        self.load().hooks.get(hook_id).map(|e| e.clone())
    }

    pub fn add_resource(&self, kind: ResourceKind, id: &str, org_id: &str) {
        self.load()
            .resources
            .insert(id.to_owned(), (kind, org_id.to_owned()));
    }

    pub fn remove_resource(&self, id: &str) {
        self.load().resources.remove(id);
    }

    /// A channel as it is after a change (deleted ones are removed).
    pub fn put_channel(&self, channel: &Channel) {
        let maps = self.load();
        if channel.deleted {
            maps.hooks.remove(&channel.hook_id);
        } else {
            maps.hooks
                .insert(channel.hook_id.clone(), HookTarget::from(channel));
        }
    }

    /// Forgets the hook id of the channel `channel_id` (deleted).
    pub fn remove_channel(&self, channel_id: &str) {
        self.load().hooks.retain(|_, t| t.channel_id != channel_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[tokio::test]
    async fn the_index_knows_whose_resources_and_hooks_are_whose() {
        let dir = tempfile::tempdir().unwrap();
        let (store, org_id) = crate::test_store(dir.path()).await;
        let index = ResourceIndex::default();
        index.reload(store.as_ref()).await.unwrap();
        assert!(!index.belongs(ResourceKind::Workspace, "ws_x", &org_id));
        index.add_resource(ResourceKind::Workspace, "ws_x", &org_id);
        assert!(index.belongs(ResourceKind::Workspace, "ws_x", &org_id));
        assert!(!index.belongs(ResourceKind::Agent, "ws_x", &org_id));
        assert!(!index.belongs(ResourceKind::Workspace, "ws_x", "org_other"));
        let channel = Channel {
            id: "ch_1".into(),
            org_id: org_id.clone(),
            agent_id: "agt_1".into(),
            name: "c".into(),
            hook_id: "hook1".into(),
            enabled: true,
            created_at: Utc::now(),
            deleted: false,
        };
        index.put_channel(&channel);
        assert_eq!(index.hook("hook1").unwrap().agent_id, "agt_1");
        index.put_channel(&Channel {
            deleted: true,
            ..channel
        });
        assert!(index.hook("hook1").is_none());
        // A reload replaces what was there with what the database holds.
        index.reload(store.as_ref()).await.unwrap();
        assert!(!index.belongs(ResourceKind::Workspace, "ws_x", &org_id));
    }
}
