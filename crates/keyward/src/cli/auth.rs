//! `keyward auth login|accept-invite|logout|whoami|status` and `keyward login`.

use super::context::{deprecation_message, ConnArgs, Context};
use super::credentials::{self, StoredLogin};
use super::dotenv;
use super::failure::{CmdResult, Failure, EXIT_AUTH, EXIT_ERROR};
use super::output::{self, Color, Style};
use super::prompt;
use super::resolved::{Resolved, Source};
use super::text::{kind_label, role_text};
use chrono::{Duration, Utc};
use clap::{Args, Subcommand};
use keyward_client::{AcceptedInvitation, ApiKey, Client, ErrorCode, InvitationCode, KeyKind, Me};
use serde_json::json;

/// Keys closer than this to their expiry get a warning.
const EXPIRY_WARNING_DAYS: i64 = 7;

#[derive(Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// `keyward login`: `auth login` with the connection flags of its own.
#[derive(Args)]
pub struct LoginTop {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub login: LoginArgs,
}

#[derive(Args)]
pub struct LoginArgs {}

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

#[derive(Subcommand)]
pub enum AuthCommand {
    /// Check an API key against the server and store it for later commands.
    #[command(
        long_about = "Check an API key against the server and store it for later commands.\n\n\
            Give the key with --token, paste it at the prompt (input is hidden), or pipe it \
            on stdin. The key is checked with GET /v1/me first; only a working key is stored, \
            with the server URL, in credentials.json in your config directory \
            ($KEYWARD_CONFIG_DIR, else e.g. ~/.config/keyward), mode 0600.",
        after_help = "Examples:\n  \
            keyward auth login                                   # asks for the key\n  \
            keyward auth login --token kw_pat_… --server https://keys.example.com\n  \
            echo \"$KEY\" | keyward auth login"
    )]
    Login(LoginArgs),
    /// Redeem an invitation's code: join the organization and get your own first token.
    #[command(
        long_about = "Redeem an invitation's code (kw_inv_…, from whoever invited you): join the \
            organization and get your own first personal access token, printed once (only the \
            token on stdout when stdout is not a terminal). Nobody else ever sees that token.\n\n\
            The code is sent first without any key, which is all a person new to this Keyward \
            server needs. If your email already has an account there, the server asks for proof \
            (identity_required): the command then sends a key that is unmistakably for that \
            server: --token, KEYWARD_API_KEY when KEYWARD_SERVER in the environment names the \
            same server, or the stored login for it (never a key from .env). It must be one of \
            your own personal access tokens, from any organization. \
            --login stores the new token as your login for the server.",
        after_help = "Examples:\n  \
            keyward auth accept-invite kw_inv_… --server https://keys.example.com --login\n  \
            keyward auth accept-invite - --server https://keys.example.com   # asks for the code\n  \
            TOKEN=$(echo \"$CODE\" | keyward auth accept-invite - --server https://keys.example.com)\n  \
            keyward auth accept-invite kw_inv_… --token kw_pat_…   # your email already has an account"
    )]
    AcceptInvite(AcceptInviteArgs),
    /// Forget the stored login (the key itself keeps working until revoked).
    #[command(after_help = "Example:\n  keyward auth logout")]
    Logout,
    /// Print who the current key belongs to.
    #[command(
        long_about = "Print who the current key belongs to: \
            `Authenticated as: team@company.com (org: my-org)` for a personal token, the \
            account's name and kind for other keys.",
        after_help = "Examples:\n  \
            keyward auth whoami\n  \
            KEYWARD_API_KEY=kw_sa_… keyward auth whoami --json"
    )]
    Whoami,
    /// Show the server, the key in use, where it came from, and what it may do.
    #[command(
        long_about = "Show the server, who you are, the key's prefix, kind, scope, permissions \
            and expiry, and where the key came from (--token, KEYWARD_API_KEY, .env or the \
            stored login). Warns when the key expires within 7 days, has expired, or is a \
            deprecated legacy token.",
        after_help = "Examples:\n  \
            keyward auth status\n  \
            keyward auth status --json | jq .source"
    )]
    Status,
}

pub async fn run(ctx: &Context, command: AuthCommand) -> CmdResult {
    match command {
        AuthCommand::Login(_) => login(ctx).await,
        AuthCommand::AcceptInvite(args) => accept_invite(ctx, args).await,
        AuthCommand::Logout => logout(ctx),
        AuthCommand::Whoami => whoami(ctx).await,
        AuthCommand::Status => status(ctx).await,
    }
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

async fn login(ctx: &Context) -> CmdResult {
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
    let client = ctx.client_for(&resolved)?;
    let me = client
        .me()
        .await
        .map_err(|e| Failure::client(&e, &resolved))?;
    let path = credentials::path()?;
    let server = client.base_url().as_str().trim_end_matches('/').to_owned();
    let login = StoredLogin::new(
        server.clone(),
        &resolved.key,
        me.email.clone().unwrap_or_else(|| me.name.clone()),
        me.org.name.clone(),
    );
    credentials::save(&path, &login)?;
    let warnings = key_warnings(&me, &resolved, &client);
    ctx.deprecation_reported();
    if ctx.json() {
        output::print_json(&json!({
            "server": server,
            "path": path,
            "me": me,
            "warnings": warnings,
        }));
    } else {
        let style = Style::stdout();
        println!(
            "{} Logged in to {server} as {} (org: {}).",
            style.paint(Color::Green, "✓"),
            me.email.as_deref().unwrap_or(&me.name),
            me.org.name
        );
        println!("Key saved to {} (readable only by you).", path.display());
    }
    for w in &warnings {
        output::warn(w);
    }
    warn_if_login_overridden(ctx);
    Ok(())
}

/// A stored login is used only when no key comes from the environment or `.env`.
fn warn_if_login_overridden(ctx: &Context) {
    let overridden = [
        std::env::var(dotenv::API_KEY)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|_| format!("the environment variable {}", dotenv::API_KEY)),
        ctx.dotenv
            .get(dotenv::API_KEY)
            .and(ctx.dotenv.path.as_ref())
            .map(|p| format!("{} in {}", dotenv::API_KEY, p.display())),
    ];
    if let Some(over) = overridden.into_iter().flatten().next() {
        output::warn(&format!(
            "{over} is set and takes precedence over this login; unset it to use the stored key"
        ));
    }
}

/// `auth accept-invite`: the code without a key first; with the key the CLI would use
/// for that server only if the server asks who is accepting (`identity_required`).
async fn accept_invite(ctx: &Context, args: AcceptInviteArgs) -> CmdResult {
    let code = if args.code.trim() == "-" {
        InvitationCode::new(
            prompt::read_secret(
                "Paste the invitation code (input is hidden): ",
                "no invitation code given: pass it as the argument, paste it at the prompt, or pipe it on stdin with -",
            )?
            .as_str(),
        )
    } else {
        InvitationCode::new(args.code.as_str())
    };
    if let Err(e) = InvitationCode::parse(code.expose_secret()) {
        return Err(Failure::usage(format!(
            "this is not a valid invitation code ({e}); it was not sent"
        ))
        .with_hint("invitation codes start with kw_inv_; copy the whole code"));
    }
    let (server, server_source) = ctx.server();
    // For the messages of a call that sends no key.
    let anonymous = Resolved {
        key: ApiKey::new(String::new()),
        source: Source::Input,
        server: server.clone(),
        server_source,
        org: None,
    };
    let not_found = |e: keyward_client::Error, resolved: &Resolved| match e.code() {
        Some(ErrorCode::NotFound) => Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("{server} knows no invitation with this code"),
        )
        .with_hint(
            "check the code, and --server: a code works only on the server whose admin invited you",
        ),
        _ => Failure::client(&e, resolved),
    };
    let client = Client::without_key(&server).map_err(|e| Failure::client(&e, &anonymous))?;
    let (accepted, sent) = match client.accept_invitation(&code, None).await {
        Ok(accepted) => (accepted, None),
        Err(e) if e.code() == Some(&ErrorCode::IdentityRequired) => {
            let found = ctx
                .key_bound_to(&server)
                .and_then(|resolved| Ok((ctx.client_for(&resolved)?, resolved)))
                .map(|(client, resolved)| (resolved, client));
            let (resolved, keyed) = match found {
                Ok(found) => found,
                Err(f) if f.code == "not_logged_in" => {
                    return Err(Failure::new(
                        EXIT_AUTH,
                        "identity_required",
                        format!(
                            "the invited email already has a Keyward account on {server}, so accepting needs one of that person's own personal access tokens, and no key for this server was found ({})",
                            f.message
                        ),
                    )
                    .with_hint(format!(
                        "log in first with one of your tokens (from any organization on this server): `keyward auth login --server {server}`, then run `keyward auth accept-invite` again; or pass --token"
                    )));
                }
                Err(f) => return Err(f),
            };
            match keyed.accept_invitation(&code, Some(&resolved.key)).await {
                Ok(accepted) => (accepted, Some(resolved)),
                Err(e) if e.code() == Some(&ErrorCode::IdentityRequired) => {
                    return Err(Failure::new(
                        EXIT_AUTH,
                        "identity_required",
                        format!(
                            "the invited email already has a Keyward account, and the API key from {} is not one of that person's personal access tokens",
                            resolved.source.describe()
                        ),
                    )
                    .with_hint(
                        "accept with one of the invited person's own personal access tokens: pass it with --token, or log in with it (`keyward auth login`)",
                    ));
                }
                Err(e) => return Err(not_found(e, &resolved)),
            }
        }
        Err(e) => return Err(not_found(e, &anonymous)),
    };
    show_accepted(ctx, &client, accepted, sent.as_ref(), args.login)
}

/// Prints the new token once; with `login`, stores it first (a failure to store is
/// reported after the token was shown, so it is never lost).
fn show_accepted(
    ctx: &Context,
    client: &Client,
    accepted: AcceptedInvitation,
    sent: Option<&Resolved>,
    login: bool,
) -> CmdResult {
    let AcceptedInvitation {
        organization: org,
        member,
        token,
    } = accepted;
    let server = client.base_url().as_str().trim_end_matches('/').to_owned();
    let saved = if login {
        Some(credentials::path().and_then(|path| {
            let stored = StoredLogin::new(
                server.clone(),
                &token.key,
                member.email.clone(),
                org.name.clone(),
            );
            credentials::save(&path, &stored).map(|()| path)
        }))
    } else {
        None
    };
    let now = Utc::now();
    let role = role_text(member.role);
    let mut fields = vec![
        ("Organization", format!("{} ({})", org.name, org.id)),
        ("Email", member.email.clone()),
        ("Role", role.to_owned()),
        (
            "Permissions",
            output::permissions(&token.details.permissions),
        ),
        (
            "Expires",
            token
                .details
                .expires_at
                .map(|at| output::both(at, now))
                .unwrap_or_else(|| "never".to_owned()),
        ),
    ];
    if let Some(resolved) = sent {
        fields.push((
            "Proven with",
            format!("the API key from {}", resolved.source.describe()),
        ));
    }
    let after = match &saved {
        Some(Ok(path)) => format!(
            "Logged in to {server} as {} (org: {}); the token is saved in {} (readable only by you).",
            member.email,
            org.name,
            path.display()
        ),
        Some(Err(_)) => "The token could not be stored as your login (see below).".to_owned(),
        None => format!("To use it from this machine: keyward auth login --server {server}"),
    };
    let mut json = json!({
        "organization": org,
        "member": member,
        "server": server,
        "logged_in": matches!(saved, Some(Ok(_))),
    });
    let mut token_json = serde_json::to_value(&token.details).map_err(anyhow::Error::from)?;
    token_json["key"] = json!(token.key.expose_secret());
    json["token"] = token_json;
    if let Some(Ok(path)) = &saved {
        json["path"] = json!(path);
    }
    super::once::print(
        ctx.json(),
        &token.key,
        super::once::Shown {
            heading: format!(
                "Joined \"{}\" as {role}; your personal access token \"{}\" ({})",
                org.name, token.details.name, token.details.id
            ),
            fields,
            after: vec![after],
            key_label: None,
            notice: super::once::NOTICE,
            json,
        },
    );
    match saved {
        Some(Err(e)) => Err(Failure::from(e)),
        Some(Ok(_)) => {
            warn_if_login_overridden(ctx);
            Ok(())
        }
        None => Ok(()),
    }
}

/// The key from a hidden prompt, or from stdin when it is not a terminal.
fn read_key() -> Result<ApiKey, Failure> {
    prompt::read_key(
        "Paste your Keyward API key (input is hidden): ",
        "no API key given: pass --token <key>, paste it at the prompt, or pipe it on stdin",
    )
}

fn logout(ctx: &Context) -> CmdResult {
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

async fn whoami(ctx: &Context) -> CmdResult {
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

async fn status(ctx: &Context) -> CmdResult {
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
