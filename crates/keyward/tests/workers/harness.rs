//! A real Keyward server in this process (the server's own `Application`, on a SQLite
//! file, over HTTP on loopback) with a clock the test holds, and real `keyward worker`
//! processes started from the built binary, each on a "machine" of its own
//! (`support::User`: its own home, config and working directories).

use keyward_core::{Clock, ManualClock, SystemClock};
use keyward_server::{AppState, Application, Settings};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::User;

pub struct Live {
    pub url: String,
    addr: SocketAddr,
    pub state: AppState,
    /// Set when the test moves the clock by hand.
    pub manual: Option<Arc<ManualClock>>,
    clock: Arc<dyn Clock>,
    pub owner: String,
    db_url: String,
    settings: Settings,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "HTTP {}: {}",
            self.status,
            self.body
        );
        self.body
    }
}

impl Live {
    /// With the system clock, or with a manual one starting now.
    pub async fn start(manual: bool, configure: impl FnOnce(&mut Settings)) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("keyward.db").display());
        let store = keyward_store::connect(&db_url).await.unwrap();
        store.migrate().await.unwrap();
        let manual = manual.then(|| Arc::new(ManualClock::new(chrono::Utc::now())));
        let clock: Arc<dyn Clock> = match &manual {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        let (token, _) = keyward_server::bootstrap::bootstrap(
            store.as_ref(),
            clock.as_ref(),
            "my-org",
            "team@company.com",
        )
        .await
        .unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Settings::default()
        };
        settings.policy.webhooks.allow_private_destinations = true;
        settings.policy.workers.forward_timeout = Duration::from_secs(2);
        configure(&mut settings);
        let app = Application::build(settings.clone(), store, clock.clone())
            .await
            .unwrap();
        let addr = app.local_addr();
        // Restarts listen on the same port: the workers know only this URL.
        settings.listen = addr;
        let mut live = Live {
            url: format!("http://{addr}"),
            addr,
            state: app.state(),
            manual,
            clock,
            owner: token.expose_secret().to_owned(),
            db_url,
            settings,
            http: reqwest::Client::new(),
            stop: None,
            task: None,
            _dir: dir,
        };
        live.run(app);
        live
    }

    fn run(&mut self, app: Application) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.state = app.state();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        })));
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// Starts again on the same port and database, after `down` without a server.
    pub async fn restart(&mut self, down: Duration) {
        self.stop().await;
        tokio::time::sleep(down).await;
        let store = keyward_store::connect(&self.db_url).await.unwrap();
        store.migrate().await.unwrap();
        let mut settings = self.settings.clone();
        settings.listen = self.addr;
        let app = Application::build(settings, store, self.clock.clone())
            .await
            .unwrap();
        self.run(app);
    }

    pub fn advance(&self, by: Duration) {
        let clock = self.manual.as_ref().expect("a manual clock");
        clock.advance(chrono::Duration::from_std(by).unwrap());
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, &self.owner.clone(), None)
            .await
            .ok()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, &self.owner.clone(), Some(body))
            .await
            .ok()
    }

    pub async fn workspace(&self, name: &str) -> String {
        self.post("/v1/workspaces", json!({ "name": name })).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A worker key of the owner for `workspace`: (id, the key, its prefix).
    pub async fn worker_key(&self, workspace: &str, name: &str) -> (String, String, String) {
        let created = self
            .post(
                "/v1/keys",
                json!({"name": name, "kind": "worker", "workspace": workspace}),
            )
            .await;
        (
            created["id"].as_str().unwrap().to_owned(),
            created["key"].as_str().unwrap().to_owned(),
            created["prefix"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The workers the owner sees.
    pub async fn workers(&self) -> Vec<Value> {
        self.get("/v1/workers").await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The worker named `name`, once `check` holds for it (polled until `timeout`).
    pub async fn wait_worker(
        &self,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = Instant::now() + timeout;
        loop {
            let found = self.workers().await.into_iter().find(|w| w["name"] == name);
            match found {
                Some(w) if check(&w) => return w,
                other if Instant::now() > until => {
                    panic!("worker {name:?} not as expected within {timeout:?}: {other:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// A running `keyward worker`, its stderr (JSON lines) collected.
pub struct Daemon {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// `keyward worker --json ARGS` on `user`'s machine.
    pub fn start(user: &User, args: &[&str]) -> Daemon {
        let mut all = vec!["worker", "--json"];
        all.extend_from_slice(args);
        let mut child = user
            .process(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Daemon { child, lines }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// `kill -SIG pid`.
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit code, once it exited within `timeout`; None if it is still running.
    pub async fn exit_within(&mut self, timeout: Duration) -> Option<i32> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The JSON lines it logged with `"event": event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A machine logged in to `live` with `key` (`keyward login --token KEY --server URL`).
pub fn machine(live: &Live, key: &str) -> User {
    let user = User::new();
    login(&user, live, key);
    user
}

pub fn login(user: &User, live: &Live, key: &str) {
    let out = user
        .cmd(&["login", "--token", key, "--server", &live.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keyward login --token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
