//! Webhook ingress: endpoints (with their sealed secrets), the events they received,
//! each event's delivery to the endpoint's destination, and every attempt.
//!
//! The store never sees a secret in clear: the provider's secrets and Keyward's signing
//! secrets arrive sealed by the server (bound to the endpoint's id and the field's
//! name), with their wrapped data key. Bodies of verified events are kept as received.

use super::{Sealed, WrappedDek};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The sealed secrets of an endpoint, always written together under one data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSecrets {
    pub dek: WrappedDek,
    /// The provider's secrets (field `provider_secrets`).
    pub provider: Sealed,
    /// Keyward's own `whsec_` signing secrets (field `signing_secrets`).
    pub signing: Sealed,
    /// What listings show of them (plain JSON, never a secret).
    pub hints: EndpointHints,
}

/// Prefixes of an endpoint's secrets, for listings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHints {
    pub secrets: Vec<SecretHintRecord>,
    pub has_verify_token: bool,
    pub signing: Vec<SecretHintRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHintRecord {
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who manages an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagedBy {
    Api,
    /// keyward.yaml: the server writes it at start; the API does not change it.
    Config,
}

impl ManagedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Config => "config",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Api, Self::Config]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A webhook endpoint as stored (also what a create inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpointRecord {
    /// Unique across organizations: the ingress is `/hooks/{id}`.
    pub id: String,
    pub org_id: String,
    pub workspace_id: Option<String>,
    pub name: String,
    /// `whatsapp`, `slack`, `telegram`, `discord`, `standard`.
    pub provider: String,
    pub destination: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub managed_by: ManagedBy,
    pub secrets: EndpointSecrets,
    /// Since when every delivery attempt has failed (none: the last one succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    /// Counts every write; a patch may require the version it read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookEndpointPatch {
    pub name: Option<String>,
    pub destination: Option<String>,
    /// All the sealed secrets, re-sealed under a new data key.
    pub secrets: Option<EndpointSecrets>,
    /// `Some(true)` enables (and clears `failing_since` and the reason), `Some(false)`
    /// disables with `disabled_reason`.
    pub enabled: Option<bool>,
    pub disabled_reason: Option<String>,
    /// Written only if the row is still at this version, else
    /// `Conflict::ChangedMeanwhile` (a read-modify-write of the secrets).
    pub if_version: Option<i64>,
}

/// Filters of a listing of endpoints (ordered by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookEndpointFilter {
    pub provider: Option<String>,
    pub workspace_id: Option<String>,
    /// Only endpoints of these workspaces (a workspace-scoped key's reach).
    pub within_workspaces: Option<Vec<String>>,
    pub after: Option<String>,
    pub limit: u32,
}

/// Where an event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    /// A request that did not verify: no body, only why.
    Refused,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] =
        [Self::Pending, Self::Delivered, Self::Failed, Self::Refused];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A verified event to keep (before the provider gets its 2xx).
#[derive(Clone, PartialEq, Eq)]
pub struct NewWebhookEvent {
    /// `msg_…`, time-ordered: the `webhook-id` of its deliveries.
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    /// What duplicates are recognized by (the provider's event id, or a hash of the
    /// body): a second event with the same key on the same endpoint is not kept.
    pub dedup_key: String,
    pub provider_event_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// `Pending` (to deliver at `received_at`), or `Failed` with `last_error` (the
    /// endpoint is disabled: kept to replay).
    pub status: DeliveryState,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for NewWebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhookEvent")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("dedup_key", &self.dedup_key)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// What keeping an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventInsert {
    Kept,
    /// The endpoint already has an event with this dedup key: this one's id.
    Duplicate(String),
}

/// A request to an endpoint that did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefusal {
    /// `msg_…`.
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    pub received_at: DateTime<Utc>,
    /// The stable error code answered (`webhook_signature_invalid`, …).
    pub code: String,
}

/// Webhook endpoints one organization may have (each is an ingress anyone may call and
/// a destination the deliverer sends to).
pub const MAX_WEBHOOK_ENDPOINTS: u32 = 100;

/// How many refusals an endpoint keeps (the newest): a flood of forged requests does
/// not grow the database.
pub const REFUSALS_KEPT: u32 = 100;

/// An event (or refusal) as stored, with its delivery's state.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    pub status: DeliveryState,
    pub dedup_key: Option<String>,
    pub provider_event_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    /// `None` for a refusal.
    pub body: Option<Vec<u8>>,
    pub attempts: u32,
    /// The attempts before the last replay: the schedule counts from here.
    pub retry_base: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// A refusal's code.
    pub refusal: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEvent")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("body", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// One attempt at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub event_id: String,
    /// 1 for the first.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; try again at this time.
    Retry(DateTime<Utc>),
    /// Failed, and the schedule is spent (or the endpoint is disabled).
    Failed,
}

/// Filters of a delivery log (newest first: by id, descending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryState>,
    /// Ids smaller than this one (the previous page's last).
    pub before: Option<String>,
    pub limit: u32,
}
