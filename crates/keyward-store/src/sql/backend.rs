//! What the shared SQL needs from a backend: running a statement with [`Arg`]s, and the
//! genuine dialect differences (how a change is serialized, the change feed, bulk
//! flushes, JSON functions). Everything else is written once, in the entity modules.

use crate::error::Result;
use crate::model::{LastUse, NewAuditEvent, UsageRow};
use crate::store::{ChangeFeed, FeedEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::KeyHash;
use sqlx::{Database, Pool, Transaction};
use std::borrow::Cow;

/// A bound value. Statements take a slice of these rather than generic `bind` calls, so
/// the shared code needs no sqlx trait bounds (which Rust would make every generic
/// function repeat); each backend binds them with its driver's types. Columns are text,
/// 64-bit integers (times in unix ms), booleans or bytes on both backends.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(&'a [u8]),
    OptBytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// Times are bound as unix milliseconds.
impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Int(Some(crate::encode::ms(v)))
    }
}

impl From<Option<DateTime<Utc>>> for Arg<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Int(v.map(crate::encode::ms))
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

impl<'a> From<Option<&'a [u8]>> for Arg<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Arg::OptBytes(v)
    }
}

impl<'a> From<&'a KeyHash> for Arg<'a> {
    fn from(v: &'a KeyHash) -> Self {
        Arg::Bytes(&v.as_bytes()[..])
    }
}

/// `args![a, b, …]`: the [`Arg`]s of a statement, in placeholder order (`$1`, `$2`, …).
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::sql::backend::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// A row type both backends decode (every `#[derive(sqlx::FromRow)]` struct of
/// [`crate::rows`], and tuples of plain columns such as `(i64,)`).
pub trait Record:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> Record for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// A SQL database the store runs on; implemented by `sqlx::Sqlite` (`sqlite/`) and
/// `sqlx::Postgres` (`postgres/`).
#[async_trait]
pub trait Backend: Database {
    /// Appended to a `SELECT` that must lock the rows it reads until the transaction
    /// ends (`" FOR UPDATE"`), or empty where write transactions are serialized anyway.
    const FOR_UPDATE: &'static str;

    /// Runs a statement; returns the number of rows it changed.
    async fn execute(c: &mut Self::Connection, sql: &str, args: &[Arg<'_>]) -> Result<u64>;
    async fn fetch_all<T: Record>(
        c: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>>;
    async fn fetch_optional<T: Record>(
        c: &mut Self::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>>;

    /// Applies the backend's embedded migrations.
    async fn migrate(pool: &Pool<Self>) -> Result<()>;

    /// A transaction that will write.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>>;

    /// Called first in every change (before the acting key is checked): whatever makes
    /// the change serialize with the deletions that could invalidate it.
    async fn serialize_change(c: &mut Self::Connection, audit: &NewAuditEvent) -> Result<()>;

    /// Called first when bootstrapping, so that racing bootstraps queue.
    async fn serialize_bootstrap(c: &mut Self::Connection) -> Result<()>;

    /// Announces `event` to every node when (and only if) the transaction commits.
    /// Nothing for a backend without a change feed.
    async fn announce(_c: &mut Self::Connection, _event: FeedEvent) -> Result<()> {
        Ok(())
    }

    /// [`Backend::announce`] of each of these keys.
    async fn announce_keys(c: &mut Self::Connection, hashes: &[KeyHash]) -> Result<()> {
        for hash in hashes {
            Self::announce(c, FeedEvent::Key(*hash)).await?;
        }
        Ok(())
    }

    /// SQL for the text of `field` of the JSON object in the text expression `json`.
    fn json_field(json: &str, field: &str) -> String;

    /// A subquery of the text elements of the JSON array in the text expression `json`
    /// (of its `field` when given).
    fn json_elements(json: &str, field: Option<&str>) -> String;

    /// The write-behind of `last_used_at` (bulk statements differ between backends).
    async fn record_last_used(pool: &Pool<Self>, uses: &[LastUse]) -> Result<()>;

    /// The write-behind of usage counts (additive).
    async fn record_usage(pool: &Pool<Self>, rows: &[UsageRow]) -> Result<()>;

    async fn subscribe(_pool: &Pool<Self>) -> Result<Option<Box<dyn ChangeFeed>>> {
        Ok(None)
    }

    async fn publish(_pool: &Pool<Self>, _event: FeedEvent) -> Result<()> {
        Ok(())
    }
}

/// The store on one backend: every method of [`crate::Store`] is written once, for any
/// [`Backend`]. Reads go to `reader`, writes to `writer` (the same pool on PostgreSQL;
/// on SQLite, a pool of one connection, the single writer).
pub struct SqlStore<B: Backend> {
    pub(crate) reader: Pool<B>,
    pub(crate) writer: Pool<B>,
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(reader: Pool<B>, writer: Pool<B>) -> Self {
        Self { reader, writer }
    }

    /// All rows of a read.
    pub(crate) async fn read<T: Record>(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>> {
        let mut c = self.reader.acquire().await?;
        B::fetch_all(&mut c, sql, args).await
    }

    /// The row of a read, if there is one.
    pub(crate) async fn read_one<T: Record>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        let mut c = self.reader.acquire().await?;
        B::fetch_optional(&mut c, sql, args).await
    }
}

/// The one place with sqlx's generic bounds: how both backends bind [`Arg`]s and run a
/// statement (each backend's [`Backend`] methods call these with its own types).
pub(crate) mod run {
    use super::Arg;
    use sqlx::query::Query;
    use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

    fn query<'q, DB>(sql: &'q str, args: &'q [Arg<'q>]) -> Query<'q, DB, DB::Arguments<'q>>
    where
        DB: Database,
        Option<&'q str>: Encode<'q, DB> + Type<DB>,
        &'q [u8]: Encode<'q, DB> + Type<DB>,
        Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
        Option<i64>: Encode<'q, DB> + Type<DB>,
        bool: Encode<'q, DB> + Type<DB>,
    {
        args.iter().fold(sqlx::query(sql), |q, a| match a {
            Arg::Text(v) => q.bind(v.as_deref()),
            Arg::Int(v) => q.bind(*v),
            Arg::Bool(v) => q.bind(*v),
            Arg::Bytes(v) => q.bind(*v),
            Arg::OptBytes(v) => q.bind(*v),
        })
    }

    pub(crate) async fn execute<DB>(
        c: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<DB::QueryResult, sqlx::Error>
    where
        DB: Database,
        for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
        for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
    {
        query::<DB>(sql, args).execute(c).await
    }

    pub(crate) async fn fetch_all<DB, T>(
        c: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, sqlx::Error>
    where
        DB: Database,
        T: for<'r> FromRow<'r, DB::Row>,
        for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
        for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
    {
        let rows = query::<DB>(sql, args).fetch_all(c).await?;
        rows.iter().map(|r| T::from_row(r)).collect()
    }

    pub(crate) async fn fetch_optional<DB, T>(
        c: &mut DB::Connection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, sqlx::Error>
    where
        DB: Database,
        T: for<'r> FromRow<'r, DB::Row>,
        for<'e> &'e mut DB::Connection: Executor<'e, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
        for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
    {
        let row = query::<DB>(sql, args).fetch_optional(c).await?;
        row.as_ref().map(|r| T::from_row(r)).transpose()
    }
}
