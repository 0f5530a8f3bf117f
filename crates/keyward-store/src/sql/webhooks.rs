//! Webhook endpoints, events and deliveries (to be implemented).

use super::backend::{Backend, SqlStore};
use crate::error::Result;
use crate::model::*;
use crate::store::WebhookStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl<B: Backend> WebhookStore for SqlStore<B> {
    #[allow(unused_variables)]
    async fn create_webhook_endpoint(
        &self,
        e: WebhookEndpointRecord,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn find_webhook_endpoint(&self, id: &str) -> Result<WebhookEndpointRecord> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn get_webhook_endpoint(&self, org_id: &str, id: &str) -> Result<WebhookEndpointRecord> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn list_webhook_endpoints(
        &self,
        org_id: &str,
        f: WebhookEndpointFilter,
    ) -> Result<Vec<WebhookEndpointRecord>> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn config_webhook_endpoints(&self) -> Result<Vec<WebhookEndpointRecord>> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn update_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        patch: WebhookEndpointPatch,
        audit: NewAuditEvent,
    ) -> Result<WebhookEndpointRecord> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn delete_webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> Result<()> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn disable_failing_endpoint(
        &self,
        id: &str,
        failing_before: DateTime<Utc>,
        reason: &str,
        audit: NewAuditEvent,
    ) -> Result<bool> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn insert_webhook_event(&self, e: NewWebhookEvent) -> Result<EventInsert> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn record_webhook_refusal(&self, r: NewRefusal) -> Result<()> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn finish_webhook_attempt(
        &self,
        owner: &str,
        attempt: WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<Option<DateTime<Utc>>> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn release_webhook_lease(&self, event_id: &str, owner: &str) -> Result<()> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn list_webhook_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        f: DeliveryFilter,
    ) -> Result<Vec<WebhookEvent>> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn get_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
    ) -> Result<(WebhookEvent, Vec<WebhookAttempt>)> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn replay_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        id: &str,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<WebhookEvent> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn replay_failed_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<u64> {
        unimplemented!("webhook store")
    }
    #[allow(unused_variables)]
    async fn purge_webhook_events(&self, before: DateTime<Utc>) -> Result<u64> {
        unimplemented!("webhook store")
    }
}
