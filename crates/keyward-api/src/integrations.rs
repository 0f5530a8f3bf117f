//! The integrations vault: OAuth 2.0 connections whose tokens Keyward keeps, encrypted,
//! and refreshes (the seed's `getOAuthUrl / exchangeCode / getTokens / refreshTokens /
//! revokeTokens / isAuthenticated`).

use crate::secret::{expose, ProviderToken};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where on the server the hosted OAuth callback is (`GET`).
pub const OAUTH_CALLBACK_PATH: &str = "/v1/oauth/callback";

/// An integration the server is configured for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Integration {
    /// `gmail`, `notion`, or a name from `keyward.yaml`.
    pub name: String,
    pub display_name: String,
    /// `oauth2`: connections through the OAuth flow.
    pub kind: String,
    /// Whether the authorization uses PKCE (S256).
    pub pkce: bool,
    /// Short scope names and the provider's scopes they stand for.
    pub scopes: Vec<IntegrationScope>,
    /// What a connection gets when no scopes are asked for.
    pub default_scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationScope {
    /// `gmail.readonly`.
    pub name: String,
    /// `https://www.googleapis.com/auth/gmail.readonly`.
    pub scope: String,
}

/// Start connecting: the URL to send the person to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// Your id for the connection (e.g. your end user's): 1 to 128 characters of
    /// letters, digits and `- _ . @ :`. Connecting again with the same id replaces its
    /// tokens once the new authorization completes.
    pub connection_id: String,
    /// Where the provider sends the person back (your app's callback, which calls
    /// `POST /v1/integrations/{provider}/exchange`). Absent: Keyward's own hosted
    /// callback (`GET /v1/oauth/callback`), which exchanges the code itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Short names (`gmail.readonly`) or the provider's scopes; absent or empty: the
    /// integration's default scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The workspace the connection belongs to (absent: the whole organization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeResponse {
    /// Send the person here.
    pub url: String,
    /// The `state` the provider will send back; single use, for ten minutes.
    pub state: String,
    pub redirect_uri: String,
    pub expires_at: DateTime<Utc>,
    pub connection: ConnectionView,
}

/// Exchange the code your callback received (the seed's `exchangeCode`).
// `Debug` by hand: the code is a credential until it is exchanged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    pub code: String,
    pub state: String,
    /// Exactly the `redirect_uri` of the authorization.
    pub redirect_uri: String,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("code", &"[REDACTED]")
            .field("state", &self.state)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// `POST /v1/connections/{id}/refresh`: nothing to say yet (an empty body or `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {}

/// A connection's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Authorization started; no tokens yet.
    Pending,
    Active,
    /// Refreshing fails for now (the provider is unavailable); Keyward keeps trying.
    RefreshFailing,
    /// The provider refused the refresh token: connect again.
    NeedsReauth,
    /// Disconnected: tokens revoked and erased.
    Revoked,
}

/// What went wrong last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionProblem {
    /// `invalid_grant`, `access_denied`, `unavailable`, … (the provider's OAuth error
    /// code where there is one).
    pub code: String,
    pub message: String,
    pub at: DateTime<Utc>,
    /// `authorization` (the callback, the code exchange) or `refresh`.
    pub during: String,
}

/// A connection, without its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub workspace: Option<String>,
    pub status: ConnectionStatus,
    /// The seed's `isAuthenticated`: active, with an access token that has not expired
    /// (the refresher renews tokens before they do).
    pub authenticated: bool,
    /// Granted by the provider (requested ones while pending).
    pub scopes: Vec<String>,
    pub has_refresh_token: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// When an authorization (a code exchange) last gave it tokens: what `keyward
    /// connect` waits for.
    pub connected_at: Option<DateTime<Utc>>,
    /// When the access token expires (absent: the provider gave no lifetime).
    pub expires_at: Option<DateTime<Utc>>,
    pub last_error: Option<ConnectionProblem>,
}

/// A connection's current access token (the seed's `getTokens`). Keyward refreshes it
/// first when it is about to expire; the refresh token never leaves Keyward.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionTokens {
    #[serde(serialize_with = "expose")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub access_token: ProviderToken,
    pub token_type: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub connection: ConnectionView,
}

/// The answer to a disconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disconnected {
    /// Whether the provider confirmed the revocation (RFC 7009). `false` when it has no
    /// revocation endpoint or could not be reached: the tokens were erased here anyway.
    pub revoked_at_provider: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
    pub connection: ConnectionView,
}

/// Filters of `GET /v1/connections`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
#[serde(deny_unknown_fields)]
pub struct ConnectionQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConnectionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// 1 to 100, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The query the provider sends the person back with to the hosted callback.
// `Debug` by hand: the code is a credential until it is exchanged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct OAuthCallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl std::fmt::Debug for OAuthCallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCallbackQuery")
            .field("code", &self.code.as_ref().map(|_| "[REDACTED]"))
            .field("state", &self.state)
            .field("error", &self.error)
            .finish()
    }
}
