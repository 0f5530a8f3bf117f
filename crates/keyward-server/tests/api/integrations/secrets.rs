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
