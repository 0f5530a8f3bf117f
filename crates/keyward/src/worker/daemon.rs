//! The daemon's life: register, connect, and again after each loss (with backoff),
//! until a signal stops it (drained and deregistered) or Keyward says it must stop.

use super::backoff::{self, Backoff};
use super::forward::Forwards;
use super::log::Log;
use super::outcome::Stop;
use super::session::{self, Ended, Target};
use super::signals;
use keyward_client::{ApiKey, Client, Error, RegisterWorkerRequest, WorkerRegistration};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What `keyward worker` was asked to run.
pub struct Config {
    pub client: Client,
    pub key: ApiKey,
    /// The key's visible prefix, for the logs.
    pub key_prefix: String,
    pub request: RegisterWorkerRequest,
    pub forwards: Forwards,
}

/// How the daemon ended when it did not have to stop.
pub enum Stopped {
    /// Drained and deregistered.
    Deregistered,
    /// Stopped while not connected, after its forwards ended.
    Disconnected,
}

pub async fn run(mut cfg: Config, log: Log) -> Result<Stopped, Stop> {
    let mut stop = match signals::watch(log) {
        Ok(rx) => rx,
        Err(e) => {
            log.warn(
                "signals",
                &format!("cannot watch SIGTERM and SIGINT ({e}): a signal will stop the worker without draining"),
                json!({ "reason": e.to_string() }),
            );
            watch::channel(false).1
        }
    };
    let mut backoff = Backoff::default();
    let server = cfg.client.base_url().clone();
    let name = cfg.request.name.as_str().to_owned();
    loop {
        if *stop.borrow_and_update() {
            return Ok(finish(&mut cfg.forwards, log).await);
        }
        let registered = tokio::select! {
            r = cfg.client.register_worker(&cfg.request) => r,
            _ = stop.changed() => continue,
        };
        let reg = match registered {
            Ok(reg) => reg,
            Err(e) => {
                let reason = match retryable(&e, &name) {
                    Ok(reason) => reason,
                    Err(stop) => return Err(stop),
                };
                let wait = backoff.next_delay();
                log.warn(
                    "reconnecting",
                    &format!(
                        "cannot reach Keyward at {server}: {reason}; retrying in {}",
                        backoff::human(wait)
                    ),
                    json!({ "in_ms": wait.as_millis() as u64, "reason": reason }),
                );
                sleep_or_stop(wait, &mut stop).await;
                continue;
            }
        };
        log_registered(log, &reg, &cfg);
        let url = match session::ws_url(&server, &reg.connect_path) {
            Ok(u) => u,
            Err(e) => {
                return Err(Stop::Refused {
                    code: "unexpected_response".into(),
                    detail: e,
                })
            }
        };
        let target = Target {
            url,
            key: &cfg.key,
            name: &name,
            heartbeat: Duration::from_secs(reg.heartbeat_interval_secs.max(1).into()),
            forward_timeout: Duration::from_secs(reg.forward_timeout_secs.max(1).into()),
        };
        let started = Instant::now();
        match session::run(&target, &mut cfg.forwards, &mut stop, log).await {
            Ended::Deregistered => return Ok(Stopped::Deregistered),
            Ended::Stop(s) => return Err(s),
            Ended::Interrupted => continue,
            Ended::Lost { reason, greeted } => {
                if greeted || started.elapsed() > backoff::STABLE_AFTER {
                    backoff.reset();
                }
                if *stop.borrow() {
                    continue;
                }
                let wait = backoff.next_delay();
                log.warn(
                    "reconnecting",
                    &format!("{reason}; reconnecting in {}", backoff::human(wait)),
                    json!({ "in_ms": wait.as_millis() as u64, "reason": reason }),
                );
                sleep_or_stop(wait, &mut stop).await;
            }
        }
    }
}

/// Why a failed registration is worth retrying, or the stop it calls for.
fn retryable(e: &Error, name: &str) -> Result<String, Stop> {
    match e {
        Error::Api(api) => match Stop::from_api(api, name) {
            Some(stop) => Err(stop),
            None => Ok(format!("HTTP {} ({})", api.status, api.code.as_str())),
        },
        Error::Connect { message, .. } => Ok(message.clone()),
        Error::Decode(m) => Ok(format!("its answer was not understood ({m})")),
        Error::InvalidUrl { message, .. } => Err(Stop::Refused {
            code: "invalid_server_url".into(),
            detail: message.clone(),
        }),
        Error::InvalidKey(_) => Err(Stop::NotAWorkerKey),
    }
}

async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stop.changed() => {}
    }
}

/// Stopped while disconnected: the forwards in hand end (each within its timeout),
/// then the daemon does.
async fn finish(forwards: &mut Forwards, log: Log) -> Stopped {
    if forwards.in_flight() > 0 {
        log.info(
            "draining",
            &format!(
                "not connected: waiting for {} forward(s) in flight",
                forwards.in_flight()
            ),
            json!({ "in_flight": forwards.in_flight() }),
        );
    }
    while forwards.in_flight() > 0 {
        let _ = forwards.next().await;
    }
    Stopped::Disconnected
}

fn log_registered(log: Log, reg: &WorkerRegistration, cfg: &Config) {
    let w = &reg.worker;
    let forwarding = match cfg.forwards.forwarder() {
        Some(f) => format!("forwarding to {}", f.url()),
        None => "not forwarding events (no --forward-to)".to_owned(),
    };
    log.info(
        "registered",
        &format!(
            "registered worker {} ({}) in workspace {} with key {}…; heartbeats every {}s; {forwarding}",
            w.name, w.id, w.workspace_id, cfg.key_prefix, reg.heartbeat_interval_secs
        ),
        json!({
            "worker_id": w.id, "name": w.name, "workspace_id": w.workspace_id,
            "key_prefix": cfg.key_prefix, "heartbeat_secs": reg.heartbeat_interval_secs,
            "forward_timeout_secs": reg.forward_timeout_secs,
            "forward_to": cfg.forwards.forwarder().map(|f| f.url().to_string()),
            "instance": cfg.request.instance,
        }),
    );
}
