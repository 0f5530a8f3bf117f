//! The organization's other resources: `keyward service-accounts|workspaces|agents|
//! channels|members …`.
//!
//! Each resource is named on the command line by its id or, where the API lists them,
//! by its name (an email for members). Deleting asks for confirmation like `keys
//! revoke`: pass `--yes` when stdin is not a terminal.

use super::context::{ConnArgs, Context, Session};
use super::failure::{Failure, EXIT_ERROR};
use super::keys::show_new_key;
use super::once::{self, Shown};
use super::output::{self, Cell, Color, Style};
use super::CmdResult;
use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use keyward_client::{
    Channel, CreateChannel, CreateInvitation, CreateServiceAccount, CreateServiceAccountKey,
    Invitation, InvitationStatus, Member, Resource, ResourceKind, Role, ServiceAccount,
    UpdateChannel, UpdateMember,
};
use serde_json::json;
use std::io::IsTerminal;

// ---------------------------------------------------------------- arguments

#[derive(Args)]
pub struct ServiceAccountsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: ServiceAccountsCommand,
}

#[derive(Subcommand)]
pub enum ServiceAccountsCommand {
    /// Create a service account with explicit scopes, and print its key once.
    #[command(
        long_about = "Create a service account (a non-human principal) with explicit scopes, \
            and print its first key once. Service-account keys do not expire unless --expires \
            says so. When stdout is not a terminal only the key is printed on stdout.",
        after_help = "Examples:\n  \
            keyward service-accounts create --name production-bot --scopes integrations:read,integrations:write,skills:execute\n  \
            KEY=$(keyward service-accounts create --name ci-bot --scopes keys:read --expires 90d)"
    )]
    Create(SaCreateArgs),
    /// List the organization's service accounts.
    #[command(
        after_help = "Examples:\n  keyward service-accounts list\n  keyward service-accounts list --json"
    )]
    List,
    /// Show one service account.
    #[command(after_help = "Example:\n  keyward service-accounts show production-bot")]
    Show(SaRef),
    /// Rename a service account.
    #[command(after_help = "Example:\n  keyward service-accounts rename sa_… --name prod-bot")]
    Rename(SaRenameArgs),
    /// Delete a service account and revoke its keys.
    #[command(
        after_help = "Examples:\n  keyward service-accounts delete sa_…\n  keyward service-accounts delete production-bot --yes"
    )]
    Delete(SaDeleteArgs),
    /// Create another key for a service account, and print it once.
    #[command(
        after_help = "Example:\n  keyward service-accounts create-key production-bot --name \"prod-bot (new machine)\" --expires 1y"
    )]
    CreateKey(SaKeyArgs),
}

#[derive(Args)]
pub struct SaCreateArgs {
    /// The account's name, e.g. production-bot
    #[arg(long, short = 'n')]
    name: String,
    /// Its scopes: resource:action grants, comma-separated or repeated
    #[arg(long, required = true, value_delimiter = ',', value_name = "SCOPES")]
    scopes: Vec<String>,
    /// Expiry of the first key [default: never]
    #[arg(long, short = 'e', value_parser = super::keys::parse_expiry)]
    expires: Option<String>,
}

#[derive(Args)]
pub struct SaRef {
    /// The account's id (sa_…) or name
    #[arg(value_name = "ACCOUNT")]
    account: String,
}

#[derive(Args)]
pub struct SaRenameArgs {
    #[command(flatten)]
    account: SaRef,
    /// The new name
    #[arg(long, short = 'n')]
    name: String,
}

#[derive(Args)]
pub struct SaDeleteArgs {
    #[command(flatten)]
    account: SaRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct SaKeyArgs {
    #[command(flatten)]
    account: SaRef,
    /// The key's name [default: the account's name]
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// [default: never]
    #[arg(long, short = 'e', value_parser = super::keys::parse_expiry)]
    expires: Option<String>,
}

#[derive(Args)]
pub struct ResourceArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: ResourceCommand,
}

#[derive(Subcommand)]
pub enum ResourceCommand {
    /// List them.
    #[command(after_help = "Examples:\n  keyward workspaces list\n  keyward agents list --json")]
    List,
    /// Create one.
    #[command(
        after_help = "Examples:\n  keyward workspaces create production\n  keyward agents create support-bot"
    )]
    Create(NameArg),
    /// Show one (by id or name).
    #[command(after_help = "Example:\n  keyward workspaces show production")]
    Show(ResourceRef),
    /// Rename one.
    #[command(after_help = "Example:\n  keyward workspaces rename production --name prod")]
    Rename(ResourceRename),
    /// Delete one.
    #[command(
        after_help = "Examples:\n  keyward workspaces delete ws_…\n  keyward agents delete support-bot --yes"
    )]
    Delete(ResourceDelete),
}

#[derive(Args)]
pub struct NameArg {
    /// Its name
    name: String,
}

#[derive(Args)]
pub struct ResourceRef {
    /// Its id (ws_…, agt_…) or name
    #[arg(value_name = "ID_OR_NAME")]
    target: String,
}

#[derive(Args)]
pub struct ResourceRename {
    #[command(flatten)]
    target: ResourceRef,
    /// The new name
    #[arg(long, short = 'n')]
    name: String,
}

#[derive(Args)]
pub struct ResourceDelete {
    #[command(flatten)]
    target: ResourceRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct ChannelsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: ChannelsCommand,
}

#[derive(Subcommand)]
pub enum ChannelsCommand {
    /// List channels, optionally of one agent.
    #[command(
        after_help = "Examples:\n  keyward channels list\n  keyward channels list --agent support-bot"
    )]
    List(ChannelListArgs),
    /// Create a channel for an agent; it gets a public hook id.
    #[command(
        after_help = "Example:\n  keyward channels create --agent support-bot --name whatsapp"
    )]
    Create(ChannelCreateArgs),
    /// Show one channel.
    #[command(after_help = "Example:\n  keyward channels show ch_…")]
    Show(ChannelRef),
    /// Rename, disable or enable a channel.
    #[command(
        after_help = "Examples:\n  keyward channels update ch_… --disable\n  keyward channels update ch_… --name whatsapp-eu --enable"
    )]
    Update(ChannelUpdateArgs),
    /// Delete a channel: its hook id then answers "Channel not found".
    #[command(after_help = "Example:\n  keyward channels delete ch_… --yes")]
    Delete(ChannelDeleteArgs),
}

#[derive(Args)]
pub struct ChannelListArgs {
    /// Only this agent's channels (id or name)
    #[arg(long)]
    agent: Option<String>,
}

#[derive(Args)]
pub struct ChannelCreateArgs {
    /// The agent that owns the channel (id or name)
    #[arg(long)]
    agent: String,
    /// The channel's name
    #[arg(long, short = 'n')]
    name: String,
}

#[derive(Args)]
pub struct ChannelRef {
    /// The channel's id (ch_…) or name
    #[arg(value_name = "CHANNEL")]
    channel: String,
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true).args(["name", "enable", "disable"])))]
pub struct ChannelUpdateArgs {
    #[command(flatten)]
    channel: ChannelRef,
    /// The new name
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// Enable the channel
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable the channel (its hook id answers "Channel not found")
    #[arg(long)]
    disable: bool,
}

#[derive(Args)]
pub struct ChannelDeleteArgs {
    #[command(flatten)]
    channel: ChannelRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct MembersArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: MembersCommand,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Owner,
    #[value(alias = "org_admin")]
    OrgAdmin,
    #[value(alias = "agent_admin")]
    AgentAdmin,
    Member,
}

impl RoleArg {
    fn role(self) -> Role {
        match self {
            RoleArg::Owner => Role::Owner,
            RoleArg::OrgAdmin => Role::OrgAdmin,
            RoleArg::AgentAdmin => Role::AgentAdmin,
            RoleArg::Member => Role::Member,
        }
    }
}

#[derive(Subcommand)]
pub enum MembersCommand {
    /// List the organization's people and their roles.
    #[command(after_help = "Example:\n  keyward members list")]
    List,
    /// Invite a person by email with a role, and print the invitation's code once.
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
    Invite(MemberInviteArgs),
    /// List invitations that were not accepted or revoked (pending or expired).
    #[command(
        after_help = "Examples:\n  keyward members invitations\n  keyward members invitations --json"
    )]
    Invitations,
    /// Revoke an invitation: its code stops working.
    #[command(after_help = "Examples:\n  \
        keyward members revoke-invitation alice@company.com\n  \
        keyward members revoke-invitation inv_… --yes")]
    RevokeInvitation(InvitationRevokeArgs),
    /// Show one member.
    #[command(after_help = "Example:\n  keyward members show alice@company.com")]
    Show(MemberRef),
    /// Change a member's role or agents.
    #[command(after_help = "Examples:\n  \
        keyward members update alice@company.com --role org-admin\n  \
        keyward members update bob@company.com --agent support-bot --agent sales-bot")]
    Update(MemberUpdateArgs),
    /// Remove a member from the organization.
    #[command(after_help = "Example:\n  keyward members remove alice@company.com --yes")]
    Remove(MemberRemoveArgs),
}

#[derive(Args)]
pub struct MemberInviteArgs {
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

/// `1h` to `30d`, as the server accepts.
fn parse_invitation_expiry(s: &str) -> Result<String, String> {
    let d = keyward_core::expiry::parse_duration(s, chrono::Duration::days(30), "30d")
        .map_err(|e| e.to_string())?;
    if d < chrono::Duration::hours(1) {
        return Err("must be at least 1h".to_owned());
    }
    Ok(s.trim().to_owned())
}

#[derive(Args)]
pub struct InvitationRevokeArgs {
    /// The invitation's id (inv_…) or the invited email
    #[arg(value_name = "ID_OR_EMAIL")]
    invitation: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct MemberRef {
    /// The member's user id (usr_…) or email
    #[arg(value_name = "MEMBER")]
    member: String,
}

#[derive(Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true).args(["role", "agents"])))]
pub struct MemberUpdateArgs {
    #[command(flatten)]
    member: MemberRef,
    /// The new role
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
    /// The agents they administer (replaces the list); repeat for more
    #[arg(long = "agent", value_name = "AGENT")]
    agents: Vec<String>,
}

#[derive(Args)]
pub struct MemberRemoveArgs {
    #[command(flatten)]
    member: MemberRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

// ---------------------------------------------------------------- shared

/// A destructive command without `--yes` needs a terminal to ask on.
pub fn refuse_unconfirmable(yes: bool, what: &str) -> CmdResult {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {what} without confirmation: stdin is not a terminal"
        ))
        .with_hint("pass --yes to go ahead without asking"));
    }
    Ok(())
}

/// Picks one item by id or by name from a list.
fn pick<T: Clone>(
    items: &[T],
    wanted: &str,
    noun: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Result<T, Failure> {
    let wanted = wanted.trim();
    if let Some(found) = items.iter().find(|i| id(i) == wanted) {
        return Ok(found.clone());
    }
    let matches: Vec<&T> = items
        .iter()
        .filter(|i| name(i).eq_ignore_ascii_case(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("no {noun} has the id or name {wanted:?}"),
        )
        .with_hint(format!("`keyward {noun}s list` shows them"))),
        many => Err(Failure::new(
            EXIT_ERROR,
            "ambiguous",
            format!(
                "{} {noun}s are named {wanted:?}: {}",
                many.len(),
                many.iter().map(|i| id(i)).collect::<Vec<_>>().join(", ")
            ),
        )
        .with_hint("name it by its id")),
    }
}

impl Session<'_> {
    async fn service_account(&self, wanted: &str) -> Result<ServiceAccount, Failure> {
        if wanted.starts_with("sa_") {
            return self
                .client
                .get_service_account(wanted)
                .await
                .map_err(|e| self.fail(e));
        }
        let all = self
            .client
            .list_service_accounts()
            .await
            .map_err(|e| self.fail(e))?;
        pick(&all, wanted, "service-account", |a| &a.id, |a| &a.name)
    }

    async fn resource(&self, kind: ResourceKind, wanted: &str) -> Result<Resource, Failure> {
        if wanted.starts_with(kind.id_prefix()) {
            return self
                .client
                .get_resource(kind, wanted)
                .await
                .map_err(|e| self.fail(e));
        }
        let all = self
            .client
            .list_resources(kind)
            .await
            .map_err(|e| self.fail(e))?;
        pick(&all, wanted, kind.singular(), |r| &r.id, |r| &r.name)
    }

    /// An agent's id, from its id or name.
    async fn agent_id(&self, wanted: &str) -> Result<String, Failure> {
        if wanted.starts_with(ResourceKind::Agent.id_prefix()) {
            return Ok(wanted.to_owned());
        }
        Ok(self.resource(ResourceKind::Agent, wanted).await?.id)
    }

    async fn channel(&self, wanted: &str) -> Result<Channel, Failure> {
        if wanted.starts_with("ch_") {
            return self
                .client
                .get_channel(wanted)
                .await
                .map_err(|e| self.fail(e));
        }
        let all = self
            .client
            .list_channels(None)
            .await
            .map_err(|e| self.fail(e))?;
        pick(&all, wanted, "channel", |c| &c.id, |c| &c.name)
    }

    async fn member(&self, wanted: &str) -> Result<Member, Failure> {
        if wanted.starts_with("usr_") {
            return self
                .client
                .get_member(wanted)
                .await
                .map_err(|e| self.fail(e));
        }
        let all = self.client.list_members().await.map_err(|e| self.fail(e))?;
        pick(&all, wanted, "member", |m| &m.user_id, |m| &m.email)
    }

    /// An invitation by id or by email; of several for one email, the pending one.
    async fn invitation(&self, wanted: &str) -> Result<Invitation, Failure> {
        let wanted = wanted.trim();
        let all = self
            .client
            .list_invitations()
            .await
            .map_err(|e| self.fail(e))?;
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
            .with_hint("`keyward members invitations` lists the invitations that were not accepted or revoked")),
            (many, _) => Err(Failure::new(
                EXIT_ERROR,
                "ambiguous",
                format!(
                    "{} invitations are for {wanted:?}: {}",
                    many.len(),
                    many.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .with_hint("name it by its id")),
        }
    }
}

fn print_table(headers: &[&str], rows: Vec<Vec<Cell>>, empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
    } else {
        print!("{}", output::table(Style::stdout(), headers, &rows));
    }
}

fn print_fields(rows: &[(&str, String)]) {
    print!("{}", output::fields(Style::stdout(), rows));
}

fn done(message: &str) {
    let style = Style::stdout();
    println!("{} {message}", style.paint(Color::Green, "✓"));
}

// ---------------------------------------------------------------- service accounts

pub async fn service_accounts(ctx: &Context, command: ServiceAccountsCommand) -> CmdResult {
    if let ServiceAccountsCommand::Delete(args) = &command {
        refuse_unconfirmable(args.yes, "delete a service account")?;
    }
    let s = Session::open(ctx)?;
    let now = Utc::now();
    match command {
        ServiceAccountsCommand::Create(args) => {
            let created = s
                .client
                .create_service_account(&CreateServiceAccount {
                    name: args.name,
                    scopes: args.scopes.into(),
                    expires: args.expires,
                })
                .await
                .map_err(|e| s.fail(e))?;
            let mut json = serde_json::to_value(&created.account).map_err(anyhow::Error::from)?;
            let mut key_json =
                serde_json::to_value(&created.key.details).map_err(anyhow::Error::from)?;
            key_json["key"] = json!(created.key.key.expose_secret());
            json["key"] = key_json;
            let expires = created
                .key
                .details
                .expires_at
                .map(|at| output::both(at, now))
                .unwrap_or_else(|| "never".to_owned());
            once::print(
                s.json(),
                &created.key.key,
                Shown {
                    heading: format!("Created service account \"{}\"", created.account.name),
                    fields: vec![
                        ("Service Account ID", created.account.id.clone()),
                        ("Scopes", created.account.scopes.join(", ")),
                        ("Key expires", expires),
                    ],
                    after: Vec::new(),
                    key_label: Some("Service Account Key"),
                    notice: "Store this key securely — it cannot be retrieved again.",
                    json,
                },
            );
        }
        ServiceAccountsCommand::List => {
            let all = s
                .client
                .list_service_accounts()
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": all }));
            } else {
                let rows = all
                    .iter()
                    .map(|a| {
                        vec![
                            Cell::new(&a.id),
                            Cell::new(&a.name),
                            Cell::new(a.scopes.join(", ")),
                            Cell::new(output::relative(a.created_at, now)),
                            Cell::new(&a.created_by),
                        ]
                    })
                    .collect();
                print_table(
                    &["ID", "NAME", "SCOPES", "CREATED", "CREATED BY"],
                    rows,
                    "No service accounts. Create one with `keyward service-accounts create --name NAME --scopes SCOPES`.",
                );
            }
        }
        ServiceAccountsCommand::Show(r) => {
            let a = s.service_account(&r.account).await?;
            if s.json() {
                output::print_json(&a);
            } else {
                print_fields(&[
                    ("ID", a.id.clone()),
                    ("Name", a.name.clone()),
                    ("Scopes", a.scopes.join(", ")),
                    (
                        "Created",
                        format!("{} by {}", output::both(a.created_at, now), a.created_by),
                    ),
                ]);
            }
        }
        ServiceAccountsCommand::Rename(args) => {
            let a = s.service_account(&args.account.account).await?;
            let renamed = s
                .client
                .rename_service_account(&a.id, &args.name)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&renamed);
            } else {
                done(&format!(
                    "Renamed service account {} from \"{}\" to \"{}\".",
                    renamed.id, a.name, renamed.name
                ));
            }
        }
        ServiceAccountsCommand::Delete(args) => {
            let a = s.service_account(&args.account.account).await?;
            super::confirm_or_cancel(
                args.yes,
                &format!(
                    "Delete service account \"{}\" ({})? Its keys stop working immediately; this cannot be undone.",
                    a.name, a.id
                ),
                "not deleted: it was not confirmed",
            )?;
            s.client
                .delete_service_account(&a.id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "deleted": true, "id": a.id }));
            } else {
                done(&format!(
                    "Deleted service account \"{}\" ({}); its keys were revoked.",
                    a.name, a.id
                ));
            }
        }
        ServiceAccountsCommand::CreateKey(args) => {
            let a = s.service_account(&args.account.account).await?;
            let created = s
                .client
                .create_service_account_key(
                    &a.id,
                    &CreateServiceAccountKey {
                        name: args.name,
                        expires: args.expires,
                    },
                )
                .await
                .map_err(|e| s.fail(e))?;
            let what = format!(
                "Created key \"{}\" ({}) for service account \"{}\"",
                created.details.name, created.details.id, a.name
            );
            show_new_key(s.json(), &created.key, &created.details, &what, None)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- workspaces, agents

pub async fn resources(ctx: &Context, kind: ResourceKind, command: ResourceCommand) -> CmdResult {
    let noun = kind.singular();
    if let ResourceCommand::Delete(args) = &command {
        refuse_unconfirmable(args.yes, &format!("delete a {noun}"))?;
    }
    let s = Session::open(ctx)?;
    let now = Utc::now();
    match command {
        ResourceCommand::List => {
            let all = s.client.list_resources(kind).await.map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": all }));
            } else {
                let rows = all
                    .iter()
                    .map(|r| {
                        vec![
                            Cell::new(&r.id),
                            Cell::new(&r.name),
                            Cell::new(output::relative(r.created_at, now)),
                        ]
                    })
                    .collect();
                print_table(
                    &["ID", "NAME", "CREATED"],
                    rows,
                    &format!(
                        "No {}. Create one with `keyward {} create NAME`.",
                        kind.plural(),
                        kind.plural()
                    ),
                );
            }
        }
        ResourceCommand::Create(args) => {
            let r = s
                .client
                .create_resource(kind, &args.name)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&r);
            } else {
                done(&format!("Created {noun} \"{}\" ({}).", r.name, r.id));
            }
        }
        ResourceCommand::Show(r) => {
            let r = s.resource(kind, &r.target).await?;
            if s.json() {
                output::print_json(&r);
            } else {
                print_fields(&[
                    ("ID", r.id.clone()),
                    ("Name", r.name.clone()),
                    ("Created", output::both(r.created_at, now)),
                ]);
            }
        }
        ResourceCommand::Rename(args) => {
            let r = s.resource(kind, &args.target.target).await?;
            let renamed = s
                .client
                .rename_resource(kind, &r.id, &args.name)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&renamed);
            } else {
                done(&format!(
                    "Renamed {noun} {} from \"{}\" to \"{}\".",
                    renamed.id, r.name, renamed.name
                ));
            }
        }
        ResourceCommand::Delete(args) => {
            let r = s.resource(kind, &args.target.target).await?;
            super::confirm_or_cancel(
                args.yes,
                &format!(
                    "Delete {noun} \"{}\" ({})? This cannot be undone.",
                    r.name, r.id
                ),
                "not deleted: it was not confirmed",
            )?;
            s.client
                .delete_resource(kind, &r.id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "deleted": true, "id": r.id }));
            } else {
                done(&format!("Deleted {noun} \"{}\" ({}).", r.name, r.id));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- channels

fn channel_rows(channels: &[Channel]) -> Vec<Vec<Cell>> {
    let now = Utc::now();
    channels
        .iter()
        .map(|c| {
            vec![
                Cell::new(&c.id),
                Cell::new(&c.name),
                Cell::new(&c.agent_id),
                Cell::colored(&c.hook_id, Color::Cyan),
                if c.enabled {
                    Cell::colored("enabled", Color::Green)
                } else {
                    Cell::colored("disabled", Color::Yellow)
                },
                Cell::new(output::relative(c.created_at, now)),
            ]
        })
        .collect()
}

fn show_channel(c: &Channel) {
    print_fields(&[
        ("ID", c.id.clone()),
        ("Name", c.name.clone()),
        ("Agent", c.agent_id.clone()),
        ("Hook id", c.hook_id.clone()),
        (
            "Status",
            if c.enabled { "enabled" } else { "disabled" }.to_owned(),
        ),
        ("Created", output::both(c.created_at, Utc::now())),
    ]);
}

pub async fn channels(ctx: &Context, command: ChannelsCommand) -> CmdResult {
    if let ChannelsCommand::Delete(args) = &command {
        refuse_unconfirmable(args.yes, "delete a channel")?;
    }
    let s = Session::open(ctx)?;
    match command {
        ChannelsCommand::List(args) => {
            let agent = match &args.agent {
                Some(a) => Some(s.agent_id(a).await?),
                None => None,
            };
            let all = s
                .client
                .list_channels(agent.as_deref())
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "data": all }));
            } else {
                print_table(
                    &["ID", "NAME", "AGENT", "HOOK ID", "STATUS", "CREATED"],
                    channel_rows(&all),
                    "No channels. Create one with `keyward channels create --agent AGENT --name NAME`.",
                );
            }
        }
        ChannelsCommand::Create(args) => {
            let agent = s.agent_id(&args.agent).await?;
            let c = s
                .client
                .create_channel(&CreateChannel {
                    agent,
                    name: args.name,
                })
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&c);
            } else {
                done(&format!("Created channel \"{}\" ({}).", c.name, c.id));
                show_channel(&c);
            }
        }
        ChannelsCommand::Show(r) => {
            let c = s.channel(&r.channel).await?;
            if s.json() {
                output::print_json(&c);
            } else {
                show_channel(&c);
            }
        }
        ChannelsCommand::Update(args) => {
            let c = s.channel(&args.channel.channel).await?;
            let enabled = match (args.enable, args.disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let updated = s
                .client
                .update_channel(
                    &c.id,
                    &UpdateChannel {
                        name: args.name,
                        enabled,
                    },
                )
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&updated);
            } else {
                done(&format!("Updated channel {}.", updated.id));
                show_channel(&updated);
            }
        }
        ChannelsCommand::Delete(args) => {
            let c = s.channel(&args.channel.channel).await?;
            super::confirm_or_cancel(
                args.yes,
                &format!(
                    "Delete channel \"{}\" ({}, hook id {})? Its hook id stops working; this cannot be undone.",
                    c.name, c.id, c.hook_id
                ),
                "not deleted: it was not confirmed",
            )?;
            s.client
                .delete_channel(&c.id)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&json!({ "deleted": true, "id": c.id }));
            } else {
                done(&format!("Deleted channel \"{}\" ({}).", c.name, c.id));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- members

pub(super) fn role_text(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::OrgAdmin => "org-admin",
        Role::AgentAdmin => "agent-admin",
        Role::Member => "member",
    }
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
    print_fields(&rows);
}

pub async fn members(ctx: &Context, command: MembersCommand) -> CmdResult {
    match &command {
        MembersCommand::Remove(args) => refuse_unconfirmable(args.yes, "remove a member")?,
        MembersCommand::RevokeInvitation(args) => {
            refuse_unconfirmable(args.yes, "revoke an invitation")?
        }
        _ => {}
    }
    let s = Session::open(ctx)?;
    let now = Utc::now();
    match command {
        MembersCommand::List => {
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
                print_table(
                    &["USER ID", "EMAIL", "ROLE", "AGENTS", "ADDED"],
                    rows,
                    "No members.",
                );
            }
        }
        MembersCommand::Invite(args) => {
            let mut agents = Vec::new();
            for a in &args.agents {
                agents.push(s.agent_id(a).await?);
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
            let notice =
                format!("Copy the code now: it will not be shown again. It expires {expires}.");
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
        }
        MembersCommand::Invitations => {
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
                print_table(
                    &["ID", "EMAIL", "ROLE", "AGENTS", "STATUS", "EXPIRES", "INVITED BY"],
                    rows,
                    "No open invitations. Invite someone with `keyward members invite --email EMAIL --role member`.",
                );
            }
        }
        MembersCommand::RevokeInvitation(args) => {
            let inv = s.invitation(&args.invitation).await?;
            super::confirm_or_cancel(
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
                done(&format!(
                    "Revoked the invitation of {} ({}); its code no longer works.",
                    inv.email, inv.id
                ));
            }
        }
        MembersCommand::Show(r) => {
            let m = s.member(&r.member).await?;
            if s.json() {
                output::print_json(&m);
            } else {
                show_member(&m);
            }
        }
        MembersCommand::Update(args) => {
            let m = s.member(&args.member.member).await?;
            let agents = if args.agents.is_empty() {
                None
            } else {
                let mut ids = Vec::new();
                for a in &args.agents {
                    ids.push(s.agent_id(a).await?);
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
                done(&format!("Updated {}.", updated.email));
                show_member(&updated);
            }
        }
        MembersCommand::Remove(args) => {
            let m = s.member(&args.member.member).await?;
            super::confirm_or_cancel(
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
                done(&format!("Removed {} ({}).", m.email, m.user_id));
            }
        }
    }
    Ok(())
}
