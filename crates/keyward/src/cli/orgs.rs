//! `keyward orgs list|show|settings`: your organizations, and your organization's
//! settings (key limits, default rate limit and quota for new keys).

use super::context::{ConnArgs, Context, Session};
use super::failure::CmdResult;
use super::output::{self, Cell, Style};
use super::parse::{parse_quota, parse_ratelimit};
use super::text::{count_text, quota_text, ratelimit_text, role_text};
use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand};
use keyward_client::{OrgSettingsPatch, Organization, Quota, RateLimit};
use serde_json::json;

#[derive(Args)]
pub struct OrgsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: OrgsCommand,
}

#[derive(Subcommand)]
pub enum OrgsCommand {
    /// List your organizations and your role in each.
    #[command(after_help = "Examples:\n  keyward orgs list\n  keyward orgs list --json")]
    List,
    /// Show your organization's settings: key limits and default limits for new keys.
    #[command(after_help = "Examples:\n  keyward orgs show\n  keyward orgs show --json")]
    Show,
    /// Change your organization's settings (owners and org admins).
    #[command(
        long_about = "Change your organization's settings (owners and org admins): how many keys \
            it may hold, whether legacy workspace tokens may be created, and the rate limit and \
            quota given to new keys created without their own. Defaults apply to keys created \
            from now on.",
        after_help = "Examples:\n  \
            keyward orgs settings --max-keys 50 --max-worker-keys 10\n  \
            keyward orgs settings --default-ratelimit 100/1m --default-quota 10000/monthly\n  \
            keyward orgs settings --no-default-quota --allow-legacy-tokens false"
    )]
    Settings(SettingsArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true).args([
    "max_keys", "max_worker_keys", "allow_legacy_tokens", "default_ratelimit",
    "no_default_ratelimit", "default_quota", "no_default_quota"])))]
pub struct SettingsArgs {
    /// Keys the organization may hold (worker keys and channel tokens aside), 1 … 1000000
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_keys: Option<u32>,
    /// Active worker keys per person per workspace, 1 … 1000000
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_worker_keys: Option<u32>,
    /// Whether new legacy workspace tokens may be created
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    allow_legacy_tokens: Option<bool>,
    /// Rate limit for new keys created without one, e.g. 100/1m
    #[arg(long, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit, conflicts_with = "no_default_ratelimit")]
    default_ratelimit: Option<RateLimit>,
    /// New keys get no rate limit unless they ask for one
    #[arg(long)]
    no_default_ratelimit: bool,
    /// Quota for new keys created without one, e.g. 10000/monthly
    #[arg(long, value_name = "LIMIT[/REFILL]", value_parser = parse_quota, conflicts_with = "no_default_quota")]
    default_quota: Option<Quota>,
    /// New keys get no quota unless they ask for one
    #[arg(long)]
    no_default_quota: bool,
}

pub async fn orgs(ctx: &Context, command: OrgsCommand) -> CmdResult {
    let s = Session::open(ctx)?;
    match command {
        OrgsCommand::List => {
            let orgs = s.client.my_organizations().await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": orgs }));
                return Ok(());
            }
            let now = Utc::now();
            let current = s.client.me().await.map_err(|e| s.fail(e))?.org.id;
            let rows: Vec<Vec<Cell>> = orgs
                .iter()
                .map(|o| {
                    vec![
                        Cell::new(if o.org.id == current { "*" } else { "" }),
                        Cell::new(&o.org.id),
                        Cell::new(&o.org.name),
                        Cell::new(role_text(o.role)),
                        Cell::new(output::relative(o.org.created_at, now)),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    Style::stdout(),
                    &["", "ID", "NAME", "ROLE", "CREATED"],
                    &rows
                )
            );
            output::note("* the organization of the key in use");
        }
        OrgsCommand::Show => {
            let id = s.client.me().await.map_err(|e| s.fail(e))?.org.id;
            let org = s
                .client
                .get_organization(&id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&org);
            } else {
                print_org(&org);
            }
        }
        OrgsCommand::Settings(args) => {
            let patch = OrgSettingsPatch {
                max_keys: args.max_keys,
                max_worker_keys: args.max_worker_keys,
                allow_legacy_tokens: args.allow_legacy_tokens,
                default_ratelimit: if args.no_default_ratelimit {
                    Some(None)
                } else {
                    args.default_ratelimit.map(Some)
                },
                default_quota: if args.no_default_quota {
                    Some(None)
                } else {
                    args.default_quota.map(Some)
                },
            };
            let id = s.client.me().await.map_err(|e| s.fail(e))?.org.id;
            let org = s
                .client
                .update_organization_settings(&id, &patch)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&org);
            } else {
                output::done(&format!(
                    "Updated the settings of {} ({}).",
                    org.name, org.id
                ));
                print_org(&org);
            }
        }
    }
    Ok(())
}

fn print_org(org: &Organization) {
    let st = &org.settings;
    let rows: Vec<(&str, String)> = vec![
        ("ID", org.id.clone()),
        ("Name", org.name.clone()),
        ("Created", output::both(org.created_at, Utc::now())),
        ("Max keys", count_text(i64::from(st.max_keys))),
        ("Max worker keys", count_text(i64::from(st.max_worker_keys))),
        (
            "Legacy tokens",
            if st.allow_legacy_tokens {
                "allowed"
            } else {
                "not allowed"
            }
            .to_owned(),
        ),
        (
            "Default rate limit",
            st.default_ratelimit
                .as_ref()
                .map(ratelimit_text)
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "Default quota",
            st.default_quota
                .as_ref()
                .map(quota_text)
                .unwrap_or_else(|| "none".into()),
        ),
    ];
    print!("{}", output::fields(Style::stdout(), &rows));
}
