//! Forwarding events to the local URL (`--forward-to`): POST the body with exactly the
//! headers Keyward signed, redirects not followed, within the forward timeout, and an
//! acknowledgement of what happened. [`Forwards`] runs them concurrently and outlives a
//! connection: an acknowledgement finished while reconnecting is sent on the next one.

use base64::Engine;
use keyward_client::{WorkerAck, WorkerDelivery};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// `--forward-to`: an http or https URL.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{raw:?} is not an http(s) URL; use e.g. http://localhost:3000/hooks"
        ));
    }
    // It is logged (registration, failed forwards): a password in it would be too.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "--forward-to must not hold a user name or password ({}://…@{}); \
             let the app check the Standard Webhooks signature instead",
            url.scheme(),
            url.host_str().unwrap_or_default()
        ));
    }
    Ok(url)
}

/// The local URL and the HTTP client that posts to it.
pub struct Forwarder {
    url: Url,
    http: reqwest::Client,
}

impl Forwarder {
    pub fn new(url: Url) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The local app is reached directly, never through a proxy of the
            // environment (HTTP_PROXY would carry signed events off the machine).
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Self { url, http })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Posts one event and says how it went; never fails.
    pub async fn forward(&self, d: &WorkerDelivery, timeout: Duration) -> WorkerAck {
        let started = Instant::now();
        let result = self.post(d, timeout).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status_code, error) = match result {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("HTTP {status}"))),
            Err(e) => (None, Some(e)),
        };
        WorkerAck {
            claim: d.claim.clone(),
            event_id: d.event_id.clone(),
            endpoint_id: Some(d.endpoint_id.clone()),
            status_code,
            latency_ms,
            error,
        }
    }

    async fn post(&self, d: &WorkerDelivery, timeout: Duration) -> Result<u16, String> {
        let body = base64::engine::general_purpose::STANDARD
            .decode(&d.body_base64)
            .map_err(|e| format!("the event's body is not base64: {e}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &d.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("the event has an invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the event's header {name} has an invalid value"))?;
            headers.append(name, value);
        }
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        // The answer's body is not kept: a few KB of it are read (so a short answer
        // leaves the connection reusable), the rest dropped with the connection.
        let mut response = response;
        let mut read = 0usize;
        while read < 16 * 1024 {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}

/// A reqwest error in a few words: `timeout`, `connection refused`, …
fn describe(e: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let root = root.to_string();
    if e.is_timeout() {
        "timeout".to_owned()
    } else if root.to_ascii_lowercase().contains("connection refused") {
        "connection refused".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {root}")
    } else {
        root
    }
}

/// A forward's outcome, with what the log says about it.
#[derive(Debug)]
pub struct Done {
    pub ack: WorkerAck,
    pub endpoint_id: String,
}

/// The forwards in flight, across connections.
pub struct Forwards {
    forwarder: Option<Arc<Forwarder>>,
    tx: mpsc::UnboundedSender<Done>,
    rx: mpsc::UnboundedReceiver<Done>,
    in_flight: u32,
}

impl Forwards {
    pub fn new(forwarder: Option<Forwarder>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            forwarder: forwarder.map(Arc::new),
            tx,
            rx,
            in_flight: 0,
        }
    }

    pub fn forwarder(&self) -> Option<&Forwarder> {
        self.forwarder.as_deref()
    }

    /// Events taken and not yet acknowledged.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Starts forwarding `d` (or, without `--forward-to`, acknowledges it as not
    /// forwarded).
    pub fn start(&mut self, d: WorkerDelivery, timeout: Duration) {
        self.in_flight += 1;
        let tx = self.tx.clone();
        let forwarder = self.forwarder.clone();
        tokio::spawn(async move {
            let ack = match forwarder {
                Some(f) => f.forward(&d, timeout).await,
                None => WorkerAck {
                    claim: d.claim.clone(),
                    event_id: d.event_id.clone(),
                    endpoint_id: Some(d.endpoint_id.clone()),
                    status_code: None,
                    latency_ms: 0,
                    error: Some("this worker does not forward events (no --forward-to)".into()),
                },
            };
            let _ = tx.send(Done {
                ack,
                endpoint_id: d.endpoint_id,
            });
        });
    }

    /// The next forward to finish. Pends forever when none is in flight: guard it.
    pub async fn next(&mut self) -> Done {
        match self.rx.recv().await {
            Some(done) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                done
            }
            // `self` holds a sender, so the channel never closes.
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_forwarded_to() {
        assert!(parse_url("http://localhost:3000/hooks").is_ok());
        assert!(parse_url("https://app.example.com/x").is_ok());
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("localhost:3000").is_err());
        assert!(parse_url("hooks").is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_is_acknowledged_with_the_reason() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let f = Forwarder::new(parse_url(&format!("http://127.0.0.1:{port}/")).unwrap()).unwrap();
        let d = WorkerDelivery {
            claim: "c".into(),
            event_id: "msg_1".into(),
            endpoint_id: "wh_1".into(),
            provider: keyward_client::api::WebhookProvider::Standard,
            attempt: 1,
            headers: vec![("webhook-id".into(), "msg_1".into())],
            body_base64: "e30=".into(),
        };
        let ack = f.forward(&d, Duration::from_secs(5)).await;
        assert_eq!(ack.status_code, None);
        assert_eq!(ack.error.as_deref(), Some("connection refused"));
        let bad = WorkerDelivery {
            body_base64: "!!".into(),
            ..d
        };
        let ack = f.forward(&bad, Duration::from_secs(5)).await;
        assert!(ack.error.unwrap().contains("base64"));
    }
}
