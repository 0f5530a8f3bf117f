//! CLI logins (`keyward auth login --web`): approved in the console, stored by the hash
//! of their one-time code, and redeemed once, with the PKCE verifier's challenge, for a
//! personal access token made in the same transaction.
//!
//! Approving checks the person's membership inside its change. Redeeming takes the
//! serialization of the login's organization (so it cannot slip past the person's
//! removal or the organization's deletion), compares the challenges, checks the code is
//! unused and unexpired and the membership still there, marks the code used by a
//! conditional update (of two racing redemptions, one writes), and inserts the token
//! within the organization's key limits. It builds its audit event from the login, as
//! password links do: the caller does not know whose login a code is.
//!
//! A wrong verifier changes nothing but the login's count of wrong verifiers, committed
//! on its own; [`CLI_LOGIN_MAX_FAILED_ATTEMPTS`] of them end the login.

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use super::keys::{check_limits, fetch_key, insert_key};
use super::passwords::check_member;
use crate::encode::json;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::CliLoginRow;
use keyward_core::{KeyHash, KeyKind, Owner};

const LOGIN_SELECT: &str = "SELECT id, org_id, user_id, code_challenge, machine, permissions, \
    token_lifetime_ms, created_at, expires_at, failed_attempts, used_at, key_id FROM cli_logins";

const INSERT_LOGIN: &str = "INSERT INTO cli_logins (id, org_id, user_id, code_hash, \
    code_challenge, machine, permissions, token_lifetime_ms, created_at, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// `$1` login id.
const COUNT_FAILED_ATTEMPT: &str =
    "UPDATE cli_logins SET failed_attempts = failed_attempts + 1 WHERE id = $1";

/// `$1` time, `$2` key id, `$3` login id, `$4` most wrong verifiers: marks it used, once,
/// if it is still redeemable.
const MARK_LOGIN_USED: &str = "UPDATE cli_logins SET used_at = $1, key_id = $2 \
    WHERE id = $3 AND used_at IS NULL AND expires_at > $1 AND failed_attempts < $4";

async fn fetch_login<B: Backend>(
    c: &mut B::Connection,
    condition: &str,
    arg: &KeyHash,
) -> Result<Option<CliLogin>> {
    let sql = format!("{LOGIN_SELECT} WHERE {condition}");
    let row: Option<CliLoginRow> = B::fetch_optional(c, &sql, args![arg]).await?;
    row.map(CliLogin::try_from).transpose()
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn create_cli_login(
        &self,
        l: NewCliLogin,
        audit: NewAuditEvent,
    ) -> Result<CliLogin> {
        let mut tx = self.begin_change(&audit).await?;
        check_member::<B>(&mut tx, &l.org_id, &l.user_id).await?;
        let args = args![
            &l.id,
            &l.org_id,
            &l.user_id,
            &l.code_hash,
            l.code_challenge.as_str(),
            &l.machine,
            json(&l.permissions),
            l.token_lifetime.map(|d| d.num_milliseconds()),
            l.created_at,
            l.expires_at,
        ];
        B::execute(&mut tx, INSERT_LOGIN, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let login = fetch_login::<B>(&mut tx, "code_hash = $1", &l.code_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(login)
    }

    pub(crate) async fn redeem_cli_login(&self, r: CliRedemption) -> Result<CliRedeemed> {
        if r.token.kind != KeyKind::Personal {
            return Err(StoreError::InvalidInput("token kind"));
        }
        let mut tx = B::begin_write(&self.writer).await?;
        let login = fetch_login::<B>(&mut tx, "code_hash = $1", &r.code_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        let email: Option<(String,)> = B::fetch_optional(
            &mut tx,
            "SELECT email FROM users WHERE id = $1",
            args![&login.user_id],
        )
        .await?;
        let email = email.map(|(e,)| e).ok_or(StoreError::Gone("user"))?;
        let expires_at = login.token_lifetime.map(|d| r.at + d);
        let key = NewKey {
            owner: Some(Owner::User {
                id: login.user_id.clone(),
                name: email.clone(),
            }),
            permissions: login.permissions.clone(),
            expires_at,
            ..NewKey::for_fresh(r.token, &login.org_id, login.token_name(), r.at, &email)
        };
        let event = NewAuditEvent {
            org_id: login.org_id.clone(),
            at: r.at,
            actor: Actor {
                actor_type: "user".into(),
                id: Some(login.user_id.clone()),
                name: email,
                key_id: None,
                authority: None,
            },
            action: "key.create".into(),
            target_type: "key".into(),
            target_id: key.id.clone(),
            source_ip: r.source_ip,
            details: serde_json::json!({
                "name": key.name, "kind": key.kind, "prefix": key.prefix,
                "permissions": key.permissions, "scope": key.scope, "expires_at": expires_at,
                "enabled": key.enabled, "via": "cli_login", "cli_login": login.id,
                "machine": login.machine,
            }),
        };
        // Serializes with removing the member and deleting the organization.
        B::serialize_change(&mut tx, &event).await?;
        if !login.code_challenge.same_as(&r.presented) {
            B::execute(&mut tx, COUNT_FAILED_ATTEMPT, args![&login.id]).await?;
            tx.commit().await?;
            return Err(StoreError::Conflict(Conflict::LoginVerifierMismatch));
        }
        if login.used_at.is_some() {
            return Err(StoreError::Conflict(Conflict::LoginCodeUsed));
        }
        if login.expires_at <= r.at || login.failed_attempts >= CLI_LOGIN_MAX_FAILED_ATTEMPTS {
            return Err(StoreError::Conflict(Conflict::LoginCodeExpired));
        }
        check_member::<B>(&mut tx, &login.org_id, &login.user_id).await?;
        // Two redemptions racing: the second finds the login used here and writes nothing.
        let args = args![r.at, &key.id, &login.id, CLI_LOGIN_MAX_FAILED_ATTEMPTS];
        if B::execute(&mut tx, MARK_LOGIN_USED, args).await? != 1 {
            return Err(StoreError::Conflict(Conflict::LoginCodeUsed));
        }
        check_limits::<B>(&mut tx, &key).await?;
        insert_key::<B>(&mut tx, &key).await?;
        insert_audit::<B>(&mut tx, &event).await?;
        let record = fetch_key::<B>(&mut tx, &key.org_id, &key.id).await?;
        let login = fetch_login::<B>(&mut tx, "code_hash = $1", &r.code_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(CliRedeemed { login, key: record })
    }
}
