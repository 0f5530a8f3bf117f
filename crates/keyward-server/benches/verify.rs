//! In-process verification: the full `AppState::check_key` path (checksum → SHA-256 →
//! cache → status → last-used) on a warm cache, rotating through 1000 stored keys, and
//! the whole `POST /v1/keys/verify` handler through the router without sockets.
//! Run with `cargo bench -p keyward-server`.
//!
//! `check_key` never waits on a warm cache, so each measurement runs its iterations
//! inside one `block_on`: what is timed is the verify path, not the executor.

use axum::body::Body;
use axum::http::{header, Request};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyward_core::key::Environment;
use keyward_core::{Clock, KeyKind, Owner, PermissionSet, PlainKey, SystemClock};
use keyward_server::verify::Verdict;
use keyward_server::AppState;
use keyward_store::NewKey;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const KEYS: usize = 1000;

fn new_key(org_id: &str, plain: &PlainKey, permissions: &[&str]) -> NewKey {
    NewKey {
        owner: Some(Owner::External {
            id: "cust_1".into(),
        }),
        permissions: PermissionSet::parse_list(permissions).unwrap(),
        metadata: Some(serde_json::json!({ "plan": "bench" })),
        ..NewKey::for_plain(plain, org_id, "bench key", SystemClock.now(), "bench")
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    state: AppState,
    keys: Vec<String>,
    verifier: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (state, keys, verifier) = rt.block_on(async {
        let store = keyward_store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (_, owner) =
            keyward_server::bootstrap::bootstrap(store.as_ref(), clock.as_ref(), "bench", "b@x.io")
                .await
                .unwrap();
        let plains: Vec<PlainKey> = (0..KEYS)
            .map(|_| PlainKey::generate(KeyKind::Api, Environment::Live))
            .collect();
        let verifier = PlainKey::generate(KeyKind::ServiceAccount, Environment::Live);
        let mut rows: Vec<NewKey> = plains
            .iter()
            .map(|p| new_key(&owner.org_id, p, &["keys:read", "skills:execute"]))
            .collect();
        rows.push(new_key(&owner.org_id, &verifier, &["keys:verify"]));
        store.create_keys_bulk(&rows).await.unwrap();
        let state = AppState::new(store, clock);
        let keys: Vec<String> = plains
            .iter()
            .map(|p| p.expose_secret().to_owned())
            .collect();
        for k in keys.iter().chain([&verifier.expose_secret().to_owned()]) {
            assert!(matches!(
                state.check_key(k).await.unwrap(),
                Verdict::Valid(_)
            ));
        }
        (state, keys, verifier.expose_secret().to_owned())
    });
    Fixture {
        rt,
        state,
        keys,
        verifier,
        _dir: dir,
    }
}

fn in_process(c: &mut Criterion) {
    let f = fixture();
    let unknown = PlainKey::generate(KeyKind::Api, Environment::Live)
        .expose_secret()
        .to_owned();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check_key (warm cache, 1000 keys)", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters as usize {
                    let v = f.state.check_key(&f.keys[i % KEYS]).await.unwrap();
                    black_box(matches!(v, Verdict::Valid(_)));
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("check_key + permission check", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters as usize {
                    let ok = match f.state.check_key(&f.keys[i % KEYS]).await.unwrap() {
                        Verdict::Valid(k) => k.permissions.allows("keys", "read"),
                        _ => false,
                    };
                    assert!(black_box(ok));
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("check_key (unknown key, remembered)", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = f.state.check_key(&unknown).await.unwrap();
                    black_box(matches!(v, Verdict::NotFound));
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    // The whole handler: auth, JSON in, permission check, JSON out; no sockets.
    let router = keyward_server::http::router_with(f.state.clone(), true);
    let bearer = format!("Bearer {}", f.verifier);
    let bodies: Vec<String> = f
        .keys
        .iter()
        .map(|k| format!(r#"{{"key":"{k}","permission":"keys:read"}}"#))
        .collect();
    let mut g = c.benchmark_group("http handler");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    // The same verify requests to verify itself and to the floor (the same messages,
    // nothing checked): the difference is what verifying costs.
    for path in ["/v1/keys/verify", "/__bench/floor"] {
        g.bench_function(format!("POST {path} (router, no sockets)"), |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters as usize {
                        let req = Request::post(path)
                            .header(header::AUTHORIZATION, &bearer)
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(Body::from(bodies[i % KEYS].clone()))
                            .unwrap();
                        let res = router.clone().oneshot(req).await.unwrap();
                        assert!(res.status().is_success());
                        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                            .await
                            .unwrap();
                        black_box(body);
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.bench_function("GET /livez (router, no sockets)", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let req = Request::get("/livez").body(Body::empty()).unwrap();
                    let res = router.clone().oneshot(req).await.unwrap();
                    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                        .await
                        .unwrap();
                    black_box(body);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, in_process);
criterion_main!(benches);
