//! The machine's side of `keyward auth login --web` (RFC 8252 §7.3, loopback redirect):
//! a listener on 127.0.0.1 on a port the OS picks, waiting for the one browser request
//! the console's redirect makes (`GET /callback?code=…&state=…`), the small page that
//! answers it, opening the browser, and the machine's name. A leaf: it uses no other
//! CLI module.
//!
//! A request that is not the awaited callback (another path, a missing or wrong state:
//! a stale tab, another local process) is answered with an error page and the wait goes
//! on: it proves nothing, and failing on it would let anything on the machine end the
//! login. Only a callback carrying this login's state ends the wait, with its code, a
//! cancellation, or the console's error. A browser that cannot reach the loopback (on
//! another computer) ends on an error page whose address the person may paste instead
//! ([`pasted`]).

use keyward_client::api::{CliCallback, ACCESS_DENIED, CLI_CALLBACK_PATH};
use keyward_client::pkce::LoginState;
use keyward_client::CliLoginCode;
use keyward_core::Name;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most of a request head read (the callback's is a few hundred bytes).
const MAX_HEAD: usize = 8 * 1024;
/// How long one connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest machine name the console accepts (keyward-api's rule), so the token's
/// name fits.
pub use keyward_client::api::CLI_MACHINE_MAX_CHARS;
/// The name used when the machine's cannot be found.
pub const UNKNOWN_MACHINE: &str = "this machine";

/// Listening on `127.0.0.1:<port>` for the browser.
pub struct Loopback {
    listener: TcpListener,
}

/// What the console's redirect said.
pub enum Outcome {
    /// The person approved: the code to exchange.
    Approved(CliLoginCode),
    /// The person cancelled.
    Denied,
    /// The console sent something else (another error, a malformed code).
    Failed(String),
}

/// Connections whose request head is being read at once; more are closed at once.
const MAX_PENDING: usize = 16;

/// The browser's request that ended the wait, still waiting for its answer.
pub struct Browser(TcpStream);

impl Loopback {
    /// Binds 127.0.0.1 (never every interface) on a port the OS picks.
    pub async fn bind() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self { listener })
    }

    pub fn port(&self) -> io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Waits for the callback that carries `state`, answering every other request with
    /// an error page. `ignored` hears about each request that did not count.
    pub async fn callback(
        &self,
        state: &LoginState,
        mut ignored: impl FnMut(&str),
    ) -> io::Result<(Outcome, Browser)> {
        // Each connection's request head is read in a task of its own, so a connection
        // that sends nothing (a browser's spare one, or another local process) holds
        // back no other.
        let mut reading = tokio::task::JoinSet::new();
        loop {
            let (read, stream) = tokio::select! {
                accepted = self.listener.accept() => {
                    let (mut stream, _) = accepted?;
                    if reading.len() < MAX_PENDING {
                        reading.spawn(async move {
                            let read = tokio::time::timeout(READ_TIMEOUT, read_target(&mut stream)).await;
                            (read, stream)
                        });
                    }
                    continue;
                }
                Some(done) = reading.join_next(), if !reading.is_empty() => match done {
                    Ok(done) => done,
                    Err(_) => continue,
                },
            };
            let target = match read {
                Ok(Ok(Some(target))) => target,
                Ok(Ok(None)) => {
                    let page = Page::error(
                        405,
                        "Not here",
                        "This address only takes the browser's sign-in redirect.",
                    );
                    let _ = Browser(stream).answer(page).await;
                    continue;
                }
                Ok(Err(_)) | Err(_) => continue,
            };
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            if path != CLI_CALLBACK_PATH {
                let page = Page::error(
                    404,
                    "Not found",
                    "This is the keyward CLI waiting for its sign-in.",
                );
                let _ = Browser(stream).answer(page).await;
                continue;
            }
            let Some(outcome) = judge(query, state) else {
                ignored("a request to the callback without this login's state");
                let page = Page::error(
                    400,
                    "Not this sign-in",
                    "This link is not for the sign-in the keyward CLI is waiting for. Start again from the link the CLI printed.",
                );
                let _ = Browser(stream).answer(page).await;
                continue;
            };
            return Ok((outcome, Browser(stream)));
        }
    }
}

/// What a callback's query says, if it carries `state`; `None` if it is not this
/// login's (no state, or another).
fn judge(query: &str, state: &LoginState) -> Option<Outcome> {
    let callback: CliCallback = serde_urlencoded::from_str(query).unwrap_or_default();
    if !callback.state.as_deref().is_some_and(|s| state.matches(s)) {
        return None;
    }
    Some(match (callback.code, callback.error) {
        (_, Some(e)) if e == ACCESS_DENIED => Outcome::Denied,
        (_, Some(e)) => Outcome::Failed(format!("the console answered {e:?}")),
        (Some(code), None) => match CliLoginCode::parse(&code) {
            Ok(code) => Outcome::Approved(code),
            Err(e) => Outcome::Failed(format!("the console's code is not usable: {e}")),
        },
        (None, None) => Outcome::Failed("the console's answer held no code".to_owned()),
    })
}

/// A callback address pasted at the terminal (for a browser that cannot reach this
/// machine's loopback: another computer, an SSH session), or just its query: what it
/// says, if it is this login's. The state and the PKCE verifier protect it as they do
/// the redirect.
pub fn pasted(line: &str, state: &LoginState) -> Option<Outcome> {
    let line = line.trim();
    let query = line.split_once('?').map_or(line, |(_, q)| q);
    judge(query, state)
}

/// The request target of a `GET` (`/callback?…`), or `None` for another method.
async fn read_target(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(v)) if v.starts_with("HTTP/1.") => {
            Ok(Some(target.to_owned()))
        }
        (Some(_), Some(_), Some(v)) if v.starts_with("HTTP/1.") => Ok(None),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "not HTTP/1")),
    }
}

/// A small HTML page for the browser: a status, a heading and a sentence.
pub struct Page {
    status: u16,
    title: &'static str,
    text: String,
}

impl Page {
    pub fn signed_in() -> Self {
        Self {
            status: 200,
            title: "Keyward CLI is signed in",
            text: "Keyward CLI is signed in; you can close this tab.".to_owned(),
        }
    }

    pub fn cancelled() -> Self {
        Self {
            status: 200,
            title: "Sign-in cancelled",
            text: "The keyward CLI was not signed in; you can close this tab.".to_owned(),
        }
    }

    pub fn error(status: u16, title: &'static str, text: impl Into<String>) -> Self {
        Self {
            status,
            title,
            text: text.into(),
        }
    }

    fn html(&self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body><h1>{}</h1><p>{}</p></body></html>\n",
            escape(self.title),
            escape(self.title),
            escape(&self.text)
        )
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        }
    }
}

impl Browser {
    /// Answers the browser's request and closes the connection.
    pub async fn answer(mut self, page: Page) -> io::Result<()> {
        let body = page.html();
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
             Content-Security-Policy: default-src 'none'\r\nX-Content-Type-Options: nosniff\r\n\
             Connection: close\r\n\r\n",
            page.status,
            page.reason(),
            body.len()
        );
        self.0.write_all(head.as_bytes()).await?;
        self.0.write_all(body.as_bytes()).await?;
        self.0.shutdown().await
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether there is a desktop to open a browser on: macOS and Windows always; elsewhere
/// an X11 or Wayland display (`env` reads a variable).
fn has_desktop(os: &str, env: impl Fn(&str) -> Option<String>) -> bool {
    match os {
        "macos" | "windows" => true,
        _ => ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| env(v).is_some_and(|d| !d.is_empty())),
    }
}

/// Tries to open `url` in the person's browser; whether an opener was started. Not
/// being able to is no error: the link is printed anyway.
pub fn open_browser(url: &str) -> bool {
    if !has_desktop(std::env::consts::OS, |v| std::env::var(v).ok()) {
        return false;
    }
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        // `start` would need the `&`s of the query escaped for cmd.exe.
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    let spawned = command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}

/// The machine's name for the token: `HOSTNAME`, `/etc/hostname`, or what `hostname`
/// prints, made a display name of at most [`CLI_MACHINE_MAX_CHARS`] characters; else
/// [`UNKNOWN_MACHINE`].
pub fn machine_name() -> String {
    let from_command = || {
        std::process::Command::new("hostname")
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    std::env::var("HOSTNAME")
        .ok()
        .and_then(|h| clean_machine_name(&h))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .and_then(|h| clean_machine_name(&h))
        })
        .or_else(|| from_command().and_then(|h| clean_machine_name(&h)))
        .unwrap_or_else(|| UNKNOWN_MACHINE.to_owned())
}

/// The first line of `raw`, cut to [`CLI_MACHINE_MAX_CHARS`], if it is a display name.
fn clean_machine_name(raw: &str) -> Option<String> {
    let line = raw.trim().lines().next()?.trim();
    // The console takes a host name's characters only; others become dashes.
    let cut: String = line
        .chars()
        .take(CLI_MACHINE_MAX_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '-'
            }
        })
        .collect();
    Name::parse(&cut).ok().map(|n| n.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_connections_do_not_hold_back_the_callback() {
        let loopback = Loopback::bind().await.unwrap();
        let port = loopback.port().unwrap();
        let state = LoginState::generate();
        let code = CliLoginCode::generate();
        let good = format!(
            "GET /callback?code={}&state={} HTTP/1.1\r\nHost: x\r\n\r\n",
            code.expose_secret(),
            state.as_str()
        );
        let _idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(good.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer).await;
        });
        let started = std::time::Instant::now();
        let (outcome, browser) = loopback.callback(&state, |_| {}).await.unwrap();
        assert!(matches!(outcome, Outcome::Approved(_)));
        browser.answer(Page::signed_in()).await.unwrap();
        client.await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn machine_names_are_cleaned_and_cut() {
        assert_eq!(
            clean_machine_name("ana-laptop\n").as_deref(),
            Some("ana-laptop")
        );
        assert_eq!(clean_machine_name("  \n").as_deref(), None);
        assert_eq!(
            clean_machine_name("bad\u{202e}name").as_deref(),
            Some("bad-name")
        );
        assert_eq!(
            clean_machine_name("Ana's MacBook").as_deref(),
            Some("Ana-s MacBook")
        );
        let long = "x".repeat(200);
        assert_eq!(
            clean_machine_name(&long).map(|n| n.chars().count()),
            Some(CLI_MACHINE_MAX_CHARS)
        );
        assert!(!machine_name().is_empty());
    }

    #[test]
    fn a_browser_is_opened_only_where_there_is_a_desktop() {
        let none = |_: &str| None;
        assert!(has_desktop("macos", none));
        assert!(has_desktop("windows", none));
        assert!(!has_desktop("linux", none));
        assert!(!has_desktop("linux", |_| Some(String::new())));
        assert!(has_desktop("linux", |v| (v == "WAYLAND_DISPLAY")
            .then(|| "wayland-0".into())));
        assert!(has_desktop("freebsd", |v| (v == "DISPLAY").then(|| ":0".into())));
    }

    #[test]
    fn pages_escape_their_text() {
        let page = Page::error(400, "Not this sign-in", "<script>&");
        let html = page.html();
        assert!(html.contains("&lt;script&gt;&amp;"), "{html}");
        assert!(!html.contains("<script>"));
    }

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Only the callback with this login's state ends the wait; everything else gets an
    /// error page and the wait goes on.
    #[tokio::test]
    async fn only_the_callback_with_the_state_counts() {
        let loopback = Loopback::bind().await.unwrap();
        let port = loopback.port().unwrap();
        let state = LoginState::generate();
        let code = CliLoginCode::generate();
        let good = format!(
            "/callback?code={}&state={}",
            code.expose_secret(),
            state.as_str()
        );
        let other = LoginState::generate();
        let client = tokio::spawn(async move {
            let favicon = get(port, "/favicon.ico").await;
            assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
            let forged = get(port, &format!("/callback?code=x&state={}", other.as_str())).await;
            assert!(forged.starts_with("HTTP/1.1 400"), "{forged}");
            let missing = get(port, "/callback?code=x").await;
            assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
            get(port, &good).await
        });
        let mut ignored = 0;
        let (outcome, browser) = loopback.callback(&state, |_| ignored += 1).await.unwrap();
        let Outcome::Approved(got) = outcome else {
            panic!("not approved")
        };
        assert_eq!(got.hash(), code.hash());
        assert_eq!(ignored, 2);
        browser.answer(Page::signed_in()).await.unwrap();
        let answer = client.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("Keyward CLI is signed in; you can close this tab."));
        assert!(answer.contains("Referrer-Policy: no-referrer"));
    }

    #[test]
    fn a_pasted_address_counts_only_with_the_state() {
        let state = LoginState::generate();
        let code = CliLoginCode::generate();
        let query = format!("code={}&state={}", code.expose_secret(), state.as_str());
        for line in [
            format!("http://127.0.0.1:49152/callback?{query}\n"),
            format!("  {query} "),
        ] {
            let Some(Outcome::Approved(got)) = pasted(&line, &state) else {
                panic!("{line:?} was not taken")
            };
            assert_eq!(got.hash(), code.hash());
        }
        let other = LoginState::generate();
        assert!(pasted(&query, &other).is_none());
        assert!(pasted("", &state).is_none());
        assert!(pasted("yes", &state).is_none());
    }

    #[tokio::test]
    async fn a_cancellation_is_told_apart_from_a_broken_answer() {
        for (query, denied) in [
            ("error=access_denied", true),
            ("error=server_error", false),
            ("code=kw_cli_nope", false),
            ("", false),
        ] {
            let loopback = Loopback::bind().await.unwrap();
            let port = loopback.port().unwrap();
            let state = LoginState::generate();
            let target = format!("/callback?{query}&state={}", state.as_str());
            let client = tokio::spawn(async move { get(port, &target).await });
            let (outcome, browser) = loopback.callback(&state, |_| {}).await.unwrap();
            assert_eq!(matches!(outcome, Outcome::Denied), denied, "{query}");
            if !denied {
                assert!(matches!(outcome, Outcome::Failed(_)), "{query}");
            }
            browser.answer(Page::cancelled()).await.unwrap();
            client.await.unwrap();
        }
    }
}
