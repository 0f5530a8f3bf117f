//! CLI logins: approved for a member, redeemed once with the right verifier for a token
//! of that person, never after expiry, too many wrong verifiers, or the person's
//! removal.

use super::*;
use keyward_core::invite::CliLoginCode;
use keyward_core::pkce::{CodeChallenge, CodeVerifier};

struct Approved {
    code: CliLoginCode,
    verifier: CodeVerifier,
    login: CliLogin,
}

fn new_login(org: &str, user: &str, code: &CliLoginCode, verifier: &CodeVerifier) -> NewCliLogin {
    NewCliLogin {
        id: ids::new_id("cli"),
        org_id: org.to_owned(),
        user_id: user.to_owned(),
        code_hash: code.hash(),
        code_challenge: verifier.challenge(),
        machine: "build-box".into(),
        permissions: PermissionSet::read_only(),
        token_lifetime: Some(Duration::days(90)),
        created_at: t0(),
        expires_at: t0() + Duration::minutes(5),
    }
}

async fn approve(store: &dyn Store, org: &str, user: &str) -> Approved {
    let (code, verifier) = (CliLoginCode::generate(), CodeVerifier::generate());
    let login = store
        .create_cli_login(
            new_login(org, user, &code, &verifier),
            event(org, "cli_login.approve"),
        )
        .await
        .unwrap();
    assert_eq!((login.used_at, login.failed_attempts), (None, 0));
    Approved {
        code,
        verifier,
        login,
    }
}

async fn redeem_with(
    store: &dyn Store,
    code: &CliLoginCode,
    presented: CodeChallenge,
    at: DateTime<Utc>,
) -> Result<CliRedeemed> {
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    store
        .redeem_cli_login(CliRedemption {
            code_hash: code.hash(),
            presented,
            at,
            token: FreshKey::of(&plain),
            source_ip: Some("127.0.0.1".into()),
        })
        .await
}

async fn redeem(store: &dyn Store, a: &Approved, at: DateTime<Utc>) -> Result<CliRedeemed> {
    redeem_with(store, &a.code, a.verifier.challenge(), at).await
}

fn wrong() -> CodeChallenge {
    CodeVerifier::generate().challenge()
}

pub(crate) async fn a_cli_login_is_redeemed_once_for_a_token_of_its_person(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (member, _) = join(s, &org.id, "dev@example.com").await;
    let a = approve(s, &org.id, &member.user_id).await;
    assert_eq!(a.login.machine, "build-box");
    assert_eq!(a.login.code_challenge, a.verifier.challenge());
    // A wrong verifier changes nothing but the count; the right one still works.
    let at = t0() + Duration::minutes(1);
    for _ in 0..2 {
        let r = redeem_with(s, &a.code, wrong(), at).await;
        assert!(
            matches!(
                r,
                Err(StoreError::Conflict(Conflict::LoginVerifierMismatch))
            ),
            "{r:?}"
        );
    }
    let unknown = redeem_with(s, &CliLoginCode::generate(), a.verifier.challenge(), at).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    let done = redeem(s, &a, at).await.unwrap();
    let key = &done.key;
    assert_eq!(key.kind, KeyKind::Personal);
    assert_eq!(key.org_id, org.id);
    assert_eq!(key.name, "keyward CLI on build-box");
    assert_eq!(key.permissions, PermissionSet::read_only());
    assert_eq!(key.expires_at, Some(at + Duration::days(90)));
    assert_eq!(key.created_by, "dev@example.com");
    assert_eq!(key.created_at, at);
    assert!(matches!(&key.owner, Some(Owner::User { id, name })
        if *id == member.user_id && name == "dev@example.com"));
    assert_eq!(done.login.used_at, Some(at));
    assert_eq!(done.login.key_id.as_deref(), Some(key.id.as_str()));
    assert_eq!(done.login.failed_attempts, 2);
    let found = store.find_key_by_hash(&key.hash).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    let theirs = working_keys(
        s,
        &org.id,
        KeyFilter {
            owner_user: Some(member.user_id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(theirs.iter().any(|k| k.id == key.id));

    // Once only, whatever the verifier.
    for presented in [a.verifier.challenge(), wrong()] {
        let again = redeem_with(s, &a.code, presented.clone(), at).await;
        let expected = if presented == a.verifier.challenge() {
            Conflict::LoginCodeUsed
        } else {
            Conflict::LoginVerifierMismatch
        };
        assert!(
            matches!(again, Err(StoreError::Conflict(c)) if c == expected),
            "{again:?}"
        );
    }

    // Audited as the person, saying how.
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let audit = store
        .list_audit(&org.id, &AuditFilter::default(), &page)
        .await
        .unwrap();
    let created = &audit.items[0];
    assert_eq!(created.action, "key.create");
    assert_eq!(created.target.id, key.id);
    assert_eq!(created.actor.id.as_deref(), Some(member.user_id.as_str()));
    assert_eq!(created.actor.name, "dev@example.com");
    assert_eq!(created.details["via"], "cli_login");
    assert_eq!(created.details["cli_login"], a.login.id.as_str());
    assert_eq!(created.details["machine"], "build-box");
    assert_eq!(created.source_ip.as_deref(), Some("127.0.0.1"));
    let creations = audit.items.iter().filter(|e| e.target.id == key.id).count();
    assert_eq!(creations, 1);
}

pub(crate) async fn a_cli_login_is_redeemed_once_under_concurrency(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let a = Arc::new(approve(store.as_ref(), &org.id, &org.owner).await);
    let mut tasks = vec![];
    for _ in 0..20 {
        let (store, a) = (store.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            redeem(store.as_ref(), &a, t0()).await.map(|r| r.key.id)
        }));
    }
    let mut winners = vec![];
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(StoreError::Conflict(Conflict::LoginCodeUsed)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let named = working_keys(store.as_ref(), &org.id, KeyFilter::default())
        .await
        .into_iter()
        .filter(|k| k.name == "keyward CLI on build-box")
        .map(|k| k.id)
        .collect::<Vec<_>>();
    assert_eq!(named, winners);
}

pub(crate) async fn a_cli_login_expires_and_wrong_verifiers_end_it(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let a = approve(s, &org.id, &org.owner).await;
    let r = redeem(s, &a, a.login.expires_at).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::LoginCodeExpired))),
        "{r:?}"
    );
    // Just before its end it still works.
    let just_before = a.login.expires_at - Duration::milliseconds(1);
    redeem(s, &a, just_before).await.unwrap();

    let b = approve(s, &org.id, &org.owner).await;
    for _ in 0..CLI_LOGIN_MAX_FAILED_ATTEMPTS {
        let r = redeem_with(s, &b.code, wrong(), t0()).await;
        assert!(
            matches!(
                r,
                Err(StoreError::Conflict(Conflict::LoginVerifierMismatch))
            ),
            "{r:?}"
        );
    }
    let r = redeem(s, &b, t0()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::LoginCodeExpired))),
        "{r:?}"
    );

    // A login that never expires makes a token that never does.
    let (code, verifier) = (CliLoginCode::generate(), CodeVerifier::generate());
    let forever = NewCliLogin {
        token_lifetime: None,
        permissions: PermissionSet::all(),
        ..new_login(&org.id, &org.owner, &code, &verifier)
    };
    store
        .create_cli_login(forever, event(&org.id, "cli_login.approve"))
        .await
        .unwrap();
    let done = redeem_with(s, &code, verifier.challenge(), t0())
        .await
        .unwrap();
    assert_eq!(done.key.expires_at, None);
    assert_eq!(done.key.permissions, PermissionSet::all());
}

pub(crate) async fn a_cli_login_needs_the_membership_at_approval_and_redemption(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let s = store.as_ref();
    let (code, verifier) = (CliLoginCode::generate(), CodeVerifier::generate());
    let other = another_org(s, &org.owner).await;
    let (member, _) = join(s, &org.id, "dev@example.com").await;
    let outsider = new_login(&other.id, &member.user_id, &code, &verifier);
    let r = store
        .create_cli_login(outsider, event(&other.id, "x"))
        .await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
    let nobody = new_login(&org.id, "usr_nobody", &code, &verifier);
    let r = store.create_cli_login(nobody, event(&org.id, "x")).await;
    assert!(matches!(r, Err(StoreError::Gone("user"))), "{r:?}");
    let gone = new_login("org_gone", &org.owner, &code, &verifier);
    let r = store.create_cli_login(gone, event("org_gone", "x")).await;
    assert!(matches!(r, Err(StoreError::Gone("organization"))), "{r:?}");

    // Removed between approval and redemption: no token.
    let a = approve(s, &org.id, &member.user_id).await;
    let audit = event(&org.id, "member.remove");
    let role = keyward_core::Role::Member;
    store
        .remove_member(&org.id, &member.user_id, role, t0(), "me", audit)
        .await
        .unwrap();
    let r = redeem(s, &a, t0()).await;
    assert!(matches!(r, Err(StoreError::Gone("membership"))), "{r:?}");
    let theirs = working_keys(
        s,
        &org.id,
        KeyFilter {
            owner_user: Some(member.user_id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(theirs.is_empty(), "{theirs:?}");

    // A full organization makes no token, and the code is not spent by trying.
    let b = approve(s, &other.id, &org.owner).await;
    let count = working_keys(s, &other.id, KeyFilter::default()).await.len() as u32;
    set_limits(s, &other.id, count, 25).await;
    let r = redeem(s, &b, t0()).await;
    assert!(matches!(r, Err(StoreError::LimitReached { .. })), "{r:?}");
    set_limits(s, &other.id, count + 1, 25).await;
    redeem(s, &b, t0()).await.unwrap();

    // Nor after the organization's deletion.
    let c = approve(s, &other.id, &org.owner).await;
    store
        .delete_org(&other.id, t0(), "me", event(&other.id, "org.delete"))
        .await
        .unwrap();
    let r = redeem(s, &c, t0()).await;
    assert!(matches!(r, Err(StoreError::Gone("organization"))), "{r:?}");
}
