//! Webhook ingress's records: endpoints per organization (ids unique across them),
//! events kept once per dedup key, deliveries leased to one node at a time and finished
//! only by the lease's holder, the endpoint's failing streak, replays, purges, and the
//! endpoints' sealed secrets in key rotation.

use super::*;

fn dek(kek: &str, byte: u8) -> WrappedDek {
    WrappedDek {
        kek_id: kek.into(),
        bytes: vec![byte; 72],
    }
}

fn secrets(kek: &str, byte: u8) -> EndpointSecrets {
    EndpointSecrets {
        dek: dek(kek, byte),
        provider: Sealed(vec![byte; 48]),
        signing: Sealed(vec![byte.wrapping_add(1); 60]),
        hints: EndpointHints {
            secrets: vec![SecretHintRecord {
                prefix: format!("ab{byte}"),
                expires_at: None,
            }],
            has_verify_token: true,
            signing: vec![SecretHintRecord {
                prefix: "whsec_x".into(),
                expires_at: Some(t0() + Duration::days(1)),
            }],
        },
    }
}

pub(crate) fn endpoint(org: &str, kek: &str) -> WebhookEndpointRecord {
    WebhookEndpointRecord {
        id: ids::new_id("wh"),
        org_id: org.into(),
        workspace_id: None,
        name: "support".into(),
        provider: "slack".into(),
        destination: "https://agent.example.com/hooks/slack".into(),
        enabled: true,
        disabled_reason: None,
        managed_by: ManagedBy::Api,
        secrets: secrets(kek, 3),
        failing_since: None,
        version: 1,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub(crate) async fn created(store: &dyn Store, e: WebhookEndpointRecord) -> WebhookEndpointRecord {
    let org = e.org_id.clone();
    store
        .webhooks()
        .create_webhook_endpoint(e, event(&org, "webhook_endpoint.create"))
        .await
        .unwrap()
}

/// A time-ordered `msg_…` id, `ms` after t0.
fn msg(ms: i64) -> String {
    ids::new_sortable_id("msg", t0().timestamp_millis() + ms)
}

fn new_event(e: &WebhookEndpointRecord, key: &str, received_at: DateTime<Utc>) -> NewWebhookEvent {
    NewWebhookEvent {
        id: msg((received_at - t0()).num_milliseconds()),
        org_id: e.org_id.clone(),
        endpoint_id: e.id.clone(),
        dedup_key: key.into(),
        provider_event_id: Some(format!("ev-{key}")),
        received_at,
        content_type: Some("application/json".into()),
        body: format!("{{\"key\":\"{key}\"}}").into_bytes(),
        status: DeliveryState::Pending,
        last_error: None,
    }
}

/// Keeps a pending event received at `received_at`; its id.
pub(crate) async fn kept(
    store: &dyn Store,
    e: &WebhookEndpointRecord,
    key: &str,
    received_at: DateTime<Utc>,
) -> String {
    let ev = new_event(e, key, received_at);
    let id = ev.id.clone();
    assert_eq!(
        store.webhooks().insert_webhook_event(ev).await.unwrap(),
        EventInsert::Kept
    );
    id
}

pub(crate) fn attempt(
    event_id: &str,
    n: u32,
    at: DateTime<Utc>,
    code: Option<u16>,
) -> WebhookAttempt {
    WebhookAttempt {
        event_id: event_id.into(),
        attempt: n,
        at,
        status_code: code,
        latency_ms: 42,
        error: code.filter(|c| *c >= 300).map(|c| format!("HTTP {c}")),
    }
}

/// Claims everything due at `now` for `owner`, for a minute.
pub(crate) async fn claim(store: &dyn Store, owner: &str, now: DateTime<Utc>) -> Vec<WebhookEvent> {
    store
        .webhooks()
        .claim_webhook_deliveries(owner, now, now + Duration::minutes(1), 100)
        .await
        .unwrap()
}

/// Takes the event's lease (it must be due and free) and ends its attempt `n` failed.
async fn fail(store: &dyn Store, event_id: &str, n: u32, at: DateTime<Utc>) {
    let claimed = claim(store, "failer", at).await;
    assert!(claimed.iter().any(|e| e.id == event_id), "{event_id} due");
    for e in claimed.iter().filter(|e| e.id != event_id) {
        store
            .webhooks()
            .release_webhook_lease(&e.id, "failer")
            .await
            .unwrap();
    }
    store
        .webhooks()
        .finish_webhook_attempt(
            "failer",
            attempt(event_id, n, at, Some(500)),
            AttemptOutcome::Failed,
        )
        .await
        .unwrap();
}

/// How many audit events of `org` are `action`.
pub(crate) async fn count(store: &dyn Store, org: &str, action: &str) -> usize {
    actions(store, org)
        .await
        .into_iter()
        .filter(|a| a == action)
        .count()
}

async fn actions(store: &dyn Store, org: &str) -> Vec<String> {
    let page = store
        .list_audit(
            org,
            &AuditFilter::default(),
            &PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap();
    page.items.into_iter().map(|a| a.action).collect()
}

fn log(status: Option<DeliveryState>) -> DeliveryFilter {
    DeliveryFilter {
        status,
        before: None,
        limit: 500,
    }
}

pub(crate) fn conflict<T: std::fmt::Debug>(r: Result<T>) -> Conflict {
    match r {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub(crate) fn not_found<T: std::fmt::Debug>(r: Result<T>) {
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

pub async fn webhook_endpoints_belong_to_one_organization_and_ids_to_one_endpoint(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let other = another_org(store.as_ref(), &org.owner).await;
    let w = store.webhooks();
    let a = endpoint(&org.id, "k1");
    let made = created(store.as_ref(), a.clone()).await;
    assert_eq!(made, a);
    let b = created(
        store.as_ref(),
        WebhookEndpointRecord {
            provider: "whatsapp".into(),
            workspace_id: Some("ws_1".into()),
            managed_by: ManagedBy::Config,
            ..endpoint(&org.id, "k1")
        },
    )
    .await;
    let theirs = created(store.as_ref(), endpoint(&other.id, "k1")).await;
    assert_eq!(w.find_webhook_endpoint(&a.id).await.unwrap(), a);
    assert_eq!(w.find_webhook_endpoint(&theirs.id).await.unwrap(), theirs);
    assert_eq!(w.get_webhook_endpoint(&org.id, &a.id).await.unwrap(), a);
    not_found(w.get_webhook_endpoint(&other.id, &a.id).await);
    not_found(w.find_webhook_endpoint("wh_missing").await);
    // A taken id, in this organization or another, is refused and changes nothing.
    for org_id in [&org.id, &other.id] {
        let again = WebhookEndpointRecord {
            name: "again".into(),
            org_id: org_id.clone(),
            ..a.clone()
        };
        let r = w
            .create_webhook_endpoint(again, event(org_id, "webhook_endpoint.create"))
            .await;
        assert_eq!(conflict(r), Conflict::Duplicate);
    }
    assert_eq!(w.find_webhook_endpoint(&a.id).await.unwrap(), a);

    let list = |f: WebhookEndpointFilter| {
        let (store, org) = (store.clone(), org.id.clone());
        async move {
            let ids: Vec<String> = store
                .webhooks()
                .list_webhook_endpoints(&org, f)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect();
            ids
        }
    };
    let f = |limit| WebhookEndpointFilter {
        limit,
        ..Default::default()
    };
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(list(f(10)).await, both);
    assert_eq!(list(f(1)).await, both[..1]);
    let after = WebhookEndpointFilter {
        after: Some(both[0].clone()),
        ..f(10)
    };
    assert_eq!(list(after).await, both[1..]);
    let whatsapp = WebhookEndpointFilter {
        provider: Some("whatsapp".into()),
        ..f(10)
    };
    assert_eq!(list(whatsapp).await, vec![b.id.clone()]);
    let ws = WebhookEndpointFilter {
        workspace_id: Some("ws_1".into()),
        ..f(10)
    };
    assert_eq!(list(ws).await, vec![b.id.clone()]);
    let within = |w: &[&str]| WebhookEndpointFilter {
        within_workspaces: Some(w.iter().map(|s| s.to_string()).collect()),
        ..f(10)
    };
    assert_eq!(list(within(&["ws_1", "ws_2"])).await, vec![b.id.clone()]);
    assert!(list(within(&[])).await.is_empty());
    let theirs_listed = store
        .webhooks()
        .list_webhook_endpoints(&other.id, f(10))
        .await
        .unwrap();
    assert_eq!(theirs_listed, vec![theirs.clone()]);
    let config: Vec<String> = w
        .config_webhook_endpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(config, vec![b.id.clone()]);
    // Another organization can neither change nor delete it.
    let patch = WebhookEndpointPatch {
        name: Some("mine now".into()),
        ..Default::default()
    };
    not_found(
        w.update_webhook_endpoint(&other.id, &a.id, patch, event(&other.id, "x"))
            .await,
    );
    not_found(
        w.delete_webhook_endpoint(&other.id, &a.id, event(&other.id, "x"))
            .await,
    );
    assert_eq!(w.find_webhook_endpoint(&a.id).await.unwrap(), a);
    assert!(actions(store.as_ref(), &org.id)
        .await
        .contains(&"webhook_endpoint.create".to_owned()));
}

pub async fn webhook_endpoint_patches_apply_what_they_set_and_need_the_version_they_read(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let later = t0() + Duration::minutes(5);
    let audit = |action: &str| NewAuditEvent {
        at: later,
        ..event(&org.id, action)
    };
    let rename = WebhookEndpointPatch {
        name: Some("renamed".into()),
        if_version: Some(a.version),
        ..Default::default()
    };
    let renamed = w
        .update_webhook_endpoint(
            &org.id,
            &a.id,
            rename.clone(),
            audit("webhook_endpoint.update"),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.destination, a.destination);
    assert_eq!(renamed.secrets, a.secrets);
    assert_eq!(
        (renamed.version, renamed.updated_at),
        (a.version + 1, later)
    );
    // The version it read is gone: nothing is written.
    let stale = WebhookEndpointPatch {
        secrets: Some(secrets("k2", 9)),
        if_version: Some(a.version),
        ..Default::default()
    };
    let r = w
        .update_webhook_endpoint(&org.id, &a.id, stale.clone(), audit("x"))
        .await;
    assert_eq!(conflict(r), Conflict::ChangedMeanwhile);
    assert_eq!(w.find_webhook_endpoint(&a.id).await.unwrap(), renamed);
    not_found(
        w.update_webhook_endpoint(&org.id, "wh_missing", stale.clone(), audit("x"))
            .await,
    );
    let fresh = WebhookEndpointPatch {
        if_version: Some(renamed.version),
        ..stale
    };
    let resealed = w
        .update_webhook_endpoint(&org.id, &a.id, fresh, audit("webhook_endpoint.update"))
        .await
        .unwrap();
    assert_eq!(resealed.secrets, secrets("k2", 9));
    assert_eq!(resealed.name, "renamed");
    assert_eq!(resealed.version, a.version + 2);
    // Off with a reason, then on: the reason goes.
    let off = WebhookEndpointPatch {
        enabled: Some(false),
        disabled_reason: Some("maintenance".into()),
        destination: Some("https://new.example.com".into()),
        ..Default::default()
    };
    let off = w
        .update_webhook_endpoint(&org.id, &a.id, off, audit("webhook_endpoint.update"))
        .await
        .unwrap();
    assert!(!off.enabled);
    assert_eq!(off.disabled_reason.as_deref(), Some("maintenance"));
    assert_eq!(off.destination, "https://new.example.com");
    let on = WebhookEndpointPatch {
        enabled: Some(true),
        ..Default::default()
    };
    let on = w
        .update_webhook_endpoint(&org.id, &a.id, on, audit("webhook_endpoint.update"))
        .await
        .unwrap();
    assert!(on.enabled);
    assert_eq!(on.disabled_reason, None);
    assert_eq!(on.version, a.version + 4);
    let updates = actions(store.as_ref(), &org.id)
        .await
        .into_iter()
        .filter(|a| a == "webhook_endpoint.update")
        .count();
    assert_eq!(updates, 4);
}

pub async fn webhook_events_are_kept_once_per_dedup_key_and_refusals_are_capped(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let b = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let first = kept(store.as_ref(), &a, "evt-1", t0()).await;
    let again = new_event(&a, "evt-1", t0() + Duration::seconds(1));
    assert_eq!(
        w.insert_webhook_event(again).await.unwrap(),
        EventInsert::Duplicate(first.clone())
    );
    // The same key on another endpoint is another event.
    kept(store.as_ref(), &b, "evt-1", t0() + Duration::seconds(2)).await;
    // Kept failed (a disabled endpoint): not due, its reason noted.
    let failed = NewWebhookEvent {
        status: DeliveryState::Failed,
        last_error: Some("endpoint disabled".into()),
        ..new_event(&a, "evt-2", t0() + Duration::seconds(3))
    };
    let failed_id = failed.id.clone();
    assert_eq!(
        w.insert_webhook_event(failed).await.unwrap(),
        EventInsert::Kept
    );
    let (ev, attempts) = w
        .get_webhook_delivery(&org.id, &a.id, &failed_id)
        .await
        .unwrap();
    assert_eq!(ev.status, DeliveryState::Failed);
    assert_eq!(ev.next_attempt_at, None);
    assert_eq!(ev.last_error.as_deref(), Some("endpoint disabled"));
    assert!(attempts.is_empty());
    let (ev, _) = w
        .get_webhook_delivery(&org.id, &a.id, &first)
        .await
        .unwrap();
    assert_eq!(ev.status, DeliveryState::Pending);
    assert_eq!(ev.next_attempt_at, Some(t0()));
    assert_eq!(ev.body.as_deref(), Some(&b"{\"key\":\"evt-1\"}"[..]));
    assert_eq!(ev.dedup_key.as_deref(), Some("evt-1"));
    assert_eq!(ev.provider_event_id.as_deref(), Some("ev-evt-1"));
    assert_eq!(ev.attempts, 0);

    // Refusals: no key (they never collide), the newest REFUSALS_KEPT stay.
    let extra = 7;
    let mut refusals = vec![];
    for i in 0..i64::from(REFUSALS_KEPT) + extra {
        let r = NewRefusal {
            id: msg(10_000 + i),
            org_id: org.id.clone(),
            endpoint_id: a.id.clone(),
            received_at: t0() + Duration::milliseconds(10_000 + i),
            code: "webhook_signature_invalid".into(),
        };
        refusals.push(r.id.clone());
        w.record_webhook_refusal(r).await.unwrap();
    }
    let kept_refusals = w
        .list_webhook_deliveries(&org.id, &a.id, log(Some(DeliveryState::Refused)))
        .await
        .unwrap();
    assert_eq!(kept_refusals.len(), REFUSALS_KEPT as usize);
    let newest: Vec<String> = refusals
        .iter()
        .rev()
        .take(REFUSALS_KEPT as usize)
        .cloned()
        .collect();
    assert_eq!(
        kept_refusals
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        newest
    );
    let r = &kept_refusals[0];
    assert_eq!(
        (r.body.as_ref(), r.dedup_key.as_ref(), r.refusal.as_deref()),
        (None, None, Some("webhook_signature_invalid"))
    );
    // The events are untouched by the trimming; the log pages newest first.
    let all = w
        .list_webhook_deliveries(&org.id, &a.id, log(None))
        .await
        .unwrap();
    assert_eq!(all.len(), REFUSALS_KEPT as usize + 2);
    let page = DeliveryFilter {
        status: None,
        before: Some(all[REFUSALS_KEPT as usize - 1].id.clone()),
        limit: 10,
    };
    let rest: Vec<String> = w
        .list_webhook_deliveries(&org.id, &a.id, page)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(rest, [failed_id.clone(), first.clone()]);
    // Another organization sees none of it.
    let other = another_org(store.as_ref(), &org.owner).await;
    not_found(w.list_webhook_deliveries(&other.id, &a.id, log(None)).await);
    not_found(w.get_webhook_delivery(&other.id, &a.id, &first).await);
    not_found(w.get_webhook_delivery(&org.id, &b.id, &first).await);
}

pub async fn concurrent_claims_lease_each_webhook_event_once(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let mut due = vec![];
    for i in 0..10 {
        due.push(
            kept(
                store.as_ref(),
                &a,
                &format!("e{i}"),
                t0() + Duration::seconds(i),
            )
            .await,
        );
    }
    // Received later: not due yet.
    kept(store.as_ref(), &a, "later", t0() + Duration::hours(1)).await;
    let now = t0() + Duration::minutes(1);
    // Each claimer asks for all of them: an event it skips is one another claimer
    // leased, so none is left over, and none goes to two.
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = format!("node-{n}");
                let events = store
                    .webhooks()
                    .claim_webhook_deliveries(&owner, now, now + Duration::minutes(1), 10)
                    .await
                    .unwrap();
                for e in &events {
                    assert_eq!(e.lease_owner.as_deref(), Some(owner.as_str()));
                    assert_eq!(e.lease_until, Some(now + Duration::minutes(1)));
                    assert_eq!(e.status, DeliveryState::Pending);
                }
                events.into_iter().map(|e| e.id).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut claimed = vec![];
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    claimed.sort();
    due.sort();
    assert_eq!(claimed, due, "every due event claimed exactly once");
    // Held: nobody claims them again until the leases end.
    assert!(claim(store.as_ref(), "late", now).await.is_empty());
    let after = claim(store.as_ref(), "late", now + Duration::minutes(1)).await;
    assert_eq!(after.len(), 10);
    // Oldest due first.
    let times: Vec<_> = after.iter().map(|e| e.next_attempt_at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

pub async fn only_the_webhook_lease_holder_finishes_and_failures_mark_the_endpoint(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let id = kept(store.as_ref(), &a, "e1", t0()).await;
    let now = t0() + Duration::seconds(1);
    assert_eq!(claim(store.as_ref(), "a", now).await.len(), 1);
    // Someone else's answer is not written.
    let r = w
        .finish_webhook_attempt(
            "b",
            attempt(&id, 1, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await;
    assert_eq!(conflict(r), Conflict::LeaseLost);
    // The holder's failure: retried later, and the endpoint failing since then.
    let retry_at = now + Duration::minutes(5);
    let failing = w
        .finish_webhook_attempt(
            "a",
            attempt(&id, 1, now, Some(503)),
            AttemptOutcome::Retry(retry_at),
        )
        .await
        .unwrap();
    assert_eq!(failing, Some(now));
    let (ev, attempts) = w.get_webhook_delivery(&org.id, &a.id, &id).await.unwrap();
    assert_eq!(ev.status, DeliveryState::Pending);
    assert_eq!(ev.attempts, 1);
    assert_eq!(ev.next_attempt_at, Some(retry_at));
    assert_eq!(ev.last_status_code, Some(503));
    assert_eq!(ev.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!((ev.lease_owner, ev.lease_until), (None, None));
    assert_eq!(attempts, [attempt(&id, 1, now, Some(503))]);
    // Released: a second finish by the old holder is not written either.
    let r = w
        .finish_webhook_attempt(
            "a",
            attempt(&id, 2, now, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await;
    assert_eq!(conflict(r), Conflict::LeaseLost);
    // Not due before its retry.
    assert!(claim(store.as_ref(), "a", retry_at - Duration::seconds(1))
        .await
        .is_empty());
    // A lease given back is free at once; one not held is not given back.
    let second = retry_at + Duration::seconds(1);
    assert_eq!(claim(store.as_ref(), "a", retry_at).await.len(), 1);
    w.release_webhook_lease(&id, "b").await.unwrap();
    assert!(claim(store.as_ref(), "b", retry_at).await.is_empty());
    w.release_webhook_lease(&id, "a").await.unwrap();
    assert_eq!(claim(store.as_ref(), "b", retry_at).await.len(), 1);
    // An expired lease passes to another node; its old holder's answer is refused.
    let taken = w
        .claim_webhook_deliveries(
            "c",
            second + Duration::minutes(2),
            second + Duration::minutes(3),
            10,
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let r = w
        .finish_webhook_attempt(
            "b",
            attempt(&id, 2, second, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await;
    assert_eq!(conflict(r), Conflict::LeaseLost);
    // A second failure keeps the streak's start; a delivery ends it.
    let other = kept(store.as_ref(), &a, "e2", t0()).await;
    let at2 = second + Duration::minutes(2);
    let claimed = w
        .claim_webhook_deliveries("d", at2, at2 + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|e| &e.id).collect::<Vec<_>>(), [&other]);
    let failing = w
        .finish_webhook_attempt("d", attempt(&other, 1, at2, None), AttemptOutcome::Failed)
        .await
        .unwrap();
    assert_eq!(failing, Some(now));
    assert_eq!(
        w.find_webhook_endpoint(&a.id).await.unwrap().failing_since,
        Some(now)
    );
    let delivered = w
        .finish_webhook_attempt(
            "c",
            attempt(&id, 2, at2, Some(204)),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(delivered, None);
    let endpoint = w.find_webhook_endpoint(&a.id).await.unwrap();
    assert_eq!(endpoint.failing_since, None);
    // The deliverer's bookkeeping is no new version.
    assert_eq!(endpoint.version, a.version);
    let (ev, attempts) = w.get_webhook_delivery(&org.id, &a.id, &id).await.unwrap();
    assert_eq!(ev.status, DeliveryState::Delivered);
    assert_eq!(ev.delivered_at, Some(at2));
    assert_eq!(
        (ev.attempts, ev.next_attempt_at, ev.last_error),
        (2, None, None)
    );
    assert_eq!(ev.last_status_code, Some(204));
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2]
    );
    let (ev, _) = w
        .get_webhook_delivery(&org.id, &a.id, &other)
        .await
        .unwrap();
    assert_eq!(ev.status, DeliveryState::Failed);
    assert_eq!((ev.next_attempt_at, ev.last_status_code), (None, None));
    // A finished event is not claimed again.
    assert!(claim(store.as_ref(), "e", at2 + Duration::hours(1))
        .await
        .is_empty());
    // An event that is gone.
    let r = w
        .finish_webhook_attempt(
            "c",
            attempt("msg_missing", 1, at2, None),
            AttemptOutcome::Failed,
        )
        .await;
    not_found(r);
}

pub async fn a_failing_webhook_endpoint_is_disabled_once_with_an_audit_event(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let disable = |before: DateTime<Utc>| {
        let store = store.clone();
        let (org, id) = (org.id.clone(), a.id.clone());
        async move {
            store
                .webhooks()
                .disable_failing_endpoint(
                    &id,
                    before,
                    "failing for 3 days",
                    event(&org, "webhook_endpoint.auto_disable"),
                )
                .await
                .unwrap()
        }
    };
    // Not failing: stays on.
    assert!(!disable(t0() + Duration::days(9)).await);
    let id = kept(store.as_ref(), &a, "e1", t0()).await;
    fail(store.as_ref(), &id, 1, t0() + Duration::seconds(1)).await;
    // Failing, but not for long enough.
    assert!(!disable(t0()).await);
    assert_eq!(
        count(store.as_ref(), &org.id, "webhook_endpoint.auto_disable").await,
        0
    );
    assert!(disable(t0() + Duration::days(3)).await);
    assert!(!disable(t0() + Duration::days(3)).await);
    assert_eq!(
        count(store.as_ref(), &org.id, "webhook_endpoint.auto_disable").await,
        1
    );
    let off = w.find_webhook_endpoint(&a.id).await.unwrap();
    assert!(!off.enabled);
    assert_eq!(off.disabled_reason.as_deref(), Some("failing for 3 days"));
    assert_eq!(off.version, a.version + 1);
    // Switched on again: the streak is forgotten, so it is not disabled again at once.
    let on = WebhookEndpointPatch {
        enabled: Some(true),
        ..Default::default()
    };
    let on = w
        .update_webhook_endpoint(
            &org.id,
            &a.id,
            on,
            event(&org.id, "webhook_endpoint.update"),
        )
        .await
        .unwrap();
    assert_eq!(
        (on.enabled, on.failing_since, on.disabled_reason),
        (true, None, None)
    );
    assert!(!disable(t0() + Duration::days(9)).await);
    assert_eq!(
        count(store.as_ref(), &org.id, "webhook_endpoint.auto_disable").await,
        1
    );
}

pub async fn webhook_replays_queue_finished_events_again(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let other = another_org(store.as_ref(), &org.owner).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let b = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let at = t0() + Duration::hours(2);
    let replay = |id: String, org_id: String, endpoint_id: String| {
        let store = store.clone();
        async move {
            store
                .webhooks()
                .replay_webhook_delivery(
                    &org_id,
                    &endpoint_id,
                    &id,
                    at,
                    event(&org_id, "webhook_delivery.replay"),
                )
                .await
        }
    };
    let pending = kept(store.as_ref(), &a, "p", t0() + Duration::minutes(30)).await;
    let r = replay(pending.clone(), org.id.clone(), a.id.clone()).await;
    assert_eq!(conflict(r), Conflict::InUse);
    let failed = kept(store.as_ref(), &a, "f", t0()).await;
    fail(store.as_ref(), &failed, 1, t0() + Duration::seconds(1)).await;
    not_found(replay(failed.clone(), other.id.clone(), a.id.clone()).await);
    not_found(replay(failed.clone(), org.id.clone(), b.id.clone()).await);
    let again = replay(failed.clone(), org.id.clone(), a.id.clone())
        .await
        .unwrap();
    assert_eq!(again.status, DeliveryState::Pending);
    assert_eq!(again.next_attempt_at, Some(at));
    assert_eq!(again.attempts, 1, "its attempts count on");
    let claimed = claim(store.as_ref(), "n", at).await;
    assert!(claimed.iter().any(|e| e.id == failed));
    for e in &claimed {
        w.finish_webhook_attempt(
            "n",
            attempt(&e.id, e.attempts + 1, at, Some(200)),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    }
    let again = replay(failed.clone(), org.id.clone(), a.id.clone())
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.delivered_at, again.next_attempt_at),
        (DeliveryState::Pending, None, Some(at))
    );
    // A refusal has nothing to deliver.
    let refusal = NewRefusal {
        id: msg(5),
        org_id: org.id.clone(),
        endpoint_id: a.id.clone(),
        received_at: t0(),
        code: "webhook_signature_invalid".into(),
    };
    w.record_webhook_refusal(refusal.clone()).await.unwrap();
    not_found(replay(refusal.id.clone(), org.id.clone(), a.id.clone()).await);
    let replays = actions(store.as_ref(), &org.id)
        .await
        .into_iter()
        .filter(|a| a == "webhook_delivery.replay")
        .count();
    assert_eq!(replays, 2);

    // Every failed event since a time, on one endpoint.
    let mut failed_ids = vec![];
    for (i, key) in ["x", "y", "z"].into_iter().enumerate() {
        let received = t0() + Duration::hours(3 + i as i64);
        let id = kept(store.as_ref(), &b, key, received).await;
        fail(store.as_ref(), &id, 1, received + Duration::seconds(1)).await;
        failed_ids.push(id);
    }
    let still_pending = kept(store.as_ref(), &b, "w", t0() + Duration::hours(4)).await;
    let since = t0() + Duration::hours(4);
    let later = t0() + Duration::hours(8);
    let all = |org_id: &str, endpoint_id: &str| {
        let (org_id, endpoint_id) = (org_id.to_owned(), endpoint_id.to_owned());
        let store = store.clone();
        async move {
            store
                .webhooks()
                .replay_failed_deliveries(
                    &org_id,
                    &endpoint_id,
                    since,
                    later,
                    event(&org_id, "webhook_delivery.replay_failed"),
                )
                .await
        }
    };
    not_found(all(&other.id, &b.id).await);
    assert_eq!(all(&org.id, &b.id).await.unwrap(), 2);
    assert_eq!(all(&org.id, &b.id).await.unwrap(), 0);
    let replayed_all = actions(store.as_ref(), &org.id)
        .await
        .into_iter()
        .filter(|a| a == "webhook_delivery.replay_failed")
        .count();
    assert_eq!(replayed_all, 2);
    let status = |id: String| {
        let store = store.clone();
        let (org, ep) = (org.id.clone(), b.id.clone());
        async move {
            let (ev, _) = store
                .webhooks()
                .get_webhook_delivery(&org, &ep, &id)
                .await
                .unwrap();
            (ev.status, ev.next_attempt_at)
        }
    };
    assert_eq!(status(failed_ids[0].clone()).await.0, DeliveryState::Failed);
    for id in &failed_ids[1..] {
        assert_eq!(
            status(id.clone()).await,
            (DeliveryState::Pending, Some(later))
        );
    }
    assert_eq!(
        status(still_pending).await,
        (DeliveryState::Pending, Some(t0() + Duration::hours(4)))
    );
}

pub async fn webhook_purges_keep_pending_events_and_deletions_take_everything(
    store: Arc<dyn Store>,
) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let delivered = kept(store.as_ref(), &a, "d", t0()).await;
    let claimed = claim(store.as_ref(), "n", t0()).await;
    assert_eq!(claimed.len(), 1);
    w.finish_webhook_attempt(
        "n",
        attempt(&delivered, 1, t0(), Some(200)),
        AttemptOutcome::Delivered,
    )
    .await
    .unwrap();
    let failed = kept(store.as_ref(), &a, "f", t0() + Duration::seconds(1)).await;
    fail(store.as_ref(), &failed, 1, t0() + Duration::seconds(2)).await;
    let pending = kept(store.as_ref(), &a, "p", t0() + Duration::hours(1)).await;
    let refusal = NewRefusal {
        id: msg(3_000),
        org_id: org.id.clone(),
        endpoint_id: a.id.clone(),
        received_at: t0() + Duration::seconds(3),
        code: "webhook_signature_invalid".into(),
    };
    w.record_webhook_refusal(refusal).await.unwrap();
    let recent = NewWebhookEvent {
        status: DeliveryState::Failed,
        last_error: Some("disabled".into()),
        ..new_event(&a, "r", t0() + Duration::days(2))
    };
    let recent_id = recent.id.clone();
    w.insert_webhook_event(recent).await.unwrap();
    // Received before the cut and not pending: delivered, failed, the refusal.
    assert_eq!(
        w.purge_webhook_events(t0() + Duration::days(1))
            .await
            .unwrap(),
        3
    );
    let mut left: Vec<String> = w
        .list_webhook_deliveries(&org.id, &a.id, log(None))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    left.sort();
    let mut want = vec![pending.clone(), recent_id];
    want.sort();
    assert_eq!(left, want);
    not_found(w.get_webhook_delivery(&org.id, &a.id, &delivered).await);
    assert_eq!(
        w.purge_webhook_events(t0() + Duration::days(1))
            .await
            .unwrap(),
        0
    );

    // Deleting the endpoint deletes its log; its id made again starts empty.
    let other = created(store.as_ref(), endpoint(&org.id, "k1")).await;
    let kept_elsewhere = kept(store.as_ref(), &other, "p", t0()).await;
    w.delete_webhook_endpoint(&org.id, &a.id, event(&org.id, "webhook_endpoint.delete"))
        .await
        .unwrap();
    not_found(w.find_webhook_endpoint(&a.id).await);
    not_found(w.list_webhook_deliveries(&org.id, &a.id, log(None)).await);
    not_found(
        w.delete_webhook_endpoint(&org.id, &a.id, event(&org.id, "x"))
            .await,
    );
    created(store.as_ref(), a.clone()).await;
    assert!(w
        .list_webhook_deliveries(&org.id, &a.id, log(None))
        .await
        .unwrap()
        .is_empty());
    // Not the same event: the dedup key is free again.
    kept(store.as_ref(), &a, "p", t0()).await;
    assert!(w
        .get_webhook_delivery(&org.id, &other.id, &kept_elsewhere)
        .await
        .is_ok());
    assert!(actions(store.as_ref(), &org.id)
        .await
        .contains(&"webhook_endpoint.delete".to_owned()));
}

pub async fn webhook_endpoint_secrets_are_rewrapped_by_rotation(store: Arc<dyn Store>) {
    let org = setup(store.as_ref()).await;
    let w = store.webhooks();
    let a = created(store.as_ref(), endpoint(&org.id, "old")).await;
    created(store.as_ref(), endpoint(&org.id, "new")).await;
    assert_eq!(
        store.kek_usage().await.unwrap(),
        vec![("new".into(), 1), ("old".into(), 1)]
    );
    let records = store.sealed_records("new", 100).await.unwrap();
    assert_eq!(records.len(), 1);
    let mine = &records[0];
    assert_eq!(
        (mine.table, mine.id.as_str()),
        ("webhook_endpoints", a.id.as_str())
    );
    assert_eq!(mine.dek, a.secrets.dek);
    assert!(store.rewrap_record(mine, &dek("new", 8)).await.unwrap());
    // Re-wrapped already: the second writes nothing.
    assert!(!store.rewrap_record(mine, &dek("new", 9)).await.unwrap());
    let after = w.find_webhook_endpoint(&a.id).await.unwrap();
    assert_eq!(after.secrets.dek, dek("new", 8));
    assert_eq!(after.secrets.provider, a.secrets.provider);
    assert_eq!(store.kek_usage().await.unwrap(), vec![("new".into(), 2)]);
    assert!(store.sealed_records("new", 100).await.unwrap().is_empty());
    // Deleting the organization erases its endpoints' secrets (and events).
    kept(store.as_ref(), &a, "e", t0()).await;
    store
        .delete_org(&org.id, t0(), "test", event(&org.id, "org.delete"))
        .await
        .unwrap();
    assert!(store.kek_usage().await.unwrap().is_empty());
    not_found(w.find_webhook_endpoint(&a.id).await);
}
