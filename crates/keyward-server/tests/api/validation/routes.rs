//! Every route of the OpenAPI document: body rules, rejections and declared parameters.

use super::*;

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
        // Providers add parameters of their own to the redirect (Google's `authuser`,
        // `hd`, RFC 9207's `iss`): the hosted callback must take them.
        if template == keyward_api::OAUTH_CALLBACK_PATH {
            continue;
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
