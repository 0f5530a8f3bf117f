//! `keyward auth login|logout|whoami|status` and `keyward login`: who you are on which
//! server (the server's `GET /v1/me`), and the stored login. `auth accept-invite` is in
//! `invitations.rs`; `cli/mod.rs` puts both in the `keyward auth` group.

use super::context::{deprecation_message, ConnArgs, Context};
use super::credentials::{self, StoredLogin};
use super::failure::{CmdResult, Failure, EXIT_AUTH};
use super::output::{self, Color, Style};
use super::prompt;
use super::resolved::{Resolved, Source};
use super::text::kind_label;
use chrono::{Duration, Utc};
use clap::Args;
use keyward_client::{ApiKey, Client, KeyKind, Me};
use serde_json::json;

/// Keys closer than this to their expiry get a warning.
const EXPIRY_WARNING_DAYS: i64 = 7;

/// `keyward login`: `auth login` with the connection flags of its own.
#[derive(Args)]
pub struct LoginTop {
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Check an API key against the server and store it for later commands.
#[derive(Args)]
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
pub struct LoginArgs {}

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

pub async fn login(ctx: &Context, _args: LoginArgs) -> CmdResult {
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
    ctx.warn_if_login_overridden();
    Ok(())
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
