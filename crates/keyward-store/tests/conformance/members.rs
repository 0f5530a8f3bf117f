//! Members and invitations.

use super::*;

pub(crate) async fn last_owner_cannot_leave(store: Arc<dyn Store>) {
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

pub(crate) async fn invitations_are_redeemed_once_by_the_right_person(store: Arc<dyn Store>) {
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
                    key: Some(new_key(
                        &org_id,
                        KeyKind::Personal,
                        None,
                        Scope::Organization,
                    )),
                    password_hash: None,
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
                    matches!(&key.unwrap().owner, Some(Owner::User { id, .. }) if *id == member.user_id)
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
        key: Some(new_key(
            &org.id,
            KeyKind::Personal,
            None,
            Scope::Organization,
        )),
        password_hash: None,
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
        key: Some(new_key(
            &org.id,
            KeyKind::Personal,
            None,
            Scope::Organization,
        )),
        password_hash: None,
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
                key: Some(new_key(
                    &org.id,
                    KeyKind::Personal,
                    None,
                    Scope::Organization
                )),
                password_hash: None,
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
