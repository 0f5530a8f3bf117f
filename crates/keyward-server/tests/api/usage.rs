//! Usage: rate limits per key and per owner, quotas with refill, usage series, and the
//! RateLimit headers of Keyward's own API. Time is the manual clock: nothing refills
//! unless a test moves it, so every count is exact.

use crate::common;

use crate::common::{Reply, TestApp};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// A service account that may verify, so the keys under test are not also the callers.
async fn verifier(app: &TestApp) -> String {
    let r = app
        .post(
            "/v1/service-accounts",
            &app.owner_token,
            json!({"name": "gateway", "scopes": "keys:verify"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["key"]["key"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, caller: &str, body: Value) -> Reply {
    let r = app.post("/v1/keys/verify", caller, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

/// Fires `n` verifications of `key` at once; returns the codes.
async fn burst(app: &Arc<TestApp>, caller: &str, key: &str, n: usize, cost: i64) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (app, caller, key) = (app.clone(), caller.to_owned(), key.to_owned());
            tokio::spawn(async move {
                verify(&app, &caller, json!({"key": key, "cost": cost}))
                    .await
                    .body
            })
        })
        .collect();
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(bodies: &[Value], code: &str) -> usize {
    bodies.iter().filter(|b| b["code"] == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rate_limit_is_exact_under_parallel_load() {
    let app = Arc::new(TestApp::spawn().await);
    let caller = verifier(&app).await;
    let (key, _) = app
        .create_key(json!({"name": "limited", "ratelimit": {"limit": 50, "period": "1m"}}))
        .await;
    let bodies = burst(&app, &caller, &key, 200, 1).await;
    assert_eq!(
        (count(&bodies, "VALID"), count(&bodies, "RATE_LIMITED")),
        (50, 150)
    );
    let limited = bodies.iter().find(|b| b["code"] == "RATE_LIMITED").unwrap();
    assert_eq!(limited["valid"], false);
    assert_eq!(limited["ratelimit"]["limit"], 50);
    assert_eq!(limited["ratelimit"]["remaining"], 0);
    let now_ms = common::start_time().timestamp_millis();
    let reset = limited["ratelimit"]["reset"].as_i64().unwrap();
    assert!(
        reset > now_ms && reset <= now_ms + 60_000,
        "reset {reset} is within the next minute"
    );
    // GCRA refills continuously: 1.2 s buys one more request, a minute buys them all.
    app.clock.advance(Duration::milliseconds(1200));
    let bodies = burst(&app, &caller, &key, 5, 1).await;
    assert_eq!(count(&bodies, "VALID"), 1);
    app.clock.advance(Duration::minutes(1));
    let bodies = burst(&app, &caller, &key, 60, 1).await;
    assert_eq!(count(&bodies, "VALID"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_limit_is_shared_by_all_of_the_owners_keys() {
    let app = Arc::new(TestApp::spawn().await);
    let caller = verifier(&app).await;
    let a = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "a", "kind": "api", "owner": "cus_42"}),
        )
        .await;
    let b = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "b", "kind": "api", "owner": "cus_42"}),
        )
        .await;
    let other = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "c", "kind": "api", "owner": "cus_7"}),
        )
        .await;
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/owner-limits/external/cus_42",
            Some(&app.owner_token),
            Some(json!({"ratelimit": {"limit": 30, "period": "1h"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (ka, kb) = (
        a.body["key"].as_str().unwrap(),
        b.body["key"].as_str().unwrap(),
    );
    let (first, second) = tokio::join!(
        burst(&app, &caller, ka, 40, 1),
        burst(&app, &caller, kb, 40, 1)
    );
    assert_eq!(
        count(&first, "VALID") + count(&second, "VALID"),
        30,
        "more keys do not buy more traffic"
    );
    // Another owner is not affected.
    let others = burst(&app, &caller, other.body["key"].as_str().unwrap(), 40, 1).await;
    assert_eq!(count(&others, "VALID"), 40);
    let list = app.get("/v1/owner-limits", &app.owner_token).await;
    assert_eq!(
        list.body,
        json!([{"owner_type": "external", "owner_id": "cus_42", "ratelimit": {"limit": 30, "period": "1h"}}])
    );
    assert_eq!(
        app.delete("/v1/owner-limits/external/cus_42", &app.owner_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(count(&burst(&app, &caller, ka, 5, 1).await, "VALID"), 5);
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/owner-limits/robot/x",
            Some(&app.owner_token),
            Some(json!({"ratelimit": {"limit": 1, "period": "1m"}})),
        )
        .await;
    assert_eq!(r.body["field"], "owner_type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_are_never_overspent_and_report_what_is_left() {
    let app = Arc::new(TestApp::spawn().await);
    let caller = verifier(&app).await;
    let (key, _) = app
        .create_key(json!({"name": "metered", "quota": {"limit": 40}}))
        .await;
    let bodies = burst(&app, &caller, &key, 120, 1).await;
    assert_eq!(
        (count(&bodies, "VALID"), count(&bodies, "QUOTA_EXCEEDED")),
        (40, 80)
    );
    let remaining: Vec<i64> = bodies
        .iter()
        .filter(|b| b["code"] == "VALID")
        .map(|b| b["quota"]["remaining"].as_i64().unwrap())
        .collect();
    let mut sorted = remaining.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..40).collect::<Vec<_>>(),
        "every credit is reported spent exactly once"
    );
    // Costs: 12 credits allow two verifications of 5, then only a cheaper one.
    let (key, _) = app
        .create_key(json!({"name": "costly", "quota": {"limit": 12}}))
        .await;
    let spend = |cost| verify(&app, &caller, json!({"key": key.clone(), "cost": cost}));
    assert_eq!(spend(5).await.body["code"], "VALID");
    assert_eq!(spend(5).await.body["code"], "VALID");
    let refused = spend(5).await;
    assert_eq!(
        (
            refused.body["code"].as_str(),
            refused.body["quota"]["remaining"].as_i64()
        ),
        (Some("QUOTA_EXCEEDED"), Some(2))
    );
    assert_eq!(spend(2).await.body["quota"]["remaining"], 0);
    assert_eq!(
        spend(0).await.body["code"],
        "VALID",
        "cost 0 checks without spending"
    );
    let bad = app
        .post("/v1/keys/verify", &caller, json!({"key": key, "cost": -1}))
        .await;
    assert_eq!(bad.body["field"], "cost");
}

#[tokio::test]
async fn quotas_refill_on_the_injected_clock_and_survive_restarts() {
    let mut app = TestApp::spawn().await;
    let caller = verifier(&app).await;
    let (daily, _) = app
        .create_key(json!({"name": "daily", "quota": {"limit": 3, "refill": "daily"}}))
        .await;
    let (total, total_id) = app
        .create_key(json!({"name": "total", "quota": {"limit": 10}}))
        .await;
    for _ in 0..3 {
        assert_eq!(
            verify(&app, &caller, json!({"key": daily})).await.body["code"],
            "VALID"
        );
    }
    assert_eq!(
        verify(&app, &caller, json!({"key": daily})).await.body["code"],
        "QUOTA_EXCEEDED"
    );
    app.clock.advance(Duration::hours(23));
    assert_eq!(
        verify(&app, &caller, json!({"key": daily})).await.body["code"],
        "QUOTA_EXCEEDED"
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(
        verify(&app, &caller, json!({"key": daily})).await.body["quota"]["remaining"],
        2,
        "refilled at midnight UTC"
    );
    for _ in 0..4 {
        assert_eq!(
            verify(&app, &caller, json!({"key": total})).await.body["code"],
            "VALID"
        );
    }
    // A graceful restart gives unspent leased credits back: nothing is lost.
    app.restart().await;
    let r = verify(&app, &caller, json!({"key": total})).await;
    assert_eq!(
        (
            r.body["code"].as_str(),
            r.body["quota"]["remaining"].as_i64()
        ),
        (Some("VALID"), Some(5))
    );
    let report = app
        .get(&format!("/v1/keys/{total_id}/usage"), &app.owner_token)
        .await;
    assert_eq!(report.body["quota"]["remaining"], 5);
    assert_eq!(report.body["quota"]["used"], 5);
    assert_eq!(report.body["quota"]["utilization"], 0.5);
    // Changing the quota restarts its balance.
    let (_, daily_id) = (
        0,
        app.get("/v1/keys?limit=100", &app.owner_token).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "daily")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let r = app
        .patch(
            &format!("/v1/keys/{daily_id}"),
            &app.owner_token,
            json!({"quota": {"limit": 100, "refill": "monthly"}}),
        )
        .await;
    assert_eq!(r.body["quota"], json!({"limit": 100, "refill": "monthly"}));
    assert_eq!(
        verify(&app, &caller, json!({"key": daily})).await.body["quota"]["remaining"],
        99
    );
    let r = app
        .patch(
            &format!("/v1/keys/{daily_id}"),
            &app.owner_token,
            json!({"quota": null}),
        )
        .await;
    assert_eq!(r.body["quota"], Value::Null);
    assert_eq!(
        verify(&app, &caller, json!({"key": daily})).await.body["quota"],
        Value::Null
    );
}

#[tokio::test]
async fn usage_series_add_up_and_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let caller = verifier(&app).await;
    let (key, id) = app.create_key(json!({"name": "counted", "permissions": ["orders:read"], "ratelimit": {"limit": 100, "period": "1m"}})).await;
    for minute in 0..3 {
        for _ in 0..(minute + 2) {
            assert_eq!(
                verify(
                    &app,
                    &caller,
                    json!({"key": key, "permission": "orders:read"})
                )
                .await
                .body["code"],
                "VALID"
            );
        }
        assert_eq!(
            verify(
                &app,
                &caller,
                json!({"key": key, "permission": "orders:write"})
            )
            .await
            .body["code"],
            "INSUFFICIENT_PERMISSIONS"
        );
        assert_eq!(app.get("/v1/me", &key).await.status, StatusCode::OK);
        app.clock.advance(Duration::minutes(1));
    }
    // 2 + 3 + 4 valid, 3 denied, 3 API calls, in three minutes.
    let path = format!(
        "/v1/keys/{id}/usage?from=2030-01-01T00:00:00Z&to=2030-01-01T00:05:00Z&granularity=minute"
    );
    let before = app.get(&path, &app.owner_token).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    app.restart().await;
    let after = app.get(&path, &app.owner_token).await;
    for report in [&before, &after] {
        assert_eq!(
            report.body["totals"],
            json!({"valid": 9, "denied": 3, "api": 3})
        );
        let series = report.body["series"].as_array().unwrap();
        assert_eq!(series.len(), 5);
        assert_eq!(
            series[0],
            json!({"start": "2030-01-01T00:00:00Z", "valid": 2, "denied": 1, "api": 1})
        );
        assert_eq!(
            series[2],
            json!({"start": "2030-01-01T00:02:00Z", "valid": 4, "denied": 1, "api": 1})
        );
        assert_eq!(
            series[4],
            json!({"start": "2030-01-01T00:04:00Z", "valid": 0, "denied": 0, "api": 0})
        );
    }
    let hourly = app.get(&format!("/v1/keys/{id}/usage?from=2030-01-01T00:00:00Z&to=2030-01-01T02:00:00Z&granularity=hour"), &app.owner_token).await;
    assert_eq!(
        hourly.body["series"][0],
        json!({"start": "2030-01-01T00:00:00Z", "valid": 9, "denied": 3, "api": 3})
    );
    assert_eq!(hourly.body["series"].as_array().unwrap().len(), 2);
    let daily = app.get(&format!("/v1/keys/{id}/usage?granularity=day&from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z"), &app.owner_token).await;
    assert_eq!(daily.body["totals"]["valid"], 9);
    // Utilization of the 100/minute limit: the busiest minute had 4 + 1 requests.
    assert_eq!(hourly.body["ratelimit"]["peak_utilization"], 0.05);
    let bad = app
        .get(
            &format!("/v1/keys/{id}/usage?granularity=week"),
            &app.owner_token,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = app
        .get(
            &format!("/v1/keys/{id}/usage?granularity=minute&from=2029-01-01T00:00:00Z"),
            &app.owner_token,
        )
        .await;
    assert_eq!(bad.body["field"], "granularity");
}

#[tokio::test]
async fn keywards_own_api_sends_ratelimit_headers_and_429() {
    let app = TestApp::spawn().await;
    let (key, _) = app
        .create_key(json!({"name": "api user", "ratelimit": {"limit": 3, "period": "1m"}}))
        .await;
    for remaining in [2, 1, 0] {
        let r = app.get("/v1/me", &key).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert!(r.header("ratelimit-reset").unwrap().parse::<u64>().unwrap() <= 60);
    }
    let r = app.get("/v1/me", &key).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(r.header("retry-after"), Some("20"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    // Unlimited keys carry no such headers.
    assert_eq!(
        app.get("/v1/me", &app.owner_token)
            .await
            .header("ratelimit-limit"),
        None
    );
}

#[tokio::test]
async fn limits_are_validated_and_organizations_give_defaults() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (
            json!({"name": "x", "ratelimit": {"limit": 0, "period": "1m"}}),
            "ratelimit",
        ),
        (
            json!({"name": "x", "ratelimit": {"limit": 5, "period": "forever"}}),
            "ratelimit.period",
        ),
        (json!({"name": "x", "quota": {"limit": 0}}), "quota"),
        (
            json!({"name": "x", "quota": {"limit": 5, "refill": "hourly"}}),
            "quota.refill",
        ),
    ] {
        let r = app.post("/v1/keys", &app.owner_token, body.clone()).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {}",
            r.body
        );
    }
    let org_id = app.org_id().await;
    let r = app.patch(&format!("/v1/organizations/{org_id}"), &app.owner_token,
        json!({"settings": {"default_ratelimit": {"limit": 100, "period": "1m"}, "default_quota": {"limit": 1000, "refill": "monthly"}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let k = app
        .post("/v1/keys", &app.owner_token, json!({"name": "defaults"}))
        .await;
    assert_eq!(k.body["ratelimit"], json!({"limit": 100, "period": "1m"}));
    assert_eq!(k.body["quota"], json!({"limit": 1000, "refill": "monthly"}));
    let k = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "own", "ratelimit": {"limit": 5, "period": "1s"}}),
        )
        .await;
    assert_eq!(k.body["ratelimit"], json!({"limit": 5, "period": "1s"}));
    let id = k.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.owner_token,
            json!({"ratelimit": null}),
        )
        .await;
    assert_eq!(r.body["ratelimit"], Value::Null);
    let listed = app.get("/v1/keys", &app.owner_token).await;
    assert!(listed.body["data"][0].get("last_used_at").is_some());
}
