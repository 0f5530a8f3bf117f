//! Measures how soon a revocation is visible on every node of a cluster, for
//! `bench/revocation.sh` (which starts the nodes on one PostgreSQL database).
//!
//! Per round: create a key through node 0, verify it on every node until each has it
//! cached, then keep verifying it on every node in a tight loop while it is revoked
//! through node `round % N`. For each node, the time from the moment the revoke call
//! returned to the *start* of the first verify that was refused is one sample (0 when
//! the node already refused before the call returned). A node that accepts the key in
//! a request started after the revoke returned is counted as a late acceptance.
//!
//! ```text
//! KEYWARD_BENCH_TOKEN=… revocation --nodes http://127.0.0.1:8101,http://127.0.0.1:8102,… --rounds 100
//! ```

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut nodes, mut rounds) = (Vec::<String>::new(), 100usize);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--nodes", Some(v)) => nodes = v.split(',').map(str::to_owned).collect(),
            ("--rounds", Some(v)) => rounds = v.parse().expect("--rounds N"),
            _ => {
                eprintln!(
                    "usage: KEYWARD_BENCH_TOKEN=… revocation --nodes URL,URL,… [--rounds 100]"
                );
                std::process::exit(2)
            }
        }
    }
    let token = std::env::var("KEYWARD_BENCH_TOKEN").expect("KEYWARD_BENCH_TOKEN");
    assert!(!nodes.is_empty(), "--nodes");
    let client = reqwest::Client::new();
    let mut samples: Vec<Duration> = vec![];
    let mut worst_per_round: Vec<Duration> = vec![];
    let mut late = 0usize;
    for round in 0..rounds {
        let created: Value = client
            .post(format!("{}/v1/keys", nodes[0]))
            .bearer_auth(&token)
            .json(&json!({"name": format!("revocation bench {round}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = created["key"].as_str().expect("created").to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        for node in &nodes {
            while !verify(&client, node, &token, &key).await {}
            verify(&client, node, &token, &key).await;
        }
        let revoked_at: Arc<std::sync::OnceLock<Instant>> = Arc::default();
        let pollers: Vec<_> = nodes
            .iter()
            .map(|node| {
                let (client, node, token, key) =
                    (client.clone(), node.clone(), token.clone(), key.clone());
                let revoked_at = revoked_at.clone();
                tokio::spawn(async move {
                    let mut late = 0;
                    loop {
                        let started = Instant::now();
                        let valid = verify(&client, &node, &token, &key).await;
                        let returned = revoked_at.get().copied();
                        match (valid, returned) {
                            (false, Some(r)) => {
                                return (started.saturating_duration_since(r), late)
                            }
                            (false, None) => {} // refused before the call returned; wait for it
                            (true, Some(r)) if started > r => late += 1,
                            (true, _) => {}
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let via = &nodes[round % nodes.len()];
        let r = client
            .delete(format!("{via}/v1/keys/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "revoke: {}", r.status());
        revoked_at.set(Instant::now()).unwrap();
        let mut worst = Duration::ZERO;
        for p in pollers {
            let (d, l) = p.await.unwrap();
            samples.push(d);
            worst = worst.max(d);
            late += l;
        }
        worst_per_round.push(worst);
    }
    samples.sort();
    worst_per_round.sort();
    let pct =
        |v: &[Duration], p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} revocations on {} nodes ({} node samples)",
        rounds,
        nodes.len(),
        samples.len()
    );
    println!(
        "per node:  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(pct(&samples, 0.50)),
        ms(pct(&samples, 0.99)),
        ms(*samples.last().unwrap())
    );
    println!(
        "all nodes: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(pct(&worst_per_round, 0.50)),
        ms(pct(&worst_per_round, 0.99)),
        ms(*worst_per_round.last().unwrap())
    );
    println!("requests accepted after the revoke returned: {late}");
}

async fn verify(client: &reqwest::Client, node: &str, token: &str, key: &str) -> bool {
    let r: Value = client
        .post(format!("{node}/v1/keys/verify"))
        .bearer_auth(token)
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["valid"] == true
}
