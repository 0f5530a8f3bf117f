//! Webhook ingress: endpoints that receive a provider's webhooks (WhatsApp, Slack,
//! Telegram, Discord, Standard Webhooks), check its signature, keep each event durably
//! and deliver it to your app, re-signed with Standard Webhooks.

use crate::secret::{expose, ProviderToken};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where the public ingress of an endpoint is: `{public url}/hooks/{endpoint id}`.
pub const HOOKS_PATH: &str = "/hooks";

/// The headers Keyward adds to what it delivers, besides Standard Webhooks'
/// `webhook-id`, `webhook-timestamp` and `webhook-signature`.
pub const HEADER_PROVIDER: &str = "x-keyward-provider";
/// The provider's own id of the event (Slack's `event_id`, Telegram's `update_id`, a
/// Discord interaction's `id`, the `webhook-id` received; for Meta, the SHA-256 of the
/// body).
pub const HEADER_EVENT_ID: &str = "x-keyward-event-id";
pub const HEADER_ENDPOINT: &str = "x-keyward-endpoint";
/// 1 for the first attempt.
pub const HEADER_ATTEMPT: &str = "x-keyward-attempt";

/// Whose webhooks an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookProvider {
    /// WhatsApp Cloud API (Meta): `GET` `hub.*` handshake, `X-Hub-Signature-256`.
    Whatsapp,
    /// Slack: `X-Slack-Signature` v0, 5-minute window, `url_verification`.
    Slack,
    /// Telegram Bot API: `X-Telegram-Bot-Api-Secret-Token`.
    Telegram,
    /// Discord interactions: Ed25519 `X-Signature-Ed25519`, PING answered.
    Discord,
    /// Standard Webhooks (Svix and others): `webhook-id/-timestamp/-signature`.
    Standard,
}

impl WebhookProvider {
    pub const ALL: [WebhookProvider; 5] = [
        Self::Whatsapp,
        Self::Slack,
        Self::Telegram,
        Self::Discord,
        Self::Standard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Slack => "slack",
            Self::Telegram => "telegram",
            Self::Discord => "discord",
            Self::Standard => "standard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What the provider's secret is called, for messages and forms.
    pub fn secret_name(self) -> &'static str {
        match self {
            Self::Whatsapp => "Meta app secret",
            Self::Slack => "Slack signing secret",
            Self::Telegram => "Telegram secret token",
            Self::Discord => "Discord application public key",
            Self::Standard => "whsec_ signing secret",
        }
    }
}

/// An endpoint's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookEndpointStatus {
    /// Verifies and delivers.
    Enabled,
    /// Still verifies and keeps what arrives, as `failed` deliveries to replay; delivers
    /// nothing. Set by hand, or by Keyward after a day of failed deliveries.
    Disabled,
}

/// `POST /v1/webhook-endpoints`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    pub provider: WebhookProvider,
    /// 1 to 100 characters.
    pub name: String,
    /// The workspace it belongs to (absent: the whole organization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Your app's URL (http or https) that receives each event, re-signed with
    /// Standard Webhooks; or `workers` (`workers:LABEL`: those carrying the label): the
    /// workers of the endpoint's `workspace` receive each event over their connection
    /// and forward it (`keyward worker --forward-to URL`), in order, one at a time.
    pub destination: String,
    /// The provider's secrets: the Meta app secret, the Slack signing secret, the
    /// Telegram secret token, the Discord application's public key (64 hex), or a
    /// `whsec_` secret. Several while the provider's secret is being rotated: a
    /// signature made with any of them is accepted. Telegram: absent or empty, Keyward
    /// generates one (shown once in the answer, to pass to `setWebhook`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub secrets: Vec<WebhookSecretInput>,
    /// WhatsApp only, required: the verify token of Meta's `GET` handshake
    /// (`settings.webhook_verify_token` in keyward.yaml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verify_token: Option<WebhookSecretInput>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A secret in a request: written as a plain string, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecretInput(#[serde(serialize_with = "expose")] pub ProviderToken);

impl WebhookSecretInput {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(ProviderToken::new(raw))
    }
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for WebhookSecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `PATCH /v1/webhook-endpoints/{id}`: what is given changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Replaces the provider's secrets (all of them: to rotate, give the new and the
    /// old one, then later the new one alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub secrets: Option<Vec<WebhookSecretInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verify_token: Option<WebhookSecretInput>,
    /// `false` disables (nothing is delivered; what arrives is kept as failed
    /// deliveries), `true` enables again and clears the failure streak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A secret as listings show it: its first characters only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretHint {
    /// The first 4 characters (after `whsec_` for those), then `…`.
    pub prefix: String,
    /// Keyward's signing secrets: until when a replaced one still signs (absent: current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A webhook endpoint, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// `wh_…`, or the name given in keyward.yaml: the last segment of the ingress URL.
    pub id: String,
    pub name: String,
    pub provider: WebhookProvider,
    pub workspace: Option<String>,
    pub destination: String,
    pub status: WebhookEndpointStatus,
    /// Why it is disabled (`by hand`, or the failures that disabled it).
    pub disabled_reason: Option<String>,
    /// Where the provider sends its webhooks: `{public url}/hooks/{id}`.
    pub ingress_url: String,
    /// The provider's secrets Keyward checks signatures with.
    pub secrets: Vec<SecretHint>,
    /// WhatsApp: whether a verify token is set.
    pub has_verify_token: bool,
    /// Keyward's own `whsec_` secrets its deliveries are signed with (more than one
    /// during a rotation's overlap).
    pub signing_secrets: Vec<SecretHint>,
    /// `api`, or `config` for an endpoint from keyward.yaml (changed there, not here).
    pub managed_by: String,
    /// Since when every delivery has failed (absent: the last one succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer to a create: the endpoint and the secrets shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpointCreated {
    pub endpoint: WebhookEndpoint,
    /// Keyward's `whsec_` secret: what your app verifies deliveries with. Shown once.
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signing_secret: ProviderToken,
    /// Telegram, when Keyward generated the secret token: pass it to `setWebhook` as
    /// `secret_token`. Shown once.
    #[serde(
        default,
        serialize_with = "crate::secret::expose_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub generated_secret: Option<ProviderToken>,
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSigningSecretRequest {
    /// How long the replaced secret still signs deliveries beside the new one, in
    /// seconds: 0 to 604800 (7 days), default 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_secs: Option<u64>,
}

/// The new signing secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningSecretRotated {
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signing_secret: ProviderToken,
    pub endpoint: WebhookEndpoint,
}

/// Filters of `GET /v1/webhook-endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<WebhookProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Where an event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Verified and kept; waiting for its next attempt.
    Pending,
    /// The destination answered 2xx.
    Delivered,
    /// Every attempt of the schedule failed (or the endpoint was disabled): replay it.
    Failed,
    /// The request did not verify: nothing was kept but why (no body).
    Refused,
}

/// One attempt at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The destination's HTTP status (absent: no answer).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed (`timeout`, `connection refused`, `HTTP 503`, …).
    pub error: Option<String>,
}

/// An event received by an endpoint and its delivery (or a refused request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// `msg_…`: the `webhook-id` of every attempt (the same across retries and replays).
    pub id: String,
    pub endpoint: String,
    pub status: DeliveryStatus,
    /// The provider's id of the event (see `x-keyward-event-id`).
    pub provider_event_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Refused requests: the stable code of the refusal (`webhook_signature_invalid`, …).
    pub refusal: Option<String>,
    /// Only in `GET …/deliveries/{id}`: every attempt, first first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<DeliveryAttempt>>,
}

/// Filters of `GET /v1/webhook-endpoints/{id}/deliveries` (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `POST /v1/webhook-endpoints/{id}/deliveries/{delivery}/replay`: nothing to say (an
/// empty body or `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayDeliveryRequest {}

/// `POST /v1/webhook-endpoints/{id}/replay`: every failed delivery received since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayFailedRequest {
    pub since: DateTime<Utc>,
}

/// How many deliveries were queued again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replayed {
    pub replayed: u64,
}
