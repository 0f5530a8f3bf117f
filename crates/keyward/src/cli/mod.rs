//! The client commands: `keyward auth …`, `login`, `keys …`, `audit`, `owner-limits …`,
//! `orgs …`, the organization's resources, the integrations vault (`integrations`,
//! `connect`, `connections`), webhook ingress (`webhooks`), workers (`workers`), the worker
//! daemon (`worker`, in `crate::worker`), `completions`.
//!
//! Each command resolves a key and a server ([`context`]), calls the API through the
//! SDK (`keyward-client`), and prints either text for people ([`output`]) or JSON for
//! scripts (`--json`). Failures become one error line, a hint and a documented exit
//! code ([`failure`]).
//!
//! Dependencies point one way: this file -> features -> `lookup` -> `context` ->
//! `failure` -> the leaves (`resolved`, `output`, `text`, `parse`, `credentials`,
//! `dotenv`, `loopback`); `once` and `prompt` sit on `failure`. `crate::worker` is a
//! feature outside this directory: it uses `context`, `failure`, `output` and
//! `loopback`, never this file. `.ci/import-cycles` checks it.

// Features: one per API feature (the server's `http/<feature>.rs`), each with its
// flags, its commands and its own rendering. They use the modules below, never each
// other; this file assembles the groups that span two of them.
mod audit;
mod auth;
mod channels;
mod integrations;
mod invitations;
mod keys;
mod members;
mod orgs;
mod owner_limits;
mod resources;
mod service_accounts;
mod usage;
mod verify;
mod webhooks;
mod workers;

// Shared by the features: the connection and its failures, then the leaves.
pub(crate) mod context;
mod credentials;
pub mod dotenv;
pub(crate) mod failure;
mod lookup;
pub(crate) mod loopback;
pub mod once;
pub mod output;
mod parse;
mod prompt;
mod resolved;
pub mod text;

use clap::{Args, Subcommand};
use context::{ConnArgs, Context};
use failure::{CmdResult, Failure};
use std::process::ExitCode;

/// The exit codes, for the commands' help (docs/cli.md has the details).
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 ok, 1 error, 2 usage, 3 not authenticated or forbidden (HTTP 401/403)."
    };
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Log in to a Keyward server, accept an invitation, see who you are, log out.
    #[command(after_help = concat!("Examples:\n  \
        keyward auth login --server https://keys.example.com\n  \
        keyward auth login --web --server https://keys.example.com\n  \
        keyward auth accept-invite kw_inv_… --server https://keys.example.com --login\n  \
        keyward auth whoami\n  \
        keyward auth status\n  \
        keyward auth logout\n\n", exit_codes!()))]
    Auth(AuthArgs),
    /// Log in with an API key (the same as `keyward auth login`).
    #[command(
        long_about = "Log in with an API key (the same as `keyward auth login`).\n\n\
            Checks the key against the server (GET /v1/me), then stores it with the server \
            URL in your config directory, readable only by you.",
        after_help = concat!("Examples:\n  \
            keyward login --token kw_pat_…\n  \
            keyward login --token kw_wk_…                      # a worker key, for `keyward worker`\n  \
            keyward login --web                                # approve in the browser\n  \
            keyward login --server https://keys.example.com   # asks for the key\n  \
            echo \"$KEY\" | keyward login                        # reads the key from stdin\n\n", exit_codes!())
    )]
    Login(auth::LoginTop),
    /// Create, list, show, edit, revoke and rotate API keys; see their usage; verify a key.
    #[command(after_help = concat!("Examples:\n  \
        keyward keys create --name \"CI pipeline\" --expires 90d --read-only\n  \
        keyward keys create --name gateway --ratelimit 100/1m --quota 10000/monthly\n  \
        keyward keys list\n  \
        keyward keys show key_…\n  \
        keyward keys usage key_… --from 7d --granularity day\n  \
        echo \"$KEY\" | keyward keys verify - --permission orders:read\n  \
        keyward keys rotate key_… --grace 24h\n  \
        keyward keys revoke key_…\n\n", exit_codes!()))]
    Keys(KeysArgs),
    /// Read the organization's audit log: who changed what, newest first.
    #[command(after_help = concat!("Examples:\n  \
        keyward audit\n  \
        keyward audit --limit 200\n  \
        keyward audit --json | jq '.data[] | select(.action == \"key.revoke\")'\n\n", exit_codes!()))]
    Audit(audit::AuditArgs),
    /// Service accounts: non-human principals with explicit scopes, and their keys.
    #[command(after_help = concat!("Examples:\n  \
        keyward service-accounts create --name production-bot --scopes integrations:read,integrations:write,skills:execute\n  \
        keyward service-accounts list\n  \
        keyward service-accounts create-key production-bot\n  \
        keyward service-accounts delete production-bot\n\n", exit_codes!()))]
    ServiceAccounts(service_accounts::ServiceAccountsArgs),
    /// Workspaces of the organization.
    #[command(after_help = concat!("Examples:\n  \
        keyward workspaces create production\n  \
        keyward workspaces list\n  \
        keyward keys create --name ci --workspaces production   # a key for one workspace\n\n", exit_codes!()))]
    Workspaces(resources::ResourceArgs),
    /// Agents of the organization (bots that own channels).
    #[command(after_help = concat!("Examples:\n  \
        keyward agents create support-bot\n  \
        keyward agents list\n  \
        keyward keys create --name bot --agent support-bot   # a key for one agent\n\n", exit_codes!()))]
    Agents(resources::ResourceArgs),
    /// Channels of agents, with their public hook ids.
    #[command(after_help = concat!("Examples:\n  \
        keyward channels create --agent support-bot --name whatsapp\n  \
        keyward channels list --agent support-bot\n  \
        keyward channels update ch_… --disable\n\n", exit_codes!()))]
    Channels(channels::ChannelsArgs),
    /// People in the organization, their roles, and invitations to join.
    #[command(after_help = concat!("Examples:\n  \
        keyward members invite --email alice@company.com --role member\n  \
        keyward members invitations\n  \
        keyward members list\n  \
        keyward members update alice@company.com --role org-admin\n  \
        keyward members remove alice@company.com\n\n", exit_codes!()))]
    Members(MembersArgs),
    /// Rate limits shared by all keys of one person, service account or customer.
    #[command(after_help = concat!("Examples:\n  \
        keyward owner-limits set external cus_123 --ratelimit 1000/1h\n  \
        keyward owner-limits list\n  \
        keyward owner-limits remove external cus_123\n\n", exit_codes!()))]
    OwnerLimits(owner_limits::OwnerLimitsArgs),
    /// Your organizations, and your organization's settings (key limits, default limits).
    #[command(after_help = concat!("Examples:\n  \
        keyward orgs list\n  \
        keyward orgs show\n  \
        keyward orgs settings --max-keys 50 --default-ratelimit 100/1m --default-quota 10000/monthly\n\n", exit_codes!()))]
    Orgs(orgs::OrgsArgs),
    /// The integrations (OAuth providers) this server is configured for.
    #[command(after_help = concat!("Examples:\n  \
        keyward integrations list\n  \
        keyward connect gmail --scopes gmail.readonly\n\n", exit_codes!()))]
    Integrations(integrations::IntegrationsArgs),
    // Its help (about, examples) is on `integrations::ConnectArgs`.
    Connect(integrations::ConnectArgs),
    /// OAuth connections: their status, their access token, refresh, disconnect.
    #[command(after_help = concat!("Examples:\n  \
        keyward connections list\n  \
        keyward connections show u1\n  \
        curl -H \"Authorization: Bearer $(keyward connections token u1)\" https://api.example.com/me\n  \
        keyward connections refresh u1\n  \
        keyward connections disconnect u1 --yes\n\n", exit_codes!()))]
    Connections(integrations::ConnectionsArgs),
    /// Webhook endpoints: receive a provider's webhooks, verified, kept and delivered to your app.
    #[command(after_help = concat!("Examples:\n  \
        keyward webhooks create --provider slack --name support-bot --destination https://app.example.com/hooks/slack --secret-file slack-secret.txt\n  \
        keyward webhooks list\n  \
        keyward webhooks show wh_…\n  \
        keyward webhooks deliveries wh_… --status failed\n  \
        keyward webhooks replay wh_… --since 2h\n  \
        keyward webhooks rotate-secret wh_… --overlap 24h\n\n", exit_codes!()))]
    Webhooks(webhooks::WebhooksArgs),
    // Its help (about, examples, its own exit codes) is on `crate::worker::WorkerArgs`.
    Worker(crate::worker::WorkerArgs),
    /// Workers: the machines running `keyward worker`, their status, and what to check.
    #[command(after_help = concat!("Examples:\n  \
        keyward workers list\n  \
        keyward workers list --status stale --workspace production\n  \
        keyward workers show alice-macbook\n  \
        keyward workers remove wkr_… --yes\n\n", exit_codes!()))]
    Workers(workers::WorkersArgs),
    /// Print a shell completion script.
    #[command(
        long_about = "Print a shell completion script on stdout.",
        after_help = "Examples:\n  \
            keyward completions bash > ~/.local/share/bash-completion/completions/keyward\n  \
            keyward completions zsh > \"${fpath[1]}/_keyward\"\n  \
            keyward completions fish > ~/.config/fish/completions/keyward.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// The whole CLI, with the server's global options (`--config`, `--data-dir`,
/// `--database-url`) hidden from the client commands' help, where they mean nothing.
///
/// Clap copies a global option into a subcommand only if the subcommand lacks one of
/// that id, so each client command gets a hidden copy before the build.
pub fn command(cmd: clap::Command) -> clap::Command {
    const SERVER_OPTIONS: &[&str] = &["config", "data_dir", "database_url"];
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| SERVER_OPTIONS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .filter(|n| CLIENT_COMMANDS.contains(&n.as_str()))
        .collect();
    let mut cmd = cmd;
    for name in names {
        let hidden = hidden.clone();
        cmd = cmd.mut_subcommand(name, move |sc| sc.args(hidden));
    }
    cmd
}

const CLIENT_COMMANDS: &[&str] = &[
    "auth",
    "login",
    "keys",
    "audit",
    "service-accounts",
    "workspaces",
    "agents",
    "channels",
    "members",
    "owner-limits",
    "orgs",
    "integrations",
    "connect",
    "connections",
    "webhooks",
    "worker",
    "workers",
    "completions",
];

/// Runs a client command; `command` builds the whole CLI (for completions).
pub fn run(command: ClientCommand, cli: fn() -> clap::Command) -> ExitCode {
    let (conn, job) = match command {
        ClientCommand::Completions(args) => {
            let mut cmd = self::command(cli());
            clap_complete::generate(args.shell, &mut cmd, "keyward", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        ClientCommand::Auth(args) => (args.conn, Job::Auth(args.command)),
        ClientCommand::Login(args) => (args.conn, Job::Auth(AuthCommand::Login(args.login))),
        ClientCommand::Keys(args) => (args.conn, Job::Keys(args.command)),
        ClientCommand::Audit(args) => (args.conn.clone(), Job::Audit(args)),
        ClientCommand::ServiceAccounts(args) => (args.conn, Job::ServiceAccounts(args.command)),
        ClientCommand::Workspaces(args) => (
            args.conn,
            Job::Resources(keyward_client::ResourceKind::Workspace, args.command),
        ),
        ClientCommand::Agents(args) => (
            args.conn,
            Job::Resources(keyward_client::ResourceKind::Agent, args.command),
        ),
        ClientCommand::Channels(args) => (args.conn, Job::Channels(args.command)),
        ClientCommand::Members(args) => (args.conn, Job::Members(args.command)),
        ClientCommand::OwnerLimits(args) => (args.conn, Job::OwnerLimits(args.command)),
        ClientCommand::Orgs(args) => (args.conn, Job::Orgs(args.command)),
        ClientCommand::Integrations(args) => (args.conn, Job::Integrations(args.command)),
        ClientCommand::Connect(args) => (args.conn.clone(), Job::Connect(Box::new(args))),
        ClientCommand::Connections(args) => (args.conn, Job::Connections(args.command)),
        ClientCommand::Webhooks(args) => (args.conn, Job::Webhooks(args.command)),
        ClientCommand::Worker(args) => (args.conn.clone(), Job::Worker(Box::new(args))),
        ClientCommand::Workers(args) => (args.conn, Job::Workers(args.command)),
    };
    let dotenv = dotenv::DotEnv::read_current_dir();
    if let (Some(problem), Some(path)) = (&dotenv.problem, &dotenv.path) {
        output::warn(&format!(
            "{} was read only in part: {problem}",
            path.display()
        ));
    }
    let ctx = Context::new(conn, dotenv);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let f = Failure::error(format!("cannot start the async runtime: {e}"));
            f.print(ctx.json());
            return f.exit_code();
        }
    };
    let result = runtime.block_on(async {
        match job {
            Job::Auth(cmd) => auth_group(&ctx, cmd).await,
            Job::Keys(cmd) => keys_group(&ctx, cmd).await,
            Job::Audit(args) => audit::run(&ctx, args).await,
            Job::ServiceAccounts(cmd) => service_accounts::run(&ctx, cmd).await,
            Job::Resources(kind, cmd) => resources::run(&ctx, kind, cmd).await,
            Job::Channels(cmd) => channels::run(&ctx, cmd).await,
            Job::Members(cmd) => members_group(&ctx, cmd).await,
            Job::OwnerLimits(cmd) => owner_limits::owner_limits(&ctx, cmd).await,
            Job::Orgs(cmd) => orgs::orgs(&ctx, cmd).await,
            Job::Integrations(cmd) => integrations::integrations(&ctx, cmd).await,
            Job::Connect(args) => integrations::connect(&ctx, *args).await,
            Job::Connections(cmd) => integrations::connections(&ctx, cmd).await,
            Job::Webhooks(cmd) => webhooks::run(&ctx, cmd).await,
            Job::Worker(args) => crate::worker::run(&ctx, *args).await,
            Job::Workers(cmd) => workers::run(&ctx, cmd).await,
        }
    });
    ctx.warn_deprecation();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.print(ctx.json());
            f.exit_code()
        }
    }
}

enum Job {
    Auth(AuthCommand),
    Keys(KeysCommand),
    Audit(audit::AuditArgs),
    ServiceAccounts(service_accounts::ServiceAccountsCommand),
    Resources(keyward_client::ResourceKind, resources::ResourceCommand),
    Channels(channels::ChannelsCommand),
    Members(MembersCommand),
    OwnerLimits(owner_limits::OwnerLimitsCommand),
    Orgs(orgs::OrgsCommand),
    Integrations(integrations::IntegrationsCommand),
    Connect(Box<integrations::ConnectArgs>),
    Connections(integrations::ConnectionsCommand),
    Webhooks(webhooks::WebhooksCommand),
    Worker(Box<crate::worker::WorkerArgs>),
    Workers(workers::WorkersCommand),
}

// ---------------------------------------------------------------- groups of two features
//
// The subcommands are listed in the order of the help; each takes its flags and help
// text from its feature's struct.

#[derive(Args)]
pub struct AuthArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: AuthCommand,
}

/// `keyward auth …`: who you are on which server (`auth.rs`), and redeeming an
/// invitation (`invitations.rs`).
#[derive(Subcommand)]
pub enum AuthCommand {
    Login(auth::LoginArgs),
    AcceptInvite(invitations::AcceptArgs),
    Logout(auth::LogoutArgs),
    Whoami(auth::WhoamiArgs),
    Status(auth::StatusArgs),
}

async fn auth_group(ctx: &Context, command: AuthCommand) -> CmdResult {
    match command {
        AuthCommand::Login(args) => auth::login(ctx, args).await,
        AuthCommand::AcceptInvite(args) => invitations::accept(ctx, args).await,
        AuthCommand::Logout(args) => auth::logout(ctx, args),
        AuthCommand::Whoami(args) => auth::whoami(ctx, args).await,
        AuthCommand::Status(args) => auth::status(ctx, args).await,
    }
}

#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: KeysCommand,
}

/// `keyward keys …`: keys (`keys/`), a key's usage (`usage.rs`), verifying a raw key
/// (`verify.rs`).
#[derive(Subcommand)]
pub enum KeysCommand {
    #[command(flatten)]
    Keys(keys::KeysCommand),
    Usage(usage::UsageArgs),
    Verify(verify::VerifyArgs),
}

async fn keys_group(ctx: &Context, command: KeysCommand) -> CmdResult {
    match command {
        KeysCommand::Keys(command) => keys::run(ctx, command).await,
        KeysCommand::Usage(args) => usage::run(ctx, args).await,
        KeysCommand::Verify(args) => verify::run(ctx, args).await,
    }
}

#[derive(Args)]
pub struct MembersArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: MembersCommand,
}

/// `keyward members …`: people (`members.rs`) and invitations (`invitations.rs`).
#[derive(Subcommand)]
pub enum MembersCommand {
    List(members::ListArgs),
    Invite(invitations::InviteArgs),
    Invitations(invitations::ListArgs),
    RevokeInvitation(invitations::RevokeArgs),
    Show(members::ShowArgs),
    Update(members::UpdateArgs),
    Remove(members::RemoveArgs),
}

async fn members_group(ctx: &Context, command: MembersCommand) -> CmdResult {
    match command {
        MembersCommand::List(args) => members::list(ctx, args).await,
        MembersCommand::Invite(args) => invitations::invite(ctx, args).await,
        MembersCommand::Invitations(args) => invitations::list(ctx, args).await,
        MembersCommand::RevokeInvitation(args) => invitations::revoke(ctx, args).await,
        MembersCommand::Show(args) => members::show(ctx, args).await,
        MembersCommand::Update(args) => members::update(ctx, args).await,
        MembersCommand::Remove(args) => members::remove(ctx, args).await,
    }
}
