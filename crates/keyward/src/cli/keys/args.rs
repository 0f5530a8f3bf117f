//! The flags of `keyward keys create|list|show|edit|revoke|disable|enable|rotate`.

use super::super::lookup::KeyRef;
use super::super::parse::{
    parse_expiry, parse_grace, parse_metadata, parse_permission, parse_quota, parse_ratelimit,
};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use keyward_client::{KeyKind, Permissions, Quota, RateLimit, Scope};

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
}

/// `--ratelimit` / `--quota` on create.
#[derive(Args)]
pub(super) struct LimitArgs {
    /// Requests per period, e.g. 100/1m (period 1s … 30d) [default: the organization's default]
    #[arg(long, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit)]
    pub(super) ratelimit: Option<RateLimit>,
    /// Credits verifications spend, e.g. 10000, 10000/daily or 10000/monthly [default: the organization's default]
    #[arg(long, value_name = "LIMIT[/REFILL]", value_parser = parse_quota)]
    pub(super) quota: Option<Quota>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum KindArg {
    Personal,
    Api,
    Worker,
    Channel,
    #[value(alias = "legacy_workspace")]
    LegacyWorkspace,
}

impl KindArg {
    pub(super) fn kind(self) -> KeyKind {
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
pub(super) struct ScopeArgs {
    /// Scope: only these workspaces (ids or names; comma-separated or repeated) [default: the whole organization]
    #[arg(
        long,
        value_name = "WORKSPACE",
        value_delimiter = ',',
        conflicts_with = "agent"
    )]
    pub(super) workspaces: Vec<String>,
    /// Scope: one agent and its channels (id or name)
    #[arg(long, value_name = "AGENT")]
    pub(super) agent: Option<String>,
}

impl ScopeArgs {
    pub(super) fn scope(self) -> Option<Scope> {
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
pub(super) struct PermissionArgs {
    /// Every permission (never more than your key holds)
    #[arg(long)]
    pub(super) all: bool,
    /// Read actions only (*:read)
    #[arg(long)]
    pub(super) read_only: bool,
    /// A resource:action grant, e.g. keys:read; repeat for more
    #[arg(long, short = 'p', value_name = "PERMISSION", value_parser = parse_permission)]
    pub(super) permission: Vec<String>,
}

impl PermissionArgs {
    pub(super) fn permissions(self) -> Option<Permissions> {
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
pub(super) enum EnvironmentArg {
    Live,
    Test,
}

#[derive(Args)]
pub struct CreateArgs {
    /// A name that makes revocation decisions obvious, e.g. "alice-macbook-worker"
    #[arg(long, short = 'n')]
    pub(super) name: String,
    /// 7d, 30d, 60d, 90d, 180d, 1y, never, a date (2027-01-01) or an RFC 3339 time [default: never]
    #[arg(long, short = 'e', value_parser = parse_expiry)]
    pub(super) expires: Option<String>,
    #[command(flatten)]
    pub(super) permissions: PermissionArgs,
    #[command(flatten)]
    pub(super) scope: ScopeArgs,
    /// personal (your own token), api (for one of your customers), worker (needs --workspace), channel (needs --channel), legacy-workspace
    #[arg(long, value_enum)]
    pub(super) kind: Option<KindArg>,
    /// For worker and legacy-workspace keys: the workspace the key is bound to (id or name)
    #[arg(long, value_name = "WORKSPACE")]
    pub(super) workspace: Option<String>,
    /// For channel tokens: the channel id
    #[arg(long, value_name = "CHANNEL")]
    pub(super) channel: Option<String>,
    /// For api keys: live or test [default: live]
    #[arg(long, value_enum)]
    pub(super) environment: Option<EnvironmentArg>,
    /// For api keys: your identifier of the customer the key belongs to
    #[arg(long)]
    pub(super) owner: Option<String>,
    /// KEY=VALUE returned by verify; repeat for more
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_metadata)]
    pub(super) metadata: Vec<(String, String)>,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    /// Create the key switched off: it is refused until `keyward keys enable`
    #[arg(long)]
    pub(super) disabled: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// How many keys to show
    #[arg(long, short = 'L', default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    pub(super) cursor: Option<String>,
    /// Every key, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    pub(super) all: bool,
    /// Only keys that still work (not revoked or expired)
    #[arg(long)]
    pub(super) active: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["name", "all", "read_only", "permission", "workspaces", "agent",
        "ratelimit", "no_ratelimit", "quota", "no_quota"])))]
pub struct EditArgs {
    #[command(flatten)]
    pub(super) key: KeyRef,
    /// The new name
    #[arg(long, short = 'n')]
    pub(super) name: Option<String>,
    #[command(flatten)]
    pub(super) permissions: PermissionArgs,
    #[command(flatten)]
    pub(super) scope: ScopeArgs,
    /// A new rate limit, e.g. 100/1m (period 1s … 30d)
    #[arg(long, value_name = "LIMIT/PERIOD", value_parser = parse_ratelimit, conflicts_with = "no_ratelimit")]
    pub(super) ratelimit: Option<RateLimit>,
    /// Remove the key's rate limit
    #[arg(long)]
    pub(super) no_ratelimit: bool,
    /// A new quota, e.g. 10000 or 10000/monthly; its balance starts afresh
    #[arg(long, value_name = "LIMIT[/REFILL]", value_parser = parse_quota, conflicts_with = "no_quota")]
    pub(super) quota: Option<Quota>,
    /// Remove the key's quota
    #[arg(long)]
    pub(super) no_quota: bool,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub(super) key: KeyRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub(super) yes: bool,
}

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub(super) key: KeyRef,
    /// How long the old key keeps working: 0 (revoke now), 30m, 24h, 7d … up to 30d [default: 0]
    #[arg(long, value_parser = parse_grace)]
    pub(super) grace: Option<String>,
    /// Expiry of the new key, at most the old key's lifetime from now (and, rotating
    /// another key, no later than your own key's expiry) [default: the old key's lifetime,
    /// counted from now]
    #[arg(long, short = 'e', value_parser = parse_expiry)]
    pub(super) expires: Option<String>,
}
