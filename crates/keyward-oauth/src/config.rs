//! The `integrations:` section of `keyward.yaml`, as written.
//!
//! ```yaml
//! integrations:
//!   gmail:
//!     enabled: true
//!     credentials: {client_id: ${GMAIL_CLIENT_ID}, client_secret: ${GMAIL_CLIENT_SECRET}}
//!   acme:
//!     credentials: {client_id: abc, client_secret: xyz}
//!     oauth:
//!       authorize_url: https://acme.example/oauth/authorize
//!       token_url: https://acme.example/oauth/token
//!       scopes: {read: "acme:read"}
//!       default_scopes: [read]
//! ```
//!
//! `${VAR}` references are expanded by the binary before these types see the text. What
//! the section means (which entries are providers, what is missing) is
//! [`crate::providers`]'s business; here it is only parsed.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// Every entry under `integrations:`, by name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct IntegrationsConfig(pub BTreeMap<String, IntegrationConfig>);

/// One entry under `integrations:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// Default true; `false` leaves the integration out.
    pub enabled: Option<bool>,
    pub display_name: Option<String>,
    /// `client_id` and `client_secret` for OAuth providers; other names for webhook
    /// providers (whatsapp's `phone_number_id`, `access_token`, …).
    #[serde(default)]
    pub credentials: BTreeMap<String, SecretText>,
    /// Free-form settings (a webhook provider's `webhook_verify_token`, …).
    #[serde(default)]
    pub settings: BTreeMap<String, serde_yaml::Value>,
    /// Endpoints and behaviour of the OAuth provider: required for a provider Keyward
    /// does not know, overrides for one it does.
    pub oauth: Option<OAuthConfig>,
    /// A webhook endpoint that receives this provider's webhooks (whatsapp, slack,
    /// telegram, discord, standard): its secrets are the entry's `credentials`
    /// (`app_secret`, `signing_secret`, `secret_token`, `public_key`, `secret`) and, for
    /// WhatsApp, `settings.webhook_verify_token`.
    pub webhook: Option<WebhookEntryConfig>,
}

/// The `webhook:` block of an integration.
///
/// ```yaml
/// integrations:
///   whatsapp:
///     credentials: {app_secret: ${WHATSAPP_APP_SECRET}}
///     settings: {webhook_verify_token: ${WEBHOOK_VERIFY_TOKEN}}
///     webhook: {org: org_…, destination: "http://localhost:3000/hooks/whatsapp"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEntryConfig {
    /// The organization's id.
    pub org: String,
    /// Your app's URL that receives the events, re-signed with Standard Webhooks.
    pub destination: String,
    /// The ingress is `/hooks/{id}`; default the integration's name.
    pub id: Option<String>,
    /// `whatsapp`, `slack`, `telegram`, `discord` or `standard`; default the
    /// integration's name.
    pub provider: Option<String>,
    pub name: Option<String>,
    pub workspace: Option<String>,
    /// Keyward's `whsec_` secret for deliveries; absent: generated at first start.
    pub signing_secret: Option<SecretText>,
}

impl IntegrationConfig {
    /// Whether the integration is on (the default).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// The `oauth:` block of an integration. Every field is optional: a built-in provider
/// takes its own value for what is left out, any other provider needs at least
/// `authorize_url` and `token_url`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    /// Short name → full scope (`read: "acme:read"`). Merged over a built-in's map.
    pub scopes: Option<BTreeMap<String, String>>,
    /// Asked for when a connection names no scopes (short names or full scopes).
    pub default_scopes: Option<Vec<String>>,
    /// PKCE S256 on the authorization request (default on, except for Notion).
    pub pkce: Option<bool>,
    /// How token and revocation requests are encoded (default `form`).
    pub token_body: Option<BodyFormat>,
    /// How the client authenticates at the token endpoint (default `basic`).
    pub client_auth: Option<ClientAuth>,
    /// Extra query parameters of the authorization URL. Merged over a built-in's.
    pub authorize_params: Option<BTreeMap<String, String>>,
    /// Extra headers of token and revocation requests. Merged over a built-in's.
    pub token_headers: Option<BTreeMap<String, String>>,
    /// Between scopes in the authorization URL (default a space, RFC 6749 §3.3).
    pub scope_separator: Option<String>,
}

/// How a token or revocation request's parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    Form,
    /// A JSON object of strings, as Notion wants.
    Json,
}

/// How the client proves who it is at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` among the body's parameters.
    Body,
}

/// A string from the config that must not be printed: `Debug` shows `[REDACTED]`.
#[derive(Clone)]
pub struct SecretText(SecretString);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(SecretString::from(text.into()))
    }

    /// The text itself. Call only to use it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// Compared in constant time (configs are compared in tests and reloads).
impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.expose()
            .as_bytes()
            .ct_eq(other.expose().as_bytes())
            .into()
    }
}

impl Eq for SecretText {}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_config_parses_and_redacts() {
        let config: IntegrationsConfig = serde_yaml::from_str(
            "gmail:\n  enabled: true\n  credentials: {client_id: id-1, client_secret: hush-hush}\n\
             whatsapp:\n  credentials: {access_token: t0k}\n  settings: {webhook_verify_token: v, n: 3}\n",
        )
        .unwrap();
        let gmail = &config.0["gmail"];
        assert!(gmail.is_enabled());
        assert_eq!(gmail.credentials["client_secret"].expose(), "hush-hush");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("hush-hush") && !debug.contains("t0k"),
            "{debug}"
        );
        assert!(config.0["whatsapp"]
            .settings
            .contains_key("webhook_verify_token"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_yaml::from_str::<IntegrationsConfig>("gmail:\n  enable: true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("enable"), "{err}");
        let err =
            serde_yaml::from_str::<IntegrationsConfig>("acme:\n  oauth: {token_uri: https://x}\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("token_uri"), "{err}");
        assert!(
            serde_yaml::from_str::<IntegrationsConfig>("acme:\n  oauth: {token_body: xml}\n")
                .is_err()
        );
    }
}
