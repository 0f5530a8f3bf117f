//! What a key may reach (its scope) and whom it belongs to (its owner).
//!
//! The scope *level* (organization, workspaces, agent) is fixed when a key is created;
//! the list of workspaces may be edited later.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// The whole organization.
    #[default]
    Organization,
    /// Only the listed workspaces.
    Workspaces { workspaces: Vec<String> },
    /// One agent and its channels.
    Agent { agent: String },
}

impl Scope {
    pub fn level(&self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Workspaces { .. } => "workspaces",
            Scope::Agent { .. } => "agent",
        }
    }
}

/// The principal a key acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Owner {
    /// A person; `name` is their email.
    User { id: String, name: String },
    /// A non-human principal of the organization.
    ServiceAccount { id: String, name: String },
    /// A customer of the platform team, named by the platform's own identifier.
    External { id: String },
}

impl Owner {
    pub fn type_str(&self) -> &'static str {
        match self {
            Owner::User { .. } => "user",
            Owner::ServiceAccount { .. } => "service_account",
            Owner::External { .. } => "external",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Owner::User { id, .. } | Owner::ServiceAccount { id, .. } | Owner::External { id } => {
                id
            }
        }
    }

    /// What people read: an email, a service-account name or the external id.
    pub fn label(&self) -> &str {
        match self {
            Owner::User { name, .. } | Owner::ServiceAccount { name, .. } => name,
            Owner::External { id } => id,
        }
    }
}
