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

/// The console page `keyward auth login --web` opens (with a [`CliLoginQuery`]).
pub const CLI_LOGIN_PAGE: &[&str] = &["console", "cli-login"];
/// Where on `http://127.0.0.1:<port>` the console sends the browser back to the CLI
/// (with a [`CliCallback`]).
pub const CLI_CALLBACK_PATH: &str = "/callback";

/// What the CLI asks the console for: approve a token for this machine, then send the
/// browser to `http://127.0.0.1:<port>/callback`. None of it is secret. Parameters a
/// newer CLI may add are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliLoginQuery {
    /// The CLI's loopback port (1024 to 65535). The host is always 127.0.0.1.
    pub port: u16,
    /// The CLI's anti-forgery value, echoed back unchanged.
    pub state: String,
    /// The S256 PKCE challenge of the CLI's verifier.
    pub challenge: String,
    /// The machine the CLI runs on; the token is named after it.
    pub machine: String,
}

/// The query of the console's redirect to the CLI: `code` and `state` when the person
/// approved, `error=access_denied` and `state` when they cancelled.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliCallback {
    /// The one-time `kw_cli_…` code to exchange (`POST /v1/auth/cli/token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `access_denied` (RFC 6749 §4.1.2.1) when the person cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `error` of a callback whose login the person cancelled.
pub const ACCESS_DENIED: &str = "access_denied";

impl std::fmt::Debug for CliCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliCallback")
            .field("code", &self.code.as_ref().map(|_| "kw_cli_[REDACTED]"))
            .field("state", &self.state)
            .field("error", &self.error)
            .finish()
    }
}

/// The longest machine name a CLI login takes, so that the token's name
/// (`keyward CLI on <machine>`) stays a valid name.
pub const CLI_MACHINE_MAX_CHARS: usize = 64;
