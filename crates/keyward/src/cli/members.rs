//! `keyward members list|show|update|remove`: the organization's people and their
//! roles. People join through invitations (`invitations.rs`); `cli/mod.rs` puts both in
//! the one `keyward members` group.

use super::context::{Context, Session};
use super::failure::{CmdResult, Failure};
use super::lookup::{self, pick};
use super::output::{self, Cell};
use super::parse::RoleArg;
use super::prompt;
use super::text::role_text;
use chrono::Utc;
use clap::{ArgGroup, Args};
use keyward_client::{Member, UpdateMember};
use serde_json::json;

/// List the organization's people and their roles.
#[derive(Args)]
#[command(after_help = "Example:\n  keyward members list")]
pub struct ListArgs {}

/// Show one member.
#[derive(Args)]
#[command(after_help = "Example:\n  keyward members show alice@company.com")]
pub struct ShowArgs {
    #[command(flatten)]
    member: MemberRef,
}

#[derive(Args)]
struct MemberRef {
    /// The member's user id (usr_…) or email
    #[arg(value_name = "MEMBER")]
    member: String,
}

/// Change a member's role or agents.
#[derive(Args)]
#[command(
    group(ArgGroup::new("change").required(true).multiple(true).args(["role", "agents"])),
    after_help = "Examples:\n  \
        keyward members update alice@company.com --role org-admin\n  \
        keyward members update bob@company.com --agent support-bot --agent sales-bot"
)]
pub struct UpdateArgs {
    #[command(flatten)]
    member: MemberRef,
    /// The new role
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
    /// The agents they administer (replaces the list); repeat for more
    #[arg(long = "agent", value_name = "AGENT")]
    agents: Vec<String>,
}

/// Remove a member from the organization.
#[derive(Args)]
#[command(after_help = "Example:\n  keyward members remove alice@company.com --yes")]
pub struct RemoveArgs {
    #[command(flatten)]
    member: MemberRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

async fn member(s: &Session<'_>, wanted: &str) -> Result<Member, Failure> {
    if wanted.starts_with("usr_") {
        return s.client.get_member(wanted).await.map_err(|e| s.fail(e));
    }
    let all = s.client.list_members().await.map_err(|e| s.fail(e))?;
    pick(&all, wanted, "member", |m| &m.user_id, |m| &m.email)
}

fn show_member(m: &Member) {
    let mut rows = vec![
        ("User id", m.user_id.clone()),
        ("Email", m.email.clone()),
        ("Role", role_text(m.role).to_owned()),
    ];
    if !m.agents.is_empty() {
        rows.push(("Agents", m.agents.join(", ")));
    }
    rows.push(("Added", output::both(m.created_at, Utc::now())));
    output::print_fields(&rows);
}

pub async fn list(ctx: &Context, _args: ListArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    let now = Utc::now();
    let all = s.client.list_members().await.map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "data": all }));
    } else {
        let rows = all
            .iter()
            .map(|m| {
                vec![
                    Cell::new(&m.user_id),
                    Cell::new(&m.email),
                    Cell::new(role_text(m.role)),
                    Cell::new(m.agents.join(", ")),
                    Cell::new(output::relative(m.created_at, now)),
                ]
            })
            .collect();
        output::print_table(
            &["USER ID", "EMAIL", "ROLE", "AGENTS", "ADDED"],
            rows,
            "No members.",
        );
    }
    Ok(())
}

pub async fn show(ctx: &Context, r: ShowArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    let m = member(&s, &r.member.member).await?;
    if s.json() {
        output::print_json(&m);
    } else {
        show_member(&m);
    }
    Ok(())
}

pub async fn update(ctx: &Context, args: UpdateArgs) -> CmdResult {
    let s = Session::open(ctx)?;
    let m = member(&s, &args.member.member).await?;
    let agents = if args.agents.is_empty() {
        None
    } else {
        let mut ids = Vec::new();
        for a in &args.agents {
            ids.push(lookup::agent_id(&s, a).await?);
        }
        Some(ids)
    };
    let updated = s
        .client
        .update_member(
            &m.user_id,
            &UpdateMember {
                role: args.role.map(RoleArg::role),
                agents,
            },
        )
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&updated);
    } else {
        output::done(&format!("Updated {}.", updated.email));
        show_member(&updated);
    }
    Ok(())
}

pub async fn remove(ctx: &Context, args: RemoveArgs) -> CmdResult {
    prompt::refuse_unconfirmable(args.yes, "remove a member")?;
    let s = Session::open(ctx)?;
    let m = member(&s, &args.member.member).await?;
    prompt::confirm_or_cancel(
        args.yes,
        &format!(
            "Remove {} ({}) from the organization? Their keys stop working.",
            m.email, m.user_id
        ),
        "not removed: it was not confirmed",
    )?;
    s.client
        .remove_member(&m.user_id)
        .await
        .map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "removed": true, "user_id": m.user_id }));
    } else {
        output::done(&format!("Removed {} ({}).", m.email, m.user_id));
    }
    Ok(())
}
