//! The store written once for every SQL backend: [`SqlStore`] over a [`Backend`].
//!
//! Each statement is written once, with `$n` placeholders (SQLite accepts them too),
//! `TRUE`/`FALSE`, `RETURNING` and `ON CONFLICT`, which both backends run as written;
//! the few fragments that differ (JSON functions, row locks) come from the backend. The
//! modules below hold one entity each; this one maps the [`Store`] trait onto them.

mod audit;
pub(crate) mod backend;
pub(crate) mod change;
mod cli_logins;
mod connections;
mod filter;
mod invitations;
mod keys;
mod members;
mod orgs;
mod passwords;
mod sessions;
mod tenancy;
mod usage;
mod webhooks;
mod workers;

use backend::{Backend, SqlStore};

use crate::error::Result;
use crate::model::*;
use crate::store::{ChangeFeed, FeedEvent, Store, WebhookStore, WorkerStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner, Quota, RateLimit, Role};

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn migrate(&self) -> Result<()> {
        B::migrate(&self.writer).await
    }
    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord> {
        self.bootstrap(b).await
    }
    async fn organization_count(&self) -> Result<u64> {
        self.organization_count().await
    }
    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>> {
        self.find_key_by_hash(hash).await
    }
    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord> {
        self.get_key(org_id, id).await
    }
    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>> {
        self.list_keys(org_id, filter, page).await
    }
    async fn key_counts(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<KeyCounts> {
        self.key_counts(org_id, user_id, at).await
    }
    async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord> {
        self.create_key(key, audit).await
    }
    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()> {
        self.create_keys_bulk(keys).await
    }
    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        self.update_key(org_id, id, patch, audit).await
    }
    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked> {
        self.revoke_key(org_id, id, at, by, audit).await
    }
    async fn rotate_key(&self, rotation: Rotation) -> Result<Rotated> {
        self.rotate_key(rotation).await
    }
    async fn record_last_used(&self, uses: &[LastUse]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        B::record_last_used(&self.writer, uses).await
    }
    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        self.list_audit(org_id, filter, page).await
    }
    async fn get_org(&self, id: &str) -> Result<Organization> {
        self.get_org(id).await
    }
    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>> {
        self.list_user_orgs(user_id).await
    }
    async fn create_org(&self, new: NewOrganization, audit: NewAuditEvent) -> Result<KeyRecord> {
        self.create_org(new, audit).await
    }
    async fn list_orgs(&self) -> Result<Vec<Organization>> {
        self.list_orgs().await
    }
    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization> {
        self.update_org(org, audit).await
    }
    async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        self.delete_org(id, at, by, audit).await
    }
    async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.create_resource(kind, org_id, r, audit).await
    }
    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>> {
        self.list_resources(kind, org_id).await
    }
    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource> {
        self.get_resource(kind, org_id, id).await
    }
    async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource> {
        self.rename_resource(kind, org_id, id, name, audit).await
    }
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.delete_resource(kind, org_id, id, audit).await
    }
    async fn create_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<()> {
        self.create_channel(channel, audit).await
    }
    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>> {
        self.list_channels(org_id, agent_id).await
    }
    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel> {
        self.get_channel(org_id, id).await
    }
    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>> {
        self.find_channel_by_hook(hook_id).await
    }
    async fn update_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<Channel> {
        self.update_channel(channel, audit).await
    }
    async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        self.delete_channel(org_id, id, at, by, audit).await
    }
    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        self.get_member(org_id, user_id).await
    }
    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        self.list_members(org_id).await
    }
    async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        self.create_invitation(invitation, audit).await
    }
    async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>> {
        self.list_invitations(org_id).await
    }
    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation> {
        self.get_invitation(org_id, id).await
    }
    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>> {
        self.find_invitation(code_hash).await
    }
    async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation> {
        self.revoke_invitation(org_id, id, at, audit).await
    }
    async fn accept_invitation(&self, acceptance: Acceptance) -> Result<Accepted> {
        self.accept_invitation(acceptance).await
    }
    async fn update_member(
        &self,
        org_id: &str,
        member: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member> {
        self.update_member(org_id, member, expected, audit).await
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
        self.remove_member(org_id, user_id, expected, at, by, audit)
            .await
    }
    async fn find_user_by_email(&self, email: &str) -> Result<Option<String>> {
        self.find_user_by_email(email).await
    }
    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>> {
        self.list_owners(org_id).await
    }
    async fn create_password_link(
        &self,
        link: NewPasswordLink,
        audit: NewAuditEvent,
    ) -> Result<PasswordLink> {
        self.create_password_link(link, audit).await
    }
    async fn redeem_password_link(
        &self,
        token_hash: &KeyHash,
        password_hash: &str,
        at: DateTime<Utc>,
        source_ip: Option<&str>,
    ) -> Result<Redeemed> {
        self.redeem_password_link(token_hash, password_hash, at, source_ip)
            .await
    }
    async fn find_password_link(&self, token_hash: &KeyHash) -> Result<Option<PasswordLink>> {
        self.find_password_link(token_hash).await
    }
    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>> {
        self.find_credentials(email).await
    }
    async fn create_session(&self, s: NewSession) -> Result<Session> {
        self.create_session(s).await
    }
    async fn find_session(&self, token_hash: &KeyHash) -> Result<Option<Session>> {
        self.find_session(token_hash).await
    }
    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.touch_session(id, now).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.list_sessions(user_id).await
    }
    async fn revoke_session(&self, user_id: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.revoke_session(user_id, id, now).await
    }
    async fn revoke_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.revoke_sessions(user_id, except, now).await
    }
    async fn switch_session_org(&self, id: &str, org_id: &str) -> Result<Session> {
        self.switch_session_org(id, org_id).await
    }
    async fn create_cli_login(&self, login: NewCliLogin, audit: NewAuditEvent) -> Result<CliLogin> {
        self.create_cli_login(login, audit).await
    }
    async fn redeem_cli_login(&self, redemption: CliRedemption) -> Result<CliRedeemed> {
        self.redeem_cli_login(redemption).await
    }
    async fn create_oauth_state(
        &self,
        state: NewOAuthState,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.create_oauth_state(state, audit).await
    }
    async fn take_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<OAuthState> {
        self.take_oauth_state(state_hash, org_id, at).await
    }
    async fn record_event(&self, audit: NewAuditEvent) -> Result<()> {
        self.record_event(audit).await
    }
    async fn grant_connection(
        &self,
        grant: ConnectionGrant,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.grant_connection(grant, audit).await
    }
    async fn note_connection_error(
        &self,
        org_id: &str,
        id: &str,
        error: ConnectionError,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.note_connection_error(org_id, id, error, audit).await
    }
    async fn get_connection(&self, org_id: &str, id: &str) -> Result<Connection> {
        self.get_connection(org_id, id).await
    }
    async fn list_connections(
        &self,
        org_id: &str,
        filter: ConnectionFilter,
    ) -> Result<Vec<Connection>> {
        self.list_connections(org_id, filter).await
    }
    async fn lease_connection(
        &self,
        uid: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Connection>> {
        self.lease_connection(uid, owner, now, until).await
    }
    async fn release_lease(&self, uid: &str, owner: &str) -> Result<()> {
        self.release_lease(uid, owner).await
    }
    async fn finish_refresh(
        &self,
        uid: &str,
        owner: &str,
        outcome: RefreshOutcome,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.finish_refresh(uid, owner, outcome, audit).await
    }
    async fn revoke_connection(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<Connection> {
        self.revoke_connection(org_id, id, audit).await
    }
    async fn delete_connection(&self, org_id: &str, id: &str, audit: NewAuditEvent) -> Result<()> {
        self.delete_connection(org_id, id, audit).await
    }
    async fn connections_due(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        self.connections_due(providers, before, now, limit).await
    }
    async fn purge_oauth_states(&self, before: DateTime<Utc>) -> Result<u64> {
        self.purge_oauth_states(before).await
    }
    async fn find_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
    ) -> Result<OAuthState> {
        self.find_oauth_state(state_hash, org_id).await
    }
    async fn kek_checks(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.kek_checks().await
    }
    async fn register_kek(&self, kek_id: &str, sealed: &[u8], at: DateTime<Utc>) -> Result<bool> {
        self.register_kek(kek_id, sealed, at).await
    }
    async fn forget_kek(&self, kek_id: &str) -> Result<bool> {
        self.forget_kek(kek_id).await
    }
    async fn kek_usage(&self) -> Result<Vec<(String, i64)>> {
        self.kek_usage().await
    }
    async fn sealed_records(&self, not_kek: &str, limit: u32) -> Result<Vec<SealedRecord>> {
        self.sealed_records(not_kek, limit).await
    }
    async fn rewrap_record(&self, record: &SealedRecord, new: &WrappedDek) -> Result<bool> {
        self.rewrap_record(record, new).await
    }
    async fn all_resources(&self) -> Result<Vec<ResourceRef>> {
        self.all_resources().await
    }
    async fn all_channels(&self) -> Result<Vec<Channel>> {
        self.all_channels().await
    }
    async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord> {
        self.create_service_account(org_id, sa, key, audit).await
    }
    async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>> {
        self.list_service_accounts(org_id).await
    }
    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount> {
        self.get_service_account(org_id, id).await
    }
    async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount> {
        self.update_service_account(org_id, sa, audit).await
    }
    async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>> {
        self.delete_service_account(org_id, id, at, by, audit).await
    }
    async fn record_usage(&self, rows: &[UsageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        B::record_usage(&self.writer, rows).await
    }
    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>> {
        self.usage_minutes(key_id, from, to).await
    }
    async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease> {
        self.lease_quota(key_id, quota, period, want).await
    }
    async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()> {
        self.return_quota(key_id, period, amount).await
    }
    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64> {
        self.quota_remaining(key_id, quota, period).await
    }
    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>> {
        self.get_owner_limit(org_id, owner).await
    }
    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>> {
        self.list_owner_limits(org_id).await
    }
    async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.set_owner_limit(org_id, owner, limit, audit).await
    }
    async fn subscribe(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        B::subscribe(&self.writer).await
    }
    async fn publish(&self, event: FeedEvent) -> Result<()> {
        B::publish(&self.writer, event).await
    }
    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
    fn webhooks(&self) -> &dyn WebhookStore {
        self
    }

    fn workers(&self) -> &dyn WorkerStore {
        self
    }
}
