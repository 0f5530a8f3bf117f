//! Several nodes on one PostgreSQL database, in one process: each `Application` has its
//! own connection pool, cache and change-feed listener, as separate processes would.
//! PostgreSQL only; skipped (with a note) without `KEYWARD_TEST_DATABASE_URL`.

use keyward_core::{Clock, SystemClock};
use keyward_server::verify::Verdict;
use keyward_server::{AppState, Application, Settings};
use keyward_store::testing::{postgres_url_or_skip, PgScratch};
use keyward_store::Store;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The published bound (BENCHMARKS.md): a revoked key is refused everywhere this soon
/// after the revoke call returns.
const BOUND: Duration = Duration::from_millis(100);

struct Node {
    base: String,
    state: AppState,
    store: Arc<dyn Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Node {
    async fn start(url: &str, flush_interval: Duration) -> Node {
        let store = keyward_store::connect(url).await.unwrap();
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            flush_interval,
            ..Settings::default()
        };
        let app = Application::build(
            settings,
            store.clone(),
            Arc::new(SystemClock) as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        let base = format!("http://{}", app.local_addr());
        let state = app.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Node {
            base,
            state,
            store,
            stop: Some(tx),
            server,
        }
    }

    async fn accepts(&self, key: &str) -> bool {
        matches!(self.state.check_key(key).await.unwrap(), Verdict::Valid(_))
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.await.unwrap().unwrap();
    }
}

struct Cluster {
    schema: PgScratch,
    nodes: Vec<Node>,
    token: String,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        let base = postgres_url_or_skip()?;
        let schema = PgScratch::create(&base).await.unwrap();
        let setup = keyward_store::connect(schema.url()).await.unwrap();
        setup.migrate().await.unwrap();
        let (token, record) = keyward_server::bootstrap::bootstrap(
            setup.as_ref(),
            &SystemClock,
            "acme",
            "team@company.com",
        )
        .await
        .unwrap();
        let mut org = setup.get_org(&record.org_id).await.unwrap();
        org.settings.max_keys = 1000;
        setup
            .update_org(&org, keyward_server_test_event(&record.org_id))
            .await
            .unwrap();
        setup.close().await;
        let mut nodes = vec![];
        for i in 0..n {
            // Each node names its connections, so a test can cut one node's listener.
            let url = format!(
                "{}&application_name={}",
                schema.url(),
                node_name(&schema, i)
            );
            nodes.push(Node::start(&url, Duration::from_secs(3600)).await);
        }
        Some(Cluster {
            schema,
            nodes,
            token: token.expose_secret().to_owned(),
            client: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.nodes[node].base, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Creates a key through node 0 and has every node cache it.
    async fn warm_key(&self) -> (String, String) {
        let r = self
            .call(
                0,
                reqwest::Method::POST,
                "/v1/keys",
                Some(json!({"name": "k"})),
            )
            .await;
        let (key, id) = (
            r["key"].as_str().unwrap().to_owned(),
            r["id"].as_str().unwrap().to_owned(),
        );
        for node in &self.nodes {
            assert!(node.accepts(&key).await);
            assert!(node.accepts(&key).await);
        }
        (key, id)
    }

    /// Revokes through `via`, then polls every node until it refuses; returns, per
    /// node, how long after the revoke call returned it still accepted the key.
    async fn revoke_and_time(&self, via: usize, key: &str, id: &str) -> Vec<Duration> {
        self.call(
            via,
            reqwest::Method::DELETE,
            &format!("/v1/keys/{id}"),
            None,
        )
        .await;
        let returned = Instant::now();
        assert!(
            !self.nodes[via].accepts(key).await,
            "the revoking node refuses at once"
        );
        let mut out = vec![];
        for node in &self.nodes {
            loop {
                if !node.accepts(key).await {
                    out.push(returned.elapsed());
                    break;
                }
                assert!(
                    returned.elapsed() < Duration::from_secs(10),
                    "never refused"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        out
    }
}

/// Unique across the tests that run in parallel on one server.
fn node_name(schema: &PgScratch, i: usize) -> String {
    format!("{}_node{i}", schema.schema())
}

fn keyward_server_test_event(org: &str) -> keyward_store::NewAuditEvent {
    keyward_store::NewAuditEvent {
        org_id: org.to_owned(),
        at: chrono::Utc::now(),
        actor: keyward_store::Actor {
            actor_type: "system".into(),
            id: None,
            name: "test setup".into(),
            key_id: None,
            authority: None,
        },
        action: "org.update".into(),
        target_type: "organization".into(),
        target_id: org.to_owned(),
        source_ip: None,
        details: json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_reaches_every_node_within_the_bound() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let mut worst = Duration::ZERO;
    for round in 0..20 {
        let (key, id) = cluster.warm_key().await;
        let times = cluster.revoke_and_time(round % 3, &key, &id).await;
        worst = worst.max(*times.iter().max().unwrap());
    }
    assert!(
        worst <= BOUND,
        "a node accepted a revoked key {worst:?} after the revoke returned"
    );
    for node in cluster.nodes {
        node.stop().await;
    }
    drop(cluster.schema);
}

/// Edits (permissions) reach the other nodes too, not only revocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_reaches_every_node() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (key, id) = cluster.warm_key().await;
    cluster
        .call(
            0,
            reqwest::Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(json!({"permissions": ["keys:read"]})),
        )
        .await;
    let edited = Instant::now();
    loop {
        let Verdict::Valid(record) = cluster.nodes[1].state.check_key(&key).await.unwrap() else {
            panic!("the key stays valid")
        };
        if record.permissions.to_strings() == vec!["keys:read".to_owned()] {
            break;
        }
        assert!(edited.elapsed() < BOUND, "node 1 kept the old permissions");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// An organization's rename reaches every node's cached answers, and drops only that
/// organization's keys there: another organization's stay in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organization_rename_reaches_every_node_and_only_its_keys() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (key, _) = cluster.warm_key().await;
    let other = cluster
        .call(
            0,
            reqwest::Method::POST,
            "/v1/organizations",
            Some(json!({"name": "other-org"})),
        )
        .await;
    let other_key = other["token"]["key"].as_str().unwrap().to_owned();
    let node1 = &cluster.nodes[1];
    assert!(node1.accepts(&other_key).await && node1.accepts(&other_key).await);
    let other_hash = keyward_core::KeyHash::of(&other_key);
    assert!(node1.state.keys.holds(&other_hash));
    let org = cluster.call(0, reqwest::Method::GET, "/v1/me", None).await["org"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cluster
        .call(
            0,
            reqwest::Method::PATCH,
            &format!("/v1/organizations/{org}"),
            Some(json!({"name": "acme-renamed"})),
        )
        .await;
    let renamed = Instant::now();
    loop {
        let Verdict::Valid(record) = node1.state.check_key(&key).await.unwrap() else {
            panic!("the key stays valid")
        };
        if record.org_name == "acme-renamed" {
            break;
        }
        assert!(
            renamed.elapsed() < BOUND,
            "node 1 kept the old organization name"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        node1.state.keys.holds(&other_hash),
        "another organization's key was dropped too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabling_and_enabling_reach_every_node() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (key, id) = cluster.warm_key().await;
    for (enabled, wanted) in [(false, "disabled"), (true, "valid")] {
        cluster
            .call(
                0,
                reqwest::Method::PATCH,
                &format!("/v1/keys/{id}"),
                Some(json!({ "enabled": enabled })),
            )
            .await;
        let changed = Instant::now();
        loop {
            let verdict = cluster.nodes[1].state.check_key(&key).await.unwrap();
            match (&verdict, enabled) {
                (Verdict::Disabled(_), false) | (Verdict::Valid(_), true) => break,
                (Verdict::Disabled(_) | Verdict::Valid(_), _) => {}
                _ => panic!("a key being switched off and on is disabled or valid, nothing else"),
            }
            assert!(changed.elapsed() < BOUND, "node 1 did not see it {wanted}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A node whose listener connection is cut misses notifications; it must not serve
/// from its cache until it has re-subscribed, so the missed revocation is still seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_lost_its_feed_does_not_trust_its_cache() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (key, id) = cluster.warm_key().await;
    // Cut node 1's listening connection, and revoke at once through node 0.
    let cut = cluster
        .schema
        .terminate_listeners(&node_name(&cluster.schema, 1))
        .await
        .unwrap();
    assert_eq!(cut, 1);
    let times = cluster.revoke_and_time(0, &key, &id).await;
    assert!(
        times[1] <= keyward_server::cluster::SILENCE + BOUND,
        "node 1 accepted a revoked key {:?} after the revoke",
        times[1]
    );
    // It comes back: re-subscribed, trusted again, and hears the next revocation.
    let back = Instant::now();
    while cluster.nodes[1].state.keys.is_stale() {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "never re-subscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (key, id) = cluster.warm_key().await;
    let times = cluster.revoke_and_time(0, &key, &id).await;
    assert!(times[1] <= BOUND, "{times:?}");
}

/// Graceful shutdown writes each node's pending last-used times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_flushes_on_shutdown() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let mut ids = vec![];
    for i in 0..3 {
        let r = cluster
            .call(
                0,
                reqwest::Method::POST,
                "/v1/keys",
                Some(json!({"name": format!("k{i}")})),
            )
            .await;
        let (key, id) = (
            r["key"].as_str().unwrap().to_owned(),
            r["id"].as_str().unwrap().to_owned(),
        );
        assert!(
            cluster.nodes[i].accepts(&key).await,
            "used on node {i} only"
        );
        ids.push(id);
    }
    let org = cluster.nodes[0]
        .store
        .find_key_by_hash(&keyward_core::KeyHash::of(&cluster.token))
        .await
        .unwrap()
        .unwrap()
        .org_id;
    for node in cluster.nodes.drain(..) {
        node.stop().await;
    }
    let store = keyward_store::connect(cluster.schema.url()).await.unwrap();
    for id in ids {
        let k = store.get_key(&org, &id).await.unwrap();
        assert!(k.last_used_at.is_some(), "{id} lost its last use");
    }
    store.close().await;
}

/// Verify answers from each node's in-memory index of workspaces and channels: one
/// created or deleted on another node reaches it through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workspaces_and_channels_reach_every_nodes_index() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let (key, _) = cluster.warm_key().await;
    let verify = |body: Value| {
        let mut body = body;
        body["key"] = json!(key);
        let c = &cluster;
        async move {
            c.call(1, reqwest::Method::POST, "/v1/keys/verify", Some(body))
                .await["code"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let until = |body: Value, want: &'static str| {
        let verify = &verify;
        async move {
            let start = Instant::now();
            loop {
                if verify(body.clone()).await == want {
                    return start.elapsed();
                }
                assert!(start.elapsed() < Duration::from_secs(5), "never {want}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let ws = cluster
        .call(
            0,
            reqwest::Method::POST,
            "/v1/workspaces",
            Some(json!({"name": "prod"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    until(json!({ "workspace": ws }), "VALID").await;
    let agent = cluster
        .call(
            0,
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "bot"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = cluster
        .call(
            0,
            reqwest::Method::POST,
            "/v1/channels",
            Some(json!({"agent": agent, "name": "c"})),
        )
        .await;
    let hook = channel["hook_id"].as_str().unwrap().to_owned();
    until(json!({ "channel": hook }), "VALID").await;
    cluster
        .call(
            0,
            reqwest::Method::PATCH,
            &format!("/v1/channels/{}", channel["id"].as_str().unwrap()),
            Some(json!({"enabled": false})),
        )
        .await;
    until(json!({ "channel": hook }), "CHANNEL_NOT_FOUND").await;
    cluster
        .call(
            0,
            reqwest::Method::DELETE,
            &format!("/v1/workspaces/{ws}"),
            None,
        )
        .await;
    until(json!({ "workspace": ws }), "FORBIDDEN").await;
    for node in cluster.nodes {
        node.stop().await;
    }
}
