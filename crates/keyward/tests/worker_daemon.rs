//! `keyward worker`, the real binary, against a fake Keyward written here (axum on
//! 127.0.0.1:0, speaking the workers protocol of `keyward-api`: `POST
//! /v1/workers/register`, then the WebSocket at the registration's `connect_path`), and
//! a local receiver for `--forward-to`. Each test scripts the fake server's side and
//! watches what the daemon sends, its log on stderr and its exit code, all bounded by
//! timeouts. The last test logs in with a worker key on a real server (`support`).

mod support;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use keyward_client::{
    ServerMessage, Worker, WorkerAck, WorkerDelivery, WorkerKey, WorkerMessage, WorkerRegistration,
    WorkerStatus,
};
use keyward_core::expiry::KeyStatus;
use keyward_core::key::{Environment, KeyKind, PlainKey};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// The longest any one expected thing may take to happen.
const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ the fake Keyward

/// What the fake server saw.
#[derive(Debug)]
enum Seen {
    Connected { authorization: String },
    Msg(WorkerMessage, Instant),
    Gone,
}

/// What the test has the fake server do on the open WebSocket.
enum Cmd {
    Send(ServerMessage),
    Close(u16, &'static str),
}

#[derive(Clone)]
struct FakeState {
    registrations: UnboundedSender<(String, Value)>,
    seen: UnboundedSender<Seen>,
    cmds: Arc<tokio::sync::Mutex<UnboundedReceiver<Cmd>>>,
    /// Answers to give to the next registrations, before answering normally.
    scripted: Arc<Mutex<VecDeque<(u16, Value)>>>,
    last: Arc<Mutex<Option<Worker>>>,
    /// Answer no heartbeat (a connection gone silent).
    mute: Arc<std::sync::atomic::AtomicBool>,
}

struct Fake {
    url: String,
    registrations: UnboundedReceiver<(String, Value)>,
    seen: UnboundedReceiver<Seen>,
    cmds: UnboundedSender<Cmd>,
    scripted: Arc<Mutex<VecDeque<(u16, Value)>>>,
    mute: Arc<std::sync::atomic::AtomicBool>,
}

const FORWARD_TIMEOUT_SECS: u32 = 10;

fn worker_of(body: &Value) -> Worker {
    let now = Utc::now();
    Worker {
        id: "wkr_fake1".into(),
        workspace_id: "ws_fake1".into(),
        name: body["name"].as_str().unwrap_or("?").into(),
        host: body["host"].as_str().unwrap_or("?").into(),
        os: body["os"].as_str().unwrap_or("?").into(),
        version: body["version"].as_str().unwrap_or("?").into(),
        labels: serde_json::from_value(body["labels"].clone()).unwrap_or_default(),
        status: WorkerStatus::Online,
        key: WorkerKey {
            id: "key_fake1".into(),
            name: "w".into(),
            prefix: "kw_wk_abcd".into(),
            status: KeyStatus::Active,
            expires_at: None,
            revoked_at: None,
            owner_id: Some("usr_1".into()),
        },
        heartbeat_interval_secs: body["heartbeat_interval_secs"].as_u64().unwrap_or(15) as u32,
        forwards: body["forwards"].as_bool().unwrap_or(false),
        connected: false,
        registered_at: now,
        connected_since: None,
        last_heartbeat_at: now,
        stopped_at: None,
    }
}

async fn register(
    State(st): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = header(&headers, "authorization");
    let _ = st.registrations.send((auth, body.clone()));
    if let Some((status, problem)) = st.scripted.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(problem)).into_response();
    }
    let worker = worker_of(&body);
    *st.last.lock().unwrap() = Some(worker.clone());
    let reg = WorkerRegistration {
        connect_path: format!("/v1/workers/{}/connect", worker.id),
        heartbeat_interval_secs: worker.heartbeat_interval_secs,
        forward_timeout_secs: FORWARD_TIMEOUT_SECS,
        worker,
    };
    Json(reg).into_response()
}

async fn connect(
    State(st): State<FakeState>,
    Path(_id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let authorization = header(&headers, "authorization");
    ws.on_upgrade(move |socket| session(socket, st, authorization))
}

async fn session(mut socket: WebSocket, st: FakeState, authorization: String) {
    let _ = st.seen.send(Seen::Connected { authorization });
    let worker = st.last.lock().unwrap().clone().unwrap();
    let hello = ServerMessage::Hello {
        heartbeat_interval_secs: worker.heartbeat_interval_secs,
        forward_timeout_secs: FORWARD_TIMEOUT_SECS,
        worker: Box::new(worker),
    };
    if socket.send(text(&hello)).await.is_err() {
        return;
    }
    let mut cmds = st.cmds.lock().await;
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let msg: WorkerMessage = serde_json::from_str(&t).unwrap();
                    if matches!(msg, WorkerMessage::Heartbeat { .. })
                        && !st.mute.load(std::sync::atomic::Ordering::SeqCst)
                    {
                        let _ = socket.send(text(&ServerMessage::HeartbeatAck { at: Utc::now() })).await;
                    }
                    let _ = st.seen.send(Seen::Msg(msg, Instant::now()));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = st.seen.send(Seen::Gone);
                    return;
                }
                Some(Ok(_)) => {}
            },
            c = cmds.recv() => match c {
                Some(Cmd::Send(m)) => { let _ = socket.send(text(&m)).await; }
                Some(Cmd::Close(code, reason)) => {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    let _ = st.seen.send(Seen::Gone);
                    return;
                }
                None => return,
            },
        }
    }
}

fn text(m: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(m).unwrap().into())
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

impl Fake {
    async fn start() -> Self {
        let (reg_tx, registrations) = unbounded_channel();
        let (seen_tx, seen) = unbounded_channel();
        let (cmds, cmd_rx) = unbounded_channel();
        let scripted = Arc::new(Mutex::new(VecDeque::new()));
        let mute = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = FakeState {
            mute: mute.clone(),
            registrations: reg_tx,
            seen: seen_tx,
            cmds: Arc::new(tokio::sync::Mutex::new(cmd_rx)),
            scripted: scripted.clone(),
            last: Arc::default(),
        };
        let router = Router::new()
            .route("/v1/workers/register", post(register))
            .route("/v1/workers/{id}/connect", get(connect))
            .with_state(state);
        Self {
            url: serve(router).await,
            registrations,
            seen,
            cmds,
            scripted,
            mute,
        }
    }

    /// The next registrations get these answers (status, problem document).
    fn script(&self, status: u16, code: &str) {
        self.scripted.lock().unwrap().push_back((
            status,
            json!({"type": format!("/problems/{code}"), "title": code, "status": status,
                   "detail": format!("scripted {code}"), "code": code}),
        ));
    }

    async fn registration(&mut self) -> (String, Value) {
        tokio::time::timeout(WAIT, self.registrations.recv())
            .await
            .expect("no registration in time")
            .unwrap()
    }

    async fn seen(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("the fake server saw nothing in time")
            .unwrap()
    }

    async fn connected(&mut self) -> String {
        loop {
            if let Seen::Connected { authorization } = self.seen().await {
                return authorization;
            }
        }
    }

    /// The next message that is not a heartbeat.
    async fn message(&mut self) -> WorkerMessage {
        loop {
            match self.seen().await {
                Seen::Msg(WorkerMessage::Heartbeat { .. }, _) => continue,
                Seen::Msg(m, _) => return m,
                other => panic!("expected a message, saw {other:?}"),
            }
        }
    }

    fn send(&self, m: ServerMessage) {
        self.cmds.send(Cmd::Send(m)).ok().unwrap();
    }

    fn close(&self, code: u16, reason: &'static str) {
        self.cmds.send(Cmd::Close(code, reason)).ok().unwrap();
    }
}

// ------------------------------------------------------------------ the local receiver

/// What `--forward-to` received.
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Answers POST /hooks with the status in `x-test-status` (200 by default), after the
/// delay in `x-test-delay-ms`.
async fn receiver() -> (String, UnboundedReceiver<Received>) {
    let (tx, rx) = unbounded_channel();
    let router = Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let status = header(&headers, "x-test-status").parse().unwrap_or(200);
                let delay = header(&headers, "x-test-delay-ms").parse().unwrap_or(0);
                let _ = tx.send(Received {
                    headers,
                    body: body.to_vec(),
                });
                tokio::time::sleep(Duration::from_millis(delay)).await;
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    (format!("{}/hooks", serve(router).await), rx)
}

fn delivery(event_id: &str, extra: &[(&str, &str)], body: &[u8]) -> WorkerDelivery {
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), event_id.into()),
        ("webhook-timestamp".into(), "1900000000".into()),
        ("webhook-signature".into(), "v1,c2lnbmF0dXJl".into()),
        ("x-keyward-endpoint".into(), "wh_1".into()),
        ("x-keyward-provider".into(), "standard".into()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    WorkerDelivery {
        claim: format!("clm_{event_id}"),
        event_id: event_id.into(),
        endpoint_id: "wh_1".into(),
        provider: keyward_client::api::WebhookProvider::Standard,
        attempt: 1,
        headers,
        body_base64: base64::engine::general_purpose::STANDARD.encode(body),
    }
}

// ------------------------------------------------------------------ the daemon

struct Daemon {
    child: Child,
    /// Its stderr, line by line (also echoed, for a failing test's output).
    lines: UnboundedReceiver<String>,
    log: Vec<String>,
    _home: tempfile::TempDir,
}

fn worker_key() -> String {
    PlainKey::generate(KeyKind::Worker, Environment::Live)
        .expose_secret()
        .to_owned()
}

impl Daemon {
    fn start(server: &str, key: &str, args: &[&str]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .env_clear()
            .env("HOME", home.path())
            .env("KEYWARD_CONFIG_DIR", home.path().join("config"))
            .env("KEYWARD_API_KEY", key)
            .env("NO_COLOR", "1")
            .current_dir(home.path())
            .arg("worker")
            .args(["--server", server])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("[worker] {line}");
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
            _home: home,
        }
    }

    /// Its exit code, and everything it logged.
    async fn exit(mut self) -> (i32, String) {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the worker did not exit in time")
            .unwrap();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.log.push(line);
        }
        (status.code().unwrap_or(-1), self.log.join("\n"))
    }

    /// Waits for a log line containing `needle`.
    async fn logged(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("the worker never logged {needle:?}"))
                .expect("the worker's stderr closed");
            self.log.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().unwrap().to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} {pid} failed");
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_is_not_a_worker_key_exits_13_before_any_network() {
    let personal = PlainKey::generate(KeyKind::Personal, Environment::Live);
    // Nothing listens on port 9: a daemon that tried would retry, not exit.
    let d = Daemon::start("http://127.0.0.1:9", personal.expose_secret(), &[]);
    let (code, log) = d.exit().await;
    assert_eq!(code, 13, "{log}");
    assert!(log.contains("this is not a worker key (kw_wk_…)"), "{log}");
    assert!(log.contains("keyward keys create --kind worker"), "{log}");
    assert!(!log.contains(personal.expose_secret()), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_flags_are_usage_errors() {
    let key = worker_key();
    for args in [
        &["--label", "-bad"][..],
        &["--forward-to", "ftp://x/"],
        &["--forward-to", "localhost:3000"],
        &["--heartbeat", "0"],
    ] {
        let d = Daemon::start("http://127.0.0.1:9", &key, args);
        let (code, log) = d.exit().await;
        assert_eq!(code, 2, "{args:?}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registers_as_asked_heartbeats_on_time_and_stops_when_the_key_is_revoked() {
    let mut fake = Fake::start().await;
    let key = worker_key();
    let d = Daemon::start(
        &fake.url,
        &key,
        &[
            "--name",
            "ci-01",
            "--label",
            "GPU",
            "--label",
            "linux",
            "--heartbeat",
            "1",
        ],
    );
    let (auth, body) = fake.registration().await;
    assert_eq!(auth, format!("Bearer {key}"));
    assert_eq!(body["name"], "ci-01");
    assert_eq!(body["labels"], json!(["gpu", "linux"]));
    assert_eq!(body["heartbeat_interval_secs"], 1);
    assert_eq!(body["forwards"], false);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["os"],
        format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
    );
    assert!(!body["host"].as_str().unwrap().is_empty());
    assert_eq!(body["instance"].as_str().unwrap().len(), 16);
    assert_eq!(fake.connected().await, format!("Bearer {key}"));

    let mut beats = Vec::new();
    while beats.len() < 3 {
        match fake.seen().await {
            Seen::Msg(WorkerMessage::Heartbeat { in_flight }, at) => {
                assert_eq!(in_flight, 0);
                beats.push(at);
            }
            other => panic!("expected heartbeats, saw {other:?}"),
        }
    }
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > Duration::from_millis(600) && gap < Duration::from_millis(1600),
            "heartbeats {gap:?} apart"
        );
    }

    fake.close(4001, "token_revoked");
    let (code, log) = d.exit().await;
    assert_eq!(code, 10, "{log}");
    assert!(
        log.contains("registered worker ci-01 (wkr_fake1) in workspace ws_fake1 with key kw_wk_"),
        "{log}"
    );
    assert!(log.contains("not forwarding events"), "{log}");
    assert!(log.contains("the worker key was revoked"), "{log}");
    assert!(log.contains("keyward login --token <new key>"), "{log}");
    assert!(!log.contains(&key), "the key was logged: {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forwards_events_with_exactly_their_headers_and_acks_the_answers() {
    let mut fake = Fake::start().await;
    let (hooks, mut received) = receiver().await;
    let key = worker_key();
    let d = Daemon::start(
        &fake.url,
        &key,
        &["--name", "n", "--forward-to", &hooks, "--json"],
    );
    let (_, body) = fake.registration().await;
    assert_eq!(body["forwards"], true);
    fake.connected().await;

    let payload = br#"{"type":"message","text":"h\u00e9llo"}"#;
    let ok = delivery("msg_ok", &[], payload);
    fake.send(ServerMessage::Event(Box::new(ok.clone())));
    let got = tokio::time::timeout(WAIT, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.body, payload);
    for (name, value) in &ok.headers {
        let values: Vec<_> = got.headers.get_all(name).iter().collect();
        assert_eq!(values.len(), 1, "{name}");
        assert_eq!(values[0], value.as_str(), "{name}");
    }
    let extra: Vec<_> = got
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| {
            !ok.headers.iter().any(|(n, _)| n == k)
                && !["host", "content-length", "accept"].contains(k)
        })
        .collect();
    assert!(
        extra.is_empty(),
        "headers the event did not carry: {extra:?}"
    );
    match fake.message().await {
        WorkerMessage::Ack(WorkerAck {
            claim,
            event_id,
            status_code,
            error,
            ..
        }) => {
            assert_eq!(
                (claim.as_str(), event_id.as_str()),
                ("clm_msg_ok", "msg_ok")
            );
            assert_eq!(status_code, Some(200));
            assert_eq!(error, None);
        }
        other => panic!("expected an ack, got {other:?}"),
    }

    fake.send(ServerMessage::Event(Box::new(delivery(
        "msg_fail",
        &[("x-test-status", "500")],
        b"{}",
    ))));
    match fake.message().await {
        WorkerMessage::Ack(ack) => {
            assert_eq!(ack.event_id, "msg_fail");
            assert_eq!(ack.status_code, Some(500));
            assert_eq!(ack.error.as_deref(), Some("HTTP 500"));
        }
        other => panic!("expected an ack, got {other:?}"),
    }

    fake.close(4002, "token_expired");
    let (code, log) = d.exit().await;
    assert_eq!(code, 11, "{log}");
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let find = |event: &str| {
        events
            .iter()
            .find(|e| e["event"] == event)
            .unwrap_or_else(|| panic!("no {event} in {log}"))
    };
    assert_eq!(find("registered")["worker_id"], "wkr_fake1");
    assert_eq!(find("forwarded")["status"], 200);
    assert_eq!(find("forwarded")["event_id"], "msg_ok");
    assert_eq!(find("forward_failed")["status"], 500);
    assert_eq!(find("exit")["code"], 11);
    assert_eq!(find("exit")["error"], "token_expired");
    assert!(events.iter().all(|e| e["ts"].is_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_terminal_close_code_has_its_exit_code() {
    for (close, exit, says) in [
        (4003, 12, "disabled"),
        (4004, 14, "removed from Settings → Workers"),
        (4005, 16, "took over"),
    ] {
        let mut fake = Fake::start().await;
        let d = Daemon::start(&fake.url, &worker_key(), &["--name", "n"]);
        fake.connected().await;
        fake.close(close, "x");
        let (code, log) = d.exit().await;
        assert_eq!(code, exit, "close {close}: {log}");
        assert!(log.contains(says), "close {close}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_registrations_stop_with_their_exit_codes() {
    for (status, problem, exit, says) in [
        (409, "worker_name_in_use", 15, "use --name"),
        (401, "token_revoked", 10, "keyward login --token <new key>"),
        (401, "token_disabled", 12, "disabled"),
        (403, "worker_key_required", 13, "not a worker key"),
        (401, "unknown_token", 3, "refused the key"),
    ] {
        let mut fake = Fake::start().await;
        fake.script(status, problem);
        let d = Daemon::start(&fake.url, &worker_key(), &["--name", "n"]);
        let (code, log) = d.exit().await;
        assert_eq!(code, exit, "{problem}: {log}");
        assert!(log.contains(says), "{problem}: {log}");
        assert!(fake.registrations.try_recv().is_ok());
        assert!(
            fake.registrations.try_recv().is_err(),
            "{problem} was retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnects_by_itself_after_a_5xx_and_a_service_restart() {
    let mut fake = Fake::start().await;
    fake.script(503, "service_unavailable");
    let mut d = Daemon::start(
        &fake.url,
        &worker_key(),
        &["--name", "n", "--heartbeat", "1"],
    );
    let (_, first) = fake.registration().await;
    d.logged("retrying in").await;
    let (_, second) = fake.registration().await;
    assert_eq!(second["instance"], first["instance"]);
    fake.connected().await;
    d.logged("connected").await;

    fake.close(1012, "service restart");
    let line = d.logged("reconnecting in").await;
    assert!(line.contains("1012"), "{line}");
    let (_, third) = fake.registration().await;
    assert_eq!(third["instance"], first["instance"]);
    fake.connected().await;
    // Still heartbeating on the new connection.
    assert!(matches!(
        fake.seen().await,
        Seen::Msg(WorkerMessage::Heartbeat { .. }, _)
    ));

    fake.close(4001, "token_revoked");
    let (code, log) = d.exit().await;
    assert_eq!(code, 10, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_gone_silent_is_reopened() {
    let mut fake = Fake::start().await;
    fake.mute.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut d = Daemon::start(
        &fake.url,
        &worker_key(),
        &["--name", "n", "--heartbeat", "1"],
    );
    let (_, first) = fake.registration().await;
    fake.connected().await;
    let started = Instant::now();
    // 2 intervals + 5 s without a word from Keyward after its hello.
    let line = d.logged("no word from Keyward for 7s").await;
    assert!(started.elapsed() >= Duration::from_secs(6), "{line}");
    fake.mute.store(false, std::sync::atomic::Ordering::SeqCst);
    let (_, again) = fake.registration().await;
    assert_eq!(again["instance"], first["instance"]);
    fake.connected().await;
    fake.close(4001, "token_revoked");
    assert_eq!(d.exit().await.0, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_keeps_heartbeating_acks_then_deregisters() {
    let mut fake = Fake::start().await;
    let (hooks, mut received) = receiver().await;
    let d = Daemon::start(
        &fake.url,
        &worker_key(),
        &["--name", "n", "--heartbeat", "1", "--forward-to", &hooks],
    );
    fake.connected().await;
    fake.send(ServerMessage::Event(Box::new(delivery(
        "msg_slow",
        &[("x-test-delay-ms", "3000")],
        b"{}",
    ))));
    tokio::time::timeout(WAIT, received.recv())
        .await
        .unwrap()
        .unwrap();
    d.signal("TERM");
    assert_eq!(fake.message().await, WorkerMessage::Drain);
    // Heartbeats go on while the slow forward is in flight, counting it.
    let mut beats_while_draining = 0;
    let ack = loop {
        match fake.seen().await {
            Seen::Msg(WorkerMessage::Heartbeat { in_flight }, _) => {
                assert_eq!(in_flight, 1);
                beats_while_draining += 1;
            }
            Seen::Msg(WorkerMessage::Ack(ack), _) => break ack,
            other => panic!("expected heartbeats then the ack, saw {other:?}"),
        }
    };
    assert!(beats_while_draining >= 1);
    assert_eq!(
        (ack.event_id.as_str(), ack.status_code),
        ("msg_slow", Some(200))
    );
    assert_eq!(fake.message().await, WorkerMessage::Deregister);
    let (code, log) = d.exit().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopped: deregistered"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once_with_130() {
    let mut fake = Fake::start().await;
    let (hooks, mut received) = receiver().await;
    let d = Daemon::start(
        &fake.url,
        &worker_key(),
        &["--name", "n", "--forward-to", &hooks],
    );
    fake.connected().await;
    fake.send(ServerMessage::Event(Box::new(delivery(
        "msg_stuck",
        &[("x-test-delay-ms", "60000")],
        b"{}",
    ))));
    tokio::time::timeout(WAIT, received.recv())
        .await
        .unwrap()
        .unwrap();
    d.signal("INT");
    assert_eq!(fake.message().await, WorkerMessage::Drain);
    let started = Instant::now();
    d.signal("TERM");
    let (code, log) = d.exit().await;
    assert_eq!(code, 130, "{log}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_keyward_is_down_exits_0() {
    // Nothing listens: the daemon retries until the signal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut d = Daemon::start(
        &format!("http://127.0.0.1:{port}"),
        &worker_key(),
        &["--name", "n"],
    );
    let line = d.logged("retrying in").await;
    assert!(
        line.contains(&format!("cannot reach Keyward at http://127.0.0.1:{port}/")),
        "{line}"
    );
    d.signal("TERM");
    let (code, log) = d.exit().await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// `keyward login --token kw_wk_…` (the product page's `login --token <key>`) works on
/// a real server: `GET /v1/me` answers any valid key, a worker key too.
#[test]
fn login_takes_a_worker_key() {
    use support::{create_key, run, Server, User};
    let server = Server::start();
    let user = User::new();
    run(user.cmd(&[
        "workspaces",
        "create",
        "production",
        "--token",
        &server.token,
        "--server",
        &server.url,
    ]))
    .ok();
    let (key, _) = create_key(
        &user,
        &server,
        &[
            "--name",
            "mac-worker",
            "--kind",
            "worker",
            "--workspace",
            "production",
        ],
    );
    assert!(key.starts_with("kw_wk_"), "{key}");
    let login = run(user.cmd(&["login", "--token", &key, "--server", &server.url])).ok();
    assert!(login.stdout.contains("Logged in to"), "{}", login.stdout);
    assert!(login.stdout.contains("keyward worker"), "{}", login.stdout);
    let stored = std::fs::read_to_string(user.credentials_path()).unwrap();
    assert!(stored.contains(&key));
}
