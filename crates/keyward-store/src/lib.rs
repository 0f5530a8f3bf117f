//! Keyward's storage: the [`Store`] trait the server talks to, the records it returns,
//! and its implementation on SQLite and PostgreSQL, each with its own embedded
//! migrations.
//!
//! Handlers never see SQL. Every change and its audit event are written in one
//! transaction, so the audit log cannot miss a change or record one that did not happen.
//! Storage errors stay small ([`StoreError`]); the server maps them to API errors.
//!
//! Modules, leaves first: `error`, `model` and `encode` (values to columns and back);
//! `rows` (rows to records) and `rules` (the checks a change makes); `store` (the
//! trait); `sql` (every method, written once for any `sql::Backend`, one module per
//! entity); `sqlite` and `postgres` (the two backends: their dialect and connections).

mod encode;
mod error;
mod model;
pub mod postgres;
mod rows;
mod rules;
mod sql;
pub mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Conflict, Result, StoreError};
pub use model::*;
pub use store::{ChangeFeed, FeedEvent, Store, WebhookStore, WorkerStore};

use std::sync::Arc;

/// Opens the store a URL names: `sqlite://path` (created if missing) or
/// `postgres://…` / `postgresql://…` (the database must exist).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::Other(
            format!(
                "unsupported database URL scheme in {:?} (expected sqlite://… or postgres://…)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***{}", &url[..s], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
