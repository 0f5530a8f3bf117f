//! What a worker daemon says to Keyward, spoken here by a WebSocket client
//! (tokio-tungstenite) against the real server: registration and its refusals, the
//! connection (hello, heartbeats, the key checked on every change), and events handed
//! to workers — in order per endpoint, one at a time, to the workers of the selection.

use crate::common::TestApp;
use crate::webhooks::standard_headers;
use futures_util::{SinkExt, StreamExt};
use keyward_api::{ServerMessage, WorkerAck, WorkerMessage};
use keyward_core::Clock;
use keyward_webhooks::standard::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn workspace(app: &TestApp, name: &str) -> String {
    let r: Value = app
        .post("/v1/workspaces", &app.owner_token, json!({ "name": name }))
        .await
        .expect(StatusCode::CREATED);
    r["id"].as_str().unwrap().to_owned()
}

/// (key id, key)
async fn worker_key(app: &TestApp, ws: &str, name: &str) -> (String, String) {
    let r: Value = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": name, "kind": "worker", "workspace": ws}),
        )
        .await
        .expect(StatusCode::CREATED);
    (
        r["id"].as_str().unwrap().to_owned(),
        r["key"].as_str().unwrap().to_owned(),
    )
}

fn registration(name: &str, instance: &str, labels: &[&str], forwards: bool) -> Value {
    json!({"name": name, "host": "test-host", "os": "linux x86_64", "version": "0.1.0",
        "labels": labels, "heartbeat_interval_secs": 5, "forwards": forwards, "instance": instance})
}

/// Registers and connects; the socket after its hello.
async fn connect(app: &TestApp, key: &str, body: Value) -> (String, Socket) {
    let r = app.post("/v1/workers/register", key, body).await;
    assert!(r.status.is_success(), "{}", r.body);
    let id = r.body["worker"]["id"].as_str().unwrap().to_owned();
    let path = r.body["connect_path"].as_str().unwrap();
    let mut socket = open(app, key, path).await.unwrap();
    match next(&mut socket).await {
        Some(ServerMessage::Hello { worker, .. }) => assert_eq!(worker.id, id),
        other => panic!("expected hello, got {other:?}"),
    }
    (id, socket)
}

async fn open(
    app: &TestApp,
    key: &str,
    path: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}{}", app.base.replacen("http", "ws", 1), path);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(s, _)| s)
}

/// The next server message (None once it closed), within 10 s.
async fn next(socket: &mut Socket) -> Option<ServerMessage> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server said something within 10 s");
        match frame {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        }
    }
}

/// The close frame's (code, reason), skipping messages before it.
async fn closed(socket: &mut Socket) -> (u16, String) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within 10 s");
        match frame {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                return (u16::from(CloseCode::Abnormal), String::new())
            }
            Some(Ok(_)) => continue,
        }
    }
}

async fn say(socket: &mut Socket, m: &WorkerMessage) {
    socket
        .send(Message::Text(serde_json::to_string(m).unwrap().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_a_worker_key_registers_and_what_it_sends_is_checked() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "alice-macbook-worker").await;
    let r = app
        .post(
            "/v1/workers/register",
            &app.owner_token,
            registration("w", "i1", &[], false),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "worker_key_required")
    );
    for (field, bad) in [
        ("labels", json!(["-bad"])),
        ("heartbeat_interval_secs", json!(0)),
        ("heartbeat_interval_secs", json!(301)),
        ("instance", json!("has space")),
        ("host", json!("")),
        ("name", json!("")),
    ] {
        let mut body = registration("w", "i1", &[], false);
        body[field] = bad;
        let r = app.post("/v1/workers/register", &key, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    let first = app
        .post(
            "/v1/workers/register",
            &key,
            registration("w", "i1", &["GPU", "gpu"], false),
        )
        .await;
    let first: Value = first.expect(StatusCode::CREATED);
    assert_eq!(first["worker"]["labels"], json!(["gpu"]));
    assert_eq!(first["worker"]["workspace_id"], ws);
    assert_eq!(first["heartbeat_interval_secs"], 5);
    // Registering again (a restart) is the same worker.
    let again: Value = app
        .post(
            "/v1/workers/register",
            &key,
            registration("w", "i2", &[], false),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["worker"]["id"], first["worker"]["id"]);
    // Audited once, when it appeared.
    let audit = app.get("/v1/audit-log?limit=100", &app.owner_token).await;
    let registered = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "worker.register")
        .count();
    assert_eq!(registered, 1, "{}", audit.body);
}

#[tokio::test]
async fn a_connected_name_is_not_taken_by_another_process_and_a_key_connects_only_its_own() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "a").await;
    let (_, other_key) = worker_key(&app, &ws, "b").await;
    let (id, mut socket) = connect(&app, &key, registration("mac", "i1", &[], false)).await;
    let r = app
        .post(
            "/v1/workers/register",
            &other_key,
            registration("mac", "i2", &[], false),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "worker_name_in_use"),
        "{}",
        r.body
    );
    // Another key cannot open its connection.
    let path = format!("/v1/workers/{id}/connect");
    let err = open(&app, &other_key, &path).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // A plain GET gets a problem, not a hang.
    let r = app.get(&path, &key).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{}",
        r.body
    );
    // Once it stopped, the name is free again.
    say(&mut socket, &WorkerMessage::Deregister).await;
    assert_eq!(closed(&mut socket).await.0, 1000);
    let w = app
        .get(&format!("/v1/workers/{id}"), &app.owner_token)
        .await;
    assert_eq!(w.body["status"], "offline", "{}", w.body);
    let r = app
        .post(
            "/v1/workers/register",
            &other_key,
            registration("mac", "i2", &[], false),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn heartbeats_are_answered_and_a_revoked_or_disabled_key_closes_the_connection_at_once() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (key_id, key) = worker_key(&app, &ws, "a").await;
    let (other_id, other) = worker_key(&app, &ws, "b").await;
    let (id, mut socket) = connect(&app, &key, registration("a", "i1", &[], false)).await;
    let (_, mut second) = connect(&app, &other, registration("b", "i2", &[], false)).await;
    app.clock.advance(chrono::Duration::seconds(3));
    say(&mut socket, &WorkerMessage::Heartbeat { in_flight: 0 }).await;
    match next(&mut socket).await {
        Some(ServerMessage::HeartbeatAck { at }) => assert_eq!(at, app.clock.now()),
        other => panic!("{other:?}"),
    }
    let w = app
        .get(&format!("/v1/workers/{id}"), &app.owner_token)
        .await;
    assert_eq!(
        w.body["last_heartbeat_at"],
        json!(app.clock.now()),
        "{}",
        w.body
    );

    // Revoked: closed without waiting for a heartbeat.
    app.delete(&format!("/v1/keys/{key_id}"), &app.owner_token)
        .await;
    assert_eq!(
        closed(&mut socket).await,
        (4001, "token_revoked".to_owned())
    );
    let r = app
        .post(
            "/v1/workers/register",
            &key,
            registration("a", "i1", &[], false),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    app.patch(
        &format!("/v1/keys/{other_id}"),
        &app.owner_token,
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        closed(&mut second).await,
        (4003, "token_disabled".to_owned())
    );
}

#[tokio::test]
async fn an_expired_key_closes_at_the_next_heartbeat_by_the_clock() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let r: Value = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "short", "kind": "worker", "workspace": ws, "expires": "7d"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let key = r["key"].as_str().unwrap().to_owned();
    let (_, mut socket) = connect(&app, &key, registration("a", "i1", &[], false)).await;
    app.clock.advance(chrono::Duration::days(8));
    say(&mut socket, &WorkerMessage::Heartbeat { in_flight: 0 }).await;
    assert_eq!(
        closed(&mut socket).await,
        (4002, "token_expired".to_owned())
    );
}

/// A Standard Webhooks endpoint whose destination is the workers (with `label`) of `ws`.
async fn workers_endpoint(app: &TestApp, ws: &str, destination: &str) -> (String, Secret) {
    let secret = Secret::generate();
    let r: Value = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "standard", "name": "to workers", "workspace": ws,
                "destination": destination, "secrets": [secret.expose_whsec().as_str()]}),
        )
        .await
        .expect(StatusCode::CREATED);
    (
        r["endpoint"]["ingress_url"].as_str().unwrap().to_owned(),
        secret,
    )
}

async fn send(app: &TestApp, ingress: &str, secret: &Secret, n: usize) -> String {
    let body = format!(r#"{{"n":{n}}}"#);
    let id = format!("msg_in{n}");
    let r = app
        .client
        .post(ingress)
        .headers(standard_headers(
            secret,
            &id,
            app.clock.now().timestamp(),
            body.as_bytes(),
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn ack(d: &keyward_api::WorkerDelivery, status: u16) -> WorkerMessage {
    WorkerMessage::Ack(WorkerAck {
        claim: d.claim.clone(),
        event_id: d.event_id.clone(),
        endpoint_id: Some(d.endpoint_id.clone()),
        status_code: Some(status),
        latency_ms: 3,
        error: None,
    })
}

#[tokio::test]
async fn events_go_in_order_one_at_a_time_to_the_workers_of_the_selection() {
    let app = TestApp::spawn_live(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
        s.policy.webhooks.schedule = vec![Duration::from_millis(100)];
    })
    .await;
    let ws = workspace(&app, "production").await;
    let other_ws = workspace(&app, "staging").await;
    // `workers` needs the endpoint's workspace; a bad label is refused.
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.owner_token,
            json!({"provider": "standard", "name": "x", "destination": "workers",
                "secrets": [Secret::generate().expose_whsec().as_str()]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("destination"))
    );
    let (ingress, secret) = workers_endpoint(&app, &ws, "workers:GPU").await;
    let (k1, k2, k3) = (
        worker_key(&app, &ws, "gpu").await.1,
        worker_key(&app, &ws, "cpu").await.1,
        worker_key(&app, &other_ws, "elsewhere").await.1,
    );
    // Without the label, in another workspace, or not forwarding: nothing for them.
    let (_, mut cpu) = connect(&app, &k2, registration("cpu", "i2", &["cpu"], true)).await;
    let (_, mut elsewhere) = connect(&app, &k3, registration("x", "i3", &["gpu"], true)).await;
    let ids: Vec<String> = {
        let mut ids = vec![];
        for n in 0..3 {
            ids.push(send(&app, &ingress, &secret, n).await);
        }
        ids
    };
    let (_, mut gpu) = connect(&app, &k1, registration("gpu", "i1", &["gpu"], true)).await;
    let Some(ServerMessage::Event(first)) = next(&mut gpu).await else {
        panic!("an event")
    };
    assert_eq!(first.event_id, ids[0]);
    assert_eq!(first.attempt, 1);
    let headers: std::collections::HashMap<_, _> = first.headers.iter().cloned().collect();
    assert_eq!(headers["webhook-id"], ids[0]);
    assert!(headers["webhook-signature"].starts_with("v1,"));
    // The next waits for the acknowledgement: nothing else arrives meanwhile.
    assert!(tokio::time::timeout(Duration::from_millis(500), gpu.next())
        .await
        .is_err());
    // A failure is retried (on the schedule), before the next one.
    say(&mut gpu, &ack(&first, 500)).await;
    let Some(ServerMessage::Event(retry)) = next(&mut gpu).await else {
        panic!("a retry")
    };
    assert_eq!(
        (retry.event_id.as_str(), retry.attempt),
        (ids[0].as_str(), 2)
    );
    say(&mut gpu, &ack(&retry, 200)).await;
    for id in &ids[1..] {
        let Some(ServerMessage::Event(d)) = next(&mut gpu).await else {
            panic!("an event")
        };
        assert_eq!(&d.event_id, id);
        say(&mut gpu, &ack(&d, 204)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &ids {
        let endpoint = ingress.rsplit('/').next().unwrap();
        let d = app
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries/{id}"),
                &app.owner_token,
            )
            .await;
        assert_eq!(d.body["status"], "delivered", "{}", d.body);
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), cpu.next())
        .await
        .is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), elsewhere.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_event_a_worker_held_when_it_vanished_goes_to_another_after_its_lease() {
    let app = TestApp::spawn_live(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
        s.policy.workers.forward_timeout = Duration::from_secs(1);
    })
    .await;
    let ws = workspace(&app, "production").await;
    let (ingress, secret) = workers_endpoint(&app, &ws, "workers").await;
    let (_, mut a) = connect(
        &app,
        &worker_key(&app, &ws, "a").await.1,
        registration("a", "i1", &[], true),
    )
    .await;
    let id = send(&app, &ingress, &secret, 0).await;
    let Some(ServerMessage::Event(held)) = next(&mut a).await else {
        panic!("an event")
    };
    assert_eq!(held.event_id, id);
    // It vanishes without acknowledging; another connects at once but gets nothing
    // while the lease runs (the first might still be forwarding it).
    drop(a);
    let (_, mut b) = connect(
        &app,
        &worker_key(&app, &ws, "b").await.1,
        registration("b", "i2", &[], true),
    )
    .await;
    assert!(tokio::time::timeout(Duration::from_secs(2), b.next())
        .await
        .is_err());
    let Some(ServerMessage::Event(again)) = next(&mut b).await else {
        panic!("redelivered")
    };
    assert_eq!(again.event_id, id);
    assert_ne!(again.claim, held.claim);
    // A late acknowledgement of the old claim is not written over the new one.
    say(&mut b, &ack(&again, 200)).await;
}

#[tokio::test]
async fn a_key_registers_at_most_fifty_workers() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "fleet").await;
    for i in 0..keyward_core::worker::MAX_WORKERS_PER_KEY {
        let r = app
            .post(
                "/v1/workers/register",
                &key,
                registration(&format!("w{i}"), "i1", &[], false),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app
        .post(
            "/v1/workers/register",
            &key,
            registration("one-more", "i1", &[], false),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "worker_limit_reached"),
        "{}",
        r.body
    );
    assert_eq!(r.body["limit"]["max"], 50);
    // Registering one of them again is an update, not a new worker.
    let r = app
        .post(
            "/v1/workers/register",
            &key,
            registration("w0", "i2", &[], false),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Once they are offline (five heartbeats of 5 s missed), the longest silent one
    // makes room for a new name (ephemeral machines), audited.
    app.clock.advance(chrono::Duration::seconds(30));
    let r = app
        .post(
            "/v1/workers/register",
            &key,
            registration("one-more", "i1", &[], false),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let list = app.get("/v1/workers?limit=100", &app.owner_token).await;
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 50, "{names:?}");
    assert!(names.contains(&"one-more"), "{names:?}");
    let gone: Vec<String> = (0..50)
        .map(|i| format!("w{i}"))
        .filter(|n| !names.contains(&n.as_str()))
        .collect();
    assert_eq!(gone.len(), 1, "{names:?}");
    let audit = app.get("/v1/audit-log?limit=100", &app.owner_token).await;
    let evicted = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "worker.remove")
        .cloned()
        .expect("the eviction is audited");
    assert_eq!(evicted["details"]["name"], gone[0].as_str(), "{evicted}");
}

/// Two nodes on one PostgreSQL database, a worker connected to each: every event is
/// handed out once, in order, one at a time across both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_hand_each_event_once_and_in_order() {
    use keyward_core::ManualClock;
    use keyward_server::{Application, Settings};
    use std::sync::{Arc, Mutex};
    let Some(base) = keyward_store::testing::postgres_url_or_skip() else {
        return;
    };
    let schema = keyward_store::testing::PgScratch::create(&base)
        .await
        .unwrap();
    let setup = keyward_store::connect(schema.url()).await.unwrap();
    setup.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let follow = Arc::downgrade(&clock);
    tokio::spawn(async move {
        while let Some(c) = follow.upgrade() {
            c.set(chrono::Utc::now());
            drop(c);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let (token, _) =
        keyward_server::bootstrap::bootstrap(setup.as_ref(), clock.as_ref(), "acme", "o@x.io")
            .await
            .unwrap();
    let owner = token.expose_secret().to_owned();
    let ring = keyward_server::integrations::Config::ephemeral();
    let mut bases = vec![];
    let mut stops = vec![];
    for _ in 0..2 {
        let store = keyward_store::connect(schema.url()).await.unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: keyward_server::state::Policy {
                integrations: ring.clone(),
                ..Default::default()
            },
            ..Settings::default()
        };
        settings.policy.webhooks.poll_interval = Duration::from_millis(20);
        let app = Application::build(
            settings,
            store,
            clock.clone() as Arc<dyn keyward_core::Clock>,
        )
        .await
        .unwrap();
        bases.push(format!("http://{}", app.local_addr()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
    }
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, base: &str, path: &str, token: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let ws: Value = call(
        reqwest::Method::POST,
        &bases[0],
        "/v1/workspaces",
        &owner,
        json!({"name": "p"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let ws = ws["id"].as_str().unwrap().to_owned();
    let secret = Secret::generate();
    let endpoint: Value = call(
        reqwest::Method::POST,
        &bases[0],
        "/v1/webhook-endpoints",
        &owner,
        json!({"provider": "standard", "name": "w", "workspace": ws, "destination": "workers",
            "secrets": [secret.expose_whsec().as_str()]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let endpoint_id = endpoint["endpoint"]["id"].as_str().unwrap().to_owned();
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Default::default();
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let overlapped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for (n, base) in bases.iter().enumerate() {
        let key: Value = call(
            reqwest::Method::POST,
            base,
            "/v1/keys",
            &owner,
            json!({"name": format!("k{n}"), "kind": "worker", "workspace": ws}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let key = key["key"].as_str().unwrap().to_owned();
        let reg: Value = call(
            reqwest::Method::POST,
            base,
            "/v1/workers/register",
            &key,
            registration(&format!("w{n}"), &format!("i{n}"), &[], true),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let url = format!(
            "{}{}",
            base.replacen("http", "ws", 1),
            reg["connect_path"].as_str().unwrap()
        );
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let (seen, in_flight, overlapped) = (seen.clone(), in_flight.clone(), overlapped.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                let Message::Text(t) = frame else { continue };
                if let Ok(ServerMessage::Event(d)) = serde_json::from_str(t.as_str()) {
                    if in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                        overlapped.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    seen.lock().unwrap().push((n, d.event_id.clone()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    say(&mut socket, &ack(&d, 200)).await;
                }
            }
        });
    }
    let mut ids = vec![];
    for i in 0..40 {
        let ingress = format!("{}/hooks/{endpoint_id}", bases[i % 2]);
        let body = format!(r#"{{"n":{i}}}"#);
        let r = http
            .post(&ingress)
            .headers(standard_headers(
                &secret,
                &format!("msg_in{i}"),
                clock.now().timestamp(),
                body.as_bytes(),
            ))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < 40 {
        assert!(
            std::time::Instant::now() < until,
            "{:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    let order: Vec<String> = seen.iter().map(|(_, id)| id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(order, sorted, "each once, in order");
    assert!(
        !overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "never two at once"
    );
    for tx in stops {
        let _ = tx.send(());
    }
}

#[tokio::test]
async fn an_acknowledgement_sent_on_the_next_connection_counts_and_another_workers_does_not() {
    let app = TestApp::spawn_live(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
    })
    .await;
    let ws = workspace(&app, "production").await;
    let (ingress, secret) = workers_endpoint(&app, &ws, "workers").await;
    let key = worker_key(&app, &ws, "a").await.1;
    let (_, mut a) = connect(&app, &key, registration("a", "i1", &[], true)).await;
    let id = send(&app, &ingress, &secret, 0).await;
    let Some(ServerMessage::Event(held)) = next(&mut a).await else {
        panic!("an event")
    };
    // Another worker cannot acknowledge it, whatever it claims.
    let other = worker_key(&app, &ws, "b").await.1;
    let (_, mut b) = connect(&app, &other, registration("b", "i2", &[], false)).await;
    say(&mut b, &ack(&held, 200)).await;
    // The worker's connection drops; it reconnects and acknowledges there.
    drop(a);
    let (_, mut again) = connect(&app, &key, registration("a", "i1", &[], true)).await;
    say(&mut again, &ack(&held, 200)).await;
    let endpoint = ingress.rsplit('/').next().unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let d = app
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries/{id}"),
                &app.owner_token,
            )
            .await;
        if d.body["status"] == "delivered" {
            assert_eq!(d.body["attempts"], 1, "{}", d.body);
            break;
        }
        assert!(std::time::Instant::now() < until, "{}", d.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And a flood of acknowledgements of nothing ends a connection.
    for _ in 0..30 {
        let _ = b
            .send(Message::Text(
                serde_json::to_string(&ack(&held, 200)).unwrap().into(),
            ))
            .await;
    }
    assert_eq!(closed(&mut b).await.0, 1008);
}

#[tokio::test]
async fn a_run_the_name_was_taken_from_cannot_connect_and_members_remove_only_their_own() {
    let app = TestApp::spawn().await;
    let ws = workspace(&app, "production").await;
    let (_, key) = worker_key(&app, &ws, "a").await;
    // Run i1 registers; run i2 takes the name over (i1 is not connected).
    let first: Value = app
        .post(
            "/v1/workers/register",
            &key,
            registration("mac", "i1", &[], false),
        )
        .await
        .expect(StatusCode::CREATED);
    let (id, _socket) = connect(&app, &key, registration("mac", "i2", &[], false)).await;
    // i1's connect path names its run: refused, so that daemon registers again.
    let stale = first["connect_path"].as_str().unwrap();
    assert!(stale.contains("instance=i1"), "{stale}");
    let err = open(&app, &key, stale).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // A member runs a worker with their own key: they may remove it, not another's.
    let (member, _) = app.join("dev@company.com", "member", &[]).await;
    let mine: Value = app
        .post(
            "/v1/keys",
            &member,
            json!({"name": "dev-laptop", "kind": "worker", "workspace": ws}),
        )
        .await
        .expect(StatusCode::CREATED);
    let mine = mine["key"].as_str().unwrap().to_owned();
    let own: Value = app
        .post(
            "/v1/workers/register",
            &mine,
            registration("dev-laptop", "i9", &[], false),
        )
        .await
        .expect(StatusCode::CREATED);
    let own_id = own["worker"]["id"].as_str().unwrap();
    let r = app.delete(&format!("/v1/workers/{id}"), &member).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app.delete(&format!("/v1/workers/{own_id}"), &member).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

/// A fast worker acknowledges as many events as it is sent: more than the message
/// budget allows for other messages, without being cut off (bench/workers.sh found
/// acknowledgements counted against it); a flood of heartbeats is cut off.
#[tokio::test]
async fn acknowledgements_are_not_limited_but_a_flood_of_heartbeats_is() {
    let app = TestApp::spawn_live(|s| {
        s.policy.webhooks.poll_interval = Duration::from_millis(20);
    })
    .await;
    let ws = workspace(&app, "production").await;
    let (ingress, secret) = workers_endpoint(&app, &ws, "workers").await;
    let n = 260;
    for i in 0..n {
        send(&app, &ingress, &secret, i).await;
    }
    let key = worker_key(&app, &ws, "fast").await.1;
    let (_, mut fast) = connect(&app, &key, registration("fast", "i1", &[], true)).await;
    for _ in 0..n {
        let Some(ServerMessage::Event(d)) = next(&mut fast).await else {
            panic!("an event")
        };
        say(&mut fast, &ack(&d, 200)).await;
    }
    say(&mut fast, &WorkerMessage::Heartbeat { in_flight: 0 }).await;
    assert!(
        matches!(
            next(&mut fast).await,
            Some(ServerMessage::HeartbeatAck { .. })
        ),
        "still connected after {n} acknowledgements"
    );
    // Heartbeats in a loop: past the burst, closed.
    let key = worker_key(&app, &ws, "noisy").await.1;
    let (_, mut noisy) = connect(&app, &key, registration("noisy", "i2", &[], false)).await;
    for _ in 0..400 {
        if noisy
            .send(Message::Text(
                serde_json::to_string(&WorkerMessage::Heartbeat { in_flight: 0 })
                    .unwrap()
                    .into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    // Closed by the server: with its reason, or (the worker still sending into a socket
    // the server shut) reset.
    let (code, reason) = closed(&mut noisy).await;
    assert!(
        (code, reason.as_str()) == (1008, "too_many_messages") || code == 1006,
        "{code} {reason}"
    );
}
