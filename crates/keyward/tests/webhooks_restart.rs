//! Webhook endpoints from `keyward.yaml` (the seed's shape) on the real binary, and no
//! event lost to a crash: events kept while the app is down, `kill -9` of the server
//! with their deliveries pending, a restart, and every event reaches the app (verified
//! by the `standardwebhooks` library), each once after deduplicating on `webhook-id`.

#[path = "../../keyward-server/tests/api/common/providers.rs"]
mod providers;

use keyward_webhooks::standard::Secret;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("KEYWARD_LOG", "info")
        .env("KEYWARD_BOOTSTRAP_ORG", "my-org")
        .env("KEYWARD_BOOTSTRAP_EMAIL", "team@company.com")
        .args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut server = Server {
        child,
        base: String::new(),
        stdout: vec![],
    };
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "serve printed its address within 30 s; log:\n{}",
                    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
                )
            });
        server.stdout.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            server.base = rest.split_whitespace().next().unwrap().to_owned();
            return server;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_endpoints_deliver_every_event_across_a_kill_9() {
    if !providers::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // First start: the organization and its owner.
    let first = serve(dir.path(), &[]);
    let token = first
        .stdout
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("kw_pat_"))
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let me: Value = http
        .get(format!("{}/v1/me", first.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org = me["organization"]["id"]
        .as_str()
        .or(me["org"]["id"].as_str())
        .or(me["org_id"].as_str())
        .unwrap_or_else(|| panic!("an org id in {me}"))
        .to_owned();
    drop(first);

    let receiver = providers::Receiver::start(&[]).await;
    let incoming = Secret::generate();
    let signing = Secret::generate();
    receiver
        .set_secrets(&[signing.expose_whsec().as_str()])
        .await;
    // The app is first a black hole: it takes the connection and never answers, so the
    // attempts time out and are retried, and the kill below finds some in flight, their
    // leases held by the dead process.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = format!("http://{}/billing", hole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    let write_config = |destination: &str| {
        std::fs::write(
            dir.path().join("keyward.yaml"),
            format!(
                r#"
integrations:
  billing:
    credentials:
      secret: ${{BILLING_WEBHOOK_SECRET}}
    webhook:
      provider: standard
      org: {org}
      destination: {destination}
      signing_secret: ${{BILLING_SIGNING_SECRET}}
webhooks:
  allow_private_destinations: true
  schedule: [200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms, 200ms]
  poll_interval: 50ms
  timeout: 1s
"#
            ),
        )
        .unwrap();
    };
    write_config(&hole_url);
    let whsec_in = incoming.expose_whsec();
    let whsec_out = signing.expose_whsec();
    let env = [
        ("BILLING_WEBHOOK_SECRET", whsec_in.as_str()),
        ("BILLING_SIGNING_SECRET", whsec_out.as_str()),
    ];
    let server = serve(dir.path(), &env);
    let endpoint: Value = http
        .get(format!("{}/v1/webhook-endpoints/billing", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["managed_by"], "config", "{endpoint}");
    assert_eq!(endpoint["provider"], "standard");
    assert_eq!(
        endpoint["ingress_url"],
        format!("{}/hooks/billing", server.base)
    );
    let edit = http
        .patch(format!("{}/v1/webhook-endpoints/billing", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 409, "managed by keyward.yaml");

    // 20 events, kept while the app is down.
    let now = chrono::Utc::now().timestamp();
    for i in 0..20 {
        let body = format!(r#"{{"type":"invoice.paid","n":{i}}}"#);
        let id = format!("msg_crash_{i}");
        let mut req = http
            .post(format!("{}/hooks/billing", server.base))
            .body(body.clone());
        for (name, value) in
            keyward_webhooks::standard::headers(&incoming, &id, now, body.as_bytes())
        {
            req = req.header(name, value);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // Attempts are in flight (or waiting for their retry) against the black hole.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = receiver.received().await;
    assert!(log.received.is_empty(), "{log:?}");

    // kill -9: no graceful shutdown, leases left behind.
    let mut server = server;
    Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    let _ = server.child.wait();
    drop(server);

    // The app is at its real address now (keyward.yaml changed: the endpoint is updated
    // at start); the server restarts and delivers what was pending.
    write_config(&receiver.url("/billing"));
    let restarted = serve(dir.path(), &env);
    let back = std::time::Instant::now();
    let log = receiver.wait_received(20, Duration::from_secs(60)).await;
    eprintln!("all delivered {:?} after the restart", back.elapsed());
    let unique: std::collections::BTreeSet<&str> =
        log.received.iter().map(|d| d.webhook_id.as_str()).collect();
    assert_eq!(
        unique.len(),
        20,
        "every event, each once after deduplicating"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().await.received.len(),
        20,
        "and none twice"
    );
    assert_eq!(
        log.rejected, 0,
        "every delivery verified with standardwebhooks"
    );
    for d in &log.received {
        assert_eq!(d.endpoint.as_deref(), Some("billing"));
        assert_eq!(d.provider.as_deref(), Some("standard"));
        assert!(d.event_id.as_deref().unwrap().starts_with("msg_crash_"));
    }
    drop(restarted);
}
