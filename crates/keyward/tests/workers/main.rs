//! Workers end to end: real `keyward worker` processes against a real server (seed 002's
//! page: create the key, log in, run the daemon, open Workers).

mod harness;
#[path = "../../../keyward-server/tests/api/common/providers.rs"]
mod providers;
#[path = "../support/mod.rs"]
mod support;

use harness::{login, machine, Daemon, Live};
use serde_json::{json, Value};
use std::time::Duration;

const ONLINE: Duration = Duration::from_secs(20);

fn status(w: &Value) -> &str {
    w["status"].as_str().unwrap_or("")
}

/// Register → online; heartbeats stop (the process is frozen) → stale, then offline, on
/// the server's clock; back online when it resumes; a clean stop deregisters it; the
/// retention removes it, audited.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_goes_online_stale_offline_by_the_clock_and_is_removed_after_retention() {
    let live = Live::start(true, |_| {}).await;
    let ws = live.workspace("production").await;
    let (_, key, _) = live.worker_key(&ws, "alice-macbook-worker").await;
    let laptop = machine(&live, &key);
    let mut daemon = Daemon::start(
        &laptop,
        &[
            "--name",
            "alice-macbook",
            "--label",
            "GPU",
            "--heartbeat",
            "1",
        ],
    );
    let w = live
        .wait_worker("alice-macbook", ONLINE, |w| status(w) == "online")
        .await;
    assert_eq!(w["labels"], json!(["gpu"]));
    assert_eq!(w["workspace_id"], ws);
    assert_eq!(w["connected"], true);
    assert_eq!(w["heartbeat_interval_secs"], 1);
    assert_eq!(w["version"], env!("CARGO_PKG_VERSION"));
    assert!(key.starts_with(w["key"]["prefix"].as_str().unwrap()));

    // Frozen: no more heartbeats. Two intervals of the server's clock → stale.
    daemon.signal("STOP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    live.advance(Duration::from_millis(2500));
    let w = live
        .wait_worker("alice-macbook", ONLINE, |w| status(w) == "stale")
        .await;
    assert_eq!(w["connected"], true);
    // Five → offline.
    live.advance(Duration::from_secs(3));
    live.wait_worker("alice-macbook", ONLINE, |w| status(w) == "offline")
        .await;
    // Thawed, it heartbeats again.
    daemon.signal("CONT");
    live.wait_worker("alice-macbook", ONLINE, |w| status(w) == "online")
        .await;

    // SIGTERM: drained, deregistered, exit 0; offline at once, stopped.
    daemon.signal("TERM");
    assert_eq!(
        daemon.exit_within(Duration::from_secs(15)).await,
        Some(0),
        "{}",
        daemon.stderr()
    );
    let w = live
        .wait_worker("alice-macbook", ONLINE, |w| status(w) == "offline")
        .await;
    assert!(w["stopped_at"].is_string(), "{w}");
    assert_eq!(w["connected"], false);

    // 14 days without a heartbeat: removed by the retention, audited.
    live.advance(Duration::from_secs(15 * 24 * 3600));
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !live.workers().await.is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the retention did not remove it"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit = live.get("/v1/audit-log?limit=100").await;
    let removed: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "worker.remove")
        .collect();
    assert_eq!(removed.len(), 1, "{audit}");
    assert_eq!(removed[0]["actor"]["name"], "worker retention");
}

/// Revoking the key closes the worker's connection at once and the daemon exits with its
/// code (10) within one heartbeat; disabling another's gives 12.
#[tokio::test(flavor = "multi_thread")]
async fn revoking_or_disabling_its_key_stops_the_daemon_with_its_own_code() {
    let live = Live::start(false, |_| {}).await;
    let ws = live.workspace("production").await;
    let (revoked_id, revoked_key, _) = live.worker_key(&ws, "revoked").await;
    let (disabled_id, disabled_key, _) = live.worker_key(&ws, "disabled").await;
    let one = machine(&live, &revoked_key);
    let two = machine(&live, &disabled_key);
    let heartbeat = Duration::from_secs(5);
    let mut first = Daemon::start(&one, &["--name", "one", "--heartbeat", "5"]);
    let mut second = Daemon::start(&two, &["--name", "two", "--heartbeat", "5"]);
    live.wait_worker("one", ONLINE, |w| status(w) == "online")
        .await;
    live.wait_worker("two", ONLINE, |w| status(w) == "online")
        .await;

    live.call(
        reqwest::Method::DELETE,
        &format!("/v1/keys/{revoked_id}"),
        &live.owner,
        None,
    )
    .await
    .ok();
    assert_eq!(
        first.exit_within(heartbeat).await,
        Some(10),
        "{}",
        first.stderr()
    );
    let said = first.stderr();
    assert!(said.contains("token_revoked"), "{said}");
    assert!(said.contains("login --token"), "{said}");
    let w = live.wait_worker("one", ONLINE, |_| true).await;
    assert_eq!(status(&w), "revoked");

    live.call(
        reqwest::Method::PATCH,
        &format!("/v1/keys/{disabled_id}"),
        &live.owner,
        Some(json!({"enabled": false})),
    )
    .await
    .ok();
    assert_eq!(
        second.exit_within(heartbeat).await,
        Some(12),
        "{}",
        second.stderr()
    );
    let w = live.wait_worker("two", ONLINE, |_| true).await;
    assert_eq!(status(&w), "disabled");

    // Started again with the revoked key, it says so and exits with the same code.
    let mut again = Daemon::start(&one, &["--name", "one"]);
    assert_eq!(
        again.exit_within(Duration::from_secs(10)).await,
        Some(10),
        "{}",
        again.stderr()
    );
}

/// The server goes away and comes back on the same address: the worker reconnects by
/// itself.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_reconnects_by_itself_after_the_server_restarts() {
    let mut live = Live::start(false, |_| {}).await;
    let ws = live.workspace("production").await;
    let (_, key, _) = live.worker_key(&ws, "ci").await;
    let ci = machine(&live, &key);
    let mut daemon = Daemon::start(&ci, &["--name", "buildkite-prod", "--heartbeat", "1"]);
    let before = live
        .wait_worker("buildkite-prod", ONLINE, |w| status(w) == "online")
        .await;
    live.restart(Duration::from_secs(2)).await;
    let after = live
        .wait_worker("buildkite-prod", Duration::from_secs(40), |w| {
            status(w) == "online"
                && w["connected"] == true
                && w["connected_since"] != before["connected_since"]
        })
        .await;
    assert_eq!(after["id"], before["id"], "the same worker, not a new one");
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "{}",
        daemon.stderr()
    );
    assert!(
        !daemon.events("reconnecting").is_empty(),
        "{}",
        daemon.stderr()
    );
    live.stop().await;
}

/// Seed 002's rotation: create a new key, log in with it on the machine, restart the
/// worker, see it in Workers with the new key's prefix, revoke the old key — the worker
/// keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn the_seed_rotation_flow() {
    let live = Live::start(false, |_| {}).await;
    let ws = live.workspace("production").await;
    let (old_id, old_key, _) = live.worker_key(&ws, "alice-macbook-worker").await;
    let laptop = machine(&live, &old_key);
    let mut daemon = Daemon::start(&laptop, &["--name", "alice-macbook", "--heartbeat", "2"]);
    let first = live
        .wait_worker("alice-macbook", ONLINE, |w| status(w) == "online")
        .await;
    assert!(old_key.starts_with(first["key"]["prefix"].as_str().unwrap()));

    // 1–2. A new key, installed on the machine.
    let (new_id, new_key, _) = live.worker_key(&ws, "alice-macbook-worker-2").await;
    login(&laptop, &live, &new_key);
    // 3. Restart the worker.
    daemon.signal("TERM");
    assert_eq!(daemon.exit_within(Duration::from_secs(15)).await, Some(0));
    let mut daemon = Daemon::start(&laptop, &["--name", "alice-macbook", "--heartbeat", "2"]);
    // 4. It appears in Workers with the new key's prefix: the same worker.
    let rotated = live
        .wait_worker("alice-macbook", ONLINE, |w| {
            status(w) == "online" && w["key"]["id"] == new_id.as_str()
        })
        .await;
    assert_eq!(rotated["id"], first["id"]);
    assert!(new_key.starts_with(rotated["key"]["prefix"].as_str().unwrap()));
    // 5. Revoke the old key: the worker is untouched.
    live.call(
        reqwest::Method::DELETE,
        &format!("/v1/keys/{old_id}"),
        &live.owner,
        None,
    )
    .await
    .ok();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "{}",
        daemon.stderr()
    );
    let w = live.wait_worker("alice-macbook", ONLINE, |_| true).await;
    assert_eq!(status(&w), "online");
    // And the CLI's view of it, as the person checks it.
    let shown = laptop_cli(&live, &["workers", "show", "alice-macbook"]);
    assert!(
        shown.contains(rotated["key"]["prefix"].as_str().unwrap()),
        "{shown}"
    );
}

/// `keyward ARGS` as the organization's owner.
fn laptop_cli(live: &Live, args: &[&str]) -> String {
    let admin = machine(live, &live.owner);
    let out = admin.cmd(args).output().unwrap();
    assert!(
        out.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// 25 active worker keys per person per workspace, through the CLI the worker flow uses:
/// the 26th is refused with the limit; after revoking one, a new one works and its
/// worker registers.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_key_limit_through_the_worker_flow() {
    let live = Live::start(false, |_| {}).await;
    live.workspace("production").await;
    let admin = machine(&live, &live.owner);
    let create = |name: &str| {
        admin
            .cmd(&[
                "keys",
                "create",
                "--name",
                name,
                "--kind",
                "worker",
                "--workspace",
                "production",
                "--json",
            ])
            .output()
            .unwrap()
    };
    let mut first_id = String::new();
    for i in 0..25 {
        let out = create(&format!("worker-{i}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i == 0 {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            first_id = v["id"].as_str().unwrap().to_owned();
        }
    }
    let refused = create("worker-25");
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("key_limit_reached"), "{said}");
    assert!(said.contains("25"), "{said}");

    let out = admin
        .cmd(&["keys", "revoke", &first_id, "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = create("worker-25");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    let worker = machine(&live, &key);
    let _daemon = Daemon::start(&worker, &["--name", "after-the-limit"]);
    live.wait_worker("after-the-limit", ONLINE, |w| status(w) == "online")
        .await;
}

/// 200 Slack events through an endpoint whose destination is the workspace's workers,
/// forwarded by two workers to a local app; one is killed with `kill -9` midway. Every
/// event arrives, re-signed with Standard Webhooks (the app verifies each with the
/// `standardwebhooks` library), each once after deduplicating on `webhook-id`, and in
/// order of arrival.
#[tokio::test(flavor = "multi_thread")]
async fn events_reach_the_app_through_two_workers_one_killed_midway() {
    if !providers::available() {
        return;
    }
    let live = Live::start(false, |_| {}).await;
    let ws = live.workspace("production").await;
    let app = providers::Receiver::start(&[]).await;
    let slack_secret = format!("slack-{}", keyward_core::base62::random(24));
    let created = live
        .post(
            "/v1/webhook-endpoints",
            json!({"provider": "slack", "name": "support", "workspace": ws,
                "destination": "workers", "secrets": [slack_secret]}),
        )
        .await;
    app.set_secrets(&[created["signing_secret"].as_str().unwrap()])
        .await;
    let ingress = created["endpoint"]["ingress_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let forward = app.url("/hooks");
    let (_, key_a, _) = live.worker_key(&ws, "a").await;
    let (_, key_b, _) = live.worker_key(&ws, "b").await;
    let (ma, mb) = (machine(&live, &key_a), machine(&live, &key_b));
    let mut a = Daemon::start(
        &ma,
        &["--name", "a", "--heartbeat", "1", "--forward-to", &forward],
    );
    let b = Daemon::start(
        &mb,
        &["--name", "b", "--heartbeat", "1", "--forward-to", &forward],
    );
    live.wait_worker("a", ONLINE, |w| status(w) == "online")
        .await;
    live.wait_worker("b", ONLINE, |w| status(w) == "online")
        .await;

    let now = chrono::Utc::now().timestamp();
    let events = providers::sign_batch(
        (0..200)
            .map(|i| {
                json!({"provider": "slack", "secret": slack_secret, "timestamp": now,
                    "body": format!(r#"{{"type":"event_callback","event_id":"Ev{i:04}","event":{{"type":"message","text":"m{i}"}}}}"#)})
            })
            .collect(),
    );
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let r = http
            .post(&ingress)
            .headers(e.header_map())
            .body(e.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap_or_default().to_owned());
        if i == 100 {
            // Midway, one worker dies without a word.
            let _ = app.wait_received(60, Duration::from_secs(30)).await;
            a.child.kill().unwrap();
            let _ = a.child.wait();
        }
    }
    let until = std::time::Instant::now() + Duration::from_secs(90);
    let log = loop {
        let log = app.received().await;
        let unique: std::collections::BTreeSet<&str> =
            log.received.iter().map(|d| d.webhook_id.as_str()).collect();
        if unique.len() >= 200 {
            break log;
        }
        assert!(
            std::time::Instant::now() < until,
            "{} of 200 arrived; worker b: {}",
            unique.len(),
            b.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        log.rejected, 0,
        "every delivery verifies: {:?}",
        log.rejections
    );
    // Each once after deduplicating, with the body Slack sent.
    let mut first_seen: Vec<&str> = Vec::new();
    let mut bodies = std::collections::BTreeMap::new();
    for d in &log.received {
        if !bodies.contains_key(d.webhook_id.as_str()) {
            first_seen.push(d.webhook_id.as_str());
        }
        let body = bodies
            .entry(d.webhook_id.as_str())
            .or_insert(d.body.as_str());
        assert_eq!(*body, d.body.as_str(), "a redelivery carries the same body");
        assert_eq!(d.provider.as_deref(), Some("slack"));
    }
    assert_eq!(bodies.len(), 200);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            bodies.get(ids[i].as_str()),
            Some(&e.body.as_str()),
            "event {i}"
        );
    }
    // In order per endpoint: first arrivals follow the order Keyward received them in.
    let order: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(first_seen, order, "delivered in order");
    // The survivor forwarded what the dead one held.
    assert!(!b.events("forwarded").is_empty(), "{}", b.stderr());
}
