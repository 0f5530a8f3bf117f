//! The integrations vault's records: authorization states taken once, connections
//! written by code exchanges, one refresh lease at a time, outcomes written only by the
//! lease's holder, and the bookkeeping of key rotation.

use super::*;
use keyward_core::KeyHash;

fn dek(kek: &str, byte: u8) -> WrappedDek {
    WrappedDek {
        kek_id: kek.into(),
        bytes: vec![byte; 72],
    }
}

fn tokens(kek: &str, byte: u8, expires_at: Option<DateTime<Utc>>) -> SealedTokens {
    SealedTokens {
        dek: dek(kek, byte),
        access_token: Sealed(vec![byte; 40]),
        refresh_token: Some(Sealed(vec![byte.wrapping_add(1); 40])),
        token_type: "bearer".into(),
        expires_at,
    }
}

fn new_state(org: &str, connection: &str, state: &str) -> NewOAuthState {
    NewOAuthState {
        id: ids::new_id("ost"),
        state_hash: KeyHash::of(state),
        org_id: org.into(),
        provider: "gmail".into(),
        connection_id: connection.into(),
        connection_uid: ids::new_id("con"),
        workspace_id: None,
        redirect_uri: "https://app.example.com/cb".into(),
        hosted: false,
        scopes: vec!["https://www.googleapis.com/auth/gmail.readonly".into()],
        dek: dek("k1", 7),
        verifier: Some(Sealed(vec![9; 60])),
        actor: event(org, "x").actor,
        created_at: t0(),
        expires_at: t0() + Duration::minutes(10),
    }
}

async fn connected(store: &dyn Store, org: &str, id: &str, kek: &str) -> Connection {
    let state = new_state(org, id, &format!("state-{id}"));
    let state_id = state.id.clone();
    let pending = store
        .create_oauth_state(state, event(org, "connection.authorize"))
        .await
        .unwrap();
    assert_eq!(pending.status, ConnectionStatus::Pending);
    let grant = ConnectionGrant {
        state_id,
        uid: pending.uid.clone(),
        org_id: org.into(),
        id: id.into(),
        provider: "gmail".into(),
        workspace_id: None,
        scopes: vec!["s".into()],
        tokens: tokens(kek, 1, Some(t0() + Duration::hours(1))),
        at: t0(),
    };
    store
        .grant_connection(grant, event(org, "connection.connect"))
        .await
        .unwrap()
}

pub async fn an_authorization_state_is_taken_once(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let other = ids::new_id("org");
    store
        .create_oauth_state(
            new_state(&org.id, "u1", "s1"),
            event(&org.id, "connection.authorize"),
        )
        .await
        .unwrap();
    // Another organization's caller neither finds nor spends it.
    let r = store
        .take_oauth_state(&KeyHash::of("s1"), Some(&other), t0())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    // Twenty racing takes: one wins.
    let mut tasks = vec![];
    for _ in 0..20 {
        let store = store.clone();
        let org_id = org.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_oauth_state(&KeyHash::of("s1"), Some(&org_id), t0())
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(s) => {
                won += 1;
                assert_eq!(s.redirect_uri, "https://app.example.com/cb");
                assert_eq!(s.verifier, Some(Sealed(vec![9; 60])));
            }
            Err(StoreError::Conflict(Conflict::OAuthStateUsed)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
    // Expired: spent all the same.
    store
        .create_oauth_state(
            new_state(&org.id, "u2", "s2"),
            event(&org.id, "connection.authorize"),
        )
        .await
        .unwrap();
    let late = t0() + Duration::minutes(11);
    let r = store.take_oauth_state(&KeyHash::of("s2"), None, late).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::OAuthStateExpired))),
        "{r:?}"
    );
    let r = store.take_oauth_state(&KeyHash::of("s2"), None, t0()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::OAuthStateUsed))),
        "{r:?}"
    );
    // A connection id of another provider is refused.
    let mut s3 = new_state(&org.id, "u1", "s3");
    s3.provider = "notion".into();
    let r = store
        .create_oauth_state(s3, event(&org.id, "connection.authorize"))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::ConnectionProvider))),
        "{r:?}"
    );
    assert_eq!(store.purge_oauth_states(late).await.unwrap(), 2);
}

pub async fn one_refresh_lease_at_a_time_and_only_its_holder_writes(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let c = connected(store.as_ref(), &org.id, "u1", "k1").await;
    assert_eq!(c.status, ConnectionStatus::Active);
    let until = t0() + Duration::seconds(90);
    let mut tasks = vec![];
    for i in 0..20 {
        let store = store.clone();
        let uid = c.uid.clone();
        tasks.push(tokio::spawn(async move {
            store
                .lease_connection(&uid, &format!("node:{i}"), t0(), until)
                .await
                .unwrap()
                .map(|_| i)
        }));
    }
    let mut holders = vec![];
    for t in tasks {
        holders.extend(t.await.unwrap());
    }
    assert_eq!(holders.len(), 1, "one lease: {holders:?}");
    let holder = format!("node:{}", holders[0]);
    // Someone else cannot write an outcome.
    let outcome = RefreshOutcome::Refreshed {
        tokens: tokens("k2", 3, Some(t0() + Duration::hours(2))),
        scopes: None,
    };
    let r = store
        .finish_refresh(
            &c.uid,
            "node:other",
            outcome.clone(),
            event(&org.id, "connection.refresh"),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::LeaseLost))),
        "{r:?}"
    );
    let done = store
        .finish_refresh(
            &c.uid,
            &holder,
            outcome,
            event(&org.id, "connection.refresh"),
        )
        .await
        .unwrap();
    assert_eq!(done.tokens.as_ref().unwrap().dek, dek("k2", 3));
    assert_eq!(
        done.generation,
        c.generation + 1,
        "a refresh is a write of the tokens"
    );
    assert_eq!(done.lease_owner, None);
    assert_eq!(
        done.scopes,
        vec!["s".to_owned()],
        "scopes kept when the answer has none"
    );
    // A failure backs off; a refusal means needs_reauth.
    let leased = store
        .lease_connection(&c.uid, "n", t0(), until)
        .await
        .unwrap()
        .unwrap();
    let error = ConnectionError {
        code: "unavailable".into(),
        message: "503".into(),
        at: t0(),
        during: "refresh".into(),
    };
    let failed = store
        .finish_refresh(
            &leased.uid,
            "n",
            RefreshOutcome::Failed {
                error: error.clone(),
                retry_at: t0() + Duration::seconds(30),
            },
            event(&org.id, "connection.refresh_failed"),
        )
        .await
        .unwrap();
    assert_eq!(
        (failed.status, failed.failures),
        (ConnectionStatus::RefreshFailing, 1)
    );
    assert_eq!(failed.last_error, Some(error));
    assert_eq!(failed.tokens.unwrap().dek, dek("k2", 3), "tokens kept");
    // Due for the refresher only after the backoff, and only with its lease free.
    let soon = t0() + Duration::hours(3);
    let gmail = ["gmail".to_owned()];
    assert!(store
        .connections_due(&gmail, soon, t0(), 10)
        .await
        .unwrap()
        .is_empty());
    let after = t0() + Duration::seconds(31);
    assert_eq!(
        store
            .connections_due(&gmail, soon, after, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Only the providers still configured are due (a removed one would fill the page).
    let notion = ["notion".to_owned()];
    assert!(store
        .connections_due(&notion, soon, after, 10)
        .await
        .unwrap()
        .is_empty());
    // A disconnect ends any lease, so a refresh finishing after it writes nothing.
    store
        .lease_connection(&c.uid, "late", after, soon)
        .await
        .unwrap()
        .unwrap();
    let erased = store
        .revoke_connection(&org.id, "u1", event(&org.id, "connection.disconnect"))
        .await
        .unwrap();
    assert_eq!(
        (erased.status, erased.tokens),
        (ConnectionStatus::Revoked, None)
    );
    let r = store
        .finish_refresh(
            &c.uid,
            "late",
            RefreshOutcome::Refreshed {
                tokens: tokens("k2", 5, None),
                scopes: None,
            },
            event(&org.id, "connection.refresh"),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::LeaseLost))),
        "{r:?}"
    );
    assert_eq!(
        store.get_connection(&org.id, "u1").await.unwrap().tokens,
        None
    );
}

pub async fn rotation_rewraps_only_what_is_unchanged(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let a = connected(store.as_ref(), &org.id, "a", "old").await;
    connected(store.as_ref(), &org.id, "b", "old").await;
    connected(store.as_ref(), &org.id, "c", "new").await;
    let usage = store.kek_usage().await.unwrap();
    // Three connections and their three authorization states (sealed verifiers, k1).
    assert_eq!(
        usage,
        vec![("k1".into(), 3), ("new".into(), 1), ("old".into(), 2)]
    );
    let records = store.sealed_records("new", 100).await.unwrap();
    assert_eq!(records.len(), 5);
    let mine = records.iter().find(|r| r.id == a.uid).unwrap();
    assert!(store.rewrap_record(mine, &dek("new", 8)).await.unwrap());
    // Its data key changed since it was read: the second re-wrap writes nothing.
    assert!(!store.rewrap_record(mine, &dek("new", 9)).await.unwrap());
    assert_eq!(
        store
            .get_connection(&org.id, "a")
            .await
            .unwrap()
            .tokens
            .unwrap()
            .dek,
        dek("new", 8)
    );
    for r in store.sealed_records("new", 100).await.unwrap() {
        assert!(store.rewrap_record(&r, &dek("new", 2)).await.unwrap());
    }
    assert_eq!(store.kek_usage().await.unwrap(), vec![("new".into(), 6)]);
    // Filters.
    let f = |status| ConnectionFilter {
        status,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_connections(&org.id, f(None))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store
            .list_connections(&org.id, f(Some(ConnectionStatus::Revoked)))
            .await
            .unwrap()
            .len(),
        0
    );
    let within = ConnectionFilter {
        within_workspaces: Some(vec![]),
        limit: 10,
        ..Default::default()
    };
    assert!(store
        .list_connections(&org.id, within)
        .await
        .unwrap()
        .is_empty());
    let paged = ConnectionFilter {
        after: Some("a".into()),
        limit: 1,
        ..Default::default()
    };
    let page = store.list_connections(&org.id, paged).await.unwrap();
    assert_eq!(
        page.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
    // Deleting the organization erases its connections.
    store
        .delete_org(&org.id, t0(), "test", event(&org.id, "org.delete"))
        .await
        .unwrap();
    assert!(store.kek_usage().await.unwrap().is_empty());
}

pub async fn a_disconnect_ends_authorizations_even_while_they_complete(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let c = connected(store.as_ref(), &org.id, "u1", "k1").await;
    assert_eq!((c.generation, c.connected_at), (1, Some(t0())));
    // An authorization of the connection again, its state taken (the code being
    // exchanged), then a disconnect: the grant that follows writes nothing.
    let state = new_state(&org.id, "u1", "again");
    let state_id = state.id.clone();
    store
        .create_oauth_state(state, event(&org.id, "connection.authorize"))
        .await
        .unwrap();
    store
        .take_oauth_state(&KeyHash::of("again"), None, t0())
        .await
        .unwrap();
    store
        .revoke_connection(&org.id, "u1", event(&org.id, "connection.disconnect"))
        .await
        .unwrap();
    let grant = ConnectionGrant {
        state_id,
        uid: c.uid.clone(),
        org_id: org.id.clone(),
        id: "u1".into(),
        provider: "gmail".into(),
        workspace_id: None,
        scopes: vec![],
        tokens: tokens("k1", 4, None),
        at: t0(),
    };
    let r = store
        .grant_connection(grant, event(&org.id, "connection.connect"))
        .await;
    assert!(matches!(r, Err(StoreError::Gone(_))), "{r:?}");
    let now = store.get_connection(&org.id, "u1").await.unwrap();
    assert_eq!((now.status, now.tokens), (ConnectionStatus::Revoked, None));
}
