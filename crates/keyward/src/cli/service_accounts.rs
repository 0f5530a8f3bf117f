//! `keyward service-accounts create|list|show|rename|delete|create-key`: non-human
//! principals with explicit scopes, and their keys.

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure};
use super::lookup::pick;
use super::once::{self, Shown};
use super::output::{self, Cell};
use super::parse::parse_expiry;
use super::prompt;
use chrono::Utc;
use clap::{Args, Subcommand};
use keyward_client::{CreateServiceAccount, CreateServiceAccountKey, ServiceAccount};
use serde_json::json;

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
    #[arg(long, short = 'e', value_parser = parse_expiry)]
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
    #[arg(long, short = 'e', value_parser = parse_expiry)]
    expires: Option<String>,
}

async fn service_account(s: &Session<'_>, wanted: &str) -> Result<ServiceAccount, Failure> {
    if wanted.starts_with("sa_") {
        return s
            .client
            .get_service_account(wanted)
            .await
            .map_err(|e| s.fail(e));
    }
    let all = s
        .client
        .list_service_accounts()
        .await
        .map_err(|e| s.fail(e))?;
    pick(&all, wanted, "service-account", |a| &a.id, |a| &a.name)
}

pub async fn run(ctx: &Context, command: ServiceAccountsCommand) -> CmdResult {
    if let ServiceAccountsCommand::Delete(args) = &command {
        prompt::refuse_unconfirmable(args.yes, "delete a service account")?;
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
                    also: None,
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
                output::print_table(
                    &["ID", "NAME", "SCOPES", "CREATED", "CREATED BY"],
                    rows,
                    "No service accounts. Create one with `keyward service-accounts create --name NAME --scopes SCOPES`.",
                );
            }
        }
        ServiceAccountsCommand::Show(r) => {
            let a = service_account(&s, &r.account).await?;
            if s.json() {
                output::print_json(&a);
            } else {
                output::print_fields(&[
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
            let a = service_account(&s, &args.account.account).await?;
            let renamed = s
                .client
                .rename_service_account(&a.id, &args.name)
                .await
                .map_err(|e| s.fail(e))?;
            if s.json() {
                output::print_json(&renamed);
            } else {
                output::done(&format!(
                    "Renamed service account {} from \"{}\" to \"{}\".",
                    renamed.id, a.name, renamed.name
                ));
            }
        }
        ServiceAccountsCommand::Delete(args) => {
            let a = service_account(&s, &args.account.account).await?;
            prompt::confirm_or_cancel(
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
                output::done(&format!(
                    "Deleted service account \"{}\" ({}); its keys were revoked.",
                    a.name, a.id
                ));
            }
        }
        ServiceAccountsCommand::CreateKey(args) => {
            let a = service_account(&s, &args.account.account).await?;
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
            once::new_key(s.json(), &created.key, &created.details, &what, None)?;
        }
    }
    Ok(())
}
