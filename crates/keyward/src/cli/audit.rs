//! `keyward audit`: the organization's audit log, newest first, paged.

use super::context::{ConnArgs, Context};
use super::failure::{CmdResult, Failure};
use super::output::{self, Cell, Color, Style};
use chrono::Utc;
use clap::Args;
use keyward_client::{AuditEvent, ListParams};
use serde_json::json;

/// Upper bound on pages read by one command (100 events each).
const MAX_PAGES: usize = 1000;

#[derive(Args, Clone)]
pub struct AuditArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// How many events to show (pages through the log as needed)
    #[arg(long, short = 'L', default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Continue after a previous page (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// The whole log, however many pages that takes
    #[arg(long, conflicts_with_all = ["limit", "cursor"])]
    all: bool,
}

pub async fn run(ctx: &Context, args: AuditArgs) -> CmdResult {
    let (resolved, client) = ctx.connect()?;
    let wanted = if args.all {
        usize::MAX
    } else {
        args.limit as usize
    };
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut cursor = args.cursor;
    for _ in 0..MAX_PAGES {
        let page = client
            .audit_log(&ListParams {
                limit: Some((wanted - events.len()).min(100) as u32),
                cursor: cursor.take(),
            })
            .await
            .map_err(|e| Failure::client(&e, &resolved))?;
        events.extend(page.data);
        cursor = page.next_cursor;
        if cursor.is_none() || events.len() >= wanted {
            break;
        }
    }
    if ctx.json() {
        output::print_json(&json!({ "data": events, "next_cursor": cursor }));
        return Ok(());
    }
    if events.is_empty() {
        println!("The audit log is empty.");
    } else {
        let now = Utc::now();
        let rows: Vec<Vec<Cell>> = events
            .iter()
            .map(|e| {
                vec![
                    Cell::new(output::relative(e.at, now)),
                    Cell::new(&e.actor.name),
                    Cell::colored(&e.action, action_color(&e.action)),
                    Cell::new(format!("{} {}", e.target.target_type, e.target.id)),
                    Cell::new(summary(e)),
                    Cell::new(e.source_ip.as_deref().unwrap_or("-")),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                Style::stdout(),
                &["WHEN", "ACTOR", "ACTION", "TARGET", "DETAILS", "SOURCE"],
                &rows
            )
        );
    }
    if let Some(c) = cursor {
        output::note(&format!(
            "More events: keyward audit --cursor {c}   (or --all)"
        ));
    }
    Ok(())
}

fn action_color(action: &str) -> Color {
    if action.ends_with(".revoke") || action.ends_with(".delete") {
        Color::Red
    } else if action.ends_with(".create") {
        Color::Green
    } else {
        Color::Cyan
    }
}

/// A few words from the event's details: the key's name, a rename, a rotation.
fn summary(e: &AuditEvent) -> String {
    let d = &e.details;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    if let (Some(from), Some(to)) = (text(&d["name"]["from"]), text(&d["name"]["to"])) {
        if from != to {
            return format!("renamed {from:?} → {to:?}");
        }
    }
    if let Some(replacement) = text(&d["replacement"]) {
        return format!("replaced by {replacement}");
    }
    match (text(&d["name"]), text(&d["prefix"])) {
        (Some(name), Some(prefix)) => format!("{name:?} {prefix}…"),
        (Some(name), None) => format!("{name:?}"),
        _ => String::new(),
    }
}
