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
    /// Whether everything `other` reaches is also reached by `self`.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Organization, _) => true,
            (Scope::Workspaces { workspaces: mine }, Scope::Workspaces { workspaces: theirs }) => {
                theirs.iter().all(|w| mine.contains(w))
            }
            (Scope::Agent { agent: mine }, Scope::Agent { agent: theirs }) => mine == theirs,
            _ => false,
        }
    }

    pub fn reaches_workspace(&self, workspace: &str) -> bool {
        match self {
            Scope::Organization => true,
            Scope::Workspaces { workspaces } => workspaces.iter().any(|w| w == workspace),
            Scope::Agent { .. } => false,
        }
    }

    pub fn reaches_agent(&self, agent: &str) -> bool {
        match self {
            Scope::Organization => true,
            Scope::Agent { agent: mine } => mine == agent,
            Scope::Workspaces { .. } => false,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(list: &[&str]) -> Scope {
        Scope::Workspaces {
            workspaces: list.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn coverage() {
        let agent = Scope::Agent { agent: "a".into() };
        assert!(Scope::Organization.covers(&ws(&["x"])) && Scope::Organization.covers(&agent));
        assert!(ws(&["x", "y"]).covers(&ws(&["y"])));
        assert!(!ws(&["x"]).covers(&ws(&["x", "y"])));
        assert!(!ws(&["x"]).covers(&Scope::Organization));
        assert!(!ws(&["x"]).covers(&agent) && !agent.covers(&ws(&["x"])));
        assert!(agent.covers(&agent.clone()) && !agent.covers(&Scope::Agent { agent: "b".into() }));
        assert!(ws(&["x"]).reaches_workspace("x") && !ws(&["x"]).reaches_workspace("y"));
        assert!(
            !agent.reaches_workspace("x") && agent.reaches_agent("a") && !agent.reaches_agent("b")
        );
    }
}
