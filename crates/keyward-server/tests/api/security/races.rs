//! Keys, tokens and admin writes racing a deletion, a demotion, a switch-off, a promotion.

use super::*;

/// Creates keys with `token` from `clients` tasks until `stop` is set or the token is
/// refused; each task returns the raw keys it created. Returns once the tasks together
/// have created a few, so the deletion that follows races creates in flight.
async fn create_until_stopped(
    app: &Arc<TestApp>,
    token: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    create_at_until_stopped(app, token, "/v1/keys", json!({}), clients, stop).await
}

/// As [`create_until_stopped`], posting `body` (plus a fresh name) to `path`; a 404
/// (what the keys belong to is gone) ends a task like a 401.
async fn create_at_until_stopped(
    app: &Arc<TestApp>,
    token: &str,
    path: &str,
    body: serde_json::Value,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    let created = Arc::new(AtomicUsize::new(0));
    let tasks = (0..clients)
        .map(|i| {
            let (app, token, stop) = (app.clone(), token.to_owned(), stop.clone());
            let (path, body) = (path.to_owned(), body.clone());
            let created = created.clone();
            tokio::spawn(async move {
                let mut made = vec![];
                for n in 0..1000 {
                    if stop.load(Ordering::SeqCst) && n > 0 {
                        break;
                    }
                    let mut body = body.clone();
                    body["name"] = json!(format!("racer {i}.{n}"));
                    let r = app.post(&path, &token, body).await;
                    match r.status {
                        StatusCode::CREATED => {
                            created.fetch_add(1, Ordering::SeqCst);
                            made.push(r.body["key"].as_str().unwrap().to_owned())
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => break,
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
                made
            })
        })
        .collect();
    for _ in 0..2000 {
        if created.load(Ordering::SeqCst) >= clients {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tasks
}

/// 50 clients create keys with a member's token while an admin removes the member:
/// once the removal has returned, none of the keys works, wherever it was created in
/// the race, and the member's token can create nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_created_while_their_member_is_removed_stop_working() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..3 {
        let (member, member_id) = app
            .join(&format!("racer{round}@company.com"), "member", &[])
            .await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = create_until_stopped(&app, &member, 50, &stop).await;
        let r = app
            .delete(&format!("/v1/members/{member_id}"), &app.owner_token)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        stop.store(true, Ordering::SeqCst);
        let mut made = vec![];
        for t in tasks {
            made.extend(t.await.unwrap());
        }
        assert!(!made.is_empty(), "round {round}: the race created no key");
        let mut valid = 0;
        for key in &made {
            if app.verify_code(key).await == "VALID" {
                valid += 1;
            }
        }
        assert_eq!(
            valid,
            0,
            "round {round}: {valid} of {} keys survived",
            made.len()
        );
        let r = app.post("/v1/keys", &member, json!({"name": "late"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
}

/// Keys of a service account, and tokens of a channel, created by 50 clients while an
/// admin deletes the account or the channel: none of them works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_account_keys_and_channel_tokens_do_not_outlive_their_deletion() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.owner_token.clone();
    let sa = app
        .post(
            "/v1/service-accounts",
            &t,
            json!({"name": "bot", "scopes": "keys:read"}),
        )
        .await;
    let sa_id = sa.body["id"].as_str().unwrap().to_owned();
    let agent = app
        .post("/v1/agents", &t, json!({"name": "bot"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = app
        .post("/v1/channels", &t, json!({"agent": agent, "name": "c"}))
        .await;
    let channel_id = channel.body["id"].as_str().unwrap().to_owned();
    for (path, body, delete) in [
        (
            format!("/v1/service-accounts/{sa_id}/keys"),
            json!({}),
            format!("/v1/service-accounts/{sa_id}"),
        ),
        (
            "/v1/keys".to_owned(),
            json!({"kind": "channel", "channel": channel_id}),
            format!("/v1/channels/{channel_id}"),
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = create_at_until_stopped(&app, &t, &path, body, 50, &stop).await;
        let r = app.delete(&delete, &t).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        stop.store(true, Ordering::SeqCst);
        let mut made = vec![];
        for task in tasks {
            made.extend(task.await.unwrap());
        }
        assert!(!made.is_empty(), "{path}: the race created nothing");
        for key in &made {
            assert_ne!(
                app.verify_code(key).await,
                "VALID",
                "{path}: a key survived"
            );
        }
    }
}

/// Keys of an organization created while it is deleted die with it; the survivors that
/// once created workspaces and new owners cannot act any more, and the organization is
/// gone for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_created_while_their_organization_is_deleted_stop_working() {
    let app = Arc::new(TestApp::spawn().await);
    let created = app
        .post(
            "/v1/organizations",
            &app.owner_token,
            json!({"name": "doomed"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"]["key"].as_str().unwrap().to_owned();
    let org_id = created.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("/v1/organizations/{org_id}"),
            &token,
            json!({"settings": {"max_keys": 1000000}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = create_until_stopped(&app, &token, 50, &stop).await;
    let r = app
        .delete(&format!("/v1/organizations/{org_id}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    stop.store(true, Ordering::SeqCst);
    let mut made = vec![];
    for t in tasks {
        made.extend(t.await.unwrap());
    }
    assert!(!made.is_empty());
    for key in &made {
        let me = app.get("/v1/me", key).await;
        assert_eq!(
            me.status,
            StatusCode::UNAUTHORIZED,
            "a key survived: {}",
            me.body
        );
        let ws = app.post("/v1/workspaces", key, json!({"name": "x"})).await;
        assert_eq!(ws.status, StatusCode::UNAUTHORIZED);
    }
}

/// An admin's writes racing their demotion: once the demotion committed, none of their
/// admin writes is committed after it (the audit log is the order of commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_authorized_before_a_demotion_do_not_commit_after_it() {
    let app = Arc::new(TestApp::spawn().await);
    let (admin, admin_id) = app.join("demoted@company.com", "org_admin", &[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, admin, stop) = (app.clone(), admin.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0..500 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = app
                        .post(
                            "/v1/workspaces",
                            &admin,
                            json!({"name": format!("ws {i}.{n}")}),
                        )
                        .await;
                    assert!(
                        r.status.is_success()
                            || r.status == StatusCode::FORBIDDEN
                            || r.code() == "authorization_changed",
                        "{}: {}",
                        r.status,
                        r.body
                    );
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let r = app
        .patch(
            &format!("/v1/members/{admin_id}"),
            &app.owner_token,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let mut events = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit-log?limit=100&cursor={c}"),
            None => "/v1/audit-log?limit=100".to_owned(),
        };
        let page = app.get(&path, &app.owner_token).await.body;
        events.extend(page["data"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    events.reverse();
    let demotion = events
        .iter()
        .position(|e| e["action"] == "member.update" && e["target"]["id"] == admin_id.as_str())
        .expect("the demotion is audited");
    let late: Vec<_> = events[demotion..]
        .iter()
        .filter(|e| e["action"] == "workspace.create" && e["actor"]["id"] == admin_id.as_str())
        .collect();
    assert!(
        late.is_empty(),
        "{} admin writes committed after the demotion",
        late.len()
    );
    assert!(
        events[..demotion]
            .iter()
            .any(|e| e["action"] == "workspace.create"),
        "the race created nothing before the demotion"
    );
}

/// Deleting an agent while channels are created for it: each create either lands before
/// (and the agent is then in use) or finds the agent gone (404); never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_racing_an_agents_deletion_never_fail_with_500() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..5 {
        let agent = app
            .post(
                "/v1/agents",
                &app.owner_token,
                json!({"name": format!("bot {round}")}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (app, agent) = (app.clone(), agent.clone());
                tokio::spawn(async move {
                    app.post(
                        "/v1/channels",
                        &app.owner_token,
                        json!({"agent": agent, "name": format!("c{i}")}),
                    )
                    .await
                })
            })
            .collect();
        let deleted = app
            .delete(&format!("/v1/agents/{agent}"), &app.owner_token)
            .await;
        assert!(!deleted.status.is_server_error(), "{}", deleted.body);
        for t in tasks {
            let r = t.await.unwrap();
            assert!(
                !r.status.is_server_error(),
                "round {round}: {} {}",
                r.status,
                r.body
            );
        }
    }
}

/// A person racing an admin who switches their key off cannot win: the rule that
/// someone else's switch sticks is checked inside the change, so once the admin's
/// disable returned, the key stays off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admins_switch_off_wins_a_race_with_its_person() {
    let app = Arc::new(TestApp::spawn().await);
    let (member, _) = app.join("racer@company.com", "member", &[]).await;
    let (admin, _) = app.join("admin@company.com", "org_admin", &[]).await;
    for round in 0..5 {
        let made = app
            .post("/v1/keys", &member, json!({"name": format!("k{round}")}))
            .await;
        let path = format!("/v1/keys/{}", made.body["id"].as_str().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (app, member, path, stop) =
                    (app.clone(), member.clone(), path.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let r = app.patch(&path, &member, json!({"enabled": true})).await;
                        assert!(!r.status.is_server_error(), "{}", r.body);
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = app.patch(&path, &admin, json!({"enabled": false})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let now = app.get(&path, &admin).await;
        assert_eq!(now.body["enabled"], false, "round {round}: {}", now.body);
    }
}

/// An admin acting on a person's token while an owner promotes that person: the rank
/// rule is checked inside the change, so no admin change of the token commits after the
/// promotion (audit order).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_cannot_act_on_a_token_of_someone_promoted_meanwhile() {
    let app = Arc::new(TestApp::spawn().await);
    let (admin, admin_id) = app.join("admin@company.com", "org_admin", &[]).await;
    let (member, member_id) = app.join("rising@company.com", "member", &[]).await;
    let key = app.get("/v1/me", &member).await.body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (app, admin, key, stop) = (app.clone(), admin.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let r = app
                        .patch(
                            &format!("/v1/keys/{key}"),
                            &admin,
                            json!({"name": format!("t{i}.{n}")}),
                        )
                        .await;
                    assert!(!r.status.is_server_error(), "{}", r.body);
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let r = app
        .patch(
            &format!("/v1/members/{member_id}"),
            &app.owner_token,
            json!({"role": "org_admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let log = app
        .get("/v1/audit-log?limit=100", &app.owner_token)
        .await
        .body;
    let mut events: Vec<_> = log["data"].as_array().unwrap().clone();
    events.reverse();
    let promoted = events
        .iter()
        .position(|e| e["action"] == "member.update" && e["target"]["id"] == member_id.as_str())
        .unwrap();
    assert!(
        !events[promoted..]
            .iter()
            .any(|e| e["action"] == "key.update"
                && e["target"]["id"] == key.as_str()
                && e["actor"]["id"] == admin_id.as_str()),
        "an admin changed an admin's token after the promotion"
    );
}
