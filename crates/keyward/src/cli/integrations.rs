//! The integrations vault: `keyward integrations list`, `keyward connect PROVIDER`
//! and `keyward connections list|show|token|refresh|disconnect|delete` (the server's
//! `http/integrations.rs`).
//!
//! `connect` starts the authorization on Keyward's hosted callback (no redirect_uri),
//! prints the provider's URL (and opens it on a desktop), then asks the server every
//! second how the connection stands until the person has authorized, refused, or the
//! wait ran out. Only `connections token` prints a provider token: that is its purpose.

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::loopback;
use super::output::{self, Cell, Color};
use super::parse;
use super::prompt;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use keyward_client::{
    AuthorizeRequest, ConnectionQuery, ConnectionStatus, ConnectionView, Error, ErrorCode,
    Integration,
};
use serde_json::json;
use std::time::Duration;

/// Upper bound on pages read by one `connections list --all` (100 connections each).
const MAX_PAGES: usize = 1000;
/// How often `connect` asks the server whether the person has authorized.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The connection id `connect` uses without `--id` when the key is not a person's.
pub const DEFAULT_CONNECTION_ID: &str = "default";
/// How long the server keeps an authorization's state (`AuthorizeResponse.state`: "single
/// use, for ten minutes"): its `expires_at` less this is when the server issued it.
const STATE_LIFETIME_MINUTES: i64 = 10;

// ------------------------------------------------------------------------- arguments

#[derive(Args)]
pub struct IntegrationsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: IntegrationsCommand,
}

#[derive(Subcommand)]
pub enum IntegrationsCommand {
    /// List the integrations the server is configured for, with their scopes.
    #[command(
        after_help = "Examples:\n  keyward integrations list\n  keyward integrations list --json"
    )]
    List,
}

/// Connect an account at an OAuth provider: prints the link to authorize (and opens it
/// in your browser), then waits until the connection is made.
///
/// Keyward's hosted callback (GET /v1/oauth/callback on the server) receives the
/// provider's answer and keeps the tokens, encrypted; this command only watches the
/// connection. Without --id the connection is named after you: your email for a
/// personal access token, `default` for other keys. Connecting again with the same id
/// replaces its tokens once the new authorization completes.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    keyward connect gmail\n  \
    keyward connect gmail --id alice@company.com --scopes gmail.readonly,gmail.send\n  \
    keyward connect notion --id team-wiki --workspace production --no-browser\n  \
    keyward integrations list        # the providers and their scopes\n\n\
    Exit codes: 0 connected, 1 refused at the provider, timed out or another error, \
    2 usage, 3 not authenticated or forbidden.")]
pub struct ConnectArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The integration (see `keyward integrations list`)
    provider: String,
    /// Your id for the connection: 1 to 128 letters, digits and - _ . @ :
    /// [default: your email, or `default`]
    #[arg(long, value_name = "CONNECTION_ID")]
    id: Option<String>,
    /// Scopes to ask for, short names or the provider's (comma separated)
    /// [default: the integration's default scopes]
    #[arg(long, value_delimiter = ',', value_name = "SCOPES")]
    scopes: Vec<String>,
    /// The workspace the connection belongs to [default: the whole organization]
    #[arg(long, value_name = "WORKSPACE")]
    workspace: Option<String>,
    /// Only print the link, do not try to open a browser
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the authorization, 10s to 10m
    #[arg(long, default_value = "5m", value_parser = parse::parse_wait, value_name = "DURATION")]
    timeout: Duration,
}

#[derive(Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: ConnectionsCommand,
}

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// List connections: id, provider, status, whether authenticated, scopes, expiry.
    #[command(
        after_help = "Examples:\n  keyward connections list\n  keyward connections list --provider gmail --status needs_reauth\n  keyward connections list --all --json"
    )]
    List(ListArgs),
    /// Show one connection: status, scopes, expiry, last refresh, last error, next step.
    #[command(after_help = "Example:\n  keyward connections show u1")]
    Show(ConnectionRef),
    /// Print the connection's current access token (refreshed first when it is about
    /// to expire), and nothing else: for `$(keyward connections token u1)`.
    ///
    /// With --json: the token, its type, expiry, scopes and the connection.
    #[command(
        after_help = "Examples:\n  curl -H \"Authorization: Bearer $(keyward connections token u1)\" https://gmail.googleapis.com/gmail/v1/users/me/profile\n  keyward connections token u1 --json"
    )]
    Token(ConnectionRef),
    /// Refresh the connection's access token now, whatever its expiry.
    #[command(after_help = "Example:\n  keyward connections refresh u1")]
    Refresh(ConnectionRef),
    /// Disconnect: revoke the tokens at the provider, then erase them here. The
    /// connection stays, `revoked`, until deleted or connected again.
    #[command(after_help = "Example:\n  keyward connections disconnect u1 --yes")]
    Disconnect(ConfirmedRef),
    /// Delete a connection: disconnect it, then remove the record too.
    #[command(after_help = "Example:\n  keyward connections delete u1 --yes")]
    Delete(ConfirmedRef),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this integration's connections
    #[arg(long)]
    provider: Option<String>,
    /// Only connections with this status
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only connections of this workspace (its id)
    #[arg(long)]
    workspace: Option<String>,
    /// How many connections to show (pages as needed)
    #[arg(long, short = 'L', default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Every connection, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
}

#[derive(Args)]
pub struct ConnectionRef {
    /// The connection's id (the one given to `keyward connect --id`)
    #[arg(value_name = "CONNECTION_ID")]
    id: String,
}

#[derive(Args)]
pub struct ConfirmedRef {
    #[command(flatten)]
    connection: ConnectionRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

/// `--status`, as the API writes it (dashes work too).
#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Active,
    #[value(name = "refresh_failing", alias = "refresh-failing")]
    RefreshFailing,
    #[value(name = "needs_reauth", alias = "needs-reauth")]
    NeedsReauth,
    Revoked,
}

impl From<StatusArg> for ConnectionStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Pending => ConnectionStatus::Pending,
            StatusArg::Active => ConnectionStatus::Active,
            StatusArg::RefreshFailing => ConnectionStatus::RefreshFailing,
            StatusArg::NeedsReauth => ConnectionStatus::NeedsReauth,
            StatusArg::Revoked => ConnectionStatus::Revoked,
        }
    }
}

// ------------------------------------------------------------------------- words

fn status_word(s: ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Pending => "pending",
        ConnectionStatus::Active => "active",
        ConnectionStatus::RefreshFailing => "refresh_failing",
        ConnectionStatus::NeedsReauth => "needs_reauth",
        ConnectionStatus::Revoked => "revoked",
    }
}

fn status_color(s: ConnectionStatus) -> Color {
    match s {
        ConnectionStatus::Active => Color::Green,
        ConnectionStatus::Pending | ConnectionStatus::RefreshFailing => Color::Yellow,
        ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked => Color::Red,
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn scopes_text(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "none".to_owned()
    } else {
        scopes.join(" ")
    }
}

fn when(at: Option<DateTime<Utc>>, none: &str, now: DateTime<Utc>) -> String {
    at.map(|t| output::both(t, now))
        .unwrap_or_else(|| none.to_owned())
}

/// What to do about a connection that does not work, in one line.
fn next_step(c: &ConnectionView) -> Option<String> {
    let connect = format!("run `keyward connect {} --id {}`", c.provider, c.id);
    match c.status {
        ConnectionStatus::Active => None,
        ConnectionStatus::Pending => Some(format!(
            "the authorization was not completed: finish it in the browser, or {connect}"
        )),
        ConnectionStatus::NeedsReauth => Some(format!(
            "the provider no longer accepts its refresh token: {connect}"
        )),
        ConnectionStatus::RefreshFailing => Some(format!(
            "Keyward keeps retrying the refresh; `keyward connections refresh {}` tries now",
            c.id
        )),
        ConnectionStatus::Revoked => Some(format!(
            "disconnected: {connect} to connect it again, or `keyward connections delete {}`",
            c.id
        )),
    }
}

// ------------------------------------------------------------------------- rendering

fn integration_rows(all: &[Integration]) -> Vec<Vec<Cell>> {
    all.iter()
        .map(|i| {
            let scopes = i
                .scopes
                .iter()
                .map(|s| {
                    if s.name == s.scope {
                        s.name.clone()
                    } else {
                        format!("{} → {}", s.name, s.scope)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                Cell::colored(&i.name, Color::Cyan),
                Cell::new(&i.display_name),
                Cell::new(yes_no(i.pkce)),
                Cell::new(if i.default_scopes.is_empty() {
                    "-".to_owned()
                } else {
                    i.default_scopes.join(" ")
                }),
                Cell::new(if scopes.is_empty() {
                    "-".into()
                } else {
                    scopes
                }),
            ]
        })
        .collect()
}

fn connection_rows(all: &[ConnectionView]) -> Vec<Vec<Cell>> {
    let now = Utc::now();
    all.iter()
        .map(|c| {
            vec![
                Cell::new(&c.id),
                Cell::colored(&c.provider, Color::Cyan),
                Cell::colored(status_word(c.status), status_color(c.status)),
                Cell::new(yes_no(c.authenticated)),
                Cell::new(scopes_text(&c.scopes)),
                Cell::new(
                    c.expires_at
                        .map(|t| output::relative(t, now))
                        .unwrap_or_else(|| "-".to_owned()),
                ),
                Cell::new(c.workspace.as_deref().unwrap_or("-")),
                Cell::new(output::relative(c.updated_at, now)),
            ]
        })
        .collect()
}

fn show_connection(c: &ConnectionView) {
    let now = Utc::now();
    let mut rows = vec![
        ("ID", c.id.clone()),
        ("Provider", c.provider.clone()),
        (
            "Workspace",
            c.workspace
                .clone()
                .unwrap_or_else(|| "none (the organization)".to_owned()),
        ),
        ("Status", status_word(c.status).to_owned()),
        ("Authenticated", yes_no(c.authenticated).to_owned()),
        ("Scopes", scopes_text(&c.scopes)),
        ("Refresh token", yes_no(c.has_refresh_token).to_owned()),
        (
            "Expires",
            when(c.expires_at, "no expiry given by the provider", now),
        ),
        ("Last refreshed", when(c.last_refreshed_at, "never", now)),
        ("Created", output::both(c.created_at, now)),
        ("Updated", output::both(c.updated_at, now)),
        (
            "Last error",
            c.last_error
                .as_ref()
                .map(|e| {
                    format!(
                        "{} ({}), {}",
                        e.message,
                        e.code,
                        output::relative(e.at, now)
                    )
                })
                .unwrap_or_else(|| "none".to_owned()),
        ),
    ];
    if let Some(step) = next_step(c) {
        rows.push(("Next step", step));
    }
    output::print_fields(&rows);
}

// ------------------------------------------------------------------------- commands

pub async fn integrations(ctx: &Context, command: IntegrationsCommand) -> CmdResult {
    let s = Session::open(ctx)?;
    match command {
        IntegrationsCommand::List => {
            let all = s.client.integrations().await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": all }));
            } else {
                output::print_table(
                    &["NAME", "DISPLAY NAME", "PKCE", "DEFAULT", "SCOPES"],
                    integration_rows(&all),
                    "No integrations are configured on this server (keyward.yaml, `integrations:`).",
                );
            }
        }
    }
    Ok(())
}

/// Letters, digits and `- _ . @ :`, 1 to 128: what the server takes as a connection id.
fn usable_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c))
}

/// The caller's email when it makes a connection id, else [`DEFAULT_CONNECTION_ID`].
async fn default_id(s: &Session<'_>) -> Result<String, Failure> {
    let me = s.client.me().await.map_err(|e| s.fail(e))?;
    Ok(me
        .email
        .filter(|e| usable_id(e))
        .unwrap_or_else(|| DEFAULT_CONNECTION_ID.to_owned()))
}

pub async fn connect(ctx: &Context, args: ConnectArgs) -> CmdResult {
    if let Some(id) = &args.id {
        if !usable_id(id) {
            return Err(Failure::usage(format!(
                "--id {id:?}: use 1 to 128 letters, digits and - _ . @ :"
            )));
        }
    }
    let s = Session::open(ctx)?;
    let id = match args.id {
        Some(id) => id,
        None => default_id(&s).await?,
    };
    let started = s
        .client
        .authorize(
            &args.provider,
            &AuthorizeRequest {
                connection_id: id.clone(),
                redirect_uri: None,
                scopes: args.scopes,
                workspace: args.workspace,
            },
        )
        .await
        .map_err(|e| s.fail(e))?;
    // The server's clock, not this machine's: what it writes is compared with it.
    let since = started.expires_at - chrono::Duration::minutes(STATE_LIFETIME_MINUTES);
    // stdout: the link (text) or the result alone (--json); the rest on stderr.
    if s.json() {
        eprintln!(
            "Open this link to connect {} as {id}: {}",
            args.provider, started.url
        );
    } else {
        eprintln!("Open this link to connect {} as {id}:", args.provider);
        println!("{}", started.url);
    }
    // Only a web address is handed to the desktop's opener (never a file: or another
    // scheme's handler, whatever a server answers).
    let web = started.url.starts_with("https://") || started.url.starts_with("http://");
    if !args.no_browser && web && loopback::open_browser(&started.url) {
        eprintln!("(Opening it in your browser.)");
    }
    eprintln!(
        "Waiting for the authorization (up to {}; Ctrl-C to stop)…",
        wait_text(args.timeout)
    );
    let c = wait_for(&s, &id, since, args.timeout).await?;
    if s.json() {
        output::print_json(&c);
    } else {
        println!("Connected {} as {}", c.provider, c.id);
        let now = Utc::now();
        output::print_fields(&[
            ("Scopes", scopes_text(&c.scopes)),
            (
                "Expires",
                when(c.expires_at, "no expiry given by the provider", now),
            ),
        ]);
        eprintln!(
            "Use it with `keyward connections token {}` (or GET /v1/connections/{}/tokens).",
            c.id, c.id
        );
    }
    Ok(())
}

/// `5m`, `90s`.
fn wait_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Asks the server every second until the connection was authorized after `since`
/// (`connected_at` since: only a code exchange sets it, not a refresh), its
/// authorization failed after it (`last_error` of the authorization since), or
/// `timeout` passed.
async fn wait_for(
    s: &Session<'_>,
    id: &str,
    since: DateTime<Utc>,
    timeout: Duration,
) -> Result<ConnectionView, Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        match s.client.connection(id).await {
            Ok(c) => {
                // A refresh failing meanwhile (of a connection connected again) is not
                // this authorization's failure.
                let failed = c
                    .last_error
                    .as_ref()
                    .filter(|e| e.at > since && e.during == "authorization");
                if let Some(e) = failed {
                    return Err(Failure::new(
                        EXIT_ERROR,
                        "authorization_denied",
                        format!(
                            "{} did not connect {}: {} ({})",
                            c.provider, c.id, e.message, e.code
                        ),
                    )
                    .with_hint(format!(
                        "nothing was stored; run `keyward connect {} --id {}` to try again",
                        c.provider, c.id
                    )));
                }
                if c.status == ConnectionStatus::Active
                    && c.connected_at.is_some_and(|t| t >= since)
                {
                    return Ok(c);
                }
            }
            // The server restarting or the network blinking: keep asking until the end.
            Err(Error::Connect { .. }) => {}
            Err(e) => return Err(s.fail(e)),
        }
        if tokio::time::Instant::now() + POLL_EVERY > deadline {
            return Err(Failure::new(
                EXIT_ERROR,
                "timed_out",
                format!(
                    "the authorization was not completed within {}",
                    wait_text(timeout)
                ),
            )
            .with_hint(
                "run `keyward connect` again (with --timeout up to 10m); the link works only once",
            ));
        }
    }
}

/// A failure for `id`, with the exact command when the connection must be authorized
/// again.
async fn connection_failure(s: &Session<'_>, id: &str, e: Error) -> Failure {
    let needs_reauth =
        matches!(&e, Error::Api(api) if api.code == ErrorCode::ConnectionNeedsReauth);
    let failure = s.fail(e);
    if !needs_reauth {
        return failure;
    }
    let provider = match s.client.connection(id).await {
        Ok(c) => c.provider,
        Err(_) => "<provider>".to_owned(),
    };
    failure.with_hint(format!("run `keyward connect {provider} --id {id}`"))
}

pub async fn connections(ctx: &Context, command: ConnectionsCommand) -> CmdResult {
    match &command {
        ConnectionsCommand::Disconnect(args) => {
            prompt::refuse_unconfirmable(args.yes, "disconnect a connection")?
        }
        ConnectionsCommand::Delete(args) => {
            prompt::refuse_unconfirmable(args.yes, "delete a connection")?
        }
        _ => {}
    }
    let s = Session::open(ctx)?;
    match command {
        ConnectionsCommand::List(args) => list(&s, args).await?,
        ConnectionsCommand::Show(r) => {
            let c = s.client.connection(&r.id).await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&c);
            } else {
                show_connection(&c);
            }
        }
        ConnectionsCommand::Token(r) => {
            let t = match s.client.tokens(&r.id).await {
                Ok(t) => t,
                Err(e) => return Err(connection_failure(&s, &r.id, e).await),
            };
            if s.json() {
                output::print_json(&t);
            } else {
                // The token alone, for `$(…)`: nothing else on stdout.
                println!("{}", t.access_token.expose_secret());
            }
        }
        ConnectionsCommand::Refresh(r) => {
            let c = match s.client.refresh_tokens(&r.id).await {
                Ok(c) => c,
                Err(e) => return Err(connection_failure(&s, &r.id, e).await),
            };
            if s.json() {
                output::print_json(&c);
            } else {
                output::done(&format!(
                    "Refreshed {} ({}); the access token expires {}.",
                    c.id,
                    c.provider,
                    when(
                        c.expires_at,
                        "when the provider says (it gave no lifetime)",
                        Utc::now()
                    )
                ));
            }
        }
        ConnectionsCommand::Disconnect(args) => {
            let id = &args.connection.id;
            let c = s.client.connection(id).await.map_err(|e| s.fail(e))?;
            prompt::confirm_or_cancel(
                args.yes,
                &format!(
                    "Disconnect {} ({})? Its tokens are revoked at the provider and erased here.",
                    c.id, c.provider
                ),
                "not disconnected: it was not confirmed",
            )?;
            let d = s.client.revoke_tokens(id).await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&d);
            } else if d.revoked_at_provider {
                output::done(&format!(
                    "Disconnected {} ({}): the provider confirmed the revocation; the tokens were erased here.",
                    d.connection.id, d.connection.provider
                ));
            } else {
                output::done(&format!(
                    "Disconnected {} ({}): the tokens were erased here.",
                    d.connection.id, d.connection.provider
                ));
                output::warn(&format!(
                    "the provider did not confirm the revocation{}",
                    d.provider_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
        }
        ConnectionsCommand::Delete(args) => {
            let id = &args.connection.id;
            let c = s.client.connection(id).await.map_err(|e| s.fail(e))?;
            prompt::confirm_or_cancel(
                args.yes,
                &format!(
                    "Delete connection {} ({})? Its tokens are revoked at the provider and the record is removed.",
                    c.id, c.provider
                ),
                "not deleted: it was not confirmed",
            )?;
            s.client
                .delete_connection(id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "deleted": true, "id": c.id }));
            } else {
                output::done(&format!("Deleted connection {} ({}).", c.id, c.provider));
            }
        }
    }
    Ok(())
}

async fn list(s: &Session<'_>, args: ListArgs) -> CmdResult {
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let mut all: Vec<ConnectionView> = Vec::new();
    let mut cursor = args.cursor;
    for _ in 0..MAX_PAGES {
        let page = s
            .client
            .connections(&ConnectionQuery {
                provider: args.provider.clone(),
                status: args.status.map(Into::into),
                workspace: args.workspace.clone(),
                limit: Some((wanted - all.len()).min(100) as u32),
                cursor: cursor.take(),
            })
            .await
            .map_err(|e| s.fail(e))?;
        all.extend(page.data);
        cursor = page.next_cursor;
        if cursor.is_none() || all.len() >= wanted {
            break;
        }
    }
    if s.json() {
        output::print_json(&json!({ "data": all, "next_cursor": cursor }));
        return Ok(());
    }
    output::print_table(
        &[
            "ID",
            "PROVIDER",
            "STATUS",
            "AUTHENTICATED",
            "SCOPES",
            "EXPIRES",
            "WORKSPACE",
            "UPDATED",
        ],
        connection_rows(&all),
        "No connections. Make one with `keyward connect PROVIDER` (`keyward integrations list` shows them).",
    );
    if let Some(c) = cursor {
        output::note(&format!(
            "More connections: keyward connections list --cursor {c}   (or --all)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_checked_as_the_server_does() {
        assert!(usable_id("alice@company.com"));
        assert!(usable_id("u1:mail_box-2.x"));
        assert!(!usable_id("a+b@company.com"));
        assert!(!usable_id(""));
        assert!(!usable_id(&"x".repeat(129)));
    }

    #[test]
    fn waits_read_as_written() {
        assert_eq!(wait_text(Duration::from_secs(300)), "5m");
        assert_eq!(wait_text(Duration::from_secs(90)), "90s");
        assert_eq!(parse::parse_wait("5m").unwrap(), Duration::from_secs(300));
        assert!(parse::parse_wait("11m").is_err());
        assert!(parse::parse_wait("1s").is_err());
    }
}
