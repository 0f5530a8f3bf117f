//! `keyward keys create|list|show|edit|revoke|disable|enable|rotate`: the
//! organization's keys (`usage` and `verify`, in the same group, are features of their
//! own). The flags are in [`args`].

mod args;

pub use args::KeysCommand;

use super::context::{Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::lookup;
use super::once;
use super::output::{self, Cell, Color, Style};
use super::prompt;
use super::text::{
    kind_label, quota_or_none, quota_text, ratelimit_or_none, ratelimit_text, scope_text,
    status_color, status_word,
};
use args::{CreateArgs, EditArgs, EnvironmentArg, KindArg, ListArgs, RevokeArgs, RotateArgs};
use chrono::Utc;
use keyward_client::{
    ApiKey, CreateKey, Environment, KeyKind, KeyStatus, KeyView, ListParams, ResourceKind,
    RotateKey, Scope, UpdateKey,
};
use lookup::KeyRef;
use serde_json::json;
use std::io::IsTerminal;

/// How many pages `keys list --all` reads at most (100 keys each).
const MAX_PAGES: usize = 1000;

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
    let session = Session::open(ctx)?;
    match command {
        KeysCommand::Create(args) => session.create(args).await,
        KeysCommand::List(args) => session.list(args).await,
        KeysCommand::Show(args) => session.show(args).await,
        KeysCommand::Edit(args) => session.edit(args).await,
        KeysCommand::Revoke(args) => session.revoke(args).await,
        KeysCommand::Disable(args) => session.switch(args, false).await,
        KeysCommand::Enable(args) => session.switch(args, true).await,
        KeysCommand::Rotate(args) => session.rotate(args).await,
    }
}

// What only `keys …` does with a connection; private to this module.
impl Session<'_> {
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
                EXIT_ERROR,
                "not_found",
                format!("no {} has the id or name {wanted:?}", kind.singular()),
            )
            .with_hint(format!("`keyward {} list` shows them", kind.plural()))),
            _ => Err(Failure::new(
                EXIT_ERROR,
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
            kind_label(created.details.kind),
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
        once::new_key(self.ctx.json(), key, details, what, previous)
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
        let key = lookup::key(self, &args.key).await?;
        if self.ctx.json() {
            output::print_json(&key);
        } else {
            print_key(&key);
        }
        Ok(())
    }

    async fn edit(&self, args: EditArgs) -> CmdResult {
        let key = lookup::key(self, &args.key.key).await?;
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
                    ratelimit_or_none(key.ratelimit.as_ref()),
                    ratelimit_or_none(updated.ratelimit.as_ref())
                ));
            }
            if args.quota.is_some() || updated.quota != key.quota {
                changes.push(format!(
                    "quota {} → {}{}",
                    quota_or_none(key.quota.as_ref()),
                    quota_or_none(updated.quota.as_ref()),
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
        let key = lookup::key(self, &args.key).await?;
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
        let key = lookup::key(self, &args.key.key).await?;
        if key.status == KeyStatus::Revoked {
            return Err(Failure::new(
                EXIT_ERROR,
                "key_revoked",
                format!("{} ({}…) is already revoked", key.id, key.prefix),
            ));
        }
        prompt::confirm_or_cancel(
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
        let key = lookup::key(self, &args.key.key).await?;
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

fn status_cell(status: KeyStatus) -> Cell {
    Cell::colored(status_word(status), status_color(status))
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
        parts.push(ratelimit_text(r));
    }
    if let Some(q) = &k.quota {
        parts.push(format!("quota {}", quota_text(q)));
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
    rows.push(("Rate limit", ratelimit_or_none(k.ratelimit.as_ref())));
    rows.push(("Quota", quota_or_none(k.quota.as_ref())));
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
