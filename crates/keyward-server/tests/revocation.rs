//! Revocation holds under concurrency: once `DELETE` has returned, no request that
//! starts afterwards is accepted with the key, through verify or the API itself.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Attempt {
    started: Instant,
    accepted: bool,
}

async fn hammer(
    app: Arc<TestApp>,
    key: String,
    through_api: bool,
    stop: Arc<AtomicBool>,
) -> Vec<Attempt> {
    let mut out = vec![];
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let accepted = if through_api {
            app.get("/v1/me", &key).await.status == StatusCode::OK
        } else {
            app.verify(&key, None).await.body["valid"] == true
        };
        out.push(Attempt { started, accepted });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_after_revoke_returns_is_accepted() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..10 {
        let (key, id) = app
            .create_key(json!({"name": format!("raced {round}")}))
            .await;
        // The clients run until shortly after the revoke returned, however long it took.
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..8)
            .map(|i| tokio::spawn(hammer(app.clone(), key.clone(), i % 2 == 0, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let r = app
            .delete(&format!("/v1/keys/{id}"), &app.owner_token)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let revoked_returned = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::SeqCst);
        let mut before = 0;
        let mut after = 0;
        for w in workers {
            for a in w.await.unwrap() {
                if a.started > revoked_returned {
                    after += 1;
                    assert!(
                        !a.accepted,
                        "round {round}: a request started after the revoke returned was accepted"
                    );
                } else if a.accepted {
                    before += 1;
                }
            }
        }
        assert!(
            before > 0 && after > 0,
            "round {round}: the race did not happen (before {before}, after {after})"
        );
    }
}
