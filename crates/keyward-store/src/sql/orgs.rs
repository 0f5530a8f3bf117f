//! Organizations: the first one (bootstrap), new ones created by a person, their
//! settings, and deletion (which revokes every key of the organization).

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use super::keys::{fetch_key, insert_key, revoke_where};
use super::members::{INSERT_MEMBERSHIP, INSERT_USER};
use super::sessions::REVOKE_ORG_SESSIONS;
use crate::encode::json_opt;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{MembershipRow, OrgRow};
use crate::store::FeedEvent;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Role};

const ORG_SELECT: &str =
    "SELECT id, name, created_at, max_keys, max_worker_keys, allow_legacy_tokens, \
    default_ratelimit, default_quota FROM organizations";

/// Organizations (not deleted) that `$1` (a user id) created.
const ORGS_CREATED_BY: &str =
    "SELECT COUNT(*) FROM organizations WHERE created_by_user = $1 AND deleted_at IS NULL";

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord> {
        let mut tx = B::begin_write(&self.writer).await?;
        // Racing bootstraps queue here, so the loser sees the winner's organization
        // (and reports AlreadyBootstrapped, not a duplicate organization name).
        B::serialize_bootstrap(&mut tx).await?;
        let (orgs,): (i64,) = B::fetch_optional(&mut tx, "SELECT COUNT(*) FROM organizations", &[])
            .await?
            .unwrap_or_default();
        if orgs > 0 {
            return Err(StoreError::Conflict(Conflict::AlreadyBootstrapped));
        }
        let sql = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
        B::execute(&mut tx, sql, args![&b.org_id, &b.org_name, b.at]).await?;
        let sql = "INSERT INTO bootstrap (singleton, org_id, at) VALUES (1, $1, $2)";
        B::execute(&mut tx, sql, args![&b.org_id, b.at])
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict(Conflict::AlreadyBootstrapped),
                other => other,
            })?;
        B::execute(&mut tx, INSERT_USER, args![&b.user_id, &b.email, b.at]).await?;
        let args = args![&b.org_id, &b.user_id, Role::Owner.as_str(), b.at];
        B::execute(&mut tx, INSERT_MEMBERSHIP, args).await?;
        insert_key::<B>(&mut tx, &b.key).await?;
        let actor = Actor {
            actor_type: "system".into(),
            id: None,
            name: "bootstrap".into(),
            key_id: None,
            authority: None,
        };
        for (action, target_type, target_id) in [
            ("org.bootstrap", "organization", &b.org_id),
            ("key.create", "key", &b.key.id),
        ] {
            let event = NewAuditEvent {
                org_id: b.org_id.clone(),
                at: b.at,
                actor: actor.clone(),
                action: action.into(),
                target_type: target_type.into(),
                target_id: target_id.clone(),
                source_ip: b.source_ip.clone(),
                details: serde_json::json!({ "org": b.org_name, "owner": b.email }),
            };
            insert_audit::<B>(&mut tx, &event).await?;
        }
        let record = fetch_key::<B>(&mut tx, &b.org_id, &b.key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(crate) async fn organization_count(&self) -> Result<u64> {
        let (n,): (i64,) = self
            .read_one("SELECT COUNT(*) FROM organizations", &[])
            .await?
            .unwrap_or_default();
        Ok(n as u64)
    }

    pub(crate) async fn get_org(&self, id: &str) -> Result<Organization> {
        let sql = format!("{ORG_SELECT} WHERE id = $1 AND deleted_at IS NULL");
        let row: Option<OrgRow> = self.read_one(&sql, args![id]).await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub(crate) async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>> {
        let sql = "SELECT o.id, o.name, o.created_at, o.max_keys, o.max_worker_keys, \
             o.allow_legacy_tokens, o.default_ratelimit, o.default_quota, m.role \
             FROM memberships m JOIN organizations o ON o.id = m.org_id \
             WHERE m.user_id = $1 AND o.deleted_at IS NULL ORDER BY o.name";
        let rows: Vec<MembershipRow> = self.read(sql, args![user_id]).await?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    pub(crate) async fn create_org(
        &self,
        new: NewOrganization,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let NewOrganization {
            org,
            owner_user_id,
            key,
            max_per_person,
        } = new;
        let mut tx = self.begin_change(&audit).await?;
        // One person's creates queue here, so parallel ones cannot overshoot the cap.
        let sql = format!("SELECT id FROM users WHERE id = $1{}", B::FOR_UPDATE);
        B::fetch_optional::<(String,)>(&mut tx, &sql, args![&owner_user_id]).await?;
        let (created,): (i64,) = B::fetch_optional(&mut tx, ORGS_CREATED_BY, args![&owner_user_id])
            .await?
            .unwrap_or_default();
        if created >= i64::from(max_per_person) {
            return Err(StoreError::LimitReached {
                limit: "organizations per person",
                max: max_per_person,
                current: created as u32,
            });
        }
        let sql = "INSERT INTO organizations (id, name, created_at, max_keys, max_worker_keys, \
             allow_legacy_tokens, default_ratelimit, default_quota, created_by_user) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let s = &org.settings;
        let args = args![
            &org.id,
            &org.name,
            org.created_at,
            i64::from(s.max_keys),
            i64::from(s.max_worker_keys),
            s.allow_legacy_tokens,
            json_opt(&s.default_ratelimit),
            json_opt(&s.default_quota),
            &owner_user_id,
        ];
        B::execute(&mut tx, sql, args).await?;
        let args = args![
            &org.id,
            &owner_user_id,
            Role::Owner.as_str(),
            org.created_at
        ];
        B::execute(&mut tx, INSERT_MEMBERSHIP, args).await?;
        insert_key::<B>(&mut tx, &key).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let record = fetch_key::<B>(&mut tx, &org.id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(crate) async fn list_orgs(&self) -> Result<Vec<Organization>> {
        let sql = format!("{ORG_SELECT} WHERE deleted_at IS NULL ORDER BY created_at, id");
        let rows: Vec<OrgRow> = self.read(&sql, &[]).await?;
        rows.into_iter().map(Organization::try_from).collect()
    }

    pub(crate) async fn update_org(
        &self,
        org: &Organization,
        audit: NewAuditEvent,
    ) -> Result<Organization> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "UPDATE organizations SET name = $1, max_keys = $2, max_worker_keys = $3, \
             allow_legacy_tokens = $4, default_ratelimit = $5, default_quota = $6 \
             WHERE id = $7 AND deleted_at IS NULL";
        let s = &org.settings;
        let args = args![
            &org.name,
            i64::from(s.max_keys),
            i64::from(s.max_worker_keys),
            s.allow_legacy_tokens,
            json_opt(&s.default_ratelimit),
            json_opt(&s.default_quota),
            &org.id,
        ];
        if B::execute(&mut tx, sql, args).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        // The organization's name is part of every cached key record.
        B::announce(&mut tx, FeedEvent::Organization(org.id.clone())).await?;
        tx.commit().await?;
        self.get_org(&org.id).await
    }

    pub(crate) async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let sql =
            "UPDATE organizations SET deleted_at = $1, name = name || ' (deleted ' || id || ')' \
             WHERE id = $2 AND deleted_at IS NULL";
        if B::execute(&mut tx, sql, args![at, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where::<B>(&mut tx, id, "org_id = $2", id, at, by).await?;
        B::execute(&mut tx, REVOKE_ORG_SESSIONS, args![at, id]).await?;
        // Its integrations' tokens go with it (erased here; not revoked at the providers).
        B::execute(
            &mut tx,
            "DELETE FROM oauth_states WHERE org_id = $1",
            args![id],
        )
        .await?;
        B::execute(
            &mut tx,
            "DELETE FROM connections WHERE org_id = $1",
            args![id],
        )
        .await?;
        // And its webhook endpoints' secrets, with every event they kept.
        for sql in [
            "DELETE FROM webhook_attempts WHERE event_id IN \
             (SELECT id FROM webhook_events WHERE org_id = $1)",
            "DELETE FROM webhook_events WHERE org_id = $1",
            "DELETE FROM webhook_endpoints WHERE org_id = $1",
        ] {
            B::execute(&mut tx, sql, args![id]).await?;
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }
}
