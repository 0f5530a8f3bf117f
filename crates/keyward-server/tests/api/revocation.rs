//! Revocation holds under concurrency: once `DELETE` has returned, no request that
//! starts afterwards is accepted with the key, through verify or the API itself.
//!
//! The race is arranged by counting, not by sleeping, so a slow machine makes the test
//! slower but not flaky: the revoke waits until clients have been accepted, and the
//! clients run until enough requests that started after the revoke have completed.

use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Race {
    stop: AtomicBool,
    accepted: AtomicUsize,
    started_after: AtomicUsize,
    revoked: Mutex<Option<Instant>>,
}

struct Attempt {
    started: Instant,
    accepted: bool,
}

async fn hammer(
    app: Arc<TestApp>,
    key: String,
    through_api: bool,
    race: Arc<Race>,
) -> Vec<Attempt> {
    let mut out = vec![];
    while !race.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let accepted = if through_api {
            app.get("/v1/me", &key).await.status == StatusCode::OK
        } else {
            app.verify(&key, None).await.body["valid"] == true
        };
        if accepted {
            race.accepted.fetch_add(1, Ordering::SeqCst);
        }
        if race.revoked.lock().unwrap().is_some_and(|t| started > t) {
            race.started_after.fetch_add(1, Ordering::SeqCst);
        }
        out.push(Attempt { started, accepted });
    }
    out
}

async fn wait_for(what: &str, counter: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + PATIENCE;
    while counter.load(Ordering::SeqCst) < at_least {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_after_revoke_returns_is_accepted() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..10 {
        let (key, id) = app
            .create_key(json!({"name": format!("raced {round}")}))
            .await;
        let race = Arc::new(Race::default());
        let workers: Vec<_> = (0..CLIENTS)
            .map(|i| tokio::spawn(hammer(app.clone(), key.clone(), i % 2 == 0, race.clone())))
            .collect();
        wait_for(
            "accepted requests before the revoke",
            &race.accepted,
            CLIENTS,
        )
        .await;
        let r = app
            .delete(&format!("/v1/keys/{id}"), &app.owner_token)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let revoked_returned = Instant::now();
        *race.revoked.lock().unwrap() = Some(revoked_returned);
        wait_for(
            "requests that started after the revoke",
            &race.started_after,
            2 * CLIENTS,
        )
        .await;
        race.stop.store(true, Ordering::SeqCst);
        let mut after = 0;
        for w in workers {
            for a in w.await.unwrap() {
                if a.started > revoked_returned {
                    after += 1;
                    assert!(
                        !a.accepted,
                        "round {round}: a request started after the revoke returned was accepted"
                    );
                }
            }
        }
        assert!(
            after >= 2 * CLIENTS,
            "round {round}: only {after} requests started after the revoke"
        );
    }
}
