//! Fresh, isolated databases for tests and benchmarks of both backends.
//!
//! PostgreSQL tests run when `KEYWARD_TEST_DATABASE_URL` names a server (CI sets it);
//! each gets its own schema (`CREATE SCHEMA t_<random>`, selected through the
//! connection's `search_path` option) so tests run in parallel on one database, and
//! the schema is dropped when the [`PgScratch`] is.

use crate::error::{Result, StoreError};
use sqlx::Connection;

/// The variable that names the PostgreSQL server tests may use.
pub const DATABASE_URL_VAR: &str = "KEYWARD_TEST_DATABASE_URL";

/// The test server's URL, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// The test server's URL for a test that runs only on PostgreSQL; without one, says on
/// stderr that the test is skipped (the caller returns). Under CI (`CI=true`) a missing
/// server is a failure, not a skip: a suite that silently skipped half its backends
/// would pass without testing them.
pub fn postgres_url_or_skip() -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI=true but {DATABASE_URL_VAR} is not set: the PostgreSQL tests cannot run");
        }
        eprintln!("skipped: {DATABASE_URL_VAR} is not set");
    }
    url
}

/// A schema of its own on the test server; dropped (with everything in it) on drop.
pub struct PgScratch {
    base: String,
    schema: String,
    url: String,
}

impl PgScratch {
    pub async fn create(base: &str) -> Result<Self> {
        let schema = format!("t_{}", keyward_core::ids::new_id("s").to_lowercase());
        let schema: String = schema
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut conn = sqlx::PgConnection::connect(base).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Ok(Self {
            base: base.to_owned(),
            schema,
            url,
        })
    }

    /// A URL whose connections live in this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Ends the `LISTEN` connections of clients named `application_name` (as a network
    /// failure would); returns how many.
    pub async fn terminate_listeners(&self, application_name: &str) -> Result<usize> {
        let mut conn = sqlx::PgConnection::connect(&self.base).await?;
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(application_name)
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        Ok(ended.into_iter().filter(|e| *e).count())
    }

    /// Every row of every table in the schema, as text (for "no secret is stored" tests).
    pub async fn dump_text(&self) -> Result<String> {
        let mut conn = sqlx::PgConnection::connect(&self.base).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(&self.schema)
        .fetch_all(&mut conn)
        .await?;
        let mut out = String::new();
        for table in tables {
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT t::text FROM {}.\"{table}\" t",
                self.schema
            ))
            .fetch_all(&mut conn)
            .await?;
            for row in rows {
                out.push_str(&row);
                out.push('\n');
            }
        }
        conn.close().await?;
        Ok(out)
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        // Drop runs outside async; a short-lived runtime on its own thread does the SQL.
        let done = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Other(Box::new(e)))?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&base).await?;
                sqlx::query("SET lock_timeout = '5s'")
                    .execute(&mut conn)
                    .await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok(())
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("note: could not drop test schema {}", self.schema);
        }
    }
}
