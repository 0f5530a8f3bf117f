//! `keyward channels list|create|show|update|delete`: channels of agents, each with a
//! public hook id.

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure};
use super::lookup::{self, pick};
use super::output::{self, Cell, Color};
use super::prompt;
use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand};
use keyward_client::{Channel, CreateChannel, UpdateChannel};
use serde_json::json;

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

async fn channel(s: &Session<'_>, wanted: &str) -> Result<Channel, Failure> {
    if wanted.starts_with("ch_") {
        return s.client.get_channel(wanted).await.map_err(|e| s.fail(e));
    }
    let all = s.client.list_channels(None).await.map_err(|e| s.fail(e))?;
    pick(&all, wanted, "channel", |c| &c.id, |c| &c.name)
}

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
    output::print_fields(&[
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

pub async fn run(ctx: &Context, command: ChannelsCommand) -> CmdResult {
    if let ChannelsCommand::Delete(args) = &command {
        prompt::refuse_unconfirmable(args.yes, "delete a channel")?;
    }
    let s = Session::open(ctx)?;
    match command {
        ChannelsCommand::List(args) => {
            let agent = match &args.agent {
                Some(a) => Some(lookup::agent_id(&s, a).await?),
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
                output::print_table(
                    &["ID", "NAME", "AGENT", "HOOK ID", "STATUS", "CREATED"],
                    channel_rows(&all),
                    "No channels. Create one with `keyward channels create --agent AGENT --name NAME`.",
                );
            }
        }
        ChannelsCommand::Create(args) => {
            let agent = lookup::agent_id(&s, &args.agent).await?;
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
                output::done(&format!("Created channel \"{}\" ({}).", c.name, c.id));
                show_channel(&c);
            }
        }
        ChannelsCommand::Show(r) => {
            let c = channel(&s, &r.channel).await?;
            if s.json() {
                output::print_json(&c);
            } else {
                show_channel(&c);
            }
        }
        ChannelsCommand::Update(args) => {
            let c = channel(&s, &args.channel.channel).await?;
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
                output::done(&format!("Updated channel {}.", updated.id));
                show_channel(&updated);
            }
        }
        ChannelsCommand::Delete(args) => {
            let c = channel(&s, &args.channel.channel).await?;
            prompt::confirm_or_cancel(
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
                output::done(&format!("Deleted channel \"{}\" ({}).", c.name, c.id));
            }
        }
    }
    Ok(())
}
