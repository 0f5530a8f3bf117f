//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! the process instead of failing with `SQLITE_BUSY`, and a check-then-insert inside
//! one transaction cannot race another. Reads use their own pool and run in parallel.
//! Everything else is the shared SQL of `crate::sql`.

use crate::encode::ms;
use crate::error::Result;
use crate::model::{LastUse, NewAuditEvent, UsageRow};
use crate::sql::backend::{run, Arg, Backend, Record, SqlStore};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

mod files;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The store on one SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// Rows per statement in the write-behind flushes: a hundredth of the round trips of one
/// statement per row, while each statement stays short, since the flush shares the CPU
/// with requests (5 bound values per row, far under SQLite's 32766).
const WRITE_BATCH: usize = 100;

impl SqlStore<Sqlite> {
    pub async fn connect(url: &str) -> Result<Self> {
        files::prepare(url)?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(Self::new(reader, writer))
    }

    /// A consistent copy of the live database in one new file, 0600 (`VACUUM INTO`).
    pub async fn backup_to(&self, path: &str) -> Result<()> {
        let target = files::BackupFile::create(path)?;
        sqlx::query("VACUUM INTO ?")
            .bind(target.name()?)
            .execute(&self.writer)
            .await?;
        target.keep();
        Ok(())
    }
}

#[async_trait]
impl Backend for Sqlite {
    /// The single writer connection already serializes every write transaction.
    const FOR_UPDATE: &'static str = "";

    async fn execute(c: &mut SqliteConnection, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(run::execute::<Sqlite>(c, sql, args).await?.rows_affected())
    }

    async fn fetch_all<T: Record>(
        c: &mut SqliteConnection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>> {
        Ok(run::fetch_all::<Sqlite, T>(c, sql, args).await?)
    }

    async fn fetch_optional<T: Record>(
        c: &mut SqliteConnection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        Ok(run::fetch_optional::<Sqlite, T>(c, sql, args).await?)
    }

    async fn migrate(pool: &Pool<Sqlite>) -> Result<()> {
        MIGRATOR.run(pool).await?;
        Ok(())
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock at once: the one writer connection
    /// serializes this process's changes, and an operator's `keyward admin` in another
    /// process waits for the lock (busy timeout) instead of failing a transaction that
    /// had already read.
    async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn serialize_change(_c: &mut SqliteConnection, _audit: &NewAuditEvent) -> Result<()> {
        Ok(()) // `begin_write` did
    }

    async fn serialize_bootstrap(_c: &mut SqliteConnection) -> Result<()> {
        Ok(()) // `begin_write` did
    }

    fn json_field(json: &str, field: &str) -> String {
        format!("json_extract({json}, '$.{field}')")
    }

    fn json_elements(json: &str, field: Option<&str>) -> String {
        match field {
            Some(field) => format!("SELECT value FROM json_each({json}, '$.{field}')"),
            None => format!("SELECT value FROM json_each({json})"),
        }
    }

    async fn record_last_used(pool: &Pool<Sqlite>, uses: &[LastUse]) -> Result<()> {
        // One statement per `WRITE_BATCH` rows instead of one per row: a flush after a
        // busy interval holds tens of thousands of keys.
        let mut tx = Self::begin_write(pool).await?;
        for chunk in uses.chunks(WRITE_BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(api_keys.last_used_at, 0), v.column2) FROM (",
            );
            q.push_values(chunk, |mut row, u| {
                row.push_bind(&u.key_id).push_bind(ms(u.at));
            });
            q.push(") AS v WHERE api_keys.id = v.column1");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_usage(pool: &Pool<Sqlite>, rows: &[UsageRow]) -> Result<()> {
        let mut tx = Self::begin_write(pool).await?;
        for chunk in rows.chunks(WRITE_BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO usage_minutes (key_id, minute, valid, denied, api) ",
            );
            q.push_values(chunk, |mut row, r| {
                row.push_bind(&r.key_id)
                    .push_bind(r.minute)
                    .push_bind(r.valid)
                    .push_bind(r.denied)
                    .push_bind(r.api);
            });
            q.push(
                " ON CONFLICT (key_id, minute) DO UPDATE SET valid = valid + excluded.valid, \
                 denied = denied + excluded.denied, api = api + excluded.api",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
