//! Hostile input, route by route: every error is problem+json with a stable code, every
//! JSON route applies the same body rules, the OpenAPI document says what the routes
//! read, and loose fields (emails, owner ids, times, scopes, the bearer header) are
//! refused with a message that says what is wrong.

use crate::common;

use crate::common::{Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Sends `body` as is with `content_type` and the owner's token.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut req = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .bearer_auth(&app.owner_token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    reply(req).await
}

async fn reply(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// An error answer is problem+json with a code and the status in its body.
#[track_caller]
fn assert_problem(r: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}: {}",
        r.body
    );
    assert_eq!(r.code(), code, "{what}: {}", r.body);
    assert_eq!(r.body["status"], status.as_u16(), "{what}");
}

/// The served OpenAPI document.
async fn openapi(app: &TestApp) -> Value {
    let r = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

/// Every (method, path template, operation) of the served document.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone(), op.clone()));
        }
    }
    out
}

/// Real ids for every path parameter, so a route reaches its body instead of
/// answering 404 for a made-up id.
async fn fixtures(app: &TestApp) -> BTreeMap<(&'static str, &'static str), String> {
    let t = &app.owner_token;
    let id = |r: Reply, pointer: &str| {
        assert!(r.status.is_success(), "{}", r.body);
        r.body
            .pointer(pointer)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, key) = app.create_key(json!({"name": "fixture"})).await;
    let workspace = id(
        app.post("/v1/workspaces", t, json!({"name": "ws"})).await,
        "/id",
    );
    let agent = id(
        app.post("/v1/agents", t, json!({"name": "bot"})).await,
        "/id",
    );
    let channel = id(
        app.post("/v1/channels", t, json!({"agent": agent, "name": "ch"}))
            .await,
        "/id",
    );
    let account = id(
        app.post(
            "/v1/service-accounts",
            t,
            json!({"name": "sa", "scopes": "keys:read"}),
        )
        .await,
        "/id",
    );
    let (_, member) = app.join("m@example.com", "member", &[]).await;
    let invitation = id(
        app.post(
            "/v1/invitations",
            t,
            json!({"email": "i@example.com", "role": "member"}),
        )
        .await,
        "/invitation/id",
    );
    let org = app.org_id().await;
    // Keyed by (first path segment after /v1, parameter name).
    BTreeMap::from([
        (("keys", "id"), key),
        (("workspaces", "id"), workspace),
        (("agents", "id"), agent),
        (("channels", "id"), channel),
        (("service-accounts", "id"), account),
        (("members", "user_id"), member),
        (("invitations", "id"), invitation),
        (("organizations", "id"), org),
        (("owner-limits", "owner_type"), "external".to_owned()),
        (("owner-limits", "owner_id"), "customer-1".to_owned()),
    ])
}

/// The path template with every `{param}` filled from the fixtures (`x` if unknown).
fn fill(template: &str, ids: &BTreeMap<(&'static str, &'static str), String>) -> String {
    let resource = template
        .trim_start_matches("/v1/")
        .split('/')
        .next()
        .unwrap();
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => ids
                    .iter()
                    .find(|((r, n), _)| *r == resource && *n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "x".to_owned()),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation that takes a body applies the same rules to it: 413 for a body over
/// the limit, 415 for a body that is not JSON, 422 naming an unknown field. All of them
/// problem+json with a code.
#[tokio::test]
async fn every_body_route_applies_the_same_rules() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let ids = fixtures(&app).await;
    let huge = format!(r#"{{"blob": "{}"}}"#, "x".repeat(1024 * 1024));
    let mut checked = 0;
    for (method, template, op) in operations(&doc) {
        if ![Method::POST, Method::PUT, Method::PATCH].contains(&method) {
            continue;
        }
        let path = fill(&template, &ids);
        let what = format!("{method} {template}");
        assert!(op.get("requestBody").is_some(), "{what} declares no body");
        let r = raw(
            &app,
            method.clone(),
            &path,
            Some("application/json"),
            huge.clone(),
        )
        .await;
        assert_problem(
            &r,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("{what}, 1 MB"),
        );
        let r = raw(&app, method.clone(), &path, Some("text/plain"), "hello").await;
        assert_problem(
            &r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("{what}, text/plain"),
        );
        let r = raw(
            &app,
            method.clone(),
            &path,
            Some("application/json"),
            r#"{"zzz_unknown": 1}"#,
        )
        .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &format!("{what}, unknown field"),
        );
        assert_eq!(r.body["field"], "zzz_unknown", "{what}: {}", r.body);
        checked += 1;
    }
    // Every POST, PUT and PATCH of the API (the document's count when this was written).
    assert!(checked >= 18, "only {checked} operations with a body");
}

/// What axum would answer in plain text (a path parameter that is not UTF-8, here) is
/// problem+json with a code too.
#[tokio::test]
async fn axum_rejections_are_problems() {
    let app = TestApp::spawn().await;
    for path in ["/v1/keys/%FF", "/v1/owner-limits/external/%FF%FE"] {
        for method in [Method::GET, Method::DELETE] {
            let r = raw(&app, method.clone(), path, None, "").await;
            if r.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            assert_problem(&r, StatusCode::BAD_REQUEST, "bad_request", path);
            assert!(
                !r.body["detail"].as_str().unwrap_or("").is_empty(),
                "{}",
                r.body
            );
            assert_eq!(r.body["instance"], path);
        }
    }
}

/// Routes whose body may be left out take an empty body as "all defaults", and any
/// body they do get by the same rules as every other route.
#[tokio::test]
async fn optional_bodies_are_empty_or_strict_json() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    for path in [
        "/v1/keys/{id}/rotate",
        "/v1/service-accounts/{id}/keys",
        "/v1/channel",
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert!(
            body["content"]["application/json"]["schema"]["$ref"].is_string(),
            "{path}: {body}"
        );
        assert_ne!(body["required"], true, "{path}: the body may be left out");
    }
    let (_, key) = app.create_key(json!({"name": "rotate me"})).await;
    let r = raw(
        &app,
        Method::POST,
        &format!("/v1/keys/{key}/rotate"),
        None,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let rotated = r.body["id"].as_str().unwrap().to_owned();
    let r = raw(
        &app,
        Method::POST,
        &format!("/v1/keys/{rotated}/rotate"),
        Some("text/plain"),
        r#"{"grace": "1h"}"#,
    )
    .await;
    assert_problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "rotate with text/plain",
    );
    let r = raw(
        &app,
        Method::POST,
        &format!("/v1/keys/{rotated}/rotate"),
        Some("application/json"),
        " \n ",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // POST /v1/channel: hookId only.
    let r = app
        .post(
            "/v1/channel",
            &app.owner_token,
            json!({"hookId": "x", "extra": 1}),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "channel",
    );
    assert_eq!(r.body["field"], "extra");
    let r = raw(&app, Method::POST, "/v1/channel", Some("text/plain"), "x").await;
    assert_problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "channel with text/plain",
    );
}

/// The `{name}`s of a path template.
fn template_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// The document declares what the routes read: path parameters are the template's,
/// query parameters are optional and read by their route (sending one is not refused as
/// unknown, while an undeclared one is).
#[tokio::test]
async fn the_openapi_parameters_are_the_ones_the_routes_read() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let ids = fixtures(&app).await;
    let mut queries = 0;
    for (method, template, op) in operations(&doc) {
        let what = format!("{method} {template}");
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let declared = |place: &str| -> Vec<Value> {
            params
                .iter()
                .filter(|p| p["in"] == place)
                .cloned()
                .collect()
        };
        let mut in_path: Vec<String> = declared("path")
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        in_path.sort();
        let mut in_template = template_params(&template);
        in_template.sort();
        assert_eq!(in_path, in_template, "{what}: path parameters");
        for p in declared("path") {
            assert_eq!(p["required"], true, "{what}: {p}");
        }
        let query = declared("query");
        if query.is_empty() {
            continue;
        }
        let path = fill(&template, &ids);
        for p in &query {
            let name = p["name"].as_str().unwrap();
            assert_ne!(p["required"], true, "{what}: ?{name} is optional");
            let r = app
                .send(
                    method.clone(),
                    &format!("{path}?{name}=x"),
                    Some(&app.owner_token),
                    None,
                )
                .await;
            let detail = r.body["detail"].as_str().unwrap_or("");
            assert!(
                !(r.status == StatusCode::UNPROCESSABLE_ENTITY && detail.contains("unknown field")),
                "{what}: ?{name} is declared but the route does not read it: {}",
                r.body
            );
            queries += 1;
        }
        let r = app
            .send(
                method.clone(),
                &format!("{path}?zzz_undeclared=1"),
                Some(&app.owner_token),
                None,
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &format!("{what}?zzz_undeclared"),
        );
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("zzz_undeclared")),
            "{what}: {}",
            r.body
        );
    }
    // limit and cursor twice, agent, from, to and granularity at least.
    assert!(queries >= 8, "only {queries} query parameters declared");
}

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
async fn the_channel_hook_id_can_be_in_the_query_string() {
    let app = TestApp::spawn().await;
    let t = &app.owner_token;
    let agent = app.post("/v1/agents", t, json!({"name": "bot"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut hooks = Vec::new();
    for name in ["one", "two"] {
        let r = app
            .post("/v1/channels", t, json!({"agent": agent, "name": name}))
            .await;
        hooks.push(r.body["hook_id"].as_str().unwrap().to_owned());
    }
    let (hook1, hook2) = (&hooks[0], &hooks[1]);
    let get = |query: String, header: Option<&str>| {
        let mut req = app
            .client
            .get(format!("{}/v1/channel{query}", app.base))
            .bearer_auth(t);
        if let Some(h) = header {
            req = req.header("x-hook-id", h);
        }
        reply(req)
    };
    let r = get(format!("?hookId={hook1}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["channel"]["hook_id"], hook1.as_str());
    // Both, agreeing: fine. Both, differing: refused, naming both.
    let r = get(format!("?hookId={hook1}"), Some(hook1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = get(format!("?hookId={hook1}"), Some(hook2)).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad_request", "two hook ids");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("X-Hook-Id") && detail.contains("hookId"),
        "{detail}"
    );
    // The same in a POST body.
    let r = reply(
        app.client
            .post(format!("{}/v1/channel", app.base))
            .bearer_auth(t)
            .header("x-hook-id", hook2)
            .json(&json!({"hookId": hook1})),
    )
    .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "two hook ids in a POST",
    );
    // Two X-Hook-Id headers that differ, or one that is not ASCII: refused too.
    for headers in [
        vec![hook1.as_bytes().to_vec(), hook2.as_bytes().to_vec()],
        vec![b"caf\xe9".to_vec()],
    ] {
        let mut req = app
            .client
            .get(format!("{}/v1/channel", app.base))
            .bearer_auth(t);
        for h in headers {
            req = req.header(
                "x-hook-id",
                reqwest::header::HeaderValue::from_bytes(&h).unwrap(),
            );
        }
        let r = reply(req).await;
        assert_problem(
            &r,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "two X-Hook-Id headers",
        );
    }
    // Neither: the message says where to send it.
    let r = get(String::new(), None).await;
    assert_eq!(r.body["field"], "hookId", "{}", r.body);
}

#[tokio::test]
async fn malformed_authorization_headers_are_named() {
    let app = TestApp::spawn().await;
    let token = &app.owner_token;
    let with = |value: Vec<u8>| {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        reply(
            app.client
                .get(format!("{}/v1/me", app.base))
                .header("authorization", value),
        )
    };
    let malformed: Vec<Vec<u8>> = vec![
        format!("Bearer\t{token}").into_bytes(),
        format!("Bearer \t{token}").into_bytes(),
        format!("Bearer{token}").into_bytes(),
        b"Bearer".to_vec(),
        b"Bearer    ".to_vec(),
        [b"Bearer kw_pat_".as_slice(), "é".as_bytes()].concat(),
        [b"Bearer ".as_slice(), &[0xff, 0xfe]].concat(),
        [b"Bearer ".as_slice(), token.as_bytes(), &[0x80]].concat(),
    ];
    for value in malformed {
        let shown = String::from_utf8_lossy(&value).into_owned();
        let r = with(value).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid_request", &shown);
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("Authorization header") && detail.contains("Bearer <key>"),
            "{shown:?}: {detail}"
        );
        assert!(r
            .header("www-authenticate")
            .is_some_and(|c| c.contains(r#"error="invalid_request""#)));
    }
    // No header: missing_token, as before. Another scheme: still missing_token, but the
    // message says which scheme to use.
    let r = reply(app.client.get(format!("{}/v1/me", app.base))).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "missing_token", "no header");
    let r = with(format!("Basic {token}").into_bytes()).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "missing_token", "Basic");
    assert!(
        r.body["detail"].as_str().unwrap().contains("Bearer scheme"),
        "{}",
        r.body
    );
    // Several spaces are still one separator.
    let r = with(format!("Bearer   {token}").into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
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
