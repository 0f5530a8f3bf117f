//! People's passwords: the argon2id hash the caller made, set by redeeming a one-time
//! password link (stored by the hash of its token), and read back by email to sign in.
//!
//! A redemption builds its own audit event from the link (`password.set` or
//! `password.reset`, acted by the person, in the organization that issued the link):
//! the caller does not know whose link a token is until the store has looked it up, and
//! the event must not be written for a redemption that did not happen.

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use super::change::exists;
use super::keys::{MEMBER_EXISTS, ORG_ALIVE};
use super::sessions::REVOKE_USER_SESSIONS;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{CredentialsRow, PasswordLinkRow};
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;

const LINK_SELECT: &str = "SELECT id, user_id, org_id, purpose, created_at, expires_at, \
    used_at, created_by FROM password_links";

const INSERT_LINK: &str = "INSERT INTO password_links (id, user_id, org_id, purpose, \
    token_hash, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// `$1` time, `$2` user id, `$3` purpose: ends the person's unused links of a purpose.
const SUPERSEDE_LINKS: &str = "UPDATE password_links SET used_at = $1 \
    WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL";

/// `$1` time, `$2` user id: ends every unused link of the person (a password was set:
/// no older link may set another).
pub(crate) const END_USER_LINKS: &str =
    "UPDATE password_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL";

/// `$1` time, `$2` link id: marks it used, once, if it has not expired.
const MARK_LINK_USED: &str = "UPDATE password_links SET used_at = $1 \
    WHERE id = $2 AND used_at IS NULL AND expires_at > $1";

const USER_EXISTS: &str = "SELECT id FROM users WHERE id = $1";

/// `$1` user id, `$2` org id: a membership of the person in another live organization.
const MEMBER_ELSEWHERE: &str = "SELECT m.org_id FROM memberships m \
    JOIN organizations o ON o.id = m.org_id \
    WHERE m.user_id = $1 AND m.org_id <> $2 AND o.deleted_at IS NULL";

async fn fetch_link<B: Backend>(
    c: &mut B::Connection,
    condition: &str,
    arg: &KeyHash,
) -> Result<Option<PasswordLink>> {
    let sql = format!("{LINK_SELECT} WHERE {condition}");
    let row: Option<PasswordLinkRow> = B::fetch_optional(c, &sql, args![arg]).await?;
    row.map(PasswordLink::try_from).transpose()
}

/// The organization is there and the person is still a member of it.
pub(crate) async fn check_member<B: Backend>(
    c: &mut B::Connection,
    org_id: &str,
    user_id: &str,
) -> Result<()> {
    if !exists::<B>(c, ORG_ALIVE, args![org_id]).await? {
        return Err(StoreError::Gone("organization"));
    }
    if !exists::<B>(c, USER_EXISTS, args![user_id]).await? {
        return Err(StoreError::Gone("user"));
    }
    if !exists::<B>(c, MEMBER_EXISTS, args![org_id, user_id]).await? {
        return Err(StoreError::Gone("membership"));
    }
    Ok(())
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn create_password_link(
        &self,
        l: NewPasswordLink,
        audit: NewAuditEvent,
    ) -> Result<PasswordLink> {
        let mut tx = self.begin_change(&audit).await?;
        check_member::<B>(&mut tx, &l.org_id, &l.user_id).await?;
        let args = args![l.created_at, &l.user_id, l.purpose.as_str()];
        B::execute(&mut tx, SUPERSEDE_LINKS, args).await?;
        let args = args![
            &l.id,
            &l.user_id,
            &l.org_id,
            l.purpose.as_str(),
            &l.token_hash,
            l.created_at,
            l.expires_at,
            &l.created_by,
        ];
        B::execute(&mut tx, INSERT_LINK, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let link = fetch_link::<B>(&mut tx, "token_hash = $1", &l.token_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(link)
    }

    pub(crate) async fn redeem_password_link(
        &self,
        token_hash: &KeyHash,
        password_hash: &str,
        at: DateTime<Utc>,
        source_ip: Option<&str>,
    ) -> Result<Redeemed> {
        let mut tx = B::begin_write(&self.writer).await?;
        let link = fetch_link::<B>(&mut tx, "token_hash = $1", token_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        let email: Option<(String,)> = B::fetch_optional(
            &mut tx,
            "SELECT email FROM users WHERE id = $1",
            args![&link.user_id],
        )
        .await?;
        let event = NewAuditEvent {
            org_id: link.org_id.clone(),
            at,
            actor: Actor {
                actor_type: "user".into(),
                id: Some(link.user_id.clone()),
                name: email.map(|(e,)| e).ok_or(StoreError::Gone("user"))?,
                key_id: None,
                authority: None,
            },
            action: link.purpose.audit_action().into(),
            target_type: "user".into(),
            target_id: link.user_id.clone(),
            source_ip: source_ip.map(str::to_owned),
            details: serde_json::json!({ "link_id": link.id }),
        };
        // Serializes with removing the member and deleting the organization.
        B::serialize_change(&mut tx, &event).await?;
        if link.used_at.is_some() {
            return Err(StoreError::Conflict(Conflict::LinkUsed));
        }
        if link.expires_at <= at {
            return Err(StoreError::Conflict(Conflict::LinkExpired));
        }
        check_member::<B>(&mut tx, &link.org_id, &link.user_id).await?;
        // A reset someone else asked for (an organization's admin) opens the person's
        // account, so every organization of theirs: only while that organization is
        // their only one, checked here, as the person may have joined another since.
        if link.purpose == PasswordPurpose::Reset
            && link.created_by != link.user_id
            && exists::<B>(
                &mut tx,
                MEMBER_ELSEWHERE,
                args![&link.user_id, &link.org_id],
            )
            .await?
        {
            return Err(StoreError::Forbidden(
                "this link was issued by an admin, and its person now belongs to another organization too: a password set by it would open that one as well; they can change their password signed in",
            ));
        }
        // An admin's reset link works only while they may still act on the person: still
        // a member, outranking the person's role now (a promotion, demotion or removal
        // since the link was made ends it), as invitations follow their inviter.
        if link.purpose == PasswordPurpose::Reset
            && link.created_by.starts_with("usr_")
            && link.created_by != link.user_id
        {
            let issuer: Option<(String,)> = B::fetch_optional(
                &mut tx,
                "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
                args![&link.org_id, &link.created_by],
            )
            .await?;
            let target: Option<(String,)> = B::fetch_optional(
                &mut tx,
                "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
                args![&link.org_id, &link.user_id],
            )
            .await?;
            let role = |r: Option<(String,)>| r.and_then(|(r,)| keyward_core::Role::parse(&r));
            let may = match (role(issuer), role(target)) {
                (Some(issuer), Some(target)) => keyward_core::Role::outranks(Some(issuer), target),
                _ => false,
            };
            if !may {
                return Err(StoreError::Forbidden(
                    "this link's issuer may no longer act on its person (a role changed, or they left the organization); ask for a new link",
                ));
            }
        }
        // Two redemptions racing: the second finds the link used here and writes nothing.
        if B::execute(&mut tx, MARK_LINK_USED, args![at, &link.id]).await? != 1 {
            return Err(StoreError::Conflict(Conflict::LinkUsed));
        }
        let sql = "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3";
        B::execute(&mut tx, sql, args![password_hash, at, &link.user_id]).await?;
        B::execute(&mut tx, END_USER_LINKS, args![at, &link.user_id]).await?;
        B::execute(&mut tx, REVOKE_USER_SESSIONS, args![at, &link.user_id]).await?;
        insert_audit::<B>(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Redeemed {
            user_id: link.user_id,
            org_id: link.org_id,
            purpose: link.purpose,
        })
    }

    pub(crate) async fn find_password_link(
        &self,
        token_hash: &KeyHash,
    ) -> Result<Option<PasswordLink>> {
        let mut c = self.reader.acquire().await?;
        fetch_link::<B>(&mut c, "token_hash = $1", token_hash).await
    }

    pub(crate) async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let sql = "SELECT id, email, password_hash FROM users WHERE email = $1";
        let row: Option<CredentialsRow> = self.read_one(sql, args![email]).await?;
        Ok(row.map(Credentials::from))
    }
}
