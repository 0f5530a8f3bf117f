//! What an organization holds besides keys and people: workspaces and agents (one shape,
//! [`ResourceKind`]), channels of agents, and service accounts.

use super::audit::insert_audit;
use super::backend::{args, Backend, SqlStore};
use super::change::exists;
use super::keys::{check_limits, fetch_key, insert_key, revoke_where, AGENT_EXISTS};
use crate::encode::json;
use crate::error::{Conflict, Result, StoreError};
use crate::model::*;
use crate::rows::{ChannelRow, ResourceRefRow, ResourceRow, ServiceAccountRow};
use crate::store::FeedEvent;
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;

const ALL_RESOURCES: &str = "SELECT 'workspace' AS kind, w.id, w.org_id FROM workspaces w \
    JOIN organizations o ON o.id = w.org_id WHERE o.deleted_at IS NULL \
    UNION ALL SELECT 'agent' AS kind, a.id, a.org_id FROM agents a \
    JOIN organizations o ON o.id = a.org_id WHERE o.deleted_at IS NULL";

const CHANNEL_SELECT: &str =
    "SELECT id, org_id, agent_id, name, hook_id, enabled, created_at, deleted_at FROM channels";

const SA_SELECT: &str = "SELECT id, name, scopes, created_at, created_by FROM service_accounts";

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = format!(
            "INSERT INTO {} (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)",
            kind.table()
        );
        B::execute(&mut tx, &sql, args![&r.id, org_id, &r.name, r.created_at]).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        B::announce(&mut tx, FeedEvent::Resources).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_resources(
        &self,
        kind: ResourceKind,
        org_id: &str,
    ) -> Result<Vec<Resource>> {
        let sql = format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = $1 ORDER BY name",
            kind.table()
        );
        let rows: Vec<ResourceRow> = self.read(&sql, args![org_id]).await?;
        Ok(rows.into_iter().map(Resource::from).collect())
    }

    pub(crate) async fn get_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
    ) -> Result<Resource> {
        let sql = format!(
            "SELECT id, name, created_at FROM {} WHERE org_id = $1 AND id = $2",
            kind.table()
        );
        let row: Option<ResourceRow> = self.read_one(&sql, args![org_id, id]).await?;
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    pub(crate) async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = format!(
            "UPDATE {} SET name = $1 WHERE org_id = $2 AND id = $3",
            kind.table()
        );
        if B::execute(&mut tx, &sql, args![name, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        self.get_resource(kind, org_id, id).await
    }

    pub(crate) async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        let in_use = match kind {
            ResourceKind::Workspace => format!(
                "SELECT COUNT(*) FROM api_keys k WHERE k.org_id = $1 AND k.revoked_at IS NULL \
                 AND (k.workspace_id = $2 OR (k.scope_level = 'workspaces' AND $2 IN ({})))",
                B::json_elements("k.scope", Some("workspaces"))
            ),
            ResourceKind::Agent => format!(
                "SELECT (SELECT COUNT(*) FROM channels WHERE org_id = $1 AND agent_id = $2 \
                 AND deleted_at IS NULL) + (SELECT COUNT(*) FROM api_keys k WHERE k.org_id = $1 \
                 AND k.revoked_at IS NULL AND k.scope_level = 'agent' AND {} = $2)",
                B::json_field("k.scope", "agent")
            ),
        };
        let (in_use,): (i64,) = B::fetch_optional(&mut tx, &in_use, args![org_id, id])
            .await?
            .unwrap_or_default();
        if in_use > 0 {
            return Err(StoreError::Conflict(Conflict::InUse));
        }
        if kind == ResourceKind::Agent {
            for table in ["agent_admins", "channels"] {
                let sql = format!("DELETE FROM {table} WHERE org_id = $1 AND agent_id = $2");
                B::execute(&mut tx, &sql, args![org_id, id]).await?;
            }
        }
        let sql = format!("DELETE FROM {} WHERE org_id = $1 AND id = $2", kind.table());
        if B::execute(&mut tx, &sql, args![org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        B::announce(&mut tx, FeedEvent::Resources).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn all_resources(&self) -> Result<Vec<ResourceRef>> {
        let rows: Vec<ResourceRefRow> = self.read(ALL_RESOURCES, &[]).await?;
        rows.into_iter().map(ResourceRef::try_from).collect()
    }

    pub(crate) async fn create_channel(&self, c: &Channel, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin_change(&audit).await?;
        if !exists::<B>(&mut tx, AGENT_EXISTS, args![&c.org_id, &c.agent_id]).await? {
            return Err(StoreError::Gone("agent"));
        }
        let sql =
            "INSERT INTO channels (id, org_id, agent_id, name, hook_id, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let args = args![
            &c.id,
            &c.org_id,
            &c.agent_id,
            &c.name,
            &c.hook_id,
            c.enabled,
            c.created_at
        ];
        B::execute(&mut tx, sql, args).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        B::announce(&mut tx, FeedEvent::Resources).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_channels(
        &self,
        org_id: &str,
        agent_id: Option<&str>,
    ) -> Result<Vec<Channel>> {
        let sql = format!(
            "{CHANNEL_SELECT} WHERE org_id = $1 AND deleted_at IS NULL \
             AND (CAST($2 AS TEXT) IS NULL OR agent_id = $2) ORDER BY created_at, id"
        );
        let rows: Vec<ChannelRow> = self.read(&sql, args![org_id, agent_id]).await?;
        Ok(rows.into_iter().map(Channel::from).collect())
    }

    pub(crate) async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel> {
        let sql = format!("{CHANNEL_SELECT} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
        let row: Option<ChannelRow> = self.read_one(&sql, args![org_id, id]).await?;
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    pub(crate) async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>> {
        let sql = format!("{CHANNEL_SELECT} WHERE hook_id = $1");
        let row: Option<ChannelRow> = self.read_one(&sql, args![hook_id]).await?;
        Ok(row.map(Channel::from))
    }

    pub(crate) async fn all_channels(&self) -> Result<Vec<Channel>> {
        let sql = format!("{CHANNEL_SELECT} WHERE deleted_at IS NULL");
        let rows: Vec<ChannelRow> = self.read(&sql, &[]).await?;
        Ok(rows.into_iter().map(Channel::from).collect())
    }

    pub(crate) async fn update_channel(
        &self,
        c: &Channel,
        audit: NewAuditEvent,
    ) -> Result<Channel> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "UPDATE channels SET name = $1, enabled = $2 \
             WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL";
        if B::execute(&mut tx, sql, args![&c.name, c.enabled, &c.org_id, &c.id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit::<B>(&mut tx, &audit).await?;
        // Its tokens, and the index of hook ids (enabled or not).
        B::announce(&mut tx, FeedEvent::Channel(c.id.clone())).await?;
        B::announce(&mut tx, FeedEvent::Resources).await?;
        tx.commit().await?;
        self.get_channel(&c.org_id, &c.id).await
    }

    pub(crate) async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "UPDATE channels SET deleted_at = $1, enabled = FALSE \
             WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL";
        if B::execute(&mut tx, sql, args![at, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = revoke_where::<B>(&mut tx, org_id, "channel_id = $2", id, at, by).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        B::announce(&mut tx, FeedEvent::Resources).await?;
        tx.commit().await?;
        Ok(hashes)
    }

    pub(crate) async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.begin_change(&audit).await?;
        let sql =
            "INSERT INTO service_accounts (id, org_id, name, scopes, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let args = args![
            &sa.id,
            org_id,
            &sa.name,
            json(&sa.scopes),
            sa.created_at,
            &sa.created_by
        ];
        B::execute(&mut tx, sql, args).await?;
        check_limits::<B>(&mut tx, &key).await?;
        insert_key::<B>(&mut tx, &key).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        let record = fetch_key::<B>(&mut tx, org_id, &key.id).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub(crate) async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>> {
        let sql = format!("{SA_SELECT} WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name, id");
        let rows: Vec<ServiceAccountRow> = self.read(&sql, args![org_id]).await?;
        rows.into_iter().map(ServiceAccount::try_from).collect()
    }

    pub(crate) async fn get_service_account(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<ServiceAccount> {
        let sql = format!("{SA_SELECT} WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL");
        let row: Option<ServiceAccountRow> = self.read_one(&sql, args![org_id, id]).await?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub(crate) async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "UPDATE service_accounts SET name = $1, scopes = $2 \
             WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL";
        let args = args![&sa.name, json(&sa.scopes), org_id, &sa.id];
        if B::execute(&mut tx, sql, args).await? == 0 {
            return Err(StoreError::NotFound);
        }
        // Keys carry their owner's name (verify answers it without a join).
        let sql = "UPDATE api_keys SET owner_name = $1 \
             WHERE org_id = $2 AND owner_type = 'service_account' AND owner_id = $3";
        B::execute(&mut tx, sql, args![&sa.name, org_id, &sa.id]).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        // The account's name is the owner name of its cached keys.
        let touched = FeedEvent::Owner {
            org_id: org_id.to_owned(),
            owner_type: "service_account".to_owned(),
            owner_id: sa.id.clone(),
        };
        B::announce(&mut tx, touched).await?;
        tx.commit().await?;
        self.get_service_account(org_id, &sa.id).await
    }

    pub(crate) async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let mut tx = self.begin_change(&audit).await?;
        let sql = "UPDATE service_accounts SET deleted_at = $1 \
             WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL";
        if B::execute(&mut tx, sql, args![at, org_id, id]).await? == 0 {
            return Err(StoreError::NotFound);
        }
        let condition = "owner_type = 'service_account' AND owner_id = $2";
        let hashes = revoke_where::<B>(&mut tx, org_id, condition, id, at, by).await?;
        insert_audit::<B>(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(hashes)
    }
}
