//! `keyward auth login --web`: the CLI exchanges the one-time code of its loopback
//! redirect, with its PKCE verifier (RFC 7636), for a personal access token
//! (`POST /v1/auth/cli/token`, answered with a [`crate::CreatedKey`] like
//! `POST /v1/keys`).

use serde::{Deserialize, Serialize};

// `Debug` is written by hand: the code and the verifier are secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CliTokenRequest {
    /// The `kw_cli_…` code the console's redirect carried to the CLI.
    pub code: String,
    /// The PKCE verifier the CLI made: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`,
    /// whose S256 challenge the login was approved with.
    pub code_verifier: String,
}

impl std::fmt::Debug for CliTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliTokenRequest")
            .field("code", &"kw_cli_[REDACTED]")
            .field("code_verifier", &"[REDACTED]")
            .finish()
    }
}
