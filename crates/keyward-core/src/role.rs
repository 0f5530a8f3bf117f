//! Roles of people in an organization.
//!
//! - `owner` and `org_admin` manage everything in the organization (only owners make
//!   owners);
//! - `agent_admin` manages only agent-level keys and the channels of the agents they
//!   administer;
//! - `member` manages only their own personal and worker keys.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    OrgAdmin,
    AgentAdmin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::OrgAdmin => "org_admin",
            Role::AgentAdmin => "agent_admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Role::Owner,
            "org_admin" => Role::OrgAdmin,
            "agent_admin" => Role::AgentAdmin,
            "member" => Role::Member,
            _ => return None,
        })
    }

    pub fn is_org_admin(self) -> bool {
        matches!(self, Role::Owner | Role::OrgAdmin)
    }
}
