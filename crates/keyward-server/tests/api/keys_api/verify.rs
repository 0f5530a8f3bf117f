//! Verify's answers and permission, permission presets and grants, customer key prefixes.

use super::*;

#[tokio::test]
async fn verify_answers_every_code_with_200() {
    let app = TestApp::spawn().await;
    let (reader, reader_id) = app
        .create_key(json!({"name": "reader", "permissions": "read_only"}))
        .await;
    let v = app.verify(&reader, Some("keys:read")).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["valid"], true);
    assert_eq!(v.body["code"], "VALID");
    assert_eq!(v.body["key_id"], reader_id.as_str());
    assert_eq!(v.body["owner"]["name"], "team@company.com");
    assert_eq!(v.body["org"]["name"], "acme");
    assert_eq!(v.body["permissions"], json!(["*:read"]));
    assert!(v.body.get("expires_at").is_some());

    let v = app.verify(&reader, Some("keys:write")).await;
    assert_eq!(
        (v.body["valid"].as_bool(), v.body["code"].as_str()),
        (Some(false), Some("INSUFFICIENT_PERMISSIONS"))
    );

    let unknown = PlainKey::generate(KeyKind::Personal, Environment::Live);
    assert_eq!(app.verify_code(unknown.expose_secret()).await, "NOT_FOUND");
    let mut damaged = reader.clone();
    damaged.replace_range(10..11, if &reader[10..11] == "a" { "b" } else { "a" });
    assert_eq!(app.verify_code(&damaged).await, "MALFORMED");
    assert_eq!(app.verify_code("gh_pat_whatever").await, "MALFORMED");
    assert_eq!(app.verify_code(&"k".repeat(300)).await, "MALFORMED");

    // A key just created is never refused because it was looked up before it existed.
    let bad_permission = app.verify(&reader, Some("not a permission")).await;
    assert_eq!(
        (bad_permission.status, bad_permission.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("permission"))
    );
}

#[tokio::test]
async fn verify_needs_the_keys_verify_permission() {
    let app = TestApp::spawn().await;
    let (reader, _) = app
        .create_key(json!({"name": "reader", "permissions": "read_only"}))
        .await;
    let (verifier, _) = app
        .create_key(json!({"name": "gateway", "permissions": ["keys:verify"]}))
        .await;
    let r = app
        .post("/v1/keys/verify", &reader, json!({"key": verifier}))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(r.body["required_permission"], "keys:verify");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="keys:verify""#),
        "{challenge}"
    );
    let ok = app
        .post(
            "/v1/keys/verify",
            &verifier,
            json!({"key": reader, "permission": "keys:read"}),
        )
        .await;
    assert_eq!(ok.body["code"], "VALID");
    // The gateway key may verify but not list or create keys.
    assert_eq!(
        app.get("/v1/keys", &verifier).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn permission_presets_all_read_only_and_restricted() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!("all"), json!(["*:*"])),
        (json!("read_only"), json!(["*:read"])),
        (
            json!({"restricted": {"keys": "write", "audit": "read", "skills": "none"}, "actions": ["skills:execute"]}),
            json!(["audit:read", "keys:write", "skills:execute"]),
        ),
        (
            json!(["keys:read", "keys:verify"]),
            json!(["keys:read", "keys:verify"]),
        ),
    ];
    for (input, stored) in cases {
        let r = app
            .post(
                "/v1/keys",
                &app.owner_token,
                json!({"name": "p", "permissions": input}),
            )
            .await;
        assert_eq!(
            (r.status, &r.body["permissions"]),
            (StatusCode::CREATED, &stored),
            "{input}"
        );
    }
    let (restricted, _) = app
        .create_key(json!({"name": "r", "permissions": {"restricted": {"keys": "read"}}}))
        .await;
    assert_eq!(
        app.verify(&restricted, Some("keys:read")).await.body["code"],
        "VALID"
    );
    assert_eq!(
        app.verify(&restricted, Some("keys:write")).await.body["code"],
        "INSUFFICIENT_PERMISSIONS"
    );
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "p", "permissions": {"restricted": {"keys": "admin"}}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_key_cannot_grant_more_than_its_creator_holds() {
    let app = TestApp::spawn().await;
    let (writer, _) = app
        .create_key(json!({"name": "key admin", "permissions": ["keys:write"]}))
        .await;
    let r = app
        .post(
            "/v1/keys",
            &writer,
            json!({"name": "escalate", "permissions": "all"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "cannot_grant"),
        "{}",
        r.body
    );
    assert!(r.body["detail"].as_str().unwrap().contains("*:*"));
    let ok = app
        .post(
            "/v1/keys",
            &writer,
            json!({"name": "reader", "permissions": ["keys:read"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    // Omitting permissions hands on exactly the creator's own.
    let inherited = app.post("/v1/keys", &writer, json!({"name": "same"})).await;
    assert_eq!(inherited.body["permissions"], json!(["keys:write"]));
    let (reader, _) = app
        .create_key(json!({"name": "ro", "permissions": "read_only"}))
        .await;
    let r = app.post("/v1/keys", &reader, json!({"name": "nope"})).await;
    assert_eq!(
        (r.status, r.body["required_permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("keys:write"))
    );
}

#[tokio::test]
async fn api_keys_for_customers_have_live_and_test_prefixes() {
    let app = TestApp::spawn().await;
    let live = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "acme customer", "kind": "api", "owner": "cus_123",
        "permissions": ["orders:read"], "metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(live.status, StatusCode::CREATED, "{}", live.body);
    assert!(live.body["key"].as_str().unwrap().starts_with("kw_live_"));
    let test = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "sandbox", "kind": "api", "environment": "test"}),
        )
        .await;
    assert!(test.body["key"].as_str().unwrap().starts_with("kw_test_"));
    let v = app
        .verify(live.body["key"].as_str().unwrap(), Some("orders:read"))
        .await;
    assert_eq!(v.body["code"], "VALID");
    assert_eq!(
        v.body["owner"],
        json!({"type": "external", "id": "cus_123"})
    );
    assert_eq!(v.body["metadata"], json!({"plan": "pro"}));
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "x", "environment": "test"}),
        )
        .await;
    assert_eq!(bad.body["field"], "environment");
    let bad = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "x", "kind": "service_account"}),
        )
        .await;
    assert_eq!(bad.body["field"], "kind");
}
