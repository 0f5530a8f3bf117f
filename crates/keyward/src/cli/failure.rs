//! Errors as the CLI shows them: one line that says what is wrong, with the server's
//! code, and one line that says what to do. Exit codes are part of the interface:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | error (server, network, not found, conflict, invalid value) |
//! | 2 | usage: bad flags or arguments, a confirmation that could not be asked |
//! | 3 | not authenticated (no key, invalid, expired or revoked) or forbidden (401/403) |
//!
//! `keyward worker` alone (a daemon, so a supervisor can tell why it stopped):
//!
//! | code | meaning |
//! |------|---------|
//! | 10 | its key was revoked (`token_revoked`, close code 4001) |
//! | 11 | its key expired (`token_expired`, 4002) |
//! | 12 | its key is disabled (`token_disabled`, 4003) |
//! | 13 | the key is not a worker key (`kw_wk_`), checked offline or `worker_key_required` |
//! | 14 | a person removed the worker (Settings → Workers; close code 4004) |
//! | 15 | another machine runs a worker of this name (`worker_name_in_use`) |
//! | 16 | another connection of the same worker took over (close code 4005) |
//! | 130 | a second SIGINT or SIGTERM while it was draining |

use super::output::{self, Color, Style};
use super::resolved::Resolved;
use chrono::Utc;
use keyward_client::{ApiError, Error, ErrorCode};
use serde::Serialize;
use std::process::ExitCode;

/// What a command returns: done, or why not.
pub type CmdResult = Result<(), Failure>;

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
// `keyward worker` only.
pub const EXIT_WORKER_KEY_REVOKED: u8 = 10;
pub const EXIT_WORKER_KEY_EXPIRED: u8 = 11;
pub const EXIT_WORKER_KEY_DISABLED: u8 = 12;
pub const EXIT_NOT_A_WORKER_KEY: u8 = 13;
pub const EXIT_WORKER_REMOVED: u8 = 14;
pub const EXIT_WORKER_NAME_IN_USE: u8 = 15;
pub const EXIT_WORKER_REPLACED: u8 = 16;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Serialize)]
pub struct Failure {
    #[serde(skip)]
    pub exit: u8,
    /// The server's code, or the CLI's own (`not_logged_in`, `usage`, …).
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Already reported on stdout (e.g. a verification's answer): only the exit code.
    #[serde(skip)]
    pub quiet: bool,
}

impl Failure {
    pub fn new(exit: u8, code: &str, message: impl Into<String>) -> Self {
        Self {
            exit,
            code: code.to_owned(),
            message: message.into(),
            hint: None,
            status: None,
            quiet: false,
        }
    }

    /// Prints nothing: the command already said what happened.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(EXIT_USAGE, "usage", message)
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(EXIT_ERROR, "error", message)
    }

    pub fn not_logged_in(stored_problem: Option<&str>) -> Self {
        let message = match stored_problem {
            Some(p) => format!("not logged in: {p}"),
            None => "not logged in: no API key was given".to_owned(),
        };
        Self::new(EXIT_AUTH, "not_logged_in", message)
            .with_hint("run `keyward auth login`, or set KEYWARD_API_KEY, or pass --token <key>")
    }

    /// A client error, explained for the place the key came from.
    pub fn client(err: &Error, ctx: &Resolved) -> Self {
        match err {
            Error::Api(api) => Self::api(api, ctx),
            Error::Connect { url, message } => Self::new(
                EXIT_ERROR,
                "connection_failed",
                format!("cannot reach the Keyward server at {url}: {message}"),
            )
            .with_hint(format!(
                "is `keyward serve` running there? The server URL came from {}; change it with --server or KEYWARD_SERVER",
                ctx.server_source.describe()
            )),
            Error::InvalidUrl { url, message } => Self::new(
                EXIT_USAGE,
                "invalid_server_url",
                format!("the server URL {url:?} is not usable: {message}"),
            )
            .with_hint(format!(
                "it came from {}; use a URL like http://127.0.0.1:8080",
                ctx.server_source.describe()
            )),
            Error::InvalidKey(e) => Self::new(EXIT_AUTH, "malformed_token", e.to_string()),
            Error::Decode(message) => Self::new(
                EXIT_ERROR,
                "unexpected_response",
                format!("the server's answer was not understood: {message}"),
            )
            .with_hint(format!(
                "is {} a Keyward server of a compatible version?",
                ctx.server
            )),
        }
    }

    fn api(api: &ApiError, ctx: &Resolved) -> Self {
        let exit = if api.is_auth() { EXIT_AUTH } else { EXIT_ERROR };
        let source = ctx.source.describe();
        let replace = ctx.source.replace_hint();
        let (message, hint) = match &api.code {
            ErrorCode::TokenExpired => {
                let when = api
                    .timestamp()
                    .map(|t| output::both(t, Utc::now()))
                    .unwrap_or_else(|| "earlier".to_owned());
                (
                    format!("the API key from {source} expired {when}"),
                    Some(format!(
                        "expired keys cannot be renewed: create a new key (with `keyward keys create --token <a working key>` or in the console), then {replace}"
                    )),
                )
            }
            ErrorCode::TokenRevoked => (
                format!("the API key from {source} was revoked"),
                Some(format!("revocation is permanent: get a new key, then {replace}")),
            ),
            ErrorCode::TokenDisabled => (
                format!("the API key from {source} is disabled"),
                Some(format!(
                    "someone who manages it can switch it back on (`keyward keys enable <id>`), or {replace}"
                )),
            ),
            ErrorCode::UnknownToken => (
                format!("the API key from {source} is not known to {}", ctx.server),
                Some(format!(
                    "it was never issued by this server or has been deleted: {replace} (or check --server)"
                )),
            ),
            ErrorCode::BadChecksum | ErrorCode::MalformedToken => (
                format!("the API key from {source} is malformed: {}", api.detail),
                Some(format!("check that it was copied whole; {replace}")),
            ),
            ErrorCode::MissingToken => (
                api.detail.clone(),
                Some("run `keyward auth login`, or set KEYWARD_API_KEY".to_owned()),
            ),
            ErrorCode::Forbidden => {
                let needed = api.required_permission.as_deref().unwrap_or("another permission");
                (
                    format!("the API key from {source} lacks the permission {needed}"),
                    Some(format!(
                        "use a key that holds {needed} (--token, KEYWARD_API_KEY or `keyward auth login`), or ask an admin for one: `keyward keys create --name NAME --permission {needed}`"
                    )),
                )
            }
            ErrorCode::CannotGrant => (
                api.detail.clone(),
                Some("a key can only grant permissions it holds itself: drop those permissions, or use a key that holds them".to_owned()),
            ),
            ErrorCode::ValidationFailed => {
                let flag = api.field.as_deref().map(flag_for_field);
                (
                    match &flag {
                        Some(flag) => format!("{flag}: {}", strip_field(&api.detail)),
                        None => api.detail.clone(),
                    },
                    None,
                )
            }
            ErrorCode::NotFound => (
                api.detail.clone(),
                Some("`keyward keys list` shows the keys of your organization and their ids".to_owned()),
            ),
            ErrorCode::KeyRevoked => (
                api.detail.clone(),
                Some("a revoked key cannot be changed or rotated; create a new one".to_owned()),
            ),
            ErrorCode::KeyAlreadyRotated => (
                api.detail.clone(),
                Some("rotate its replacement instead (see `keyward keys show`, field \"Rotated to\")".to_owned()),
            ),
            ErrorCode::KeyLimitReached => (
                api.detail.clone(),
                Some("revoke keys you no longer need (`keyward keys list --active`, then `keyward keys revoke`), or ask an owner to raise the limit".to_owned()),
            ),
            ErrorCode::ResourceInUse => (
                api.detail.clone(),
                Some("revoke the keys and delete the channels that use it first".to_owned()),
            ),
            ErrorCode::KeyKindNotAllowed => (
                api.detail.clone(),
                Some("this key's kind may not do that: use a personal access token or a service-account key".to_owned()),
            ),
            ErrorCode::RateLimited => {
                let wait = api
                    .retry_after
                    .map(|s| format!("retry in {s} second{}", if s == 1 { "" } else { "s" }))
                    .unwrap_or_else(|| "retry in a moment".to_owned());
                (
                    format!("the API key from {source} is rate limited: {}", api.detail),
                    Some(format!(
                        "{wait}; or use a key without this rate limit (see `keyward keys show`, field \"Rate limit\")"
                    )),
                )
            }
            ErrorCode::TokenWithdrawn => (
                api.detail.clone(),
                Some(format!(
                    "the key from {source} was revoked or switched off, or its owner was removed, while the command ran: {replace}"
                )),
            ),
            ErrorCode::RoleForbidden => (
                api.detail.clone(),
                Some("owners and org admins act only on people ranked below them (only owners on owners and org admins); ask an owner".to_owned()),
            ),
            ErrorCode::AlreadyMember => (
                api.detail.clone(),
                Some("`keyward members list` shows them; change their role with `keyward members update`".to_owned()),
            ),
            ErrorCode::InvitationUsed => (
                "this invitation's code was already redeemed: a code works once".to_owned(),
                Some("if you redeemed it, use the token it gave you; if not, tell whoever invited you (someone else may have used it) and ask for a new invitation".to_owned()),
            ),
            ErrorCode::InvitationExpired => (
                "this invitation expired or was revoked".to_owned(),
                Some("ask whoever invited you for a new invitation (`keyward members invite`)".to_owned()),
            ),
            ErrorCode::IdentityRequired => (
                api.detail.clone(),
                Some("log in with one of your own personal access tokens (`keyward auth login`), then run `keyward auth accept-invite` again".to_owned()),
            ),
            ErrorCode::LoginCodeUsed | ErrorCode::LoginCodeExpired => (
                api.detail.clone(),
                Some("run `keyward auth login --web` again and approve the new request in the console".to_owned()),
            ),
            ErrorCode::LoginVerifierMismatch => (
                "the server refused the sign-in: this CLI's proof does not match the approved request".to_owned(),
                Some("run `keyward auth login --web` again; approve only a request you started yourself".to_owned()),
            ),
            ErrorCode::IntegrationNotFound => (
                api.detail.clone(),
                Some("`keyward integrations list` shows the integrations this server is configured for (keyward.yaml, `integrations:`)".to_owned()),
            ),
            ErrorCode::ConnectionNotFound => (
                api.detail.clone(),
                Some("`keyward connections list` shows the connections your key reaches; make one with `keyward connect PROVIDER --id ID`".to_owned()),
            ),
            ErrorCode::ConnectionNeedsReauth => (
                api.detail.clone(),
                Some("the provider no longer accepts its refresh token: connect it again with `keyward connect PROVIDER --id ID`".to_owned()),
            ),
            ErrorCode::ConnectionNotActive => (
                api.detail.clone(),
                Some("`keyward connections show ID` says where it stands and what to do".to_owned()),
            ),
            ErrorCode::ConnectionRefreshFailing | ErrorCode::ProviderUnavailable => (
                api.detail.clone(),
                Some("the provider is unavailable for now; Keyward keeps retrying the refresh: try again in a moment".to_owned()),
            ),
            ErrorCode::ProviderError => (
                api.detail.clone(),
                Some("the provider refused Keyward's request; check the integration's client id and secret in keyward.yaml (the server's log has the details)".to_owned()),
            ),
            ErrorCode::AuthorizationDenied => (
                api.detail.clone(),
                Some("nothing was stored; run `keyward connect` again and allow the access asked for".to_owned()),
            ),
            ErrorCode::WebhookEndpointNotFound => (
                api.detail.clone(),
                Some("`keyward webhooks list` shows the webhook endpoints your key reaches and their ids".to_owned()),
            ),
            ErrorCode::WebhookEndpointManaged => (
                api.detail.clone(),
                Some("this endpoint comes from keyward.yaml on the server: change it there (`keyward webhooks deliveries` still lists what it received)".to_owned()),
            ),
            ErrorCode::DeliveryNotFound => (
                api.detail.clone(),
                Some("`keyward webhooks deliveries ENDPOINT_ID` lists the endpoint's deliveries and their ids".to_owned()),
            ),
            ErrorCode::DeliveryPending => (
                api.detail.clone(),
                Some("it is still being delivered: `keyward webhooks delivery ENDPOINT_ID DELIVERY_ID` shows its next attempt; replay it once it has failed".to_owned()),
            ),
            ErrorCode::WorkerNotFound => (
                api.detail.clone(),
                Some("`keyward workers list` shows the workers your key reaches and their ids".to_owned()),
            ),
            ErrorCode::InternalError => (
                "the server had an internal error".to_owned(),
                Some("try again; if it persists, the server's log has the details".to_owned()),
            ),
            _ => (api.detail.clone(), None),
        };
        Self {
            exit,
            code: api.code.as_str().to_owned(),
            message,
            hint,
            status: Some(api.status),
            quiet: false,
        }
    }

    pub fn print(&self, json: bool) {
        if self.quiet {
            return;
        }
        if json {
            let body = serde_json::json!({ "error": self });
            eprintln!("{body}");
            return;
        }
        let style = Style::stderr();
        eprintln!(
            "{} {} {}",
            style.paint(Color::Red, "error:"),
            self.message,
            style.paint(Color::Dim, &format!("[{}]", self.code))
        );
        if let Some(hint) = &self.hint {
            eprintln!("{} {hint}", style.paint(Color::Cyan, "hint:"));
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::error(format!("{e:#}"))
    }
}

/// The CLI flag for an API request field.
fn flag_for_field(field: &str) -> String {
    match field {
        "name" | "expires" | "kind" | "environment" | "owner" | "metadata" | "grace" => {
            format!("--{field}")
        }
        "permissions" => "--permission".to_owned(),
        "limit" => "--limit".to_owned(),
        "ratelimit" | "ratelimit.period" | "ratelimit.limit" => "--ratelimit".to_owned(),
        "quota" | "quota.limit" | "quota.refill" => "--quota".to_owned(),
        "from" => "--from".to_owned(),
        "to" => "--to".to_owned(),
        "granularity" => "--granularity".to_owned(),
        "cost" => "--cost".to_owned(),
        "permission" => "--permission".to_owned(),
        "cursor" => "--cursor".to_owned(),
        "workspace" | "destination" | "provider" | "status" | "since" => format!("--{field}"),
        "verify_token" => "--verify-token".to_owned(),
        "overlap_secs" => "--overlap".to_owned(),
        s if s == "secrets" || s.starts_with("secrets[") || s.starts_with("secrets.") => {
            "--secret".to_owned()
        }
        other => other.to_owned(),
    }
}

/// The server's detail starts with `field: `; the CLI names the flag instead.
fn strip_field(detail: &str) -> &str {
    detail
        .split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(detail)
}

#[cfg(test)]
mod tests {
    use super::super::resolved::Source;
    use super::*;
    use keyward_client::ApiKey;

    fn resolved(source: Source) -> Resolved {
        Resolved {
            key: ApiKey::new("kw_pat_x"),
            source,
            server: "http://127.0.0.1:1/".into(),
            server_source: Source::Default,
            org: None,
        }
    }

    fn api(code: &str, status: u16, detail: &str) -> Error {
        let body = serde_json::json!({"code": code, "detail": detail, "status": status,
            "field": "expires", "required_permission": "keys:write"});
        Error::Api(Box::new(ApiError::from_body(
            status,
            body.to_string().as_bytes(),
        )))
    }

    #[test]
    fn auth_errors_exit_3_with_hints_that_fit_the_source() {
        let env = resolved(Source::Env {
            var: "KEYWARD_API_KEY",
        });
        let f = Failure::client(
            &api(
                "token_expired",
                401,
                "the API key expired at 2020-01-01T00:00:00Z; create a new key",
            ),
            &env,
        );
        assert_eq!(f.exit, EXIT_AUTH);
        assert!(
            f.message.contains("2020-01-01 00:00 UTC") && f.message.contains("years ago"),
            "{}",
            f.message
        );
        assert!(f.hint.as_deref().unwrap().contains("KEYWARD_API_KEY"));
        let f = Failure::client(&api("forbidden", 403, "no"), &env);
        assert_eq!(f.exit, EXIT_AUTH);
        assert!(f.message.contains("keys:write"));
        let f = Failure::client(
            &api("validation_failed", 422, "expires: must be in the future"),
            &env,
        );
        assert_eq!(f.exit, EXIT_ERROR);
        assert_eq!(f.message, "--expires: must be in the future");
        let stored = resolved(Source::StoredLogin { path: "/x".into() });
        let f = Failure::client(&api("token_revoked", 401, "revoked"), &stored);
        assert!(f.hint.unwrap().contains("keyward auth login"));
        let f = Failure::client(&api("invitation_used", 409, "used"), &stored);
        assert_eq!(f.exit, EXIT_ERROR);
        assert!(f.message.contains("already redeemed"), "{}", f.message);
        let f = Failure::client(&api("identity_required", 403, "x"), &stored);
        assert_eq!(f.exit, EXIT_AUTH);
    }

    /// Every code the server can send has a name in the SDK, so none reaches the CLI
    /// as an unknown code without its hint.
    #[test]
    fn the_sdk_knows_every_code_of_the_server() {
        for (code, status, _) in keyward_server::errors::CODES {
            let parsed = ErrorCode::parse(code);
            assert!(
                !matches!(parsed, ErrorCode::Other(_)),
                "{code} ({status}) is missing from keyward-client's ErrorCode"
            );
        }
    }
}
