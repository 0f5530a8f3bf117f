//! Loose fields: emails, external owner ids, usage times and scopes.

use super::*;

/// Invites `email` as a member; the reply.
async fn add_member(app: &TestApp, email: &str) -> Reply {
    app.post(
        "/v1/invitations",
        &app.owner_token,
        json!({"email": email, "role": "member"}),
    )
    .await
}

#[tokio::test]
async fn member_emails_are_addresses() {
    let app = TestApp::spawn().await;
    let refused = [
        ("nul\u{0}@example.com", "control characters"),
        ("bell\u{7}@example.com", "control characters"),
        (
            "<script>alert(1)</script>@example.com",
            "must not contain '<'",
        ),
        (
            "alice@example.com<script>",
            "the domain must not contain '<'",
        ),
        ("alice@", "no domain after the @"),
        ("alice", "there is no @"),
        ("@example.com", "nothing before the @"),
        ("a@b@example.com", "exactly one @"),
        ("alice smith@example.com", "must not contain ' '"),
        ("alice..smith@example.com", "two dots in a row"),
        ("alice@-example.com", "hyphen"),
    ];
    for (email, message) in refused {
        let r = add_member(&app, email).await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            email,
        );
        assert_eq!(r.body["field"], "email", "{email}");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(message), "{email:?}: {detail}");
    }
    let r = add_member(&app, "  Alice.Smith@Example.COM ").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["invitation"]["email"], "alice.smith@example.com");
    // One label is a domain too (the bootstrap default is owner@localhost).
    let r = add_member(&app, "ops@intranet").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// A bootstrap owner's email is held to the same rules.
#[tokio::test]
async fn bootstrap_emails_are_addresses() {
    let clock = keyward_core::ManualClock::new(common::start_time());
    for (email, ok) in [
        ("owner@localhost", true),
        ("alice@", false),
        ("<b>@x.io", false),
        ("a\u{0}@x.io", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let store = keyward_store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let r = keyward_server::bootstrap::bootstrap(store.as_ref(), &clock, "acme", email).await;
        match (ok, r) {
            (true, r) => assert!(r.is_ok(), "{email}"),
            (false, Ok(_)) => panic!("{email:?} was accepted"),
            (false, Err(e)) => assert!(
                matches!(e, keyward_server::bootstrap::BootstrapError::Email(..)),
                "{email:?}: {e}"
            ),
        }
    }
}

#[tokio::test]
async fn external_owner_ids_are_bounded_and_printable() {
    let app = TestApp::spawn().await;
    let long = "c".repeat(256);
    for (owner, message) in [
        ("", "blank"),
        ("   ", "blank"),
        ("cust\u{0}1", "control characters"),
        ("cust\n1", "control characters"),
        (" cust", "whitespace"),
        (long.as_str(), "at most 255 characters"),
    ] {
        let r = app
            .post(
                "/v1/keys",
                &app.owner_token,
                json!({"name": "k", "kind": "api", "owner": owner}),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            owner,
        );
        assert_eq!(r.body["field"], "owner", "{owner:?}");
        assert!(
            r.body["detail"].as_str().unwrap().contains(message),
            "{owner:?}: {}",
            r.body
        );
    }
    let r = app
        .post(
            "/v1/keys",
            &app.owner_token,
            json!({"name": "k", "kind": "api", "owner": "cust_8412"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["owner"]["id"], "cust_8412");

    // The same rules for the path of owner limits, naming owner_id.
    let limit = json!({"ratelimit": {"limit": 10, "period": "1m"}});
    for (owner_id, message) in [
        ("%20%20", "blank"),
        ("cust%001", "control characters"),
        ("cust%0A1", "control characters"),
        ("%20cust", "whitespace"),
        (long.as_str(), "at most 255 characters"),
    ] {
        let path = format!("/v1/owner-limits/external/{owner_id}");
        for r in [
            app.send(
                Method::PUT,
                &path,
                Some(&app.owner_token),
                Some(limit.clone()),
            )
            .await,
            app.delete(&path, &app.owner_token).await,
        ] {
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                &path,
            );
            assert_eq!(r.body["field"], "owner_id", "{path}: {}", r.body);
            assert!(
                r.body["detail"].as_str().unwrap().contains(message),
                "{path}: {}",
                r.body
            );
        }
    }
    let r = app
        .send(
            Method::PUT,
            "/v1/owner-limits/external/cust_8412",
            Some(&app.owner_token),
            Some(limit),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn usage_times_take_the_cli_forms() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_key(json!({"name": "k"})).await;
    // The clock is at 2030-01-01T00:00:00Z.
    for (query, from, to) in [
        (
            "from=2029-12-30",
            "2029-12-30T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ),
        ("from=24h", "2029-12-31T00:00:00Z", "2030-01-01T00:00:00Z"),
        (
            "from=2d%20ago&to=1d",
            "2029-12-30T00:00:00Z",
            "2029-12-31T00:00:00Z",
        ),
        (
            "from=1w&to=now&granularity=day",
            "2029-12-25T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ),
        (
            "from=2029-12-31T12:00:00Z",
            "2029-12-31T12:00:00Z",
            "2030-01-01T00:00:00Z",
        ),
    ] {
        let r = app
            .get(&format!("/v1/keys/{key}/usage?{query}"), &app.owner_token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        assert_eq!(
            (r.body["from"].as_str(), r.body["to"].as_str()),
            (Some(from), Some(to)),
            "{query}"
        );
    }
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-11-31", "from"),
        ("to=24", "to"),
        ("from=", "from"),
    ] {
        let r = app
            .get(&format!("/v1/keys/{key}/usage?{query}"), &app.owner_token)
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            query,
        );
        assert_eq!(r.body["field"], field, "{query}");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("is not a time: use RFC 3339") && detail.contains("24h"),
            "{query}: {detail}"
        );
    }
}

#[tokio::test]
async fn scopes_refuse_fields_of_other_types() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let ws = app
        .post("/v1/workspaces", t, json!({"name": "w"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (scope, message) in [
        (
            json!({"type": "organization", "agent": "x"}),
            "takes no agent",
        ),
        (
            json!({"type": "organization", "workspaces": [ws]}),
            "takes no workspaces",
        ),
        (
            json!({"type": "workspaces", "workspaces": [ws], "agent": "x"}),
            "takes no agent",
        ),
        (
            json!({"type": "agent", "workspaces": [ws]}),
            "takes no workspaces",
        ),
        (json!({"type": "agent"}), "needs agent"),
        (
            json!({"type": "organization", "zzz": 1}),
            "unknown field `zzz`",
        ),
    ] {
        let r = app
            .post("/v1/keys", t, json!({"name": "k", "scope": scope}))
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &scope.to_string(),
        );
        assert!(
            r.body["field"].as_str().unwrap().starts_with("scope"),
            "{scope}: {}",
            r.body
        );
        assert!(
            r.body["detail"].as_str().unwrap().contains(message),
            "{scope}: {}",
            r.body
        );
    }
    // Editing a key's scope goes through the same reading.
    let (_, key) = app
        .create_key(json!({"name": "k", "scope": {"type": "workspaces", "workspaces": [ws]}}))
        .await;
    let r = app
        .patch(
            &format!("/v1/keys/{key}"),
            t,
            json!({"scope": {"type": "workspaces", "workspaces": [ws], "agent": "x"}}),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "patch",
    );
}

#[tokio::test]
async fn scope_workspaces_are_deduplicated_and_capped() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let r = app.post("/v1/workspaces", t, json!({"name": name})).await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let dupes: Vec<&String> = (0..1000).map(|i| &ids[i % 2]).collect();
    let r = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "k", "scope": {"type": "workspaces", "workspaces": dupes}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["scope"],
        json!({"type": "workspaces", "workspaces": ids})
    );
    let key = r.body["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/v1/keys/{key}"), t).await;
    assert_eq!(
        r.body["scope"]["workspaces"],
        json!(ids),
        "stored deduplicated"
    );
    let many: Vec<String> = (0..101).map(|i| format!("wsp_{i}")).collect();
    let r = app
        .post(
            "/v1/keys",
            t,
            json!({"name": "k", "scope": {"type": "workspaces", "workspaces": many}}),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "101 workspaces",
    );
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 100 workspaces"),
        "{}",
        r.body
    );
}
