//! The webhook providers and the user's app, played by the providers' own libraries from
//! PyPI (`tests/providers/`, pinned in its `requirements.txt`):
//!
//! - [`sign`] / [`sign_batch`] run `sign.py`, which signs a body the way Slack
//!   (`slack_sdk`), Standard Webhooks (`standardwebhooks`), Svix (`svix`), Discord
//!   (`PyNaCl`, Ed25519), WhatsApp (Meta's `sha256=` HMAC) and Telegram (the secret token)
//!   do, and answers the headers each sends.
//! - [`Receiver`] runs `receiver.py`, an HTTP server that verifies every delivery with
//!   `standardwebhooks` and logs it, with control endpoints to read the log and inject
//!   failures.
//!
//! The Python is `$KEYWARD_TEST_PYTHON`, else `tests/providers/.venv/bin/python` (`.ci/run`
//! creates that venv and sets the variable). Without it, tests call [`available`] first
//! and return early; under `CI=true` a missing Python is a panic instead.
//!
//! ```ignore
//! if !providers::available() { return; }
//! let mut app = providers::Receiver::start(&[]).await;
//! // … create the endpoint with app.url("/hooks/in"), then tell the app its secret:
//! app.set_secrets(&[&secret]).await;
//! let signed = providers::sign(json!({"provider": "slack", "secret": "s", "body": body}));
//! // … POST signed.body with signed.headers to /hooks/{id}, then:
//! let log = app.wait_received(1, Duration::from_secs(10)).await;
//! ```
//!
//! Uses only `serde`, `serde_json`, `tokio` and `reqwest`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// `crates/keyward-server/tests/providers`: sign.py, receiver.py, requirements.txt, .venv.
pub fn providers_dir() -> PathBuf {
    // Through `..` so that other crates' tests can include this file too.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../keyward-server/tests/providers")
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The venv's Python: `$KEYWARD_TEST_PYTHON` when set, else
/// `crates/keyward-server/tests/providers/.venv/bin/python`. Under `CI=true` a missing one
/// panics with how to make it; otherwise the path is returned as it is (see [`available`]).
pub fn python() -> PathBuf {
    let path = match std::env::var_os("KEYWARD_TEST_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => providers_dir().join(".venv/bin/python"),
    };
    if under_ci() && !path.is_file() {
        panic!(
            "the webhook provider tests cannot run under CI=true: no Python at {} \
             (KEYWARD_TEST_PYTHON, or: cd {} && python3 -m venv .venv && .venv/bin/pip install -r requirements.txt)",
            path.display(),
            providers_dir().display()
        );
    }
    path
}

/// Whether the providers' Python is there. Tests using this module start with
/// `if !providers::available() { return; }`; it prints why it is not (once per test), and
/// under `CI=true` panics instead of answering `false`.
pub fn available() -> bool {
    let path = python();
    if path.is_file() {
        return true;
    }
    eprintln!(
        "webhook provider tests skipped: no Python at {} (cd {} && python3 -m venv .venv && \
         .venv/bin/pip install -r requirements.txt; set CI=true to make this a failure)",
        path.display(),
        providers_dir().display()
    );
    false
}

/// What a provider sends: its headers (in the order sign.py gave them; names as the
/// provider spells them), the body (unchanged), and for Discord the public key of the seed.
#[derive(Debug, Clone)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub public_key: Option<String>,
}

impl Signed {
    /// The value of header `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The same request with header `name` set to `value` (replaced case-insensitively, or
    /// added), e.g. to send a tampered signature.
    pub fn with_header(mut self, name: &str, value: &str) -> Signed {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The headers as a reqwest `HeaderMap`, ready for `.headers(…)`.
    pub fn header_map(&self) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            map.append(
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|err| panic!("header name {name:?}: {err}")),
                reqwest::header::HeaderValue::from_str(value)
                    .unwrap_or_else(|err| panic!("header {name}: {value:?}: {err}")),
            );
        }
        map
    }
}

/// Runs `sign.py` on one request, e.g.
/// `json!({"provider": "discord", "secret": seed_hex, "body": r#"{"type":1}"#, "timestamp": 1700000000})`.
/// Providers: `slack`, `standard`, `svix`, `discord` (secret = Ed25519 seed hex), `whatsapp`,
/// `telegram`; optional `timestamp` (unix s, default now), `msg_id` (standard/svix),
/// `content_type` (default `application/json`), `legacy_sha1` (whatsapp). See sign.py.
/// Blocks while Python runs (a fraction of a second); sign many at once with [`sign_batch`].
pub fn sign(request: Value) -> Signed {
    signed_from(run_sign(&request), &request)
}

/// Runs `sign.py` once on all the requests; the answers are in the same order.
pub fn sign_batch(requests: Vec<Value>) -> Vec<Signed> {
    let batch = Value::Array(requests);
    let answers = run_sign(&batch);
    let answers = answers
        .as_array()
        .unwrap_or_else(|| panic!("sign.py answered a batch with a non-array: {answers}"));
    let requests = batch.as_array().expect("an array");
    assert_eq!(
        answers.len(),
        requests.len(),
        "sign.py answered {} of {} requests",
        answers.len(),
        requests.len()
    );
    answers
        .iter()
        .zip(requests)
        .map(|(answer, request)| signed_from(answer.clone(), request))
        .collect()
}

/// A fresh Ed25519 key pair for a Discord application: `(seed hex, public key hex)`, 64 hex
/// characters each. The seed is what [`sign`] takes as Discord's `secret`.
pub fn discord_keypair() -> (String, String) {
    let answer = run_sign(&json!({"provider": "discord-keygen"}));
    (
        string_field(&answer, "seed"),
        string_field(&answer, "public_key"),
    )
}

/// A fresh Standard Webhooks secret, `whsec_` + base64 of 24 random bytes.
pub fn whsec_secret() -> String {
    string_field(&run_sign(&json!({"provider": "whsec-keygen"})), "secret")
}

fn string_field(answer: &Value, name: &str) -> String {
    answer[name]
        .as_str()
        .unwrap_or_else(|| panic!("sign.py's answer has no string {name}: {answer}"))
        .to_owned()
}

fn signed_from(answer: Value, request: &Value) -> Signed {
    let headers = answer["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("sign.py's answer to {request} has no headers: {answer}"))
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("sign.py: header {name} is not a string: {answer}"));
            (name.clone(), value.to_owned())
        })
        .collect();
    Signed {
        headers,
        body: string_field(&answer, "body"),
        public_key: answer["public_key"].as_str().map(str::to_owned),
    }
}

/// Spawns sign.py, writes `request` to its stdin, and parses its stdout; panics with its
/// stderr when it fails.
fn run_sign(request: &Value) -> Value {
    let python = python();
    let script = providers_dir().join("sign.py");
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "could not run {} {}: {err}",
                python.display(),
                script.display()
            )
        });
    let input = request.to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from a thread: a large batch could fill the stdout pipe before stdin is read.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("sign.py's output");
    writer
        .join()
        .expect("the stdin writer")
        .unwrap_or_else(|err| panic!("writing to sign.py: {err}"));
    if !output.status.success() {
        panic!(
            "sign.py failed ({}) on {request}\n--- its stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "sign.py's stdout is not JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// One delivery the receiver verified (`received`) or verified and failed on purpose
/// (`failures`). Headers Keyward did not send are `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    /// `webhook-id`.
    pub webhook_id: String,
    /// `webhook-timestamp` (unix s).
    pub timestamp: i64,
    /// `webhook-signature`, as sent (`v1,… v1,…`).
    pub signature: String,
    /// `x-keyward-provider`.
    pub provider: Option<String>,
    /// `x-keyward-event-id`.
    pub event_id: Option<String>,
    /// `x-keyward-endpoint`.
    pub endpoint: Option<String>,
    /// `x-keyward-attempt` (a non-numeric value would not deserialize: a test failure).
    pub attempt: Option<u32>,
    /// The path (and query) it was POSTed to.
    pub path: String,
    /// The raw body (verified as UTF-8 text).
    pub body: String,
    /// Every header, names lowercased.
    pub headers: std::collections::BTreeMap<String, String>,
    /// What the receiver answered: 200, or the injected failure's status.
    pub status: u16,
}

impl Delivery {
    /// The body parsed as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("delivery body is not JSON ({err}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A delivery the receiver rejected (answered 400): no secret verified it.
#[derive(Debug, Clone, Deserialize)]
pub struct Rejection {
    pub path: String,
    /// The library's reason for each secret tried (`No matching signature found`,
    /// `Message timestamp too old`, `Missing required headers`, …).
    pub reason: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

/// `GET /_received`: everything since the start or the last [`Receiver::reset`], in order.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedLog {
    /// Verified and answered 200.
    pub received: Vec<Delivery>,
    /// How many were rejected (400).
    pub rejected: u64,
    /// How many verified deliveries got an injected failure.
    pub failed: u64,
    pub failures: Vec<Delivery>,
    pub rejections: Vec<Rejection>,
}

/// A running `receiver.py` standing in for the user's app. Dropping it kills the process;
/// its stdin is a pipe held here, so it also exits by itself when the test process dies.
pub struct Receiver {
    pub port: u16,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    // Held for their Drop: the pipe ends and the kill-on-drop child.
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
    child: Child,
}

impl Receiver {
    /// Starts a receiver that accepts deliveries signed with any of `secrets` (`whsec_…`;
    /// none: every delivery is rejected until [`set_secrets`](Self::set_secrets)), checking
    /// timestamps against the real clock (see [`set_now`](Self::set_now)).
    /// Call [`available`] first; this panics when the Python is missing.
    pub async fn start(secrets: &[&str]) -> Receiver {
        let python = python();
        let script = providers_dir().join("receiver.py");
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for secret in secrets {
            command.arg("--secret").arg(secret);
        }
        if std::env::var_os("RECEIVER_LOG").is_some() {
            command.arg("--verbose");
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "could not run {} {}: {err}",
                python.display(),
                script.display()
            )
        });

        // Its stderr is kept (and echoed with RECEIVER_LOG set); read all along, so a full
        // pipe never blocks it.
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let kept = Arc::clone(&log);
        let echo = std::env::var_os("RECEIVER_LOG").is_some();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("{line}");
                }
                kept.lock().unwrap().push(line);
            }
        });

        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let read =
            tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut first)).await;
        let why = match read {
            Err(_) => Some("no line on stdout within 30 s".to_owned()),
            Ok(Err(err)) => Some(format!("reading its stdout: {err}")),
            Ok(Ok(0)) => Some(format!("it exited ({:?})", child.try_wait())),
            Ok(Ok(_)) => None,
        };
        let port = why
            .map(Err)
            .unwrap_or_else(|| {
                serde_json::from_str::<Value>(first.trim())
                    .ok()
                    .and_then(|v| v["port"].as_u64())
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| format!("its first line is not {{\"port\": N}}: {first}"))
            })
            .unwrap_or_else(|why| {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the receiver ({} {}) did not start: {why}\n--- its stderr:\n{}",
                    python.display(),
                    script.display(),
                    log.lock().unwrap().join("\n")
                )
            });

        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        let stdin = child.stdin.take().expect("piped stdin");
        Receiver {
            port,
            http,
            log,
            _stdin: stdin,
            _stdout: stdout,
            child,
        }
    }

    /// `http://127.0.0.1:{port}{path}`: where Keyward should deliver (any path is a
    /// delivery except the `/_…` control endpoints).
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://127.0.0.1:{}{slash}{path}", self.port)
    }

    /// Everything received, failed and rejected so far.
    pub async fn received(&self) -> ReceivedLog {
        let url = self.url("/_received");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        assert_eq!(response.status(), 200, "GET {url}");
        let text = response.text().await.expect("the receiver's log");
        serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("the receiver's log does not parse ({err}): {text}"))
    }

    /// Polls the log until `count` deliveries were received (verified and answered 200),
    /// then returns it; panics with the log after `timeout`.
    pub async fn wait_received(&self, count: usize, timeout: Duration) -> ReceivedLog {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.received().await;
            if log.received.len() >= count {
                return log;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "the receiver got {} of {count} deliveries within {timeout:?} \
                     ({} failed, {} rejected): {log:#?}\n--- its stderr:\n{}",
                    log.received.len(),
                    log.failed,
                    log.rejected,
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The next `count` verified deliveries are answered `status` (`-1`: until told
    /// otherwise; `fail(200, 0)` turns it off). Rejected deliveries do not use them up.
    pub async fn fail(&self, status: u16, count: i64) {
        self.control("/_fail", json!({"status": status, "count": count}))
            .await;
    }

    /// As [`fail`](Self::fail), with a `Retry-After: seconds` header on those answers.
    pub async fn fail_with_retry_after(&self, status: u16, count: i64, seconds: u64) {
        self.control(
            "/_fail",
            json!({"status": status, "count": count, "retry_after": seconds}),
        )
        .await;
    }

    /// Waits `ms` before answering each delivery (0: off), e.g. to make Keyward time out.
    pub async fn delay_ms(&self, ms: u64) {
        self.control("/_delay", json!({ "ms": ms })).await;
    }

    /// Replaces the secrets deliveries are verified with (e.g. once Keyward created the
    /// endpoint and answered its `whsec_` secret, or during a rotation).
    pub async fn set_secrets(&self, secrets: &[&str]) {
        self.control("/_secrets", json!({ "secrets": secrets }))
            .await;
    }

    /// Checks `webhook-timestamp` (±5 min, the library's tolerance) against this unix time
    /// instead of the real clock: for a Keyward running on a manual clock. `None`: back to
    /// the real clock.
    pub async fn set_now(&self, unix: Option<i64>) {
        self.control("/_clock", json!({ "now": unix })).await;
    }

    /// Clears the log, the counters, an injected failure and the delay (not the secrets or
    /// the clock).
    pub async fn reset(&self) {
        self.control("/_reset", json!({})).await;
    }

    /// What the receiver wrote to stderr so far (each request too, with `RECEIVER_LOG` set).
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn control(&self, path: &str, body: Value) {
        let url = self.url(path);
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {url}: {err}"));
        let status = response.status();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            panic!("POST {url} {body} answered {status}: {text}");
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The harness itself, end to end without Keyward: what sign.py signs for Standard
/// Webhooks, the receiver verifies and logs; an injected failure is answered and logged
/// apart; a tampered body is rejected. (selftest.py covers the vectors.)
#[tokio::test]
async fn the_harness_signs_and_receives() {
    if !available() {
        return;
    }
    let secret = whsec_secret();
    let app = Receiver::start(&[]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let signed = sign_batch(vec![
        json!({"provider": "standard", "secret": secret, "body": r#"{"n":1}"#, "msg_id": "msg_1"}),
        json!({"provider": "standard", "secret": secret, "body": r#"{"n":2}"#, "msg_id": "msg_2"}),
    ]);
    let post = |s: &Signed, body: &str, attempt: &str| {
        http.post(app.url("/app/hooks"))
            .headers(s.header_map())
            .header("x-keyward-attempt", attempt)
            .body(body.to_owned())
            .send()
    };

    // No secret yet: rejected.
    assert_eq!(
        post(&signed[0], &signed[0].body, "1")
            .await
            .unwrap()
            .status(),
        400
    );
    app.set_secrets(&[&secret]).await;
    app.fail(503, 1).await;
    assert_eq!(
        post(&signed[0], &signed[0].body, "2")
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        post(&signed[0], &signed[0].body, "3")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(&signed[1], r#"{"n":3}"#, "1").await.unwrap().status(),
        400
    );
    assert_eq!(
        post(&signed[1], &signed[1].body, "1")
            .await
            .unwrap()
            .status(),
        200
    );

    let log = app.wait_received(2, Duration::from_secs(10)).await;
    let got: Vec<_> = log
        .received
        .iter()
        .map(|d| (d.webhook_id.as_str(), d.attempt, d.json()["n"].as_i64()))
        .collect();
    assert_eq!(
        got,
        [("msg_1", Some(3), Some(1)), ("msg_2", Some(1), Some(2))]
    );
    assert_eq!((log.failed, log.failures[0].status), (1, 503));
    assert_eq!(log.rejected, 2);
    assert!(log.rejections[1].reason.contains("No matching signature"));
    assert_eq!(log.received[0].path, "/app/hooks");
    assert_eq!(
        log.received[0].header("content-type"),
        Some("application/json")
    );

    // Discord, RFC 8032 TEST 1.
    let discord = sign(json!({
        "provider": "discord",
        "secret": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "body": r#"{"type":1}"#,
        "timestamp": 1700000000,
    }));
    assert_eq!(
        discord.public_key.as_deref(),
        Some("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    assert_eq!(discord.header("x-signature-timestamp"), Some("1700000000"));
    assert!(discord
        .header("X-Signature-Ed25519")
        .is_some_and(|s| s.starts_with("1695961a47c91a1e")));
    let (seed, public_key) = discord_keypair();
    assert_eq!((seed.len(), public_key.len()), (64, 64));
}
