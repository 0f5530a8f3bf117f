//! What the key pages show besides the keys: the organization's workspaces, agents and
//! channels (for names and choices), its limits and how much of them is used, and the
//! person's reach. Read through the API's handlers, as the person could read them, in
//! one round of concurrent reads (no query per row).

use super::super::failure::Failure;
use super::super::visitor::Signed;
use crate::state::AppState;
use axum::extract::{Path, State};
use keyward_api::{Channel, ChannelQuery, OrgSettings, Resource};
use keyward_core::{KeyKind, Reach, Scope};
use keyward_store::KeyCounts;
use std::collections::HashMap;

/// The organization around a key page.
pub struct Context {
    pub workspaces: Vec<Resource>,
    pub agents: Vec<Resource>,
    pub channels: Vec<Channel>,
    pub settings: OrgSettings,
    pub counts: KeyCounts,
    /// How far the person reaches (`authz`): what the pages offer, never what they allow.
    pub reach: Reach,
    names: HashMap<String, String>,
}

impl Context {
    pub async fn load(state: &AppState, signed: &Signed) -> Result<Context, Failure> {
        // Read once here, so the handlers below (each given a clone) need not read it again.
        let reach = signed.principal.reach(state).await?;
        let p = || signed.principal.clone();
        let s = || State(state.clone());
        let (workspaces, agents, channels, org, counts) = tokio::try_join!(
            crate::http::resources::list_workspaces(s(), p()),
            crate::http::resources::list_agents(s(), p()),
            crate::http::channels::list_channels(
                s(),
                p(),
                crate::extract::ApiQuery(ChannelQuery { agent: None })
            ),
            crate::http::orgs::get_org(s(), p(), Path(signed.org_id.clone())),
            async {
                state
                    .store
                    .key_counts(&signed.org_id, Some(&signed.user_id), state.clock.now())
                    .await
                    .map_err(crate::errors::ApiError::from)
            },
        )?;
        let (workspaces, agents, channels) = (workspaces.0, agents.0, channels.0);
        let names = workspaces
            .iter()
            .chain(&agents)
            .map(|r| (r.id.clone(), r.name.clone()))
            .chain(channels.iter().map(|c| (c.id.clone(), c.name.clone())))
            .collect();
        Ok(Context {
            workspaces,
            agents,
            channels,
            settings: org.0.settings,
            counts,
            reach,
            names,
        })
    }

    /// The name of a workspace, agent or channel, or its id when it is gone.
    pub fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    /// A scope in words, with names: "whole organization", "workspaces prod, staging",
    /// "agent support-bot".
    pub fn scope_text(&self, scope: &Scope) -> String {
        match scope {
            Scope::Organization => "whole organization".into(),
            Scope::Workspaces { workspaces } => {
                let names: Vec<&str> = workspaces.iter().map(|w| self.name(w)).collect();
                format!(
                    "workspace{} {}",
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                )
            }
            Scope::Agent { agent } => format!("agent {}", self.name(agent)),
        }
    }

    /// Whether the organization's key limit (`max_keys`) has room for a key of `kind`:
    /// worker keys and channel tokens are counted apart (or not at all).
    pub fn org_has_room(&self, kind: KeyKind) -> bool {
        matches!(kind, KeyKind::Worker | KeyKind::Channel)
            || self.counts.keys < self.settings.max_keys
    }

    /// The person's active worker keys in `workspace`.
    pub fn worker_keys_in(&self, workspace: &str) -> u32 {
        self.counts
            .worker_keys
            .iter()
            .find(|(w, _)| w == workspace)
            .map_or(0, |(_, n)| *n)
    }

    /// Whether the person may make another worker key in `workspace`.
    pub fn worker_room_in(&self, workspace: &str) -> bool {
        self.worker_keys_in(workspace) < self.settings.max_worker_keys
    }

    /// The agents the person may make keys for: all for admins, their own for agent
    /// admins (the API decides again when the form is sent).
    pub fn own_agents(&self) -> Vec<&Resource> {
        match &self.reach {
            Reach::AgentAdmin { agents, .. } => self
                .agents
                .iter()
                .filter(|a| agents.contains(&a.id))
                .collect(),
            _ => self.agents.iter().collect(),
        }
    }

    /// The channels the person may make tokens for, by the same measure.
    pub fn own_channels(&self) -> Vec<&Channel> {
        match &self.reach {
            Reach::AgentAdmin { agents, .. } => self
                .channels
                .iter()
                .filter(|c| agents.contains(&c.agent_id))
                .collect(),
            _ => self.channels.iter().collect(),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.reach, Reach::Admin { .. })
    }

    pub fn is_agent_admin(&self) -> bool {
        matches!(&self.reach, Reach::AgentAdmin { agents, .. } if !agents.is_empty())
    }
}
