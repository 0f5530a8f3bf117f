//! One suite of trait-level checks, run on every backend: SQLite always, PostgreSQL
//! when `KEYWARD_TEST_DATABASE_URL` is set (each test in its own schema). Without the
//! variable, the PostgreSQL variants print that they were skipped and pass.

mod audit;
mod changes;
mod cli_logins;
mod connections;
mod keys;
mod members;
mod people;
mod references;
mod tenancy;
mod usage;
mod webhooks;
mod workers;

use chrono::{DateTime, Duration, Utc};
use keyward_core::key::Environment;
use keyward_core::{ids, KeyHash, KeyKind, Owner, PermissionSet, PlainKey, Quota, Scope};
use keyward_store::testing::{postgres_url_or_skip, PgScratch};
use keyward_store::*;
use std::sync::Arc;

struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgScratch>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Backend {
        store,
        _dir: Some(dir),
        _schema: None,
    }
}

async fn postgres() -> Option<Backend> {
    let base = postgres_url_or_skip()?;
    let schema = PgScratch::create(&base).await.unwrap();
    let store = connect(schema.url()).await.unwrap();
    store.migrate().await.unwrap();
    Some(Backend {
        store,
        _dir: None,
        _schema: Some(schema),
    })
}

/// Generates `sqlite::<test>` and `postgres::<test>` for each check (`module::test`).
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let b = super::sqlite().await;
                    super::$module::$name(b.store.clone()).await;
                    b.store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(b) = super::postgres().await else {
                        return;
                    };
                    super::$module::$name(b.store.clone()).await;
                    b.store.close().await;
                }
            )*
        }
    };
}

conformance!(
    keys::keys_round_trip_and_page,
    keys::list_filters_by_owner_agent_and_service_account,
    keys::revoke_is_once_and_rotate_ends_the_old_key,
    keys::org_key_limit_holds_under_200_concurrent_creates,
    keys::worker_key_limit_holds_under_concurrent_creates,
    keys::key_counts_count_what_the_limits_count,
    keys::rotating_a_replacement_ends_its_predecessors_grace,
    references::new_keys_need_everything_they_refer_to,
    references::keys_created_while_their_owner_is_deleted_do_not_survive,
    references::cascading_revocations_return_the_hashes,
    tenancy::migrations_are_idempotent,
    tenancy::bootstrap_happens_once_even_when_racing,
    tenancy::resources_in_use_cannot_be_deleted,
    tenancy::organizations_per_person_are_capped_under_concurrency,
    tenancy::renaming_a_service_account_renames_its_keys_owner,
    members::last_owner_cannot_leave,
    members::invitations_are_redeemed_once_by_the_right_person,
    people::only_the_newest_password_link_works_until_it_expires,
    people::password_links_need_a_member_and_credentials_match_exactly,
    people::a_password_link_is_redeemed_once_under_concurrency,
    people::an_admins_reset_link_works_only_for_a_person_of_that_organization_alone,
    people::an_invitation_made_in_a_session_lasts_beyond_it_but_not_beyond_the_inviter,
    people::redeeming_a_password_link_revokes_the_persons_sessions,
    people::sessions_round_trip_and_need_a_membership,
    people::sessions_of_another_person_cannot_be_revoked,
    people::signing_out_everywhere_keeps_the_current_session,
    people::leaving_or_deleting_an_organization_revokes_its_sessions,
    cli_logins::a_cli_login_is_redeemed_once_for_a_token_of_its_person,
    cli_logins::a_cli_login_is_redeemed_once_under_concurrency,
    cli_logins::a_cli_login_expires_and_wrong_verifiers_end_it,
    cli_logins::a_cli_login_needs_the_membership_at_approval_and_redemption,
    connections::an_authorization_state_is_taken_once,
    connections::one_refresh_lease_at_a_time_and_only_its_holder_writes,
    connections::rotation_rewraps_only_what_is_unchanged,
    connections::a_disconnect_ends_authorizations_even_while_they_complete,
    webhooks::webhook_endpoints_belong_to_one_organization_and_ids_to_one_endpoint,
    webhooks::webhook_endpoint_patches_apply_what_they_set_and_need_the_version_they_read,
    webhooks::webhook_events_are_kept_once_per_dedup_key_and_refusals_are_capped,
    webhooks::concurrent_claims_lease_each_webhook_event_once,
    webhooks::only_the_webhook_lease_holder_finishes_and_failures_mark_the_endpoint,
    webhooks::a_failing_webhook_endpoint_is_disabled_once_with_an_audit_event,
    webhooks::webhook_replays_queue_finished_events_again,
    webhooks::webhook_purges_keep_pending_events_and_deletions_take_everything,
    webhooks::webhook_endpoint_secrets_are_rewrapped_by_rotation,
    workers::worker_registrations_create_once_and_take_over_only_idle_names,
    workers::racing_registrations_of_a_new_name_make_one_worker,
    workers::only_a_workers_current_connection_heartbeats_and_disconnects,
    workers::worker_listings_filter_by_workspace_and_label_and_page_by_id,
    workers::removing_and_purging_workers_are_audited,
    workers::only_active_worker_keys_of_the_person_in_the_workspace_count,
    workers::workers_get_each_endpoints_events_one_at_a_time_in_order,
    workers::concurrent_worker_claims_lease_one_event_per_endpoint,
    changes::changes_made_with_a_key_that_stopped_working_write_nothing,
    changes::changes_to_something_that_changed_meanwhile_are_refused,
    usage::last_used_never_moves_backwards,
    usage::write_behind_flushes_of_thousands_of_keys,
    usage::usage_adds_up_and_quota_leases_never_overdraw,
    audit::audit_pages_newest_first,
    audit::the_audit_log_can_show_only_events_about_a_persons_keys,
    audit::the_audit_log_filters_by_actor_action_target_and_time_and_pages_both_ways,
);

/// The change feed is PostgreSQL's (several nodes); SQLite serves one node and has none,
/// which is how the server knows not to follow one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_announces_committed_changes_and_sqlite_has_no_feed() {
    let b = sqlite().await;
    assert!(b.store.subscribe().await.unwrap().is_none());
    b.store.close().await;
    let Some(b) = postgres().await else {
        return;
    };
    changes::change_feed_announces_committed_changes(b.store.clone()).await;
    b.store.close().await;
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Org {
    id: String,
    owner: String,
}

fn event(org: &str, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        org_id: org.to_owned(),
        at: t0(),
        actor: Actor {
            actor_type: "system".into(),
            id: None,
            name: "conformance".into(),
            key_id: None,
            authority: None,
        },
        action: action.into(),
        target_type: "test".into(),
        target_id: "t".into(),
        source_ip: None,
        details: serde_json::json!({}),
    }
}

fn new_key(org: &str, kind: KeyKind, owner: Option<Owner>, scope: Scope) -> NewKey {
    let plain = PlainKey::generate(kind, Environment::Live);
    NewKey {
        id: ids::new_id("key"),
        org_id: org.to_owned(),
        kind,
        environment: Environment::Live,
        name: "k".into(),
        prefix: plain.visible_prefix(),
        hash: plain.hash(),
        owner,
        permissions: PermissionSet::all(),
        scope,
        metadata: Some(serde_json::json!({"team": "a"})),
        created_at: t0(),
        created_by: "test".into(),
        expires_at: None,
        rotated_from: None,
        workspace_id: None,
        channel_id: None,
        ratelimit: None,
        quota: None,
        enabled: true,
        exempt_from_limits: false,
        disabled_by: None,
        limits_by: None,
    }
}

fn user(id: &str) -> Option<Owner> {
    Some(Owner::User {
        id: id.to_owned(),
        name: format!("{id}@example.com"),
    })
}

async fn setup(store: &dyn Store) -> Org {
    let (org, owner) = (ids::new_id("org"), ids::new_id("usr"));
    store
        .bootstrap(NewBootstrap {
            org_id: org.clone(),
            org_name: "acme".into(),
            user_id: owner.clone(),
            email: "owner@example.com".into(),
            at: t0(),
            key: new_key(&org, KeyKind::Personal, user(&owner), Scope::Organization),
            source_ip: None,
        })
        .await
        .unwrap();
    Org { id: org, owner }
}

/// Invites `email` as a member and accepts for a new person: (member, first token).
async fn join(store: &dyn Store, org: &str, email: &str) -> (Member, KeyRecord) {
    let code = keyward_core::invite::InviteCode::generate();
    store
        .create_invitation(&invitation(org, email, &code), event(org, "member.invite"))
        .await
        .unwrap();
    store
        .accept_invitation(Acceptance {
            code_hash: code.hash(),
            at: t0(),
            invitee: Invitee::New {
                user_id: ids::new_id("usr"),
            },
            key: Some(new_key(org, KeyKind::Personal, None, Scope::Organization)),
            password_hash: None,
            audit: event(org, "member.add"),
        })
        .await
        .map(|a| (a.member, a.key.expect("a first token was asked for")))
        .unwrap()
}

fn invitation(org: &str, email: &str, code: &keyward_core::invite::InviteCode) -> NewInvitation {
    NewInvitation {
        id: ids::new_id("inv"),
        org_id: org.to_owned(),
        email: email.to_owned(),
        role: keyward_core::Role::Member,
        agents: vec![],
        permissions: PermissionSet::all(),
        code_hash: code.hash(),
        created_at: t0(),
        created_by: "test".into(),
        created_by_key: None,
        expires_at: t0() + Duration::days(1),
    }
}

/// An audit event of an actor acting with `key_id`.
fn acting(org: &str, key_id: &str, at: DateTime<Utc>) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor: Actor {
            actor_type: "user".into(),
            id: None,
            name: "someone".into(),
            key_id: Some(key_id.to_owned()),
            authority: None,
        },
        ..event(org, "key.create")
    }
}

async fn workspace(store: &dyn Store, org: &str) -> String {
    let r = Resource {
        id: ids::new_id("ws"),
        name: format!("ws {}", ids::new_id("n")),
        created_at: t0(),
    };
    store
        .create_resource(
            ResourceKind::Workspace,
            org,
            &r,
            event(org, "workspace.create"),
        )
        .await
        .unwrap();
    r.id
}

async fn set_limits(store: &dyn Store, org: &str, max_keys: u32, max_workers: u32) {
    let mut o = store.get_org(org).await.unwrap();
    o.settings.max_keys = max_keys;
    o.settings.max_worker_keys = max_workers;
    store
        .update_org(&o, event(org, "org.update"))
        .await
        .unwrap();
}

async fn agent(store: &dyn Store, org: &str) -> String {
    let r = Resource {
        id: ids::new_id("agt"),
        name: format!("agent {}", ids::new_id("n")),
        created_at: t0(),
    };
    store
        .create_resource(ResourceKind::Agent, org, &r, event(org, "agent.create"))
        .await
        .unwrap();
    r.id
}

async fn channel(store: &dyn Store, org: &str, agent: &str) -> Channel {
    let channel = Channel {
        id: ids::new_id("ch"),
        org_id: org.to_owned(),
        agent_id: agent.to_owned(),
        name: "support".into(),
        hook_id: ids::new_id("hook"),
        enabled: true,
        created_at: t0(),
        deleted: false,
    };
    store
        .create_channel(&channel, event(org, "channel.create"))
        .await
        .unwrap();
    channel
}

async fn service_account(store: &dyn Store, org: &str) -> ServiceAccount {
    let sa = ServiceAccount {
        id: ids::new_id("sa"),
        name: format!("bot {}", ids::new_id("n")),
        scopes: PermissionSet::read_only(),
        created_at: t0(),
        created_by: "test".into(),
    };
    let key = new_key(
        org,
        KeyKind::ServiceAccount,
        Some(Owner::ServiceAccount {
            id: sa.id.clone(),
            name: sa.name.clone(),
        }),
        Scope::Organization,
    );
    store
        .create_service_account(org, &sa, key, event(org, "sa"))
        .await
        .unwrap();
    sa
}

/// Keys of `filter` in `org` that are not revoked.
async fn working_keys(store: &dyn Store, org: &str, filter: KeyFilter) -> Vec<KeyRecord> {
    let mut out = vec![];
    let mut cursor = None;
    loop {
        let page = store
            .list_keys(org, &filter, &PageRequest { limit: 100, cursor })
            .await
            .unwrap();
        out.extend(page.items.into_iter().filter(|k| k.revoked_at.is_none()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// A new organization owned by `owner` (an existing person).
async fn another_org(store: &dyn Store, owner: &str) -> Org {
    let id = ids::new_id("org");
    store
        .create_org(
            NewOrganization {
                org: Organization {
                    id: id.clone(),
                    name: format!("org {id}"),
                    created_at: t0(),
                    settings: OrgSettings::default(),
                },
                owner_user_id: owner.to_owned(),
                key: new_key(&id, KeyKind::Personal, user(owner), Scope::Organization),
                max_per_person: 100,
            },
            event(&id, "org.create"),
        )
        .await
        .unwrap();
    Org {
        id,
        owner: owner.to_owned(),
    }
}
