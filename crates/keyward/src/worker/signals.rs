//! SIGTERM and SIGINT: the first asks the daemon to drain and stop (the watch turns
//! `true`), a second one exits at once with code 130.

use super::log::Log;
use crate::cli::failure::EXIT_INTERRUPTED;
use serde_json::json;
use tokio::sync::watch;

/// Installs the handlers (before anything else, so a signal never finds the default
/// action) and returns the flag the first signal raises.
pub fn watch(log: Log) -> std::io::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut signals = Signals::new()?;
    tokio::spawn(async move {
        let first = signals.next().await;
        log.info(
            "stopping",
            &format!("{first}: stopping once the events in hand are acknowledged (a second signal exits at once)"),
            json!({ "signal": first }),
        );
        let _ = tx.send(true);
        let second = signals.next().await;
        log.warn(
            "exit",
            &format!("{second} again: exiting at once"),
            json!({ "code": EXIT_INTERRUPTED, "error": "interrupted", "signal": second }),
        );
        std::process::exit(EXIT_INTERRUPTED.into());
    });
    Ok(rx)
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
