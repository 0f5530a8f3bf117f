//! The binary as a newcomer runs it: `serve` on an empty data directory, `bootstrap`,
//! `migrate`, `keyward.yaml` with `${VAR}`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn keyward(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("KEYWARD_LOG", "info");
    cmd
}

struct Server {
    child: Option<Child>,
    base: String,
    stdout: Vec<String>,
}

/// Runs a `keyward … serve` command and reads stdout until it says where it listens. The
/// log (stderr) goes to `serve.log` in the command's directory.
fn serve(mut cmd: Command) -> Server {
    let log = cmd.get_current_dir().unwrap().join("serve.log");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut server = Server {
        child: Some(child),
        base: String::new(),
        stdout: vec![],
    };
    loop {
        // On timeout the panic drops `server`, which kills and reaps the child.
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve printed its address within 30 s");
        server.stdout.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            server.base = rest.split_whitespace().next().unwrap().to_owned();
            return server;
        }
    }
}

impl Server {
    fn token(&self) -> Option<String> {
        self.stdout
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("kw_pat_"))
            .map(str::to_owned)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not stop within 10 s of SIGTERM");
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

/// `serve` on an empty data directory in `dir`, creating "my-org" and its owner.
fn first_start(dir: &Path) -> Server {
    let mut cmd = keyward(dir);
    cmd.args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"]);
    cmd.env("KEYWARD_BOOTSTRAP_ORG", "my-org")
        .env("KEYWARD_BOOTSTRAP_EMAIL", "team@company.com");
    serve(cmd)
}

fn get_json(url: &str, token: &str) -> (u16, serde_json::Value) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    })
}

#[test]
fn first_start_creates_the_owner_and_prints_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = first_start(dir.path());
    let token = server.token().expect("first start prints a token");
    assert!(keyward_core::key::check(&token).is_ok());
    let text = server.stdout.join("\n");
    assert!(
        text.contains("Created organization \"my-org\" with owner team@company.com"),
        "{text}"
    );
    assert!(
        text.contains("curl"),
        "the first start says how to use the token"
    );
    let (status, me) = get_json(&format!("{}/v1/me", server.base), &token);
    assert_eq!(status, 200);
    assert_eq!(me["email"], "team@company.com");
    assert_eq!(me["org"]["name"], "my-org");
    assert!(server.terminate().success(), "SIGTERM is a clean shutdown");
    assert!(dir.path().join("data/keyward.db").exists());

    // A second start on the same data prints no token and the old one still works.
    let mut cmd = keyward(dir.path());
    cmd.args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"]);
    let server = serve(cmd);
    assert_eq!(server.token(), None);
    assert_eq!(get_json(&format!("{}/v1/me", server.base), &token).0, 200);
    assert!(server.terminate().success());
}

/// A request's log lines name the caller's key and organization (fields of the request
/// span), and a log that is not a terminal is plain text: no colour codes. No raw key.
#[test]
fn request_logs_name_the_caller_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = first_start(dir.path());
    let token = server.token().unwrap();
    let (_, me) = get_json(&format!("{}/v1/me", server.base), &token);
    let created: serde_json::Value = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(format!("{}/v1/keys", server.base))
                .bearer_auth(&token)
                .json(&serde_json::json!({"name": "logged"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
        })
        .unwrap();
    let raw = created["key"].as_str().expect("the new key, shown once");
    assert!(server.terminate().success());

    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("key created"))
        .unwrap_or_else(|| panic!("no 'key created' line in:\n{log}"));
    let span = format!(
        "request{{method=POST path=/v1/keys key_id={} org_id={}}}",
        me["key"]["id"].as_str().unwrap(),
        me["org"]["id"].as_str().unwrap()
    );
    assert!(line.contains(&span), "{line:?} should contain {span:?}");
    assert!(!log.contains('\x1b'), "colour codes in a log file:\n{log}");
    assert!(
        !log.contains(&token) && !log.contains(raw),
        "a raw key in the log"
    );
}

#[test]
fn bootstrap_prints_only_the_token_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path())
        .args([
            "bootstrap",
            "--data-dir",
            "d",
            "--org",
            "my-org",
            "--email",
            "team@company.com",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout holds the token and nothing else: {stdout:?}"
    );
    assert!(keyward_core::key::check(stdout.trim()).is_ok());

    let again = keyward(dir.path())
        .args(["bootstrap", "--data-dir", "d"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stdout.is_empty());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains("already has an organization"), "{stderr}");

    let json_dir = tempfile::tempdir().unwrap();
    let out = keyward(json_dir.path())
        .args([
            "bootstrap",
            "--json",
            "--org",
            "json-org",
            "--email",
            "a@b.co",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["org"]["name"], "json-org");
    assert_eq!(v["email"], "a@b.co");
    assert!(v["token"].as_str().unwrap().starts_with("kw_pat_"));
    assert!(
        json_dir.path().join("keyward-data/keyward.db").exists(),
        "default data dir is ./keyward-data"
    );

    let bad = keyward(dir.path())
        .args(["bootstrap", "--data-dir", "e", "--email", "not-an-email"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not-an-email"));
}

#[test]
fn migrate_brings_a_database_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    for _ in 0..2 {
        let out = keyward(dir.path())
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("is up to date"));
    }
    let bad = keyward(dir.path())
        .args(["migrate", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported database URL"));
}

#[test]
fn configuration_file_environment_and_flags_are_layered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keyward.yaml"),
        "listen: 127.0.0.1:${KW_TEST_PORT:-0}\ndata_dir: ${KW_TEST_DIR}\nbootstrap:\n  org: ${KW_TEST_ORG}\n  email: ops@example.com\n",
    )
    .unwrap();
    let mut cmd = keyward(dir.path());
    cmd.arg("serve")
        .env("KW_TEST_DIR", "from-yaml")
        .env("KW_TEST_ORG", "yaml-org");
    let server = serve(cmd);
    assert!(server
        .stdout
        .join("\n")
        .contains("Created organization \"yaml-org\" with owner ops@example.com"));
    assert!(server.terminate().success());
    assert!(dir.path().join("from-yaml/keyward.db").exists());

    // The environment beats the file; a flag beats the environment.
    let out = keyward(dir.path())
        .env("KW_TEST_DIR", "from-yaml")
        .env("KW_TEST_ORG", "x")
        .env("KEYWARD_DATA_DIR", "from-env")
        .args(["bootstrap"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("from-env/keyward.db").exists());
    let out = keyward(dir.path())
        .env("KW_TEST_DIR", "from-yaml")
        .env("KW_TEST_ORG", "x")
        .env("KEYWARD_DATA_DIR", "from-env")
        .args(["bootstrap", "--data-dir", "from-flag"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("from-flag/keyward.db").exists());

    // An unset variable is named, not silently empty.
    let out = keyward(dir.path())
        .env_remove("KW_TEST_DIR")
        .args(["migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KW_TEST_DIR"));
}

/// `--cache-max-keys` (or `cache_max_keys:` in the file) must be at least 1; the file
/// setting is accepted, and a bad one is named before anything is opened.
#[test]
fn the_cache_bound_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path())
        .args(["serve", "--data-dir", "d", "--cache-max-keys", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1"));
    assert!(
        !dir.path().join("d").exists(),
        "nothing opened for a bad setting"
    );

    std::fs::write(
        dir.path().join("keyward.yaml"),
        "listen: 127.0.0.1:0\ndata_dir: from-yaml\ncache_max_keys: 10\n",
    )
    .unwrap();
    let mut cmd = keyward(dir.path());
    cmd.arg("serve");
    let server = serve(cmd);
    assert!(server.terminate().success());
}

/// A path's permission bits in octal ("0600").
#[cfg(unix)]
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:04o}", meta.permissions().mode() & 0o7777)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The database holds emails, the audit log and key hashes: under the test runner's
/// umask (022), `serve` on a fresh data directory still makes it 0700 and every database
/// file 0600, the WAL and shared-memory files included (they exist while it runs).
#[cfg(unix)]
#[test]
fn serve_keeps_the_data_directory_and_database_files_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = first_start(dir.path());
    let data = dir.path().join("data");
    assert_eq!(mode(&data), "0700");
    for file in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
        assert_eq!(mode(&data.join(file)), "0600", "{file}");
    }
    assert!(server.terminate().success());
    assert_eq!(mode(&data.join("keyward.db")), "0600");
}

/// An installation an older Keyward left 0755/0644 is tightened at the next start, with
/// a warning naming each path and its old mode. The data directory's missing parents are
/// created like any other directory, and a data directory that holds other files too is
/// not Keyward's to change.
#[cfg(unix)]
#[test]
fn migrate_tightens_an_older_installation_and_leaves_parents_alone() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = |data: &str| {
        let out = keyward(dir.path())
            .args(["migrate", "--data-dir", data])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    migrate("outer/data");
    let (outer, data) = (dir.path().join("outer"), dir.path().join("outer/data"));
    assert_eq!(mode(&data), "0700");
    assert_eq!(mode(&data.join("keyward.db")), "0600");
    std::fs::create_dir(dir.path().join("plain")).unwrap();
    assert_eq!(mode(&outer), mode(&dir.path().join("plain")), "a parent");

    set_mode(&data, 0o755);
    set_mode(&data.join("keyward.db"), 0o644);
    let log = migrate("outer/data");
    assert_eq!(mode(&data), "0700");
    assert_eq!(mode(&data.join("keyward.db")), "0600");
    assert!(
        log.contains("path=outer/data ") && log.contains("old_mode=0755"),
        "{log}"
    );
    assert!(
        log.contains("path=outer/data/keyward.db") && log.contains("old_mode=0644"),
        "{log}"
    );
    assert!(
        !migrate("outer/data").contains("WARN"),
        "nothing left to warn about"
    );

    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("notes.txt"), "mine").unwrap();
    set_mode(&shared, 0o755);
    let log = migrate("shared");
    assert_eq!(mode(&shared), "0755");
    assert_eq!(mode(&shared.join("keyward.db")), "0600");
    assert!(log.contains("left as they are"), "{log}");
}

fn post_json(url: &str, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    })
}

/// Creating organizations is the operator's call: a flag, the environment or
/// `organizations:` in `keyward.yaml` turns it off or caps it per person.
#[test]
fn the_operator_decides_who_creates_organizations() {
    for (how, flag, env, yaml) in [
        ("flag", Some(["--allow-org-creation", "false"]), None, None),
        (
            "env",
            None,
            Some(("KEYWARD_ALLOW_ORG_CREATION", "false")),
            None,
        ),
        (
            "file",
            None,
            None,
            Some("organizations:\n  allow_create: false\n"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        if let Some(y) = yaml {
            std::fs::write(dir.path().join("keyward.yaml"), y).unwrap();
        }
        let mut cmd = keyward(dir.path());
        cmd.args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"]);
        if let Some(f) = flag {
            cmd.args(f);
        }
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let server = serve(cmd);
        let token = server.token().unwrap();
        let (status, body) = post_json(
            &format!("{}/v1/organizations", server.base),
            &token,
            serde_json::json!({"name": "another"}),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("org_creation_disabled")),
            "{how}: {body}"
        );
        assert!(server.terminate().success());
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keyward(dir.path());
    cmd.args([
        "serve",
        "--data-dir",
        "data",
        "--listen",
        "127.0.0.1:0",
        "--max-orgs-per-person",
        "1",
    ]);
    let server = serve(cmd);
    let token = server.token().unwrap();
    let url = format!("{}/v1/organizations", server.base);
    assert_eq!(
        post_json(&url, &token, serde_json::json!({"name": "one"})).0,
        201
    );
    let (status, body) = post_json(&url, &token, serde_json::json!({"name": "two"}));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("org_limit_reached")),
        "{body}"
    );
    assert!(server.terminate().success());
    let out = keyward(dir.path())
        .args(["serve", "--data-dir", "data", "--max-orgs-per-person", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-org-creation false"));
}
