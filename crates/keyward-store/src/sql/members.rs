//! People and their memberships: roles, the agents an agent admin administers, and
//! leaving (which revokes the person's keys and sessions in the organization).

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use super::change::exists;
use super::keys::{revoke_where, AGENT_EXISTS};
use super::sessions::REVOKE_MEMBER_SESSIONS;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::MemberRow;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Role};

pub(crate) const INSERT_USER: &str =
    "INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)";
pub(crate) const USER_BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1";
pub(crate) const INSERT_MEMBERSHIP: &str =
    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)";

/// `$1` org id, `$2` email: one row if a person with that email is a member.
pub(crate) const MEMBER_BY_EMAIL: &str =
    "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
    WHERE m.org_id = $1 AND u.email = $2";

/// `$1` user id: one row if the person is a member of an organization that exists.
pub(crate) const MEMBER_ANYWHERE: &str = "SELECT m.org_id FROM memberships m \
    JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 AND o.deleted_at IS NULL";

const MEMBERS: &str = "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
    JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email";

const OWNERS: &str = "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
    JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.role = 'owner' ORDER BY u.email";

/// `$1` org id: every agent admin's agents, in one read for a whole listing.
const AGENT_ADMINS: &str =
    "SELECT user_id, agent_id FROM agent_admins WHERE org_id = $1 ORDER BY user_id, agent_id";

const OWNER_COUNT: &str = "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'";

pub(crate) async fn fetch_member<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Member>> {
    let sql = "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2";
    let Some(row): Option<MemberRow> = B::fetch_optional(c, sql, args![org_id, user_id]).await?
    else {
        return Ok(None);
    };
    let sql =
        "SELECT agent_id FROM agent_admins WHERE org_id = $1 AND user_id = $2 ORDER BY agent_id";
    let agents: Vec<(String,)> = B::fetch_all(c, sql, args![org_id, user_id]).await?;
    row.with_agents(agents.into_iter().map(|(a,)| a).collect())
        .map(Some)
}

/// The members `sql` (`$1` org id) lists, in its order, with their agents: two reads
/// whatever the number of members.
async fn fetch_members<B: Backend>(
    c: &mut B::Connection,
    sql: &str,
    org_id: &str,
) -> Result<Vec<Member>> {
    let rows: Vec<MemberRow> = B::fetch_all(c, sql, args![org_id]).await?;
    let pairs: Vec<(String, String)> = B::fetch_all(c, AGENT_ADMINS, args![org_id]).await?;
    let mut agents: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (user, agent) in pairs {
        agents.entry(user).or_default().push(agent);
    }
    rows.into_iter()
        .map(|row| {
            let theirs = agents.remove(row.user_id()).unwrap_or_default();
            row.with_agents(theirs)
        })
        .collect()
}

pub(crate) async fn set_agent_admins<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    user_id: &str,
    agents: &[String],
) -> Result<()> {
    let sql = "DELETE FROM agent_admins WHERE org_id = $1 AND user_id = $2";
    B::execute(c, sql, args![org_id, user_id]).await?;
    for agent in agents {
        let sql = "INSERT INTO agent_admins (org_id, user_id, agent_id) VALUES ($1, $2, $3)";
        B::execute(c, sql, args![org_id, user_id, agent]).await?;
    }
    Ok(())
}

/// Each of `agents` still exists in the organization.
pub(crate) async fn check_agents<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    agents: &[String],
) -> Result<()> {
    for agent in agents {
        if !exists::<B>(c, AGENT_EXISTS, args![org_id, agent]).await? {
            return Err(StoreError::Gone("agent"));
        }
    }
    Ok(())
}

/// The member as they are now, if their role is still `expected` (what the caller was
/// authorized against).
async fn member_as_expected<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    user_id: &str,
    expected: Role,
) -> Result<Member> {
    let current = fetch_member::<B>(c, org_id, user_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if current.role != expected {
        return Err(StoreError::Conflict(Conflict::ChangedMeanwhile));
    }
    Ok(current)
}

/// Refused with [`Conflict::LastOwner`] when the organization has one owner only.
async fn keep_an_owner<B: Backend>(c: &mut B::Connection, org_id: &str) -> Result<()> {
    let (owners,): (i64,) = B::fetch_optional(c, OWNER_COUNT, args![org_id])
        .await?
        .unwrap_or_default();
    if owners <= 1 {
        return Err(StoreError::Conflict(Conflict::LastOwner));
    }
    Ok(())
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        let mut c = self.reader.acquire().await?;
        fetch_member::<B>(&mut c, org_id, user_id).await
    }

    pub(crate) async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        let mut c = self.reader.acquire().await?;
        fetch_members::<B>(&mut c, MEMBERS, org_id).await
    }

    pub(crate) async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>> {
        let mut c = self.reader.acquire().await?;
        fetch_members::<B>(&mut c, OWNERS, org_id).await
    }

    pub(crate) async fn find_user_by_email(&self, email: &str) -> Result<Option<String>> {
        let found: Option<(String,)> = self.read_one(USER_BY_EMAIL, args![email]).await?;
        Ok(found.map(|(id,)| id))
    }

    pub(crate) async fn update_member(
        &self,
        org_id: &str,
        m: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member> {
        let mut tx = self.begin_change(&audit).await?;
        let current = member_as_expected::<B>(&mut tx, org_id, &m.user_id, expected).await?;
        check_agents::<B>(&mut tx, org_id, &m.agents).await?;
        if current.role == Role::Owner && m.role != Role::Owner {
            keep_an_owner::<B>(&mut tx, org_id).await?;
        }
        let sql = "UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3";
        B::execute(&mut tx, sql, args![m.role.as_str(), org_id, &m.user_id]).await?;
        set_agent_admins::<B>(&mut tx, org_id, &m.user_id, &m.agents).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let touched = crate::store::FeedEvent::Owner {
            org_id: org_id.to_owned(),
            owner_type: "user".to_owned(),
            owner_id: m.user_id.clone(),
        };
        B::announce(&mut tx, touched).await?;
        let member = fetch_member::<B>(&mut tx, org_id, &m.user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }

    pub(crate) async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        expected: Role,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let current = member_as_expected::<B>(&mut tx, org_id, user_id, expected).await?;
        if current.role == Role::Owner {
            keep_an_owner::<B>(&mut tx, org_id).await?;
        }
        for table in ["agent_admins", "memberships"] {
            let sql = format!("DELETE FROM {table} WHERE org_id = $1 AND user_id = $2");
            B::execute(&mut tx, &sql, args![org_id, user_id]).await?;
        }
        let condition = "owner_type = 'user' AND owner_id = $2";
        let hashes = revoke_where::<B>(&mut tx, org_id, condition, user_id, at, by).await?;
        B::execute(&mut tx, REVOKE_MEMBER_SESSIONS, args![at, org_id, user_id]).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }
}
