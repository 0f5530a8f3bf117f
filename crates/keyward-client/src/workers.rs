//! Workers: the machines that run `keyward worker` with a worker key (`kw_wk_`), and
//! what people do with them — list them by workspace, status or label, read one with
//! the troubleshooting table answered for it, remove one. [`Client::register_worker`] is
//! the daemon's first step (a worker key only); the daemon then opens the WebSocket at
//! the registration's `connect_path`.
//!
//! ```no_run
//! # async fn demo(client: keyward_client::Client) -> Result<(), keyward_client::Error> {
//! use keyward_client::{WorkerQuery, WorkerStatus};
//! let stale = client
//!     .workers(&WorkerQuery { status: Some(WorkerStatus::Stale), ..Default::default() })
//!     .await?;
//! for w in &stale.data {
//!     let detail = client.worker(&w.id).await?;
//!     for check in detail.troubleshooting.iter().filter(|c| !c.ok) {
//!         println!("{}: {} — {}", w.name, check.symptom, check.finding);
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::webhooks::query_url;
use crate::{
    Client, Page, RegisterWorkerRequest, Result, Worker, WorkerDetail, WorkerQuery,
    WorkerRegistration,
};
use reqwest::Method;

const NO_BODY: Option<&()> = None;

impl Client {
    /// `GET /v1/workers`: one page of the workers the key's scope reaches, oldest
    /// first; pass `next_cursor` back as `cursor` for the next.
    pub async fn workers(&self, query: &WorkerQuery) -> Result<Page<Worker>> {
        self.send(
            Method::GET,
            query_url(self, &["v1", "workers"], query),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/workers/{id}`: the worker, its status by the server's clock, and the
    /// troubleshooting table answered for it.
    pub async fn worker(&self, id: &str) -> Result<WorkerDetail> {
        self.send(Method::GET, self.url(&["v1", "workers", id]), NO_BODY)
            .await
    }

    /// `DELETE /v1/workers/{id}`: removes it from the list and closes its connection;
    /// its daemon exits (it registers anew when started again).
    pub async fn remove_worker(&self, id: &str) -> Result<()> {
        self.send(Method::DELETE, self.url(&["v1", "workers", id]), NO_BODY)
            .await
    }

    /// `POST /v1/workers/register` with a worker key: the worker (created, or the one of
    /// that name in the key's workspace, updated), where to connect, and the heartbeat
    /// interval and forward timeout to keep.
    pub async fn register_worker(&self, req: &RegisterWorkerRequest) -> Result<WorkerRegistration> {
        self.send(
            Method::POST,
            self.url(&["v1", "workers", "register"]),
            Some(req),
        )
        .await
    }
}
