//! Workers, for people: `keyward workers list|show|remove` (the server's
//! `http/workers.rs`): the machines that run `keyward worker` with a worker key, their
//! status by the server's clock, the troubleshooting table answered for one, and
//! removing one (its daemon is disconnected and exits).
//!
//! A worker is named by its id (`wkr_…`) or its name; names are unique in a workspace
//! only, so a name found in several workspaces needs `--workspace` (or the id).

use super::context::{ConnArgs, Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::lookup;
use super::output::{self, Cell, Color};
use super::prompt;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use keyward_client::{KeyStatus, ResourceKind, Worker, WorkerDetail, WorkerQuery, WorkerStatus};
use serde_json::json;

/// Upper bound on pages read by one listing or name lookup (100 workers each).
const MAX_PAGES: usize = 1000;

/// What `list` says when there is none: how to start one.
pub const EMPTY: &str =
    "No workers yet. On the machine: keyward login --token <worker key>, then keyward worker";

// ------------------------------------------------------------------------- arguments

#[derive(Args)]
pub struct WorkersArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: WorkersCommand,
}

#[derive(Subcommand)]
pub enum WorkersCommand {
    /// List workers: name, status, last heartbeat, version, key prefix, labels, id.
    #[command(after_help = "Examples:\n  \
        keyward workers list\n  \
        keyward workers list --workspace production --status stale\n  \
        keyward workers list --label gpu --json | jq -r '.data[].name'")]
    List(ListArgs),
    /// Show one worker, its key, and the troubleshooting checks answered for it.
    #[command(after_help = "Examples:\n  \
        keyward workers show wkr_…\n  \
        keyward workers show alice-macbook --workspace production")]
    Show(WorkerRef),
    /// Remove a worker from the list; its daemon is disconnected and exits.
    #[command(
        long_about = "Remove a worker from the list and close its connection: its daemon \
            exits (started again, it registers anew). Its key is not revoked: revoke it with \
            `keyward keys revoke` to keep the machine out.\n\n\
            Asks for confirmation; pass --yes when stdin is not a terminal (scripts, CI).",
        after_help = "Example:\n  keyward workers remove wkr_… --yes"
    )]
    Remove(ConfirmedRef),
}

/// `--status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Heartbeats arrive
    Online,
    /// Two heartbeats missed
    Stale,
    /// Five heartbeats missed, or it stopped
    Offline,
    /// Its key was revoked
    Revoked,
    /// Its key expired
    Expired,
    /// Its key is disabled
    Disabled,
}

impl From<StatusArg> for WorkerStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Online => WorkerStatus::Online,
            StatusArg::Stale => WorkerStatus::Stale,
            StatusArg::Offline => WorkerStatus::Offline,
            StatusArg::Revoked => WorkerStatus::Revoked,
            StatusArg::Expired => WorkerStatus::Expired,
            StatusArg::Disabled => WorkerStatus::Disabled,
        }
    }
}

#[derive(Args)]
pub struct ListArgs {
    /// Only workers of this workspace (its id or name)
    #[arg(long)]
    workspace: Option<String>,
    /// Only workers with this status (by the server's clock)
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only workers carrying this label
    #[arg(long)]
    label: Option<String>,
    /// How many workers to show (pages as needed)
    #[arg(long, short = 'L', default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Every worker, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
}

#[derive(Args)]
pub struct WorkerRef {
    /// The worker's id (wkr_…) or name
    #[arg(value_name = "WORKER")]
    worker: String,
    /// The workspace (id or name) to find a name in, when several have a worker of it
    #[arg(long)]
    workspace: Option<String>,
}

#[derive(Args)]
pub struct ConfirmedRef {
    #[command(flatten)]
    worker: WorkerRef,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

// ------------------------------------------------------------------------- words

pub fn status_color(s: WorkerStatus) -> Color {
    match s {
        WorkerStatus::Online => Color::Green,
        WorkerStatus::Stale => Color::Yellow,
        WorkerStatus::Offline => Color::Dim,
        WorkerStatus::Revoked | WorkerStatus::Expired | WorkerStatus::Disabled => Color::Red,
    }
}

/// `kw_wk_abcd…`: the key's prefix, with the ellipsis that says it is not the key.
fn prefix_text(prefix: &str) -> String {
    if prefix.ends_with('…') {
        prefix.to_owned()
    } else {
        format!("{prefix}…")
    }
}

fn key_status_text(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Active => "active",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Expired => "expired",
        KeyStatus::Revoked => "revoked",
    }
}

fn labels_text(labels: &[String]) -> String {
    if labels.is_empty() {
        "-".to_owned()
    } else {
        labels.join(",")
    }
}

fn when(at: Option<DateTime<Utc>>, none: &str, now: DateTime<Utc>) -> String {
    at.map(|t| output::both(t, now))
        .unwrap_or_else(|| none.to_owned())
}

// ------------------------------------------------------------------------- rendering

fn worker_rows(all: &[Worker], now: DateTime<Utc>) -> Vec<Vec<Cell>> {
    all.iter()
        .map(|w| {
            vec![
                Cell::new(&w.name),
                Cell::colored(w.status.as_str(), status_color(w.status)),
                Cell::new(output::relative(w.last_heartbeat_at, now)),
                Cell::new(&w.version),
                Cell::new(prefix_text(&w.key.prefix)),
                Cell::new(labels_text(&w.labels)),
                Cell::new(&w.id),
            ]
        })
        .collect()
}

fn detail_fields(d: &WorkerDetail, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let w = &d.worker;
    vec![
        ("ID", w.id.clone()),
        ("Name", w.name.clone()),
        ("Workspace", w.workspace_id.clone()),
        ("Status", w.status.as_str().to_owned()),
        (
            "Connected",
            if w.connected { "yes" } else { "no" }.to_owned(),
        ),
        ("Host", w.host.clone()),
        ("OS", w.os.clone()),
        ("Version", w.version.clone()),
        ("Labels", labels_text(&w.labels)),
        (
            "Forwards events",
            if w.forwards { "yes" } else { "no" }.to_owned(),
        ),
        (
            "Heartbeat",
            format!("every {} s", w.heartbeat_interval_secs),
        ),
        ("Registered", output::both(w.registered_at, now)),
        ("Connected since", when(w.connected_since, "-", now)),
        ("Last heartbeat", output::both(w.last_heartbeat_at, now)),
        ("Stopped", when(w.stopped_at, "no", now)),
        (
            "Key",
            format!("{} ({})", w.key.name, prefix_text(&w.key.prefix)),
        ),
        ("Key status", key_status_text(w.key.status).to_owned()),
        (
            "Owner's worker keys",
            match d.owner_active_worker_keys {
                Some(n) => format!("{n} of {} active in this workspace", d.worker_key_limit),
                None => "-".to_owned(),
            },
        ),
    ]
}

fn troubleshooting_rows(d: &WorkerDetail) -> Vec<Vec<Cell>> {
    d.troubleshooting
        .iter()
        .map(|c| {
            vec![
                Cell::new(&c.symptom),
                Cell::new(&c.check),
                Cell::new(&c.finding),
                if c.ok {
                    Cell::colored("✓", Color::Green)
                } else {
                    Cell::colored("✗", Color::Red)
                },
            ]
        })
        .collect()
}

// ------------------------------------------------------------------------- lookups

async fn workspace_id(s: &Session<'_>, wanted: Option<&str>) -> Result<Option<String>, Failure> {
    match wanted {
        None => Ok(None),
        Some(w) => Ok(Some(
            lookup::resource(s, ResourceKind::Workspace, w).await?.id,
        )),
    }
}

/// Reads pages of `query` until `wanted` workers or the end: the workers and the
/// cursor after them.
async fn collect(
    s: &Session<'_>,
    mut query: WorkerQuery,
    wanted: usize,
) -> Result<(Vec<Worker>, Option<String>), Failure> {
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        query.limit = Some((wanted - all.len()).min(100) as u32);
        let page = s.client.workers(&query).await.map_err(|e| s.fail(e))?;
        all.extend(page.data);
        query.cursor = page.next_cursor;
        if query.cursor.is_none() || all.len() >= wanted {
            break;
        }
    }
    Ok((all, query.cursor))
}

/// The one worker `r` names: by id, or by name (in `--workspace` when given).
async fn find(s: &Session<'_>, r: &WorkerRef) -> Result<WorkerDetail, Failure> {
    let wanted = r.worker.trim();
    if wanted.starts_with("wkr_") {
        return s.client.worker(wanted).await.map_err(|e| s.fail(e));
    }
    let query = WorkerQuery {
        workspace: workspace_id(s, r.workspace.as_deref()).await?,
        ..Default::default()
    };
    let (all, _) = collect(s, query, usize::MAX).await?;
    // The name as written first (names are unique per workspace as written), then
    // without regard to case.
    let exact: Vec<&Worker> = all.iter().filter(|w| w.name == wanted).collect();
    let matches: Vec<&Worker> = if exact.is_empty() {
        all.iter()
            .filter(|w| w.name.eq_ignore_ascii_case(wanted))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => s.client.worker(&one.id).await.map_err(|e| s.fail(e)),
        [] => Err(Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("no worker has the id or name {wanted:?}"),
        )
        .with_hint("`keyward workers list` shows the workers your key reaches and their ids")),
        many => Err(Failure::new(
            EXIT_ERROR,
            "ambiguous",
            format!(
                "{} workers are named {wanted:?} (in several workspaces, or in other cases): {}",
                many.len(),
                many.iter()
                    .map(|w| format!("{} (workspace {})", w.id, w.workspace_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("pass --workspace WORKSPACE, or name the worker by its id")),
    }
}

// ------------------------------------------------------------------------- commands

pub async fn run(ctx: &Context, command: WorkersCommand) -> CmdResult {
    if let WorkersCommand::Remove(args) = &command {
        prompt::refuse_unconfirmable(args.yes, "remove a worker")?;
    }
    let s = Session::open(ctx)?;
    match command {
        WorkersCommand::List(args) => list(&s, args).await,
        WorkersCommand::Show(r) => {
            let d = find(&s, &r).await?;
            if s.json() {
                output::print_json(&d);
            } else {
                let now = Utc::now();
                output::print_fields(&detail_fields(&d, now));
                println!();
                output::print_table(
                    &["SYMPTOM", "CHECK", "WHAT KEYWARD SEES", "OK"],
                    troubleshooting_rows(&d),
                    "No checks.",
                );
            }
            Ok(())
        }
        WorkersCommand::Remove(args) => remove(&s, args).await,
    }
}

async fn list(s: &Session<'_>, args: ListArgs) -> CmdResult {
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let query = WorkerQuery {
        workspace: workspace_id(s, args.workspace.as_deref()).await?,
        status: args.status.map(Into::into),
        label: args.label,
        limit: None,
        cursor: args.cursor,
    };
    let (all, cursor) = collect(s, query, wanted).await?;
    if s.json() {
        output::print_json(&json!({ "data": all, "next_cursor": cursor }));
        return Ok(());
    }
    output::print_table(
        &[
            "NAME",
            "STATUS",
            "LAST HEARTBEAT",
            "VERSION",
            "KEY PREFIX",
            "LABELS",
            "ID",
        ],
        worker_rows(&all, Utc::now()),
        EMPTY,
    );
    if let Some(c) = cursor {
        output::note(&format!(
            "More workers: keyward workers list --cursor {c}   (or --all)"
        ));
    }
    Ok(())
}

async fn remove(s: &Session<'_>, args: ConfirmedRef) -> CmdResult {
    let d = find(s, &args.worker).await?;
    let w = &d.worker;
    prompt::confirm_or_cancel(
        args.yes,
        &format!(
            "Remove worker \"{}\" ({}, on {})? Its daemon is disconnected and exits.",
            w.name, w.id, w.host
        ),
        "not removed: it was not confirmed",
    )?;
    s.client.remove_worker(&w.id).await.map_err(|e| s.fail(e))?;
    if s.json() {
        output::print_json(&json!({ "removed": true, "id": w.id }));
    } else {
        output::done(&format!("Removed worker \"{}\" ({}).", w.name, w.id));
        output::note(&format!(
            "Its key {} still works: started again, the worker registers anew. `keyward keys revoke {}` keeps the machine out.",
            prefix_text(&w.key.prefix),
            w.key.id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_flag_and_a_color() {
        for s in WorkerStatus::ALL {
            let arg = StatusArg::from_str(s.as_str(), false).unwrap();
            assert_eq!(WorkerStatus::from(arg), s);
            let _ = status_color(s);
        }
    }

    #[test]
    fn prefixes_and_labels_read_as_people_expect() {
        assert_eq!(prefix_text("kw_wk_abcd"), "kw_wk_abcd…");
        assert_eq!(prefix_text("kw_wk_abcd…"), "kw_wk_abcd…");
        assert_eq!(labels_text(&[]), "-");
        assert_eq!(labels_text(&["gpu".into(), "linux".into()]), "gpu,linux");
    }
}
