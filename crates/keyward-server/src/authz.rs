//! Who may do what, decided in one place.
//!
//! A request is allowed when all three hold:
//! 1. the key's **grants** include the permission the endpoint needs
//!    ([`Principal::require`]);
//! 2. the caller's **reach** ([`Reach`]) allows the target: org admins (owners,
//!    `org_admin`s, service accounts and legacy workspace tokens) reach every key of the
//!    organization, agent admins only agent-level keys of their agents (and their own),
//!    members only their own personal and worker keys;
//! 3. the key's **scope** covers the target's scope (a key scoped to one agent manages
//!    only that agent's keys, even when its owner is an org admin).
//!
//! Customer (`api`) keys and channel tokens are for verification and channel calls;
//! they cannot manage Keyward.

use crate::auth::Principal;
use crate::errors::ApiError;
use crate::state::AppState;
use keyward_core::{KeyKind, Owner, Role, Scope};
use keyward_store::KeyRecord;

/// How far a caller reaches inside its organization, before scope and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
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

/// The parts of a key (existing or about to be created) that decisions look at.
pub struct Target<'a> {
    pub kind: KeyKind,
    pub owner: Option<&'a Owner>,
    pub scope: &'a Scope,
}

impl<'a> From<&'a KeyRecord> for Target<'a> {
    fn from(k: &'a KeyRecord) -> Self {
        Target {
            kind: k.kind,
            owner: k.owner.as_ref(),
            scope: &k.scope,
        }
    }
}

impl Principal {
    /// The caller's reach, from its key kind and (for people) its current role.
    pub async fn reach(&self, state: &AppState) -> Result<Reach, ApiError> {
        let user_id = match (&self.key.kind, &self.key.owner) {
            (KeyKind::ServiceAccount | KeyKind::LegacyWorkspace, _) => {
                return Ok(Reach::Admin { role: None })
            }
            (KeyKind::Personal | KeyKind::Worker, Some(Owner::User { id, .. })) => id.clone(),
            _ => return Ok(Reach::None),
        };
        let member = state.store.get_member(self.org_id(), &user_id).await?;
        Ok(match member {
            None => Reach::None,
            Some(m) if m.role.is_org_admin() && self.key.kind == KeyKind::Personal => {
                Reach::Admin { role: Some(m.role) }
            }
            Some(m) if m.role == Role::AgentAdmin && self.key.kind == KeyKind::Personal => {
                Reach::AgentAdmin {
                    user_id,
                    agents: m.agents,
                }
            }
            Some(_) => Reach::Member { user_id },
        })
    }

    /// Org admins only (workspaces, agents, members, service accounts, settings).
    pub async fn require_admin(&self, state: &AppState) -> Result<Reach, ApiError> {
        let reach = self.reach(state).await?;
        if !matches!(reach, Reach::Admin { .. }) {
            return Err(ApiError::RoleForbidden(
                "only organization owners and admins may do this".into(),
            ));
        }
        if self.key.scope != Scope::Organization {
            return Err(ApiError::RoleForbidden(
                "this needs a key scoped to the whole organization".into(),
            ));
        }
        Ok(reach)
    }
}

/// Whether `reach` with a key of `scope` may see and manage `target`; the reason if not.
pub fn may_manage(reach: &Reach, scope: &Scope, target: &Target<'_>) -> Result<(), ApiError> {
    let own = |user_id: &str| {
        matches!(target.owner, Some(Owner::User { id, .. }) if id == user_id)
            && matches!(target.kind, KeyKind::Personal | KeyKind::Worker)
    };
    let allowed = match reach {
        Reach::Admin { .. } => true,
        Reach::AgentAdmin { user_id, agents } => {
            own(user_id) || matches!(target.scope, Scope::Agent { agent } if agents.contains(agent))
        }
        Reach::Member { user_id } => own(user_id),
        Reach::None => false,
    };
    if !allowed {
        return Err(ApiError::RoleForbidden(match reach {
            Reach::AgentAdmin { .. } => {
                "agent admins manage only agent-level keys of their agents".into()
            }
            Reach::Member { .. } => "members manage only their own personal and worker keys".into(),
            _ => "this key cannot manage keys".into(),
        }));
    }
    if !scope.covers(target.scope) {
        return Err(ApiError::RoleForbidden(format!(
            "this key is scoped to {}; the target reaches beyond it",
            describe_scope(scope)
        )));
    }
    Ok(())
}

/// As [`may_manage`], and agent admins create only agent-level keys of their agents
/// (even for themselves): anything organization- or workspace-level is refused.
pub fn may_create(reach: &Reach, scope: &Scope, target: &Target<'_>) -> Result<(), ApiError> {
    if let Reach::AgentAdmin { agents, .. } = reach {
        if !matches!(target.scope, Scope::Agent { agent } if agents.contains(agent)) {
            return Err(ApiError::RoleForbidden(
                "agent admins create only agent-level keys of their agents".into(),
            ));
        }
    }
    may_manage(reach, scope, target)
}

pub fn describe_scope(scope: &Scope) -> String {
    match scope {
        Scope::Organization => "the whole organization".into(),
        Scope::Workspaces { workspaces } => format!("workspaces {}", workspaces.join(", ")),
        Scope::Agent { agent } => format!("agent {agent}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Owner {
        Owner::User {
            id: id.into(),
            name: format!("{id}@example.com"),
        }
    }

    #[test]
    fn reach_rules() {
        let org = Scope::Organization;
        let agent_a = Scope::Agent { agent: "a".into() };
        let alice = user("alice");
        let bob = user("bob");
        let org_key = Target {
            kind: KeyKind::Personal,
            owner: Some(&bob),
            scope: &org,
        };
        let agent_key = Target {
            kind: KeyKind::Personal,
            owner: Some(&bob),
            scope: &agent_a,
        };
        let own_key = Target {
            kind: KeyKind::Personal,
            owner: Some(&alice),
            scope: &org,
        };
        let admin = Reach::Admin {
            role: Some(Role::OrgAdmin),
        };
        let agent_admin = Reach::AgentAdmin {
            user_id: "alice".into(),
            agents: vec!["a".into()],
        };
        let member = Reach::Member {
            user_id: "alice".into(),
        };
        assert!(may_manage(&admin, &org, &org_key).is_ok());
        assert!(
            may_manage(&admin, &agent_a, &org_key).is_err(),
            "an agent-scoped key reaches one agent"
        );
        assert!(may_manage(&agent_admin, &org, &agent_key).is_ok());
        assert!(may_manage(&agent_admin, &org, &org_key).is_err());
        assert!(may_manage(&member, &org, &own_key).is_ok());
        assert!(may_manage(&member, &org, &agent_key).is_err());
        assert!(may_manage(&Reach::None, &org, &own_key).is_err());
    }
}
