//! The store as the server uses it: the one place that keeps this node's caches true.
//!
//! [`CoherentStore`] wraps the backend and is the only store handlers can reach
//! (`AppState::store`). Every method that changes something, once the change has
//! committed and before the call returns, drops from this node's caches what the change
//! touched ([`Touched`]): the key cache (records and their precomputed answers), the
//! index of workspaces, agents and hook ids, and the cached owner limits. A handler
//! cannot forget to invalidate, and a new store method cannot be added without saying
//! what it touches, because the wrapper implements the whole [`Store`] trait.
//!
//! Other nodes learn the same changes from the store's change feed (PostgreSQL NOTIFY,
//! `crate::cluster`), which the backend sends from inside the writing transaction.
//!
//! A change can fail after it was made (a backend that reads its result back after
//! committing; a commit whose answer was lost), so the edits of keys, organizations,
//! members, channels and service accounts drop what they touch whatever the outcome:
//! dropping is always safe.
//!
//! The wrapper drops rather than updates cached key records: the next lookup reads the
//! record again under the cache's generation rule (`verify::cache`), so a record read
//! before the change can never be served after it.

mod caches;

use async_trait::async_trait;
pub use caches::{Caches, Touched};
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner, Quota, RateLimit, Role};
use keyward_store::*;
use std::sync::Arc;

/// The backend, plus this node's caches kept true after each change (module docs).
pub struct CoherentStore {
    inner: Arc<dyn Store>,
    caches: Caches,
}

impl CoherentStore {
    pub fn new(inner: Arc<dyn Store>, caches: Caches) -> Self {
        Self { inner, caches }
    }

    /// The backend itself, for what runs beside the handlers (flushers, the change
    /// feed) and changes nothing cached.
    pub fn backend(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// After an error: the change may have committed all the same (a commit whose
    /// answer was lost), and dropping is always safe.
    fn forget_key_id(&self, id: &str) {
        self.caches.keys.invalidate_where(|k| k.id == id);
    }

    fn key(&self, record: &KeyRecord) {
        self.caches
            .apply(Touched::Keys(std::slice::from_ref(&record.hash)));
    }
}

#[async_trait]
impl Store for CoherentStore {
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord> {
        let record = self.inner.bootstrap(b).await?;
        // A new organization has nothing cached but, perhaps, its key's hash as unknown.
        self.key(&record);
        Ok(record)
    }

    async fn organization_count(&self) -> Result<u64> {
        self.inner.organization_count().await
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        self.inner.find_key_by_hash(hash).await
    }

    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord> {
        self.inner.get_key(org_id, id).await
    }

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>> {
        self.inner.list_keys(org_id, filter, page).await
    }

    async fn key_counts(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<KeyCounts> {
        self.inner.key_counts(org_id, user_id, at).await
    }

    async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord> {
        let record = self.inner.create_key(key, audit).await?;
        self.key(&record);
        Ok(record)
    }

    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()> {
        self.inner.create_keys_bulk(keys).await?;
        let hashes: Vec<KeyHash> = keys.iter().map(|k| k.hash).collect();
        self.caches.apply(Touched::Keys(&hashes));
        Ok(())
    }

    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let record = self
            .inner
            .update_key(org_id, id, patch, audit)
            .await
            .inspect_err(|_| self.forget_key_id(id))?;
        self.key(&record);
        Ok(record)
    }

    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked> {
        let revoked = self
            .inner
            .revoke_key(org_id, id, at, by, audit)
            .await
            .inspect_err(|_| self.forget_key_id(id))?;
        self.key(&revoked.key);
        Ok(revoked)
    }

    async fn rotate_key(&self, rotation: Rotation) -> Result<Rotated> {
        let old_id = rotation.old_id.clone();
        let rotated = self.inner.rotate_key(rotation).await.inspect_err(|_| {
            // The old key, and the predecessor a rotation of it may have ended.
            self.caches.keys.invalidate_where(|k| {
                k.id == old_id || k.rotated_to.as_deref() == Some(old_id.as_str())
            })
        })?;
        self.key(&rotated.old);
        self.key(&rotated.new);
        self.caches.apply(Touched::Keys(&rotated.changed));
        Ok(rotated)
    }

    async fn record_last_used(&self, uses: &[LastUse]) -> Result<()> {
        // Not cached: answers never show the last-used time from the cache.
        self.inner.record_last_used(uses).await
    }

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        self.inner.list_audit(org_id, filter, page).await
    }

    async fn get_org(&self, id: &str) -> Result<Organization> {
        self.inner.get_org(id).await
    }

    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>> {
        self.inner.list_user_orgs(user_id).await
    }

    async fn create_org(&self, new: NewOrganization, audit: NewAuditEvent) -> Result<KeyRecord> {
        let record = self.inner.create_org(new, audit).await?;
        // A new organization has nothing cached but, perhaps, its key's hash as unknown.
        self.key(&record);
        Ok(record)
    }

    async fn list_orgs(&self) -> Result<Vec<Organization>> {
        self.inner.list_orgs().await
    }

    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization> {
        // Applied even on an error: the backend reads the organization back after the
        // commit, so an error may come after the change was made.
        let updated = self.inner.update_org(org, audit).await;
        self.caches.apply(Touched::Organization(&org.id));
        updated
    }

    async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let revoked = self.inner.delete_org(id, at, by, audit).await?;
        // Every revoked key is the organization's: one scan drops them all.
        self.caches.apply(Touched::Organization(id));
        Ok(revoked)
    }

    async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.inner.create_resource(kind, org_id, r, audit).await?;
        self.caches.apply(Touched::Resource {
            kind,
            org_id,
            id: &r.id,
            exists: true,
        });
        Ok(())
    }

    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>> {
        self.inner.list_resources(kind, org_id).await
    }

    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource> {
        self.inner.get_resource(kind, org_id, id).await
    }

    async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource> {
        // Names are not cached: the index knows ids and organizations only.
        self.inner
            .rename_resource(kind, org_id, id, name, audit)
            .await
    }

    async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.inner.delete_resource(kind, org_id, id, audit).await?;
        self.caches.apply(Touched::Resource {
            kind,
            org_id,
            id,
            exists: false,
        });
        Ok(())
    }

    async fn create_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<()> {
        self.inner.create_channel(channel, audit).await?;
        // A new channel has no tokens yet: only the index learns its hook id.
        self.caches.index.put_channel(channel);
        Ok(())
    }

    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>> {
        self.inner.list_channels(org_id, agent_id).await
    }

    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel> {
        self.inner.get_channel(org_id, id).await
    }

    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>> {
        self.inner.find_channel_by_hook(hook_id).await
    }

    async fn update_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<Channel> {
        match self.inner.update_channel(channel, audit).await {
            Ok(updated) => {
                self.caches.apply(Touched::Channel(&updated));
                Ok(updated)
            }
            // The backend reads the channel back after the commit, so the change may
            // have been made: forget its tokens and read the index again.
            Err(e) => {
                self.caches
                    .keys
                    .invalidate_where(|k| k.channel_id.as_deref() == Some(&channel.id));
                if let Err(reload) = self.caches.index.reload(self.inner.as_ref()).await {
                    tracing::warn!(error = %reload, "resource index not reloaded after a failed channel update");
                }
                Err(e)
            }
        }
    }

    async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let revoked = self.inner.delete_channel(org_id, id, at, by, audit).await?;
        // The revoked tokens are the channel's: its scan drops them.
        self.caches.apply(Touched::ChannelDeleted(id));
        Ok(revoked)
    }

    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        self.inner.get_member(org_id, user_id).await
    }

    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        self.inner.list_members(org_id).await
    }

    async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        // Invitations are not cached.
        self.inner.create_invitation(invitation, audit).await
    }

    async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>> {
        self.inner.list_invitations(org_id).await
    }

    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        self.inner.get_invitation(org_id, id).await
    }

    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>> {
        self.inner.find_invitation(code_hash).await
    }

    async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        self.inner.revoke_invitation(org_id, id, at, audit).await
    }

    async fn accept_invitation(&self, acceptance: Acceptance) -> Result<Accepted> {
        let accepted = self.inner.accept_invitation(acceptance).await?;
        // A new membership changes no cached record; only the first token is new.
        if let Some(key) = &accepted.key {
            self.key(key);
        }
        Ok(accepted)
    }

    async fn update_member(
        &self,
        org_id: &str,
        member: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member> {
        // Applied whatever the outcome (dropping is always safe; an error may follow
        // a commit).
        let updated = self
            .inner
            .update_member(org_id, member, expected, audit)
            .await;
        self.caches.apply(Touched::Owner {
            org_id,
            owner_type: "user",
            owner_id: &member.user_id,
        });
        updated
    }

    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        expected: Role,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let revoked = self
            .inner
            .remove_member(org_id, user_id, expected, at, by, audit)
            .await?;
        // The revoked keys are the owner's: its scan drops them.
        self.caches.apply(Touched::Owner {
            org_id,
            owner_type: "user",
            owner_id: user_id,
        });
        Ok(revoked)
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<String>> {
        self.inner.find_user_by_email(email).await
    }

    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>> {
        self.inner.list_owners(org_id).await
    }

    // Passwords, password links and sessions: nothing of them is cached, so nothing to drop.
    async fn create_password_link(
        &self,
        link: NewPasswordLink,
        audit: NewAuditEvent,
    ) -> Result<PasswordLink> {
        self.inner.create_password_link(link, audit).await
    }

    async fn redeem_password_link(
        &self,
        token_hash: &KeyHash,
        password_hash: &str,
        at: DateTime<Utc>,
        source_ip: Option<&str>,
    ) -> Result<Redeemed> {
        self.inner
            .redeem_password_link(token_hash, password_hash, at, source_ip)
            .await
    }

    async fn find_password_link(&self, token_hash: &KeyHash) -> Result<Option<PasswordLink>> {
        self.inner.find_password_link(token_hash).await
    }
    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>> {
        self.inner.find_credentials(email).await
    }

    async fn create_session(&self, s: NewSession) -> Result<Session> {
        self.inner.create_session(s).await
    }

    async fn find_session(&self, token_hash: &KeyHash) -> Result<Option<Session>> {
        self.inner.find_session(token_hash).await
    }

    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.inner.touch_session(id, now).await
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.inner.list_sessions(user_id).await
    }

    async fn revoke_session(&self, user_id: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.inner.revoke_session(user_id, id, now).await
    }

    async fn revoke_sessions(
        &self,
        user: &str,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.inner.revoke_sessions(user, except, now).await
    }

    async fn switch_session_org(&self, id: &str, org_id: &str) -> Result<Session> {
        self.inner.switch_session_org(id, org_id).await
    }

    // The integrations vault caches nothing.
    async fn create_oauth_state(
        &self,
        state: NewOAuthState,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.inner.create_oauth_state(state, audit).await
    }
    async fn take_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<OAuthState> {
        self.inner.take_oauth_state(state_hash, org_id, at).await
    }
    async fn record_event(&self, audit: NewAuditEvent) -> Result<()> {
        self.inner.record_event(audit).await
    }
    async fn grant_connection(
        &self,
        grant: ConnectionGrant,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.inner.grant_connection(grant, audit).await
    }
    async fn note_connection_error(
        &self,
        org_id: &str,
        id: &str,
        error: ConnectionError,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.inner
            .note_connection_error(org_id, id, error, audit)
            .await
    }
    async fn get_connection(&self, org_id: &str, id: &str) -> Result<Connection> {
        self.inner.get_connection(org_id, id).await
    }
    async fn list_connections(
        &self,
        org_id: &str,
        filter: ConnectionFilter,
    ) -> Result<Vec<Connection>> {
        self.inner.list_connections(org_id, filter).await
    }
    async fn lease_connection(
        &self,
        uid: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Connection>> {
        self.inner.lease_connection(uid, owner, now, until).await
    }
    async fn release_lease(&self, uid: &str, owner: &str) -> Result<()> {
        self.inner.release_lease(uid, owner).await
    }
    async fn finish_refresh(
        &self,
        uid: &str,
        owner: &str,
        outcome: RefreshOutcome,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.inner.finish_refresh(uid, owner, outcome, audit).await
    }
    async fn revoke_connection(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.inner.revoke_connection(org_id, id, audit).await
    }
    async fn delete_connection(&self, org_id: &str, id: &str, audit: NewAuditEvent) -> Result<()> {
        self.inner.delete_connection(org_id, id, audit).await
    }
    async fn connections_due(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        self.inner
            .connections_due(providers, before, now, limit)
            .await
    }
    async fn purge_oauth_states(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_oauth_states(before).await
    }
    async fn find_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
    ) -> Result<OAuthState> {
        self.inner.find_oauth_state(state_hash, org_id).await
    }
    async fn kek_checks(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.kek_checks().await
    }
    async fn register_kek(&self, kek_id: &str, sealed: &[u8], at: DateTime<Utc>) -> Result<bool> {
        self.inner.register_kek(kek_id, sealed, at).await
    }
    async fn forget_kek(&self, kek_id: &str) -> Result<bool> {
        self.inner.forget_kek(kek_id).await
    }
    async fn kek_usage(&self) -> Result<Vec<(String, i64)>> {
        self.inner.kek_usage().await
    }
    async fn sealed_records(&self, not_kek: &str, limit: u32) -> Result<Vec<SealedRecord>> {
        self.inner.sealed_records(not_kek, limit).await
    }
    async fn rewrap_record(&self, record: &SealedRecord, new: &WrappedDek) -> Result<bool> {
        self.inner.rewrap_record(record, new).await
    }

    // CLI logins: an approval caches nothing; a redemption makes a token, whose hash the
    // key cache may remember as unknown.
    async fn create_cli_login(&self, login: NewCliLogin, audit: NewAuditEvent) -> Result<CliLogin> {
        self.inner.create_cli_login(login, audit).await
    }

    async fn redeem_cli_login(&self, redemption: CliRedemption) -> Result<CliRedeemed> {
        let redeemed = self.inner.redeem_cli_login(redemption).await?;
        self.key(&redeemed.key);
        Ok(redeemed)
    }

    async fn all_resources(&self) -> Result<Vec<ResourceRef>> {
        self.inner.all_resources().await
    }

    async fn all_channels(&self) -> Result<Vec<Channel>> {
        self.inner.all_channels().await
    }

    async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        let record = self
            .inner
            .create_service_account(org_id, sa, key, audit)
            .await?;
        self.key(&record);
        Ok(record)
    }

    async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>> {
        self.inner.list_service_accounts(org_id).await
    }

    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount> {
        self.inner.get_service_account(org_id, id).await
    }

    async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount> {
        let updated = self.inner.update_service_account(org_id, sa, audit).await;
        // Its name is in its keys' records (`owner.name`) and answers. Applied even on an
        // error: the backend reads the account back after the commit.
        self.caches.apply(Touched::Owner {
            org_id,
            owner_type: "service_account",
            owner_id: &sa.id,
        });
        updated
    }

    async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        let revoked = self
            .inner
            .delete_service_account(org_id, id, at, by, audit)
            .await?;
        // The revoked keys are the owner's: its scan drops them.
        self.caches.apply(Touched::Owner {
            org_id,
            owner_type: "service_account",
            owner_id: id,
        });
        Ok(revoked)
    }

    async fn record_usage(&self, rows: &[UsageRow]) -> Result<()> {
        self.inner.record_usage(rows).await
    }

    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>> {
        self.inner.usage_minutes(key_id, from, to).await
    }

    async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease> {
        self.inner.lease_quota(key_id, quota, period, want).await
    }

    async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()> {
        self.inner.return_quota(key_id, period, amount).await
    }

    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64> {
        self.inner.quota_remaining(key_id, quota, period).await
    }

    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>> {
        self.inner.get_owner_limit(org_id, owner).await
    }

    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>> {
        self.inner.list_owner_limits(org_id).await
    }

    async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.inner
            .set_owner_limit(org_id, owner, limit, audit)
            .await?;
        self.caches.apply(Touched::OwnerLimits(org_id));
        Ok(())
    }

    async fn subscribe(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        self.inner.subscribe().await
    }

    async fn publish(&self, event: FeedEvent) -> Result<()> {
        self.inner.publish(event).await
    }

    async fn close(&self) {
        self.inner.close().await
    }
    fn webhooks(&self) -> &dyn keyward_store::WebhookStore {
        self.inner.webhooks()
    }

    fn workers(&self) -> &dyn keyward_store::WorkerStore {
        self.inner.workers()
    }
}
