//! `keyward worker`: the worker daemon. It registers this machine with a worker key
//! (`kw_wk_`), holds a WebSocket to Keyward that carries heartbeats one way and webhook
//! events the other, forwards each event to a local URL and acknowledges it, reconnects
//! by itself, and on SIGTERM drains, deregisters and exits 0. Terminal outcomes (a
//! revoked key, a removed worker, …) have exit codes of their own (`cli/failure.rs`).
//!
//! Dependencies point one way: this file -> `daemon` -> `session` -> `forward`,
//! `outcome`, `log`; `backoff` and `signals` are leaves beside them. They use the CLI's
//! `context`, `failure`, `output` and `loopback`, never `cli/mod.rs`.

mod backoff;
mod daemon;
mod forward;
mod log;
mod outcome;
mod session;
mod signals;

use crate::cli::context::{ConnArgs, Context};
use crate::cli::failure::{CmdResult, Failure, EXIT_AUTH};
use crate::cli::loopback;
use clap::Args;
use keyward_client::RegisterWorkerRequest;
use keyward_core::key::{KeyKind, PlainKey};
use keyward_core::worker::{parse_labels, DEFAULT_HEARTBEAT_SECS, HEARTBEAT_SECS};
use keyward_core::Name;
use serde_json::json;

/// Run this machine as a worker: heartbeats, and webhook events forwarded to a local URL.
#[derive(Args)]
#[command(
    long_about = "Run this machine as a worker of the worker key's workspace.\n\n\
        Registers the worker (POST /v1/workers/register), then holds a WebSocket to \
        Keyward: a heartbeat every --heartbeat seconds, and, with --forward-to, the events \
        of the workspace's webhook endpoints whose destination is `workers` (or \
        `workers:LABEL` for a label it carries), each POSTed to the URL with the headers \
        Keyward signed (Standard Webhooks) and acknowledged with its answer. It reconnects \
        by itself (backoff up to 30 s) when the connection drops or Keyward restarts.\n\n\
        SIGTERM or Ctrl-C drains: no new events, the ones in hand finish and are \
        acknowledged, then the worker deregisters and exits 0; a second signal exits at \
        once (130). Logs go to stderr, one JSON object a line with --json.\n\n\
        Needs a worker key (kw_wk_…): create one in Settings → API Keys or with \
        `keyward keys create --kind worker --workspace W`, then `keyward login --token <key>`.",
    after_help = "Examples:\n  \
        keyward login --token kw_wk_…\n  \
        keyward worker\n  \
        keyward worker --forward-to http://localhost:3000/hooks\n  \
        keyward worker --name build-01 --label gpu --label linux --heartbeat 30\n  \
        KEYWARD_API_KEY=kw_wk_… keyward worker --server https://keys.example.com --json\n\n\
        Exit codes: 0 stopped (deregistered), 1 error, 2 usage, 3 key refused, 10 key revoked, \
        11 key expired, 12 key disabled, 13 not a worker key, 14 worker removed, \
        15 name in use on another machine, 16 replaced by another connection, 130 second signal."
)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The worker's name, unique in the workspace [default: this machine's host name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A label endpoints may select it by (`workers:LABEL`); repeat for more
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// Seconds between heartbeats (1 to 300)
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_HEARTBEAT_SECS,
        value_parser = clap::value_parser!(u32).range(i64::from(*HEARTBEAT_SECS.start())..=i64::from(*HEARTBEAT_SECS.end())))]
    heartbeat: u32,
    /// Forward events to this http(s) URL (without it the worker only heartbeats)
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,
}

pub async fn run(ctx: &Context, args: WorkerArgs) -> CmdResult {
    let log = log::Log::new(ctx.json());
    let labels = parse_labels(&args.labels).map_err(|e| Failure::usage(format!("--label: {e}")))?;
    let forwarder = match &args.forward_to {
        Some(raw) => Some(
            forward::parse_url(raw)
                .and_then(forward::Forwarder::new)
                .map_err(|e| Failure::usage(format!("--forward-to: {e}")))?,
        ),
        None => None,
    };
    let host = loopback::machine_name();
    let name = match &args.name {
        Some(n) => n.clone(),
        None if host == loopback::UNKNOWN_MACHINE => {
            return Err(Failure::usage(
                "cannot tell this machine's host name: name the worker with --name",
            ))
        }
        None => host.clone(),
    };
    let name = Name::parse(&name).map_err(|e| Failure::usage(format!("--name: {e}")))?;

    // The key, offline first: only a worker key is ever sent.
    let resolved = ctx.resolve()?;
    let key_prefix = match PlainKey::parse(resolved.key.expose_secret()) {
        Ok(k) if k.kind() == KeyKind::Worker => k.visible_prefix(),
        Err(e) if resolved.key.expose_secret().starts_with("kw_wk_") => {
            return Err(Failure::new(
                EXIT_AUTH,
                "malformed_token",
                format!(
                    "the worker key from {} is malformed ({e}); it was not sent",
                    resolved.source.describe()
                ),
            )
            .with_hint(resolved.source.replace_hint()))
        }
        _ => return Err(exit(log, &outcome::Stop::NotAWorkerKey)),
    };
    let (resolved, client) = ctx.connect()?;
    let request = RegisterWorkerRequest {
        name,
        host,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        labels,
        heartbeat_interval_secs: Some(args.heartbeat),
        forwards: forwarder.is_some(),
        instance: keyward_core::base62::random(16),
    };
    let cfg = daemon::Config {
        client,
        key: resolved.key,
        key_prefix,
        request,
        forwards: forward::Forwards::new(forwarder),
    };
    match daemon::run(cfg, log).await {
        Ok(daemon::Stopped::Deregistered) => {
            log.info("stopped", "stopped: deregistered", json!({ "code": 0 }));
            Ok(())
        }
        Ok(daemon::Stopped::Disconnected) => {
            log.info(
                "stopped",
                "stopped (not connected, so not deregistered: Keyward shows it offline after a few missed heartbeats)",
                json!({ "code": 0 }),
            );
            Ok(())
        }
        Err(stop) => Err(exit(log, &stop)),
    }
}

/// Logs a terminal outcome and returns its exit code (already said: quiet).
fn exit(log: log::Log, stop: &outcome::Stop) -> Failure {
    log.error(
        "exit",
        &format!("{} [{}]", stop.message(), stop.code()),
        json!({ "code": stop.exit_code(), "error": stop.code(), "message": stop.message() }),
    );
    Failure::new(stop.exit_code(), stop.code(), stop.message()).quiet()
}
