//! `keyward workspaces …` and `keyward agents …`: the same create, list, show, rename
//! and delete on the organization's two kinds of resource.

use super::context::{ConnArgs, Context, Session};
use super::failure::CmdResult;
use super::lookup;
use super::output::{self, Cell};
use super::prompt;
use chrono::Utc;
use clap::{Args, Subcommand};
use keyward_client::ResourceKind;
use serde_json::json;

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

pub async fn run(ctx: &Context, kind: ResourceKind, command: ResourceCommand) -> CmdResult {
    let noun = kind.singular();
    if let ResourceCommand::Delete(args) = &command {
        prompt::refuse_unconfirmable(args.yes, &format!("delete a {noun}"))?;
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
                output::print_table(
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
                output::done(&format!("Created {noun} \"{}\" ({}).", r.name, r.id));
            }
        }
        ResourceCommand::Show(r) => {
            let r = lookup::resource(&s, kind, &r.target).await?;
            if s.json() {
                output::print_json(&r);
            } else {
                output::print_fields(&[
                    ("ID", r.id.clone()),
                    ("Name", r.name.clone()),
                    ("Created", output::both(r.created_at, now)),
                ]);
            }
        }
        ResourceCommand::Rename(args) => {
            let r = lookup::resource(&s, kind, &args.target.target).await?;
            let renamed = s
                .client
                .rename_resource(kind, &r.id, &args.name)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&renamed);
            } else {
                output::done(&format!(
                    "Renamed {noun} {} from \"{}\" to \"{}\".",
                    renamed.id, r.name, renamed.name
                ));
            }
        }
        ResourceCommand::Delete(args) => {
            let r = lookup::resource(&s, kind, &args.target.target).await?;
            prompt::confirm_or_cancel(
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
                output::done(&format!("Deleted {noun} \"{}\" ({}).", r.name, r.id));
            }
        }
    }
    Ok(())
}
