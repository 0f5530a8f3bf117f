//! The Keyward HTTP API as data: every request and response body, the query strings,
//! the problem document and its stable [`ErrorCode`]s.
//!
//! The server serializes these and the SDK (`keyward-client`) deserializes them (and the
//! other way round for requests), so both ends agree by construction. Value types with
//! rules of their own (roles, scopes, rate limits, owners, statuses) come from
//! `keyward-core`. With the `openapi` feature (the server's) every type also derives
//! utoipa's `ToSchema` or `IntoParams`; without it nothing of utoipa is built.
//!
//! Requests deserialize the way the server reads them: unknown fields are refused, names,
//! emails and customer ids are checked while decoding (the same messages as the
//! `keyward-core` newtypes give), and `null` in a `PATCH` removes a setting.
//!
//! One answer is not built from these types on the server: a VALID verification is
//! written from bytes the key cache prepared (`keyward-server`'s hot path). Its bytes are
//! tested to equal what [`VerifyResponse`] serializes to.

mod cli_login;
mod error;
mod integrations;
mod keys;
mod org;
mod people;
mod secret;
mod usage;
mod verify;
mod webhooks;
mod wire;
mod workers;

pub use cli_login::{
    CliCallback, CliLoginQuery, CliTokenRequest, ACCESS_DENIED, CLI_CALLBACK_PATH, CLI_LOGIN_PAGE,
    CLI_MACHINE_MAX_CHARS,
};
pub use error::{ErrorCode, LimitInfo, Problem};
pub use integrations::*;
pub use keys::*;
pub use org::*;
pub use people::*;
pub use secret::{ApiKey, InvitationCode, OneTimeLink, ProviderToken};
pub use usage::*;
pub use verify::*;
pub use webhooks::*;
pub use wire::double_option;
pub use workers::*;

pub use keyward_core::expiry::KeyStatus;
pub use keyward_core::key::Environment;
pub use keyward_core::permission::Access;
pub use keyward_core::{KeyKind, Owner, Quota, RateLimit, Refill, Role, Scope};
