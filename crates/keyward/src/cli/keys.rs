//! `keyward keys create|list|show|edit|revoke|rotate|usage|verify`.
//!
//! A key is named on the command line by its id (`key_…`), its visible prefix
//! (`kw_pat_kcnl`) or its name. A full raw key is refused before anything is sent, so
//! it does not end up in error messages or listings.

use super::context::{ConnArgs, Context, Resolved};
use super::failure::Failure;
use super::limits::{parse_quota, parse_ratelimit};
use super::output::{self, Cell, Color, Style};
use super::usage;
use super::CmdResult;
use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use keyward_client::{
    ApiKey, Client, CreateKey, Environment, Granularity, KeyKind, KeyStatus, KeyView, ListParams,
    Permissions, Quota, RateLimit, ResourceKind, RotateKey, Scope, UpdateKey, UsageParams,
    VerifyOptions,
};
use serde_json::json;
use std::io::IsTerminal;

/// How many pages `keys list --all` and name lookups read at most.
const MAX_PAGES: usize = 1000;

#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once.
    #[command(
        long_about = "Create a key and print it once.\n\n\
            On a terminal the key is printed with its details; when stdout is not a terminal \
            only the key is printed on stdout (details and the notice go to stderr), so \
            `KEY=$(keyward keys create --name ci)` just works. The key cannot be shown again.",
        after_help = "Examples:\n  \
            keyward keys create --name \"CI pipeline\" --expires 90d --read-only\n  \
            keyward keys create --name deploy --permission keys:read --permission audit:read\n  \
            keyward keys create --name acme --kind api --environment test --owner cus_123 --metadata plan=pro\n  \
            keyward keys create --name support-bot --agent support-bot --permission channels:read\n  \
            keyward keys create --name mac-worker --kind worker --workspace production\n  \
            keyward keys create --name gateway --kind api --owner cus_123 --ratelimit 100/1m --quota 10000/monthly\n  \
            KEY=$(keyward keys create --name worker --expires 2027-01-01)"
    )]
    Create(CreateArgs),
    /// List the organization's keys, newest first.
    #[command(after_help = "Examples:\n  \
        keyward keys list\n  \
        keyward keys list --active --limit 10\n  \
        keyward keys list --all --json | jq -r '.data[].id'")]
    List(ListArgs),
    /// Show one key's details.
    #[command(after_help = "Examples:\n  \
        keyward keys show key_4kQ0…\n  \
        keyward keys show kw_pat_kcnl\n  \
        keyward keys show \"CI pipeline\" --json")]
    Show(KeyRef),
    /// Change a key's name, permissions, scope (the scope level is fixed), rate limit or quota.
    #[command(after_help = "Examples:\n  \
        keyward keys edit key_4kQ0… --name \"CI pipeline (old)\"\n  \
        keyward keys edit key_4kQ0… --read-only\n  \
        keyward keys edit key_4kQ0… --workspaces ws_a,ws_b\n  \
        keyward keys edit key_4kQ0… --ratelimit 100/1m --quota 10000/monthly\n  \
        keyward keys edit key_4kQ0… --no-ratelimit --no-quota")]
    Edit(EditArgs),
    /// Revoke a key at once and for good.
    #[command(
        long_about = "Revoke a key at once and for good: every request with it fails from now on.\n\n\
            Asks for confirmation; pass --yes when stdin is not a terminal (scripts, CI).",
        after_help = "Examples:\n  \
            keyward keys revoke key_4kQ0…\n  \
            keyward keys revoke kw_pat_kcnl --yes"
    )]
    Revoke(RevokeArgs),
    /// Switch a key off until it is enabled again: verify answers DISABLED.
    #[command(
        long_about = "Switch a key off until `keyward keys enable` switches it back on: \
            verify answers DISABLED and the key cannot call Keyward meanwhile. Unlike \
            revoking, it can be undone.",
        after_help = "Examples:\n  \
            keyward keys disable key_4kQ0…\n  \
            keyward keys disable kw_live_x7Qa"
    )]
    Disable(KeyRef),
    /// Switch a disabled key back on.
    #[command(after_help = "Examples:\n  \
        keyward keys enable key_4kQ0…")]
    Enable(KeyRef),
    /// Replace a key with a new one of the same name and permissions; print it once.
    #[command(
        long_about = "Replace a key with a new one of the same name, scope and permissions, \
            and print the new key once (only the key on stdout when it is not a terminal). \
            The old key keeps working for --grace (default 0: it is revoked now), never \
            beyond its own expiry.",
        after_help = "Examples:\n  \
            keyward keys rotate key_4kQ0…\n  \
            keyward keys rotate kw_pat_kcnl --grace 24h --expires 90d"
    )]
    Rotate(RotateArgs),
    /// A key's verifications and API calls over time, with its rate limit and quota use.
    #[command(
        long_about = "A key's verifications (valid and denied) and API calls over time, as a \
            chart with one row per minute, hour or day, then the totals and how much of the \
            key's rate limit, its owner's shared rate limit and its quota are used. With \
            --json, the server's report (GET /v1/keys/{id}/usage).",
        after_help = "Examples:\n  \
            keyward keys usage \"CI pipeline\"                     # the last 24 hours, by hour\n  \
            keyward keys usage key_4kQ0… --from 7d --granularity day\n  \
            keyward keys usage kw_live_ab12 --from 1h --granularity minute\n  \
            keyward keys usage key_4kQ0… --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --json"
    )]
    Usage(UsageArgs),
    /// Ask the server whether a raw key is valid, as your services do.
    #[command(
        long_about = "Ask the server whether a raw key is valid (POST /v1/keys/verify), optionally \
            for a permission, a workspace, an agent or a channel, and spend quota credits as \
            your services do. Prints the answer's code and details; exits 0 for VALID and 1 \
            for any other code (MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN, \
            CHANNEL_NOT_FOUND, INSUFFICIENT_PERMISSIONS, RATE_LIMITED, QUOTA_EXCEEDED).\n\n\
            Pass - instead of the key to read it from stdin (or a hidden prompt), so it stays \
            out of your shell history. The key is never printed back. Verifying counts as a use \
            of the key: it spends its rate limit and quota like any other verification.",
        after_help = "Examples:\n  \
            echo \"$KEY\" | keyward keys verify -\n  \
            keyward keys verify - --permission orders:read --workspace ws_…\n  \
            keyward keys verify - --channel hook_… --cost 0\n  \
            keyward keys verify - --json < key.txt | jq -r .code"
    )]
    Verify(VerifyArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum GranularityArg {
    Minute,
    Hour,
    Day,
}

#[derive(Args)]
pub struct UsageArgs {
    #[command(flatten)]
    key: KeyRef,
    /// Start: RFC 3339, a date, or a time ago (24h, 7d) [default: 24 hours before --to]
    #[arg(long, value_name = "TIME", value_parser = usage::parse_time)]
    from: Option<chrono::DateTime<Utc>>,
    /// End: RFC 3339, a date, now, or a time ago (1h) [default: now]
    #[arg(long, value_name = "TIME", value_parser = usage::parse_time)]
    to: Option<chrono::DateTime<Utc>>,
    /// The size of a row
    #[arg(long, value_enum, default_value = "hour")]
    granularity: GranularityArg,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The raw key to check, or - to read it from stdin
    #[arg(value_name = "RAW_KEY")]
    key: String,
    /// A permission the key must hold, e.g. orders:read
    #[arg(long, short = 'p', value_name = "PERMISSION", value_parser = parse_permission)]
    permission: Option<String>,
    /// A workspace id the key's scope must reach
    #[arg(long, value_name = "WORKSPACE")]
    workspace: Option<String>,
    /// An agent id the key's scope must reach
    #[arg(long, value_name = "AGENT")]
    agent: Option<String>,
    /// A channel's hook id the key must reach
    #[arg(long, value_name = "HOOK")]
    channel: Option<String>,
    /// Quota credits to spend (0 checks without spending) [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    cost: Option<i64>,
}

impl std::fmt::Debug for VerifyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyArgs")
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// `--ratelimit` / `--quota` on create.
#[derive(Args)]
struct LimitArgs {
    /// Requests per period, e.g. 100/1m (period 1s … 30d) [default: the organization's default]
    #[arg(long, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit)]
    ratelimit: Option<RateLimit>,
    /// Credits verifications spend, e.g. 10000, 10000/daily or 10000/monthly [default: the organization's default]
    #[arg(long, value_name = "LIMIT[/REFILL]", value_parser = parse_quota)]
    quota: Option<Quota>,
}

#[derive(Args)]
pub struct KeyRef {
    /// The key's id (key_…), visible prefix (kw_pat_kcnl) or name
    #[arg(value_name = "KEY")]
    pub key: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Personal,
    Api,
    Worker,
    Channel,
    #[value(alias = "legacy_workspace")]
    LegacyWorkspace,
}

impl KindArg {
    fn kind(self) -> KeyKind {
        match self {
            KindArg::Personal => KeyKind::Personal,
            KindArg::Api => KeyKind::Api,
            KindArg::Worker => KeyKind::Worker,
            KindArg::Channel => KeyKind::Channel,
            KindArg::LegacyWorkspace => KeyKind::LegacyWorkspace,
        }
    }
}

/// `--workspaces` / `--agent`: what a key may reach.
#[derive(Args)]
struct ScopeArgs {
    /// Scope: only these workspaces (ids or names; comma-separated or repeated) [default: the whole organization]
    #[arg(
        long,
        value_name = "WORKSPACE",
        value_delimiter = ',',
        conflicts_with = "agent"
    )]
    workspaces: Vec<String>,
    /// Scope: one agent and its channels (id or name)
    #[arg(long, value_name = "AGENT")]
    agent: Option<String>,
}

impl ScopeArgs {
    fn scope(self) -> Option<Scope> {
        let workspaces: Vec<String> = self
            .workspaces
            .into_iter()
            .map(|w| w.trim().to_owned())
            .filter(|w| !w.is_empty())
            .collect();
        if !workspaces.is_empty() {
            Some(Scope::Workspaces { workspaces })
        } else {
            self.agent.map(|agent| Scope::Agent { agent })
        }
    }
}

/// `--all` / `--read-only` / `--permission`.
#[derive(Args)]
#[group(multiple = false)]
struct PermissionArgs {
    /// Every permission (never more than your key holds)
    #[arg(long)]
    all: bool,
    /// Read actions only (*:read)
    #[arg(long)]
    read_only: bool,
    /// A resource:action grant, e.g. keys:read; repeat for more
    #[arg(long, short = 'p', value_name = "PERMISSION", value_parser = parse_permission)]
    permission: Vec<String>,
}

impl PermissionArgs {
    fn permissions(self) -> Option<Permissions> {
        if self.all {
            Some(Permissions::all())
        } else if self.read_only {
            Some(Permissions::read_only())
        } else if !self.permission.is_empty() {
            Some(Permissions::Grants(self.permission))
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum EnvironmentArg {
    Live,
    Test,
}

#[derive(Args)]
pub struct CreateArgs {
    /// A name that makes revocation decisions obvious, e.g. "alice-macbook-worker"
    #[arg(long, short = 'n')]
    name: String,
    /// 7d, 30d, 60d, 90d, 180d, 1y, never, a date (2027-01-01) or an RFC 3339 time [default: never]
    #[arg(long, short = 'e', value_parser = parse_expiry)]
    expires: Option<String>,
    #[command(flatten)]
    permissions: PermissionArgs,
    #[command(flatten)]
    scope: ScopeArgs,
    /// personal (your own token), api (for one of your customers), worker (needs --workspace), channel (needs --channel), legacy-workspace
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// For worker and legacy-workspace keys: the workspace the key is bound to (id or name)
    #[arg(long, value_name = "WORKSPACE")]
    workspace: Option<String>,
    /// For channel tokens: the channel id
    #[arg(long, value_name = "CHANNEL")]
    channel: Option<String>,
    /// For api keys: live or test [default: live]
    #[arg(long, value_enum)]
    environment: Option<EnvironmentArg>,
    /// For api keys: your identifier of the customer the key belongs to
    #[arg(long)]
    owner: Option<String>,
    /// KEY=VALUE returned by verify; repeat for more
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_metadata)]
    metadata: Vec<(String, String)>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Create the key switched off: it is refused until `keyward keys enable`
    #[arg(long)]
    disabled: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// How many keys to show
    #[arg(long, short = 'L', default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Every key, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
    /// Only keys that still work (not revoked or expired)
    #[arg(long)]
    active: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["name", "all", "read_only", "permission", "workspaces", "agent",
        "ratelimit", "no_ratelimit", "quota", "no_quota"])))]
pub struct EditArgs {
    #[command(flatten)]
    key: KeyRef,
    /// The new name
    #[arg(long, short = 'n')]
    name: Option<String>,
    #[command(flatten)]
    permissions: PermissionArgs,
    #[command(flatten)]
    scope: ScopeArgs,
    /// A new rate limit, e.g. 100/1m (period 1s … 30d)
    #[arg(long, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit, conflicts_with = "no_ratelimit")]
    ratelimit: Option<RateLimit>,
    /// Remove the key's rate limit
    #[arg(long)]
    no_ratelimit: bool,
    /// A new quota, e.g. 10000 or 10000/monthly; its balance starts afresh
    #[arg(long, value_name = "LIMIT[/REFILL]", value_parser = parse_quota, conflicts_with = "no_quota")]
    quota: Option<Quota>,
    /// Remove the key's quota
    #[arg(long)]
    no_quota: bool,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    key: KeyRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    key: KeyRef,
    /// How long the old key keeps working: 0 (revoke now), 30m, 24h, 7d … up to 30d [default: 0]
    #[arg(long, value_parser = parse_grace)]
    grace: Option<String>,
    /// Expiry of the new key, at most the old key's lifetime from now (and, rotating
    /// another key, no later than your own key's expiry) [default: the old key's lifetime,
    /// counted from now]
    #[arg(long, short = 'e', value_parser = parse_expiry)]
    expires: Option<String>,
}

pub fn parse_expiry(s: &str) -> Result<String, String> {
    keyward_core::expiry::Expiry::parse(s)
        .map(|_| s.trim().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_grace(s: &str) -> Result<String, String> {
    keyward_core::expiry::parse_duration(s, chrono::Duration::days(30), "30d")
        .map(|_| s.trim().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_permission(s: &str) -> Result<String, String> {
    keyward_core::Permission::parse(s.trim())
        .map(|p| p.to_string())
        .map_err(|e| e.to_string())
}

fn parse_metadata(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub async fn run(ctx: &Context, command: KeysCommand) -> CmdResult {
    // Refuse before connecting: a confirmation that cannot be asked is a usage error.
    if let KeysCommand::Revoke(args) = &command {
        if !args.yes && !std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "refusing to revoke without confirmation: stdin is not a terminal",
            )
            .with_hint("pass --yes to revoke without asking"));
        }
    }
    // Read a key from stdin before anything else, so a failure to connect cannot lose it.
    let stdin_key = match &command {
        KeysCommand::Verify(args) if args.key.trim() == "-" => Some(read_key_to_verify()?),
        _ => None,
    };
    let (resolved, client) = ctx.connect()?;
    let session = Session {
        ctx,
        resolved: &resolved,
        client: &client,
    };
    match command {
        KeysCommand::Create(args) => session.create(args).await,
        KeysCommand::List(args) => session.list(args).await,
        KeysCommand::Show(args) => session.show(args).await,
        KeysCommand::Edit(args) => session.edit(args).await,
        KeysCommand::Revoke(args) => session.revoke(args).await,
        KeysCommand::Disable(args) => session.switch(args, false).await,
        KeysCommand::Enable(args) => session.switch(args, true).await,
        KeysCommand::Rotate(args) => session.rotate(args).await,
        KeysCommand::Usage(args) => session.usage(args).await,
        KeysCommand::Verify(args) => {
            let key = stdin_key.unwrap_or_else(|| ApiKey::new(args.key.as_str()));
            session.verify(&key, args).await
        }
    }
}

/// The key to verify from a hidden prompt, or from stdin when it is not a terminal.
fn read_key_to_verify() -> Result<ApiKey, Failure> {
    super::read_key(
        "Paste the key to verify (input is hidden): ",
        "no key to verify on stdin: pipe it in (echo \"$KEY\" | keyward keys verify -)",
    )
}

struct Session<'a> {
    ctx: &'a Context,
    resolved: &'a Resolved,
    client: &'a Client,
}

impl Session<'_> {
    fn fail(&self, e: keyward_client::Error) -> Failure {
        Failure::client(&e, self.resolved)
    }

    /// Finds a key by id, visible prefix or name.
    async fn find(&self, reference: &str) -> Result<KeyView, Failure> {
        let reference = reference.trim();
        // A whole key (even one with a typo) is longer than any visible prefix.
        let looks_like_a_key = reference.starts_with("kw_") && reference.len() > 24;
        if looks_like_a_key || keyward_client::offline_check(reference).is_ok() {
            return Err(Failure::usage(
                "that is a full API key, not a key's id: it was not sent anywhere",
            )
            .with_hint("name the key by its id (key_…) or visible prefix (kw_pat_abcd); treat the full key as exposed if you pasted it somewhere shared"));
        }
        if reference.starts_with("key_") {
            return self
                .client
                .get_key(reference)
                .await
                .map_err(|e| self.fail(e));
        }
        let wanted = reference.trim_end_matches('…').trim_end_matches("...");
        let all = self.all_keys().await?;
        let by_prefix = wanted.starts_with("kw_");
        let mut matches: Vec<KeyView> = all
            .into_iter()
            .filter(|k| {
                if by_prefix {
                    k.prefix.starts_with(wanted) || wanted.starts_with(&k.prefix)
                } else {
                    k.name == wanted
                }
            })
            .collect();
        if matches.len() > 1 {
            // A name is often reused by rotation: prefer the keys that still work.
            let active: Vec<KeyView> = matches
                .iter()
                .filter(|k| k.status == KeyStatus::Active)
                .cloned()
                .collect();
            if !active.is_empty() {
                matches = active;
            }
        }
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(Failure::new(
                super::failure::EXIT_ERROR,
                "not_found",
                format!(
                    "no key has the {} {wanted:?}",
                    if by_prefix { "prefix" } else { "name" }
                ),
            )
            .with_hint("`keyward keys list` shows every key with its id, prefix and name")),
            _ => Err(Failure::new(
                super::failure::EXIT_ERROR,
                "ambiguous",
                format!(
                    "{} keys match {wanted:?}: {}",
                    matches.len(),
                    matches
                        .iter()
                        .map(|k| format!("{} ({})", k.id, k.prefix))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint("name the key by its id")),
        }
    }

    /// A workspace's or agent's id, from its id or name.
    async fn resource_id(&self, kind: ResourceKind, wanted: &str) -> Result<String, Failure> {
        let wanted = wanted.trim();
        if wanted.starts_with(kind.id_prefix()) {
            return Ok(wanted.to_owned());
        }
        let all = self
            .client
            .list_resources(kind)
            .await
            .map_err(|e| self.fail(e))?;
        let found: Vec<_> = all.iter().filter(|r| r.name == wanted).collect();
        match found.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(Failure::new(
                super::failure::EXIT_ERROR,
                "not_found",
                format!("no {} has the id or name {wanted:?}", kind.singular()),
            )
            .with_hint(format!("`keyward {} list` shows them", kind.plural()))),
            _ => Err(Failure::new(
                super::failure::EXIT_ERROR,
                "ambiguous",
                format!("several {} are named {wanted:?}; use the id", kind.plural()),
            )),
        }
    }

    /// The scope with workspace and agent names replaced by their ids.
    async fn scope_ids(&self, scope: Option<Scope>) -> Result<Option<Scope>, Failure> {
        Ok(match scope {
            Some(Scope::Workspaces { workspaces }) => {
                let mut ids = Vec::new();
                for w in &workspaces {
                    ids.push(self.resource_id(ResourceKind::Workspace, w).await?);
                }
                Some(Scope::Workspaces { workspaces: ids })
            }
            Some(Scope::Agent { agent }) => Some(Scope::Agent {
                agent: self.resource_id(ResourceKind::Agent, &agent).await?,
            }),
            other => other,
        })
    }

    async fn all_keys(&self) -> Result<Vec<KeyView>, Failure> {
        let mut out = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .list_keys(&ListParams {
                    limit: Some(100),
                    cursor,
                })
                .await
                .map_err(|e| self.fail(e))?;
            out.extend(page.data);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn create(&self, args: CreateArgs) -> CmdResult {
        let metadata = (!args.metadata.is_empty()).then(|| {
            args.metadata
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect()
        });
        let req = CreateKey {
            name: args.name,
            expires: args.expires,
            permissions: args.permissions.permissions(),
            kind: args.kind.map(KindArg::kind),
            scope: self.scope_ids(args.scope.scope()).await?,
            workspace: match args.workspace {
                Some(w) => Some(self.resource_id(ResourceKind::Workspace, &w).await?),
                None => None,
            },
            channel: args.channel,
            environment: args.environment.map(|e| match e {
                EnvironmentArg::Live => Environment::Live,
                EnvironmentArg::Test => Environment::Test,
            }),
            owner: args.owner,
            metadata,
            ratelimit: args.limits.ratelimit,
            quota: args.limits.quota,
            enabled: args.disabled.then_some(false),
        };
        let created = self
            .client
            .create_key(&req)
            .await
            .map_err(|e| self.fail(e))?;
        let what = format!(
            "Created {} \"{}\" ({})",
            kind_noun(created.details.kind),
            created.details.name,
            created.details.id
        );
        self.show_new_key(&created.key, &created.details, &what, None)
    }

    /// Prints a new key once (see [`super::once`]).
    fn show_new_key(
        &self,
        key: &ApiKey,
        details: &KeyView,
        what: &str,
        previous: Option<&KeyView>,
    ) -> CmdResult {
        show_new_key(self.ctx.json(), key, details, what, previous)
    }

    async fn list(&self, args: ListArgs) -> CmdResult {
        let wanted = if args.all {
            usize::MAX
        } else {
            args.limit as usize
        };
        let mut keys = Vec::new();
        let mut cursor = args.cursor;
        for _ in 0..MAX_PAGES {
            let page_size = (wanted - keys.len()).min(100) as u32;
            let page = self
                .client
                .list_keys(&ListParams {
                    limit: Some(page_size),
                    cursor: cursor.take(),
                })
                .await
                .map_err(|e| self.fail(e))?;
            keys.extend(page.data);
            cursor = page.next_cursor;
            if cursor.is_none() || keys.len() >= wanted {
                break;
            }
        }
        if args.active {
            keys.retain(|k| k.status == KeyStatus::Active);
        }
        if self.ctx.json() {
            output::print_json(&json!({ "data": keys, "next_cursor": cursor }));
            return Ok(());
        }
        if keys.is_empty() {
            println!("No keys. Create one with `keyward keys create --name NAME`.");
        } else {
            let now = Utc::now();
            let style = Style::stdout();
            let rows: Vec<Vec<Cell>> = keys
                .iter()
                .map(|k| {
                    vec![
                        Cell::new(&k.id),
                        Cell::new(&k.name),
                        Cell::colored(format!("{}…", k.prefix), Color::Cyan),
                        Cell::new(k.kind.as_str()),
                        Cell::new(scope_text(&k.scope)),
                        Cell::new(output::permissions(&k.permissions)),
                        status_cell(k.status),
                        Cell::new(output::relative(k.created_at, now)),
                        Cell::new(
                            k.last_used_at
                                .map(|t| output::relative(t, now))
                                .unwrap_or_else(|| "never".into()),
                        ),
                        Cell::new(expiry_text(k, now)),
                        Cell::new(limits_text(k)),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    style,
                    &[
                        "ID",
                        "NAME",
                        "PREFIX",
                        "KIND",
                        "SCOPE",
                        "PERMISSIONS",
                        "STATUS",
                        "CREATED",
                        "LAST USED",
                        "EXPIRES",
                        "LIMITS"
                    ],
                    &rows
                )
            );
        }
        if let Some(c) = cursor {
            output::note(&format!(
                "More keys: keyward keys list --cursor {c}   (or --all)"
            ));
        }
        Ok(())
    }

    async fn show(&self, args: KeyRef) -> CmdResult {
        let key = self.find(&args.key).await?;
        if self.ctx.json() {
            output::print_json(&key);
        } else {
            print_key(&key);
        }
        Ok(())
    }

    async fn edit(&self, args: EditArgs) -> CmdResult {
        let key = self.find(&args.key.key).await?;
        let update = UpdateKey {
            name: args.name,
            permissions: args.permissions.permissions(),
            scope: self.scope_ids(args.scope.scope()).await?,
            ratelimit: if args.no_ratelimit {
                Some(None)
            } else {
                args.ratelimit.map(Some)
            },
            quota: if args.no_quota {
                Some(None)
            } else {
                args.quota.map(Some)
            },
            enabled: None,
        };
        let updated = self
            .client
            .update_key(&key.id, &update)
            .await
            .map_err(|e| self.fail(e))?;
        if self.ctx.json() {
            output::print_json(&updated);
        } else {
            let mut changes = Vec::new();
            if updated.name != key.name {
                changes.push(format!("name \"{}\" → \"{}\"", key.name, updated.name));
            }
            if updated.permissions != key.permissions {
                changes.push(format!(
                    "permissions {} → {}",
                    output::permissions(&key.permissions),
                    output::permissions(&updated.permissions)
                ));
            }
            if updated.scope != key.scope {
                changes.push(format!(
                    "scope {} → {}",
                    scope_text(&key.scope),
                    scope_text(&updated.scope)
                ));
            }
            if updated.ratelimit != key.ratelimit {
                changes.push(format!(
                    "rate limit {} → {}",
                    usage::ratelimit_or_none(key.ratelimit.as_ref()),
                    usage::ratelimit_or_none(updated.ratelimit.as_ref())
                ));
            }
            if args.quota.is_some() || updated.quota != key.quota {
                changes.push(format!(
                    "quota {} → {}{}",
                    usage::quota_or_none(key.quota.as_ref()),
                    usage::quota_or_none(updated.quota.as_ref()),
                    if updated.quota.is_some() {
                        " (balance restarted)"
                    } else {
                        ""
                    }
                ));
            }
            if changes.is_empty() {
                changes.push("nothing changed".to_owned());
            }
            println!(
                "Updated {} ({}…): {}.",
                updated.id,
                updated.prefix,
                changes.join("; ")
            );
        }
        Ok(())
    }

    /// Warns when the key a command changed is the one it authenticated with.
    fn warn_if_own_key(&self, prefix: &str, what_now: &str) {
        if self.resolved.key.visible_prefix().as_deref() == Some(prefix) {
            output::warn(&format!(
                "that was the key this command used (from {}){what_now}",
                self.resolved.source.describe()
            ));
        }
    }

    /// `keys disable` (`enabled` false) and `keys enable` (true).
    async fn switch(&self, args: KeyRef, enabled: bool) -> CmdResult {
        let key = self.find(&args.key).await?;
        let updated = self
            .client
            .update_key(
                &key.id,
                &UpdateKey {
                    enabled: Some(enabled),
                    ..UpdateKey::default()
                },
            )
            .await
            .map_err(|e| self.fail(e))?;
        if !enabled {
            self.warn_if_own_key(
                &updated.prefix,
                "; enable it again with another key, or log in with another key",
            );
        }
        if self.ctx.json() {
            output::print_json(&updated);
            return Ok(());
        }
        let style = Style::stdout();
        let (mark, what, effect) = match (key.enabled, enabled) {
            (true, false) => ("⏸", "Disabled", ": it is refused until enabled again"),
            (false, true) => ("✓", "Enabled", ": it works again"),
            (false, false) => ("⏸", "Already disabled:", ""),
            (true, true) => ("✓", "Already enabled:", ""),
        };
        let color = if enabled { Color::Green } else { Color::Yellow };
        println!(
            "{} {what} \"{}\" ({}, {}…){effect}",
            style.paint(color, mark),
            updated.name,
            updated.id,
            updated.prefix
        );
        if enabled && updated.status != KeyStatus::Active {
            output::warn(&format!(
                "enabled, but the key is {}: it still cannot be used",
                status_word(updated.status)
            ));
        }
        Ok(())
    }

    async fn revoke(&self, args: RevokeArgs) -> CmdResult {
        let key = self.find(&args.key.key).await?;
        if key.status == KeyStatus::Revoked {
            return Err(Failure::new(
                super::failure::EXIT_ERROR,
                "key_revoked",
                format!("{} ({}…) is already revoked", key.id, key.prefix),
            ));
        }
        super::confirm_or_cancel(
            args.yes,
            &format!(
                "Revoke \"{}\" ({}, {}…)? Everything using it loses access immediately; this cannot be undone.",
                key.name,
                key.id,
                Style::stderr().paint(Color::Cyan, &key.prefix)
            ),
            "not revoked: the revocation was not confirmed",
        )?;
        let revoked = self
            .client
            .revoke_key(&key.id)
            .await
            .map_err(|e| self.fail(e))?;
        if self.ctx.json() {
            output::print_json(&revoked);
        } else {
            let style = Style::stdout();
            println!(
                "{} Revoked \"{}\" ({}, {}…): it stopped working now.",
                style.paint(Color::Red, "✗"),
                revoked.name,
                revoked.id,
                revoked.prefix
            );
        }
        self.warn_if_own_key(&revoked.prefix, "; log in with another key");
        Ok(())
    }

    async fn rotate(&self, args: RotateArgs) -> CmdResult {
        let key = self.find(&args.key.key).await?;
        let rotated = self
            .client
            .rotate_key(
                &key.id,
                &RotateKey {
                    grace: args.grace,
                    expires: args.expires,
                },
            )
            .await
            .map_err(|e| self.fail(e))?;
        let what = format!(
            "Rotated \"{}\": new key {} replaces {}",
            rotated.details.name, rotated.details.id, rotated.previous.id
        );
        self.show_new_key(
            &rotated.key,
            &rotated.details,
            &what,
            Some(&rotated.previous),
        )?;
        self.warn_if_own_key(
            &rotated.previous.prefix,
            ": run `keyward auth login` with the new key",
        );
        Ok(())
    }
}

impl Session<'_> {
    async fn usage(&self, args: UsageArgs) -> CmdResult {
        if let (Some(from), Some(to)) = (args.from, args.to) {
            if from >= to {
                return Err(Failure::usage(format!(
                    "--from ({}) must be before --to ({})",
                    output::absolute(from),
                    output::absolute(to)
                )));
            }
        }
        let key = self.find(&args.key.key).await?;
        let params = UsageParams {
            from: args.from,
            to: args.to,
            granularity: Some(match args.granularity {
                GranularityArg::Minute => Granularity::Minute,
                GranularityArg::Hour => Granularity::Hour,
                GranularityArg::Day => Granularity::Day,
            }),
        };
        let report = self
            .client
            .key_usage(&key.id, &params)
            .await
            .map_err(|e| self.fail(e))?;
        if self.ctx.json() {
            output::print_json(&report);
        } else {
            let label = format!("\"{}\" ({}, {}…)", key.name, key.id, key.prefix);
            print!("{}", usage::render_report(Style::stdout(), &report, &label));
        }
        Ok(())
    }

    async fn verify(&self, key: &ApiKey, args: VerifyArgs) -> CmdResult {
        let options = VerifyOptions {
            permission: args.permission,
            workspace: args.workspace,
            agent: args.agent,
            channel: args.channel,
            cost: args.cost,
        };
        let answer = self
            .client
            .verify_with(key, &options)
            .await
            .map_err(|e| self.fail(e))?;
        let now = Utc::now();
        if self.ctx.json() {
            output::print_json(&answer);
        } else if answer.valid {
            print!("{}", usage::valid_report(Style::stdout(), &answer, now));
        } else {
            println!("{}", usage::denied_line(Style::stdout(), &answer, now));
        }
        if answer.valid {
            Ok(())
        } else {
            // The answer was printed: exit 1 without an error line.
            Err(Failure::new(
                super::failure::EXIT_ERROR,
                &answer.code,
                answer.message.clone().unwrap_or_default(),
            )
            .quiet())
        }
    }
}

/// Prints a new key once: details and key on a terminal, only the key when piped,
/// everything with `--json`; the notice on stderr.
pub fn show_new_key(
    json_mode: bool,
    key: &ApiKey,
    details: &KeyView,
    what: &str,
    previous: Option<&KeyView>,
) -> CmdResult {
    let now = Utc::now();
    let expires = details
        .expires_at
        .map(|at| output::both(at, now))
        .unwrap_or_else(|| "never".to_owned());
    let previous_line = previous.map(|p| match (p.revoked_at, p.expires_at) {
        (Some(_), _) => format!("The old key {}… was revoked.", p.prefix),
        (None, Some(at)) => format!(
            "The old key {}… keeps working until {} ({}).",
            p.prefix,
            output::absolute(at),
            output::relative(at, now)
        ),
        (None, None) => format!("The old key {}… still works.", p.prefix),
    });
    let mut json = serde_json::to_value(details).map_err(anyhow::Error::from)?;
    json["key"] = serde_json::json!(key.expose_secret());
    if let Some(p) = previous {
        json["previous"] = serde_json::to_value(p).map_err(anyhow::Error::from)?;
    }
    let mut fields = vec![("Permissions", output::permissions(&details.permissions))];
    if details.scope != Scope::Organization {
        fields.push(("Scope", scope_text(&details.scope)));
    }
    if let Some(r) = &details.ratelimit {
        fields.push(("Rate limit", super::limits::ratelimit_text(r)));
    }
    if let Some(q) = &details.quota {
        fields.push(("Quota", super::limits::quota_text(q)));
    }
    fields.push(("Expires", expires));
    super::once::print(
        json_mode,
        key,
        super::once::Shown {
            heading: what.to_owned(),
            fields,
            after: previous_line.into_iter().collect(),
            key_label: None,
            notice: super::once::NOTICE,
            json,
        },
    );
    Ok(())
}

/// `organization`, `workspaces ws_a, ws_b`, `agent agt_x`.
pub fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::Organization => "organization".to_owned(),
        Scope::Workspaces { workspaces } => format!("workspaces {}", workspaces.join(", ")),
        Scope::Agent { agent } => format!("agent {agent}"),
    }
}

fn kind_noun(kind: KeyKind) -> &'static str {
    super::auth::kind_label(kind)
}

fn status_cell(status: KeyStatus) -> Cell {
    Cell::colored(status_word(status), status_color(status))
}

fn status_word(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Expired => "expired",
        KeyStatus::Revoked => "revoked",
    }
}

fn status_color(status: KeyStatus) -> Color {
    match status {
        KeyStatus::Active => Color::Green,
        KeyStatus::Disabled | KeyStatus::Expired => Color::Yellow,
        KeyStatus::Revoked => Color::Red,
    }
}

fn expiry_text(k: &KeyView, now: chrono::DateTime<Utc>) -> String {
    match k.expires_at {
        None => "never".to_owned(),
        Some(at) => output::relative(at, now),
    }
}

/// `100/1m, quota 10000/monthly`, or `-`.
fn limits_text(k: &KeyView) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &k.ratelimit {
        parts.push(super::limits::ratelimit_text(r));
    }
    if let Some(q) = &k.quota {
        parts.push(format!("quota {}", super::limits::quota_text(q)));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

fn print_key(k: &KeyView) {
    let now = Utc::now();
    let style = Style::stdout();
    let opt = |t: Option<chrono::DateTime<Utc>>| t.map(|t| output::both(t, now));
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", k.id.clone()),
        ("Name", k.name.clone()),
        ("Prefix", format!("{}…", k.prefix)),
        ("Kind", k.kind.as_str().to_owned()),
    ];
    if k.kind == KeyKind::Api {
        rows.push(("Environment", k.environment.as_str().to_owned()));
    }
    if let Some(owner) = &k.owner {
        rows.push(("Owner", format!("{} ({})", owner.label(), owner.type_str())));
    }
    rows.push(("Scope", scope_text(&k.scope)));
    if let Some(w) = &k.workspace {
        rows.push(("Workspace", w.clone()));
    }
    if let Some(c) = &k.channel {
        rows.push(("Channel", c.clone()));
    }
    rows.push((
        "Permissions",
        format!(
            "{} ({})",
            output::permissions(&k.permissions),
            k.permissions.join(", ")
        ),
    ));
    rows.push(("Rate limit", usage::ratelimit_or_none(k.ratelimit.as_ref())));
    rows.push(("Quota", usage::quota_or_none(k.quota.as_ref())));
    rows.push((
        "Status",
        style.paint(status_color(k.status), status_word(k.status)),
    ));
    rows.push((
        "Created",
        format!("{} by {}", output::both(k.created_at, now), k.created_by),
    ));
    rows.push((
        "Last used",
        opt(k.last_used_at).unwrap_or_else(|| "never".into()),
    ));
    rows.push((
        "Expires",
        opt(k.expires_at).unwrap_or_else(|| "never".into()),
    ));
    if let Some(at) = k.revoked_at {
        rows.push((
            "Revoked",
            format!(
                "{} by {}",
                output::both(at, now),
                k.revoked_by.as_deref().unwrap_or("?")
            ),
        ));
    }
    if let Some(from) = &k.rotated_from {
        rows.push(("Rotated from", from.clone()));
    }
    if let Some(to) = &k.rotated_to {
        rows.push(("Rotated to", to.clone()));
    }
    if let Some(m) = &k.metadata {
        rows.push(("Metadata", m.to_string()));
    }
    print!("{}", output::fields(style, &rows));
}
