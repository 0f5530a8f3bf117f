//! `keyward owner-limits list|set|remove`: rate limits shared by all keys of one owner
//! (a person, a service account, or one of your customers). The server serves them
//! next to the usage reports (`http/usage.rs`).

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::output::{self, Cell, Color, Style};
use super::parse::parse_ratelimit;
use super::text::ratelimit_text;
use clap::{Args, Subcommand, ValueEnum};
use keyward_client::RateLimit;
use serde_json::json;

#[derive(Args)]
pub struct OwnerLimitsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: OwnerLimitsCommand,
}

#[derive(Clone, Copy, ValueEnum)]
enum OwnerTypeArg {
    User,
    #[value(name = "service_account", alias = "service-account")]
    ServiceAccount,
    External,
}

impl OwnerTypeArg {
    fn as_str(self) -> &'static str {
        match self {
            OwnerTypeArg::User => "user",
            OwnerTypeArg::ServiceAccount => "service_account",
            OwnerTypeArg::External => "external",
        }
    }
}

#[derive(Subcommand)]
pub enum OwnerLimitsCommand {
    /// List the rate limits shared by all keys of an owner.
    #[command(
        after_help = "Examples:\n  keyward owner-limits list\n  keyward owner-limits list --json"
    )]
    List,
    /// Set the rate limit shared by all keys of a person, service account or customer.
    #[command(
        long_about = "Set the rate limit shared by all keys of one owner: a person (user), a \
            service account, or one of your customers (external, the --owner of api keys). \
            More keys do not buy an owner more traffic. Each key's own --ratelimit still applies.",
        after_help = "Examples:\n  \
            keyward owner-limits set external cus_123 --ratelimit 1000/1h\n  \
            keyward owner-limits set user alice@company.com --ratelimit 100/1m\n  \
            keyward owner-limits set service_account production-bot --ratelimit 50/1s"
    )]
    Set(OwnerSetArgs),
    /// Remove an owner's shared rate limit.
    #[command(after_help = "Example:\n  keyward owner-limits remove external cus_123")]
    Remove(OwnerRef),
}

#[derive(Args)]
pub struct OwnerRef {
    /// user, service_account or external
    #[arg(value_enum, value_name = "OWNER_TYPE")]
    owner_type: OwnerTypeArg,
    /// A user's id (usr_…) or email, a service account's id (sa_…) or name, or your customer id
    #[arg(value_name = "ID")]
    id: String,
}

#[derive(Args)]
pub struct OwnerSetArgs {
    #[command(flatten)]
    owner: OwnerRef,
    /// LIMIT/PERIOD shared by all the owner's keys, e.g. 1000/1h (period 1s … 30d)
    #[arg(long, required = true, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit)]
    ratelimit: RateLimit,
}

/// The owner id the API wants: emails and service-account names become ids.
async fn owner_id(s: &Session<'_>, owner: &OwnerRef) -> Result<String, Failure> {
    let wanted = owner.id.trim();
    let not_found = |what: &str, list: &str| {
        Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("no {what} has the id or name {wanted:?}"),
        )
        .with_hint(format!("`keyward {list} list` shows them"))
    };
    match owner.owner_type {
        OwnerTypeArg::User if wanted.contains('@') => {
            let members = s.client.list_members().await.map_err(|e| s.fail(e))?;
            members
                .into_iter()
                .find(|m| m.email.eq_ignore_ascii_case(wanted))
                .map(|m| m.user_id)
                .ok_or_else(|| not_found("member", "members"))
        }
        OwnerTypeArg::ServiceAccount if !wanted.starts_with("sa_") => {
            let all = s
                .client
                .list_service_accounts()
                .await
                .map_err(|e| s.fail(e))?;
            let found: Vec<_> = all.into_iter().filter(|a| a.name == wanted).collect();
            match found.as_slice() {
                [one] => Ok(one.id.clone()),
                [] => Err(not_found("service account", "service-accounts")),
                _ => Err(Failure::new(
                    EXIT_ERROR,
                    "ambiguous",
                    format!("several service accounts are named {wanted:?}; use the id"),
                )),
            }
        }
        _ => Ok(wanted.to_owned()),
    }
}

pub async fn owner_limits(ctx: &Context, command: OwnerLimitsCommand) -> CmdResult {
    let s = Session::open(ctx)?;
    match command {
        OwnerLimitsCommand::List => {
            let limits = s.client.list_owner_limits().await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": limits }));
            } else if limits.is_empty() {
                println!("No owner limits. Set one with `keyward owner-limits set external cus_123 --ratelimit 1000/1h`.");
            } else {
                let rows: Vec<Vec<Cell>> = limits
                    .iter()
                    .map(|l| {
                        vec![
                            Cell::new(&l.owner_type),
                            Cell::colored(&l.owner_id, Color::Cyan),
                            Cell::new(ratelimit_text(&l.ratelimit)),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(
                        Style::stdout(),
                        &["OWNER TYPE", "OWNER", "RATE LIMIT"],
                        &rows
                    )
                );
            }
        }
        OwnerLimitsCommand::Set(args) => {
            let id = owner_id(&s, &args.owner).await?;
            let owner_type = args.owner.owner_type.as_str();
            let set = s
                .client
                .set_owner_limit(owner_type, &id, args.ratelimit)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&set);
            } else {
                output::done(&format!(
                    "All keys of {owner_type} {id} now share a rate limit of {}.",
                    ratelimit_text(&set.ratelimit)
                ));
            }
        }
        OwnerLimitsCommand::Remove(owner) => {
            let id = owner_id(&s, &owner).await?;
            let owner_type = owner.owner_type.as_str();
            s.client
                .remove_owner_limit(owner_type, &id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(
                    &json!({ "removed": true, "owner_type": owner_type, "owner_id": id }),
                );
            } else {
                output::done(&format!(
                    "Removed the shared rate limit of {owner_type} {id}."
                ));
            }
        }
    }
    Ok(())
}
