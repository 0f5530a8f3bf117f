//! The integrations vault against a real authorization server nobody here wrote: the
//! npm package `oidc-provider` (strict PKCE S256, refresh-token rotation, RFC 7009
//! revocation), run by `tests/oauth_provider/server.mjs`, configured into Keyward as a
//! provider of `keyward.yaml` would be. Every test runs on SQLite and, with
//! `KEYWARD_TEST_BACKEND=postgres`, on PostgreSQL.

mod flow;
mod gmail;
mod nodes;
mod refresh;
mod secrets;

mod vault;
pub use vault::*;
