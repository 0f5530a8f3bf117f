//! `keyward members invite|invitations|revoke-invitation`: how people join an
//! organization. An admin invites an email with a role and gets a one-time code to pass
//! on; `cli/mod.rs` puts these in the `keyward members` group.

use super::context::{Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::lookup;
use super::once::{self, Shown};
use super::output::{self, Cell, Color};
use super::parse::{parse_invitation_expiry, RoleArg};
use super::prompt;
use super::text::role_text;
use chrono::Utc;
use clap::Args;
use keyward_client::{CreateInvitation, Invitation, InvitationStatus};
use serde_json::json;

/// Invite a person by email with a role, and print the invitation's code once.
#[derive(Args)]
#[command(
    visible_alias = "add",
    long_about = "Invite a person by email with a role, and print the invitation's one-time \
        code once. Give the code to them over a channel you trust; they redeem it with \
        `keyward auth accept-invite <code> --server <url>` and get their own first personal \
        access token, which you never see. The code is not a credential of theirs, but \
        whoever holds it can join as them until it is accepted, expires (--expires, default \
        24h, at most 30d) or is revoked (`keyward members revoke-invitation`). Their first \
        token holds at most what your key holds. Only owners invite owners and org admins. \
        When stdout is not a terminal only the code is printed on stdout.",
    after_help = "Examples:\n  \
        keyward members invite --email alice@company.com --role member\n  \
        keyward members invite --email bob@company.com --role agent-admin --agent support-bot --expires 72h\n  \
        CODE=$(keyward members invite --email ci@company.com --role member)"
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
    let notice = format!("Copy the code now: it will not be shown again. It expires {expires}.");
    once::print(
        s.json(),
        &created.code,
        Shown {
            heading: format!("Invited {} ({})", inv.email, inv.id),
            fields,
            after: vec![
                format!(
                    "Give this code to {} over a channel you trust; they run:",
                    inv.email
                ),
                format!("  keyward auth accept-invite <code> --server {server}"),
            ],
            key_label: None,
            notice: &notice,
            json: json!({
                "invitation": inv,
                "code": created.code.expose_secret(),
                "server": server,
            }),
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
