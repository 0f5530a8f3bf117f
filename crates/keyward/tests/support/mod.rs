//! Runs the real `keyward` binary against a real server it started on a free loopback
//! port: `keyward bootstrap` for the owner's token, then `keyward serve --listen
//! 127.0.0.1:0`, whose "listening on http://…" line gives the URL. Every test has its
//! own data, config, home and working directories, and a clean environment.
#![allow(dead_code)]

use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");
/// Longest any one CLI command may take in a test.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    child: Option<Child>,
    pub url: String,
    /// The bootstrap owner's token: every permission.
    pub token: String,
    /// The code of the owner's one-time password link (`kw_pwl_…`), which `bootstrap`
    /// prints on stderr: opened on `/console/password`, it signs the owner in.
    pub owner_password_code: String,
    pub dir: TempDir,
    /// `--data-dir DIR` or `--database-url URL`: where the server keeps its data.
    db_args: Vec<String>,
}

impl Server {
    /// On SQLite in a data directory of its own.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let db_args = vec!["--data-dir".to_owned(), data.display().to_string()];
        Self::bootstrap_and_serve(dir, db_args)
    }

    /// On the database at `url` (e.g. a PostgreSQL schema of the test's own).
    pub fn start_on(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::bootstrap_and_serve(dir, vec!["--database-url".to_owned(), url.to_owned()])
    }

    fn bootstrap_and_serve(dir: TempDir, db_args: Vec<String>) -> Self {
        let out = std::process::Command::new(BIN)
            .env_clear()
            .current_dir(dir.path())
            .arg("bootstrap")
            .args(&db_args)
            .args(["--org", "my-org", "--email", "team@company.com"])
            .output()
            .unwrap();
        assert!(out.status.success(), "bootstrap failed: {out:?}");
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let owner_password_code = stderr
            .split("code=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("bootstrap printed no password link: {stderr}"))
            .to_owned();
        let mut server = Self {
            child: None,
            url: String::new(),
            token,
            owner_password_code,
            dir,
            db_args,
        };
        server.serve();
        server
    }

    /// Starts `keyward serve` on the server's data (again, after [`Server::stop`]), on a
    /// new port: `url` changes.
    pub fn serve(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap();
        let mut child = std::process::Command::new(BIN)
            .env_clear()
            .env("KEYWARD_LOG", "warn")
            .current_dir(self.dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&self.db_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining stdout so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = tx.send(url);
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => self.url = url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default();
                panic!("keyward serve did not print its address in time; log:\n{log}");
            }
        }
        self.child = Some(child);
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.wait();
    }

    /// `keyward ARGS --data-dir …|--database-url …` on this server's data, as an
    /// operator runs it on the server's machine (a clean environment).
    pub fn on_database(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .current_dir(self.dir.path())
            .timeout(COMMAND_TIMEOUT)
            .args(args)
            .args(&self.db_args);
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A user's machine: a home, a config directory and a working directory of its own.
pub struct User {
    pub home: TempDir,
    pub cwd: TempDir,
    pub config_dir: Option<PathBuf>,
}

impl User {
    /// With `KEYWARD_CONFIG_DIR` set to a fresh directory.
    pub fn new() -> Self {
        let mut user = Self::with_home_only();
        user.config_dir = Some(user.home.path().join("keyward-config"));
        user
    }

    /// Without `KEYWARD_CONFIG_DIR`: the config directory comes from `HOME`.
    pub fn with_home_only() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
            config_dir: None,
        }
    }

    pub fn credentials_path(&self) -> PathBuf {
        match &self.config_dir {
            Some(d) => d.join("credentials.json"),
            None => self
                .home
                .path()
                .join(".config")
                .join("keyward")
                .join("credentials.json"),
        }
    }

    /// `keyward ARGS` with a clean environment (no KEYWARD_* from the test runner).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(self.process(args));
        cmd.timeout(COMMAND_TIMEOUT);
        cmd
    }

    /// [`User::cmd`] as a plain process, for a test that talks to it while it runs.
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(BIN);
        cmd.env_clear()
            .env("HOME", self.home.path())
            .current_dir(self.cwd.path())
            .args(args);
        if let Some(dir) = &self.config_dir {
            cmd.env("KEYWARD_CONFIG_DIR", dir);
        }
        cmd
    }

    /// `keyward ARGS` on a pseudo-terminal (util-linux `script`), as a person at a
    /// prompt: `answer` is what they type. stdout and stderr both arrive on stdout.
    pub fn at_terminal(&self, args: &[&str], answer: &str) -> Run {
        let quoted: Vec<String> = std::iter::once(BIN)
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let mut cmd = Command::new("script");
        cmd.env_clear()
            .env("HOME", self.home.path())
            .current_dir(self.cwd.path())
            .timeout(COMMAND_TIMEOUT)
            .args(["-qec", &quoted.join(" "), "/dev/null"]);
        if let Some(dir) = &self.config_dir {
            cmd.env("KEYWARD_CONFIG_DIR", dir);
        }
        let out = cmd.write_stdin(answer).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }

    pub fn write_dotenv(&self, text: &str) {
        std::fs::write(self.cwd.path().join(".env"), text).unwrap();
    }

    pub fn remove_dotenv(&self) {
        std::fs::remove_file(self.cwd.path().join(".env")).unwrap();
    }

    /// `keyward auth login --token KEY --server URL`, which must succeed.
    pub fn login(&self, server: &Server, key: &str) {
        let out = self
            .cmd(&["auth", "login", "--token", key, "--server", &server.url])
            .output()
            .unwrap();
        assert!(out.status.success(), "login failed: {}", text(&out.stderr));
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command to completion (stdin empty, not a terminal).
pub fn run(mut cmd: Command) -> Run {
    let out = cmd.write_stdin("").output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// Creates a key with the owner's token; returns (raw key, id).
pub fn create_key(user: &User, server: &Server, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "keys",
        "create",
        "--json",
        "--token",
        &server.token,
        "--server",
        &server.url,
    ];
    args.extend_from_slice(extra);
    let created = run(user.cmd(&args)).ok().json();
    (
        created["key"].as_str().unwrap().to_owned(),
        created["id"].as_str().unwrap().to_owned(),
    )
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `members invite` by `inviter` (with `inviter_token`), then `auth accept-invite` on a
/// fresh machine of the invited person; returns their first token.
pub fn invite_and_accept(server: &Server, inviter_token: &str, email: &str, role: &str) -> String {
    let machine = User::new();
    let invited = run(machine.cmd(&[
        "members",
        "invite",
        "--email",
        email,
        "--role",
        role,
        "--json",
        "--token",
        inviter_token,
        "--server",
        &server.url,
    ]))
    .ok()
    .json();
    let code = invited["code"].as_str().unwrap().to_owned();
    let accepted = run(machine.cmd(&[
        "auth",
        "accept-invite",
        &code,
        "--server",
        &server.url,
        "--json",
    ]))
    .ok()
    .json();
    accepted["token"]["key"].as_str().unwrap().to_owned()
}

/// `GET /v1/me` with `token`: the status and the body.
pub fn get_me(server: &Server, token: &str) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/me", server.url))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    })
}

/// `POST /v1/organizations` as the holder of `token`: the new organization's first token.
pub fn create_org(server: &Server, token: &str, name: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/organizations", server.url))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": name }))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "{response:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"]["key"].as_str().unwrap().to_owned()
    })
}
