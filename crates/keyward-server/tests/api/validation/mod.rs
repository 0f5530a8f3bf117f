//! Hostile input, route by route: every error is problem+json with a stable code, every
//! JSON route applies the same body rules, the OpenAPI document says what the routes
//! read, and loose fields (emails, owner ids, times, scopes, the bearer header) are
//! refused with a message that says what is wrong.

use crate::common;

use crate::common::{Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

mod fields;
mod headers;
mod routes;

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
