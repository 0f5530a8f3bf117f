//! The integrations vault through the real binary: `keyward serve` with an
//! `integrations:` entry of `keyward.yaml` (credentials from `${VAR}`) pointing at a real
//! authorization server (oidc-provider, `crates/keyward-server/tests/oauth_provider/`),
//! then `keyward connect`, `keyward connections …` and `keyward secrets …` as a person
//! and an operator run them. Without node_modules (and outside CI) the tests say so and
//! pass; every child process has a timeout and is killed on drop.

mod support;

#[path = "../../keyward-server/tests/oauth_provider/harness.rs"]
mod oauth_provider;

use oauth_provider::OAuthProvider;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::{run, Run, User, BIN, COMMAND_TIMEOUT};
use tempfile::TempDir;

const CLIENT_ID: &str = "keyward-cli-tests";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Blocking work (a child process, a channel) on a worker of the multi-thread runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A `keyward serve` on its own directory, with `acme` configured; the same loopback
/// port (and so the same `--public-url`) across restarts.
struct Vault {
    dir: TempDir,
    port: u16,
    client_secret: String,
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Vault {
    fn new(provider: &OAuthProvider) -> Vault {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            r#"integrations:
  acme:
    enabled: true
    display_name: Acme Mail
    credentials:
      client_id: ${{ACME_CLIENT_ID}}
      client_secret: ${{ACME_CLIENT_SECRET}}
    oauth:
      authorize_url: {}
      token_url: {}
      revoke_url: {}
      scopes:
        read: read
        mail.read: mail.read
        mail.send: mail.send
      default_scopes: [read]
      client_auth: basic
"#,
            provider.authorize_url, provider.token_url, provider.revoke_url
        );
        std::fs::write(dir.path().join("keyward.yaml"), yaml).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Vault {
            dir,
            port,
            client_secret: keyward_core::base62::random(32),
            child: None,
            stdout: Arc::default(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn callback(&self) -> String {
        format!("{}/v1/oauth/callback", self.url())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir().join("keks")
    }

    /// `keyward ARGS --data-dir …` in the server's directory (where keyward.yaml is),
    /// with the integration's credentials in the environment as `${VAR}` wants them.
    fn keyward(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("KEYWARD_LOG", "warn")
            .env("ACME_CLIENT_ID", CLIENT_ID)
            .env("ACME_CLIENT_SECRET", &self.client_secret)
            .current_dir(self.dir.path())
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir());
        cmd
    }

    /// `keyward secrets ARGS`, to completion.
    fn secrets(&self, args: &[&str]) -> Run {
        let mut all = vec!["secrets"];
        all.extend_from_slice(args);
        let mut cmd = assert_cmd::Command::from_std(self.keyward(&all));
        cmd.timeout(COMMAND_TIMEOUT);
        blocking(|| run(cmd))
    }

    fn serve_command(&self) -> Command {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut cmd = self.keyward(&["serve", "--listen", &listen, "--public-url", &self.url()]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        cmd
    }

    /// Starts `keyward serve` and waits for its "listening on" line; returns what it
    /// printed on stdout up to it.
    fn serve(&mut self) -> Vec<String> {
        assert!(self.child.is_none(), "the server is running");
        let mut child = self.serve_command().spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        self.stdout = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let listening = line.contains("listening on http://");
                lines.lock().unwrap().push(line);
                if listening {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        if blocking(|| rx.recv_timeout(START_TIMEOUT)).is_err() {
            panic!(
                "keyward serve did not say where it listens in time; stdout:\n{}\nlog:\n{}",
                self.stdout.lock().unwrap().join("\n"),
                self.log()
            );
        }
        self.stdout.lock().unwrap().clone()
    }

    /// Starts `keyward serve` expecting it to refuse: its exit code and all it wrote.
    fn serve_refused(&self) -> (i32, String) {
        let mut child = self.serve_command().spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        let status = blocking(|| loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keyward serve kept running; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        });
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        (
            status.code().unwrap_or(-1),
            format!("{out}\n{}", self.log()),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + START_TIMEOUT;
        blocking(|| {
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.wait();
        });
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The owner's token from the first start's output.
fn owner_token(stdout: &[String]) -> String {
    stdout
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("kw_pat_"))
        .unwrap_or_else(|| panic!("no owner token in:\n{}", stdout.join("\n")))
        .to_owned()
}

/// Starts the provider (or `None`: no node_modules outside CI) and a first `serve`,
/// with the hosted callback registered at the provider; a user logged in as the owner.
async fn start() -> Option<(OAuthProvider, Vault, User, Vec<String>)> {
    let provider = OAuthProvider::start().await?;
    let mut vault = Vault::new(&provider);
    provider
        .add_client(
            CLIENT_ID,
            &vault.client_secret,
            &[&vault.callback()],
            "client_secret_basic",
        )
        .await;
    let first = vault.serve();
    let token = owner_token(&first);
    let user = User::new();
    cli(
        &user,
        &["auth", "login", "--token", &token, "--server", &vault.url()],
    )
    .ok();
    Some((provider, vault, user, first))
}

fn cli(user: &User, args: &[&str]) -> Run {
    blocking(|| run(user.cmd(args)))
}

/// A running `keyward connect …`: its stdout lines as they come, and its stderr.
struct Connecting {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Connecting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Connecting {
    fn start(user: &User, args: &[&str]) -> Connecting {
        let mut child = user
            .process(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let kept = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let kept = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut err = err;
            let _ = err.read_to_string(&mut text);
            kept.lock().unwrap().push_str(&text);
        });
        Connecting {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// The authorization URL it printed on stdout.
    fn url(&self) -> String {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        blocking(|| loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("http") => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "keyward connect printed no URL; stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        })
    }

    /// Waits for it to exit: its code, stdout and stderr.
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = blocking(|| loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                panic!(
                    "keyward connect did not finish; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        });
        // Let the reader threads see the pipes close.
        std::thread::sleep(Duration::from_millis(200));
        let stdout = self.stdout.lock().unwrap().join("\n");
        let stderr = self.stderr.lock().unwrap().clone();
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// Plays the person: opens the URL at the provider, then follows its redirect to
/// Keyward's hosted callback (as the browser would); the callback page's status.
async fn authorize_as_person(provider: &OAuthProvider, vault: &Vault, url: &str) -> u16 {
    let back = provider.authorize(url, &vault.callback()).await;
    reqwest::Client::new()
        .get(&back)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `keyward connect acme --id ID --no-browser`, authorized by the person; must succeed.
async fn connect(provider: &OAuthProvider, vault: &Vault, user: &User, id: &str) -> Run {
    let connecting = Connecting::start(user, &["connect", "acme", "--id", id, "--no-browser"]);
    let url = connecting.url();
    assert!(url.starts_with(&provider.authorize_url), "{url}");
    assert!(url.contains("code_challenge="), "PKCE: {url}");
    assert_eq!(authorize_as_person(provider, vault, &url).await, 200);
    let out = connecting.finish();
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

async fn introspect(provider: &OAuthProvider, vault: &Vault, token: &str) -> bool {
    let answer = provider
        .introspect(
            CLIENT_ID,
            &vault.client_secret,
            "client_secret_basic",
            token,
        )
        .await;
    answer["active"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_then_list_show_token_refresh_and_disconnect() {
    let Some((provider, vault, user, _)) = start().await else {
        return;
    };
    let integrations = cli(&user, &["integrations", "list"]).ok();
    assert!(
        integrations.stdout.contains("acme") && integrations.stdout.contains("Acme Mail"),
        "{}",
        integrations.stdout
    );
    let listed = cli(&user, &["integrations", "list", "--json"]).ok().json();
    assert_eq!(listed["data"][0]["name"], "acme");
    assert_eq!(listed["data"][0]["pkce"], true);

    let out = connect(&provider, &vault, &user, "u1").await;
    assert!(
        out.stdout.contains("Connected acme as u1"),
        "{}",
        out.stdout
    );

    let list = cli(&user, &["connections", "list", "--json"]).ok().json();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["id"], "u1");
    assert_eq!(data[0]["status"], "active");
    assert_eq!(data[0]["authenticated"], true);
    let table = cli(&user, &["connections", "list"]).ok();
    assert!(
        table.stdout.contains("u1") && table.stdout.contains("active"),
        "{}",
        table.stdout
    );

    let show = cli(&user, &["connections", "show", "u1"]).ok();
    for want in [
        "Status:",
        "active",
        "Authenticated:",
        "yes",
        "Scopes:",
        "read",
        "Expires:",
        "Last refreshed:",
        "Last error:",
    ] {
        assert!(show.stdout.contains(want), "{want}: {}", show.stdout);
    }
    assert!(!show.stdout.contains("Next step"), "{}", show.stdout);

    // `token` prints the token alone; it is the provider's, and it is active there.
    let token = cli(&user, &["connections", "token", "u1"]).ok();
    let access = token.stdout.trim().to_owned();
    assert_eq!(token.stdout, format!("{access}\n"));
    assert!(!access.is_empty() && !access.contains(' '));
    assert!(introspect(&provider, &vault, &access).await);
    let as_json = cli(&user, &["connections", "token", "u1", "--json"])
        .ok()
        .json();
    assert_eq!(as_json["access_token"], access.as_str());
    assert_eq!(as_json["connection"]["id"], "u1");
    // No other command shows it.
    assert!(!show.stdout.contains(&access));
    assert!(!table.stdout.contains(&access));

    // `refresh` gets a new access token.
    let refreshed = cli(&user, &["connections", "refresh", "u1"]).ok();
    assert!(
        refreshed.stdout.contains("Refreshed u1"),
        "{}",
        refreshed.stdout
    );
    assert!(!refreshed.stdout.contains(&access));
    let newer = cli(&user, &["connections", "token", "u1"]).ok();
    let newer = newer.stdout.trim().to_owned();
    assert_ne!(newer, access);
    assert!(introspect(&provider, &vault, &newer).await);

    // `disconnect` asks first; without a terminal and without --yes it refuses.
    let refused = cli(&user, &["connections", "disconnect", "u1"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let gone = cli(&user, &["connections", "disconnect", "u1", "--yes"]).ok();
    assert!(
        gone.stdout
            .contains("the provider confirmed the revocation"),
        "{}",
        gone.stdout
    );
    assert!(!introspect(&provider, &vault, &newer).await);
    let show = cli(&user, &["connections", "show", "u1"]).ok();
    assert!(
        show.stdout.contains("revoked") && show.stdout.contains("keyward connect acme --id u1"),
        "{}",
        show.stdout
    );
    let no_token = cli(&user, &["connections", "token", "u1"]);
    assert_eq!(no_token.code, 1, "{}", no_token.stderr);
    assert!(no_token.stdout.is_empty());

    // `delete` removes it; then it is not found, with a hint.
    cli(&user, &["connections", "delete", "u1", "--yes"]).ok();
    let missing = cli(&user, &["connections", "show", "u1"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("connection_not_found")
            && missing.stderr.contains("keyward connections list"),
        "{}",
        missing.stderr
    );
    let unknown = cli(&user, &["connect", "nope", "--id", "u2", "--no-browser"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("integration_not_found")
            && unknown.stderr.contains("keyward integrations list"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_with_access_denied_when_the_person_refuses() {
    let Some((provider, vault, user, _)) = start().await else {
        return;
    };
    provider.deny_next().await;
    // Without --id: the connection is named after the owner (their email).
    let connecting = Connecting::start(&user, &["connect", "acme", "--no-browser"]);
    let url = connecting.url();
    let page = authorize_as_person(&provider, &vault, &url).await;
    assert_eq!(page, 400);
    let out = connecting.finish();
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains("access_denied") && out.stderr.contains("owner@localhost"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("Connected"), "{}", out.stdout);
    let show = cli(&user, &["connections", "show", "owner@localhost"]).ok();
    assert!(
        show.stdout.contains("pending") && show.stdout.contains("access_denied"),
        "{}",
        show.stdout
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The KEK ids of `secrets status`, the active one first.
fn kek_ids(status: &str) -> (String, Vec<String>) {
    let active = status
        .split("active: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no active KEK in:\n{status}"))
        .to_owned();
    let ids = status
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| l.trim().split([':', ' ']).next().unwrap().to_owned())
        .collect();
    (active, ids)
}

/// `secrets status`' record count for `id`.
fn records(status: &str, id: &str) -> i64 {
    let line = status
        .lines()
        .find(|l| l.trim().starts_with(id))
        .unwrap_or_else(|| panic!("{id} not in:\n{status}"));
    line.split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kek_rotation_end_to_end_across_restarts() {
    let Some((provider, mut vault, user, first)) = start().await else {
        return;
    };
    // The first start made the key file, owner-only, and said so.
    let key_file = vault.key_file();
    assert!(key_file.exists());
    assert_eq!(mode(&key_file), 0o600);
    let said = first.join("\n");
    assert!(
        said.contains("Created the key-encryption key file")
            && said.contains(&*key_file.to_string_lossy()),
        "{said}"
    );
    connect(&provider, &vault, &user, "u1").await;
    let before = cli(&user, &["connections", "token", "u1"]).ok();
    vault.stop();

    let status = vault.secrets(&["status"]).ok();
    let (old, ids) = kek_ids(&status.stdout);
    assert_eq!(ids, vec![old.clone()]);
    assert!(records(&status.stdout, &old) > 0, "{}", status.stdout);

    let added = vault.secrets(&["add-kek"]).ok();
    assert!(added.stdout.contains("made it active"), "{}", added.stdout);
    assert_eq!(mode(&key_file), 0o600);
    vault.serve();
    let status = vault.secrets(&["status"]).ok();
    let (new, ids) = kek_ids(&status.stdout);
    assert_ne!(new, old);
    assert_eq!(ids.len(), 2, "{}", status.stdout);
    assert!(records(&status.stdout, &old) > 0, "{}", status.stdout);
    assert_eq!(records(&status.stdout, &new), 0, "{}", status.stdout);

    // The old KEK still wraps records: retiring it is refused.
    let refused = vault.secrets(&["retire", &old]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(&old) && refused.stderr.contains("keyward secrets rotate"),
        "{}",
        refused.stderr
    );

    let rotated = vault.secrets(&["rotate"]).ok();
    assert!(
        rotated.stdout.contains("Re-wrapping") && rotated.stdout.contains("re-wrapped"),
        "{}",
        rotated.stdout
    );
    assert!(rotated.stdout.contains("Done:"), "{}", rotated.stdout);
    let status = vault.secrets(&["status"]).ok();
    assert_eq!(records(&status.stdout, &old), 0, "{}", status.stdout);

    let active = vault.secrets(&["retire", &new]);
    assert_ne!(active.code, 0, "{}", active.stdout);
    vault.secrets(&["retire", &old]).ok();
    let status = vault.secrets(&["status"]).ok();
    assert_eq!(kek_ids(&status.stdout).1, vec![new.clone()]);

    // Restarted on the rotated ring, the connection's token still opens.
    vault.stop();
    vault.serve();
    let after = cli(&user, &["connections", "token", "u1"]).ok();
    assert_eq!(after.stdout, before.stdout);
    vault.stop();

    // A KEK that records need, taken out of the key file: serve refuses at once, naming it.
    vault.secrets(&["add-kek"]).ok();
    let text = std::fs::read_to_string(&key_file).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with(&format!("{new} "))
                && !l.trim_start().starts_with(&format!("{new}="))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(edited, text, "{new} not found in the key file");
    std::fs::write(&key_file, edited).unwrap();
    let started = Instant::now();
    let (code, said) = vault.serve_refused();
    assert_ne!(code, 0, "{said}");
    assert!(said.contains(&new), "{said}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
