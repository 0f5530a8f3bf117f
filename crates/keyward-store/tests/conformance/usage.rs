//! Write-behind of last use and usage counts; quota leases.

use super::*;

pub(crate) async fn last_used_never_moves_backwards(store: Arc<dyn Store>) {
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
    let later = t0() + Duration::minutes(5);
    store
        .record_last_used(&[LastUse {
            key_id: k.id.clone(),
            at: later,
        }])
        .await
        .unwrap();
    store
        .record_last_used(&[LastUse {
            key_id: k.id.clone(),
            at: t0(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.get_key(&org.id, &k.id).await.unwrap().last_used_at,
        Some(later)
    );
}

/// A flush after a busy interval carries thousands of keys (more than one statement's
/// worth): every one lands, counts add to what is stored, and last-used never goes back.
pub(crate) async fn write_behind_flushes_of_thousands_of_keys(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let keys: Vec<NewKey> = (0..2500)
        .map(|_| new_key(&org.id, KeyKind::Api, None, Scope::Organization))
        .collect();
    store.create_keys_bulk(&keys).await.unwrap();
    let at = |i: usize| t0() + Duration::seconds(i as i64);
    let uses: Vec<LastUse> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| LastUse {
            key_id: k.id.clone(),
            at: at(i),
        })
        .collect();
    store.record_last_used(&uses).await.unwrap();
    // An older flush (a slow node) must not move any of them back.
    let older: Vec<LastUse> = keys
        .iter()
        .map(|k| LastUse {
            key_id: k.id.clone(),
            at: t0() - Duration::days(1),
        })
        .collect();
    store.record_last_used(&older).await.unwrap();
    for i in [0, 999, 1000, 1001, 2499] {
        let k = store.get_key(&org.id, &keys[i].id).await.unwrap();
        assert_eq!(k.last_used_at, Some(at(i)), "key {i}");
    }

    let rows = |n: i64| -> Vec<UsageRow> {
        keys.iter()
            .enumerate()
            .flat_map(|(i, k)| {
                [7, 8].map(|minute| UsageRow {
                    key_id: k.id.clone(),
                    minute,
                    valid: n * i as i64,
                    denied: n,
                    api: 1,
                })
            })
            .collect()
    };
    store.record_usage(&rows(1)).await.unwrap();
    store.record_usage(&rows(2)).await.unwrap();
    for i in [0, 1234, 2499] {
        let got = store.usage_minutes(&keys[i].id, 0, 100).await.unwrap();
        let summary: Vec<(i64, i64, i64, i64)> = got
            .iter()
            .map(|r| (r.minute, r.valid, r.denied, r.api))
            .collect();
        let v = 3 * i as i64;
        assert_eq!(summary, vec![(7, v, 3, 2), (8, v, 3, 2)], "key {i}");
    }
}

pub(crate) async fn usage_adds_up_and_quota_leases_never_overdraw(store: Arc<dyn Store>) {
    let row = |n| UsageRow {
        key_id: "key_1".into(),
        minute: 100,
        valid: n,
        denied: 1,
        api: 0,
    };
    store.record_usage(&[row(2)]).await.unwrap();
    store.record_usage(&[row(3)]).await.unwrap();
    let rows = store.usage_minutes("key_1", 0, 1000).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].valid, rows[0].denied), (5, 2));

    let quota = Quota {
        limit: 100,
        refill: None,
    };
    let mut tasks = vec![];
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .lease_quota("key_q", &quota, 1, 7)
                .await
                .unwrap()
                .granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(granted, 100, "exactly the quota, never more");
    assert_eq!(store.quota_remaining("key_q", &quota, 1).await.unwrap(), 0);
    store.return_quota("key_q", 1, 4).await.unwrap();
    assert_eq!(store.quota_remaining("key_q", &quota, 1).await.unwrap(), 4);
    // A new period starts from the full quota.
    assert_eq!(
        store.lease_quota("key_q", &quota, 2, 10).await.unwrap(),
        QuotaLease {
            granted: 10,
            remaining: 90
        }
    );
}
