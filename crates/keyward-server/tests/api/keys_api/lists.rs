//! The narrower listings: the caller's own keys, one service account's keys, and the
//! audit events of one key.

use super::*;

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn my_keys_are_the_callers_own_even_for_an_owner() {
    let app = TestApp::spawn().await;
    let (_, api_key) = app
        .create_key(json!({"name": "customer", "kind": "api"}))
        .await;
    let (_, own) = app.create_key(json!({"name": "mine"})).await;
    let (member_token, _) = app.join("dev@company.com", "member", &[]).await;
    let all = ids(&app.get("/v1/keys", &app.owner_token).await.body);
    assert!(all.contains(&api_key));
    let mine = app.get("/v1/me/keys", &app.owner_token).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let mine = ids(&mine.body);
    assert!(mine.contains(&own), "{mine:?}");
    assert!(!mine.contains(&api_key), "an api key is nobody's own");
    let theirs = ids(&app.get("/v1/me/keys", &member_token).await.body);
    assert_eq!(theirs.len(), 1, "the member's first token only");
    assert!(!theirs.contains(&own));
    // A customer's key calls no management endpoint, this one included.
    let (customer, _) = app.create_key(json!({"name": "self", "kind": "api"})).await;
    let r = app.get("/v1/me/keys", &customer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn a_service_accounts_keys_are_its_own_and_need_a_real_account() {
    let app = TestApp::spawn().await;
    let sa = |name: &str| {
        let app = &app;
        let name = name.to_owned();
        async move {
            let r = app
                .post(
                    "/v1/service-accounts",
                    &app.owner_token,
                    json!({"name": name, "scopes": "keys:read"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            (
                r.body["id"].as_str().unwrap().to_owned(),
                r.body["key"]["id"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (a, a_key) = sa("a").await;
    let (_, b_key) = sa("b").await;
    let listed = app
        .get(&format!("/v1/service-accounts/{a}/keys"), &app.owner_token)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(ids(&listed.body), vec![a_key]);
    assert!(!ids(&listed.body).contains(&b_key));
    let (member_token, _) = app.join("dev@company.com", "member", &[]).await;
    let by_member = app
        .get(&format!("/v1/service-accounts/{a}/keys"), &member_token)
        .await;
    assert_eq!(by_member.status, StatusCode::OK);
    assert!(ids(&by_member.body).is_empty(), "beyond a member's reach");
    let missing = app
        .get("/v1/service-accounts/sa_nope/keys", &app.owner_token)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_keys_audit_log_holds_its_events_only() {
    let app = TestApp::spawn().await;
    let (_, a) = app.create_key(json!({"name": "a"})).await;
    let (_, b) = app.create_key(json!({"name": "b"})).await;
    app.patch(
        &format!("/v1/keys/{a}"),
        &app.owner_token,
        json!({"name": "a2"}),
    )
    .await;
    let r = app
        .get(&format!("/v1/keys/{a}/audit-log"), &app.owner_token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["target"]["id"], a.as_str());
            e["action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(actions, ["key.update", "key.create"]);
    // A member reads the events of their own keys, not of others'.
    let (member_token, _) = app.join("dev@company.com", "member", &[]).await;
    let theirs = app
        .get(&format!("/v1/keys/{b}/audit-log"), &member_token)
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", theirs.body);
    let me = app.get("/v1/me", &member_token).await;
    let own = me.body["key"]["id"].as_str().unwrap();
    let own_events = app
        .get(&format!("/v1/keys/{own}/audit-log"), &member_token)
        .await;
    assert_eq!(own_events.status, StatusCode::OK, "{}", own_events.body);
}
