//! What a key refers to (owner, channel, workspace, agent, organization): it must exist when the key is made, and its deletion revokes the key.

use super::*;

/// Whoever creates it, a key is inserted only while its organization, owner, service
/// account, channel, workspace and agent all exist.
pub(crate) async fn new_keys_need_everything_they_refer_to(store: Arc<dyn Store>) {
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
pub(crate) async fn keys_created_while_their_owner_is_deleted_do_not_survive(
    store: Arc<dyn Store>,
) {
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

pub(crate) async fn cascading_revocations_return_the_hashes(store: Arc<dyn Store>) {
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
