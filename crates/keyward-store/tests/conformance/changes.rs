//! Every change checks, inside its transaction, that what it was authorized with still holds; committed changes are announced on the change feed.

use super::*;

/// A request authenticated just before a deletion cannot write after it: the acting key
/// is checked inside every change, under the same serialization as the deletion.
pub(crate) async fn changes_made_with_a_key_that_stopped_working_write_nothing(
    store: Arc<dyn Store>,
) {
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
        org_id: Some(org.id.clone()),
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

/// A member whose role changed after the caller read it, and a key edited after the
/// rotating caller read it, are not acted on from the stale copy.
pub(crate) async fn changes_to_something_that_changed_meanwhile_are_refused(store: Arc<dyn Store>) {
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

/// PostgreSQL announces each committed change once,
/// and nothing for a change that did not commit.
pub(crate) async fn change_feed_announces_committed_changes(store: Arc<dyn Store>) {
    let mut feed = store
        .subscribe()
        .await
        .unwrap()
        .expect("this backend has a change feed");
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
