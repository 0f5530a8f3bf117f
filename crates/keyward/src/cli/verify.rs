//! `keyward keys verify`: ask the server whether a raw key is valid, as your services do
//! (`POST /v1/keys/verify`), and how its answer reads for people. The key is never
//! printed back.

use super::context::{Context, Session};
use super::failure::{CmdResult, Failure, EXIT_ERROR};
use super::output::{self, Color, Style};
use super::parse::parse_permission;
use super::prompt;
use super::text::{count_text, scope_text};
use chrono::{DateTime, Utc};
use clap::Args;
use keyward_client::{ApiKey, Verification, VerifyOptions};

/// Ask the server whether a raw key is valid, as your services do.
#[derive(Args)]
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

/// The key to verify from a hidden prompt, or from stdin when it is not a terminal.
fn read_key_to_verify() -> Result<ApiKey, Failure> {
    prompt::read_key(
        "Paste the key to verify (input is hidden): ",
        "no key to verify on stdin: pipe it in (echo \"$KEY\" | keyward keys verify -)",
    )
}

pub async fn run(ctx: &Context, args: VerifyArgs) -> CmdResult {
    // Read a key from stdin before anything else, so a failure to connect cannot lose it.
    let stdin_key = if args.key.trim() == "-" {
        Some(read_key_to_verify()?)
    } else {
        None
    };
    let s = Session::open(ctx)?;
    let key = stdin_key.unwrap_or_else(|| ApiKey::new(args.key.as_str()));
    let options = VerifyOptions {
        permission: args.permission,
        workspace: args.workspace,
        agent: args.agent,
        channel: args.channel,
        cost: args.cost,
    };
    let answer = s
        .client
        .verify_with(&key, &options)
        .await
        .map_err(|e| s.fail(e))?;
    let now = Utc::now();
    if s.json() {
        output::print_json(&answer);
    } else if answer.valid {
        print!("{}", valid_report(Style::stdout(), &answer, now));
    } else {
        println!("{}", denied_line(Style::stdout(), &answer, now));
    }
    if answer.valid {
        Ok(())
    } else {
        // The answer was printed: exit 1 without an error line.
        Err(Failure::new(
            EXIT_ERROR,
            &answer.code,
            answer.message.clone().unwrap_or_default(),
        )
        .quiet())
    }
}

/// The one line for a verification that did not answer VALID (never the key).
pub fn denied_line(style: Style, v: &Verification, now: DateTime<Utc>) -> String {
    let mut reason = match v.code.as_str() {
        "RATE_LIMITED" => match &v.ratelimit {
            Some(r) => format!(
                "the rate limit of {} requests is used up; full again {}",
                count_text(i64::from(r.limit)),
                reset_text(r.reset, now)
            ),
            None => "the rate limit is used up".to_owned(),
        },
        "QUOTA_EXCEEDED" => match &v.quota {
            Some(q) => format!(
                "the quota is used up: {} of {} credits left",
                count_text(q.remaining),
                count_text(q.limit)
            ),
            None => "the quota is used up".to_owned(),
        },
        _ => v.message.clone().unwrap_or_else(|| "not valid".to_owned()),
    };
    if let Some(id) = &v.key_id {
        let name = v
            .name
            .as_deref()
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        reason.push_str(&format!(" (key {id}{name})"));
    }
    format!(
        "{} {}: {reason}",
        style.paint(Color::Red, "✗"),
        style.paint(Color::Bold, &v.code)
    )
}

/// `in 20 seconds` from a unix-milliseconds instant.
fn reset_text(reset_ms: i64, now: DateTime<Utc>) -> String {
    match DateTime::from_timestamp_millis(reset_ms) {
        Some(at) if at > now => {
            let secs = (at - now).num_milliseconds().div_euclid(1000) + 1;
            if secs < 90 {
                format!("in {secs} second{}", if secs == 1 { "" } else { "s" })
            } else {
                output::relative(at, now)
            }
        }
        _ => "now".to_owned(),
    }
}

/// A VALID verification: the heading and the key's details as `key: value` lines.
pub fn valid_report(style: Style, v: &Verification, now: DateTime<Utc>) -> String {
    let mut out = format!(
        "{} {}",
        style.paint(Color::Green, "✓"),
        style.paint(Color::Bold, &v.code)
    );
    if let (Some(id), Some(name)) = (&v.key_id, &v.name) {
        out.push_str(&format!(": \"{name}\" ({id})"));
    }
    out.push('\n');
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(owner) = &v.owner {
        rows.push(("Owner", format!("{} ({})", owner.label(), owner.type_str())));
    }
    if let Some(org) = &v.org {
        rows.push(("Organization", format!("{} ({})", org.name, org.id)));
    }
    if let Some(scope) = &v.scope {
        rows.push(("Scope", scope_text(scope)));
    }
    if let Some(p) = &v.permissions {
        rows.push(("Permissions", output::permissions(p)));
    }
    rows.push((
        "Expires",
        v.expires_at
            .map(|t| output::both(t, now))
            .unwrap_or_else(|| "never".to_owned()),
    ));
    if let Some(r) = &v.ratelimit {
        rows.push((
            "Rate limit",
            format!(
                "{} of {} left, full again {}",
                count_text(i64::from(r.remaining)),
                count_text(i64::from(r.limit)),
                reset_text(r.reset, now)
            ),
        ));
    }
    if let Some(q) = &v.quota {
        rows.push((
            "Quota",
            format!(
                "{} of {} credits left",
                count_text(q.remaining),
                count_text(q.limit)
            ),
        ));
    }
    if let Some(m) = &v.metadata {
        rows.push(("Metadata", m.to_string()));
    }
    out.push_str(&output::fields(style, &rows));
    out
}
