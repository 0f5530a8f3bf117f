//! The audit log.

use super::*;

pub(crate) async fn audit_pages_newest_first(store: Arc<dyn Store>) {
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

pub(crate) async fn the_audit_log_can_show_only_events_about_a_persons_keys(store: Arc<dyn Store>) {
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
                ..Default::default()
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

pub(crate) async fn the_audit_log_filters_by_actor_action_target_and_time_and_pages_both_ways(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let o = store.get_org(&org.id).await.unwrap();
    // Ten events a minute apart, by two actors, about two targets, of two actions.
    for i in 0..10i64 {
        let mut e = event(
            &org.id,
            if i % 2 == 0 {
                "channel.create"
            } else {
                "channel.delete"
            },
        );
        e.at = t0() + chrono::Duration::minutes(i);
        e.actor.name = if i < 5 {
            "ann@example.com".into()
        } else {
            "bob@example.com".into()
        };
        e.target_type = "channel".into();
        e.target_id = format!("ch_{}", i % 3);
        store.update_org(&o, e).await.unwrap();
    }
    let page = |limit| PageRequest {
        limit,
        cursor: None,
    };
    let list = |filter: AuditFilter, p: PageRequest| {
        let store = store.clone();
        let org = org.id.clone();
        async move { store.list_audit(&org, &filter, &p).await.unwrap() }
    };
    let bob = list(
        AuditFilter {
            actor: Some("bob@example.com".into()),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert_eq!(bob.items.len(), 5);
    let deletes = list(
        AuditFilter {
            action: Some(TextMatch::Exact("channel.delete".into())),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert_eq!(deletes.items.len(), 5);
    let channels = list(
        AuditFilter {
            action: Some(TextMatch::Prefix("channel.".into())),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert_eq!(channels.items.len(), 10);
    let none = list(
        AuditFilter {
            action: Some(TextMatch::Prefix("channel.x".into())),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert!(none.items.is_empty());
    let one_target = list(
        AuditFilter {
            target: Some("ch_0".into()),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert_eq!(one_target.items.len(), 4, "0, 3, 6, 9");
    let by_type = list(
        AuditFilter {
            target: Some("channel".into()),
            ..Default::default()
        },
        page(100),
    )
    .await;
    assert_eq!(by_type.items.len(), 10);
    let window = list(
        AuditFilter {
            from: Some(t0() + chrono::Duration::minutes(2)),
            to: Some(t0() + chrono::Duration::minutes(5)),
            actor: Some("ann@example.com".into()),
            ..Default::default()
        },
        page(100),
    )
    .await;
    let ats: Vec<_> = window
        .items
        .iter()
        .map(|e| (e.at - t0()).num_minutes())
        .collect();
    assert_eq!(
        ats,
        vec![4, 3, 2],
        "newest first, from inclusive, to exclusive"
    );

    // Pages of 3 of the ten, older and then newer again.
    let filter = || AuditFilter {
        target: Some("channel".into()),
        ..Default::default()
    };
    let first = list(filter(), page(3)).await;
    let second = list(
        filter(),
        PageRequest {
            limit: 3,
            cursor: first.next_cursor.clone(),
        },
    )
    .await;
    let third = list(
        filter(),
        PageRequest {
            limit: 3,
            cursor: second.next_cursor.clone(),
        },
    )
    .await;
    let minutes = |p: &Page<AuditEvent>| {
        p.items
            .iter()
            .map(|e| (e.at - t0()).num_minutes())
            .collect::<Vec<_>>()
    };
    assert_eq!(minutes(&first), vec![9, 8, 7]);
    assert_eq!(minutes(&second), vec![6, 5, 4]);
    assert_eq!(minutes(&third), vec![3, 2, 1]);
    let back = list(
        AuditFilter {
            newer_than: Some(third.items[0].id),
            ..filter()
        },
        page(3),
    )
    .await;
    assert_eq!(minutes(&back), minutes(&second));
    assert_eq!(
        back.next_cursor,
        Some(second.items[0].id.to_string()),
        "newer ones remain"
    );
    let top = list(
        AuditFilter {
            newer_than: back.next_cursor.as_ref().map(|c| c.parse().unwrap()),
            ..filter()
        },
        page(3),
    )
    .await;
    assert_eq!(minutes(&top), vec![9, 8, 7]);
    assert_eq!(top.next_cursor, None, "the newest page");
    let both = store
        .list_audit(
            &org.id,
            &AuditFilter {
                newer_than: Some(1),
                ..Default::default()
            },
            &PageRequest {
                limit: 3,
                cursor: Some("5".into()),
            },
        )
        .await;
    assert!(matches!(both, Err(StoreError::InvalidInput(_))));
}
