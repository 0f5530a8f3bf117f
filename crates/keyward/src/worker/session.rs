//! One connection: open the WebSocket with the worker key, wait for `hello`, then
//! heartbeat, forward what Keyward sends and acknowledge it, drain on a signal, until
//! the connection ends one way or another ([`Ended`]).

use super::forward::{Done, Forwards};
use super::log::Log;
use super::outcome::Stop;
use futures_util::{SinkExt, StreamExt};
use keyward_client::{ApiError, ApiKey, ServerMessage, WorkerMessage};
use reqwest::Url;
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long opening the WebSocket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Beyond two missed heartbeats, how long to wait for any word from Keyward.
const SILENCE_MARGIN: Duration = Duration::from_secs(5);

/// How a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// Drained and deregistered after a signal.
    Deregistered,
    /// For good.
    Stop(Stop),
    /// Lost (or never opened): reconnect. `greeted`: `hello` came first.
    Lost { reason: String, greeted: bool },
    /// A signal came while there was no connection yet.
    Interrupted,
}

/// What a connection needs from the registration.
pub struct Target<'a> {
    /// `ws://…/v1/workers/{id}/connect`.
    pub url: Url,
    pub key: &'a ApiKey,
    pub name: &'a str,
    pub heartbeat: Duration,
    pub forward_timeout: Duration,
}

/// The server URL with `connect_path`, over ws (http) or wss (https).
pub fn ws_url(server: &Url, connect_path: &str) -> Result<Url, String> {
    let mut url = server.clone();
    let scheme = match server.scheme() {
        "https" => "wss",
        _ => "ws",
    };
    url.set_scheme(scheme)
        .map_err(|()| format!("cannot make a WebSocket URL of {server}"))?;
    let (path, query) = match connect_path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (connect_path, None),
    };
    let base = server.path().trim_end_matches('/');
    url.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
    url.set_query(query);
    Ok(url)
}

/// Runs one connection to its end.
pub async fn run(
    target: &Target<'_>,
    forwards: &mut Forwards,
    stop: &mut watch::Receiver<bool>,
    log: Log,
) -> Ended {
    let mut request = match target.url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return lost(format!("cannot connect to {}: {e}", target.url), false),
    };
    let bearer = format!("Bearer {}", target.key.expose_secret());
    match HeaderValue::from_str(&bearer) {
        Ok(mut v) => {
            v.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, v);
        }
        Err(_) => return Ended::Stop(Stop::NotAWorkerKey),
    }
    // No Nagle: an acknowledgement is a small frame that must not wait for the server's
    // delayed ACK (40 ms a frame otherwise).
    let connecting = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, None, true),
    );
    let mut ws = tokio::select! {
        r = connecting => match r {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return refused(&e, target),
            Err(_) => return lost(format!("cannot reach Keyward at {}: no answer within {}s", target.url, CONNECT_TIMEOUT.as_secs()), false),
        },
        _ = stop.changed() => return Ended::Interrupted,
    };

    let mut heartbeat = target.heartbeat;
    let mut forward_timeout = target.forward_timeout;
    let mut ticker = ticker(heartbeat);
    let mut last_word = Instant::now();
    let mut greeted = false;
    let mut draining = false;
    macro_rules! send {
        ($msg:expr) => {
            if let Err(e) = ws.send(encode(&$msg)).await {
                return lost(format!("connection lost: {e}"), greeted);
            }
        };
    }
    loop {
        if draining && forwards.in_flight() == 0 {
            send!(WorkerMessage::Deregister);
            close(&mut ws).await;
            return Ended::Deregistered;
        }
        let silence = heartbeat * 2 + SILENCE_MARGIN;
        tokio::select! {
            _ = ticker.tick() => {
                send!(WorkerMessage::Heartbeat { in_flight: forwards.in_flight() });
            }
            _ = tokio::time::sleep_until(last_word + silence) => {
                return lost(format!("no word from Keyward for {}s", silence.as_secs()), greeted);
            }
            done = forwards.next(), if forwards.in_flight() > 0 => {
                log_forward(log, &done, forwards);
                send!(WorkerMessage::Ack(done.ack));
            }
            _ = stop.changed(), if !draining => {
                draining = true;
                send!(WorkerMessage::Drain);
                log.info(
                    "draining",
                    &format!("draining: {} event(s) in flight", forwards.in_flight()),
                    json!({ "in_flight": forwards.in_flight() }),
                );
            }
            msg = ws.next() => {
                last_word = Instant::now();
                let msg = match msg {
                    None => return lost("connection lost: the connection ended".into(), greeted),
                    Some(Err(e)) => return lost(format!("connection lost: {e}"), greeted),
                    Some(Ok(m)) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(frame) => return closed(frame, greeted),
                    // Pings are answered by tungstenite itself.
                    _ => continue,
                };
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Hello { worker, heartbeat_interval_secs, forward_timeout_secs }) => {
                        greeted = true;
                        let hb = Duration::from_secs(heartbeat_interval_secs.max(1).into());
                        if hb != heartbeat {
                            heartbeat = hb;
                            ticker = self::ticker(hb);
                        }
                        forward_timeout = Duration::from_secs(forward_timeout_secs.max(1).into());
                        log.info(
                            "connected",
                            &format!("connected as {} ({})", worker.name, worker.id),
                            json!({ "worker_id": worker.id, "name": worker.name, "heartbeat_secs": heartbeat.as_secs() }),
                        );
                    }
                    Ok(ServerMessage::HeartbeatAck { .. }) => {}
                    Ok(ServerMessage::Event(d)) => forwards.start(*d, forward_timeout),
                    Err(e) => log.warn(
                        "unexpected_message",
                        &format!("ignored a message from Keyward that this version does not understand: {e}"),
                        json!({ "reason": e.to_string() }),
                    ),
                }
            }
        }
    }
}

fn ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(Instant::now() + every, every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

fn encode(msg: &WorkerMessage) -> Message {
    Message::text(serde_json::to_string(msg).expect("worker messages serialize"))
}

fn lost(reason: String, greeted: bool) -> Ended {
    Ended::Lost { reason, greeted }
}

/// Keyward's close: a terminal code, or one to reconnect after.
fn closed(frame: Option<CloseFrame>, greeted: bool) -> Ended {
    let Some(frame) = frame else {
        return lost("connection lost: Keyward closed it".into(), greeted);
    };
    let code = u16::from(frame.code);
    if let Some(stop) = Stop::from_close(code) {
        return Ended::Stop(stop);
    }
    let what = match code {
        1012 => "service restart".to_owned(),
        _ if frame.reason.is_empty() => "no reason given".to_owned(),
        _ => frame.reason.to_string(),
    };
    lost(
        format!("connection lost: Keyward closed it ({code} {what})"),
        greeted,
    )
}

/// The handshake failed: an HTTP refusal may be terminal (a revoked key), the rest is
/// a connection to try again.
fn refused(e: &WsError, target: &Target<'_>) -> Ended {
    if let WsError::Http(response) = e {
        let status = response.status().as_u16();
        let body = response.body().as_deref().unwrap_or_default();
        let api = ApiError::from_body(status, body);
        if let Some(stop) = Stop::from_api(&api, target.name) {
            return Ended::Stop(stop);
        }
        return lost(
            format!(
                "Keyward refused the connection: HTTP {status} ({})",
                api.code.as_str()
            ),
            false,
        );
    }
    lost(
        format!("cannot reach Keyward at {}: {e}", target.url),
        false,
    )
}

fn log_forward(log: Log, done: &Done, forwards: &Forwards) {
    let ack = &done.ack;
    let status = ack
        .status_code
        .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
    let to = forwards
        .forwarder()
        .map_or_else(String::new, |f| format!(" to {}", f.url()));
    let fields = json!({
        "event_id": ack.event_id, "endpoint_id": done.endpoint_id, "status": ack.status_code,
        "ms": ack.latency_ms, "error": ack.error,
    });
    match &ack.error {
        None => log.info(
            "forwarded",
            &format!(
                "forwarded {} ({}) → {status} in {} ms",
                ack.event_id, done.endpoint_id, ack.latency_ms
            ),
            fields,
        ),
        Some(error) => log.warn(
            "forward_failed",
            &format!(
                "forwarding {} ({}){to} failed: {error} after {} ms",
                ack.event_id, done.endpoint_id, ack.latency_ms
            ),
            fields,
        ),
    }
}

/// A normal close, then a moment for Keyward's answer.
async fn close<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "deregistered".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_server_url() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            ws_url(&u("http://127.0.0.1:8080/"), "/v1/workers/wkr_1/connect")
                .unwrap()
                .as_str(),
            "ws://127.0.0.1:8080/v1/workers/wkr_1/connect"
        );
        assert_eq!(
            ws_url(
                &u("https://keys.example.com/keyward/"),
                "/v1/workers/wkr_1/connect"
            )
            .unwrap()
            .as_str(),
            "wss://keys.example.com/keyward/v1/workers/wkr_1/connect"
        );
    }
}
