//! `POST /v1/keys/verify`: the question other services ask, answered with 200 and a
//! `code` whatever the key's state.

use chrono::{DateTime, Utc};
use keyward_core::{Owner, Scope};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

// `Debug` is written by hand: the key is a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest<'a> {
    /// The key to check, as presented to your service.
    // Borrowed when the SDK sends it, so the secret is not copied.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: Cow<'a, str>,
    /// A permission the key must hold, e.g. `keys:read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// A workspace id the key's scope must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// An agent id the key's scope must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A channel's hook id: the channel must exist and be enabled, and the key must be
    /// its channel token or reach its agent. Also accepted as `hookId`, or in the
    /// `X-Hook-Id` header; several that differ are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The same as `channel` (the name the channel endpoints use).
    #[serde(rename = "hookId", default, skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<String>,
    /// Quota credits this verification spends (default 1; 0 checks without spending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<i64>,
}

impl std::fmt::Debug for VerifyRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &crate::ApiKey::new(&*self.key))
            .field("permission", &self.permission)
            .field("workspace", &self.workspace)
            .field("agent", &self.agent)
            .field("channel", &self.channel)
            .field("hook_id", &self.hook_id)
            .field("cost", &self.cost)
            .finish()
    }
}

// What a verification answered. The answer's `code` is a string so that an SDK reads
// codes a newer server added; `VerifyCode::parse` names the known ones.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    Malformed,
    NotFound,
    Revoked,
    Expired,
    Disabled,
    Forbidden,
    ChannelNotFound,
    InsufficientPermissions,
    RateLimited,
    QuotaExceeded,
}

impl VerifyCode {
    pub const ALL: [VerifyCode; 11] = [
        VerifyCode::Valid,
        VerifyCode::Malformed,
        VerifyCode::NotFound,
        VerifyCode::Revoked,
        VerifyCode::Expired,
        VerifyCode::Disabled,
        VerifyCode::Forbidden,
        VerifyCode::ChannelNotFound,
        VerifyCode::InsufficientPermissions,
        VerifyCode::RateLimited,
        VerifyCode::QuotaExceeded,
    ];

    /// `VALID`, `NOT_FOUND`, … as the answer's `code` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "VALID",
            VerifyCode::Malformed => "MALFORMED",
            VerifyCode::NotFound => "NOT_FOUND",
            VerifyCode::Revoked => "REVOKED",
            VerifyCode::Expired => "EXPIRED",
            VerifyCode::Disabled => "DISABLED",
            VerifyCode::Forbidden => "FORBIDDEN",
            VerifyCode::ChannelNotFound => "CHANNEL_NOT_FOUND",
            VerifyCode::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            VerifyCode::RateLimited => "RATE_LIMITED",
            VerifyCode::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    /// The known code `code` spells, if it is one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

/// The state of one rate limit after a request was counted against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// When the allowance is full again (unix milliseconds).
    pub reset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaInfo {
    pub limit: i64,
    pub remaining: i64,
}

/// The answer to a verification: `code` says what happened; the key's details are set
/// when the key exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    pub valid: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = VerifyCode))]
    pub code: String,
    /// Why the key is not valid, for people.
    pub message: Option<String>,
    pub key_id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<Owner>,
    pub org: Option<OrgRef>,
    pub scope: Option<Scope>,
    pub permissions: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// The key's (or its owner's) rate limit after this request, if it has one.
    // Absent from servers older than limits.
    #[serde(default)]
    pub ratelimit: Option<RateInfo>,
    /// The key's quota after this request, if it has one.
    #[serde(default)]
    pub quota: Option<QuotaInfo>,
}

impl VerifyResponse {
    /// The answer's code, if this build knows it.
    pub fn verify_code(&self) -> Option<VerifyCode> {
        VerifyCode::parse(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_codes_are_spelled_as_serde_spells_them() {
        for code in VerifyCode::ALL {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
            assert_eq!(VerifyCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(VerifyCode::parse("SOMETHING_NEW"), None);
    }
}
