//! Spawns a real Keyward server on a free loopback port with its own fresh database, a
//! bootstrapped organization and a manual clock, and talks to it over HTTP.
//!
//! The database is a SQLite file, or with `KEYWARD_TEST_BACKEND=postgres` a schema of
//! its own on the server `KEYWARD_TEST_DATABASE_URL` names (`.ci/run` runs the suite
//! both ways).
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use keyward_core::{Clock, ManualClock};
use keyward_server::{AppState, Application, Settings};
use keyward_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub mod providers;

pub const START: &str = "2030-01-01T00:00:00Z";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    /// The bootstrap owner's token (every permission).
    pub owner_token: String,
    pub db_path: std::path::PathBuf,
    /// The store's URL (SQLite file or PostgreSQL schema), to reconnect after a stop.
    pub db_url: String,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL schema, when running on PostgreSQL; dropped after the server.
    pub pg: Option<keyward_store::testing::PgScratch>,
    /// What the server runs with; `restart` runs with the same.
    settings: Settings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The body decoded into `T` (an empty body is `null`, so `()` for a 204), after
    /// checking the status; panics with the body when either is not what was expected.
    #[track_caller]
    pub fn expect<T: serde::de::DeserializeOwned>(&self, status: StatusCode) -> T {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        match serde_json::from_value(self.body.clone()) {
            Ok(value) => value,
            Err(e) => panic!(
                "the body is not a {}: {e}\n{:#}",
                std::any::type_name::<T>(),
                self.body
            ),
        }
    }
}

fn system_event(org_id: &str, action: &str) -> keyward_store::NewAuditEvent {
    keyward_store::NewAuditEvent {
        org_id: org_id.to_owned(),
        at: start_time(),
        actor: keyward_store::Actor {
            actor_type: "system".into(),
            id: None,
            name: "test setup".into(),
            key_id: None,
            authority: None,
        },
        action: action.to_owned(),
        target_type: "organization".into(),
        target_id: org_id.to_owned(),
        source_ip: None,
        details: serde_json::json!({}),
    }
}

pub enum Backend {
    Sqlite,
    /// The server's base URL.
    Postgres(String),
}

/// `KEYWARD_TEST_BACKEND`: `sqlite` (the default) or `postgres`.
pub fn backend() -> Backend {
    match std::env::var("KEYWARD_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            Backend::Postgres(keyward_store::testing::postgres_url().unwrap_or_else(|| {
                panic!(
                    "KEYWARD_TEST_BACKEND=postgres needs {}",
                    keyward_store::testing::DATABASE_URL_VAR
                )
            }))
        }
        Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("KEYWARD_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(START)
        .unwrap()
        .with_timezone(&Utc)
}

/// A server started on a store: what `spawn` and `restart` share.
struct Running {
    base: String,
    state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(settings: &Settings, store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Self {
        let app = Application::build(settings.clone(), store, clock as Arc<dyn Clock>)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let state = app.state();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            base,
            state,
            stop,
            server,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Duration::from_secs(3600)).await
    }

    /// `flush_interval` of the last-used write-behind.
    pub async fn spawn_with(flush_interval: Duration) -> Self {
        Self::spawn_with_settings(|s| s.flush_interval = flush_interval).await
    }

    /// With server settings changed by `configure` (from a flush interval of an hour).
    pub async fn spawn_with_settings(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_at(start_time(), configure).await
    }

    /// With a clock that follows the wall clock (moved to the current time every few
    /// milliseconds, while the test runs): for tests that talk to programs that read
    /// the real time (a receiver checking a signed timestamp) and wait on real delays.
    pub async fn spawn_live(configure: impl FnOnce(&mut Settings)) -> Self {
        let app = Self::spawn_at(Utc::now(), configure).await;
        let clock = Arc::downgrade(&app.clock);
        tokio::spawn(async move {
            while let Some(clock) = clock.upgrade() {
                clock.set(Utc::now());
                drop(clock);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        app
    }

    /// With the clock starting at `start`.
    pub async fn spawn_at(start: DateTime<Utc>, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("keyward.db");
        let pg = match backend() {
            Backend::Sqlite => None,
            Backend::Postgres(base) => Some(
                keyward_store::testing::PgScratch::create(&base)
                    .await
                    .unwrap(),
            ),
        };
        let url = match &pg {
            Some(schema) => schema.url().to_owned(),
            None => format!("sqlite://{}", db_path.display()),
        };
        let store = keyward_store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let (token, record) = keyward_server::bootstrap::bootstrap(
            store.as_ref(),
            clock.as_ref(),
            "acme",
            "team@company.com",
        )
        .await
        .unwrap();
        // Most tests create more keys than the seeds' default of 10; limit tests lower it
        // again through the API.
        let mut org = store.get_org(&record.org_id).await.unwrap();
        org.settings.max_keys = 1000;
        store
            .update_org(&org, system_event(&record.org_id, "org.update"))
            .await
            .unwrap();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            flush_interval: Duration::from_secs(3600),
            ..Settings::default()
        };
        // The tests' webhook destinations are on loopback.
        settings.policy.webhooks.allow_private_destinations = true;
        configure(&mut settings);
        let running = Running::start(&settings, store.clone(), clock.clone()).await;
        Self {
            base: running.base,
            client: reqwest::Client::new(),
            clock,
            store,
            state: running.state,
            owner_token: token.expose_secret().to_owned(),
            db_path,
            db_url: url,
            dir,
            pg,
            settings,
            stop: Some(running.stop),
            server: Some(running.server),
        }
    }

    /// Stops the server gracefully and starts a new one (fresh caches and counters) on
    /// the same database and clock, as after a restart of the process.
    pub async fn restart(&mut self) {
        self.stop().await;
        let store = keyward_store::connect(&self.db_url).await.unwrap();
        store.migrate().await.unwrap();
        let running = Running::start(&self.settings, store.clone(), self.clock.clone()).await;
        self.base = running.base;
        self.state = running.state;
        self.store = store;
        self.stop = Some(running.stop);
        self.server = Some(running.server);
    }

    /// Graceful shutdown, as on SIGTERM: waits until write-behind data is flushed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a key with the owner's token; returns (raw key, id).
    pub async fn create_key(&self, body: Value) -> (String, String) {
        let r = self.post("/v1/keys", &self.owner_token, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["key"].as_str().unwrap().to_owned(),
            r.body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Invites `email` as `role` with the owner's token, and redeems the code as the
    /// invited person: (their first token, their user id).
    pub async fn join(&self, email: &str, role: &str, agents: &[&str]) -> (String, String) {
        let code = self
            .invite(
                &self.owner_token,
                json!({"email": email, "role": role, "agents": agents}),
            )
            .await;
        let r = self.accept(&code, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["token"]["key"].as_str().unwrap().to_owned(),
            r.body["member"]["user_id"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /v1/invitations` with `token`; returns the one-time code.
    pub async fn invite(&self, token: &str, body: Value) -> String {
        let r = self.post("/v1/invitations", token, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["code"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/invitations/accept`, with a token of the invited person or without one.
    pub async fn accept(&self, code: &str, token: Option<&str>) -> Reply {
        self.send(
            Method::POST,
            "/v1/invitations/accept",
            token,
            Some(json!({ "code": code })),
        )
        .await
    }

    /// The bootstrap owner's user id.
    pub async fn owner_id(&self) -> String {
        self.get("/v1/me", &self.owner_token).await.body["owner"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Approves a CLI login for the member `user_id` of the bootstrap organization in the
    /// store, as the console's approve page does: `machine`, every permission, 90 days,
    /// the code working for 5 minutes from now. Returns (code, verifier).
    pub async fn approve_cli_login(&self, user_id: &str, machine: &str) -> (String, String) {
        self.approve_cli_login_with(user_id, machine, keyward_core::PermissionSet::all())
            .await
    }

    pub async fn approve_cli_login_with(
        &self,
        user_id: &str,
        machine: &str,
        permissions: keyward_core::PermissionSet,
    ) -> (String, String) {
        let code = keyward_core::invite::CliLoginCode::generate();
        let verifier = keyward_core::pkce::CodeVerifier::generate();
        let now = self.clock.now();
        let org_id = self.org_id().await;
        let login = keyward_store::NewCliLogin {
            id: keyward_core::ids::new_id("cli"),
            org_id: org_id.clone(),
            user_id: user_id.to_owned(),
            code_hash: code.hash(),
            code_challenge: verifier.challenge(),
            machine: machine.to_owned(),
            permissions,
            token_lifetime: Some(chrono::Duration::days(90)),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(5),
        };
        self.store
            .create_cli_login(login, system_event(&org_id, "cli_login.approve"))
            .await
            .unwrap();
        (
            code.expose_secret().to_owned(),
            verifier.expose_secret().to_owned(),
        )
    }

    /// `POST /v1/auth/cli/token` without a key.
    pub async fn exchange_cli_code(&self, code: &str, verifier: &str) -> Reply {
        self.send(
            Method::POST,
            "/v1/auth/cli/token",
            None,
            Some(json!({ "code": code, "code_verifier": verifier })),
        )
        .await
    }

    pub async fn org_id(&self) -> String {
        self.get("/v1/me", &self.owner_token).await.body["org"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn verify(&self, key: &str, permission: Option<&str>) -> Reply {
        let mut body = json!({ "key": key });
        if let Some(p) = permission {
            body["permission"] = json!(p);
        }
        self.post("/v1/keys/verify", &self.owner_token, body).await
    }

    pub async fn verify_code(&self, key: &str) -> String {
        let r = self.verify(key, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["code"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
