//! Keys: reading and paging, filters, revocation and rotation, the organization's limits.

use super::*;

pub(crate) async fn keys_round_trip_and_page(store: Arc<dyn Store>) {
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

pub(crate) async fn list_filters_by_owner_agent_and_service_account(store: Arc<dyn Store>) {
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
    let any = store
        .list_keys(&org.id, &KeyFilter::default(), &page)
        .await
        .unwrap();
    let one = KeyFilter {
        key: Some(any.items[0].id.clone()),
        ..KeyFilter::default()
    };
    assert_eq!(count(one).await, 1);
    let none = KeyFilter {
        key: Some(any.items[0].id.clone()),
        service_account: Some(sa.id.clone()),
        ..KeyFilter::default()
    };
    assert_eq!(
        count(none).await,
        usize::from(any.items[0].kind == KeyKind::ServiceAccount)
    );
}

pub(crate) async fn revoke_is_once_and_rotate_ends_the_old_key(store: Arc<dyn Store>) {
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

pub(crate) async fn org_key_limit_holds_under_200_concurrent_creates(store: Arc<dyn Store>) {
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
    let counts = store.key_counts(&org.id, None, t0()).await.unwrap();
    assert_eq!(
        counts.keys, 10,
        "what the forms are told is what the limit counted"
    );
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

pub(crate) async fn worker_key_limit_holds_under_concurrent_creates(store: Arc<dyn Store>) {
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
    let counts = store
        .key_counts(&org.id, Some(&org.owner), t0())
        .await
        .unwrap();
    assert_eq!(counts.worker_keys, vec![(ws, 5)]);
    assert_eq!(counts.keys, 1, "worker keys do not count against max_keys");
}

pub(crate) async fn key_counts_count_what_the_limits_count(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    set_limits(store.as_ref(), &org.id, 100, 25).await;
    let (ws_a, ws_b) = (
        workspace(store.as_ref(), &org.id).await,
        workspace(store.as_ref(), &org.id).await,
    );
    let agent = agent(store.as_ref(), &org.id).await;
    let ch = channel(store.as_ref(), &org.id, &agent).await;
    let create = |k: NewKey| {
        let store = store.clone();
        async move {
            let e = event(&k.org_id, "key.create");
            store.create_key(k, e).await.unwrap()
        }
    };
    let worker = |ws: &str, owner: &str, expires_at: Option<DateTime<Utc>>| NewKey {
        workspace_id: Some(ws.to_owned()),
        expires_at,
        ..new_key(&org.id, KeyKind::Worker, user(owner), Scope::Organization)
    };
    // Counted: the bootstrap token, an api key, an expired personal token.
    create(new_key(&org.id, KeyKind::Api, None, Scope::Organization)).await;
    create(NewKey {
        expires_at: Some(t0() + Duration::minutes(1)),
        ..new_key(
            &org.id,
            KeyKind::Personal,
            user(&org.owner),
            Scope::Organization,
        )
    })
    .await;
    // Not counted: a revoked key, a channel token.
    let revoked = create(new_key(&org.id, KeyKind::Api, None, Scope::Organization)).await;
    store
        .revoke_key(
            &org.id,
            &revoked.id,
            t0(),
            "test",
            event(&org.id, "key.revoke"),
        )
        .await
        .unwrap();
    create(NewKey {
        channel_id: Some(ch.id.clone()),
        ..new_key(&org.id, KeyKind::Channel, None, Scope::Agent { agent })
    })
    .await;
    // Worker keys: two in a, one in b, one in b that expires, and another person's.
    create(worker(&ws_a, &org.owner, None)).await;
    create(worker(&ws_a, &org.owner, None)).await;
    create(worker(&ws_b, &org.owner, None)).await;
    create(worker(&ws_b, &org.owner, Some(t0() + Duration::minutes(1)))).await;
    let later = t0() + Duration::hours(1);
    let counts = store
        .key_counts(&org.id, Some(&org.owner), later)
        .await
        .unwrap();
    let mut expected = vec![(ws_a.clone(), 2), (ws_b.clone(), 1)];
    expected.sort();
    assert_eq!(counts.keys, 3, "{counts:?}");
    assert_eq!(counts.worker_keys, expected);
    let before_expiry = store
        .key_counts(&org.id, Some(&org.owner), t0())
        .await
        .unwrap();
    assert!(before_expiry.worker_keys.contains(&(ws_b.clone(), 2)));
    let nobody = store
        .key_counts(&org.id, Some("usr_nobody"), later)
        .await
        .unwrap();
    assert!(nobody.worker_keys.is_empty());
    assert_eq!(nobody.keys, 3);
}

pub(crate) async fn rotating_a_replacement_ends_its_predecessors_grace(store: Arc<dyn Store>) {
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
