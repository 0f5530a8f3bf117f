//! Organizations, bootstrap, workspaces and agents, service accounts.

use super::*;

pub(crate) async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.organization_count().await.unwrap(), 0);
}

pub(crate) async fn bootstrap_happens_once_even_when_racing(store: Arc<dyn Store>) {
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

pub(crate) async fn resources_in_use_cannot_be_deleted(store: Arc<dyn Store>) {
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

pub(crate) async fn organizations_per_person_are_capped_under_concurrency(store: Arc<dyn Store>) {
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

/// A key's owner name is stored with the key (verify answers it without a join): renaming
/// the service account renames it on every one of its keys, in the same change.
pub(crate) async fn renaming_a_service_account_renames_its_keys_owner(store: Arc<dyn Store>) {
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
