//! `keyward auth login --web`, end to end: the real binary waits on its loopback while
//! the test plays the person's browser (reqwest, with the console's cookies): it signs
//! in to the console with the owner's password link, opens the link the CLI printed,
//! approves or cancels, and follows the console's redirect to the CLI.

use super::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A browser without JavaScript: cookies, the last page's `_csrf`, no redirects followed.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

struct Shown {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            csrf: String::new(),
        }
    }

    async fn take(&mut self, r: reqwest::Response) -> Shown {
        for c in r.headers().get_all(SET_COOKIE) {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        let needle = r#"name="_csrf" value=""#;
        if let Some(at) = body.find(needle) {
            let rest = &body[at + needle.len()..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        Shown {
            status,
            location,
            body,
        }
    }

    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join("; ")
    }

    async fn get(&mut self, url: &str) -> Shown {
        let r = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    /// Posts a form with the last page's CSRF token.
    async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Shown {
        let mut all = vec![("_csrf", self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let r = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .form(&all)
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    /// Signed in to the console as the owner, through their one-time password link.
    async fn owner(server: &Server) -> Self {
        let mut b = Self::new();
        let code = &server.owner_password_code;
        let page = b
            .get(&format!("{}/console/password?code={code}", server.url))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let password = "correct horse battery staple";
        let done = b
            .post(
                &format!("{}/console/password", server.url),
                &[("code", code), ("password", password), ("repeat", password)],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        b
    }

    /// Opens the CLI's link and presses `decision` (`approve` or `cancel`) with the
    /// page's own fields: the console's redirect, which the browser then follows.
    async fn decide(&mut self, link: &str, decision: &str) -> String {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Authorize the Keyward CLI"),
            "{}",
            page.body
        );
        let hidden = |name: &str| {
            let needle = format!(r#"name="{name}" value=""#);
            let at = page.body.find(&needle).unwrap() + needle.len();
            page.body[at..at + page.body[at..].find('"').unwrap()].to_owned()
        };
        let (port, state, challenge, machine) = (
            hidden("port"),
            hidden("state"),
            hidden("challenge"),
            hidden("machine"),
        );
        let url = link.split_once('?').unwrap().0;
        let answer = self
            .post(
                url,
                &[
                    ("port", &port),
                    ("state", &state),
                    ("challenge", &challenge),
                    ("machine", &machine),
                    ("permissions", "all"),
                    ("expires", "90d"),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        answer.location.unwrap()
    }
}

/// `keyward auth login --web --no-browser` running, and the link it printed.
struct Waiting {
    child: Child,
    /// Where the person would paste the callback's address.
    stdin: std::process::ChildStdin,
    link: String,
    stderr: std::thread::JoinHandle<String>,
}

fn start_web_login(user: &User, server: &Server) -> Waiting {
    let mut child = user
        .process(&[
            "auth",
            "login",
            "--web",
            "--no-browser",
            "--server",
            &server.url,
        ])
        .env("HOSTNAME", "ci-runner-7")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    let link = first
        .trim()
        .strip_prefix("Open this link to sign in: ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_owned();
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = lines.read_to_string(&mut rest);
        rest
    });
    Waiting {
        child,
        stdin,
        link,
        stderr,
    }
}

impl Waiting {
    /// Waits for the command to end: (exit code, stdout, stderr).
    fn finish(mut self) -> (i32, String, String) {
        let deadline = std::time::Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("keyward auth login --web did not finish");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        (
            status.code().unwrap_or(-1),
            stdout,
            self.stderr.join().unwrap(),
        )
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn login_web_gets_a_token_approved_in_the_console() {
    let server = Server::start();
    let user = User::new();
    let waiting = start_web_login(&user, &server);
    assert!(
        waiting
            .link
            .starts_with(&format!("{}/console/cli-login?port=", server.url)),
        "{}",
        waiting.link
    );
    assert!(
        waiting.link.contains("machine=ci-runner-7"),
        "{}",
        waiting.link
    );
    let page = runtime().block_on(async {
        let mut browser = Browser::owner(&server).await;
        let callback = browser.decide(&waiting.link, "approve").await;
        assert!(
            callback.starts_with("http://127.0.0.1:"),
            "the console sent the browser to {callback}"
        );
        // The browser follows the redirect to the CLI, which answers it.
        browser.get(&callback).await
    });
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Keyward CLI is signed in; you can close this tab"),
        "{}",
        page.body
    );
    let (code, stdout, stderr) = waiting.finish();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("Signed in as team@company.com in my-org; token kw_pat_"),
        "{stdout}"
    );
    assert!(stderr.contains("Waiting for you to approve"), "{stderr}");

    // The token is stored like `auth login`'s, works, and is in the person's list.
    assert_eq!(mode(&user.credentials_path()), 0o600);
    let out = run(user.cmd(&["auth", "whoami"])).ok();
    assert_eq!(
        out.stdout,
        "Authenticated as: team@company.com (org: my-org)\n"
    );
    let listed = run(user.cmd(&["keys", "list", "--json"])).ok().json();
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"keyward CLI on ci-runner-7"), "{names:?}");
}

#[test]
fn login_web_fails_when_the_person_cancels_and_ignores_forged_callbacks() {
    let server = Server::start();
    let user = User::new();
    let waiting = start_web_login(&user, &server);
    let port = waiting
        .link
        .split("port=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let (forged, page) = runtime().block_on(async {
        let mut browser = Browser::owner(&server).await;
        // A request without the login's state proves nothing: it is refused, and the
        // CLI keeps waiting.
        let forged = browser
            .get(&format!(
                "http://127.0.0.1:{port}/callback?code=kw_cli_x&state=not-the-state-at-all"
            ))
            .await;
        let callback = browser.decide(&waiting.link, "cancel").await;
        assert!(callback.contains("error=access_denied"), "{callback}");
        (forged, browser.get(&callback).await)
    });
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(page.body.contains("Sign-in cancelled"), "{}", page.body);
    let (code, stdout, stderr) = waiting.finish();
    assert_eq!(code, 3, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("authorization was cancelled in the browser"),
        "{stderr}"
    );
    assert!(stderr.contains("ignored"), "{stderr}");
    assert!(!user.credentials_path().exists());
}

/// A browser on another computer cannot reach this machine's loopback: the person pastes
/// the address it ended on, after a line that is not it.
#[test]
fn login_web_takes_the_callback_address_pasted_at_the_terminal() {
    let server = Server::start();
    let user = User::new();
    let mut waiting = start_web_login(&user, &server);
    let callback = runtime().block_on(async {
        let mut browser = Browser::owner(&server).await;
        browser.decide(&waiting.link, "approve").await
    });
    let stale = callback.replace("state=", "state=x");
    writeln!(waiting.stdin, "{stale}").unwrap();
    writeln!(waiting.stdin, "{callback}").unwrap();
    let (code, stdout, stderr) = waiting.finish();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("paste that page's address here"),
        "{stderr}"
    );
    assert!(
        stderr.contains("that is not the address of this sign-in's callback"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Signed in as team@company.com in my-org"),
        "{stdout}"
    );
    let out = run(user.cmd(&["auth", "whoami"])).ok();
    assert!(
        out.stdout.starts_with("Authenticated as: team@company.com"),
        "{}",
        out.stdout
    );
}

#[test]
fn login_web_takes_no_token_and_no_browser_needs_web() {
    let server = Server::start();
    let user = User::new();
    let both = run(user.cmd(&[
        "auth",
        "login",
        "--web",
        "--token",
        &server.token,
        "--server",
        &server.url,
    ]));
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(both.stderr.contains("--web"), "{}", both.stderr);
    let alone = run(user.cmd(&["auth", "login", "--no-browser", "--server", &server.url]));
    assert_eq!(alone.code, 2, "{}", alone.stderr);
}
