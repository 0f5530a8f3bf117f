//! Who may do what, decided in one place: [`Principal::authorize`].
//!
//! Every management endpoint states what it needs as a permission, an [`Action`] and a
//! [`Target`], and asks `authorize`, which applies three independent checks, all
//! required:
//! 1. **grants**: the key holds the endpoint's permission (`keys:write`);
//! 2. **reach**: the caller's role reaches the target. Org admins (owners, `org_admin`s,
//!    service accounts and legacy workspace tokens) reach the whole organization, but
//!    act on *people* (their keys, limits, roles, membership) only when they outrank
//!    them ([`Role::rank`]; owners act on everyone), so an admin cannot lock owners out.
//!    Agent admins reach their agents (agent-level keys, channels) and their own keys;
//!    members their own personal and worker keys. Anyone in the organization may read
//!    its workspaces, agents, channels and people;
//! 3. **scope**: the key's scope covers the target's scope. Organization-level targets
//!    (settings, members, service accounts, invitations, owner limits) need a key scoped
//!    to the whole organization; a channel is in its agent's scope; a workspace in its own.
//!
//! Listings ask for [`Target::Listing`] and keep only what [`Principal::sees`].
//! Customer (`api`) keys and channel tokens never pass the grant check: they are for
//! verification and channel calls, not for managing Keyward.
//! `tests/api/authorization/` walks every endpoint of the OpenAPI document through a
//! table of (endpoint → permission, target) and every kind of scope.

use crate::auth::Principal;
use crate::errors::ApiError;
use crate::state::AppState;
pub use keyward_core::Reach;
use keyward_core::{KeyKind, Owner, Role, Scope};
use keyward_store::KeyRecord;

/// What an endpoint does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    /// Change or delete something that exists, or create something that is no
    /// credential (a workspace, an agent, a channel).
    Write,
    /// Make a credential (a key, a service account's key, an invitation, an
    /// organization with its first token): as `Write`, agent admins create only
    /// agent-level keys, and a key in its rotation grace period makes nothing.
    Create,
    /// Rotate a key: as `Write`, and the new secret goes to the caller, so a person's
    /// token is rotated only by that person (anyone else would hold a credential of
    /// theirs); others may revoke or switch it off.
    Rotate,
}

/// What an endpoint acts on, with what decisions need to know of it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The organization itself and what belongs to it as a whole: settings, members,
    /// service accounts, invitations, new workspaces and agents, owner limits.
    Organization,
    /// Organization-level records that only owners and admins read: pending invitations
    /// (emails, roles) and owner limits.
    AdminRecords,
    /// A listing the handler filters with [`Principal::sees`]; any scope may ask.
    Listing,
    Workspace(&'a str),
    Agent(&'a str),
    /// A channel, which lives in its agent's scope.
    Channel {
        agent: &'a str,
    },
    /// An existing key, or one about to be created.
    Key(KeyTarget<'a>),
    /// A person of the organization, by their current role (or the role an invitation
    /// hands out): acting on them needs to outrank them.
    Person(Role),
    /// A new organization, founded by the caller: any person may, with a key for the
    /// whole of their current organization (a narrowly scoped key founds nothing).
    NewOrganization,
}

/// The parts of a key (existing or about to be created) that decisions look at.
#[derive(Debug, Clone, Copy)]
pub struct KeyTarget<'a> {
    pub kind: KeyKind,
    pub owner: Option<&'a Owner>,
    pub scope: &'a Scope,
}

impl<'a> From<&'a KeyRecord> for KeyTarget<'a> {
    fn from(k: &'a KeyRecord) -> Self {
        KeyTarget {
            kind: k.kind,
            owner: k.owner.as_ref(),
            scope: &k.scope,
        }
    }
}

impl<'a> From<&'a KeyRecord> for Target<'a> {
    fn from(k: &'a KeyRecord) -> Self {
        Target::Key(k.into())
    }
}

impl Target<'_> {
    /// The scope a key must cover to act on this target (`None`: any scope may ask).
    fn scope(&self) -> Option<Scope> {
        Some(match self {
            Target::Organization
            | Target::AdminRecords
            | Target::Person(_)
            | Target::NewOrganization => Scope::Organization,
            Target::Listing => return None,
            Target::Workspace(w) => Scope::Workspaces {
                workspaces: vec![(*w).to_owned()],
            },
            Target::Agent(a) | Target::Channel { agent: a } => Scope::Agent {
                agent: (*a).to_owned(),
            },
            Target::Key(k) => k.scope.clone(),
        })
    }
}

impl Principal {
    /// The caller's reach, from its key kind and (for people) its current role, read
    /// from the database once per request: a role change or removal takes effect at the
    /// next request, and a change that commits while this one runs stops its write (the
    /// store checks the role in the change's actor).
    pub async fn reach(&self, state: &AppState) -> Result<Reach, ApiError> {
        if let Some(reach) = self.reach.get() {
            return Ok(reach.clone());
        }
        let reach = self.read_reach(state).await?;
        Ok(self.reach.get_or_init(|| reach).clone())
    }

    async fn read_reach(&self, state: &AppState) -> Result<Reach, ApiError> {
        let user_id = match (&self.key.kind, &self.key.owner) {
            (KeyKind::ServiceAccount | KeyKind::LegacyWorkspace, _) => {
                return Ok(Reach::Admin { role: None })
            }
            (KeyKind::Personal | KeyKind::Worker, Some(Owner::User { id, .. })) => id.clone(),
            _ => return Ok(Reach::None),
        };
        let member = state.store.get_member(self.org_id(), &user_id).await?;
        if let Some(m) = &member {
            let _ = self.role.set(m.role);
        }
        Ok(match member {
            // Removing a person revokes their keys: this one was authenticated just
            // before the removal committed.
            None => return Err(ApiError::TokenWithdrawn),
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

    /// Grants × reach × scope for one request; returns the caller's reach (handlers use
    /// it to filter listings and to word their answers).
    pub async fn authorize(
        &self,
        state: &AppState,
        permission: &str,
        action: Action,
        target: Target<'_>,
    ) -> Result<Reach, ApiError> {
        self.require(permission)?;
        if matches!(action, Action::Create | Action::Rotate) && self.key.rotated_to.is_some() {
            // A key in its grace period still works, but it is on its way out: it mints
            // nothing (else whoever holds it could take over its own replacement).
            return Err(ApiError::RoleForbidden(
                "this key was rotated: it works until its grace period ends but creates and rotates nothing; use its replacement".into(),
            ));
        }
        let reach = self.reach(state).await?;
        check_reach(self, &reach, action, &target)?;
        if let Some(scope) = target.scope() {
            if !self.key.scope.covers(&scope) {
                return Err(ApiError::RoleForbidden(format!(
                    "this key is scoped to {}; the target reaches beyond it",
                    describe_scope(&self.key.scope)
                )));
            }
        }
        Ok(reach)
    }

    /// The caller's organization. Deleting it revokes its keys, so a request that finds
    /// it gone was authenticated just before the deletion committed.
    pub async fn organization(
        &self,
        state: &AppState,
    ) -> Result<keyward_store::Organization, ApiError> {
        state
            .store
            .get_org(self.org_id())
            .await
            .map_err(|e| match e {
                keyward_store::StoreError::NotFound => ApiError::TokenWithdrawn,
                other => other.into(),
            })
    }

    /// Whether this key's scope covers something of `scope` (for filtering listings).
    pub fn sees(&self, scope: &Scope) -> bool {
        self.key.scope.covers(scope)
    }
}

fn refuse(message: &str) -> ApiError {
    ApiError::RoleForbidden(message.to_owned())
}

fn check_reach(
    principal: &Principal,
    reach: &Reach,
    action: Action,
    target: &Target<'_>,
) -> Result<(), ApiError> {
    if *reach == Reach::None {
        return Err(refuse("this key cannot manage this organization"));
    }
    match (target, action) {
        (Target::Key(key), _) => check_key_reach(principal, reach, action, key),
        (Target::NewOrganization, _) => Ok(()),
        (
            Target::Organization
            | Target::Listing
            | Target::Workspace(_)
            | Target::Agent(_)
            | Target::Channel { .. }
            | Target::Person(_),
            Action::Read,
        ) => Ok(()),
        (Target::Channel { agent }, _) => match reach {
            Reach::Admin { .. } => Ok(()),
            Reach::AgentAdmin { agents, .. } if agents.iter().any(|a| a == agent) => Ok(()),
            _ => Err(refuse(
                "only org admins and this agent's admins manage its channels",
            )),
        },
        (Target::Person(role), _) => {
            if !matches!(reach, Reach::Admin { .. }) {
                return Err(refuse("only organization owners and admins may do this"));
            }
            if !reach.outranks(*role) {
                return Err(refuse(
                    "org admins act only on people ranked below them; only owners act on owners and org admins",
                ));
            }
            Ok(())
        }
        (
            Target::Organization
            | Target::AdminRecords
            | Target::Listing
            | Target::Workspace(_)
            | Target::Agent(_),
            _,
        ) => match reach {
            Reach::Admin { .. } => Ok(()),
            _ => Err(refuse("only organization owners and admins may do this")),
        },
    }
}

/// Whose keys a caller reaches: see the module docs.
fn check_key_reach(
    principal: &Principal,
    reach: &Reach,
    action: Action,
    key: &KeyTarget<'_>,
) -> Result<(), ApiError> {
    let person = match key.owner {
        Some(Owner::User { id, .. }) if matches!(key.kind, KeyKind::Personal | KeyKind::Worker) => {
            Some(id.as_str())
        }
        _ => None,
    };
    let own = person
        .is_some_and(|p| matches!(&principal.key.owner, Some(Owner::User { id, .. }) if id == p));
    if action == Action::Rotate && person.is_some() && !own {
        return Err(refuse(
            "only its owner rotates a person's token (rotating hands over the new secret); revoke or switch it off instead",
        ));
    }
    if action == Action::Create {
        match key.kind {
            KeyKind::Api if !matches!(reach, Reach::Admin { .. } | Reach::AgentAdmin { .. }) => {
                return Err(refuse("only admins issue api keys"));
            }
            KeyKind::LegacyWorkspace if !matches!(reach, Reach::Admin { .. }) => {
                return Err(refuse(
                    "only organization admins may create legacy workspace tokens",
                ));
            }
            _ => {}
        }
        if let Reach::AgentAdmin { agents, .. } = reach {
            if !matches!(key.scope, Scope::Agent { agent } if agents.contains(agent)) {
                return Err(refuse(
                    "agent admins create only agent-level keys of their agents",
                ));
            }
        }
    }
    let base = match reach {
        Reach::Admin { .. } => Ok(()),
        Reach::AgentAdmin { agents, .. } => {
            if own || matches!(key.scope, Scope::Agent { agent } if agents.contains(agent)) {
                Ok(())
            } else {
                Err(refuse(
                    "agent admins manage only agent-level keys of their agents",
                ))
            }
        }
        Reach::Member { .. } if own => Ok(()),
        Reach::Member { .. } => Err(refuse(
            "members manage only their own personal and worker keys",
        )),
        Reach::None => Err(refuse("this key cannot manage keys")),
    };
    // Acting on another person's token also needs to outrank them (an org admin cannot
    // revoke, limit or switch off an owner's token): the store checks that inside the
    // change, with the person's role as it is then (`person_key_rules`), so a promotion
    // racing the request cannot slip through.
    base
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

    #[test]
    fn admins_act_only_on_people_ranked_below_them() {
        let owner = Reach::Admin {
            role: Some(Role::Owner),
        };
        let admin = Reach::Admin {
            role: Some(Role::OrgAdmin),
        };
        let service_account = Reach::Admin { role: None };
        for role in [Role::Owner, Role::OrgAdmin, Role::AgentAdmin, Role::Member] {
            assert!(owner.outranks(role));
        }
        for reach in [&admin, &service_account] {
            assert!(!reach.outranks(Role::Owner));
            assert!(!reach.outranks(Role::OrgAdmin));
            assert!(reach.outranks(Role::AgentAdmin));
            assert!(reach.outranks(Role::Member));
        }
        let member = Reach::Member {
            user_id: "u".into(),
        };
        assert!(!member.outranks(Role::Member));
        assert!(!Reach::None.outranks(Role::Member));
    }

    #[test]
    fn targets_name_the_scope_a_key_must_cover() {
        assert_eq!(Target::Organization.scope(), Some(Scope::Organization));
        assert_eq!(Target::Listing.scope(), None);
        assert_eq!(
            Target::Channel { agent: "a" }.scope(),
            Some(Scope::Agent { agent: "a".into() })
        );
        assert_eq!(
            Target::Workspace("w").scope(),
            Some(Scope::Workspaces {
                workspaces: vec!["w".into()]
            })
        );
    }
}
