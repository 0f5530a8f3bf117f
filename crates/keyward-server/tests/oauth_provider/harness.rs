//! A real OAuth 2.0 authorization server for tests: `server.mjs` beside this file runs the
//! npm package `oidc-provider` (strict PKCE S256, refresh-token rotation, RFC 7009
//! revocation) on 127.0.0.1 with a random port, plus `/__control` endpoints to register
//! clients, read counters and inject faults. See `server.mjs` for what each one does.
//!
//! Included by test binaries of more than one crate:
//! ```ignore
//! #[path = "../oauth_provider/harness.rs"] // from crates/keyward-server/tests/<binary>/
//! mod oauth_provider;
//! ```
//! Needs `node` (20 or later) and `npm ci` in `crates/keyward-server/tests/oauth_provider`
//! (`.ci/run` does it). Without them `start()` returns `None` with a note on stderr, except
//! under `CI=true`, where it panics and says what is missing.
//!
//! The provider's stderr is kept (see [`OAuthProvider::log`]) and echoed live when
//! `OAUTH_PROVIDER_LOG=1`; `OAUTH_PROVIDER_LOG=debug` also logs every request it gets.
//!
//! Uses only `tokio`, `serde_json`, `reqwest` (json feature; cookies are kept by hand).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The directory holding `server.mjs` and its `node_modules`, found from the including
/// crate's manifest dir: every crate of the workspace sits at `crates/<name>`.
fn provider_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/keyward-server/tests/oauth_provider");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A running `server.mjs`. Dropping it kills the process; its stdin is a pipe held here,
/// so it also exits by itself when the test process dies.
pub struct OAuthProvider {
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: String,
    pub introspection_url: String,
    control_url: String,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    // Held for their Drop: the pipe ends and the kill-on-drop child.
    _stdout: BufReader<ChildStdout>,
    child: Child,
}

impl OAuthProvider {
    /// Starts a provider with the default access-token lifetime (3600 s).
    /// `None` when node or `node_modules` is missing and `CI` is not `true`.
    pub async fn start() -> Option<OAuthProvider> {
        Self::spawn(None).await
    }

    /// Starts a provider whose access tokens live `seconds`.
    pub async fn start_with_ttl(seconds: u64) -> Option<OAuthProvider> {
        Self::spawn(Some(seconds)).await
    }

    async fn spawn(ttl: Option<u64>) -> Option<OAuthProvider> {
        let dir = provider_dir();
        let install = format!("cd {} && npm ci", dir.display());
        if !dir
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            if under_ci() {
                panic!(
                    "the OAuth provider tests cannot run under CI=true: {}/node_modules/oidc-provider is missing ({install})",
                    dir.display()
                );
            }
            eprintln!(
                "OAuth provider tests skipped: oidc-provider is not installed ({install}; set CI=true to make this a failure)"
            );
            return None;
        }

        let mut command = Command::new("node");
        command
            .arg(dir.join("server.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(seconds) = ttl {
            command.env("ACCESS_TOKEN_TTL", seconds.to_string());
        }
        let echo = std::env::var("OAUTH_PROVIDER_LOG").unwrap_or_default();
        if echo == "debug" {
            command.env("PROVIDER_DEBUG", "1");
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) if !under_ci() && err.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("OAuth provider tests skipped: `node` was not found (set CI=true to make this a failure)");
                return None;
            }
            Err(err) => panic!("could not run `node {}/server.mjs`: {err}", dir.display()),
        };

        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let kept = Arc::clone(&log);
        let echo = !echo.is_empty();
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
        match read {
            Err(_) => start_failed(&dir, &log, "no line on stdout within 30 s".into()),
            Ok(Err(err)) => start_failed(&dir, &log, format!("reading its stdout: {err}")),
            Ok(Ok(0)) => start_failed(&dir, &log, format!("it exited ({:?})", child.try_wait())),
            Ok(Ok(_)) => {}
        }
        let info: serde_json::Value = serde_json::from_str(first.trim()).unwrap_or_else(|err| {
            start_failed(
                &dir,
                &log,
                format!("its first line is not JSON ({err}): {first}"),
            )
        });
        let field = |name: &str| -> String {
            info[name]
                .as_str()
                .unwrap_or_else(|| panic!("the OAuth provider's first line has no {name}: {first}"))
                .to_owned()
        };

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client");
        Some(OAuthProvider {
            issuer: field("issuer"),
            authorize_url: field("authorize_url"),
            token_url: field("token_url"),
            revoke_url: field("revoke_url"),
            introspection_url: field("introspection_url"),
            control_url: field("control_url"),
            http,
            log,
            _stdout: stdout,
            child,
        })
    }

    /// What the provider wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Registers a confidential client (grant types authorization_code + refresh_token,
    /// response type code). `auth_method` is `client_secret_basic` or `client_secret_post`,
    /// and the provider holds the client to it (the other one is `invalid_client`).
    /// Registering the same `client_id` again replaces it.
    pub async fn add_client(
        &self,
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
        auth_method: &str,
    ) {
        self.control(
            "clients",
            serde_json::json!({
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
                "token_endpoint_auth_method": auth_method,
            }),
        )
        .await;
    }

    /// Plays the person at the browser: GETs `authorize_url` and follows the provider's
    /// redirects (carrying its cookies by hand) until one points at a URL starting with
    /// `redirect_prefix`, and returns that URL — with `code` and `state`, or `error` and
    /// `state`. The redirect target itself is not requested. Login (as `user-1`) and
    /// consent to every requested scope happen on the provider without a form, unless
    /// [`deny_next`](Self::deny_next) was called. Panics on any answer that is not a
    /// redirect (an unknown client or a bad redirect_uri is an error page, not a redirect).
    pub async fn authorize(&self, authorize_url: &str, redirect_prefix: &str) -> String {
        let mut jar: Vec<(String, String)> = Vec::new();
        let mut url = reqwest::Url::parse(authorize_url)
            .unwrap_or_else(|err| panic!("authorize url {authorize_url}: {err}"));
        for _ in 0..20 {
            let mut request = self.http.get(url.clone());
            if !jar.is_empty() {
                let cookie = jar
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                request = request.header(reqwest::header::COOKIE, cookie);
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|err| panic!("GET {url}: {err}"));
            for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
                store_cookie(&mut jar, set.to_str().unwrap_or_default());
            }
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                let body = response.text().await.unwrap_or_default();
                panic!("GET {url} answered {status} where a redirect was expected: {body}");
            };
            let next = url
                .join(&location)
                .unwrap_or_else(|err| panic!("redirect to {location} from {url}: {err}"));
            if next.as_str().starts_with(redirect_prefix) {
                return next.into();
            }
            url = next;
        }
        panic!("more than 20 redirects from {authorize_url} without reaching {redirect_prefix}");
    }

    /// `{"token_requests":{"authorization_code":n,"refresh_token":n}, "failed_token_requests":n,
    /// "rejected_client_auth":n, "revocations":n, "revoked_tokens":[sha256 hex…],
    /// "refresh_tokens_seen":[sha256 hex of each refresh token the provider issued…],
    /// "refresh_tokens_presented":[sha256 hex of each refresh token sent to it, in order…],
    /// "interactions":n, "denied_interactions":n, "flags":{…}}`.
    pub async fn stats(&self) -> serde_json::Value {
        let url = format!("{}/stats", self.control_url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        assert_eq!(response.status(), 200, "GET {url}");
        response.json().await.expect("stats JSON")
    }

    /// The next `count` token requests get `status` with `{"error":"temporarily_unavailable"}`
    /// (counted in `failed_token_requests`, not `token_requests`; the provider never sees them).
    pub async fn fail_next(&self, status: u16, count: u32) {
        self.control(
            "fail",
            serde_json::json!({ "status": status, "count": count }),
        )
        .await;
    }

    /// Destroys every grant, authorization code, access and refresh token (and login
    /// session): the next refresh gets oidc-provider's own `invalid_grant`.
    pub async fn revoke_all(&self) {
        self.control("revoke-all", serde_json::json!({})).await;
    }

    /// While on, refresh answers come without `refresh_token`, and the provider does not
    /// rotate on those refreshes, so the refresh token the caller holds stays good.
    pub async fn omit_refresh_token(&self, omit: bool) {
        self.control("omit-refresh-token", serde_json::json!({ "omit": omit }))
            .await;
    }

    /// The token endpoint waits `ms` before answering each request (0 turns it off).
    pub async fn token_delay_ms(&self, ms: u64) {
        self.control("token-delay-ms", serde_json::json!({ "ms": ms }))
            .await;
    }

    /// The next authorization ends with `error=access_denied&error_description=the user refused`.
    pub async fn deny_next(&self) {
        self.control("deny-next", serde_json::json!({})).await;
    }

    /// Counters and flags back to zero; clients and tokens stay.
    pub async fn reset(&self) {
        self.control("reset", serde_json::json!({})).await;
    }

    /// RFC 7662 introspection of `token` as the client (e.g. `["active"] == false` once
    /// revoked). `auth_method` as registered for the client.
    pub async fn introspect(
        &self,
        client_id: &str,
        client_secret: &str,
        auth_method: &str,
        token: &str,
    ) -> serde_json::Value {
        let mut form = vec![("token", token)];
        let mut request = self.http.post(&self.introspection_url);
        if auth_method == "client_secret_post" {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret));
        } else {
            request = request.basic_auth(client_id, Some(client_secret));
        }
        let response = request
            .form(&form)
            .send()
            .await
            .expect("introspection request");
        assert_eq!(
            response.status(),
            200,
            "introspection answered {}",
            response.status()
        );
        response.json().await.expect("introspection JSON")
    }

    async fn control(&self, path: &str, body: serde_json::Value) {
        let url = format!("{}/{path}", self.control_url);
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

fn start_failed(dir: &Path, log: &Mutex<Vec<String>>, why: String) -> ! {
    // give the stderr reader a moment to collect the reason
    std::thread::sleep(Duration::from_millis(200));
    panic!(
        "the OAuth provider (node {}/server.mjs) did not start: {why}\n--- its stderr:\n{}",
        dir.display(),
        log.lock().unwrap().join("\n")
    )
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Keeps a `Set-Cookie` in the jar by name (paths and domains are all this one loopback
/// provider's), and drops it when it is cleared or expired.
fn store_cookie(jar: &mut Vec<(String, String)>, header: &str) {
    let mut parts = header.split(';');
    let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
        return;
    };
    let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
    let expired = parts.any(|attr| {
        let attr = attr.trim().to_ascii_lowercase();
        attr == "max-age=0"
            || attr.starts_with("max-age=-")
            || (attr.starts_with("expires=") && attr.contains("1970"))
    });
    jar.retain(|(k, _)| *k != name);
    if !expired && !value.is_empty() {
        jar.push((name, value));
    }
}
