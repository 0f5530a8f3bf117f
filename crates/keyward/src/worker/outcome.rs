//! Why the daemon stops for good (each with its exit code and what to do), and which
//! failures are worth retrying: a close code or an API error in, a [`Stop`] or `None`
//! (retry) out.

use crate::cli::failure::{
    EXIT_AUTH, EXIT_ERROR, EXIT_NOT_A_WORKER_KEY, EXIT_WORKER_KEY_DISABLED,
    EXIT_WORKER_KEY_EXPIRED, EXIT_WORKER_KEY_REVOKED, EXIT_WORKER_LIMIT, EXIT_WORKER_NAME_IN_USE,
    EXIT_WORKER_REMOVED, EXIT_WORKER_REPLACED,
};
use keyward_client::api::{
    CLOSE_KEY_DISABLED, CLOSE_KEY_EXPIRED, CLOSE_KEY_REVOKED, CLOSE_REPLACED, CLOSE_WORKER_REMOVED,
};
use keyward_client::{ApiError, ErrorCode};

const NEW_KEY: &str =
    "create a new worker key, `keyward login --token <new key>`, and start the worker again";

/// A terminal outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    KeyRevoked,
    KeyExpired,
    KeyDisabled,
    NotAWorkerKey,
    Removed,
    NameInUse(String),
    Replaced,
    /// The key registered as many workers as it may, none of them offline.
    LimitReached(String),
    /// Another refusal of the key (unknown key, …): exit 3.
    Auth {
        code: String,
        detail: String,
    },
    /// A request Keyward will refuse again whatever the wait (exit 1).
    Refused {
        code: String,
        detail: String,
    },
}

impl Stop {
    pub fn exit_code(&self) -> u8 {
        match self {
            Stop::KeyRevoked => EXIT_WORKER_KEY_REVOKED,
            Stop::KeyExpired => EXIT_WORKER_KEY_EXPIRED,
            Stop::KeyDisabled => EXIT_WORKER_KEY_DISABLED,
            Stop::NotAWorkerKey => EXIT_NOT_A_WORKER_KEY,
            Stop::Removed => EXIT_WORKER_REMOVED,
            Stop::NameInUse(_) => EXIT_WORKER_NAME_IN_USE,
            Stop::Replaced => EXIT_WORKER_REPLACED,
            Stop::LimitReached(_) => EXIT_WORKER_LIMIT,
            Stop::Auth { .. } => EXIT_AUTH,
            Stop::Refused { .. } => EXIT_ERROR,
        }
    }

    /// The error code, as the server names it.
    pub fn code(&self) -> &str {
        match self {
            Stop::KeyRevoked => "token_revoked",
            Stop::KeyExpired => "token_expired",
            Stop::KeyDisabled => "token_disabled",
            Stop::NotAWorkerKey => "worker_key_required",
            Stop::Removed => "worker_removed",
            Stop::NameInUse(_) => "worker_name_in_use",
            Stop::Replaced => "worker_replaced",
            Stop::LimitReached(_) => "worker_limit_reached",
            Stop::Auth { code, .. } | Stop::Refused { code, .. } => code,
        }
    }

    /// What happened and what to do, in one line.
    pub fn message(&self) -> String {
        match self {
            Stop::KeyRevoked => format!("the worker key was revoked: {NEW_KEY}"),
            Stop::KeyExpired => format!("the worker key expired: {NEW_KEY}"),
            Stop::KeyDisabled => format!(
                "the worker key is disabled: someone who manages it can switch it back on (`keyward keys enable <id>`), or {NEW_KEY}"
            ),
            Stop::NotAWorkerKey => "this is not a worker key (kw_wk_…): create one in Settings → API Keys or with `keyward keys create --kind worker --workspace W`, then `keyward login --token <key>`".to_owned(),
            Stop::Removed => "this worker was removed from Settings → Workers; start it again to register anew".to_owned(),
            Stop::NameInUse(name) => format!(
                "a worker named {name:?} in this workspace is connected from another process; use --name to pick another name (if this machine just lost its network or crashed, Keyward lets the name go after two of its heartbeats: start it again then)"
            ),
            Stop::Replaced => "another connection of this worker took over (the same worker started again elsewhere); this one stops".to_owned(),
            Stop::LimitReached(detail) => format!(
                "Keyward has as many workers of this key (or workspace) as it allows, all running: {detail}; remove some with `keyward workers remove`, or use another worker key"
            ),
            Stop::Auth { detail, .. } => format!(
                "Keyward refused the key: {detail}; check it with `keyward auth status`, or {NEW_KEY}"
            ),
            Stop::Refused { detail, .. } => format!("Keyward refused to register the worker: {detail}"),
        }
    }

    /// The stop a close code asks for; `None` for the codes after which to reconnect
    /// (1012 service restart, 1011, 1001 going away, …).
    pub fn from_close(code: u16) -> Option<Stop> {
        Some(match code {
            CLOSE_KEY_REVOKED => Stop::KeyRevoked,
            CLOSE_KEY_EXPIRED => Stop::KeyExpired,
            CLOSE_KEY_DISABLED => Stop::KeyDisabled,
            CLOSE_WORKER_REMOVED => Stop::Removed,
            CLOSE_REPLACED => Stop::Replaced,
            _ => return None,
        })
    }

    /// The stop an API error (registration, or the WebSocket's handshake) asks for;
    /// `None` for what may pass (5xx, 429, a proxy's 404 during a deploy, …).
    pub fn from_api(api: &ApiError, name: &str) -> Option<Stop> {
        Some(match &api.code {
            ErrorCode::TokenRevoked => Stop::KeyRevoked,
            ErrorCode::TokenExpired => Stop::KeyExpired,
            ErrorCode::TokenDisabled => Stop::KeyDisabled,
            ErrorCode::WorkerKeyRequired => Stop::NotAWorkerKey,
            ErrorCode::WorkerNameInUse => Stop::NameInUse(name.to_owned()),
            ErrorCode::WorkerLimitReached => Stop::LimitReached(api.detail.clone()),
            // The worker was registered again with another key meanwhile: registering
            // again (the retry) makes it this key's.
            ErrorCode::WorkerNotYours => return None,
            code if api.is_auth() => Stop::Auth {
                code: code.as_str().to_owned(),
                detail: api.detail.clone(),
            },
            ErrorCode::ValidationFailed => Stop::Refused {
                code: api.code.as_str().to_owned(),
                detail: api.detail.clone(),
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> ApiError {
        let body = serde_json::json!({"code": code, "detail": "d", "status": status});
        ApiError::from_body(status, body.to_string().as_bytes())
    }

    #[test]
    fn each_terminal_outcome_has_its_exit_code() {
        let close = |c| Stop::from_close(c).map(|s| s.exit_code());
        assert_eq!(close(4001), Some(10));
        assert_eq!(close(4002), Some(11));
        assert_eq!(close(4003), Some(12));
        assert_eq!(close(4004), Some(14));
        assert_eq!(close(4005), Some(16));
        assert_eq!(close(1012), None);
        assert_eq!(close(1000), None);
        let reg = |c, s| Stop::from_api(&api(c, s), "n").map(|s| s.exit_code());
        assert_eq!(reg("token_revoked", 401), Some(10));
        assert_eq!(reg("token_expired", 401), Some(11));
        assert_eq!(reg("token_disabled", 401), Some(12));
        assert_eq!(reg("worker_key_required", 403), Some(13));
        assert_eq!(reg("worker_name_in_use", 409), Some(15));
        assert_eq!(reg("worker_limit_reached", 409), Some(17));
        assert_eq!(reg("worker_not_yours", 403), None);
        assert_eq!(reg("unknown_token", 401), Some(3));
        assert_eq!(reg("validation_failed", 422), Some(1));
        assert_eq!(reg("internal_error", 500), None);
        assert_eq!(reg("rate_limited", 429), None);
        assert!(Stop::KeyRevoked.message().contains("keyward login --token"));
        assert!(Stop::Removed.message().contains("Settings → Workers"));
    }
}
