//! Roles of people in an organization.
//!
//! - `owner` and `org_admin` manage everything in the organization, but an org admin
//!   acts only on people ranked below them (see [`Role::rank`]): only owners make, limit
//!   or remove owners and org admins;
//! - `agent_admin` manages only agent-level keys and the channels of the agents they
//!   administer;
//! - `member` manages only their own personal and worker keys.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

    /// Seniority, for "who may act on whom": an admin acts only on people ranked below
    /// them (an org admin cannot limit, demote, remove or revoke an owner or another
    /// admin); owners act on everyone.
    /// Whether someone acting with role `actor` may act on a person of role `target`:
    /// owners on everyone, others only on people ranked below them. `None` is a
    /// principal that is not a person (a service account, a legacy token), which ranks
    /// as an org admin.
    pub fn outranks(actor: Option<Role>, target: Role) -> bool {
        match actor {
            Some(Role::Owner) => true,
            other => other.unwrap_or(Role::OrgAdmin).rank() > target.rank(),
        }
    }

    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::OrgAdmin => 2,
            Role::AgentAdmin => 1,
            Role::Member => 0,
        }
    }
}
/// How far a caller reaches inside its organization, before scope and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Owners and org admins (`role`), service accounts and legacy tokens (`None`, which
    /// rank as org admins).
    Admin {
        role: Option<Role>,
    },
    AgentAdmin {
        user_id: String,
        agents: Vec<String>,
    },
    Member {
        user_id: String,
    },
    None,
}

impl Reach {
    /// Whether this caller may act on a person of `role`: owners on everyone, others only
    /// on people ranked below them.
    pub fn outranks(&self, role: Role) -> bool {
        let mine = match self {
            Reach::Admin { role } => *role,
            Reach::AgentAdmin { .. } => Some(Role::AgentAdmin),
            Reach::Member { .. } => Some(Role::Member),
            Reach::None => return false,
        };
        Role::outranks(mine, role)
    }
}
