//! Workers: registrations (created once per name, audited; written over by the same
//! name; refused while another live run holds it), connections and heartbeats that only
//! the current connection writes, listings, removal and purges with their audit events,
//! the count of active worker keys, and the workers' webhook deliveries: each endpoint's
//! head, leased to one claimer at a time, in order, never to the URL deliverer.

use super::webhooks::{attempt, claim, conflict, count, created, endpoint, kept, not_found};
use super::*;

/// A worker key of `owner` bound to `ws`.
async fn worker_key(store: &dyn Store, org: &str, owner: &str, ws: &str) -> KeyRecord {
    let mut k = new_key(org, KeyKind::Worker, user(owner), Scope::Organization);
    k.workspace_id = Some(ws.to_owned());
    store.create_key(k, event(org, "key.create")).await.unwrap()
}

fn registration(org: &str, ws: &str, key: &str, name: &str, instance: &str) -> NewWorker {
    NewWorker {
        id: ids::new_id("wkr"),
        org_id: org.to_owned(),
        workspace_id: ws.to_owned(),
        key_id: key.to_owned(),
        name: name.to_owned(),
        host: "build-1".into(),
        os: "linux".into(),
        version: "1.0.0".into(),
        labels: vec!["gpu".into(), "arm".into()],
        heartbeat_interval_secs: 15,
        forwards: true,
        instance: instance.to_owned(),
        at: t0(),
    }
}

async fn register(
    store: &dyn Store,
    w: NewWorker,
    busy_since: DateTime<Utc>,
) -> Result<Registered> {
    let org = w.org_id.clone();
    store
        .workers()
        .register_worker(w, busy_since, event(&org, "worker.register"))
        .await
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

pub async fn worker_registrations_create_once_and_take_over_only_idle_names(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let ws = workspace(store.as_ref(), &org.id).await;
    let k1 = worker_key(store.as_ref(), &org.id, &org.owner, &ws).await;
    let k2 = worker_key(store.as_ref(), &org.id, &org.owner, &ws).await;
    let w = store.workers();

    let first = registration(&org.id, &ws, &k1.id, "alpha", "run-1");
    let made = match register(store.as_ref(), first.clone(), at(-60))
        .await
        .unwrap()
    {
        Registered::Created(r) => r,
        other => panic!("expected a new worker, got {other:?}"),
    };
    assert_eq!(made.id, first.id);
    assert_eq!(made.labels, vec!["arm".to_owned(), "gpu".to_owned()]);
    assert_eq!((made.registered_at, made.last_heartbeat_at), (t0(), t0()));
    assert_eq!((made.connection.clone(), made.stopped_at), (None, None));
    assert_eq!(made.key.id, k1.id);
    assert_eq!(made.key.prefix, k1.prefix);
    assert_eq!(made.key.owner_id.as_deref(), Some(org.owner.as_str()));
    assert!(made.key.enabled && made.key.revoked_at.is_none());
    assert_eq!(count(store.as_ref(), &org.id, "worker.register").await, 1);
    assert_eq!(w.get_worker(&org.id, &made.id).await.unwrap(), made);

    // Connected, then cleanly stopped.
    w.connect_worker(&made.id, "node-a:1", at(1)).await.unwrap();
    assert!(w
        .disconnect_worker(&made.id, "node-a:1", at(2), true)
        .await
        .unwrap());

    // The same name again, with a new key, labels and run: written over; the new key is
    // audited (a worker moving to another key leaves a trace).
    let again = NewWorker {
        id: ids::new_id("wkr"),
        key_id: k2.id.clone(),
        labels: vec!["GPU".into()],
        host: "build-2".into(),
        at: at(10),
        ..registration(&org.id, &ws, &k2.id, "alpha", "run-2")
    };
    let updated = match register(store.as_ref(), again, at(0)).await.unwrap() {
        Registered::Updated(r) => r,
        other => panic!("expected an update, got {other:?}"),
    };
    assert_eq!(updated.id, made.id, "the id stays");
    assert_eq!(updated.registered_at, t0(), "the first registration stays");
    assert_eq!(updated.key.id, k2.id);
    assert_eq!(updated.labels, vec!["gpu".to_owned()]);
    assert_eq!(updated.host, "build-2");
    assert_eq!(updated.instance, "run-2");
    assert_eq!(updated.last_heartbeat_at, at(10));
    assert_eq!(updated.stopped_at, None, "a registration clears the stop");
    assert_eq!(updated.connected_since, Some(at(1)), "kept");
    assert_eq!(count(store.as_ref(), &org.id, "worker.register").await, 2);

    // Connected by run-2 and heartbeating at 20: another run is refused while the last
    // heartbeat is after `busy_since`…
    w.connect_worker(&made.id, "node-a:2", at(20))
        .await
        .unwrap();
    let other_run = || NewWorker {
        at: at(30),
        ..registration(&org.id, &ws, &k1.id, "alpha", "run-3")
    };
    let r = register(store.as_ref(), other_run(), at(19)).await;
    assert_eq!(conflict(r), Conflict::InUse);
    let unchanged = w.get_worker(&org.id, &made.id).await.unwrap();
    assert_eq!(
        (unchanged.instance.as_str(), &unchanged.key.id),
        ("run-2", &k2.id)
    );
    // …the same run is not (a reconnecting daemon)…
    let same_run = NewWorker {
        at: at(31),
        ..registration(&org.id, &ws, &k2.id, "alpha", "run-2")
    };
    let r = register(store.as_ref(), same_run, at(19)).await.unwrap();
    assert!(matches!(r, Registered::Updated(_)));
    // …nor is another run held by a `busy_since` shorter than the worker's own two
    // intervals (heard from at 31, the re-registration, every 15 s: busy until 61)…
    let r = register(store.as_ref(), other_run(), at(29)).await;
    assert_eq!(conflict(r), Conflict::InUse);
    // …but it takes over once both are past.
    let late = NewWorker {
        at: at(62),
        ..registration(&org.id, &ws, &k1.id, "alpha", "run-3")
    };
    let r = register(store.as_ref(), late, at(31)).await.unwrap();
    assert_eq!(r.record().instance, "run-3");
    assert_eq!(r.record().connection.as_deref(), Some("node-a:2"), "kept");
    // Without a connection, any run takes it over, however fresh its heartbeat.
    assert!(w
        .disconnect_worker(&made.id, "node-a:2", at(70), false)
        .await
        .unwrap());
    let idle = NewWorker {
        at: at(71),
        ..registration(&org.id, &ws, &k1.id, "alpha", "run-4")
    };
    let r = register(store.as_ref(), idle, at(0)).await.unwrap();
    assert_eq!(r.record().instance, "run-4");
    assert_eq!(r.record().stopped_at, None);

    // The same name in another workspace is another worker.
    let ws2 = workspace(store.as_ref(), &org.id).await;
    let k3 = worker_key(store.as_ref(), &org.id, &org.owner, &ws2).await;
    let elsewhere = registration(&org.id, &ws2, &k3.id, "alpha", "run-1");
    let r = register(store.as_ref(), elsewhere, at(0)).await.unwrap();
    assert!(matches!(r, Registered::Created(ref c) if c.id != made.id));
    // Two made, and two moves to another key (k1 → k2, then back to k1).
    assert_eq!(count(store.as_ref(), &org.id, "worker.register").await, 4);
}

pub async fn racing_registrations_of_a_new_name_make_one_worker(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let ws = workspace(store.as_ref(), &org.id).await;
    let key = worker_key(store.as_ref(), &org.id, &org.owner, &ws).await;
    // Started together, so that on PostgreSQL several find no row and insert at once.
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, start) = (store.clone(), start.clone());
            let w = registration(&org.id, &ws, &key.id, "racer", &format!("run-{n}"));
            tokio::spawn(async move {
                start.wait().await;
                register(store.as_ref(), w, at(-60)).await
            })
        })
        .collect();
    let mut created_ids = vec![];
    let mut ids = vec![];
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Registered::Created(r) => {
                created_ids.push(r.id.clone());
                ids.push(r.id);
            }
            Registered::Updated(r) => ids.push(r.id),
        }
    }
    assert_eq!(created_ids.len(), 1, "one registration created it");
    assert!(ids.iter().all(|id| *id == created_ids[0]), "{ids:?}");
    let all = store
        .workers()
        .list_workers(
            &org.id,
            WorkerFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(count(store.as_ref(), &org.id, "worker.register").await, 1);
}

pub async fn only_a_workers_current_connection_heartbeats_and_disconnects(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let ws = workspace(store.as_ref(), &org.id).await;
    let key = worker_key(store.as_ref(), &org.id, &org.owner, &ws).await;
    let w = store.workers();
    let id = register(
        store.as_ref(),
        registration(&org.id, &ws, &key.id, "beta", "run-1"),
        at(0),
    )
    .await
    .unwrap()
    .into_record()
    .id;

    assert_eq!(w.connect_worker(&id, "n1:a", at(1)).await.unwrap(), None);
    assert!(w.heartbeat_worker(&id, "n1:a", at(2)).await.unwrap());
    assert_eq!(w.find_worker(&id).await.unwrap().last_heartbeat_at, at(2));
    // A second connection replaces the first, which can no longer write.
    assert_eq!(
        w.connect_worker(&id, "n2:b", at(3)).await.unwrap(),
        Some("n1:a".to_owned())
    );
    let now = w.find_worker(&id).await.unwrap();
    assert_eq!(now.connection.as_deref(), Some("n2:b"));
    assert_eq!(now.connected_since, Some(at(3)));
    assert_eq!(now.last_heartbeat_at, at(3));
    assert!(!w.heartbeat_worker(&id, "n1:a", at(4)).await.unwrap());
    assert!(!w.disconnect_worker(&id, "n1:a", at(4), true).await.unwrap());
    let now = w.find_worker(&id).await.unwrap();
    assert_eq!(now.connection.as_deref(), Some("n2:b"));
    assert_eq!((now.last_heartbeat_at, now.stopped_at), (at(3), None));
    // A clean stop clears the connection and says when.
    assert!(w.disconnect_worker(&id, "n2:b", at(5), true).await.unwrap());
    let now = w.find_worker(&id).await.unwrap();
    assert_eq!((now.connection, now.stopped_at), (None, Some(at(5))));
    assert!(!w.heartbeat_worker(&id, "n2:b", at(6)).await.unwrap());
    // Connecting again clears the stop; a plain disconnect leaves `stopped_at` alone.
    assert_eq!(w.connect_worker(&id, "n3:c", at(7)).await.unwrap(), None);
    assert_eq!(w.find_worker(&id).await.unwrap().stopped_at, None);
    assert!(w
        .disconnect_worker(&id, "n3:c", at(8), false)
        .await
        .unwrap());
    let now = w.find_worker(&id).await.unwrap();
    assert_eq!((now.connection, now.stopped_at), (None, None));
    // Removed: nothing writes any more.
    w.connect_worker(&id, "n4:d", at(9)).await.unwrap();
    w.remove_worker(&org.id, &id, event(&org.id, "worker.remove"))
        .await
        .unwrap();
    assert!(!w.heartbeat_worker(&id, "n4:d", at(10)).await.unwrap());
    assert!(!w
        .disconnect_worker(&id, "n4:d", at(10), true)
        .await
        .unwrap());
    not_found(w.connect_worker(&id, "n5:e", at(11)).await);
    not_found(w.find_worker(&id).await);
}

pub async fn worker_listings_filter_by_workspace_and_label_and_page_by_id(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let other = another_org(store.as_ref(), &org.owner).await;
    let (ws1, ws2) = (
        workspace(store.as_ref(), &org.id).await,
        workspace(store.as_ref(), &org.id).await,
    );
    let k1 = worker_key(store.as_ref(), &org.id, &org.owner, &ws1).await;
    let k2 = worker_key(store.as_ref(), &org.id, &org.owner, &ws2).await;
    let mut made = vec![];
    for (n, (ws, key, labels)) in [
        (&ws1, &k1, vec!["gpu"]),
        (&ws1, &k1, vec!["arm", "gpu"]),
        (&ws1, &k1, vec![]),
        (&ws2, &k2, vec!["gpu"]),
    ]
    .into_iter()
    .enumerate()
    {
        let w = NewWorker {
            labels: labels.into_iter().map(str::to_owned).collect(),
            ..registration(&org.id, ws, &key.id, &format!("w{n}"), "run")
        };
        made.push(
            register(store.as_ref(), w, at(0))
                .await
                .unwrap()
                .into_record(),
        );
    }
    // One of another organization, in the same (borrowed) workspace id.
    let ows = workspace(store.as_ref(), &other.id).await;
    let ok = worker_key(store.as_ref(), &other.id, &org.owner, &ows).await;
    let theirs = register(
        store.as_ref(),
        registration(&other.id, &ows, &ok.id, "w0", "run"),
        at(0),
    )
    .await
    .unwrap()
    .into_record();

    let list = |f: WorkerFilter| {
        let (store, org) = (store.clone(), org.id.clone());
        async move {
            let ids: Vec<String> = store
                .workers()
                .list_workers(&org, f)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.id)
                .collect();
            ids
        }
    };
    let f = |limit| WorkerFilter {
        limit,
        ..Default::default()
    };
    let sorted = |idx: &[usize]| {
        let mut ids: Vec<String> = idx.iter().map(|&i| made[i].id.clone()).collect();
        ids.sort();
        ids
    };
    let all = sorted(&[0, 1, 2, 3]);
    assert_eq!(list(f(100)).await, all);
    assert_eq!(list(f(2)).await, all[..2]);
    let after = WorkerFilter {
        after: Some(all[1].clone()),
        ..f(1)
    };
    assert_eq!(list(after).await, all[2..3]);
    let within = |ws: Vec<&String>| WorkerFilter {
        workspaces: Some(ws.into_iter().cloned().collect()),
        ..f(100)
    };
    assert_eq!(list(within(vec![&ws1])).await, sorted(&[0, 1, 2]));
    assert_eq!(list(within(vec![&ws1, &ws2])).await, all);
    assert!(list(within(vec![])).await.is_empty(), "no workspace: none");
    let gpu = WorkerFilter {
        label: Some("gpu".into()),
        ..f(100)
    };
    assert_eq!(list(gpu).await, sorted(&[0, 1, 3]));
    let arm_in_ws1 = WorkerFilter {
        label: Some("arm".into()),
        ..within(vec![&ws1])
    };
    assert_eq!(list(arm_in_ws1).await, sorted(&[1]));
    let none = WorkerFilter {
        label: Some("x86".into()),
        ..f(100)
    };
    assert!(list(none).await.is_empty());

    let w = store.workers();
    not_found(w.get_worker(&other.id, &made[0].id).await);
    not_found(w.get_worker(&org.id, &theirs.id).await);
    assert_eq!(w.find_worker(&theirs.id).await.unwrap(), theirs);
    assert_eq!(w.get_worker(&org.id, &made[3].id).await.unwrap(), made[3]);
}

pub async fn removing_and_purging_workers_are_audited(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let other = another_org(store.as_ref(), &org.owner).await;
    let ws = workspace(store.as_ref(), &org.id).await;
    let key = worker_key(store.as_ref(), &org.id, &org.owner, &ws).await;
    let w = store.workers();
    let mut ids = vec![];
    for (n, last) in [0, 10, 20, 30].into_iter().enumerate() {
        let r = NewWorker {
            at: at(last),
            ..registration(&org.id, &ws, &key.id, &format!("p{n}"), "run")
        };
        ids.push(
            register(store.as_ref(), r, at(0))
                .await
                .unwrap()
                .into_record()
                .id,
        );
    }
    // Removed only in its own organization, with its audit event.
    not_found(
        w.remove_worker(&other.id, &ids[3], event(&other.id, "worker.remove"))
            .await,
    );
    let gone = w
        .remove_worker(&org.id, &ids[3], event(&org.id, "worker.remove"))
        .await
        .unwrap();
    assert_eq!(gone.id, ids[3]);
    assert_eq!(count(store.as_ref(), &org.id, "worker.remove").await, 1);
    not_found(
        w.remove_worker(&org.id, &ids[3], event(&org.id, "worker.remove"))
            .await,
    );

    // Silent since before 25 s: p0, p1, p2; at most two per purge, oldest first.
    let audit = |r: &WorkerRecord| NewAuditEvent {
        target_type: "worker".into(),
        target_id: r.id.clone(),
        ..event(&r.org_id, "worker.purge")
    };
    let purged = w.purge_workers(at(25), 2, &audit).await.unwrap();
    let purged: Vec<String> = purged.into_iter().map(|r| r.id).collect();
    assert_eq!(purged, ids[..2]);
    assert_eq!(count(store.as_ref(), &org.id, "worker.purge").await, 2);
    // p2 stays while it is heartbeating.
    w.connect_worker(&ids[2], "n:1", at(26)).await.unwrap();
    assert!(w
        .purge_workers(at(25), 10, &audit)
        .await
        .unwrap()
        .is_empty());
    let purged = w.purge_workers(at(27), 10, &audit).await.unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].id, ids[2]);
    assert_eq!(count(store.as_ref(), &org.id, "worker.purge").await, 3);
    let left = w
        .list_workers(
            &org.id,
            WorkerFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(left.is_empty());
}

pub async fn only_active_worker_keys_of_the_person_in_the_workspace_count(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let (member, _) = join(store.as_ref(), &org.id, "m@example.com").await;
    let (ws1, ws2) = (
        workspace(store.as_ref(), &org.id).await,
        workspace(store.as_ref(), &org.id).await,
    );
    let count_at = |ws: String, owner: String, now: DateTime<Utc>| {
        let (store, org) = (store.clone(), org.id.clone());
        async move {
            store
                .workers()
                .count_active_worker_keys(&org, &ws, &owner, now)
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        worker_key(store.as_ref(), &org.id, &org.owner, &ws1).await;
    }
    worker_key(store.as_ref(), &org.id, &org.owner, &ws2).await;
    worker_key(store.as_ref(), &org.id, &member.user_id, &ws1).await;
    // Revoked: no longer counts.
    let revoked = worker_key(store.as_ref(), &org.id, &org.owner, &ws1).await;
    store
        .revoke_key(
            &org.id,
            &revoked.id,
            t0(),
            "test",
            event(&org.id, "key.revoke"),
        )
        .await
        .unwrap();
    // Expiring at 1 h: counts until then.
    let mut k = new_key(
        &org.id,
        KeyKind::Worker,
        user(&org.owner),
        Scope::Organization,
    );
    k.workspace_id = Some(ws1.clone());
    k.expires_at = Some(t0() + Duration::hours(1));
    store
        .create_key(k, event(&org.id, "key.create"))
        .await
        .unwrap();
    // A personal key is not a worker key.
    store
        .create_key(
            new_key(
                &org.id,
                KeyKind::Personal,
                user(&org.owner),
                Scope::Organization,
            ),
            event(&org.id, "key.create"),
        )
        .await
        .unwrap();

    assert_eq!(count_at(ws1.clone(), org.owner.clone(), t0()).await, 4);
    assert_eq!(
        count_at(ws1.clone(), org.owner.clone(), t0() + Duration::hours(1)).await,
        3
    );
    assert_eq!(count_at(ws2.clone(), org.owner.clone(), t0()).await, 1);
    assert_eq!(count_at(ws1.clone(), member.user_id.clone(), t0()).await, 1);
    assert_eq!(count_at(ws2, member.user_id, t0()).await, 0);
    // Another organization's count is its own.
    let other = another_org(store.as_ref(), &org.owner).await;
    let theirs = store
        .workers()
        .count_active_worker_keys(&other.id, &ws1, &org.owner, t0())
        .await
        .unwrap();
    assert_eq!(theirs, 0);
}

/// An endpoint delivering to `destination`, in `ws`.
async fn endpoint_to(
    store: &dyn Store,
    org: &str,
    ws: &str,
    destination: &str,
    enabled: bool,
) -> WebhookEndpointRecord {
    created(
        store,
        WebhookEndpointRecord {
            workspace_id: Some(ws.to_owned()),
            destination: destination.to_owned(),
            enabled,
            ..endpoint(org, "k1")
        },
    )
    .await
}

/// What workers of these workspaces (with the label `gpu`) can take.
fn selections(pairs: &[(&str, &str)]) -> Vec<(String, String, String)> {
    pairs
        .iter()
        .flat_map(|(o, w)| {
            ["workers", "workers:gpu"].map(|d| (o.to_string(), w.to_string(), d.to_owned()))
        })
        .collect()
}

async fn heads(store: &dyn Store, pairs: &[(&str, &str)], now: DateTime<Utc>) -> Vec<String> {
    let pairs = selections(pairs);
    store
        .webhooks()
        .worker_delivery_heads(&pairs, now, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.event_id)
        .collect()
}

async fn claim_for_worker(
    store: &dyn Store,
    event_id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Option<WebhookEvent> {
    store
        .webhooks()
        .claim_worker_delivery(event_id, owner, now, now + Duration::minutes(1))
        .await
        .unwrap()
}

pub async fn workers_get_each_endpoints_events_one_at_a_time_in_order(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let other = another_org(store.as_ref(), &org.owner).await;
    let s = store.as_ref();
    let (o, ws1, ws2) = (org.id.as_str(), "ws_1", "ws_2");
    let a = endpoint_to(s, o, ws1, "workers", true).await;
    let b = endpoint_to(s, o, ws1, "workers:gpu", true).await;
    let url = endpoint_to(s, o, ws1, "https://agent.example.com/hook", true).await;
    let off = endpoint_to(s, o, ws1, "workers", false).await;
    let e = endpoint_to(s, o, ws2, "workers", true).await;
    let a1 = kept(s, &a, "a1", at(1)).await;
    let a2 = kept(s, &a, "a2", at(2)).await;
    let b1 = kept(s, &b, "b1", at(3)).await;
    let a3 = kept(s, &a, "a3", at(4)).await;
    let e1 = kept(s, &e, "e1", at(5)).await;
    let u1 = kept(s, &url, "u1", at(6)).await;
    kept(s, &off, "d1", at(7)).await;
    let now = at(60);

    // Only what the selection can take: without the label, `workers:gpu`'s head is not
    // offered (it would crowd out heads the caller's workers can take).
    let unlabelled: Vec<String> = s
        .webhooks()
        .worker_delivery_heads(
            &[(o.to_owned(), ws1.to_owned(), "workers".to_owned())],
            now,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.event_id)
        .collect();
    assert_eq!(unlabelled, vec![a1.clone()]);

    // The URL deliverer takes only its own endpoint's event.
    let urls: Vec<String> = claim(s, "url-node", now)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(urls, vec![u1.clone()]);
    s.webhooks()
        .finish_webhook_attempt(
            "url-node",
            attempt(&u1, 1, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert!(claim(s, "url-node", now + Duration::hours(9))
        .await
        .is_empty());

    // Each enabled workers endpoint's oldest pending event, oldest first, per workspace.
    assert_eq!(
        heads(s, &[(o, ws1)], now).await,
        vec![a1.clone(), b1.clone()]
    );
    assert_eq!(
        heads(s, &[(o, ws1), (o, ws2)], now).await,
        vec![a1.clone(), b1.clone(), e1.clone()]
    );
    assert_eq!(heads(s, &[(o, ws2)], now).await, vec![e1.clone()]);
    assert!(heads(s, &[], now).await.is_empty());
    assert!(heads(s, &[(&other.id, ws1)], now).await.is_empty());
    assert!(heads(s, &[(o, "ws_none")], now).await.is_empty());
    assert!(
        heads(s, &[(o, ws1)], at(0)).await.is_empty(),
        "none due yet"
    );
    let limited = s
        .webhooks()
        .worker_delivery_heads(&selections(&[(o, ws1)]), now, 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(
        limited[0],
        WorkerHead {
            event_id: a1.clone(),
            endpoint_id: a.id.clone(),
            org_id: o.to_owned(),
            workspace_id: ws1.to_owned(),
            destination: "workers".into(),
        }
    );

    // Only the head is claimed; then the endpoint has none until it is finished.
    assert!(
        claim_for_worker(s, &a2, "w1", now).await.is_none(),
        "not the head"
    );
    let got = claim_for_worker(s, &a1, "w1", now).await.expect("the head");
    assert_eq!(got.id, a1);
    assert_eq!(got.lease_owner.as_deref(), Some("w1"));
    assert_eq!(got.lease_until, Some(now + Duration::minutes(1)));
    assert_eq!(got.body.as_deref(), Some(&b"{\"key\":\"a1\"}"[..]));
    assert_eq!(got.status, DeliveryState::Pending);
    assert!(claim_for_worker(s, &a1, "w2", now).await.is_none(), "held");
    assert_eq!(heads(s, &[(o, ws1)], now).await, vec![b1.clone()]);
    // A lease that passed does not count.
    let later = now + Duration::minutes(2);
    assert_eq!(
        heads(s, &[(o, ws1)], later).await,
        vec![a1.clone(), b1.clone()]
    );
    // Delivered: the next event is the head.
    s.webhooks()
        .finish_webhook_attempt(
            "w1",
            attempt(&a1, 1, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(
        heads(s, &[(o, ws1)], now).await,
        vec![a2.clone(), b1.clone()]
    );
    assert!(
        claim_for_worker(s, &a3, "w1", now).await.is_none(),
        "not the head"
    );
    assert!(claim_for_worker(s, &a2, "w1", now).await.is_some());
    // Released (a node stopping): free again at once.
    s.webhooks().release_webhook_lease(&a2, "w1").await.unwrap();
    assert_eq!(
        heads(s, &[(o, ws1)], now).await,
        vec![a2.clone(), b1.clone()]
    );
    // To be retried in an hour: it keeps a3 waiting until then.
    assert!(claim_for_worker(s, &a2, "w2", now).await.is_some());
    let retry = now + Duration::hours(1);
    s.webhooks()
        .finish_webhook_attempt(
            "w2",
            attempt(&a2, 1, now, Some(500)),
            AttemptOutcome::Retry(retry),
        )
        .await
        .unwrap();
    assert_eq!(heads(s, &[(o, ws1)], now).await, vec![b1.clone()]);
    assert!(
        claim_for_worker(s, &a3, "w1", now).await.is_none(),
        "waits for a2"
    );
    assert!(
        claim_for_worker(s, &a2, "w1", now).await.is_none(),
        "not due"
    );
    assert_eq!(
        heads(s, &[(o, ws1)], retry).await,
        vec![a2.clone(), b1.clone()]
    );
    assert!(claim_for_worker(s, &a2, "w1", retry).await.is_some());
    // The URL deliverer never takes them, due or not.
    assert!(claim(s, "url-node", retry + Duration::hours(1))
        .await
        .is_empty());
    // Failed for good: the next one is the head.
    s.webhooks()
        .finish_webhook_attempt(
            "w1",
            attempt(&a2, 2, retry, Some(500)),
            AttemptOutcome::Failed,
        )
        .await
        .unwrap();
    assert_eq!(heads(s, &[(o, ws1)], retry).await, vec![b1, a3]);
    assert!(claim_for_worker(s, "msg_missing", "w1", retry)
        .await
        .is_none());
}

pub async fn concurrent_worker_claims_lease_one_event_per_endpoint(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let f = endpoint_to(store.as_ref(), &org.id, "ws_3", "workers", true).await;
    let f1 = kept(store.as_ref(), &f, "f1", at(1)).await;
    let f2 = kept(store.as_ref(), &f, "f2", at(2)).await;
    let now = at(60);
    // Ten claims of the head and five of the event after it, all at once.
    let tasks: Vec<_> = (0..15)
        .map(|n| {
            let store = store.clone();
            let event = if n % 3 == 2 { f2.clone() } else { f1.clone() };
            tokio::spawn(async move {
                claim_for_worker(store.as_ref(), &event, &format!("node-{n}"), now)
                    .await
                    .map(|e| (e.id, e.lease_owner))
            })
        })
        .collect();
    let mut won = vec![];
    for t in tasks {
        won.extend(t.await.unwrap());
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].0, f1);
    let (_, holder) = &won[0];
    let holder = holder.clone().unwrap();
    // Only its holder finishes it.
    let r = store
        .webhooks()
        .finish_webhook_attempt(
            "someone-else",
            attempt(&f1, 1, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await;
    assert_eq!(conflict(r), Conflict::LeaseLost);
    store
        .webhooks()
        .finish_webhook_attempt(
            &holder,
            attempt(&f1, 1, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(
        heads(store.as_ref(), &[(&org.id, "ws_3")], now).await,
        vec![f2]
    );
}
