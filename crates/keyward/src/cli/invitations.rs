//! Invitations: how people join an organization. An admin invites an email with a
//! role and gets a one-time code to pass on (`keyward members invite|invitations|
//! revoke-invitation`); the invited person redeems it for their first token (`keyward
//! auth accept-invite`). `cli/mod.rs` puts these in the `members` and `auth` groups.

use super::context::{Context, Session};
use super::credentials::{self, StoredLogin};
use super::failure::{CmdResult, Failure, EXIT_AUTH, EXIT_ERROR};
use super::lookup;
use super::once::{self, Shown};
use super::output::{self, Cell, Color};
use super::parse::{parse_invitation_expiry, RoleArg};
use super::prompt;
use super::resolved::{Resolved, Source};
use super::text::role_text;
use chrono::Utc;
use clap::Args;
use keyward_client::{
    AcceptedInvitation, ApiKey, Client, CreateInvitation, ErrorCode, Invitation, InvitationCode,
    InvitationStatus,
};
use serde_json::json;

/// Invite a person by email with a role, and print the invitation's code and link once.
#[derive(Args)]
#[command(
    visible_alias = "add",
    long_about = "Invite a person by email with a role, and print the invitation's one-time \
        code once, with the same code as a link to the web console's join page. Give one \
        of them to the person over a channel you trust; they redeem the code with \
        `keyward auth accept-invite <code> --server <url>` and get their own first personal \
        access token, which you never see, or open the link and set a console password \
        there (with an account already, they sign in to accept). The code is not a credential of theirs, but \
        whoever holds it can join as them until it is accepted, expires (--expires, default \
        24h, at most 30d) or is revoked (`keyward members revoke-invitation`). Their first \
        token holds at most what your key holds. Only owners invite owners and org admins. \
        When stdout is not a terminal only the code (or with --link, only the link) is \
        printed on stdout.",
    after_help = "Examples:\n  \
        keyward members invite --email alice@company.com --role member\n  \
        keyward members invite --email bob@company.com --role agent-admin --agent support-bot --expires 72h\n  \
        CODE=$(keyward members invite --email ci@company.com --role member)\n  \
        LINK=$(keyward members invite --email dev@company.com --role member --link)"
)]
pub struct InviteArgs {
    /// Their email
    #[arg(long)]
    email: String,
    /// owner, org-admin, agent-admin or member
    #[arg(long, value_enum)]
    role: RoleArg,
    /// For agent-admin: an agent they will administer (id or name); repeat for more
    #[arg(long = "agent", value_name = "AGENT")]
    agents: Vec<String>,
    /// How long the code works: 1h to 30d, e.g. 4h, 72h, 7d [default: 24h]
    #[arg(long, short = 'e', value_parser = parse_invitation_expiry, value_name = "DURATION")]
    expires: Option<String>,
    /// Print the console join link instead of the code (it holds the same code)
    #[arg(long)]
    link: bool,
}

/// List invitations that were not accepted or revoked (pending or expired).
#[derive(Args)]
#[command(
    after_help = "Examples:\n  keyward members invitations\n  keyward members invitations --json"
)]
pub struct ListArgs {}

/// Revoke an invitation: its code stops working.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    keyward members revoke-invitation alice@company.com\n  \
    keyward members revoke-invitation inv_… --yes")]
pub struct RevokeArgs {
    /// The invitation's id (inv_…) or the invited email
    #[arg(value_name = "ID_OR_EMAIL")]
    invitation: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

/// An invitation by id or by email; of several for one email, the pending one.
async fn invitation(s: &Session<'_>, wanted: &str) -> Result<Invitation, Failure> {
    let wanted = wanted.trim();
    let all = s.client.list_invitations().await.map_err(|e| s.fail(e))?;
    if let Some(found) = all.iter().find(|i| i.id == wanted) {
        return Ok(found.clone());
    }
    let matches: Vec<&Invitation> = all
        .iter()
        .filter(|i| i.email.eq_ignore_ascii_case(wanted))
        .collect();
    let pending: Vec<&Invitation> = matches
        .iter()
        .copied()
        .filter(|i| i.status == InvitationStatus::Pending)
        .collect();
    match (matches.as_slice(), pending.as_slice()) {
        ([one], _) | (_, [one]) => Ok((*one).clone()),
        ([], _) => Err(Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("no open invitation has the id or email {wanted:?}"),
        )
        .with_hint(
            "`keyward members invitations` lists the invitations that were not accepted or revoked",
        )),
        (many, _) => Err(Failure::new(
            EXIT_ERROR,
            "ambiguous",
            format!(
                "{} invitations are for {wanted:?}: {}",
                many.len(),
                many.iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("name it by its id")),
    }
}

pub async fn invite(ctx: &Context, args: InviteArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    let now = Utc::now();
    let mut agents = Vec::new();
    for a in &args.agents {
        agents.push(lookup::agent_id(&s, a).await?);
    }
    let created = s
        .client
        .create_invitation(&CreateInvitation {
            email: args.email,
            role: args.role.role(),
            agents,
            expires: args.expires,
        })
        .await
        .map_err(|e| s.fail(e))?;
    let inv = &created.invitation;
    let server = s
        .client
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let expires = output::both(inv.expires_at, now);
    let mut fields = vec![("Role", role_text(inv.role).to_owned())];
    if !inv.agents.is_empty() {
        fields.push(("Agents", inv.agents.join(", ")));
    }
    fields.push(("First token", output::permissions(&inv.permissions)));
    fields.push(("Expires", expires.clone()));
    let (what, after) = if args.link {
        (
            "link",
            vec![format!(
                "Give this link to {} over a channel you trust; they open it to join on the console.",
                inv.email
            )],
        )
    } else {
        (
            "code",
            vec![
                format!(
                    "Give this code to {} over a channel you trust; they run:",
                    inv.email
                ),
                format!("  keyward auth accept-invite <code> --server {server}"),
            ],
        )
    };
    let notice = format!("Copy the {what} now: it will not be shown again. It expires {expires}.");
    let (shown, also): (&dyn once::Secret, _) = if args.link {
        (&created.link, None)
    } else {
        let other: &dyn once::Secret = &created.link;
        (
            &created.code,
            Some(("Or they open this link to join on the console:", other)),
        )
    };
    once::print(
        s.json(),
        shown,
        Shown {
            heading: format!("Invited {} ({})", inv.email, inv.id),
            fields,
            after,
            key_label: None,
            notice: &notice,
            json: json!({
                "invitation": inv,
                "code": created.code.expose_secret(),
                "link": created.link.expose_secret(),
                "server": server,
            }),
            also,
        },
    );
    Ok(())
}

pub async fn list(ctx: &Context, _args: ListArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    let now = Utc::now();
    let all = s.client.list_invitations().await.map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "data": all }));
    } else {
        let rows = all
            .iter()
            .map(|i| {
                vec![
                    Cell::new(&i.id),
                    Cell::new(&i.email),
                    Cell::new(role_text(i.role)),
                    Cell::new(i.agents.join(", ")),
                    match i.status {
                        InvitationStatus::Pending => Cell::colored("pending", Color::Green),
                        other => Cell::colored(other.as_str(), Color::Yellow),
                    },
                    Cell::new(output::relative(i.expires_at, now)),
                    Cell::new(&i.created_by),
                ]
            })
            .collect();
        output::print_table(
            &["ID", "EMAIL", "ROLE", "AGENTS", "STATUS", "EXPIRES", "INVITED BY"],
            rows,
            "No open invitations. Invite someone with `keyward members invite --email EMAIL --role member`.",
        );
    }
    Ok(())
}

pub async fn revoke(ctx: &Context, args: RevokeArgs) -> CmdResult {
    prompt::refuse_unconfirmable(args.yes, "revoke an invitation")?;
    let s = Session::open(ctx)?;
    let inv = invitation(&s, &args.invitation).await?;
    prompt::confirm_or_cancel(
        args.yes,
        &format!(
            "Revoke the invitation of {} as {} ({})? Its code stops working.",
            inv.email,
            role_text(inv.role),
            inv.id
        ),
        "not revoked: it was not confirmed",
    )?;
    s.client
        .revoke_invitation(&inv.id)
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "revoked": true, "id": inv.id, "email": inv.email }));
    } else {
        output::done(&format!(
            "Revoked the invitation of {} ({}); its code no longer works.",
            inv.email, inv.id
        ));
    }
    Ok(())
}

/// Redeem an invitation's code: join the organization and get your own first token.
#[derive(Args)]
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
pub struct AcceptArgs {
    /// The invitation's code (kw_inv_…), or - to read it from stdin (a hidden prompt on a
    /// terminal), which keeps it out of your shell history
    #[arg(value_name = "CODE")]
    code: String,
    /// Also store the new token as your login for this server, as `keyward auth login` does
    #[arg(long)]
    login: bool,
}

/// `auth accept-invite`: the code without a key first; with the key the CLI would use
/// for that server only if the server asks who is accepting (`identity_required`).
pub async fn accept(ctx: &Context, args: AcceptArgs) -> CmdResult {
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
    once::print(
        ctx.json(),
        &token.key,
        Shown {
            heading: format!(
                "Joined \"{}\" as {role}; your personal access token \"{}\" ({})",
                org.name, token.details.name, token.details.id
            ),
            fields,
            after: vec![after],
            key_label: None,
            notice: once::NOTICE,
            json,
            also: None,
        },
    );
    match saved {
        Some(Err(e)) => Err(Failure::from(e)),
        Some(Ok(_)) => {
            ctx.warn_if_login_overridden();
            Ok(())
        }
        None => Ok(()),
    }
}
