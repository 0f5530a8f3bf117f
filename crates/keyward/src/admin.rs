//! `keyward admin …`: break-glass commands for the operator of a Keyward server. They
//! work on the database directly (no HTTP, no API key), like `migrate` and `bootstrap`,
//! so they help when nobody holds a working owner token any more: the owner's only token
//! was lost, or an owner limited themselves out of their own organization.
//!
//! Whoever can run them can read and write the database anyway; they only make the
//! usual changes possible again, each written to the organization's audit log with
//! actor type `operator` (named after the OS user and host) and no key id, in the same
//! transaction as the change.

use anyhow::{bail, Context};
use chrono::{Duration, Utc};
use clap::{ArgGroup, Args, Subcommand};
use keyward_core::expiry::{parse_duration, Expiry};
use keyward_core::key::Environment;
use keyward_core::{Clock, KeyKind, Name, Owner, PermissionSet, PlainKey};
use keyward_store::{Actor, Member, NewAuditEvent, NewKey, Organization, OwnerLimit, Store};
use serde_json::json;

use crate::cli::output::{self, Cell, Style};

/// How long a break-glass token works unless `--expires` says otherwise.
pub const DEFAULT_TOKEN_EXPIRY: &str = "24h";

const SERVER_NOTES: &str = "A running server needs no restart: a minted token works at once; \
    a removed owner limit takes effect within 5 s on SQLite (the server's owner-limit cache) \
    and at once on PostgreSQL (every node is notified).";

#[derive(Subcommand)]
pub enum AdminCommand {
    /// List every organization with its owners.
    #[command(after_help = "Examples:\n  \
        keyward admin orgs --data-dir /var/lib/keyward\n  \
        keyward admin orgs --database-url postgres://keyward@db/keyward --json")]
    Orgs(OrgsArgs),
    /// Mint a personal access token with every permission for an owner of an organization.
    #[command(
        long_about = "Mint a personal access token with every permission for an owner of an \
            organization, for when nobody holds a working owner token any more. The token is \
            exempt from the organization's key limits, expires after 24h unless --expires says \
            otherwise (--expires never for none), and is recorded in the organization's audit \
            log as key.create by the operator (details: break_glass). Only the token is printed \
            on stdout (like `keyward bootstrap`); --json prints an object.\n\n\
            A running server needs no restart: the token works at once. Revoke it when you are \
            done (`keyward keys revoke <id>`).",
        after_help = "Examples:\n  \
            TOKEN=$(keyward admin mint-owner-token --org my-org --data-dir /var/lib/keyward)\n  \
            keyward admin mint-owner-token --org org_… --email team@company.com --expires 1h\n  \
            keyward admin mint-owner-token --org my-org --name \"recovery 2026-11\" --expires never --json"
    )]
    MintOwnerToken(MintArgs),
    /// Remove shared owner rate limits that lock people out of an organization.
    #[command(
        long_about = "Remove shared owner rate limits (`keyward owner-limits`) of an \
            organization: by default those of its owners, with --user those of one person, \
            with --all every owner limit of the organization (people, service accounts and \
            customer ids). Prints what was removed; each removal is recorded in the \
            organization's audit log as owner_limit.delete by the operator (details: \
            break_glass).\n\n\
            A running server needs no restart: on SQLite it notices within 5 s (its owner-limit \
            cache), on PostgreSQL every node is notified at once.",
        after_help = "Examples:\n  \
            keyward admin clear-owner-limits --org my-org --data-dir /var/lib/keyward\n  \
            keyward admin clear-owner-limits --org my-org --user alice@company.com\n  \
            keyward admin clear-owner-limits --org org_… --all --json"
    )]
    ClearOwnerLimits(ClearArgs),
    /// Print a one-time link that sets a person's console password.
    #[command(
        long_about = "Print a one-time link that sets the console password of a member of an \
            organization (by default its only owner): for a first owner whose link from the \
            first start expired, or anyone locked out with no admin to ask. The link works \
            once, for 24 hours, replaces older links of the person, and is recorded in the \
            organization's audit log as password.link by the operator.",
        after_help = "Examples:\n  \
            keyward admin password-link --org my-org --data-dir /var/lib/keyward\n  \
            keyward admin password-link --org org_… --email dev@company.com --base-url https://keys.example.com"
    )]
    PasswordLink(PasswordLinkArgs),
}

#[derive(Args)]
pub struct PasswordLinkArgs {
    /// The organization: its id (org_…) or exact name
    #[arg(long, value_name = "ORG")]
    org: String,
    /// The member [default: the organization's only owner]
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Where people reach the server [default: http://127.0.0.1:8080]
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

#[derive(Args)]
pub struct OrgsArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct MintArgs {
    /// The organization: its id (org_…) or exact name
    #[arg(long, value_name = "ORG")]
    org: String,
    /// The owner to mint it for [default: the organization's only owner]
    #[arg(long, value_name = "OWNER_EMAIL")]
    email: Option<String>,
    /// The token's name
    #[arg(long, short = 'n', default_value = "break-glass token (keyward admin)")]
    name: String,
    /// When it stops working: a duration (1h, 24h, 1d, up to 365d), a preset (7d, 30d,
    /// 90d, 1y), a date, an RFC 3339 time, or never
    #[arg(long, short = 'e', value_parser = parse_lifetime, default_value = DEFAULT_TOKEN_EXPIRY)]
    expires: Expiry,
    /// Print a JSON object instead of the bare token
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("whose").args(["user", "all"])))]
pub struct ClearArgs {
    /// The organization: its id (org_…) or exact name
    #[arg(long, value_name = "ORG")]
    org: String,
    /// Only this person's limit [default: the limits of the organization's owners]
    #[arg(long, value_name = "EMAIL")]
    user: Option<String>,
    /// Every owner limit of the organization: people, service accounts and customer ids
    #[arg(long)]
    all: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

fn parse_lifetime(s: &str) -> Result<Expiry, String> {
    if let Ok(e) = Expiry::parse(s) {
        return Ok(e);
    }
    match parse_duration(s, Duration::days(365), "365d") {
        Ok(d) if d > Duration::zero() => Ok(Expiry::After(d)),
        Ok(_) => Err("must be longer than 0".to_owned()),
        Err(_) => Err(format!(
            "{s:?} is not an expiry: write a duration (1h, 24h, 1d, up to 365d), a preset (7d, 30d, 90d, 1y), a date (2027-01-01), an RFC 3339 time, or never"
        )),
    }
}

pub async fn run(
    command: AdminCommand,
    store: &dyn Store,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    match command {
        AdminCommand::Orgs(args) => orgs(store, args).await,
        AdminCommand::MintOwnerToken(args) => mint(store, clock, args).await,
        AdminCommand::ClearOwnerLimits(args) => clear(store, clock, args).await,
        AdminCommand::PasswordLink(args) => password_link(store, clock, args).await,
    }
}

async fn password_link(
    store: &dyn Store,
    clock: &dyn Clock,
    args: PasswordLinkArgs,
) -> anyhow::Result<()> {
    use keyward_server::people::links;
    let org = find_org(store, &args.org).await?;
    let person = match &args.email {
        None => pick_owner(store, &org, None).await?,
        Some(email) => {
            let wanted = email.trim().to_lowercase();
            store
                .list_members(&org.id)
                .await?
                .into_iter()
                .find(|m| m.email == wanted)
                .ok_or_else(|| anyhow::anyhow!("{email} is not a member of {}", org.name))?
        }
    };
    let code = links::issue(
        store,
        links::Issue {
            user_id: &person.user_id,
            org_id: &org.id,
            purpose: keyward_store::PasswordPurpose::Reset,
            at: clock.now(),
            lifetime: keyward_server::people::Settings::default().link_lifetime,
            actor: operator(),
            source_ip: None,
        },
    )
    .await
    .with_context(|| format!("cannot make a link in {}", org.name))?;
    println!("{}", links::url(&args.base_url, &code));
    eprintln!("One-time link for {} (valid for 24 hours).", person.email);
    Ok(())
}

/// The operator as the audit log names them: `operator <os-user>@<host> (keyward admin)`.
pub fn operator() -> Actor {
    Actor {
        actor_type: "operator".into(),
        id: None,
        name: format!("operator {}@{} (keyward admin)", os_user(), host_name()),
        // No key: the store checks no acting key, as for other system changes.
        key_id: None,
        authority: None,
    }
}

/// The operator's account name: from the process's real user id where the system says
/// (not from `$USER`, which anyone can set), else the environment.
fn os_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
                p.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
                })
            });
            return name.unwrap_or_else(|| format!("uid{uid}"));
        }
    }
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(u) = std::env::var(var).ok().filter(|u| !u.trim().is_empty()) {
            return u
                .trim()
                .chars()
                .filter(|c| c.is_alphanumeric() || "._-".contains(*c))
                .collect();
        }
    }
    "unknown".to_owned()
}

fn host_name() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| {
            std::process::Command::new("hostname")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// An organization by id or exact name.
async fn find_org(store: &dyn Store, wanted: &str) -> anyhow::Result<Organization> {
    let wanted = wanted.trim();
    let all = store.list_orgs().await?;
    if let Some(org) = all.iter().find(|o| o.id == wanted) {
        return Ok(org.clone());
    }
    let named: Vec<&Organization> = all.iter().filter(|o| o.name == wanted).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no organization has the id or name {wanted:?} in this database; `keyward admin orgs` lists them (check --data-dir or --database-url)"
        ),
        many => bail!(
            "{} organizations are named {wanted:?} ({}); name it by its id",
            many.len(),
            many.iter()
                .map(|o| o.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn emails(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| m.email.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn orgs(store: &dyn Store, args: OrgsArgs) -> anyhow::Result<()> {
    let all = store.list_orgs().await?;
    let mut rows = Vec::with_capacity(all.len());
    for org in all {
        let owners = store.list_owners(&org.id).await?;
        rows.push((org, owners));
    }
    if args.json {
        let data: Vec<serde_json::Value> = rows
            .iter()
            .map(|(org, owners)| {
                json!({
                    "id": org.id, "name": org.name, "created_at": org.created_at,
                    "owners": owners.iter()
                        .map(|m| json!({ "user_id": m.user_id, "email": m.email }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        output::print_json(&json!({ "data": data }));
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "No organizations: the database is empty (`keyward bootstrap` creates the first)."
        );
        return Ok(());
    }
    let now = Utc::now();
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|(org, owners)| {
            vec![
                Cell::new(&org.id),
                Cell::new(&org.name),
                Cell::new(format!(
                    "{} ({})",
                    output::absolute(org.created_at),
                    output::relative(org.created_at, now)
                )),
                Cell::new(if owners.is_empty() {
                    "(none)".to_owned()
                } else {
                    emails(owners)
                }),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            Style::stdout(),
            &["ID", "NAME", "CREATED", "OWNERS"],
            &cells
        )
    );
    Ok(())
}

/// The owner of `org` to mint for: the one named, else the only one.
async fn pick_owner(
    store: &dyn Store,
    org: &Organization,
    email: Option<&str>,
) -> anyhow::Result<Member> {
    let owners = store.list_owners(&org.id).await?;
    match email.map(str::trim) {
        Some(email) => {
            if let Some(owner) = owners.iter().find(|m| m.email.eq_ignore_ascii_case(email)) {
                return Ok(owner.clone());
            }
            let members = store.list_members(&org.id).await?;
            match members.iter().find(|m| m.email.eq_ignore_ascii_case(email)) {
                Some(m) => bail!(
                    "{} is a member of {} but not an owner (role {}); its owners: {}",
                    m.email,
                    org.name,
                    m.role.as_str(),
                    emails(&owners)
                ),
                None => bail!(
                    "{email} is not an owner of {} ({}); its owners: {}",
                    org.name,
                    org.id,
                    if owners.is_empty() {
                        "none".to_owned()
                    } else {
                        emails(&owners)
                    }
                ),
            }
        }
        None => match owners.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("{} ({}) has no owner to mint a token for", org.name, org.id),
            many => bail!(
                "{} has {} owners ({}); pick one with --email",
                org.name,
                many.len(),
                emails(many)
            ),
        },
    }
}

async fn mint(store: &dyn Store, clock: &dyn Clock, args: MintArgs) -> anyhow::Result<()> {
    let name = Name::parse(&args.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let org = find_org(store, &args.org).await?;
    let owner = pick_owner(store, &org, args.email.as_deref()).await?;
    let now = clock.now();
    let expires_at = args
        .expires
        .resolve(now)
        .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
    let actor = operator();
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    let key = NewKey {
        owner: Some(Owner::User {
            id: owner.user_id.clone(),
            name: owner.email.clone(),
        }),
        permissions: PermissionSet::all(),
        expires_at,
        exempt_from_limits: true,
        ..NewKey::for_plain(&plain, &org.id, name.to_string(), now, actor.name.clone())
    };
    let audit = NewAuditEvent {
        org_id: org.id.clone(),
        at: now,
        actor: actor.clone(),
        action: "key.create".into(),
        target_type: "key".into(),
        target_id: key.id.clone(),
        source_ip: None,
        details: json!({
            "break_glass": true,
            "name": key.name, "kind": KeyKind::Personal, "prefix": key.prefix,
            "owner": { "user_id": owner.user_id, "email": owner.email },
            "permissions": key.permissions, "scope": key.scope, "expires_at": expires_at,
            "exempt_from_limits": true,
        }),
    };
    let record = store
        .create_key(key, audit)
        .await
        .with_context(|| format!("cannot create the token in {}", org.name))?;
    let expires = match expires_at {
        None => "never expires".to_owned(),
        Some(at) => format!("expires {}", output::both(at, now)),
    };
    if args.json {
        let out = json!({
            "token": plain.expose_secret(),
            "key_id": record.id,
            "prefix": record.prefix,
            "name": record.name,
            "org": { "id": org.id, "name": org.name },
            "owner": { "user_id": owner.user_id, "email": owner.email },
            "expires_at": expires_at,
            "audit_actor": actor.name,
        });
        println!("{out}");
    } else {
        println!("{}", plain.expose_secret());
    }
    eprintln!(
        "Minted \"{}\" ({}) for {}, owner of {} ({}): every permission, exempt from the key limits, {expires}.",
        record.name, record.id, owner.email, org.name, org.id
    );
    eprintln!(
        "Recorded in the organization's audit log as key.create by {}.",
        actor.name
    );
    eprintln!("It works at once, also on a running server. Revoke it when you are done: keyward keys revoke {} --yes", record.id);
    eprintln!("{}", crate::cli::once::NOTICE);
    Ok(())
}

async fn clear(store: &dyn Store, clock: &dyn Clock, args: ClearArgs) -> anyhow::Result<()> {
    let org = find_org(store, &args.org).await?;
    let members = store.list_members(&org.id).await?;
    let limits = store.list_owner_limits(&org.id).await?;
    let (whose, chosen): (String, Vec<OwnerLimit>) = if args.all {
        (format!("any owner in {}", org.name), limits)
    } else if let Some(email) = args.user.as_deref().map(str::trim) {
        let user_id = match members.iter().find(|m| m.email.eq_ignore_ascii_case(email)) {
            Some(m) => m.user_id.clone(),
            None => match store.find_user_by_email(email).await? {
                Some(id) => id,
                None => match store.find_user_by_email(&email.to_lowercase()).await? {
                    Some(id) => id,
                    None => bail!("no person has the email {email:?} in this database"),
                },
            },
        };
        (
            email.to_owned(),
            limits
                .into_iter()
                .filter(|l| l.owner_type == "user" && l.owner_id == user_id)
                .collect(),
        )
    } else {
        let owners = store.list_owners(&org.id).await?;
        (
            format!("the owners of {} ({})", org.name, emails(&owners)),
            limits
                .into_iter()
                .filter(|l| {
                    l.owner_type == "user" && owners.iter().any(|o| o.user_id == l.owner_id)
                })
                .collect(),
        )
    };
    let actor = operator();
    let now = clock.now();
    let mut removed = Vec::new();
    for limit in chosen {
        let audit = NewAuditEvent {
            org_id: org.id.clone(),
            at: now,
            actor: actor.clone(),
            action: "owner_limit.delete".into(),
            target_type: limit.owner_type.clone(),
            target_id: limit.owner_id.clone(),
            source_ip: None,
            details: json!({ "break_glass": true, "ratelimit": limit.ratelimit }),
        };
        store
            .set_owner_limit(
                &org.id,
                &limit
                    .owner()
                    .context("an owner limit of an unknown owner type")?,
                None,
                audit,
            )
            .await
            .with_context(|| {
                format!(
                    "cannot remove the limit of {} {}",
                    limit.owner_type, limit.owner_id
                )
            })?;
        removed.push(limit);
    }
    let label = |l: &OwnerLimit| match members
        .iter()
        .find(|m| l.owner_type == "user" && m.user_id == l.owner_id)
    {
        Some(m) => format!("user {} ({})", m.email, m.user_id),
        None => format!("{} {}", l.owner_type, l.owner_id),
    };
    if args.json {
        output::print_json(&json!({
            "org": { "id": org.id, "name": org.name },
            "removed": removed,
            "audit_actor": actor.name,
        }));
    } else if removed.is_empty() {
        println!("No shared owner rate limits of {whose} to remove.");
    } else {
        for l in &removed {
            println!(
                "Removed the shared rate limit {} of {}.",
                crate::cli::text::ratelimit_text(&l.ratelimit),
                label(l)
            );
        }
    }
    if !removed.is_empty() {
        eprintln!(
            "Recorded in the audit log of {} as owner_limit.delete by {}.",
            org.name, actor.name
        );
        eprintln!("{SERVER_NOTES}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_durations_presets_dates_and_never() {
        assert_eq!(
            parse_lifetime("24h").unwrap(),
            Expiry::After(Duration::hours(24))
        );
        assert_eq!(
            parse_lifetime("1d").unwrap(),
            Expiry::After(Duration::days(1))
        );
        assert_eq!(
            parse_lifetime("90d").unwrap(),
            Expiry::After(Duration::days(90))
        );
        assert_eq!(parse_lifetime("never").unwrap(), Expiry::Never);
        assert!(matches!(
            parse_lifetime("2030-01-01").unwrap(),
            Expiry::At(_)
        ));
        assert!(parse_lifetime("0").is_err());
        assert!(parse_lifetime("soon").unwrap_err().contains("never"));
        assert!(parse_lifetime("400d").is_err());
    }

    #[test]
    fn the_operator_has_no_key_and_a_name() {
        let actor = operator();
        assert_eq!(actor.actor_type, "operator");
        assert_eq!(actor.key_id, None);
        assert!(
            actor.name.starts_with("operator ") && actor.name.contains('@'),
            "{}",
            actor.name
        );
        assert!(actor.name.ends_with(" (keyward admin)"), "{}", actor.name);
    }
}
