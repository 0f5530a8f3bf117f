//! The organization's and the worker's key limits under concurrent creates.

use super::*;

#[tokio::test]
async fn the_organization_key_limit_holds_under_200_parallel_creates() {
    let app = Arc::new(TestApp::spawn().await);
    let org_id = app.org_id().await;
    let r = app
        .patch(
            &format!("/v1/organizations/{org_id}"),
            &app.owner_token,
            json!({"settings": {"max_keys": 10}}),
        )
        .await;
    assert_eq!(r.body["settings"]["max_keys"], 10);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(
                    "/v1/keys",
                    &app.owner_token,
                    json!({"name": format!("k{i}")}),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = None;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => refused = Some(r),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(created, 9, "10 keys including the bootstrap token");
    let refused = refused.unwrap();
    assert_eq!(refused.code(), "key_limit_reached");
    assert_eq!(
        refused.body["limit"],
        json!({"name": "keys per organization", "max": 10, "current": 10})
    );
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("limit is 10 and 10"));
    // Expired keys keep their slot; revoked keys free it.
    let list = app.get("/v1/keys?limit=100", &app.owner_token).await;
    let victim = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] != "bootstrap token")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(Duration::days(400));
    assert_eq!(
        app.post("/v1/keys", &app.owner_token, json!({"name": "more"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    app.delete(&format!("/v1/keys/{victim}"), &app.owner_token)
        .await;
    assert_eq!(
        app.post("/v1/keys", &app.owner_token, json!({"name": "more"}))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_worker_key_limit_is_per_user_per_workspace_under_concurrency() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.owner_token.clone();
    let ws1 = id_of(app.post("/v1/workspaces", &t, json!({"name": "w1"})).await).await;
    let ws2 = id_of(app.post("/v1/workspaces", &t, json!({"name": "w2"})).await).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (app, ws1) = (app.clone(), ws1.clone());
            tokio::spawn(async move {
                app.post("/v1/keys", &app.owner_token, json!({"name": format!("worker {i}"), "kind": "worker", "workspace": ws1, "expires": "30d"})).await
            })
        })
        .collect();
    let mut created = vec![];
    for task in tasks {
        let r = task.await.unwrap();
        if r.status == StatusCode::CREATED {
            assert!(r.body["key"].as_str().unwrap().starts_with("kw_wk_"));
            created.push(r.body["id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::CONFLICT, "key_limit_reached"),
                "{}",
                r.body
            );
            assert_eq!(r.body["limit"]["max"], 25);
        }
    }
    assert_eq!(created.len(), 25);
    // Another workspace, and another person, have their own allowance.
    let other = app
        .post(
            "/v1/keys",
            &t,
            json!({"name": "w2", "kind": "worker", "workspace": ws2}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let (member, _) = add_member(&app, "dev@company.com", "member", &[]).await;
    assert_eq!(
        app.post(
            "/v1/keys",
            &member,
            json!({"name": "m", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // Revoked and expired worker keys are not active.
    app.delete(&format!("/v1/keys/{}", created[0]), &t).await;
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "again", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "full", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    app.clock.advance(Duration::days(31));
    assert_eq!(
        app.post(
            "/v1/keys",
            &t,
            json!({"name": "after expiry", "kind": "worker", "workspace": ws1})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // Worker keys do not use organization slots.
    let org = app
        .get(&format!("/v1/organizations/{}", app.org_id().await), &t)
        .await;
    assert_eq!(org.body["settings"]["max_worker_keys"], 25);
}
