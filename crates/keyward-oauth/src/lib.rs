//! Keyward as an OAuth 2.0 client (integrations spec §6): the authorization code grant
//! with PKCE, against the providers a tenant connects to (Gmail, Google Calendar,
//! Google Drive, Notion, and any other described in `keyward.yaml`).
//!
//! * [`config`]: the `integrations:` section as written ([`IntegrationsConfig`]).
//! * [`providers`] turns it into [`Providers`]: endpoints, scope names, how each
//!   provider wants to be talked to, its client credentials.
//! * [`Provider::authorization_url`] is where the person is sent, with a `state` and a
//!   PKCE challenge from [`keyward_core::pkce`].
//! * [`OAuthClient`] makes the back-channel calls: [`exchange_code`], [`refresh`],
//!   [`revoke`], and sorts every failure into a [`TokenError`] a caller can act on —
//!   `invalid_grant` (the connection needs the person again), retryable (5xx, 429,
//!   `temporarily_unavailable`, timeouts, no connection) or malformed.
//!
//! Storing `state`, verifiers and tokens, and deciding when to refresh, are the
//! server's; this crate holds no state beyond its HTTP client.
//!
//! # Secrets
//! Tokens, codes, verifiers and client secrets are `SecretString`s or borrowed only to
//! be sent; they never appear in an error message, a `Debug` output or a tracing
//! field. What a provider says in an error description is kept, shortened to 200
//! characters, without control characters, and with anything the request sent
//! blanked out.
//!
//! # Why not the `oauth2` crate
//! Checked against its source (oauth2 5.0, `src/endpoint.rs`): every token, refresh and
//! revocation request is built by one function that always sets
//! `Content-Type: application/x-www-form-urlencoded` and serializes the parameters as a
//! form, so Notion's JSON body cannot be sent without rewriting requests inside a
//! custom HTTP client. Its error type *is* pluggable (an `ErrorResponse` type of one's
//! own could parse Notion's `{code, message}`), but the classification is not: any
//! status other than exactly 200 is an error, the parsed error (`ServerResponse`)
//! does not carry the HTTP status, and a 5xx or 429 with an empty or HTML body ends up
//! as `Other(String)` or `Parse(..)` next to real parse failures — so telling
//! "retry later" from "ask the person again" would mean matching on strings. The
//! protocol is a few form posts; doing them here keeps Google and Notion in one
//! table of differences (`builtin.rs`) and the failure classes exact.
//!
//! [`exchange_code`]: OAuthClient::exchange_code
//! [`refresh`]: OAuthClient::refresh
//! [`revoke`]: OAuthClient::revoke

mod answer;
mod builtin;
mod client;
pub mod config;
mod error;
mod provider;

pub use answer::TokenAnswer;
pub use client::{OAuthClient, Revocation, BODY_LIMIT, TIMEOUT};
pub use config::{
    BodyFormat, ClientAuth, IntegrationConfig, IntegrationsConfig, OAuthConfig, SecretText,
    WebhookEntryConfig,
};
pub use error::{is_bidi_control, ConfigError, ScopeError, TokenError};
pub use provider::{providers, Provider, Providers};

/// The `Notion-Version` header sent with every Notion token and revocation request.
pub const NOTION_VERSION: &str = builtin::NOTION_VERSION;
