//! Workers as people see them through the API: listed by workspace, status (by the
//! server's clock: online, stale, offline, revoked) and label, paged with a status
//! filter, shown with the troubleshooting table answered for each state, removed
//! (audited, gone, its connection closed); another organization and keys of another
//! workspace do not reach them, and keys without `workers:*` are refused.
//!
//! The worker's own calls (registering, its WebSocket) are not what this tests: workers
//! are registered, connected and made to beat through the real store.

use crate::common::TestApp;
use chrono::Duration;
use keyward_core::Clock;
use keyward_store::NewWorker;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A workspace made with the owner's token: its id.
pub async fn workspace(app: &TestApp, name: &str) -> String {
    let r = app
        .post("/v1/workspaces", &app.owner_token, json!({ "name": name }))
        .await;
    let v: Value = r.expect(StatusCode::CREATED);
    v["id"].as_str().unwrap().to_owned()
}

/// A worker key of the owner for `ws`: (raw key, id).
pub async fn worker_key(app: &TestApp, ws: &str, name: &str) -> (String, String) {
    app.create_key(json!({"name": name, "kind": "worker", "workspace": ws}))
        .await
}

fn event(org_id: &str, action: &str, target: &str) -> keyward_store::NewAuditEvent {
    keyward_store::NewAuditEvent {
        org_id: org_id.to_owned(),
        at: chrono::Utc::now(),
        actor: keyward_store::Actor {
            actor_type: "system".into(),
            id: None,
            name: "test setup".into(),
            key_id: None,
            authority: None,
        },
        action: action.to_owned(),
        target_type: "worker".into(),
        target_id: target.to_owned(),
        source_ip: None,
        details: json!({}),
    }
}

/// A `POST /v1/workers/register` body for the worker `name`.
pub fn registration(name: &str) -> Value {
    json!({
        "name": name, "host": format!("{name}.local"), "os": "linux x86_64",
        "version": "1.2.3", "labels": ["gpu"], "instance": keyward_core::base62::random(12),
    })
}

/// The connection id a test worker `id` holds.
pub fn connection(id: &str) -> String {
    format!("test:{id}")
}

/// Registers the worker `name` in `ws` with the key `key_id` (of organization
/// `org_id`), through the store, at the clock's time, and opens its connection: its id.
pub async fn register_in(
    app: &TestApp,
    org_id: &str,
    ws: &str,
    key_id: &str,
    name: &str,
    labels: &[&str],
) -> String {
    let now = app.clock.now();
    let id = keyward_core::ids::new_sortable_id("wkr", now.timestamp_millis());
    let registered = app
        .store
        .workers()
        .register_worker(
            NewWorker {
                id: id.clone(),
                org_id: org_id.to_owned(),
                workspace_id: ws.to_owned(),
                key_id: key_id.to_owned(),
                name: name.to_owned(),
                host: format!("{name}.local"),
                os: "linux x86_64".into(),
                version: "1.2.3".into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                heartbeat_interval_secs: 15,
                forwards: false,
                instance: keyward_core::base62::random(12),
                at: now,
            },
            now,
            event(org_id, "worker.register", &id),
        )
        .await
        .unwrap();
    let id = registered.record().id.clone();
    app.store
        .workers()
        .connect_worker(&id, &connection(&id), now)
        .await
        .unwrap();
    id
}

/// As [`register_in`], in the bootstrap organization.
pub async fn register(
    app: &TestApp,
    ws: &str,
    key_id: &str,
    name: &str,
    labels: &[&str],
) -> String {
    let org_id = app.org_id().await;
    register_in(app, &org_id, ws, key_id, name, labels).await
}

/// A heartbeat of the worker `id` now.
pub async fn beat(app: &TestApp, id: &str) {
    let ok = app
        .store
        .workers()
        .heartbeat_worker(id, &connection(id), app.clock.now())
        .await
        .unwrap();
    assert!(ok, "{id}'s connection is gone");
}

/// The names of the workers `GET path` lists (one page).
async fn names(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let v: Value = app.get(path, token).await.expect(StatusCode::OK);
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn workers_are_listed_by_workspace_label_and_status_by_the_clock() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws1 = workspace(&app, "production").await;
    let ws2 = workspace(&app, "staging").await;
    let (_, k1) = worker_key(&app, &ws1, "alice-macbook-worker").await;
    let (_, k2) = worker_key(&app, &ws2, "buildkite-staging-worker").await;
    let a = register(&app, &ws1, &k1, "gpu-box", &["gpu", "linux"]).await;
    let _b = register(&app, &ws1, &k1, "cpu-box", &["linux"]).await;
    let _c = register(&app, &ws2, &k2, "ci-box", &[]).await;

    let all: Value = app.get("/v1/workers", t).await.expect(StatusCode::OK);
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{all}");
    assert_eq!(all["next_cursor"], Value::Null);
    let ids: Vec<&str> = data.iter().map(|w| w["id"].as_str().unwrap()).collect();
    let mut by_id = ids.clone();
    by_id.sort();
    assert_eq!(ids, by_id, "oldest first, by id");
    let gpu = data.iter().find(|w| w["id"] == a.as_str()).unwrap();
    assert_eq!(gpu["status"], "online");
    assert_eq!(gpu["connected"], true);
    assert_eq!(gpu["workspace_id"], ws1.as_str());
    assert_eq!(gpu["labels"], json!(["gpu", "linux"]));
    assert_eq!(gpu["key"]["id"], k1.as_str());
    assert_eq!(gpu["key"]["name"], "alice-macbook-worker");
    assert!(gpu["key"]["prefix"].as_str().unwrap().starts_with("kw_wk_"));
    assert_eq!(gpu["key"]["status"], "active");

    // By workspace; by label (lowercased); a malformed label; a workspace of no one.
    assert_eq!(
        sorted(names(&app, &format!("/v1/workers?workspace={ws1}"), t).await),
        ["cpu-box", "gpu-box"]
    );
    assert_eq!(names(&app, "/v1/workers?label=GPU", t).await, ["gpu-box"]);
    assert_eq!(
        sorted(names(&app, "/v1/workers?label=linux", t).await),
        ["cpu-box", "gpu-box"]
    );
    let r = app.get("/v1/workers?label=-bad", t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{}",
        r.body
    );
    assert_eq!(r.body["field"], "label");
    assert!(names(&app, "/v1/workers?workspace=ws_nobody", t)
        .await
        .is_empty());
    let r = app.get("/v1/workers?status=asleep", t).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app.get("/v1/workers?limit=0", t).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // 40 s later the gpu box has kept beating; the others missed two heartbeats.
    app.clock.advance(Duration::seconds(40));
    beat(&app, &a).await;
    assert_eq!(
        names(&app, "/v1/workers?status=online", t).await,
        ["gpu-box"]
    );
    assert_eq!(
        sorted(names(&app, "/v1/workers?status=stale", t).await),
        ["ci-box", "cpu-box"]
    );
    // 90 s: five missed, offline (and no longer shown as connected).
    app.clock.advance(Duration::seconds(50));
    beat(&app, &a).await;
    assert_eq!(
        sorted(names(&app, "/v1/workers?status=offline", t).await),
        ["ci-box", "cpu-box"]
    );
    let offline: Value = app
        .get("/v1/workers?status=offline", t)
        .await
        .expect(StatusCode::OK);
    assert_eq!(offline["data"][0]["connected"], false);
    // The staging key revoked through the API: its worker is revoked, whatever else.
    app.delete(&format!("/v1/keys/{k2}"), t)
        .await
        .expect::<Value>(StatusCode::OK);
    assert_eq!(
        names(&app, "/v1/workers?status=revoked", t).await,
        ["ci-box"]
    );
    assert_eq!(
        names(&app, "/v1/workers?status=offline", t).await,
        ["cpu-box"]
    );
    assert_eq!(
        names(
            &app,
            &format!("/v1/workers?status=revoked&workspace={ws1}"),
            t
        )
        .await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn pages_with_a_status_filter_are_full_and_their_cursor_is_right() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = workspace(&app, "fleet").await;
    let (_, key) = worker_key(&app, &ws, "fleet-worker").await;
    let mut ids = vec![];
    for i in 0..9 {
        ids.push(register(&app, &ws, &key, &format!("w{i}"), &[]).await);
    }
    ids.sort();
    // Every third one keeps beating; the others go stale.
    app.clock.advance(Duration::seconds(40));
    let online: Vec<String> = ids.iter().step_by(3).cloned().collect();
    for id in &online {
        beat(&app, id).await;
    }
    let stale: Vec<String> = ids
        .iter()
        .filter(|i| !online.contains(i))
        .cloned()
        .collect();

    for (status, want, limit) in [("online", &online, 2), ("stale", &stale, 4)] {
        let mut got = vec![];
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/workers?status={status}&limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: Value = app.get(&path, t).await.expect(StatusCode::OK);
            let data = page["data"].as_array().unwrap();
            pages += 1;
            for w in data {
                assert_eq!(w["status"], status, "{page}");
                got.push(w["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(data.len(), limit, "a page with a next one is full: {page}");
                    cursor = Some(c.to_owned());
                }
                None => break,
            }
            assert!(pages < 20);
        }
        assert_eq!(&got, want, "{status}");
        assert_eq!(
            pages,
            want.len().div_ceil(limit),
            "{status}: no empty last page"
        );
    }
}

/// `GET /v1/workers/{id}`'s troubleshooting line for `symptom`.
fn line<'a>(detail: &'a Value, symptom: &str) -> &'a Value {
    detail["troubleshooting"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["symptom"] == symptom)
        .unwrap_or_else(|| panic!("no line {symptom:?}: {detail}"))
}

#[tokio::test]
async fn the_troubleshooting_table_follows_the_workers_state() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "alice-macbook-worker").await;
    let _other_key = worker_key(&app, &ws, "alice-spare-worker").await;
    let id = register(&app, &ws, &key, "alice-macbook", &["gpu"]).await;
    let path = format!("/v1/workers/{id}");

    let d: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["name"], "alice-macbook");
    assert_eq!(d["host"], "alice-macbook.local");
    assert_eq!(d["status"], "online");
    assert_eq!(d["owner_active_worker_keys"], 2);
    assert_eq!(d["worker_key_limit"], 25);
    let symptoms: Vec<&str> = d["troubleshooting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["symptom"].as_str().unwrap())
        .collect();
    assert_eq!(
        symptoms,
        [
            "Worker does not appear",
            "Worker was connected and stopped",
            "Revoke affected the wrong worker",
            "Create fails",
            "The raw key is gone",
        ]
    );
    assert!(
        d["troubleshooting"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{d}"
    );
    let prefix = d["key"]["prefix"].as_str().unwrap().to_owned();
    assert_eq!(
        line(&d, "Revoke affected the wrong worker")["finding"],
        format!(
            "The key alice-macbook-worker ({prefix}…) is active. No other worker runs with it."
        )
    );
    assert_eq!(
        line(&d, "Create fails")["finding"],
        "2 of 25 active worker keys for the key's owner in this workspace."
    );
    assert!(line(&d, "Worker does not appear")["finding"]
        .as_str()
        .unwrap()
        .contains("every 15 s"));
    assert_eq!(
        line(&d, "Worker was connected and stopped")["check"],
        "Confirm the process is still running and the key was not revoked"
    );

    // Stale: two heartbeats missed.
    app.clock.advance(Duration::seconds(40));
    let d: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(d["status"], "stale");
    let stopped = line(&d, "Worker was connected and stopped");
    assert_eq!(stopped["ok"], false);
    assert!(
        stopped["finding"]
            .as_str()
            .unwrap()
            .starts_with("No heartbeat for 40 s (2 missed)"),
        "{stopped}"
    );
    // Offline without a clean stop.
    app.clock.advance(Duration::seconds(60));
    let d: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(d["status"], "offline");
    assert!(line(&d, "Worker was connected and stopped")["finding"]
        .as_str()
        .unwrap()
        .starts_with("No heartbeat since"));
    // Connected again, then a clean stop (SIGTERM: it deregistered).
    let now = app.clock.now();
    app.store
        .workers()
        .connect_worker(&id, &crate::workers::connection(&id), now)
        .await
        .unwrap();
    app.clock.advance(Duration::seconds(1));
    assert_eq!(
        app.get(&path, t).await.body["status"],
        "online",
        "connected again"
    );
    app.store
        .workers()
        .disconnect_worker(&id, &crate::workers::connection(&id), app.clock.now(), true)
        .await
        .unwrap();
    let d: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(d["status"], "offline");
    assert_eq!(d["connected"], false);
    let stopped = line(&d, "Worker was connected and stopped");
    assert!(
        stopped["finding"]
            .as_str()
            .unwrap()
            .contains("stopped cleanly at"),
        "{stopped}"
    );
    // The key revoked through the API.
    app.delete(&format!("/v1/keys/{key}"), t)
        .await
        .expect::<Value>(StatusCode::OK);
    let d: Value = app.get(&path, t).await.expect(StatusCode::OK);
    assert_eq!(d["status"], "revoked");
    assert_eq!(d["key"]["status"], "revoked");
    let revoked = line(&d, "Revoke affected the wrong worker");
    assert_eq!(revoked["ok"], false);
    assert!(
        revoked["finding"]
            .as_str()
            .unwrap()
            .contains(&format!("({prefix}…) was revoked at ")),
        "{revoked}"
    );
    assert_eq!(
        line(&d, "Create fails")["finding"],
        "1 of 25 active worker keys for the key's owner in this workspace."
    );
    assert_eq!(line(&d, "Worker was connected and stopped")["ok"], false);
    // An unknown id.
    let r = app.get("/v1/workers/wkr_nothing", t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "worker_not_found")
    );
}

#[tokio::test]
async fn removing_a_worker_is_audited_and_reaches_only_ones_own_organization() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "alice-macbook-worker").await;
    let id = register(&app, &ws, &key, "alice-macbook", &[]).await;
    let path = format!("/v1/workers/{id}");

    // Another organization's owner: not found, not listed, not removed.
    let org: Value = app
        .post("/v1/organizations", t, json!({"name": "rival"}))
        .await
        .expect(StatusCode::CREATED);
    let rival = org["token"]["key"].as_str().unwrap();
    for r in [app.get(&path, rival).await, app.delete(&path, rival).await] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "worker_not_found"),
            "{}",
            r.body
        );
    }
    assert_eq!(app.get("/v1/workers", rival).await.body["data"], json!([]));
    app.get(&path, t).await.expect::<Value>(StatusCode::OK);

    app.delete(&path, t)
        .await
        .expect::<()>(StatusCode::NO_CONTENT);
    let r = app.get(&path, t).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "worker_not_found")
    );
    assert_eq!(app.get("/v1/workers", t).await.body["data"], json!([]));
    let r = app.delete(&path, t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // The key still works: removing a worker revokes nothing.
    let key_now: Value = app
        .get(&format!("/v1/keys/{key}"), t)
        .await
        .expect(StatusCode::OK);
    assert_eq!(key_now["status"], "active");

    let audit: Value = app
        .get("/v1/audit-log?action=worker.remove", t)
        .await
        .expect(StatusCode::OK);
    let events = audit["data"].as_array().unwrap();
    let removed: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "worker.remove")
        .collect();
    assert_eq!(removed.len(), 1, "{audit}");
    let e = removed[0];
    assert_eq!(e["target"]["type"], "worker", "{e}");
    assert_eq!(e["target"]["id"], id.as_str(), "{e}");
    assert_eq!(e["details"]["name"], "alice-macbook");
    assert_eq!(e["details"]["workspace_id"], ws.as_str());
}

#[tokio::test]
async fn a_key_of_one_workspace_sees_only_its_workers_and_permissions_are_checked() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws1 = workspace(&app, "production").await;
    let ws2 = workspace(&app, "staging").await;
    let (_, k1) = worker_key(&app, &ws1, "prod-worker").await;
    let (_, k2) = worker_key(&app, &ws2, "staging-worker").await;
    let prod = register(&app, &ws1, &k1, "prod-box", &[]).await;
    let staging = register(&app, &ws2, &k2, "staging-box", &[]).await;

    let (narrow, _) = app
        .create_key(
            json!({"name": "prod only", "scope": {"type": "workspaces", "workspaces": [ws1]}}),
        )
        .await;
    assert_eq!(names(&app, "/v1/workers", &narrow).await, ["prod-box"]);
    assert!(
        names(&app, &format!("/v1/workers?workspace={ws2}"), &narrow)
            .await
            .is_empty()
    );
    assert_eq!(
        names(&app, &format!("/v1/workers?workspace={ws1}"), &narrow).await,
        ["prod-box"]
    );
    app.get(&format!("/v1/workers/{prod}"), &narrow)
        .await
        .expect::<Value>(StatusCode::OK);
    let staging_path = format!("/v1/workers/{staging}");
    for r in [
        app.get(&staging_path, &narrow).await,
        app.delete(&staging_path, &narrow).await,
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }

    // Without workers:read nothing is listed or shown; with it alone, nothing removed.
    let (no_workers, _) = app
        .create_key(json!({"name": "webhooks only", "permissions": ["webhooks:write"]}))
        .await;
    for r in [
        app.get("/v1/workers", &no_workers).await,
        app.get(&staging_path, &no_workers).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            r.body
        );
        assert_eq!(r.body["required_permission"], "workers:read");
    }
    let (reader, _) = app
        .create_key(json!({"name": "reader", "permissions": ["workers:read"]}))
        .await;
    assert_eq!(names(&app, "/v1/workers", &reader).await.len(), 2);
    app.get(&staging_path, &reader)
        .await
        .expect::<Value>(StatusCode::OK);
    let r = app.delete(&staging_path, &reader).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["required_permission"], "workers:write");
    // A member reads them, and only admins remove them.
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    assert_eq!(names(&app, "/v1/workers", &member).await.len(), 2);
    let r = app.delete(&staging_path, &member).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "role_forbidden"),
        "{}",
        r.body
    );
    app.get(&staging_path, t)
        .await
        .expect::<Value>(StatusCode::OK);
}
