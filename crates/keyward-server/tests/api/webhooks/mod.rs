//! Webhook ingress: endpoints through the API, every provider's signature checked by the
//! running server on payloads signed by the providers' own libraries (PyPI `slack_sdk`,
//! `standardwebhooks`, `svix`, PyNaCl; `tests/providers/`), and deliveries verified by
//! `standardwebhooks` in a receiving app — through retries, restarts and two nodes.

mod api;
mod delivery;
mod ingress;
mod review_api;
mod review_delivery;

use crate::common::TestApp;
use keyward_core::Clock;
use keyward_webhooks::standard::Secret;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

/// Standard Webhooks headers for `body`, signed with `secret` (keyward-webhooks; the
/// provider-library tests sign with Python's instead).
pub fn standard_headers(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in keyward_webhooks::standard::headers(secret, id, timestamp, body) {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

/// A disabled Standard Webhooks endpoint of workspace `ws` (what arrives is kept as a
/// failed delivery), and the secret its sender signs with.
pub fn standard_endpoint_body(ws: &str) -> (Value, Secret) {
    let secret = Secret::generate();
    let body = json!({
        "provider": "standard", "name": "fixture", "workspace": ws,
        "destination": "http://127.0.0.1:9/hooks", "enabled": false,
        "secrets": [secret.expose_whsec().as_str()],
    });
    (body, secret)
}

/// Sends one signed event to `ingress`; the delivery's id.
pub async fn send_standard(app: &TestApp, ingress: &str, secret: &Secret) -> String {
    let body = br#"{"type":"fixture"}"#;
    let id = format!("msg_{}", keyward_core::base62::random(16));
    let reply = app
        .client
        .post(ingress)
        .headers(standard_headers(
            secret,
            &id,
            app.clock.now().timestamp(),
            body,
        ))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let v: Value = reply.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A destination that answers every request 200 (an app that takes whatever it gets);
/// its URL.
pub async fn answering_200() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Up to the end of the headers and the body its Content-Length gives.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    url
}
