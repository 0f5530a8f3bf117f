//! `keyward auth login|logout|whoami|status` and `keyward login`: who you are on which
//! server (the server's `GET /v1/me`), and the stored login. `auth accept-invite` is in
//! `invitations.rs`; `cli/mod.rs` puts both in the `keyward auth` group.
//!
//! `auth login --web` signs in through the console, like `gh auth login --web`: the CLI
//! listens on 127.0.0.1 (`loopback.rs`), prints (and on a desktop opens) the console's
//! approve page with a PKCE challenge and a state, and waits for the browser's redirect
//! with a one-time code, which it exchanges with its verifier for a new personal access
//! token (`POST /v1/auth/cli/token`). The browser never holds the token.

use super::context::{deprecation_message, ConnArgs, Context};
use super::credentials::{self, StoredLogin};
use super::failure::{CmdResult, Failure, EXIT_AUTH, EXIT_ERROR};
use super::loopback::{self, Loopback, Outcome, Page};
use super::output::{self, Color, Style};
use super::prompt;
use super::resolved::{Resolved, Source};
use super::text::kind_label;
use chrono::{Duration, Utc};
use clap::Args;
use keyward_client::api::CliLoginQuery;
use keyward_client::pkce::{CodeVerifier, LoginState};
use keyward_client::{ApiKey, Client, KeyKind, Me};
use serde_json::json;
use std::path::PathBuf;

/// Keys closer than this to their expiry get a warning.
const EXPIRY_WARNING_DAYS: i64 = 7;

/// How long `auth login --web` waits for the browser: as long as the code it brings back
/// would work after a prompt approval.
const WEB_LOGIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// `keyward login`: `auth login` with the connection flags of its own.
#[derive(Args)]
pub struct LoginTop {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub login: LoginArgs,
}

/// Check an API key against the server and store it for later commands.
#[derive(Args)]
#[command(
    long_about = "Check an API key against the server and store it for later commands.\n\n\
        Give the key with --token, paste it at the prompt (input is hidden), or pipe it \
        on stdin. The key is checked with GET /v1/me first; only a working key is stored, \
        with the server URL, in credentials.json in your config directory \
        ($KEYWARD_CONFIG_DIR, else e.g. ~/.config/keyward), mode 0600.\n\n\
        With --web there is no key to paste: the command prints a link to the server's \
        console (and opens it when there is a desktop), where you sign in and approve a new \
        personal access token named after this machine; the browser hands the CLI a \
        one-time code on 127.0.0.1, which only this command can exchange for the token.",
    after_help = "Examples:\n  \
        keyward auth login                                   # asks for the key\n  \
        keyward auth login --web --server https://keys.example.com\n  \
        keyward auth login --web --no-browser                # on a machine without a desktop\n  \
        keyward auth login --token kw_pat_… --server https://keys.example.com\n  \
        echo \"$KEY\" | keyward auth login"
)]
pub struct LoginArgs {
    /// Sign in through the web console instead of giving a key
    #[arg(long)]
    pub web: bool,
    /// With --web: only print the link, do not try to open a browser
    #[arg(long, requires = "web")]
    pub no_browser: bool,
}

/// Forget the stored login (the key itself keeps working until revoked).
#[derive(Args)]
#[command(after_help = "Example:\n  keyward auth logout")]
pub struct LogoutArgs {}

/// Print who the current key belongs to.
#[derive(Args)]
#[command(
    long_about = "Print who the current key belongs to: \
        `Authenticated as: team@company.com (org: my-org)` for a personal token, the \
        account's name and kind for other keys.",
    after_help = "Examples:\n  \
        keyward auth whoami\n  \
        KEYWARD_API_KEY=kw_sa_… keyward auth whoami --json"
)]
pub struct WhoamiArgs {}

/// Show the server, the key in use, where it came from, and what it may do.
#[derive(Args)]
#[command(
    long_about = "Show the server, who you are, the key's prefix, kind, scope, permissions \
        and expiry, and where the key came from (--token, KEYWARD_API_KEY, .env or the \
        stored login). Warns when the key expires within 7 days, has expired, or is a \
        deprecated legacy token.",
    after_help = "Examples:\n  \
        keyward auth status\n  \
        keyward auth status --json | jq .source"
)]
pub struct StatusArgs {}

#[derive(Args)]
pub struct AcceptInviteArgs {
    /// The invitation's code (kw_inv_…), or - to read it from stdin (a hidden prompt on a
    /// terminal), which keeps it out of your shell history
    #[arg(value_name = "CODE")]
    code: String,
    /// Also store the new token as your login for this server, as `keyward auth login` does
    #[arg(long)]
    login: bool,
}

/// The `whoami` line.
pub fn whoami_line(me: &Me) -> String {
    match (me.key.kind, &me.email) {
        (KeyKind::Personal, Some(email)) => {
            format!("Authenticated as: {email} (org: {})", me.org.name)
        }
        (kind, _) => format!(
            "Authenticated as: {} ({}, org: {})",
            me.name,
            kind_label(kind),
            me.org.name
        ),
    }
}

/// Warnings about a key that works: close to expiry, deprecated, wrong org.
fn key_warnings(me: &Me, resolved: &Resolved, client: &Client) -> Vec<String> {
    let now = Utc::now();
    let mut warnings = Vec::new();
    if let Some(at) = me.key.expires_at {
        if at <= now {
            warnings.push(format!(
                "this key expired {}; create a new key and run `keyward auth login`",
                output::both(at, now)
            ));
        } else if at - now < Duration::days(EXPIRY_WARNING_DAYS) {
            warnings.push(format!(
                "this key expires {}: rotate it with `keyward keys rotate {}`, then log in with the new key",
                output::both(at, now),
                me.key.id
            ));
        }
    }
    if let Some(d) = client.deprecation() {
        warnings.push(deprecation_message(&d));
    } else if me.key.kind == KeyKind::LegacyWorkspace {
        warnings.push(
            "this is a deprecated legacy workspace token: it still works, but create a personal access token or a service-account key and log in with it".to_owned(),
        );
    }
    if let Some((org, source)) = &resolved.org {
        if org != &me.org.name && org != &me.org.id {
            warnings.push(format!(
                "{} names the organization {org:?}, but this key belongs to {} ({})",
                source.describe(),
                me.org.name,
                me.org.id
            ));
        }
    }
    let url = client.base_url();
    if url.scheme() == "http" && !keyward_client::is_loopback(url) {
        warnings.push(format!(
            "{url} is plain http: the key crosses the network unencrypted; use https"
        ));
    }
    warnings
}

pub async fn login(ctx: &Context, args: LoginArgs) -> CmdResult {
    if args.web {
        return login_web(ctx, &args).await;
    }
    let (key, source) = match ctx.conn.token.as_deref() {
        Some(t) if t.trim().is_empty() => return Err(Failure::usage("--token is empty")),
        Some(t) => (ApiKey::new(t), Source::Flag { flag: "--token" }),
        None => (read_key()?, Source::Input),
    };
    if let Err(e) = keyward_client::offline_check(key.expose_secret()) {
        return Err(Failure::new(
            EXIT_AUTH,
            "malformed_token",
            format!("this is not a Keyward API key: {e}"),
        )
        .with_hint("keys start with kw_pat_, kw_sa_, kw_live_, …; copy the whole key"));
    }
    let (server, server_source) = ctx.server();
    let resolved = Resolved {
        key,
        source,
        server,
        server_source,
        org: ctx.org(),
    };
    let saved = save_login(ctx, &resolved).await?;
    let Saved {
        me, path, server, ..
    } = &saved;
    if ctx.json() {
        saved.print_json();
    } else {
        let style = Style::stdout();
        println!(
            "{} Logged in to {server} as {} (org: {}).",
            style.paint(Color::Green, "✓"),
            me.email.as_deref().unwrap_or(&me.name),
            me.org.name
        );
        println!("Key saved to {} (readable only by you).", path.display());
        if me.key.kind == KeyKind::Worker {
            println!("This is a worker key: start the worker with `keyward worker` (see `keyward worker --help`).");
        }
    }
    saved.finish(ctx);
    Ok(())
}

/// A working key stored as the login for its server.
struct Saved {
    me: Me,
    path: PathBuf,
    server: String,
    warnings: Vec<String>,
}

impl Saved {
    fn print_json(&self) {
        output::print_json(&json!({
            "server": self.server,
            "path": self.path,
            "me": self.me,
            "warnings": self.warnings,
        }));
    }

    /// The warnings about the key, and about a key that overrides the login.
    fn finish(&self, ctx: &Context) {
        for w in &self.warnings {
            output::warn(w);
        }
        ctx.warn_if_login_overridden();
    }
}

/// Checks `resolved`'s key with `GET /v1/me` and stores it, with its server, as the
/// login (`auth login`, with or without `--web`).
async fn save_login(ctx: &Context, resolved: &Resolved) -> Result<Saved, Failure> {
    let client = ctx.client_for(resolved)?;
    let me = client
        .me()
        .await
        .map_err(|e| Failure::client(&e, resolved))?;
    let path = credentials::path()?;
    let server = client.base_url().as_str().trim_end_matches('/').to_owned();
    let login = StoredLogin::new(
        server.clone(),
        &resolved.key,
        me.email.clone().unwrap_or_else(|| me.name.clone()),
        me.org.name.clone(),
    );
    credentials::save(&path, &login)?;
    let warnings = key_warnings(&me, resolved, &client);
    ctx.deprecation_reported();
    Ok(Saved {
        me,
        path,
        server,
        warnings,
    })
}

/// `auth login --web`: the console approves, the loopback receives the code, the code
/// and the verifier make the token, the token is stored as `auth login` stores a key.
async fn login_web(ctx: &Context, args: &LoginArgs) -> CmdResult {
    if ctx.conn.token.is_some() {
        return Err(Failure::usage(
            "--web signs in through the browser and makes a new token; it takes no --token",
        ));
    }
    let (server, server_source) = ctx.server();
    // For the messages of the calls that send no key.
    let mut resolved = Resolved {
        key: ApiKey::new(String::new()),
        source: Source::WebLogin,
        server: server.clone(),
        server_source,
        org: ctx.org(),
    };
    let client = Client::without_key(&server).map_err(|e| Failure::client(&e, &resolved))?;
    let listen_failed = |e: std::io::Error| {
        Failure::error(format!(
            "cannot listen on 127.0.0.1 for the browser's answer: {e}"
        ))
    };
    let loopback = Loopback::bind().await.map_err(listen_failed)?;
    let (state, verifier) = (LoginState::generate(), CodeVerifier::generate());
    let url = client.cli_login_url(&CliLoginQuery {
        port: loopback.port().map_err(listen_failed)?,
        state: state.as_str().to_owned(),
        challenge: verifier.challenge().as_str().to_owned(),
        machine: loopback::machine_name(),
    });
    // On stderr: stdout is for the result (and stays JSON with --json).
    eprintln!("Open this link to sign in: {url}");
    if !args.no_browser && loopback::open_browser(url.as_str()) {
        eprintln!("(Opening it in your browser.)");
    }
    eprintln!("Waiting for you to approve in the browser (up to 5 minutes; Ctrl-C to stop)…");
    eprintln!(
        "If your browser is on another computer, it ends on a page it cannot open: paste that page's address here."
    );
    let waited = tokio::time::timeout(WEB_LOGIN_WAIT, wait_for_answer(&loopback, &state))
        .await
        .map_err(|_| {
            Failure::new(
                EXIT_ERROR,
                "timeout",
                "no answer from the browser within 5 minutes",
            )
            .with_hint("run `keyward auth login --web` again, and approve in the console")
        })?;
    let (outcome, mut browser) = waited.map_err(listen_failed)?;
    let failed = |why: &str| {
        Page::error(
            400,
            "Sign-in failed",
            format!("The keyward CLI was not signed in: {why}"),
        )
    };
    let code = match outcome {
        Outcome::Approved(code) => code,
        Outcome::Denied => {
            tell(&mut browser, Page::cancelled()).await;
            return Err(Failure::new(
                EXIT_AUTH,
                "access_denied",
                "authorization was cancelled in the browser",
            ));
        }
        Outcome::Failed(why) => {
            tell(&mut browser, failed(&why)).await;
            return Err(Failure::error(format!("the sign-in failed: {why}")));
        }
    };
    let created = match client.exchange_cli_code(&code, &verifier).await {
        Ok(created) => created,
        Err(e) => {
            let failure = Failure::client(&e, &resolved);
            tell(&mut browser, failed(&failure.message)).await;
            return Err(failure);
        }
    };
    resolved.key = created.key;
    let saved = match save_login(ctx, &resolved).await {
        Ok(saved) => saved,
        Err(failure) => {
            tell(&mut browser, failed(&failure.message)).await;
            return Err(failure);
        }
    };
    tell(&mut browser, Page::signed_in()).await;
    if ctx.json() {
        saved.print_json();
    } else {
        let style = Style::stdout();
        println!(
            "{} Signed in as {} in {}; token {} saved",
            style.paint(Color::Green, "✓"),
            saved.me.email.as_deref().unwrap_or(&saved.me.name),
            saved.me.org.name,
            saved.me.key.prefix
        );
        println!(
            "The token \"{}\" is in your token list; it is stored in {} (readable only by you).",
            saved.me.key.name,
            saved.path.display()
        );
    }
    saved.finish(ctx);
    Ok(())
}

/// The console's answer: the browser's redirect to the loopback, or its address pasted
/// on stdin (then there is no browser request to answer). Lines that are not this
/// login's callback are ignored, with a note; the end of stdin leaves the browser.
async fn wait_for_answer(
    loopback: &Loopback,
    state: &LoginState,
) -> std::io::Result<(Outcome, Option<loopback::Browser>)> {
    let (lines, mut pasted) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let from_browser = loopback.callback(state, |what| output::note(&format!("ignored {what}")));
    tokio::pin!(from_browser);
    let mut stdin_open = true;
    loop {
        tokio::select! {
            answered = &mut from_browser => return answered.map(|(o, b)| (o, Some(b))),
            line = pasted.recv(), if stdin_open => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match loopback::pasted(&line, state) {
                    Some(outcome) => return Ok((outcome, None)),
                    None => output::note(
                        "that is not the address of this sign-in's callback (it must hold this login's state)",
                    ),
                },
                None => stdin_open = false,
            },
        }
    }
}

/// Answers the browser's request, if the answer came from one.
async fn tell(browser: &mut Option<loopback::Browser>, page: Page) {
    if let Some(browser) = browser.take() {
        let _ = browser.answer(page).await;
    }
}

/// The key from a hidden prompt, or from stdin when it is not a terminal.
fn read_key() -> Result<ApiKey, Failure> {
    prompt::read_key(
        "Paste your Keyward API key (input is hidden): ",
        "no API key given: pass --token <key>, paste it at the prompt, or pipe it on stdin",
    )
}

pub fn logout(ctx: &Context, _args: LogoutArgs) -> CmdResult {
    let path = credentials::path()?;
    let prefix = ctx.stored().and_then(|s| s.key().visible_prefix());
    let removed = credentials::remove(&path)?;
    let still = ctx.resolve().ok().map(|r| r.source.describe());
    if ctx.json() {
        output::print_json(&json!({ "logged_out": removed, "path": path, "key_prefix": prefix }));
    } else if removed {
        println!("Logged out: forgot the key stored in {}.", path.display());
        if let Some(prefix) = prefix {
            output::note(&format!(
                "The key itself still works until it expires or is revoked (`keyward keys revoke {prefix}`)."
            ));
        }
    } else {
        println!("Not logged in: there was no stored key to forget.");
    }
    if let Some(still) = still {
        output::warn(&format!("commands will still use the key from {still}"));
    }
    Ok(())
}

pub async fn whoami(ctx: &Context, _args: WhoamiArgs) -> CmdResult {
    let (resolved, client) = ctx.connect()?;
    let me = client
        .me()
        .await
        .map_err(|e| Failure::client(&e, &resolved))?;
    if ctx.json() {
        output::print_json(&json!({
            "name": me.name, "email": me.email, "kind": me.key.kind, "owner": me.owner,
            "org": me.org, "key_id": me.key.id, "source": resolved.source,
        }));
    } else {
        println!("{}", whoami_line(&me));
    }
    Ok(())
}

pub async fn status(ctx: &Context, _args: StatusArgs) -> CmdResult {
    let (resolved, client) = ctx.connect()?;
    let server = client.base_url().as_str().trim_end_matches('/').to_owned();
    let me = client
        .me()
        .await
        .map_err(|e| Failure::client(&e, &resolved))?;
    let warnings = key_warnings(&me, &resolved, &client);
    ctx.deprecation_reported();
    let mut file_warning = None;
    if let (Source::StoredLogin { path }, true) = (&resolved.source, cfg!(unix)) {
        if let Some(mode) = credentials::loose_mode(path) {
            file_warning = Some(format!(
                "{} has mode {mode:o}: other users may read your key; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    let warnings: Vec<String> = warnings.into_iter().chain(file_warning).collect();
    let now = Utc::now();
    if ctx.json() {
        output::print_json(&json!({
            "server": server,
            "server_source": resolved.server_source,
            "source": resolved.source,
            "identity": { "name": me.name, "email": me.email, "owner": me.owner },
            "org": me.org,
            "key": me.key,
            "warnings": warnings,
        }));
    } else {
        let style = Style::stdout();
        let who = match &me.email {
            Some(email) => email.clone(),
            None => me.name.clone(),
        };
        let expires = match me.key.expires_at {
            None => "never".to_owned(),
            Some(at) => output::both(at, now),
        };
        let scope = serde_json::to_value(&me.key.scope)
            .ok()
            .and_then(|v| {
                let level = v.get("type")?.as_str()?.to_owned();
                let rest: Vec<String> = v
                    .as_object()?
                    .iter()
                    .filter(|(k, _)| *k != "type")
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                Some(if rest.is_empty() {
                    level
                } else {
                    format!("{level} ({})", rest.join(", "))
                })
            })
            .unwrap_or_default();
        println!(
            "{} {}",
            style.paint(Color::Green, "✓"),
            style.paint(
                Color::Bold,
                &format!("Logged in to {server} as {who} (org: {})", me.org.name)
            )
        );
        print!(
            "{}",
            output::fields(
                style,
                &[
                    (
                        "Server",
                        format!("{server} (from {})", resolved.server_source.short())
                    ),
                    ("Identity", format!("{who} ({})", kind_label(me.key.kind))),
                    ("Organization", format!("{} ({})", me.org.name, me.org.id)),
                    (
                        "Key",
                        format!("{} \"{}\" ({})", me.key.prefix, me.key.name, me.key.id)
                    ),
                    ("Kind", me.key.kind.as_str().to_owned()),
                    ("Scope", scope),
                    (
                        "Permissions",
                        format!(
                            "{} ({})",
                            output::permissions(&me.key.permissions),
                            me.key.permissions.join(", ")
                        )
                    ),
                    ("Expires", expires),
                    ("Source", resolved.source.describe()),
                ]
            )
        );
    }
    for w in &warnings {
        output::warn(w);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::dotenv;
    use super::*;
    use keyward_client::{KeyStatus, MeKey, OrgRef, Owner, Scope};

    fn me(kind: KeyKind, email: Option<&str>, name: &str) -> Me {
        Me {
            name: name.into(),
            email: email.map(Into::into),
            owner: None,
            org: OrgRef {
                id: "org_1".into(),
                name: "my-org".into(),
            },
            key: MeKey {
                id: "key_1".into(),
                name: "k".into(),
                prefix: "kw_pat_abcd".into(),
                kind,
                scope: Scope::Organization,
                permissions: vec!["*:*".into()],
                created_at: Utc::now(),
                expires_at: None,
                status: KeyStatus::Active,
            },
        }
    }

    #[test]
    fn whoami_names_people_by_email_and_others_by_name_and_kind() {
        assert_eq!(
            whoami_line(&me(
                KeyKind::Personal,
                Some("team@company.com"),
                "team@company.com"
            )),
            "Authenticated as: team@company.com (org: my-org)"
        );
        assert_eq!(
            whoami_line(&me(KeyKind::ServiceAccount, None, "production-bot")),
            "Authenticated as: production-bot (service account, org: my-org)"
        );
    }

    #[test]
    fn legacy_tokens_and_close_expiry_are_warned_about() {
        let resolved = Resolved {
            key: ApiKey::new("kw_ws_x"),
            source: Source::Default,
            server: "http://127.0.0.1:1".into(),
            server_source: Source::Default,
            org: Some(("other-org".into(), Source::Env { var: dotenv::ORG })),
        };
        let client = Client::new(&resolved.server, resolved.key.clone()).unwrap();
        let mut m = me(KeyKind::LegacyWorkspace, None, "ws");
        m.owner = Some(Owner::External { id: "x".into() });
        m.key.expires_at = Some(Utc::now() + Duration::days(2));
        let w = key_warnings(&m, &resolved, &client).join("\n");
        assert!(w.contains("deprecated legacy workspace token"), "{w}");
        assert!(w.contains("expires in 2 days"), "{w}");
        assert!(w.contains("KEYWARD_ORG"), "{w}");
        m.key.expires_at = Some(Utc::now() + Duration::days(8));
        m.key.kind = KeyKind::Personal;
        let w = key_warnings(&m, &resolved, &client).join("\n");
        assert!(!w.contains("expires") && !w.contains("legacy"), "{w}");
    }
}
