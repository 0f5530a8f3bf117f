//! The [`Store`] trait the server talks to, and the change feed a backend may offer.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner, Quota, RateLimit, Role};

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<()>;

    /// Creates the first organization, its owner and the owner's token, once.
    /// Fails with [`crate::Conflict::AlreadyBootstrapped`] when an organization exists.
    async fn bootstrap(&self, b: NewBootstrap) -> Result<KeyRecord>;

    async fn organization_count(&self) -> Result<u64>;

    /// The key with this hash, whatever its status, with its organization's name.
    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>>;

    async fn get_key(&self, org_id: &str, id: &str) -> Result<KeyRecord>;

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> Result<Page<KeyRecord>>;

    /// What counts against the organization's key limits at `at` (and, for `user_id`,
    /// their active worker keys per workspace), counted as [`Store::create_key`] counts.
    async fn key_counts(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<KeyCounts>;

    /// Inserts a key after checking the organization's limits in the same
    /// transaction, so parallel creates cannot overshoot them.
    async fn create_key(&self, key: NewKey, audit: NewAuditEvent) -> Result<KeyRecord>;

    /// Inserts many keys in one transaction, without audit events: for imports and
    /// for seeding benchmarks. Fails as a whole on any conflict.
    async fn create_keys_bulk(&self, keys: &[NewKey]) -> Result<()>;

    /// Edits a key that is not revoked.
    async fn update_key(
        &self,
        org_id: &str,
        id: &str,
        patch: &KeyPatch,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord>;

    /// Revokes a key. Returns the record and whether this call revoked it (`false`
    /// when it already was, in which case nothing is written).
    async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Revoked>;

    /// Creates `replacement` for `old_id` and ends the old key at `old_ends_at`
    /// (revoked when `revoke_old`, otherwise its expiry is brought forward). A key in
    /// grace is never rotated into another grace: if the old key was itself a
    /// replacement whose predecessor still works, that predecessor is revoked now, so a
    /// rotation chain has at most one key in grace.
    async fn rotate_key(&self, rotation: Rotation) -> Result<Rotated>;

    /// Write-behind of `last_used_at`; never moves a time backwards.
    async fn record_last_used(&self, uses: &[LastUse]) -> Result<()>;

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;

    // Organizations and their settings.
    async fn get_org(&self, id: &str) -> Result<Organization>;
    /// The organizations a user belongs to, with their role in each.
    async fn list_user_orgs(&self, user_id: &str) -> Result<Vec<Membership>>;
    /// A new organization whose owner is an existing user, with the owner's first token.
    /// Refused with [`crate::StoreError::LimitReached`] past `max_per_person`.
    async fn create_org(&self, new: NewOrganization, audit: NewAuditEvent) -> Result<KeyRecord>;
    /// Every organization that is not deleted, oldest first (for operators).
    async fn list_orgs(&self) -> Result<Vec<Organization>>;
    async fn update_org(&self, org: &Organization, audit: NewAuditEvent) -> Result<Organization>;
    /// Marks an organization deleted (renamed so its name is free again) and revokes
    /// every key and session of it; returns the keys' hashes.
    async fn delete_org(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Workspaces and agents.
    async fn create_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        r: &Resource,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn list_resources(&self, kind: ResourceKind, org_id: &str) -> Result<Vec<Resource>>;
    async fn get_resource(&self, kind: ResourceKind, org_id: &str, id: &str) -> Result<Resource>;
    async fn rename_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        name: &str,
        audit: NewAuditEvent,
    ) -> Result<Resource>;
    /// Refused with [`crate::Conflict::InUse`] while active keys or channels refer to it.
    async fn delete_resource(
        &self,
        kind: ResourceKind,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()>;

    // Channels.
    async fn create_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<()>;
    async fn list_channels(&self, org_id: &str, agent_id: Option<&str>) -> Result<Vec<Channel>>;
    async fn get_channel(&self, org_id: &str, id: &str) -> Result<Channel>;
    /// By hook id, including disabled and deleted channels (callers decide).
    async fn find_channel_by_hook(&self, hook_id: &str) -> Result<Option<Channel>>;
    async fn update_channel(&self, channel: &Channel, audit: NewAuditEvent) -> Result<Channel>;
    /// Deletes a channel and revokes its tokens; returns the revoked keys' hashes.
    async fn delete_channel(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Members.
    async fn get_member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>>;
    async fn list_members(&self, org_id: &str) -> Result<Vec<Member>>;
    /// Stores an invitation, replacing pending ones for the same email in the
    /// organization. Refused with [`crate::Conflict::AlreadyMember`] for a member.
    async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        audit: NewAuditEvent,
    ) -> Result<Invitation>;
    /// The organization's invitations that were not accepted, newest first.
    async fn list_invitations(&self, org_id: &str) -> Result<Vec<Invitation>>;
    async fn get_invitation(&self, org_id: &str, id: &str) -> Result<Invitation>;
    /// By the hash of its code, whatever its status.
    async fn find_invitation(&self, code_hash: &KeyHash) -> Result<Option<Invitation>>;
    async fn revoke_invitation(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Invitation>;
    /// Redeems an invitation once: checks in one transaction that it is pending, that
    /// the key that issued it still works, and that the invitee is who the caller says
    /// (a `New` invitee must not exist yet, an `Existing` one must own the email); adds
    /// the membership and the first token and marks the invitation accepted.
    async fn accept_invitation(&self, acceptance: Acceptance) -> Result<Accepted>;
    /// Changes a member's role and agents, if their role is still `expected` (what the
    /// caller was authorized against); else [`crate::Conflict::ChangedMeanwhile`].
    async fn update_member(
        &self,
        org_id: &str,
        member: &Member,
        expected: Role,
        audit: NewAuditEvent,
    ) -> Result<Member>;
    /// Removes a membership and revokes the person's keys and the sessions acting in the
    /// organization, if their
    /// role is still `expected`; else [`crate::Conflict::ChangedMeanwhile`].
    async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        expected: Role,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<String>>;
    /// The owners of an organization (for operators' break-glass commands).
    async fn list_owners(&self, org_id: &str) -> Result<Vec<Member>>;

    // People's console sign-in: passwords, one-time password links, sessions. Tokens
    // and cookie values never reach the store, only their SHA-256.
    /// Stores a link and marks the person's earlier unused links of the same purpose
    /// used, so only the newest works. The person must be a member of `link.org_id`
    /// (else [`crate::StoreError::Gone`]: `organization`, `user` or `membership`).
    async fn create_password_link(
        &self,
        link: NewPasswordLink,
        audit: NewAuditEvent,
    ) -> Result<PasswordLink>;
    /// In one transaction: checks the link is unused ([`crate::Conflict::LinkUsed`]) and
    /// unexpired at `at` ([`crate::Conflict::LinkExpired`]) and that its person is still
    /// a member of its organization; sets the person's password hash, marks the link
    /// used (once, even when redemptions race), revokes every session of the person, and
    /// writes the audit event (`password.set` / `password.reset`, acted by the person,
    /// in the link's organization), which the store builds from the link.
    async fn redeem_password_link(
        &self,
        token_hash: &KeyHash,
        password_hash: &str,
        at: DateTime<Utc>,
        source_ip: Option<&str>,
    ) -> Result<Redeemed>;
    /// The person with exactly this email, and their password hash if they set one.
    /// A password link by the hash of its token, whatever its state (the console shows
    /// "already used" or "expired" before asking for a password).
    async fn find_password_link(&self, token_hash: &KeyHash) -> Result<Option<PasswordLink>>;
    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>>;
    /// Stores a session if its person is a member of `s.org_id`, checked in the same
    /// transaction (else [`crate::StoreError::Gone`]`("membership")`).
    async fn create_session(&self, s: NewSession) -> Result<Session>;
    /// By the hash of its cookie value, whatever its state (the caller checks it with
    /// [`Session::is_active_at`]).
    async fn find_session(&self, token_hash: &KeyHash) -> Result<Option<Session>>;
    /// Sets `last_seen_at` (never backwards; not for revoked sessions).
    async fn touch_session(&self, id: &str, now: DateTime<Utc>) -> Result<()>;
    /// The person's sessions that are not revoked, newest first.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>>;
    /// Revokes one of the person's own sessions; `false` if they have no such session
    /// or it already was revoked.
    async fn revoke_session(&self, user_id: &str, id: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Revokes every session of the person but `except` ("sign out everywhere else");
    /// returns how many.
    async fn revoke_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// Makes a session that is not revoked act in `org_id`, if its person is a member
    /// (checked in the same transaction).
    async fn switch_session_org(&self, id: &str, org_id: &str) -> Result<Session>;

    // CLI logins (`keyward auth login --web`). The code and the PKCE verifier never reach
    // the store: only the code's SHA-256 and S256 challenges.
    /// Stores a login a person approved in the console, if they are a member of
    /// `login.org_id` (checked in the same transaction; else
    /// [`crate::StoreError::Gone`]: `organization`, `user` or `membership`).
    async fn create_cli_login(&self, login: NewCliLogin, audit: NewAuditEvent) -> Result<CliLogin>;
    /// Redeems a login once, in one transaction: the presented challenge must equal the
    /// stored one ([`crate::Conflict::LoginVerifierMismatch`], which only counts the
    /// attempt), the code be unused ([`crate::Conflict::LoginCodeUsed`], also for the
    /// loser of two racing redemptions) and unexpired at `at` and not ended by wrong
    /// verifiers ([`crate::Conflict::LoginCodeExpired`]), and the person still a member
    /// ([`crate::StoreError::Gone`]). Makes the person's token within the organization's
    /// key limits, marks the login used and writes the token's audit event
    /// (`key.create`, acted by the person, `via: cli_login`).
    async fn redeem_cli_login(&self, redemption: CliRedemption) -> Result<CliRedeemed>;

    // The integrations vault. Tokens and verifiers arrive sealed (the server encrypts).
    /// Starts an authorization: stores its state (by hash, with the sealed verifier)
    /// and makes a `pending` connection when none has the id
    /// ([`crate::Conflict::ConnectionProvider`] if one exists for another provider).
    async fn create_oauth_state(
        &self,
        state: NewOAuthState,
        audit: NewAuditEvent,
    ) -> Result<Connection>;
    /// Takes a state once: NotFound, [`crate::Conflict::OAuthStateUsed`] (also for the
    /// loser of a race), or [`crate::Conflict::OAuthStateExpired`] (spent all the same).
    async fn take_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<OAuthState>;
    /// Records an event that changes nothing else (a token read), if the acting key
    /// still works.
    async fn record_event(&self, audit: NewAuditEvent) -> Result<()>;
    /// Writes a code exchange's tokens: the connection becomes active (made if missing).
    async fn grant_connection(
        &self,
        grant: ConnectionGrant,
        audit: NewAuditEvent,
    ) -> Result<Connection>;
    /// Records what went wrong with an authorization (the callback's `error`, a failed
    /// exchange) without changing the connection's status or tokens.
    async fn note_connection_error(
        &self,
        org_id: &str,
        id: &str,
        error: ConnectionError,
        audit: NewAuditEvent,
    ) -> Result<Connection>;
    async fn get_connection(&self, org_id: &str, id: &str) -> Result<Connection>;
    async fn list_connections(
        &self,
        org_id: &str,
        filter: ConnectionFilter,
    ) -> Result<Vec<Connection>>;
    /// Takes the connection's refresh lease for `owner` until `until`, if no one holds
    /// it at `now`; returns the connection as it is then. Of racing callers, one wins.
    async fn lease_connection(
        &self,
        uid: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Connection>>;
    async fn release_lease(&self, uid: &str, owner: &str) -> Result<()>;
    /// Writes a refresh's outcome and ends the lease, if `owner` still holds it (else
    /// [`crate::Conflict::LeaseLost`]), with its audit event, in one transaction.
    async fn finish_refresh(
        &self,
        uid: &str,
        owner: &str,
        outcome: RefreshOutcome,
        audit: NewAuditEvent,
    ) -> Result<Connection>;
    /// Disconnects: erases the tokens (status `revoked`).
    async fn revoke_connection(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<Connection>;
    async fn delete_connection(&self, org_id: &str, id: &str, audit: NewAuditEvent) -> Result<()>;
    /// Connections of `providers` whose access token expires by `before`, with a
    /// refresh token, not in backoff at `now` and not leased, soonest first.
    async fn connections_due(
        &self,
        providers: &[String],
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Connection>>;
    /// Deletes authorization states that expired by `before`.
    async fn purge_oauth_states(&self, before: DateTime<Utc>) -> Result<u64>;
    /// An authorization's state without spending it (NotFound for another
    /// organization's when `org_id` is given).
    async fn find_oauth_state(
        &self,
        state_hash: &KeyHash,
        org_id: Option<&str>,
    ) -> Result<OAuthState>;
    /// Every KEK id a node has run with, and the check value sealed by it.
    async fn kek_checks(&self) -> Result<Vec<(String, Vec<u8>)>>;
    /// Records a KEK's check value unless its id is known; true if recorded.
    async fn register_kek(&self, kek_id: &str, sealed: &[u8], at: DateTime<Utc>) -> Result<bool>;
    /// Forgets a retired KEK's check value.
    async fn forget_kek(&self, kek_id: &str) -> Result<bool>;
    /// How many sealed records each key-encryption key wraps.
    async fn kek_usage(&self) -> Result<Vec<(String, i64)>>;
    /// Up to `limit` sealed records per table whose data key is not wrapped by `not_kek`.
    async fn sealed_records(&self, not_kek: &str, limit: u32) -> Result<Vec<SealedRecord>>;
    /// Replaces a record's wrapped data key, if it is still the one read; false if the
    /// record changed meanwhile (it was re-sealed, with the active KEK, or deleted).
    async fn rewrap_record(&self, record: &SealedRecord, new: &WrappedDek) -> Result<bool>;

    /// Every workspace and agent of every organization, for the verify path's index.
    async fn all_resources(&self) -> Result<Vec<ResourceRef>>;
    /// Every channel that is not deleted, for the verify path's index of hook ids.
    async fn all_channels(&self) -> Result<Vec<Channel>>;

    // Service accounts.
    async fn create_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        key: NewKey,
        audit: NewAuditEvent,
    ) -> Result<KeyRecord>;
    async fn list_service_accounts(&self, org_id: &str) -> Result<Vec<ServiceAccount>>;
    async fn get_service_account(&self, org_id: &str, id: &str) -> Result<ServiceAccount>;
    async fn update_service_account(
        &self,
        org_id: &str,
        sa: &ServiceAccount,
        audit: NewAuditEvent,
    ) -> Result<ServiceAccount>;
    /// Deletes a service account and revokes its keys; returns their hashes.
    async fn delete_service_account(
        &self,
        org_id: &str,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        audit: NewAuditEvent,
    ) -> Result<Vec<KeyHash>>;

    // Usage, quotas and owner limits.
    /// Adds counts to the per-minute usage rows (write-behind; additive).
    async fn record_usage(&self, rows: &[UsageRow]) -> Result<()>;
    /// A key's per-minute rows with `from <= minute < to`, oldest first.
    async fn usage_minutes(&self, key_id: &str, from: i64, to: i64) -> Result<Vec<UsageRow>>;
    /// Takes up to `want` credits of `quota` for `period` (starting a fresh balance when
    /// the period changed); returns what was granted and what is left in the database.
    async fn lease_quota(
        &self,
        key_id: &str,
        quota: &Quota,
        period: i64,
        want: i64,
    ) -> Result<QuotaLease>;
    /// Gives back unspent leased credits, if the period is still current.
    async fn return_quota(&self, key_id: &str, period: i64, amount: i64) -> Result<()>;
    /// Credits left in the database for `period` (not counting nodes' leases).
    async fn quota_remaining(&self, key_id: &str, quota: &Quota, period: i64) -> Result<i64>;
    /// The rate limit shared by the keys of `owner` (by its type and id).
    async fn get_owner_limit(&self, org_id: &str, owner: &Owner) -> Result<Option<RateLimit>>;
    async fn list_owner_limits(&self, org_id: &str) -> Result<Vec<OwnerLimit>>;
    /// Sets (`Some`) or removes (`None`) an owner's shared rate limit.
    async fn set_owner_limit(
        &self,
        org_id: &str,
        owner: &Owner,
        limit: Option<RateLimit>,
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// Subscribes to the changes that any node commits, for a node's caches. `None` for
    /// a backend that serves one node only (SQLite), where the handlers' own cache
    /// invalidation is all there is. Backends with a feed announce their changes from
    /// inside the writing transaction, so a committed change is never left unannounced.
    async fn subscribe(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        Ok(None)
    }

    /// Sends `event` to every subscribed node (this one included): for liveness pings
    /// and for changes made outside the store's own write methods. A no-op without a feed.
    async fn publish(&self, _event: FeedEvent) -> Result<()> {
        Ok(())
    }

    /// Closes connections, after the last write-behind flush.
    async fn close(&self);

    /// Webhook endpoints, their events and deliveries.
    fn webhooks(&self) -> &dyn WebhookStore;

    /// Workers: registrations, connections, heartbeats.
    fn workers(&self) -> &dyn WorkerStore;
}

/// Webhook ingress's records: endpoints, the events they keep, and each event's
/// delivery. Every change that a person or key makes is written with its audit event in
/// one transaction; what the ingress and the deliverer write (events, attempts) is not
/// audited, except an endpoint's automatic disabling.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Fails with `Conflict::Duplicate` when the id is taken (in any organization).
    async fn create_webhook_endpoint(
        &self,
        e: WebhookEndpointRecord,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord>;
    /// By id alone (the ingress), whatever its organization.
    async fn find_webhook_endpoint(&self, id: &str) -> Result<WebhookEndpointRecord>;
    /// NotFound when it belongs to another organization.
    async fn get_webhook_endpoint(&self, org_id: &str, id: &str) -> Result<WebhookEndpointRecord>;
    async fn list_webhook_endpoints(
        &self,
        org_id: &str,
        f: WebhookEndpointFilter,
    ) -> Result<Vec<WebhookEndpointRecord>>;
    /// Every endpoint managed by keyward.yaml (in every organization).
    async fn config_webhook_endpoints(&self) -> Result<Vec<WebhookEndpointRecord>>;
    async fn update_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        patch: WebhookEndpointPatch,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord>;
    /// Deletes it with every event and attempt it has.
    async fn delete_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Disables it if it is enabled and has been failing since `failing_before` or
    /// earlier; true if this call disabled it (with `audit`).
    async fn disable_failing_endpoint(
        &self,
        id: &str,
        failing_before: DateTime<Utc>,
        reason: &str,
        audit: NewAuditEvent,
    ) -> Result<bool>;

    /// Keeps a verified event, unless the endpoint has one with its dedup key.
    /// Committed when this returns (the provider's 2xx comes after).
    async fn insert_webhook_event(&self, e: NewWebhookEvent) -> Result<EventInsert>;
    /// Notes a request that did not verify, keeping the endpoint's newest
    /// [`crate::REFUSALS_KEPT`] refusals.
    async fn record_webhook_refusal(&self, r: NewRefusal) -> Result<()>;
    /// Leases up to `limit` pending events due by `now` that no one holds, for `owner`
    /// until `until`, oldest due first. Of nodes claiming at once, each event goes to
    /// one.
    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>>;
    /// Writes an attempt and its outcome if `owner` still holds the event's lease
    /// (releasing it), and the endpoint's `failing_since` (cleared by a delivery, set by
    /// a first failure). `Conflict::LeaseLost` when someone else holds it, NotFound when
    /// deleted. Returns the endpoint's `failing_since` after the write.
    async fn finish_webhook_attempt(
        &self,
        owner: &str,
        attempt: WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<Option<DateTime<Utc>>>;
    /// Gives back a lease without an attempt (the node is stopping).
    async fn release_webhook_lease(&self, event_id: &str, owner: &str) -> Result<()>;
    /// An endpoint's log, newest first (refusals included).
    async fn list_webhook_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        f: DeliveryFilter,
    ) -> Result<Vec<WebhookEvent>>;
    /// One event and every attempt at it, first first.
    async fn get_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
    ) -> Result<(WebhookEvent, Vec<WebhookAttempt>)>;
    /// Queues a failed or delivered event again, due at `at` (its attempts count on).
    /// `Conflict::InUse` when it is pending, NotFound for a refusal.
    async fn replay_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<WebhookEvent>;
    /// Queues again every failed event received since `since`; how many.
    async fn replay_failed_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<u64>;
    /// Deletes events (and their attempts) received before `before` that are not
    /// pending; how many.
    async fn purge_webhook_events(&self, before: DateTime<Utc>) -> Result<u64>;

    /// For endpoints whose destination is workers (`workers`, `workers:LABEL`; the
    /// deliverer of URLs never claims their events) matching one of these `(org_id,
    /// workspace_id, destination)`s — what the caller's idle workers can take, so no
    /// head that none of them could take crowds out one they could: each enabled
    /// endpoint's oldest pending event, if it is due by `now` and no event of the
    /// endpoint is leased (a lease whose `lease_until` passed does not count). At most
    /// `limit`, oldest first.
    async fn worker_delivery_heads(
        &self,
        selections: &[(String, String, String)],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WorkerHead>>;
    /// Leases `event_id` for `owner` until `until` if it is still its endpoint's head
    /// as [`WebhookStore::worker_delivery_heads`] defines it; `None` when not (another
    /// claim took it or an earlier event came back). In one transaction that locks the
    /// endpoint's row, so of two nodes claiming an endpoint's events at once, one
    /// event is leased: never two of one endpoint.
    async fn claim_worker_delivery(
        &self,
        event_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<WebhookEvent>>;
}

/// Workers. A registration is written with its audit event when it creates a worker;
/// heartbeats and connections are not audited.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Inserts the worker, or writes over the one of the same name in the workspace
    /// (host, OS, version, labels, key, interval, forwards, instance; `stopped_at`
    /// cleared; `last_heartbeat_at` = `at`). `Conflict::InUse` when that worker has an
    /// open connection of another instance heard from after `busy_since` or within two
    /// of its own intervals, or when it is another person's and not offline.
    /// `audit` is written when it creates one, and (as the target worker's) when the
    /// worker moves to another key. A new row past [`keyward_core::worker`]'s limits
    /// evicts the same person's longest-silent offline worker (audited as
    /// `worker.remove`), else `StoreError::LimitReached`.
    async fn register_worker(
        &self,
        w: NewWorker,
        busy_since: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Registered>;
    /// NotFound when it belongs to another organization.
    async fn get_worker(&self, org_id: &str, id: &str) -> Result<WorkerRecord>;
    /// By id alone (the worker's own connection).
    async fn find_worker(&self, id: &str) -> Result<WorkerRecord>;
    /// Ordered by id.
    async fn list_workers(&self, org_id: &str, f: WorkerFilter) -> Result<Vec<WorkerRecord>>;
    /// The connection `connection` opened at `at`: sets it, `connected_since` and
    /// `last_heartbeat_at` to `at`, clears `stopped_at`. Returns the connection it
    /// replaced, if one was set. NotFound when the worker is gone.
    async fn connect_worker(
        &self,
        id: &str,
        connection: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>>;
    /// `last_heartbeat_at` = `at` if `connection` is still the worker's; false when it
    /// is not (replaced, or the worker removed).
    async fn heartbeat_worker(&self, id: &str, connection: &str, at: DateTime<Utc>)
        -> Result<bool>;
    /// Clears the connection if it is still `connection`; with `stopped`, also sets
    /// `stopped_at` = `at` (a clean deregistration). False when it was not this one.
    async fn disconnect_worker(
        &self,
        id: &str,
        connection: &str,
        at: DateTime<Utc>,
        stopped: bool,
    ) -> Result<bool>;
    /// Deletes it, with `audit`. NotFound when it is not in `org_id`.
    async fn remove_worker(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<WorkerRecord>;
    /// Deletes every worker whose last heartbeat is before `before` (at most `limit`),
    /// each with an audit event made by `audit` from its record, in one transaction.
    /// Returns those deleted. (`for<'r>` spelled out: `async_trait` would otherwise
    /// name the elided lifetime after the method's, which no record it reads outlives.)
    async fn purge_workers(
        &self,
        before: DateTime<Utc>,
        limit: u32,
        audit: &(dyn for<'r> Fn(&'r WorkerRecord) -> NewAuditEvent + Send + Sync),
    ) -> Result<Vec<WorkerRecord>>;
    /// Active (not revoked, not expired at `now`) worker keys of `owner_id` in the
    /// workspace.
    async fn count_active_worker_keys(
        &self,
        org_id: &str,
        workspace_id: &str,
        owner_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u32>;
}

/// What a subscribed node hears from the database: what a committed change touched,
/// as precisely as the server's own caches need it (`CoherentStore` drops the same
/// things on the node that made the change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// This key changed (revoked, edited, rotated…): forget what you know about it.
    Key(KeyHash),
    /// The organization's name or settings changed: forget its keys and owner limits.
    Organization(String),
    /// A member's role or a service account's name changed: forget the owner's keys.
    Owner {
        org_id: String,
        owner_type: String,
        owner_id: String,
    },
    /// A channel was switched on or off or renamed: forget its tokens.
    Channel(String),
    /// An organization's owner limits changed.
    OwnerLimits(String),
    /// Forget everything (a payload this build does not understand).
    All,
    /// A workspace, agent or channel was created, changed or deleted: reload the index
    /// of them that verification answers from.
    Resources,
    /// A liveness probe: proves that the subscription still delivers.
    Ping,
}

/// A live subscription to [`FeedEvent`]s on its own connection.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The next event. An error means the subscription is gone and events may have been
    /// missed: drop the feed, treat caches as stale, and subscribe again.
    async fn next(&mut self) -> Result<FeedEvent>;
}
