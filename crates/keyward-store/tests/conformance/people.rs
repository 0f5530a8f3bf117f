//! People's console credentials: password links, passwords and sessions.

use super::*;

fn token() -> KeyHash {
    KeyHash::of(&ids::new_id("tok"))
}

fn link(org: &str, user: &str, purpose: PasswordPurpose, hash: &KeyHash) -> NewPasswordLink {
    NewPasswordLink {
        id: ids::new_id("pwl"),
        user_id: user.to_owned(),
        org_id: org.to_owned(),
        purpose,
        token_hash: *hash,
        created_at: t0(),
        expires_at: t0() + Duration::hours(1),
        created_by: "operator".into(),
    }
}

async fn issue(store: &dyn Store, org: &str, user: &str, purpose: PasswordPurpose) -> KeyHash {
    let hash = token();
    let stored = store
        .create_password_link(link(org, user, purpose, &hash), event(org, "password.link"))
        .await
        .unwrap();
    assert_eq!((stored.purpose, stored.used_at), (purpose, None));
    hash
}

fn new_session(org: &str, user: &str, at: DateTime<Utc>) -> (NewSession, KeyHash) {
    let hash = token();
    let s = NewSession {
        id: ids::new_id("ses"),
        token_hash: hash,
        user_id: user.to_owned(),
        org_id: org.to_owned(),
        created_at: at,
        idle_timeout: Duration::minutes(30),
        absolute_expires_at: at + Duration::hours(12),
        user_agent: Some("test".into()),
        ip: Some("192.0.2.1".into()),
    };
    (s, hash)
}

async fn session(store: &dyn Store, org: &str, user: &str, at: DateTime<Utc>) -> Session {
    store
        .create_session(new_session(org, user, at).0)
        .await
        .unwrap()
}

async fn redeem(store: &dyn Store, hash: &KeyHash, at: DateTime<Utc>) -> Result<Redeemed> {
    store
        .redeem_password_link(hash, "$argon2id$v=19$x", at, None)
        .await
}

pub(crate) async fn only_the_newest_password_link_works_until_it_expires(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let older = issue(s, &org.id, &org.owner, PasswordPurpose::Setup).await;
    let reset = issue(s, &org.id, &org.owner, PasswordPurpose::Reset).await;
    let newest = issue(s, &org.id, &org.owner, PasswordPurpose::Setup).await;
    assert!(matches!(
        redeem(s, &older, t0()).await,
        Err(StoreError::Conflict(Conflict::LinkUsed))
    ));
    assert!(matches!(
        redeem(s, &token(), t0()).await,
        Err(StoreError::NotFound)
    ));
    let late = t0() + Duration::hours(1);
    assert!(matches!(
        redeem(s, &newest, late).await,
        Err(StoreError::Conflict(Conflict::LinkExpired))
    ));
    let none = store.find_credentials("owner@example.com").await.unwrap();
    assert_eq!(none.unwrap().password_hash, None);
    let done = redeem(s, &newest, t0() + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        done,
        Redeemed {
            user_id: org.owner.clone(),
            org_id: org.id.clone(),
            purpose: PasswordPurpose::Setup
        }
    );
    assert!(matches!(
        redeem(s, &newest, t0()).await,
        Err(StoreError::Conflict(Conflict::LinkUsed))
    ));
    // Setting the password ended every other unused link of the person, the reset link
    // too: no older link may set another password.
    assert!(matches!(
        redeem(s, &reset, t0() + Duration::minutes(6)).await,
        Err(StoreError::Conflict(Conflict::LinkUsed))
    ));
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let audit = store
        .list_audit(&org.id, &AuditFilter::default(), &page)
        .await
        .unwrap();
    let actions: Vec<_> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions[0], "password.set");
    assert!(!actions.contains(&"password.reset"));
    assert_eq!(audit.items[0].actor.id.as_deref(), Some(org.owner.as_str()));
    assert_eq!(audit.items[0].actor.name, "owner@example.com");
}

pub(crate) async fn password_links_need_a_member_and_credentials_match_exactly(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let nobody = link(&org.id, "usr_nobody", PasswordPurpose::Setup, &token());
    let r = store
        .create_password_link(nobody, event(&org.id, "x"))
        .await;
    assert!(matches!(r, Err(StoreError::Gone("user"))), "{r:?}");
    let other = another_org(s, &org.owner).await;
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let outsider = link(&other.id, &member.user_id, PasswordPurpose::Setup, &token());
    let r = store
        .create_password_link(outsider, event(&other.id, "x"))
        .await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
    let gone = link("org_gone", &org.owner, PasswordPurpose::Setup, &token());
    let r = store
        .create_password_link(gone, event("org_gone", "x"))
        .await;
    assert!(matches!(r, Err(StoreError::Gone("organization"))), "{r:?}");

    let hash = issue(s, &org.id, &member.user_id, PasswordPurpose::Setup).await;
    redeem(s, &hash, t0()).await.unwrap();
    let found = store
        .find_credentials("m@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, member.user_id);
    assert_eq!(found.email, "m@example.com");
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$v=19$x"));
    assert!(!format!("{found:?}").contains("argon2id"));
    assert!(store
        .find_credentials("M@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_credentials("nobody@example.com")
        .await
        .unwrap()
        .is_none());

    // A link of an organization the person has left no longer works.
    let hash = issue(s, &org.id, &member.user_id, PasswordPurpose::Reset).await;
    let role = keyward_core::Role::Member;
    let audit = event(&org.id, "member.remove");
    store
        .remove_member(&org.id, &member.user_id, role, t0(), "me", audit)
        .await
        .unwrap();
    let r = redeem(s, &hash, t0()).await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
}

pub(crate) async fn a_password_link_is_redeemed_once_under_concurrency(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let hash = issue(store.as_ref(), &org.id, &org.owner, PasswordPurpose::Reset).await;
    let mut tasks = vec![];
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let password = format!("$argon2id$v=19${i}");
            store
                .redeem_password_link(&hash, &password, t0(), None)
                .await
                .map(|_| password)
        }));
    }
    let mut winners = vec![];
    for t in tasks {
        match t.await.unwrap() {
            Ok(password) => winners.push(password),
            Err(StoreError::Conflict(Conflict::LinkUsed)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let found = store.find_credentials("owner@example.com").await.unwrap();
    assert_eq!(found.unwrap().password_hash.as_ref(), winners.first());
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let audit = store
        .list_audit(&org.id, &AuditFilter::default(), &page)
        .await
        .unwrap();
    let resets = audit.items.iter().filter(|e| e.action == "password.reset");
    assert_eq!(resets.count(), 1);
}

pub(crate) async fn redeeming_a_password_link_revokes_the_persons_sessions(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let other = another_org(s, &org.owner).await;
    let (first, first_hash) = new_session(&org.id, &org.owner, t0());
    store.create_session(first).await.unwrap();
    session(s, &other.id, &org.owner, t0()).await;
    assert_eq!(store.list_sessions(&org.owner).await.unwrap().len(), 2);
    // Their own reset (as the console's password change makes one).
    let hash = token();
    let own = NewPasswordLink {
        created_by: org.owner.clone(),
        ..link(&org.id, &org.owner, PasswordPurpose::Reset, &hash)
    };
    store
        .create_password_link(own, event(&org.id, "password.link"))
        .await
        .unwrap();
    let at = t0() + Duration::minutes(1);
    redeem(s, &hash, at).await.unwrap();
    assert!(store.list_sessions(&org.owner).await.unwrap().is_empty());
    let found = store.find_session(&first_hash).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at));
    assert!(!found.is_active_at(at));
}

pub(crate) async fn sessions_round_trip_and_need_a_membership(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (new, hash) = new_session(&org.id, &org.owner, t0());
    let created = store.create_session(new.clone()).await.unwrap();
    assert_eq!(
        (created.last_seen_at, created.idle_timeout),
        (t0(), Duration::minutes(30))
    );
    assert_eq!(created.user_agent.as_deref(), Some("test"));
    assert!(created.is_active_at(t0() + Duration::minutes(29)));
    assert!(!created.is_active_at(t0() + Duration::minutes(30)));
    let found = store.find_session(&hash).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert!(store.find_session(&token()).await.unwrap().is_none());
    // A duplicate token hash is refused.
    let dup = NewSession {
        id: ids::new_id("ses"),
        ..new
    };
    let r = store.create_session(dup).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::Duplicate))),
        "{r:?}"
    );

    let later = t0() + Duration::minutes(20);
    store.touch_session(&created.id, later).await.unwrap();
    store.touch_session(&created.id, t0()).await.unwrap();
    let found = store.find_session(&hash).await.unwrap().unwrap();
    assert_eq!(found.last_seen_at, later);
    assert!(found.is_active_at(t0() + Duration::minutes(45)));

    let newer = session(s, &org.id, &org.owner, t0() + Duration::minutes(1)).await;
    let listed: Vec<_> = store.list_sessions(&org.owner).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [newer.id.as_str(), created.id.as_str()]);

    // Switching needs a membership of the target organization.
    let other = another_org(s, &org.owner).await;
    let switched = store
        .switch_session_org(&created.id, &other.id)
        .await
        .unwrap();
    assert_eq!(switched.org_id, other.id);
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let r = store
        .create_session(new_session(&other.id, &member.user_id, t0()).0)
        .await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
    let theirs = session(s, &org.id, &member.user_id, t0()).await;
    let r = store.switch_session_org(&theirs.id, &other.id).await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
    let r = store.switch_session_org("ses_nope", &org.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = store
        .create_session(new_session("org_gone", &org.owner, t0()).0)
        .await;
    assert!(matches!(r, Err(StoreError::Gone("organization"))), "{r:?}");
}

pub(crate) async fn sessions_of_another_person_cannot_be_revoked(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let mine = session(s, &org.id, &org.owner, t0()).await;
    let theirs = session(s, &org.id, &member.user_id, t0()).await;
    assert!(!store
        .revoke_session(&org.owner, &theirs.id, t0())
        .await
        .unwrap());
    assert_eq!(
        store.list_sessions(&member.user_id).await.unwrap(),
        [theirs]
    );
    assert!(store
        .revoke_session(&org.owner, &mine.id, t0())
        .await
        .unwrap());
    assert!(!store
        .revoke_session(&org.owner, &mine.id, t0())
        .await
        .unwrap());
    assert!(store.list_sessions(&org.owner).await.unwrap().is_empty());
    let r = store.switch_session_org(&mine.id, &org.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

pub(crate) async fn signing_out_everywhere_keeps_the_current_session(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let current = session(s, &org.id, &org.owner, t0()).await;
    for _ in 0..3 {
        session(s, &org.id, &org.owner, t0()).await;
    }
    let theirs = session(s, &org.id, &member.user_id, t0()).await;
    let n = store
        .revoke_sessions(&org.owner, Some(&current.id), t0())
        .await;
    assert_eq!(n.unwrap(), 3);
    assert_eq!(store.list_sessions(&org.owner).await.unwrap(), [current]);
    assert_eq!(
        store.list_sessions(&member.user_id).await.unwrap(),
        [theirs]
    );
    assert_eq!(
        store.revoke_sessions(&org.owner, None, t0()).await.unwrap(),
        1
    );
    assert!(store.list_sessions(&org.owner).await.unwrap().is_empty());
}

pub(crate) async fn leaving_or_deleting_an_organization_revokes_its_sessions(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let other = another_org(s, &org.owner).await;
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let (member_new, member_hash) = new_session(&org.id, &member.user_id, t0());
    store.create_session(member_new).await.unwrap();
    let owner_here = session(s, &org.id, &org.owner, t0()).await;
    let owner_there = session(s, &other.id, &org.owner, t0()).await;

    let at = t0() + Duration::minutes(1);
    let role = keyward_core::Role::Member;
    let audit = event(&org.id, "member.remove");
    store
        .remove_member(&org.id, &member.user_id, role, at, "me", audit)
        .await
        .unwrap();
    let found = store.find_session(&member_hash).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at));
    assert_eq!(store.list_sessions(&org.owner).await.unwrap().len(), 2);

    let audit = event(&other.id, "org.delete");
    store.delete_org(&other.id, at, "me", audit).await.unwrap();
    assert_eq!(store.list_sessions(&org.owner).await.unwrap(), [owner_here]);
    let r = store.switch_session_org(&owner_there.id, &org.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

pub(crate) async fn an_admins_reset_link_works_only_for_a_person_of_that_organization_alone(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (member, _) = join(s, &org.id, "m@example.com").await;
    let by_admin = |hash: &KeyHash| NewPasswordLink {
        created_by: org.owner.clone(),
        ..link(&org.id, &member.user_id, PasswordPurpose::Reset, hash)
    };
    let first = token();
    store
        .create_password_link(by_admin(&first), event(&org.id, "password.link"))
        .await
        .unwrap();
    // Meanwhile the person founds an organization of their own.
    let theirs = another_org(s, &member.user_id).await;
    let r = redeem(s, &first, t0()).await;
    assert!(matches!(r, Err(StoreError::Forbidden(_))), "{r:?}");
    // Once that one is gone, a new link works again.
    store
        .delete_org(&theirs.id, t0(), "me", event(&theirs.id, "org.delete"))
        .await
        .unwrap();
    let second = token();
    store
        .create_password_link(by_admin(&second), event(&org.id, "password.link"))
        .await
        .unwrap();
    redeem(s, &second, t0()).await.unwrap();
}

pub(crate) async fn an_invitation_made_in_a_session_lasts_beyond_it_but_not_beyond_the_inviter(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    set_limits(s, &org.id, 100, 25).await;
    let (admin, _) = join(s, &org.id, "admin@example.com").await;
    let role = keyward_core::Role::Member;
    store
        .update_member(
            &org.id,
            &Member {
                role: keyward_core::Role::OrgAdmin,
                ..admin.clone()
            },
            role,
            event(&org.id, "member.update"),
        )
        .await
        .unwrap();
    let signed_in = session(s, &org.id, &admin.user_id, t0()).await;
    let invite = |email: &str| {
        let code = keyward_core::invite::InviteCode::generate();
        let inv = NewInvitation {
            created_by_key: Some(signed_in.id.clone()),
            ..invitation(&org.id, email, &code)
        };
        (inv, code)
    };
    let accept = |code: keyward_core::invite::InviteCode| Acceptance {
        code_hash: code.hash(),
        at: t0() + Duration::hours(2),
        invitee: Invitee::New {
            user_id: ids::new_id("usr"),
        },
        key: None,
        password_hash: Some("$argon2id$v=19$x".into()),
        audit: event(&org.id, "member.add"),
    };
    let (first, first_code) = invite("a@example.com");
    let (second, second_code) = invite("b@example.com");
    for inv in [&first, &second] {
        store
            .create_invitation(inv, event(&org.id, "member.invite"))
            .await
            .unwrap();
    }
    // The session ends (signed out, or idle for hours): its invitations still work.
    store
        .revoke_session(&admin.user_id, &signed_in.id, t0())
        .await
        .unwrap();
    let joined = store.accept_invitation(accept(first_code)).await.unwrap();
    assert_eq!(joined.member.email, "a@example.com");
    assert!(joined.key.is_none());
    // The inviter demoted: their invitations end.
    store
        .update_member(
            &org.id,
            &Member {
                role: keyward_core::Role::Member,
                ..admin.clone()
            },
            keyward_core::Role::OrgAdmin,
            event(&org.id, "member.update"),
        )
        .await
        .unwrap();
    let r = store.accept_invitation(accept(second_code)).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::InvitationExpired))),
        "{r:?}"
    );
}
