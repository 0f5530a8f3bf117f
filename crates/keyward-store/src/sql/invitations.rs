//! Invitations: stored by the hash of their code, redeemed once for a membership and a
//! first token, and only while the key that issued them may still hand that out.

use super::audit::insert_audit;
use super::backend::{args, Arg, Backend, SqlStore};
use super::change::{exists, key_now};
use super::keys::{check_limits, fetch_key, insert_key, MEMBER_EXISTS, ORG_ALIVE};
use super::members::*;
use crate::encode::{from_ms, json};
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{InvitationRow, KeyNow};
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner};

const INVITATION_SELECT: &str = "SELECT id, org_id, email, role, agents, permissions, created_at, \
    created_by, created_by_key, expires_at, accepted_at, revoked_at FROM invitations";

const INSERT_INVITATION: &str = "INSERT INTO invitations (id, org_id, email, role, agents, \
    permissions, code_hash, created_at, created_by, created_by_key, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// `$1` time, `$2` org id, `$3` email: ends the pending invitations of one email.
const REPLACE_PENDING_INVITATIONS: &str = "UPDATE invitations SET revoked_at = $1 \
    WHERE org_id = $2 AND email = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

/// `$1` time, `$2` accepting user id, `$3` invitation id: marks it used, once.
const MARK_INVITATION_ACCEPTED: &str = "UPDATE invitations SET accepted_at = $1, accepted_by = $2 \
    WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

/// `$1` time, `$2` org id, `$3` invitation id.
const REVOKE_INVITATION: &str = "UPDATE invitations SET revoked_at = $1 \
    WHERE org_id = $2 AND id = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

/// The invitation `condition` finds (placeholders bound to `args`).
async fn fetch_invitation<B: Backend>(
    c: &mut B::Connection,
    condition: &str,
    args: &[Arg<'_>],
) -> Result<Option<Invitation>> {
    let sql = format!("{INVITATION_SELECT} WHERE {condition}");
    let row: Option<InvitationRow> = B::fetch_optional(c, &sql, args).await?;
    row.map(Invitation::try_from).transpose()
}

/// `$1` a console session's id, `$2` an organization: the session's person as an
/// inviter there (their role now, every grant of a session), if still a member.
const SESSION_INVITER: &str = "SELECT s.id, m.org_id, m.role, '[\"*:*\"]' AS permissions, \
    '{\"type\":\"organization\"}' AS scope, CAST(NULL AS BIGINT) AS expires_at, \
    CAST(NULL AS TEXT) AS rotated_to \
    FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.org_id = $2 \
    JOIN organizations o ON o.id = m.org_id \
    WHERE s.id = $1 AND o.deleted_at IS NULL";

/// [`crate::rules::inviter_may`] for the key that issued `inv` or its replacements (a
/// rotated key's replacement carries on its invitations): `None` if none of them may,
/// else the expiry of the one that decided, which the first token does not outlive.
async fn inviter_still_may<B: Backend>(
    c: &mut B::Connection,
    inv: &Invitation,
    at: DateTime<Utc>,
) -> Result<Option<Option<DateTime<Utc>>>> {
    let Some(first) = inv.created_by_key.clone() else {
        return Ok(Some(None));
    };
    if first.starts_with("ses_") {
        // Issued in the console: the inviting person decides, by their role in the
        // invitation's organization now, whether or not they are still signed in.
        let now: Option<KeyNow> =
            B::fetch_optional(c, SESSION_INVITER, args![&first, &inv.org_id]).await?;
        return match now {
            Some(now) => Ok(crate::rules::inviter_may(&now, inv)?.then_some(None)),
            None => Ok(None),
        };
    }
    // The issuing key and its replacements, oldest first (a few at most).
    let mut chain = vec![first];
    while chain.len() < 16 {
        let sql = "SELECT rotated_to FROM api_keys WHERE id = $1";
        let last = chain.last().expect("not empty");
        let next: Option<(Option<String>,)> = B::fetch_optional(c, sql, args![last]).await?;
        match next.and_then(|(n,)| n) {
            Some(replacement) => chain.push(replacement),
            None => break,
        }
    }
    // The newest that works decides: a key in its grace period gives way to its
    // replacement, whose expiry the first token inherits.
    for key in chain.iter().rev() {
        if let Some(now) = key_now::<B>(c, key, at).await? {
            let expires = now.expires_at.map(from_ms);
            return Ok(crate::rules::inviter_may(&now, inv)?.then_some(expires));
        }
    }
    Ok(None)
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn create_invitation(
        &self,
        inv: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        let mut tx = self.begin_change(&audit).await?;
        if !exists::<B>(&mut tx, ORG_ALIVE, args![&inv.org_id]).await? {
            return Err(StoreError::Gone("organization"));
        }
        if exists::<B>(&mut tx, MEMBER_BY_EMAIL, args![&inv.org_id, &inv.email]).await? {
            return Err(StoreError::Conflict(Conflict::AlreadyMember));
        }
        check_agents::<B>(&mut tx, &inv.org_id, &inv.agents).await?;
        let args = args![inv.created_at, &inv.org_id, &inv.email];
        B::execute(&mut tx, REPLACE_PENDING_INVITATIONS, args).await?;
        let args = args![
            &inv.id,
            &inv.org_id,
            &inv.email,
            inv.role.as_str(),
            json(&inv.agents),
            json(&inv.permissions),
            &inv.code_hash,
            inv.created_at,
            &inv.created_by,
            &inv.created_by_key,
            inv.expires_at,
        ];
        B::execute(&mut tx, INSERT_INVITATION, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let invitation = fetch_invitation::<B>(&mut tx, "id = $1", args![&inv.id])
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(invitation)
    }

    pub(crate) async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<InvitationRow> = self.read(&sql, args![org_id]).await?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    pub(crate) async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        let mut c = self.reader.acquire().await?;
        fetch_invitation::<B>(&mut c, "org_id = $1 AND id = $2", args![org_id, id])
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub(crate) async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>> {
        let mut c = self.reader.acquire().await?;
        fetch_invitation::<B>(&mut c, "code_hash = $1", args![code_hash]).await
    }

    pub(crate) async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        let mut tx = self.begin_change(&audit).await?;
        if B::execute(&mut tx, REVOKE_INVITATION, args![at, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        let invitation =
            fetch_invitation::<B>(&mut tx, "org_id = $1 AND id = $2", args![org_id, id])
                .await?
                .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(invitation)
    }

    pub(crate) async fn accept_invitation(&self, a: Acceptance) -> Result<Accepted> {
        let mut tx = self.begin_change(&a.audit).await?;
        let inv = fetch_invitation::<B>(&mut tx, "code_hash = $1", args![&a.code_hash])
            .await?
            .ok_or(StoreError::NotFound)?;
        let org_id = inv.org_id.clone();
        if inv.accepted_at.is_some() {
            return Err(StoreError::Conflict(Conflict::InvitationUsed));
        }
        let inviter = inviter_still_may::<B>(&mut tx, &inv, a.at).await?;
        let Some(inviter_expires) =
            inviter.filter(|_| inv.revoked_at.is_none() && inv.expires_at > a.at)
        else {
            return Err(StoreError::Conflict(Conflict::InvitationExpired));
        };
        if !exists::<B>(&mut tx, ORG_ALIVE, args![&org_id]).await? {
            return Err(StoreError::Gone("organization"));
        }
        let existing: Option<(String,)> =
            B::fetch_optional(&mut tx, USER_BY_EMAIL, args![&inv.email]).await?;
        let user_id = match (&a.invitee, existing.map(|(id,)| id)) {
            (Invitee::New { user_id }, None) => {
                // Two invitations of one new person accepted at once in two
                // organizations: the second finds the person created and must prove it.
                B::execute(&mut tx, INSERT_USER, args![user_id, &inv.email, a.at])
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict(Conflict::Duplicate) => {
                            StoreError::Conflict(Conflict::IdentityRequired)
                        }
                        other => other,
                    })?;
                user_id.clone()
            }
            (Invitee::Existing { user_id }, Some(found)) if *user_id == found => found,
            (Invitee::Returning { user_id }, Some(found)) if *user_id == found => {
                if exists::<B>(&mut tx, MEMBER_ANYWHERE, args![&found]).await? {
                    return Err(StoreError::Conflict(Conflict::IdentityRequired));
                }
                found
            }
            _ => return Err(StoreError::Conflict(Conflict::IdentityRequired)),
        };
        if exists::<B>(&mut tx, MEMBER_EXISTS, args![&org_id, &user_id]).await? {
            return Err(StoreError::Conflict(Conflict::AlreadyMember));
        }
        check_agents::<B>(&mut tx, &org_id, &inv.agents).await?;
        let args = args![&org_id, &user_id, inv.role.as_str(), a.at];
        B::execute(&mut tx, INSERT_MEMBERSHIP, args).await?;
        set_agent_admins::<B>(&mut tx, &org_id, &user_id, &inv.agents).await?;
        // The first token does not outlive the key that issued the invitation: a leaked
        // short-lived admin key cannot plant a lasting credential.
        let key = match a.key {
            Some(key) => {
                let expires_at = match (key.expires_at, inviter_expires) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let key = NewKey {
                    org_id: org_id.clone(),
                    owner: Some(Owner::User {
                        id: user_id.clone(),
                        name: inv.email.clone(),
                    }),
                    expires_at,
                    ..key
                };
                check_limits::<B>(&mut tx, &key).await?;
                insert_key::<B>(&mut tx, &key).await?;
                Some(key.id)
            }
            None => None,
        };
        if let Some(hash) = &a.password_hash {
            // Only a person new here or returning sets a password by invitation; one who
            // is a member elsewhere keeps theirs (the store refused `Returning` above).
            if matches!(a.invitee, Invitee::Existing { .. }) {
                return Err(StoreError::Conflict(Conflict::IdentityRequired));
            }
            // A returning person who has a password keeps it: the invitation's holder
            // must not be able to set it (they prove it is them with it instead).
            let sql = "SELECT id FROM users WHERE id = $1 AND password_hash IS NOT NULL";
            if exists::<B>(&mut tx, sql, args![&user_id]).await? {
                return Err(StoreError::Conflict(Conflict::IdentityRequired));
            }
            let sql = "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3";
            B::execute(&mut tx, sql, args![hash, a.at, &user_id]).await?;
            let args = args![a.at, &user_id];
            B::execute(&mut tx, super::passwords::END_USER_LINKS, args).await?;
        }
        let args = args![a.at, &user_id, &inv.id];
        if B::execute(&mut tx, MARK_INVITATION_ACCEPTED, args).await? != 1 {
            return Err(StoreError::Conflict(Conflict::InvitationUsed));
        }
        let event = NewAuditEvent {
            org_id: org_id.clone(),
            target_id: user_id.clone(),
            actor: Actor {
                id: Some(user_id.clone()),
                ..a.audit.actor.clone()
            },
            ..a.audit
        };
        insert_audit::<B>(&mut tx, &event).await?;
        let member = fetch_member::<B>(&mut tx, &org_id, &user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let key = match key {
            Some(id) => Some(fetch_key::<B>(&mut tx, &org_id, &id).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(Accepted { member, key })
    }
}
