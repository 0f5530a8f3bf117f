//! Rate limits and quotas on the command line (`100/1m`, `10000/monthly`), and the
//! commands about limits that are not a key's: `keyward owner-limits …` and
//! `keyward orgs …`.

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::output::{self, Cell, Color, Style};
use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use keyward_client::{OrgSettingsPatch, Organization, Quota, RateLimit, Refill};
use serde_json::json;

// ---------------------------------------------------------------- values

/// `LIMIT/PERIOD`: `100/1m`, `5/1s`, `1000/1h`, `50000/1d` (period at most 30d).
pub fn parse_ratelimit(s: &str) -> Result<RateLimit, String> {
    let s = s.trim();
    let Some((limit, period)) = s.split_once('/') else {
        return Err(format!(
            "{s:?} is not LIMIT/PERIOD; write e.g. 100/1m (100 requests per minute)"
        ));
    };
    let limit: u32 = limit
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a whole number of requests", limit.trim()))?;
    let period = keyward_core::expiry::parse_duration(period, chrono::Duration::days(30), "30d")
        .map_err(|_| {
            format!(
                "{:?} is not a period such as 1s, 1m, 1h or 1d (at most 30d)",
                period.trim()
            )
        })?;
    let period = u32::try_from(period.num_seconds()).unwrap_or(0);
    let r = RateLimit { limit, period };
    r.validate().map_err(|e| e.to_string())?;
    Ok(r)
}

/// `LIMIT[/daily|/monthly]`: `10000` (never refilled), `10000/monthly`.
pub fn parse_quota(s: &str) -> Result<Quota, String> {
    let s = s.trim();
    let (limit, refill) = match s.split_once('/') {
        Some((l, r)) => (l.trim(), Some(r.trim())),
        None => (s, None),
    };
    let limit: i64 = limit.replace('_', "").parse().map_err(|_| {
        format!("{limit:?} is not a whole number of credits; write e.g. 10000 or 10000/monthly")
    })?;
    let refill = match refill.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("daily" | "day") => Some(Refill::Daily),
        Some("monthly" | "month") => Some(Refill::Monthly),
        Some(other) => {
            return Err(format!(
                "{other:?} is not a refill; use daily or monthly (or nothing: never refilled)"
            ))
        }
    };
    let q = Quota { limit, refill };
    q.validate().map_err(|e| e.to_string())?;
    Ok(q)
}

/// `1m`, `90s`, `1h`, `7d`: as the server writes periods.
pub fn period_text(secs: u32) -> String {
    match secs {
        s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `100/1m`, the flag's own syntax.
pub fn ratelimit_text(r: &RateLimit) -> String {
    format!("{}/{}", r.limit, period_text(r.period))
}

/// `10000/monthly`, `10000/daily`, or `10000 (never refilled)`.
pub fn quota_text(q: &Quota) -> String {
    match q.refill {
        Some(Refill::Daily) => format!("{}/daily", q.limit),
        Some(Refill::Monthly) => format!("{}/monthly", q.limit),
        None => format!("{} (never refilled)", q.limit),
    }
}

/// `12 345 678`: digits grouped by three, for counts people read.
pub fn count_text(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `12%`; `<1%` for a little above nothing.
pub fn percent_text(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p > 0.0 && p < 0.5 {
        "<1%".to_owned()
    } else {
        format!("{:.0}%", p)
    }
}

// ---------------------------------------------------------------- owner-limits

#[derive(Args)]
pub struct OwnerLimitsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: OwnerLimitsCommand,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OwnerTypeArg {
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

impl Session<'_> {
    /// The owner id the API wants: emails and service-account names become ids.
    async fn owner_id(&self, owner: &OwnerRef) -> Result<String, Failure> {
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
                let members = self.client.list_members().await.map_err(|e| self.fail(e))?;
                members
                    .into_iter()
                    .find(|m| m.email.eq_ignore_ascii_case(wanted))
                    .map(|m| m.user_id)
                    .ok_or_else(|| not_found("member", "members"))
            }
            OwnerTypeArg::ServiceAccount if !wanted.starts_with("sa_") => {
                let all = self
                    .client
                    .list_service_accounts()
                    .await
                    .map_err(|e| self.fail(e))?;
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
            let id = s.owner_id(&args.owner).await?;
            let owner_type = args.owner.owner_type.as_str();
            let set = s
                .client
                .set_owner_limit(owner_type, &id, args.ratelimit)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&set);
            } else {
                done(&format!(
                    "All keys of {owner_type} {id} now share a rate limit of {}.",
                    ratelimit_text(&set.ratelimit)
                ));
            }
        }
        OwnerLimitsCommand::Remove(owner) => {
            let id = s.owner_id(&owner).await?;
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
                done(&format!(
                    "Removed the shared rate limit of {owner_type} {id}."
                ));
            }
        }
    }
    Ok(())
}

fn done(message: &str) {
    let style = Style::stdout();
    println!("{} {message}", style.paint(Color::Green, "✓"));
}

// ---------------------------------------------------------------- orgs

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
                        Cell::new(super::org::role_text(o.role)),
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
                done(&format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_and_print_in_the_flag_syntax() {
        let r = parse_ratelimit("100/1m").unwrap();
        assert_eq!((r.limit, r.period), (100, 60));
        assert_eq!(ratelimit_text(&r), "100/1m");
        assert_eq!(
            ratelimit_text(&parse_ratelimit(" 5/90s ").unwrap()),
            "5/90s"
        );
        assert_eq!(ratelimit_text(&parse_ratelimit("7/30d").unwrap()), "7/30d");
        for bad in [
            "0/1m", "100", "100/", "x/1m", "1/0", "1/31d", "1/1w", "-1/1m",
        ] {
            assert!(parse_ratelimit(bad).is_err(), "{bad}");
        }
        assert!(parse_ratelimit("0/1m").unwrap_err().contains("at least 1"));
    }

    #[test]
    fn quotas_parse_with_an_optional_refill() {
        let q = parse_quota("10000").unwrap();
        assert_eq!((q.limit, q.refill), (10_000, None));
        assert_eq!(
            parse_quota("10000/monthly").unwrap().refill,
            Some(Refill::Monthly)
        );
        assert_eq!(parse_quota("5/daily").unwrap().refill, Some(Refill::Daily));
        assert_eq!(
            quota_text(&parse_quota("10000/monthly").unwrap()),
            "10000/monthly"
        );
        for bad in ["abc", "0", "-5", "10/hourly", "", "1000000000001"] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_and_percentages_read_easily() {
        assert_eq!(count_text(0), "0");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_text(2340), "2 340");
        assert_eq!(count_text(1_234_567), "1 234 567");
        assert_eq!(percent_text(0.0), "0%");
        assert_eq!(percent_text(0.001), "<1%");
        assert_eq!(percent_text(0.234), "23%");
        assert_eq!(percent_text(1.0), "100%");
    }
}
