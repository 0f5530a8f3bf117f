//! The PostgreSQL backend, for several `keyward serve` nodes on one database.
//!
//! The SQL is the shared SQL of `crate::sql`, on the same tables as SQLite (times as
//! BIGINT unix milliseconds, JSON as TEXT, see ARCHITECTURE.md). Two things differ:
//!
//! - **Check-then-write.** SQLite has one writer connection, so a limit check and the
//!   insert it guards cannot interleave. Here every such transaction first locks its
//!   organization's row (`SELECT … FOR UPDATE`), which serializes the writes of one
//!   organization and leaves other organizations and all reads in parallel.
//! - **Change feed.** A transaction that changes what a node may have cached sends
//!   `NOTIFY keyward_changes` with the key hash (hex) or `*` ("flush all"). PostgreSQL
//!   delivers it when, and only if, the transaction commits; [`PgChangeFeed`] is the
//!   `LISTEN` side that every node runs.

use crate::encode::{from_hex, ms, to_hex};
use crate::error::{Result, StoreError};
use crate::model::{LastUse, NewAuditEvent, UsageRow};
use crate::sql::backend::{args, run, Arg, Backend, Record, SqlStore};
use crate::store::{ChangeFeed, FeedEvent};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use sqlx::{Pool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel every node listens on.
pub const CHANGES_CHANNEL: &str = "keyward_changes";
/// Payload of a "flush everything" notification.
const FLUSH_ALL: &str = "*";
/// Payload of "the workspaces, agents or channels changed".
const RESOURCES: &str = "resources";
/// Payload of a liveness probe (see [`crate::Store::publish`] and `cluster.rs` in the server).
const PING: &str = "ping";

/// The organization a key belongs to (`$1` key id).
const KEY_ORG: &str = "SELECT org_id FROM api_keys WHERE id = $1";

/// The store on a PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to `postgres://…`. Connection options in the URL apply (for example
    /// `?options=-c%20search_path%3Dmy_schema`, which the tests use to isolate themselves).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::new(pool.clone(), pool))
    }
}

/// A notification's payload: a key hash in hex, a word, or `kind:…` for what else a
/// change touched (ids are the server's own, without `:`; an owner id comes last, so it
/// may hold one).
fn payload(event: &FeedEvent) -> String {
    match event {
        FeedEvent::Key(hash) => to_hex(hash),
        FeedEvent::Organization(org) => format!("org:{org}"),
        FeedEvent::Owner {
            org_id,
            owner_type,
            owner_id,
        } => format!("owner:{org_id}:{owner_type}:{owner_id}"),
        FeedEvent::Channel(id) => format!("channel:{id}"),
        FeedEvent::OwnerLimits(org) => format!("limits:{org}"),
        FeedEvent::All => FLUSH_ALL.to_owned(),
        FeedEvent::Resources => RESOURCES.to_owned(),
        FeedEvent::Ping => PING.to_owned(),
    }
}

/// The event of a payload; anything not understood (another program on the channel,
/// a newer node) is read the safe way: forget everything.
fn event(payload: &str) -> FeedEvent {
    let word = |rest: &str| (!rest.is_empty() && !rest.contains(':')).then(|| rest.to_owned());
    if let Some(org) = payload.strip_prefix("org:").and_then(word) {
        return FeedEvent::Organization(org);
    }
    if let Some(id) = payload.strip_prefix("channel:").and_then(word) {
        return FeedEvent::Channel(id);
    }
    if let Some(org) = payload.strip_prefix("limits:").and_then(word) {
        return FeedEvent::OwnerLimits(org);
    }
    if let Some(rest) = payload.strip_prefix("owner:") {
        let mut parts = rest.splitn(3, ':');
        if let (Some(org), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) {
            if !org.is_empty() && !kind.is_empty() && !id.is_empty() {
                return FeedEvent::Owner {
                    org_id: org.to_owned(),
                    owner_type: kind.to_owned(),
                    owner_id: id.to_owned(),
                };
            }
        }
        return FeedEvent::All;
    }
    match payload {
        FLUSH_ALL => FeedEvent::All,
        PING => FeedEvent::Ping,
        RESOURCES => FeedEvent::Resources,
        hex => from_hex(hex).map_or(FeedEvent::All, FeedEvent::Key),
    }
}

async fn notify(c: &mut PgConnection, event: FeedEvent) -> Result<()> {
    let sql = "SELECT pg_notify($1, $2)";
    Postgres::execute(c, sql, args![CHANGES_CHANNEL, payload(&event)]).await?;
    Ok(())
}

/// Serializes the check-then-write transactions of one organization (see module docs).
async fn lock_org(c: &mut PgConnection, org_id: &str) -> Result<()> {
    let sql = "SELECT id FROM organizations WHERE id = $1 FOR UPDATE";
    Postgres::fetch_optional::<(String,)>(c, sql, args![org_id]).await?;
    Ok(())
}

#[async_trait]
impl Backend for Postgres {
    const FOR_UPDATE: &'static str = " FOR UPDATE";

    async fn execute(c: &mut PgConnection, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(run::execute::<Postgres>(c, sql, args)
            .await?
            .rows_affected())
    }

    async fn fetch_all<T: Record>(
        c: &mut PgConnection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>> {
        Ok(run::fetch_all::<Postgres, T>(c, sql, args).await?)
    }

    async fn fetch_optional<T: Record>(
        c: &mut PgConnection,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        Ok(run::fetch_optional::<Postgres, T>(c, sql, args).await?)
    }

    async fn migrate(pool: &Pool<Postgres>) -> Result<()> {
        MIGRATOR.run(pool).await?;
        Ok(())
    }

    async fn begin_write(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>> {
        Ok(pool.begin().await?)
    }

    /// Locks the organization the change is in and the one the acting key belongs to
    /// (in id order, so two changes never wait for each other). Every deletion takes the
    /// same organization lock before it revokes, so a change that raced a deletion
    /// either committed before it (and the deletion revokes what it made) or sees it and
    /// writes nothing.
    async fn serialize_change(c: &mut PgConnection, audit: &NewAuditEvent) -> Result<()> {
        let mut orgs = vec![audit.org_id.clone()];
        if let Some(key_id) = &audit.actor.key_id {
            let actor_org: Option<(String,)> =
                Self::fetch_optional(c, KEY_ORG, args![key_id]).await?;
            orgs.extend(actor_org.map(|(o,)| o));
        }
        orgs.sort();
        orgs.dedup();
        for org in &orgs {
            lock_org(c, org).await?;
        }
        Ok(())
    }

    async fn serialize_bootstrap(c: &mut PgConnection) -> Result<()> {
        let sql = "LOCK TABLE bootstrap IN SHARE ROW EXCLUSIVE MODE";
        Self::execute(c, sql, &[]).await?;
        Ok(())
    }

    async fn announce(c: &mut PgConnection, event: FeedEvent) -> Result<()> {
        notify(c, event).await
    }

    fn json_field(json: &str, field: &str) -> String {
        format!("(({json})::jsonb ->> '{field}')")
    }

    fn json_elements(json: &str, field: Option<&str>) -> String {
        match field {
            Some(field) => {
                format!("SELECT jsonb_array_elements_text(({json})::jsonb -> '{field}')")
            }
            None => format!("SELECT jsonb_array_elements_text(({json})::jsonb)"),
        }
    }

    async fn record_last_used(pool: &Pool<Postgres>, uses: &[LastUse]) -> Result<()> {
        // One statement for the whole flush (arrays, not a round trip per row), rows
        // locked in id order so two nodes flushing the same keys cannot deadlock.
        let mut sorted: Vec<&LastUse> = uses.iter().collect();
        sorted.sort_unstable_by(|a, b| a.key_id.cmp(&b.key_id));
        let ids: Vec<&str> = sorted.iter().map(|u| u.key_id.as_str()).collect();
        let ats: Vec<i64> = sorted.iter().map(|u| ms(u.at)).collect();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at) \
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE k.id = u.id",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn record_usage(pool: &Pool<Postgres>, rows: &[UsageRow]) -> Result<()> {
        // One statement, rows in (key, minute) order (see `record_last_used`). The rows
        // come from a map, so no (key, minute) repeats, which ON CONFLICT would refuse.
        let mut sorted: Vec<&UsageRow> = rows.iter().collect();
        sorted.sort_unstable_by(|a, b| (&a.key_id, a.minute).cmp(&(&b.key_id, b.minute)));
        let col = |f: fn(&UsageRow) -> i64| sorted.iter().map(|r| f(r)).collect::<Vec<i64>>();
        let ids: Vec<&str> = sorted.iter().map(|r| r.key_id.as_str()).collect();
        sqlx::query(
            "INSERT INTO usage_minutes (key_id, minute, valid, denied, api) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
             ON CONFLICT (key_id, minute) DO UPDATE SET valid = usage_minutes.valid + excluded.valid, \
             denied = usage_minutes.denied + excluded.denied, api = usage_minutes.api + excluded.api",
        )
        .bind(&ids)
        .bind(col(|r| r.minute))
        .bind(col(|r| r.valid))
        .bind(col(|r| r.denied))
        .bind(col(|r| r.api))
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn subscribe(pool: &Pool<Postgres>) -> Result<Option<Box<dyn ChangeFeed>>> {
        let mut listener = PgListener::connect_with(pool).await?;
        // Closing the store (graceful shutdown) ends the feed rather than waiting for it.
        listener.ignore_pool_close_event(false);
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Box::new(PgChangeFeed { listener })))
    }

    async fn publish(pool: &Pool<Postgres>, event: FeedEvent) -> Result<()> {
        let mut c = pool.acquire().await?;
        notify(&mut c, event).await
    }
}

/// The `LISTEN keyward_changes` side: one dedicated connection per node.
pub struct PgChangeFeed {
    listener: PgListener,
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<FeedEvent> {
        // `try_recv` reports a lost connection as `None` instead of reconnecting behind
        // our back: notifications sent meanwhile are gone, and the caller must know.
        let Some(n) = self.listener.try_recv().await? else {
            return Err(StoreError::Other(
                "the change feed lost its connection".into(),
            ));
        };
        Ok(event(n.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::KeyHash;

    #[test]
    fn every_event_survives_its_payload() {
        let events = [
            FeedEvent::Key(KeyHash::of("kw_pat_x")),
            FeedEvent::Organization("org_1".into()),
            FeedEvent::Owner {
                org_id: "org_1".into(),
                owner_type: "external".into(),
                owner_id: "cus:42:eu".into(),
            },
            FeedEvent::Channel("ch_1".into()),
            FeedEvent::OwnerLimits("org_1".into()),
            FeedEvent::All,
            FeedEvent::Resources,
            FeedEvent::Ping,
        ];
        for e in events {
            assert_eq!(event(&payload(&e)), e);
        }
        for junk in [
            "",
            "org:",
            "org:a:b",
            "owner:org_1:user",
            "hello",
            "channel:",
        ] {
            assert_eq!(event(junk), FeedEvent::All, "{junk:?}");
        }
    }
}
