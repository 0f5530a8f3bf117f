//! What comes outside the body: the channel hook id in the query, the bearer header.

use super::*;

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
