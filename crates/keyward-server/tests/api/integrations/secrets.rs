//! Nothing secret in the clear: not in the database, and a ciphertext moved to another
//! row does not open.

use super::Vault;
use keyward_server::integrations::seal::open_tokens;
use reqwest::StatusCode;
use secrecy::ExposeSecret;

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_database_holds_no_token_or_client_secret() {
    let Some(mut v) = Vault::start().await else {
        return;
    };
    assert_eq!(v.connect("u1").await.status, StatusCode::OK);
    assert_eq!(v.connect("u2").await.status, StatusCode::OK);
    let org = v.app.org_id().await;
    let mut secrets = vec![v.client_secret.clone()];
    for id in ["u1", "u2"] {
        let c = v.app.store.get_connection(&org, id).await.unwrap();
        let opened = open_tokens(v.app.state.vault.ring(), &c).unwrap().unwrap();
        secrets.push(opened.access_token.expose_secret().to_owned());
        secrets.push(opened.refresh_token.unwrap().expose_secret().to_owned());
    }
    // A ciphertext copied to another row does not open.
    let mut a = v.app.store.get_connection(&org, "u1").await.unwrap();
    let b = v.app.store.get_connection(&org, "u2").await.unwrap();
    a.tokens = b.tokens.clone();
    assert!(open_tokens(v.app.state.vault.ring(), &a).is_err());
    // Nor does a field moved to another field.
    let mut c = b.clone();
    if let Some(t) = c.tokens.as_mut() {
        t.access_token = t.refresh_token.clone().unwrap();
    }
    assert!(open_tokens(v.app.state.vault.ring(), &c).is_err());
    if v.app.pg.is_some() {
        return; // the file check is SQLite's; the PostgreSQL rows are the same bytes
    }
    v.app.stop().await;
    for file in ["keyward.db", "keyward.db-wal"] {
        let path = v.app.dir.path().join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for s in &secrets {
            assert!(!contains(&bytes, s), "{file} holds a secret in the clear");
        }
    }
}

fn ring(id: &str) -> keyward_vault::Ring {
    keyward_vault::Ring::new(vec![(id.to_owned(), keyward_vault::generate_kek())], id).unwrap()
}

/// Every node must run with the same ring: one with other bytes under a known id, or
/// without a KEK the database has seen, or without one a record needs, does not start.
#[tokio::test]
async fn a_node_with_another_ring_refuses_to_start() {
    let Some(v) = Vault::start().await else {
        return;
    };
    let store = v.app.store.as_ref();
    let now = v.app.clock.now();
    use keyward_core::Clock;
    use keyward_server::integrations::keks::check_ring;
    let first = ring("k1");
    check_ring(store, &first, false, now).await.unwrap();
    check_ring(store, &first, false, now).await.unwrap();
    // The same id, other bytes.
    let err = check_ring(store, &ring("k1"), false, now)
        .await
        .unwrap_err();
    assert!(err.contains("k1") && err.contains("not the key"), "{err}");
    // A node that made a ring of its own.
    let err = check_ring(store, &ring("k9"), false, now)
        .await
        .unwrap_err();
    assert!(err.contains("has seen the key-encryption key k1"), "{err}");
    // A record sealed by the app's ring needs it.
    assert_eq!(v.connect("u").await.status, StatusCode::OK);
    let err = check_ring(store, &first, false, now).await.unwrap_err();
    assert!(err.contains("needs the key-encryption key"), "{err}");
}
