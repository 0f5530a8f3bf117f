//! The integrations vault: OAuth 2.0 connections whose tokens Keyward keeps, encrypted,
//! and refreshes. The seed's `getOAuthUrl` is [`Client::authorize`], `exchangeCode`
//! [`Client::exchange_code`], `getTokens` [`Client::tokens`], `refreshTokens`
//! [`Client::refresh_tokens`], `revokeTokens` [`Client::revoke_tokens`] and
//! `isAuthenticated` [`Client::is_authenticated`].
//!
//! ```no_run
//! # async fn demo(client: keyward_client::Client) -> Result<(), keyward_client::Error> {
//! use keyward_client::{AuthorizeRequest, Client};
//! // Without redirect_uri the provider sends the person to Keyward's hosted callback,
//! // which exchanges the code itself.
//! let started = client
//!     .authorize("gmail", &AuthorizeRequest { connection_id: "u1".into(), ..Default::default() })
//!     .await?;
//! println!("open {}", started.url);
//! // … once the person has authorized:
//! if client.is_authenticated("u1").await? {
//!     let tokens = client.tokens("u1").await?;
//!     let _bearer = tokens.access_token.expose_secret();
//! }
//! # Ok(()) }
//! ```

use crate::{
    AuthorizeRequest, AuthorizeResponse, Client, ConnectionQuery, ConnectionTokens, ConnectionView,
    Disconnected, ExchangeRequest, Integration, Page, Result,
};
use reqwest::{Method, Url};

const NO_BODY: Option<&()> = None;

impl Client {
    /// `GET /v1/integrations`: the integrations the server is configured for, with their
    /// scopes (short name → the provider's scope).
    pub async fn integrations(&self) -> Result<Vec<Integration>> {
        self.send(Method::GET, self.url(&["v1", "integrations"]), NO_BODY)
            .await
    }

    /// `POST /v1/integrations/{provider}/authorize` (the seed's `getOAuthUrl`): the URL
    /// to send the person to, and the one-time `state` (ten minutes). Without
    /// `redirect_uri` the provider sends the person back to Keyward's hosted callback
    /// ([`crate::api::OAUTH_CALLBACK_PATH`]), which exchanges the code itself; with one,
    /// your callback calls [`Client::exchange_code`].
    pub async fn authorize(
        &self,
        provider: &str,
        req: &AuthorizeRequest,
    ) -> Result<AuthorizeResponse> {
        self.send(
            Method::POST,
            self.url(&["v1", "integrations", provider, "authorize"]),
            Some(req),
        )
        .await
    }

    /// `POST /v1/integrations/{provider}/exchange` (the seed's `exchangeCode`): the code
    /// and state your callback received, with exactly the `redirect_uri` the
    /// authorization was started with. The state works once.
    pub async fn exchange_code(
        &self,
        provider: &str,
        req: &ExchangeRequest,
    ) -> Result<ConnectionView> {
        self.send(
            Method::POST,
            self.url(&["v1", "integrations", provider, "exchange"]),
            Some(req),
        )
        .await
    }

    /// `GET /v1/connections`: one page of the connections the key's scope reaches, by
    /// id; pass `next_cursor` back as `cursor` for the next.
    pub async fn connections(&self, query: &ConnectionQuery) -> Result<Page<ConnectionView>> {
        self.send(Method::GET, connections_url(self, query), NO_BODY)
            .await
    }

    /// `GET /v1/connections/{id}`: its status, without tokens.
    pub async fn connection(&self, id: &str) -> Result<ConnectionView> {
        self.send(Method::GET, self.url(&["v1", "connections", id]), NO_BODY)
            .await
    }

    /// The seed's `isAuthenticated`: whether the connection is active with an access
    /// token that has not expired (Keyward renews tokens before they do). A connection that does
    /// not exist is `false`, not an error.
    pub async fn is_authenticated(&self, id: &str) -> Result<bool> {
        match self.connection(id).await {
            Ok(c) => Ok(c.authenticated),
            Err(crate::Error::Api(e)) if e.code == crate::ErrorCode::ConnectionNotFound => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/connections/{id}/tokens` (the seed's `getTokens`): the current access
    /// token, refreshed first when it is about to expire. The refresh token never leaves
    /// Keyward. Audited; needs a key that manages the connection.
    pub async fn tokens(&self, id: &str) -> Result<ConnectionTokens> {
        self.send(
            Method::GET,
            self.url(&["v1", "connections", id, "tokens"]),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/connections/{id}/refresh` (the seed's `refreshTokens`): refresh now,
    /// whatever the expiry. Callers racing it wait for this one refresh.
    pub async fn refresh_tokens(&self, id: &str) -> Result<ConnectionView> {
        self.send(
            Method::POST,
            self.url(&["v1", "connections", id, "refresh"]),
            NO_BODY,
        )
        .await
    }

    /// `DELETE /v1/connections/{id}/tokens` (the seed's `revokeTokens`, a disconnect):
    /// revokes the tokens at the provider (RFC 7009), then erases them here. The answer
    /// says whether the provider confirmed; the connection stays, `revoked`.
    pub async fn revoke_tokens(&self, id: &str) -> Result<Disconnected> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "connections", id, "tokens"]),
            NO_BODY,
        )
        .await
    }

    /// `DELETE /v1/connections/{id}`: disconnects it (as [`Client::revoke_tokens`]), then
    /// deletes the record.
    pub async fn delete_connection(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["v1", "connections", id]),
            NO_BODY,
        )
        .await
    }
}

/// `/v1/connections` with the query's filters (none: no query string).
fn connections_url(client: &Client, query: &ConnectionQuery) -> Url {
    let mut url = client.url(&["v1", "connections"]);
    let encoded = serde_urlencoded::to_string(query).expect("a query of strings and numbers");
    if !encoded.is_empty() {
        url.set_query(Some(&encoded));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiKey, ConnectionStatus};

    #[test]
    fn connection_queries_encode_their_filters() {
        let client = Client::new("http://127.0.0.1:1", ApiKey::new("kw_pat_x")).unwrap();
        let all = connections_url(&client, &ConnectionQuery::default());
        assert_eq!(all.as_str(), "http://127.0.0.1:1/v1/connections");
        let some = connections_url(
            &client,
            &ConnectionQuery {
                provider: Some("gmail".into()),
                status: Some(ConnectionStatus::NeedsReauth),
                limit: Some(10),
                cursor: Some("u 1".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            some.as_str(),
            "http://127.0.0.1:1/v1/connections?provider=gmail&status=needs_reauth&limit=10&cursor=u+1"
        );
        assert_eq!(
            client.url(&["v1", "connections", "a/b", "tokens"]).as_str(),
            "http://127.0.0.1:1/v1/connections/a%2Fb/tokens"
        );
    }

    #[test]
    fn authorize_requests_leave_out_what_is_not_set() {
        let req = AuthorizeRequest {
            connection_id: "u1".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"connection_id":"u1"}"#
        );
    }
}
