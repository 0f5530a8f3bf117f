//! A local authorization server: records every request and answers as told.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<(u16, &'static str, String)>>,
}

pub struct Server {
    pub base: String,
    shared: Arc<Shared>,
}

impl Server {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, shared }
    }

    /// The next answer: `status` with a JSON `body`.
    pub fn reply(&self, status: u16, body: impl Into<String>) {
        self.reply_as(status, "application/json", body);
    }

    pub fn reply_as(&self, status: u16, content_type: &'static str, body: impl Into<String>) {
        self.shared
            .replies
            .lock()
            .unwrap()
            .push_back((status, content_type, body.into()));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("a request")
    }
}

async fn record(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap().to_vec();
    shared.seen.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    });
    let (status, content_type, body) = shared.replies.lock().unwrap().pop_front().unwrap_or((
        200,
        "application/json",
        "{}".into(),
    ));
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", content_type)],
        Body::from(body),
    )
        .into_response()
}

/// `tag-` and 32 random hex digits: a token or secret no code could have made up.
pub fn random(tag: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).unwrap();
    format!("{tag}-{}", hex::encode(bytes))
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
