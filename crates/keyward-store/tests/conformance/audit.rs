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
