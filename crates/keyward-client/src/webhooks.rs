//! Webhook ingress: endpoints that receive a provider's webhooks (WhatsApp, Slack,
//! Telegram, Discord, Standard Webhooks), check their signature, keep each event durably
//! and deliver it to your app, re-signed with Standard Webhooks. Create one with
//! [`Client::create_webhook_endpoint`]; the answer holds the endpoint's ingress URL (give
//! it to the provider) and its `whsec_` signing secret, shown this once (give it to your
//! app). [`Client::webhook_deliveries`] and [`Client::replay_failed_webhook_deliveries`]
//! follow what arrived.
//!
//! ```no_run
//! # async fn demo(client: keyward_client::Client) -> Result<(), keyward_client::Error> {
//! use keyward_client::{CreateWebhookEndpointRequest, WebhookProvider, WebhookSecretInput};
//! let created = client
//!     .create_webhook_endpoint(&CreateWebhookEndpointRequest {
//!         provider: WebhookProvider::Slack,
//!         name: "support-bot".into(),
//!         workspace: None,
//!         destination: "https://app.example.com/webhooks/slack".into(),
//!         secrets: vec![WebhookSecretInput::new(std::env::var("SLACK_SIGNING_SECRET").unwrap())],
//!         verify_token: None,
//!         enabled: None,
//!     })
//!     .await?;
//! println!("Slack's Request URL: {}", created.endpoint.ingress_url);
//! let _for_your_app = created.signing_secret.expose_secret(); // shown once
//! // Later: what arrived, and the failed deliveries of the last two hours sent again.
//! let failed = client
//!     .webhook_deliveries(
//!         &created.endpoint.id,
//!         &keyward_client::DeliveryQuery {
//!             status: Some(keyward_client::DeliveryStatus::Failed),
//!             ..Default::default()
//!         },
//!     )
//!     .await?;
//! if !failed.data.is_empty() {
//!     let since = chrono::Utc::now() - chrono::Duration::hours(2);
//!     client.replay_failed_webhook_deliveries(&created.endpoint.id, since).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Your app checks each delivery with the `keyward-webhooks` crate
//! (`keyward_webhooks::standard`), whatever the provider: the headers `webhook-id`,
//! `webhook-timestamp` and `webhook-signature`, the body exactly as received, and the
//! signing secret (during a rotation's overlap, [`Client::rotate_webhook_secret`], either
//! secret verifies). `webhook-id` stays the same across retries and replays: deduplicate
//! on it.
//!
//! ```
//! use keyward_webhooks::standard::{self, Secret};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The signing secret of the endpoint, from your app's configuration.
//! let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
//! let now = 1_764_610_000; // unix seconds, your clock
//! let body = br#"{"type":"event_callback","event_id":"Ev1"}"#;
//! // (Here made up as Keyward signs them; in your app, the request's headers.)
//! let signed = standard::headers(&secret, "msg_1", now, body);
//! let headers: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.as_str())).collect();
//!
//! let verified = standard::verify(&headers[..], body, &[secret], now)?;
//! assert_eq!(verified.id, "msg_1"); // seen before? then it was already handled
//! # Ok(()) }
//! ```

use crate::{
    Client, CreateWebhookEndpointRequest, DeliveryQuery, Page, ReplayDeliveryRequest,
    ReplayFailedRequest, Replayed, Result, RotateSigningSecretRequest, SigningSecretRotated,
    UpdateWebhookEndpointRequest, WebhookDelivery, WebhookEndpoint, WebhookEndpointCreated,
    WebhookEndpointQuery,
};
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde::Serialize;

const NO_BODY: Option<&()> = None;
const ENDPOINTS: &str = "webhook-endpoints";

impl Client {
    /// `POST /v1/webhook-endpoints`: the endpoint, its ingress URL (`endpoint.ingress_url`,
    /// for the provider), and the secrets shown this once: Keyward's `whsec_` signing
    /// secret (for your app) and, for Telegram without a secret given, the secret token
    /// Keyward generated (for `setWebhook`).
    pub async fn create_webhook_endpoint(
        &self,
        req: &CreateWebhookEndpointRequest,
    ) -> Result<WebhookEndpointCreated> {
        self.send(Method::POST, self.url(&["v1", ENDPOINTS]), Some(req))
            .await
    }

    /// `GET /v1/webhook-endpoints`: one page of the endpoints the key's scope reaches,
    /// without their secrets; pass `next_cursor` back as `cursor` for the next.
    pub async fn webhook_endpoints(
        &self,
        query: &WebhookEndpointQuery,
    ) -> Result<Page<WebhookEndpoint>> {
        self.send(
            Method::GET,
            query_url(self, &["v1", ENDPOINTS], query),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/webhook-endpoints/{id}`: its status, ingress URL and the prefixes of its
    /// secrets.
    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpoint> {
        self.send(Method::GET, self.url(&["v1", ENDPOINTS, id]), NO_BODY)
            .await
    }

    /// `PATCH /v1/webhook-endpoints/{id}`: what is given changes. `secrets` replaces all
    /// the provider's secrets; `enabled: Some(false)` disables it (what arrives is kept
    /// as failed deliveries), `Some(true)` enables it again. An endpoint from
    /// keyward.yaml answers `webhook_endpoint_managed_by_config`.
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        req: &UpdateWebhookEndpointRequest,
    ) -> Result<WebhookEndpoint> {
        self.send(Method::PATCH, self.url(&["v1", ENDPOINTS, id]), Some(req))
            .await
    }

    /// `DELETE /v1/webhook-endpoints/{id}`: its ingress URL stops accepting webhooks.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<()> {
        self.send(Method::DELETE, self.url(&["v1", ENDPOINTS, id]), NO_BODY)
            .await
    }

    /// `POST /v1/webhook-endpoints/{id}/rotate-secret`: a new `whsec_` signing secret,
    /// shown once. The replaced one still signs deliveries beside it for
    /// `overlap_secs` (server default a day), so your app can switch in between.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        req: &RotateSigningSecretRequest,
    ) -> Result<SigningSecretRotated> {
        self.send(
            Method::POST,
            self.url(&["v1", ENDPOINTS, id, "rotate-secret"]),
            Some(req),
        )
        .await
    }

    /// `GET /v1/webhook-endpoints/{id}/deliveries`: one page of what the endpoint
    /// received (and refused), newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        query: &DeliveryQuery,
    ) -> Result<Page<WebhookDelivery>> {
        self.send(
            Method::GET,
            query_url(self, &["v1", ENDPOINTS, id, "deliveries"], query),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/webhook-endpoints/{id}/deliveries/{delivery_id}`: one delivery with every
    /// attempt (`attempt_log`).
    pub async fn webhook_delivery(&self, id: &str, delivery_id: &str) -> Result<WebhookDelivery> {
        self.send(
            Method::GET,
            self.url(&["v1", ENDPOINTS, id, "deliveries", delivery_id]),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/replay`: delivers a
    /// failed (or delivered) event again, with the same `webhook-id`. A pending one
    /// answers `delivery_pending`.
    pub async fn replay_webhook_delivery(
        &self,
        id: &str,
        delivery_id: &str,
    ) -> Result<WebhookDelivery> {
        self.send(
            Method::POST,
            self.url(&["v1", ENDPOINTS, id, "deliveries", delivery_id, "replay"]),
            Some(&ReplayDeliveryRequest::default()),
        )
        .await
    }

    /// `POST /v1/webhook-endpoints/{id}/replay`: queues again every failed delivery
    /// received since `since`; how many.
    pub async fn replay_failed_webhook_deliveries(
        &self,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<Replayed> {
        self.send(
            Method::POST,
            self.url(&["v1", ENDPOINTS, id, "replay"]),
            Some(&ReplayFailedRequest { since }),
        )
        .await
    }
}

/// `segments` with the query's filters (none: no query string).
pub(crate) fn query_url(client: &Client, segments: &[&str], query: &impl Serialize) -> Url {
    let mut url = client.url(segments);
    let encoded = serde_urlencoded::to_string(query).expect("a query of strings and numbers");
    if !encoded.is_empty() {
        url.set_query(Some(&encoded));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiKey, DeliveryStatus, WebhookProvider, WebhookSecretInput};

    fn client() -> Client {
        Client::new("http://127.0.0.1:1", ApiKey::new("kw_pat_x")).unwrap()
    }

    #[test]
    fn listings_encode_their_filters() {
        let client = client();
        let all = query_url(
            &client,
            &["v1", ENDPOINTS],
            &WebhookEndpointQuery::default(),
        );
        assert_eq!(all.as_str(), "http://127.0.0.1:1/v1/webhook-endpoints");
        let some = query_url(
            &client,
            &["v1", ENDPOINTS],
            &WebhookEndpointQuery {
                provider: Some(WebhookProvider::Whatsapp),
                workspace: Some("ws 1".into()),
                limit: Some(10),
                cursor: Some("c/1".into()),
            },
        );
        assert_eq!(
            some.as_str(),
            "http://127.0.0.1:1/v1/webhook-endpoints?provider=whatsapp&workspace=ws+1&limit=10&cursor=c%2F1"
        );
        let failed = query_url(
            &client,
            &["v1", ENDPOINTS, "wh/1", "deliveries"],
            &DeliveryQuery {
                status: Some(DeliveryStatus::Failed),
                limit: Some(5),
                cursor: None,
            },
        );
        assert_eq!(
            failed.as_str(),
            "http://127.0.0.1:1/v1/webhook-endpoints/wh%2F1/deliveries?status=failed&limit=5"
        );
    }

    #[test]
    fn requests_carry_their_secrets_but_never_show_them() {
        let req = CreateWebhookEndpointRequest {
            provider: WebhookProvider::Slack,
            name: "n".into(),
            workspace: None,
            destination: "https://app.example.com/hook".into(),
            secrets: vec![WebhookSecretInput::new("s3cret")],
            verify_token: None,
            enabled: Some(false),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"provider":"slack","name":"n","destination":"https://app.example.com/hook","secrets":["s3cret"],"enabled":false}"#
        );
        assert!(!format!("{req:?}").contains("s3cret"));
        assert_eq!(
            serde_json::to_string(&UpdateWebhookEndpointRequest::default()).unwrap(),
            "{}"
        );
        assert_eq!(
            serde_json::to_string(&ReplayDeliveryRequest::default()).unwrap(),
            "{}"
        );
        let since = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&ReplayFailedRequest { since }).unwrap(),
            r#"{"since":"2026-12-01T00:00:00Z"}"#
        );
    }

    #[test]
    fn answers_decode_with_their_secrets_shown_once() {
        let created: WebhookEndpointCreated = serde_json::from_str(
            r#"{"endpoint":{"id":"wh_1","name":"bot","provider":"telegram","workspace":null,
                "destination":"https://app.example.com/tg","status":"enabled","disabled_reason":null,
                "ingress_url":"https://keys.example.com/hooks/wh_1","secrets":[{"prefix":"abcd…"}],
                "has_verify_token":false,"signing_secrets":[{"prefix":"Q2x5…"}],"managed_by":"api",
                "failing_since":null,"created_at":"2026-12-01T00:00:00Z","updated_at":"2026-12-01T00:00:00Z"},
              "signing_secret":"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD","generated_secret":"tg-token"}"#,
        )
        .unwrap();
        assert_eq!(
            created.signing_secret.expose_secret(),
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
        );
        assert_eq!(
            created.generated_secret.as_ref().unwrap().expose_secret(),
            "tg-token"
        );
        assert!(!format!("{created:?}").contains("C2FVsBQ"));
        assert_eq!(created.endpoint.signing_secrets[0].expires_at, None);
    }
}
