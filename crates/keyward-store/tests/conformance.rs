//! One suite of trait-level checks, run on every backend: SQLite always, PostgreSQL
//! when `KEYWARD_TEST_DATABASE_URL` is set (each test in its own schema). Without the
//! variable, the PostgreSQL variants print that they were skipped and pass.

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

/// Generates `sqlite::<test>` and `postgres::<test>` for each check below.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let b = super::sqlite().await;
                    super::$name(b.store.clone()).await;
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
                    super::$name(b.store.clone()).await;
                    b.store.close().await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    bootstrap_happens_once_even_when_racing,
    keys_round_trip_and_page,
    list_filters_by_owner_agent_and_service_account,
    revoke_is_once_and_rotate_ends_the_old_key,
    org_key_limit_holds_under_200_concurrent_creates,
    worker_key_limit_holds_under_concurrent_creates,
    last_used_never_moves_backwards,
    write_behind_flushes_of_thousands_of_keys,
    resources_in_use_cannot_be_deleted,
    cascading_revocations_return_the_hashes,
    last_owner_cannot_leave,
    audit_pages_newest_first,
    usage_adds_up_and_quota_leases_never_overdraw,
    change_feed_announces_committed_changes,
    changes_made_with_a_key_that_stopped_working_write_nothing,
    new_keys_need_everything_they_refer_to,
    keys_created_while_their_owner_is_deleted_do_not_survive,
    rotating_a_replacement_ends_its_predecessors_grace,
    organizations_per_person_are_capped_under_concurrency,
    invitations_are_redeemed_once_by_the_right_person,
    the_audit_log_can_show_only_events_about_a_persons_keys,
    changes_to_something_that_changed_meanwhile_are_refused,
    renaming_a_service_account_renames_its_keys_owner,
);

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
            key: new_key(org, KeyKind::Personal, None, Scope::Organization),
            audit: event(org, "member.add"),
        })
        .await
        .map(|a| (a.member, a.key))
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

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.organization_count().await.unwrap(), 0);
}

async fn bootstrap_happens_once_even_when_racing(store: Arc<dyn Store>) {
    let mut tasks = vec![];
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let org = ids::new_id("org");
            let owner = ids::new_id("usr");
            store
                .bootstrap(NewBootstrap {
                    org_id: org.clone(),
                    org_name: "acme".into(),
                    user_id: owner.clone(),
                    email: format!("o{i}@example.com"),
                    at: t0(),
                    key: new_key(&org, KeyKind::Personal, user(&owner), Scope::Organization),
                    source_ip: None,
                })
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(Conflict::AlreadyBootstrapped)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.organization_count().await.unwrap(), 1);
}

async fn keys_round_trip_and_page(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let mut k = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    k.expires_at = Some(t0() + Duration::days(30));
    k.quota = Some(Quota {
        limit: 5,
        refill: None,
    });
    let created = store
        .create_key(k.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    assert_eq!(created.org_name, "acme");
    assert_eq!(created.expires_at, k.expires_at);
    assert_eq!(created.metadata, k.metadata);
    assert_eq!(created.quota, k.quota);
    let found = store.find_key_by_hash(&k.hash).await.unwrap().unwrap();
    assert_eq!(found.id, k.id);
    assert_eq!(found.hash, k.hash);
    assert_eq!(found.owner, k.owner);
    assert!(store
        .find_key_by_hash(&KeyHash::of("kw_pat_nothing"))
        .await
        .unwrap()
        .is_none());
    // The same hash twice is a conflict, never a second row.
    let mut dup = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    dup.hash = k.hash;
    assert!(matches!(
        store.create_key(dup, event(&org.id, "key.create")).await,
        Err(StoreError::Conflict(Conflict::Duplicate))
    ));
    for i in 0..5 {
        let mut k = new_key(
            &org.id,
            KeyKind::Personal,
            user(&org.owner),
            Scope::Organization,
        );
        k.created_at = t0() + Duration::seconds(i);
        store
            .create_key(k, event(&org.id, "key.create"))
            .await
            .unwrap();
    }
    let mut seen = vec![];
    let mut cursor = None;
    loop {
        let page = store
            .list_keys(
                &org.id,
                &KeyFilter::default(),
                &PageRequest { limit: 3, cursor },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|k| (k.created_at, k.id.clone())));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "bootstrap key + 6");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, no repeats");
    assert!(matches!(
        store
            .list_keys(
                &org.id,
                &KeyFilter::default(),
                &PageRequest {
                    limit: 3,
                    cursor: Some("garbage".into())
                }
            )
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    let patched = store
        .update_key(
            &org.id,
            &k.id,
            &KeyPatch {
                name: Some("renamed".into()),
                permissions: Some(PermissionSet::read_only()),
                ..KeyPatch::default()
            },
            event(&org.id, "key.update"),
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "renamed");
    assert_eq!(patched.permissions, PermissionSet::read_only());
    assert!(patched.enabled, "a key is created enabled");

    // The switch persists, and a patch that does not name it leaves it as it is.
    let off = KeyPatch {
        enabled: Some(false),
        ..KeyPatch::default()
    };
    let disabled = store
        .update_key(&org.id, &k.id, &off, event(&org.id, "key.update"))
        .await
        .unwrap();
    assert!(!disabled.enabled);
    let renamed = KeyPatch {
        name: Some("renamed again".into()),
        ..KeyPatch::default()
    };
    store
        .update_key(&org.id, &k.id, &renamed, event(&org.id, "key.update"))
        .await
        .unwrap();
    assert!(
        !store
            .find_key_by_hash(&k.hash)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );

    // A key can also be created switched off.
    let off = NewKey {
        enabled: false,
        ..new_key(
            &org.id,
            KeyKind::Personal,
            user(&org.owner),
            Scope::Organization,
        )
    };
    let created = store
        .create_key(off, event(&org.id, "key.create"))
        .await
        .unwrap();
    assert!(!created.enabled);
}

async fn list_filters_by_owner_agent_and_service_account(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    for (id, name) in [("agt_a", "a"), ("agt_b", "b")] {
        store
            .create_resource(
                ResourceKind::Agent,
                &org.id,
                &Resource {
                    id: id.into(),
                    name: name.into(),
                    created_at: t0(),
                },
                event(&org.id, "agent.create"),
            )
            .await
            .unwrap();
    }
    let other = Some(Owner::External { id: "cust".into() });
    for agent in ["agt_a", "agt_b"] {
        store
            .create_key(
                new_key(
                    &org.id,
                    KeyKind::Personal,
                    other.clone(),
                    Scope::Agent {
                        agent: agent.into(),
                    },
                ),
                event(&org.id, "key.create"),
            )
            .await
            .unwrap();
    }
    let sa = ServiceAccount {
        id: ids::new_id("sa"),
        name: "ci".into(),
        scopes: PermissionSet::read_only(),
        created_at: t0(),
        created_by: "test".into(),
    };
    let sa_owner = Some(Owner::ServiceAccount {
        id: sa.id.clone(),
        name: "ci".into(),
    });
    store
        .create_service_account(
            &org.id,
            &sa,
            new_key(
                &org.id,
                KeyKind::ServiceAccount,
                sa_owner,
                Scope::Organization,
            ),
            event(&org.id, "sa.create"),
        )
        .await
        .unwrap();
    let page = PageRequest {
        limit: 50,
        cursor: None,
    };
    let count = |filter: KeyFilter| {
        let store = store.clone();
        let org = org.id.clone();
        let page = page.clone();
        async move {
            store
                .list_keys(&org, &filter, &page)
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(count(KeyFilter::default()).await, 4);
    let mine = KeyFilter {
        owner_user: Some(org.owner.clone()),
        ..KeyFilter::default()
    };
    assert_eq!(count(mine.clone()).await, 1);
    let with_agent = KeyFilter {
        agents: Some(vec!["agt_b".into()]),
        ..mine
    };
    assert_eq!(count(with_agent).await, 2, "own key + agent b's key");
    let of_sa = KeyFilter {
        service_account: Some(sa.id.clone()),
        ..KeyFilter::default()
    };
    assert_eq!(count(of_sa).await, 1);
}

async fn revoke_is_once_and_rotate_ends_the_old_key(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let k = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(k.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let revoked = store
        .revoke_key(&org.id, &k.id, t0(), "me", event(&org.id, "key.revoke"))
        .await
        .unwrap();
    assert!(revoked.changed);
    assert_eq!(revoked.key.revoked_at, Some(t0()));
    let again = store
        .revoke_key(&org.id, &k.id, t0(), "me", event(&org.id, "key.revoke"))
        .await
        .unwrap();
    assert!(!again.changed);

    let old = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(old.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let rotation = |revoke_old: bool| {
        let mut replacement = new_key(
            &org.id,
            KeyKind::Personal,
            user(&org.owner),
            Scope::Organization,
        );
        replacement.rotated_from = Some(old.id.clone());
        Rotation {
            org_id: org.id.clone(),
            old_id: old.id.clone(),
            replacement,
            old_ends_at: t0() + Duration::hours(1),
            revoke_old,
            revoked_by: "me".into(),
            audit: vec![event(&org.id, "key.rotate")],
        }
    };
    let Rotated { old: o, new: n, .. } = store.rotate_key(rotation(false)).await.unwrap();
    assert_eq!(o.expires_at, Some(t0() + Duration::hours(1)));
    assert_eq!(o.rotated_to.as_deref(), Some(n.id.as_str()));
    assert!(matches!(
        store.rotate_key(rotation(true)).await,
        Err(StoreError::Conflict(Conflict::KeyAlreadyRotated))
    ));
}

async fn org_key_limit_holds_under_200_concurrent_creates(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 10, 25).await;
    let mut tasks = vec![];
    for _ in 0..200 {
        let store = store.clone();
        let k = new_key(
            &org.id,
            KeyKind::Personal,
            user(&org.owner),
            Scope::Organization,
        );
        let e = event(&org.id, "key.create");
        tasks.push(tokio::spawn(async move { store.create_key(k, e).await }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::LimitReached { max: 10, .. }) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 9, "10 including the bootstrap token");
    assert_eq!(refused, 191);
    let all = store
        .list_keys(
            &org.id,
            &KeyFilter::default(),
            &PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 10);
}

async fn worker_key_limit_holds_under_concurrent_creates(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 10, 5).await;
    let ws = workspace(store.as_ref(), &org.id).await;
    let mut tasks = vec![];
    for _ in 0..60 {
        let store = store.clone();
        let mut k = new_key(
            &org.id,
            KeyKind::Worker,
            user(&org.owner),
            Scope::Organization,
        );
        k.workspace_id = Some(ws.clone());
        let e = event(&org.id, "key.create");
        tasks.push(tokio::spawn(async move { store.create_key(k, e).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::LimitReached { max: 5, .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 5);
}

async fn last_used_never_moves_backwards(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let k = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(k.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let later = t0() + Duration::minutes(5);
    store
        .record_last_used(&[LastUse {
            key_id: k.id.clone(),
            at: later,
        }])
        .await
        .unwrap();
    store
        .record_last_used(&[LastUse {
            key_id: k.id.clone(),
            at: t0(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.get_key(&org.id, &k.id).await.unwrap().last_used_at,
        Some(later)
    );
}

/// A flush after a busy interval carries thousands of keys (more than one statement's
/// worth): every one lands, counts add to what is stored, and last-used never goes back.
async fn write_behind_flushes_of_thousands_of_keys(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let keys: Vec<NewKey> = (0..2500)
        .map(|_| new_key(&org.id, KeyKind::Api, None, Scope::Organization))
        .collect();
    store.create_keys_bulk(&keys).await.unwrap();
    let at = |i: usize| t0() + Duration::seconds(i as i64);
    let uses: Vec<LastUse> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| LastUse {
            key_id: k.id.clone(),
            at: at(i),
        })
        .collect();
    store.record_last_used(&uses).await.unwrap();
    // An older flush (a slow node) must not move any of them back.
    let older: Vec<LastUse> = keys
        .iter()
        .map(|k| LastUse {
            key_id: k.id.clone(),
            at: t0() - Duration::days(1),
        })
        .collect();
    store.record_last_used(&older).await.unwrap();
    for i in [0, 999, 1000, 1001, 2499] {
        let k = store.get_key(&org.id, &keys[i].id).await.unwrap();
        assert_eq!(k.last_used_at, Some(at(i)), "key {i}");
    }

    let rows = |n: i64| -> Vec<UsageRow> {
        keys.iter()
            .enumerate()
            .flat_map(|(i, k)| {
                [7, 8].map(|minute| UsageRow {
                    key_id: k.id.clone(),
                    minute,
                    valid: n * i as i64,
                    denied: n,
                    api: 1,
                })
            })
            .collect()
    };
    store.record_usage(&rows(1)).await.unwrap();
    store.record_usage(&rows(2)).await.unwrap();
    for i in [0, 1234, 2499] {
        let got = store.usage_minutes(&keys[i].id, 0, 100).await.unwrap();
        let summary: Vec<(i64, i64, i64, i64)> = got
            .iter()
            .map(|r| (r.minute, r.valid, r.denied, r.api))
            .collect();
        let v = 3 * i as i64;
        assert_eq!(summary, vec![(7, v, 3, 2), (8, v, 3, 2)], "key {i}");
    }
}

async fn resources_in_use_cannot_be_deleted(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    for kind in [ResourceKind::Workspace, ResourceKind::Agent] {
        store
            .create_resource(
                kind,
                &org.id,
                &Resource {
                    id: format!("{}_1", kind.singular()),
                    name: "one".into(),
                    created_at: t0(),
                },
                event(&org.id, "create"),
            )
            .await
            .unwrap();
    }
    let ws = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Workspaces {
            workspaces: vec!["workspace_1".into()],
        },
    );
    let ag = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Agent {
            agent: "agent_1".into(),
        },
    );
    for k in [&ws, &ag] {
        store
            .create_key(k.clone(), event(&org.id, "key.create"))
            .await
            .unwrap();
    }
    for (kind, key) in [(ResourceKind::Workspace, &ws), (ResourceKind::Agent, &ag)] {
        let id = format!("{}_1", kind.singular());
        assert!(matches!(
            store
                .delete_resource(kind, &org.id, &id, event(&org.id, "delete"))
                .await,
            Err(StoreError::Conflict(Conflict::InUse))
        ));
        store
            .revoke_key(&org.id, &key.id, t0(), "me", event(&org.id, "key.revoke"))
            .await
            .unwrap();
        store
            .delete_resource(kind, &org.id, &id, event(&org.id, "delete"))
            .await
            .unwrap();
        assert!(matches!(
            store.get_resource(kind, &org.id, &id).await,
            Err(StoreError::NotFound)
        ));
    }
}

async fn cascading_revocations_return_the_hashes(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    store
        .create_resource(
            ResourceKind::Agent,
            &org.id,
            &Resource {
                id: "agt_1".into(),
                name: "bot".into(),
                created_at: t0(),
            },
            event(&org.id, "agent.create"),
        )
        .await
        .unwrap();
    let channel = Channel {
        id: ids::new_id("chn"),
        org_id: org.id.clone(),
        agent_id: "agt_1".into(),
        name: "support".into(),
        hook_id: ids::new_id("hook"),
        enabled: true,
        created_at: t0(),
        deleted: false,
    };
    store
        .create_channel(&channel, event(&org.id, "channel.create"))
        .await
        .unwrap();
    let mut token = new_key(
        &org.id,
        KeyKind::Channel,
        None,
        Scope::Agent {
            agent: "agt_1".into(),
        },
    );
    token.channel_id = Some(channel.id.clone());
    store
        .create_key(token.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let disabled = store
        .update_channel(
            &Channel {
                enabled: false,
                ..channel.clone()
            },
            event(&org.id, "channel.update"),
        )
        .await
        .unwrap();
    assert!(!disabled.enabled);
    let hashes = store
        .delete_channel(&org.id, &channel.id, t0(), "me", event(&org.id, "x"))
        .await
        .unwrap();
    assert_eq!(hashes, vec![token.hash]);
    let found = store
        .find_channel_by_hook(&channel.hook_id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.deleted);

    let (member, first) = join(store.as_ref(), &org.id, "m@example.com").await;
    let hashes = store
        .remove_member(
            &org.id,
            &member.user_id,
            member.role,
            t0(),
            "me",
            event(&org.id, "x"),
        )
        .await
        .unwrap();
    assert_eq!(hashes, vec![first.hash]);

    let sa = ServiceAccount {
        id: ids::new_id("sa"),
        name: "ci".into(),
        scopes: PermissionSet::read_only(),
        created_at: t0(),
        created_by: "test".into(),
    };
    let sa_key = new_key(
        &org.id,
        KeyKind::ServiceAccount,
        Some(Owner::ServiceAccount {
            id: sa.id.clone(),
            name: "ci".into(),
        }),
        Scope::Organization,
    );
    store
        .create_service_account(&org.id, &sa, sa_key.clone(), event(&org.id, "sa"))
        .await
        .unwrap();
    let hashes = store
        .delete_service_account(&org.id, &sa.id, t0(), "me", event(&org.id, "x"))
        .await
        .unwrap();
    assert_eq!(hashes, vec![sa_key.hash]);
    assert!(store
        .find_key_by_hash(&sa_key.hash)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
}

async fn last_owner_cannot_leave(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    assert!(matches!(
        store
            .remove_member(
                &org.id,
                &org.owner,
                keyward_core::Role::Owner,
                t0(),
                "me",
                event(&org.id, "x")
            )
            .await,
        Err(StoreError::Conflict(Conflict::LastOwner))
    ));
}

async fn audit_pages_newest_first(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    for i in 0..5 {
        store
            .update_org(
                &store.get_org(&org.id).await.unwrap(),
                event(&org.id, &format!("org.update.{i}")),
            )
            .await
            .unwrap();
    }
    let first = store
        .list_audit(
            &org.id,
            &AuditFilter::default(),
            &PageRequest {
                limit: 4,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items[0].action, "org.update.4");
    let rest = store
        .list_audit(
            &org.id,
            &AuditFilter::default(),
            &PageRequest {
                limit: 100,
                cursor: first.next_cursor,
            },
        )
        .await
        .unwrap();
    // 5 updates + org.bootstrap + key.create.
    assert_eq!(first.items.len() + rest.items.len(), 7);
    assert!(rest.next_cursor.is_none());
}

async fn usage_adds_up_and_quota_leases_never_overdraw(store: Arc<dyn Store>) {
    let row = |n| UsageRow {
        key_id: "key_1".into(),
        minute: 100,
        valid: n,
        denied: 1,
        api: 0,
    };
    store.record_usage(&[row(2)]).await.unwrap();
    store.record_usage(&[row(3)]).await.unwrap();
    let rows = store.usage_minutes("key_1", 0, 1000).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].valid, rows[0].denied), (5, 2));

    let quota = Quota {
        limit: 100,
        refill: None,
    };
    let mut tasks = vec![];
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .lease_quota("key_q", &quota, 1, 7)
                .await
                .unwrap()
                .granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(granted, 100, "exactly the quota, never more");
    assert_eq!(store.quota_remaining("key_q", &quota, 1).await.unwrap(), 0);
    store.return_quota("key_q", 1, 4).await.unwrap();
    assert_eq!(store.quota_remaining("key_q", &quota, 1).await.unwrap(), 4);
    // A new period starts from the full quota.
    assert_eq!(
        store.lease_quota("key_q", &quota, 2, 10).await.unwrap(),
        QuotaLease {
            granted: 10,
            remaining: 90
        }
    );
}

/// SQLite has no feed (one node); PostgreSQL announces each committed change once,
/// and nothing for a change that did not commit.
async fn change_feed_announces_committed_changes(store: Arc<dyn Store>) {
    let Some(mut feed) = store.subscribe().await.unwrap() else {
        store.publish(FeedEvent::Ping).await.unwrap();
        return;
    };
    let org = setup(store.as_ref()).await;
    let k = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(k.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    // Refused (revoked keys cannot be edited): rolled back, so nothing is announced.
    store
        .revoke_key(&org.id, &k.id, t0(), "me", event(&org.id, "key.revoke"))
        .await
        .unwrap();
    assert!(store
        .update_key(
            &org.id,
            &k.id,
            &KeyPatch::default(),
            event(&org.id, "key.update")
        )
        .await
        .is_err());
    // A later committed change marks the end: notifications arrive in commit order.
    let marker = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(marker.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    store
        .revoke_key(
            &org.id,
            &marker.id,
            t0(),
            "me",
            event(&org.id, "key.revoke"),
        )
        .await
        .unwrap();
    store.publish(FeedEvent::Ping).await.unwrap();
    let mut events = vec![];
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
            .await
            .expect("the feed delivers within 5 s")
            .unwrap();
        if e == FeedEvent::Key(marker.hash) {
            break;
        }
        events.push(e);
    }
    // Other tests share the server (and the channel): keep only this key's events.
    let mine: Vec<_> = events
        .iter()
        .filter(|e| **e == FeedEvent::Key(k.hash))
        .collect();
    assert_eq!(mine.len(), 1, "{events:?}");
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

/// A request authenticated just before a deletion cannot write after it: the acting key
/// is checked inside every change, under the same serialization as the deletion.
async fn changes_made_with_a_key_that_stopped_working_write_nothing(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let (member, token) = join(store.as_ref(), &org.id, "leaver@example.com").await;
    store
        .remove_member(
            &org.id,
            &member.user_id,
            member.role,
            t0(),
            "me",
            event(&org.id, "x"),
        )
        .await
        .unwrap();
    let gone = |r: Result<KeyRecord>| matches!(r, Err(StoreError::ActorInactive));
    let k = new_key(&org.id, KeyKind::Api, None, Scope::Organization);
    assert!(gone(
        store
            .create_key(k.clone(), acting(&org.id, &token.id, t0()))
            .await
    ));
    assert!(store.find_key_by_hash(&k.hash).await.unwrap().is_none());
    let ws = Resource {
        id: ids::new_id("ws"),
        name: "late".into(),
        created_at: t0(),
    };
    assert!(matches!(
        store
            .create_resource(
                ResourceKind::Workspace,
                &org.id,
                &ws,
                acting(&org.id, &token.id, t0())
            )
            .await,
        Err(StoreError::ActorInactive)
    ));

    // A change authorized with a role the person no longer has writes nothing.
    let (_, still) = join(store.as_ref(), &org.id, "demoted@example.com").await;
    let mut as_admin = acting(&org.id, &still.id, t0());
    let authority = |role| Authority {
        role: Some(role),
        permissions: PermissionSet::all(),
        scope: Scope::Organization,
        rotated: false,
    };
    as_admin.actor.authority = Some(authority(keyward_core::Role::OrgAdmin));
    assert!(matches!(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                as_admin
            )
            .await,
        Err(StoreError::ActorChanged)
    ));
    // The same for a key whose grants were narrowed meanwhile.
    let mut narrowed = acting(&org.id, &still.id, t0());
    narrowed.actor.authority = Some(Authority {
        permissions: PermissionSet::read_only(),
        ..authority(keyward_core::Role::Member)
    });
    assert!(matches!(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                narrowed
            )
            .await,
        Err(StoreError::ActorChanged)
    ));
    // A key rotated after the request was authorized: it no longer mints.
    let mut replacement = new_key(
        &org.id,
        KeyKind::Personal,
        user(still.owner.as_ref().unwrap().id()),
        Scope::Organization,
    );
    replacement.rotated_from = Some(still.id.clone());
    replacement.owner = still.owner.clone();
    store
        .rotate_key(Rotation {
            org_id: org.id.clone(),
            old_id: still.id.clone(),
            replacement: NewKey {
                permissions: still.permissions.clone(),
                ..replacement
            },
            old_ends_at: t0() + Duration::hours(1),
            revoke_old: false,
            revoked_by: "me".into(),
            audit: vec![event(&org.id, "key.rotate")],
        })
        .await
        .unwrap();
    let mut before_rotation = acting(&org.id, &still.id, t0());
    before_rotation.actor.authority = Some(authority(keyward_core::Role::Member));
    assert!(matches!(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                before_rotation
            )
            .await,
        Err(StoreError::ActorChanged)
    ));
    let mut as_member = acting(&org.id, &still.id, t0());
    as_member.actor.authority = Some(Authority {
        rotated: true,
        ..authority(keyward_core::Role::Member)
    });
    store
        .create_key(
            new_key(&org.id, KeyKind::Api, None, Scope::Organization),
            as_member,
        )
        .await
        .unwrap();

    // Switched off or expired keys cannot write either.
    let mut off = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    off.enabled = false;
    store
        .create_key(off.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    assert!(gone(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                acting(&org.id, &off.id, t0())
            )
            .await
    ));
    let mut short = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    short.expires_at = Some(t0() + Duration::minutes(1));
    store
        .create_key(short.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    assert!(gone(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                acting(&org.id, &short.id, t0() + Duration::minutes(2))
            )
            .await
    ));

    // A key of a deleted organization can do nothing, and the organization stays deleted.
    let owner_key = working_keys(
        store.as_ref(),
        &org.id,
        KeyFilter {
            owner_user: Some(org.owner.clone()),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .find(|k| k.enabled && k.expires_at.is_none())
    .unwrap();
    store
        .delete_org(&org.id, t0(), "me", event(&org.id, "org.delete"))
        .await
        .unwrap();
    assert!(gone(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                acting(&org.id, &owner_key.id, t0())
            )
            .await
    ));
    assert!(matches!(
        store.get_org(&org.id).await,
        Err(StoreError::NotFound)
    ));
}

/// Whoever creates it, a key is inserted only while its organization, owner, service
/// account, channel, workspace and agent all exist.
async fn new_keys_need_everything_they_refer_to(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let (member, _) = join(store.as_ref(), &org.id, "gone@example.com").await;
    store
        .remove_member(
            &org.id,
            &member.user_id,
            member.role,
            t0(),
            "me",
            event(&org.id, "x"),
        )
        .await
        .unwrap();
    let gone = |r: Result<KeyRecord>, what: &str| match r {
        Err(StoreError::Gone(w)) if w == what => {}
        other => panic!("expected the {what} to be gone, got {other:?}"),
    };
    gone(
        store
            .create_key(
                new_key(
                    &org.id,
                    KeyKind::Personal,
                    user(&member.user_id),
                    Scope::Organization,
                ),
                event(&org.id, "key.create"),
            )
            .await,
        "member",
    );
    let sa = service_account(store.as_ref(), &org.id).await;
    store
        .delete_service_account(&org.id, &sa.id, t0(), "me", event(&org.id, "x"))
        .await
        .unwrap();
    gone(
        store
            .create_key(
                new_key(
                    &org.id,
                    KeyKind::ServiceAccount,
                    Some(Owner::ServiceAccount {
                        id: sa.id.clone(),
                        name: sa.name.clone(),
                    }),
                    Scope::Organization,
                ),
                event(&org.id, "key.create"),
            )
            .await,
        "service account",
    );
    let a = agent(store.as_ref(), &org.id).await;
    let c = channel(store.as_ref(), &org.id, &a).await;
    store
        .delete_channel(&org.id, &c.id, t0(), "me", event(&org.id, "x"))
        .await
        .unwrap();
    let mut token = new_key(
        &org.id,
        KeyKind::Channel,
        None,
        Scope::Agent { agent: a.clone() },
    );
    token.channel_id = Some(c.id.clone());
    gone(
        store.create_key(token, event(&org.id, "key.create")).await,
        "channel",
    );
    gone(
        store
            .create_key(
                new_key(
                    &org.id,
                    KeyKind::Api,
                    None,
                    Scope::Workspaces {
                        workspaces: vec!["ws_nope".into()],
                    },
                ),
                event(&org.id, "key.create"),
            )
            .await,
        "workspace",
    );
    gone(
        store
            .create_key(
                new_key(
                    &org.id,
                    KeyKind::Api,
                    None,
                    Scope::Agent {
                        agent: "agt_nope".into(),
                    },
                ),
                event(&org.id, "key.create"),
            )
            .await,
        "agent",
    );
    store
        .delete_org(&org.id, t0(), "me", event(&org.id, "org.delete"))
        .await
        .unwrap();
    gone(
        store
            .create_key(
                new_key(&org.id, KeyKind::Api, None, Scope::Organization),
                event(&org.id, "key.create"),
            )
            .await,
        "organization",
    );
}

/// 50 creates race each deletion (member removal with the member's own key, service
/// account and channel deletion by an admin, organization deletion): once the deletion
/// returned and the creates settled, none of what they made works.
async fn keys_created_while_their_owner_is_deleted_do_not_survive(store: Arc<dyn Store>) {
    let first = setup(store.as_ref()).await;
    for round in 0..3 {
        let org = another_org(store.as_ref(), &first.owner).await;
        set_limits(store.as_ref(), &org.id, 1_000_000, 25).await;
        let (member, token) = join(
            store.as_ref(),
            &org.id,
            &format!("racer{round}@example.com"),
        )
        .await;
        let sa = service_account(store.as_ref(), &org.id).await;
        let a = agent(store.as_ref(), &org.id).await;
        let c = channel(store.as_ref(), &org.id, &a).await;
        let mut tasks = vec![];
        for i in 0..50 {
            let store = store.clone();
            let (org_id, member_id, token_id) =
                (org.id.clone(), member.user_id.clone(), token.id.clone());
            let (sa, a, c) = (sa.clone(), a.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                let k = match i % 3 {
                    0 => new_key(
                        &org_id,
                        KeyKind::Personal,
                        user(&member_id),
                        Scope::Organization,
                    ),
                    1 => new_key(
                        &org_id,
                        KeyKind::ServiceAccount,
                        Some(Owner::ServiceAccount {
                            id: sa.id.clone(),
                            name: sa.name.clone(),
                        }),
                        Scope::Organization,
                    ),
                    _ => {
                        let mut k =
                            new_key(&org_id, KeyKind::Channel, None, Scope::Agent { agent: a });
                        k.channel_id = Some(c.id.clone());
                        k
                    }
                };
                let audit = if i % 3 == 0 {
                    acting(&org_id, &token_id, t0())
                } else {
                    event(&org_id, "key.create")
                };
                store.create_key(k, audit).await
            }));
        }
        tokio::task::yield_now().await;
        store
            .remove_member(
                &org.id,
                &member.user_id,
                member.role,
                t0(),
                "me",
                event(&org.id, "x"),
            )
            .await
            .unwrap();
        store
            .delete_service_account(&org.id, &sa.id, t0(), "me", event(&org.id, "x"))
            .await
            .unwrap();
        store
            .delete_channel(&org.id, &c.id, t0(), "me", event(&org.id, "x"))
            .await
            .unwrap();
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) | Err(StoreError::ActorInactive) | Err(StoreError::Gone(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        for filter in [
            KeyFilter {
                owner_user: Some(member.user_id.clone()),
                ..Default::default()
            },
            KeyFilter {
                service_account: Some(sa.id.clone()),
                ..Default::default()
            },
        ] {
            let left = working_keys(store.as_ref(), &org.id, filter).await;
            assert!(
                left.is_empty(),
                "round {round}: {} keys survived",
                left.len()
            );
        }
        let tokens: Vec<_> = working_keys(store.as_ref(), &org.id, KeyFilter::default())
            .await
            .into_iter()
            .filter(|k| k.channel_id.as_deref() == Some(c.id.as_str()))
            .collect();
        assert!(tokens.is_empty(), "round {round}: channel tokens survived");

        // The organization: creates with the owner's key race its deletion.
        let owner_key = working_keys(
            store.as_ref(),
            &org.id,
            KeyFilter {
                owner_user: Some(org.owner.clone()),
                ..Default::default()
            },
        )
        .await
        .remove(0);
        let mut tasks = vec![];
        for _ in 0..50 {
            let store = store.clone();
            let (org_id, key_id) = (org.id.clone(), owner_key.id.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .create_key(
                        new_key(&org_id, KeyKind::Api, None, Scope::Organization),
                        acting(&org_id, &key_id, t0()),
                    )
                    .await
            }));
        }
        tokio::task::yield_now().await;
        store
            .delete_org(&org.id, t0(), "me", event(&org.id, "org.delete"))
            .await
            .unwrap();
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) | Err(StoreError::ActorInactive) | Err(StoreError::Gone(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        let left = working_keys(store.as_ref(), &org.id, KeyFilter::default()).await;
        assert!(
            left.is_empty(),
            "round {round}: {} keys of a deleted organization work",
            left.len()
        );
    }
}

async fn rotating_a_replacement_ends_its_predecessors_grace(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let first = new_key(&org.id, KeyKind::Api, None, Scope::Organization);
    store
        .create_key(first.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let mut current = first.clone();
    let mut hashes = vec![first.hash];
    for step in 1..=5 {
        let mut replacement = new_key(&org.id, KeyKind::Api, None, Scope::Organization);
        replacement.rotated_from = Some(current.id.clone());
        replacement.created_at = t0() + Duration::minutes(step);
        let rotated = store
            .rotate_key(Rotation {
                org_id: org.id.clone(),
                old_id: current.id.clone(),
                replacement: replacement.clone(),
                old_ends_at: t0() + Duration::days(30),
                revoke_old: false,
                revoked_by: "me".into(),
                audit: vec![event(&org.id, "key.rotate")],
            })
            .await
            .unwrap();
        assert!(rotated.changed.contains(&current.hash), "step {step}");
        if step > 1 {
            // The key before the one rotated now was in grace: it ends now.
            assert!(
                rotated.changed.contains(&hashes[hashes.len() - 2]),
                "step {step}"
            );
        }
        hashes.push(replacement.hash);
        current = replacement;
    }
    let working: Vec<_> = working_keys(store.as_ref(), &org.id, KeyFilter::default())
        .await
        .into_iter()
        .filter(|k| k.kind == KeyKind::Api)
        .collect();
    // The latest key and the one it replaced (in grace); nothing older.
    assert_eq!(working.len(), 2, "{working:?}");
    let ended = store.find_key_by_hash(&first.hash).await.unwrap().unwrap();
    assert!(ended.revoked_at.is_some());
}

async fn organizations_per_person_are_capped_under_concurrency(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let mut tasks = vec![];
    for i in 0..20 {
        let store = store.clone();
        let owner = org.owner.clone();
        tasks.push(tokio::spawn(async move {
            let id = ids::new_id("org");
            store
                .create_org(
                    NewOrganization {
                        org: Organization {
                            id: id.clone(),
                            name: format!("org {i}"),
                            created_at: t0(),
                            settings: OrgSettings::default(),
                        },
                        owner_user_id: owner.clone(),
                        key: new_key(&id, KeyKind::Personal, user(&owner), Scope::Organization),
                        max_per_person: 3,
                    },
                    event(&id, "org.create"),
                )
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::LimitReached { max: 3, .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 3);
}

async fn invitations_are_redeemed_once_by_the_right_person(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let code = keyward_core::invite::InviteCode::generate();
    let stored = store
        .create_invitation(
            &invitation(&org.id, "new@example.com", &code),
            event(&org.id, "member.invite"),
        )
        .await
        .unwrap();
    assert_eq!(stored.status_at(t0()), InvitationStatus::Pending);
    let mut tasks = vec![];
    for _ in 0..10 {
        let store = store.clone();
        let (org_id, hash) = (org.id.clone(), code.hash());
        tasks.push(tokio::spawn(async move {
            store
                .accept_invitation(Acceptance {
                    code_hash: hash,
                    at: t0(),
                    invitee: Invitee::New {
                        user_id: ids::new_id("usr"),
                    },
                    key: new_key(&org_id, KeyKind::Personal, None, Scope::Organization),
                    audit: event(&org_id, "member.add"),
                })
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Accepted { member, key }) => {
                ok += 1;
                assert_eq!(member.email, "new@example.com");
                assert!(
                    matches!(&key.owner, Some(Owner::User { id, .. }) if *id == member.user_id)
                );
            }
            Err(StoreError::Conflict(Conflict::InvitationUsed | Conflict::IdentityRequired)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert!(store.list_invitations(&org.id).await.unwrap().is_empty());
    assert!(matches!(
        store
            .create_invitation(
                &invitation(
                    &org.id,
                    "new@example.com",
                    &keyward_core::invite::InviteCode::generate()
                ),
                event(&org.id, "member.invite"),
            )
            .await,
        Err(StoreError::Conflict(Conflict::AlreadyMember))
    ));

    // An existing person (the owner, invited to a second organization) must prove it.
    let other = ids::new_id("org");
    store
        .create_org(
            NewOrganization {
                org: Organization {
                    id: other.clone(),
                    name: "other".into(),
                    created_at: t0(),
                    settings: OrgSettings::default(),
                },
                owner_user_id: org.owner.clone(),
                key: new_key(
                    &other,
                    KeyKind::Personal,
                    user(&org.owner),
                    Scope::Organization,
                ),
                max_per_person: 10,
            },
            event(&other, "org.create"),
        )
        .await
        .unwrap();
    let (joiner, _) = join(store.as_ref(), &other, "joiner@example.com").await;
    let code = keyward_core::invite::InviteCode::generate();
    store
        .create_invitation(
            &invitation(&org.id, "joiner@example.com", &code),
            event(&org.id, "member.invite"),
        )
        .await
        .unwrap();
    let accept = |invitee: Invitee| Acceptance {
        code_hash: code.hash(),
        at: t0(),
        invitee,
        key: new_key(&org.id, KeyKind::Personal, None, Scope::Organization),
        audit: event(&org.id, "member.add"),
    };
    for wrong in [
        Invitee::New {
            user_id: ids::new_id("usr"),
        },
        Invitee::Existing {
            user_id: org.owner.clone(),
        },
    ] {
        assert!(matches!(
            store.accept_invitation(accept(wrong)).await,
            Err(StoreError::Conflict(Conflict::IdentityRequired))
        ));
    }
    let Accepted { member, .. } = store
        .accept_invitation(accept(Invitee::Existing {
            user_id: joiner.user_id.clone(),
        }))
        .await
        .unwrap();
    assert_eq!(member.user_id, joiner.user_id);

    // Expired, revoked, or issued by a key that stopped working: refused.
    let expired = keyward_core::invite::InviteCode::generate();
    store
        .create_invitation(
            &invitation(&org.id, "late@example.com", &expired),
            event(&org.id, "member.invite"),
        )
        .await
        .unwrap();
    let late = Acceptance {
        code_hash: expired.hash(),
        at: t0() + Duration::days(2),
        invitee: Invitee::New {
            user_id: ids::new_id("usr"),
        },
        key: new_key(&org.id, KeyKind::Personal, None, Scope::Organization),
        audit: event(&org.id, "member.add"),
    };
    assert!(matches!(
        store.accept_invitation(late).await,
        Err(StoreError::Conflict(Conflict::InvitationExpired))
    ));
    let inviter = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    store
        .create_key(inviter.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    let orphan = keyward_core::invite::InviteCode::generate();
    let mut inv = invitation(&org.id, "orphan@example.com", &orphan);
    inv.created_by_key = Some(inviter.id.clone());
    store
        .create_invitation(&inv, acting(&org.id, &inviter.id, t0()))
        .await
        .unwrap();
    store
        .revoke_key(
            &org.id,
            &inviter.id,
            t0(),
            "me",
            event(&org.id, "key.revoke"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .accept_invitation(Acceptance {
                code_hash: orphan.hash(),
                at: t0(),
                invitee: Invitee::New {
                    user_id: ids::new_id("usr"),
                },
                key: new_key(&org.id, KeyKind::Personal, None, Scope::Organization),
                audit: event(&org.id, "member.add"),
            })
            .await,
        Err(StoreError::Conflict(Conflict::InvitationExpired))
    ));
    // Revoking ends an invitation; a second revoke finds nothing.
    let revoked = keyward_core::invite::InviteCode::generate();
    let inv = invitation(&org.id, "maybe@example.com", &revoked);
    store
        .create_invitation(&inv, event(&org.id, "member.invite"))
        .await
        .unwrap();
    let done = store
        .revoke_invitation(&org.id, &inv.id, t0(), event(&org.id, "x"))
        .await
        .unwrap();
    assert_eq!(done.status_at(t0()), InvitationStatus::Revoked);
    assert!(matches!(
        store
            .revoke_invitation(&org.id, &inv.id, t0(), event(&org.id, "x"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn the_audit_log_can_show_only_events_about_a_persons_keys(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let (member, first) = join(store.as_ref(), &org.id, "dev@example.com").await;
    let theirs = new_key(
        &org.id,
        KeyKind::Personal,
        user(&member.user_id),
        Scope::Organization,
    );
    let mine = new_key(
        &org.id,
        KeyKind::Personal,
        user(&org.owner),
        Scope::Organization,
    );
    for k in [&theirs, &mine] {
        store
            .create_key(
                (*k).clone(),
                NewAuditEvent {
                    target_type: "key".into(),
                    target_id: k.id.clone(),
                    ..event(&org.id, "key.create")
                },
            )
            .await
            .unwrap();
    }
    let page = store
        .list_audit(
            &org.id,
            &AuditFilter {
                keys: Some(KeyFilter {
                    owner_user: Some(member.user_id.clone()),
                    ..Default::default()
                }),
            },
            &PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap();
    let targets: Vec<_> = page.items.iter().map(|e| e.target.id.as_str()).collect();
    assert_eq!(targets, vec![theirs.id.as_str()]);
    let _ = first;
    let all = store
        .list_audit(
            &org.id,
            &AuditFilter::default(),
            &PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert!(all.items.iter().any(|e| e.target.id == mine.id));
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

/// A member whose role changed after the caller read it, and a key edited after the
/// rotating caller read it, are not acted on from the stale copy.
async fn changes_to_something_that_changed_meanwhile_are_refused(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let (member, _) = join(store.as_ref(), &org.id, "promoted@example.com").await;
    let promoted = Member {
        role: keyward_core::Role::OrgAdmin,
        ..member.clone()
    };
    store
        .update_member(
            &org.id,
            &promoted,
            keyward_core::Role::Member,
            event(&org.id, "x"),
        )
        .await
        .unwrap();
    // Someone who saw them as a member acts on the stale role: refused.
    for result in [
        store
            .remove_member(
                &org.id,
                &member.user_id,
                keyward_core::Role::Member,
                t0(),
                "me",
                event(&org.id, "x"),
            )
            .await
            .map(drop),
        store
            .update_member(
                &org.id,
                &member,
                keyward_core::Role::Member,
                event(&org.id, "x"),
            )
            .await
            .map(drop),
    ] {
        assert!(
            matches!(
                result,
                Err(StoreError::Conflict(Conflict::ChangedMeanwhile))
            ),
            "{result:?}"
        );
    }
    assert_eq!(
        store
            .get_member(&org.id, &member.user_id)
            .await
            .unwrap()
            .unwrap()
            .role,
        keyward_core::Role::OrgAdmin
    );

    let key = new_key(&org.id, KeyKind::Api, None, Scope::Organization);
    store
        .create_key(key.clone(), event(&org.id, "key.create"))
        .await
        .unwrap();
    store
        .update_key(
            &org.id,
            &key.id,
            &KeyPatch {
                permissions: Some(PermissionSet::read_only()),
                enabled: Some(false),
                ..Default::default()
            },
            event(&org.id, "key.update"),
        )
        .await
        .unwrap();
    // The rotating caller read the key before the edit: its replacement copies the
    // old grants and switch, which are no longer the key's.
    let mut replacement = new_key(&org.id, KeyKind::Api, None, Scope::Organization);
    replacement.rotated_from = Some(key.id.clone());
    let result = store
        .rotate_key(Rotation {
            org_id: org.id.clone(),
            old_id: key.id.clone(),
            replacement,
            old_ends_at: t0(),
            revoke_old: true,
            revoked_by: "me".into(),
            audit: vec![event(&org.id, "key.rotate")],
        })
        .await;
    assert!(
        matches!(
            result,
            Err(StoreError::Conflict(Conflict::ChangedMeanwhile))
        ),
        "{result:?}"
    );
    let still = store.find_key_by_hash(&key.hash).await.unwrap().unwrap();
    assert!(still.revoked_at.is_none() && still.rotated_to.is_none());
}

/// A key's owner name is stored with the key (verify answers it without a join): renaming
/// the service account renames it on every one of its keys, in the same change.
async fn renaming_a_service_account_renames_its_keys_owner(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let sa = service_account(store.as_ref(), &org.id).await;
    let other = service_account(store.as_ref(), &org.id).await;
    let filter = |id: &str| KeyFilter {
        service_account: Some(id.to_owned()),
        ..KeyFilter::default()
    };
    let keys = working_keys(store.as_ref(), &org.id, filter(&sa.id)).await;
    assert_eq!(keys.len(), 1);
    let renamed = ServiceAccount {
        name: "deploy bot".into(),
        ..sa.clone()
    };
    let updated = store
        .update_service_account(&org.id, &renamed, event(&org.id, "service_account.update"))
        .await
        .unwrap();
    assert_eq!(updated.name, "deploy bot");
    let found = store
        .find_key_by_hash(&keys[0].hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.owner,
        Some(Owner::ServiceAccount {
            id: sa.id.clone(),
            name: "deploy bot".into(),
        })
    );
    assert_eq!(
        store.get_key(&org.id, &keys[0].id).await.unwrap().owner,
        found.owner
    );
    // The other account's keys keep their owner's name.
    for k in working_keys(store.as_ref(), &org.id, filter(&other.id)).await {
        assert_eq!(
            k.owner,
            Some(Owner::ServiceAccount {
                id: other.id.clone(),
                name: other.name.clone(),
            })
        );
    }
}
