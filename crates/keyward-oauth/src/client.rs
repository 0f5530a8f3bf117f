//! The calls to a provider's token and revocation endpoints, and what their answers
//! mean.

use crate::answer::{failure, token_answer, TokenAnswer};
use crate::config::{BodyFormat, ClientAuth};
use crate::error::TokenError;
use crate::provider::Provider;
use base64::Engine as _;
use keyward_core::pkce::CodeVerifier;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The most of a response body read; a larger one is not a token answer.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How long one request may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Talks to token and revocation endpoints: rustls, a 10 s timeout, redirects not
/// followed (a token endpoint that redirects is misconfigured, and following would
/// carry the credentials elsewhere), `User-Agent: keyward/<version>`.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
}

impl Default for OAuthClient {
    fn default() -> Self {
        Self::new()
    }
}

/// How a revocation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider said 2xx (also what it says for a token it does not know).
    Revoked,
    /// The provider has no revocation endpoint: only the local copy can be erased.
    NotSupported,
}

impl OAuthClient {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend could not be initialized");
        Self { http }
    }

    /// Trades an authorization code for tokens. `verifier` is Some exactly when the
    /// provider uses PKCE; `redirect_uri` is the one of the authorization request.
    pub async fn exchange_code(
        &self,
        p: &Provider,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&CodeVerifier>,
    ) -> Result<TokenAnswer, TokenError> {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = verifier {
            params.push(("code_verifier", verifier.expose_secret()));
        }
        let secrets = [code, verifier.map_or("", |v| v.expose_secret())];
        let (status, body) = self
            .post(p, p.token_url.clone(), p.token_body, params)
            .await?;
        token_answer(p, status, &body, &secrets)
    }

    /// Trades a refresh token for a new access token (and maybe a new refresh token).
    pub async fn refresh(
        &self,
        p: &Provider,
        refresh_token: &SecretString,
    ) -> Result<TokenAnswer, TokenError> {
        let token = refresh_token.expose_secret();
        let params = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        let (status, body) = self
            .post(p, p.token_url.clone(), p.token_body, params)
            .await?;
        token_answer(p, status, &body, &[token])
    }

    /// RFC 7009: `token=…&token_type_hint=…` (JSON `{"token":…}` for JSON providers);
    /// any 2xx is success, also for a token the provider does not know. A provider
    /// without a revoke_url: `Ok(Revocation::NotSupported)`.
    pub async fn revoke(
        &self,
        p: &Provider,
        token: &SecretString,
        hint: &str,
    ) -> Result<Revocation, TokenError> {
        let Some(url) = p.revoke_url.clone() else {
            return Ok(Revocation::NotSupported);
        };
        let token = token.expose_secret();
        let mut params = vec![("token", token)];
        if p.revoke_body == BodyFormat::Form && !hint.is_empty() {
            params.push(("token_type_hint", hint));
        }
        let (status, body) = self.post(p, url, p.revoke_body, params).await?;
        if (200..300).contains(&status) {
            return Ok(Revocation::Revoked);
        }
        Err(failure(p, status, &body, &[token]))
    }

    /// POSTs `params` (plus the client's credentials) and reads the answer.
    async fn post(
        &self,
        p: &Provider,
        url: url::Url,
        format: BodyFormat,
        mut params: Vec<(&str, &str)>,
    ) -> Result<(u16, Vec<u8>), TokenError> {
        let secret = p.client_secret().expose_secret();
        let mut request = self.http.post(url).header(ACCEPT, "application/json");
        match p.client_auth {
            ClientAuth::Basic => {
                request = request.header(AUTHORIZATION, basic_auth(&p.client_id, secret));
            }
            ClientAuth::Body => {
                params.push(("client_id", &p.client_id));
                params.push(("client_secret", secret));
            }
        }
        request = match format {
            BodyFormat::Form => request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&params)
                        .finish(),
                ),
            BodyFormat::Json => {
                let object: serde_json::Map<String, serde_json::Value> = params
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                    .collect();
                request
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::Value::Object(object).to_string())
            }
        };
        for (name, value) in &p.token_headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send().await.map_err(|e| unreachable(p, &e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(p, &e))? {
            if body.len() + chunk.len() > BODY_LIMIT {
                tracing::warn!(provider = %p.name, status, "answer over 64 KiB");
                return Err(if status >= 500 || status == 429 {
                    TokenError::Unavailable {
                        reason: format!("HTTP {status}"),
                    }
                } else {
                    TokenError::Malformed {
                        reason: format!("HTTP {status} with a body over 64 KiB"),
                    }
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(provider = %p.name, status, bytes = body.len(), "the provider answered");
        Ok((status, body))
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub(crate) fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A request that got no answer: retry later.
fn unreachable(p: &Provider, e: &reqwest::Error) -> TokenError {
    let reason = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    tracing::warn!(provider = %p.name, error = %error_chain(e), "{reason}");
    TokenError::Unavailable {
        reason: reason.to_owned(),
    }
}

/// The error's sources (hyper's, the OS's), without the URL (which is the provider's,
/// and holds nothing secret, but is noise).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.is_empty() {
        "no detail".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §2.3.1's example client, as integrations spec §6 gives it.
    #[test]
    fn basic_auth_matches_the_spec_vector() {
        assert_eq!(
            basic_auth("s6BhdRkqt3", "gX1fBat3bV"),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
        // Form-urlencoded before base64: ':' in an id must not split it.
        assert_eq!(
            basic_auth("a:b", "c d"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("a%3Ab:c+d")
            )
        );
    }
}
