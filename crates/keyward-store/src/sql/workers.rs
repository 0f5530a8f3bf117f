//! Workers (issue 17): to be written.

use super::backend::{Backend, SqlStore};
use crate::error::Result;
use crate::model::*;
use crate::store::WorkerStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl<B: Backend> WorkerStore for SqlStore<B> {
    async fn register_worker(
        &self,
        _w: NewWorker,
        _busy_since: DateTime<Utc>,
        _audit: NewAuditEvent,
    ) -> Result<Registered> {
        todo!()
    }
    async fn get_worker(&self, _org_id: &str, _id: &str) -> Result<WorkerRecord> {
        todo!()
    }
    async fn find_worker(&self, _id: &str) -> Result<WorkerRecord> {
        todo!()
    }
    async fn list_workers(&self, _org_id: &str, _f: WorkerFilter) -> Result<Vec<WorkerRecord>> {
        todo!()
    }
    async fn connect_worker(
        &self,
        _id: &str,
        _connection: &str,
        _at: DateTime<Utc>,
    ) -> Result<Option<String>> {
        todo!()
    }
    async fn heartbeat_worker(
        &self,
        _id: &str,
        _connection: &str,
        _at: DateTime<Utc>,
    ) -> Result<bool> {
        todo!()
    }
    async fn disconnect_worker(
        &self,
        _id: &str,
        _connection: &str,
        _at: DateTime<Utc>,
        _stopped: bool,
    ) -> Result<bool> {
        todo!()
    }
    async fn remove_worker(
        &self,
        _org_id: &str,
        _id: &str,
        _audit: NewAuditEvent,
    ) -> Result<WorkerRecord> {
        todo!()
    }
    async fn purge_workers(
        &self,
        _before: DateTime<Utc>,
        _limit: u32,
        _audit: &(dyn Fn(&WorkerRecord) -> NewAuditEvent + Send + Sync),
    ) -> Result<Vec<WorkerRecord>> {
        todo!()
    }
    async fn count_active_worker_keys(
        &self,
        _org_id: &str,
        _workspace_id: &str,
        _owner_id: &str,
        _now: DateTime<Utc>,
    ) -> Result<u32> {
        todo!()
    }
}
