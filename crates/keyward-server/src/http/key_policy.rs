//! What a new key may be: the rules of `POST /v1/keys` as pure functions of the
//! request, the calling key, its organization's settings, the channel the request names
//! and the time. No store, no HTTP. Two steps, so that a caller is told it may not
//! create such a key before anything else about its request: [`shape`] decides what
//! kind of key it is, whose, and where it reaches (all that authorization needs); the
//! handler checks that the scope's workspaces or agent exist and authorizes that shape
//! (`authz`); then [`plan`] checks and completes the rest (environment, permissions,
//! limits, metadata, expiry). The store re-checks everything in the writing transaction.

use crate::errors::{ApiError, Result};
use chrono::{DateTime, Utc};
use keyward_api::{CreateKeyRequest, PermissionsInput};
use keyward_core::expiry::Expiry;
use keyward_core::key::Environment;
use keyward_core::{KeyKind, Owner, PermissionSet, Quota, RateLimit, Scope};
use keyward_store::{Channel, KeyRecord, OrgSettings};

/// The most JSON metadata a key carries (verify returns it).
pub const MAX_METADATA_BYTES: usize = 4096;

/// The permissions a request names, checked.
pub(crate) trait ParsePermissions {
    fn parse(&self) -> Result<PermissionSet>;
}

impl ParsePermissions for PermissionsInput {
    fn parse(&self) -> Result<PermissionSet> {
        match self {
            PermissionsInput::Preset(name) => PermissionSet::preset(name).ok_or_else(|| {
                ApiError::validation(
                    "permissions",
                    format!("unknown preset {name:?}: use all, read_only or a list of grants"),
                )
            }),
            PermissionsInput::Grants(list) => {
                PermissionSet::parse_list(list).map_err(|e| ApiError::validation("permissions", e))
            }
            PermissionsInput::Restricted(r) => PermissionSet::restricted(
                r.restricted.iter().map(|(k, v)| (k.as_str(), *v)),
                &r.actions,
            )
            .map_err(|e| ApiError::validation("permissions", e)),
        }
    }
}

/// The key a valid request asks for, before the store gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPlan {
    pub kind: KeyKind,
    pub environment: Environment,
    pub owner: Option<Owner>,
    pub scope: Scope,
    /// The workspace a worker or legacy key is bound to.
    pub workspace_id: Option<String>,
    /// The channel a channel token belongs to.
    pub channel_id: Option<String>,
    pub permissions: PermissionSet,
    pub ratelimit: Option<RateLimit>,
    pub quota: Option<Quota>,
    pub limits_from: LimitsFrom,
    pub metadata: Option<serde_json::Value>,
    pub expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
}

/// Where the new key's rate limit and quota come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsFrom {
    /// Neither is set.
    Nothing,
    /// The request set at least one.
    Request,
    /// The organization's defaults.
    OrganizationDefaults,
}

/// What kind of key a request asks for, whose, and where it reaches: what the caller
/// is authorized against.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyShape {
    pub kind: KeyKind,
    pub owner: Option<Owner>,
    pub scope: Scope,
    /// The workspace a worker or legacy key is bound to.
    pub workspace_id: Option<String>,
    /// The channel a channel token belongs to.
    pub channel_id: Option<String>,
}

impl KeyShape {
    /// The person (or service account) the key is authorized against: `None` for a
    /// customer's api key, which belongs to nobody in the organization.
    pub fn target_owner(&self) -> Option<&Owner> {
        match self.kind {
            KeyKind::Api => None,
            _ => self.owner.as_ref(),
        }
    }
}

/// The kind of key `req` asks `caller` to create (the default: a person's own token for
/// a person, an api key otherwise), whose it is and its scope, or why no such key can be
/// made. `channel` is the channel `req.channel` names, if it exists in the caller's
/// organization (read only for channel tokens).
pub fn shape(
    req: &CreateKeyRequest,
    caller: &KeyRecord,
    settings: &OrgSettings,
    channel: Option<&Channel>,
) -> Result<KeyShape> {
    let caller_user = match &caller.owner {
        Some(o @ Owner::User { .. }) if caller.kind == KeyKind::Personal => Some(o),
        _ => None,
    };
    let kind = req.kind.unwrap_or(if caller_user.is_some() {
        KeyKind::Personal
    } else {
        KeyKind::Api
    });
    if req.owner.is_some() && kind != KeyKind::Api {
        return Err(ApiError::validation(
            "owner",
            "only api keys take an owner; other keys belong to their creator",
        ));
    }
    if req.workspace.is_some() && !matches!(kind, KeyKind::Worker | KeyKind::LegacyWorkspace) {
        return Err(ApiError::validation(
            "workspace",
            "only worker and legacy_workspace keys are bound to a workspace; use scope",
        ));
    }
    if req.channel.is_some() && kind != KeyKind::Channel {
        return Err(ApiError::validation(
            "channel",
            "only channel tokens belong to a channel",
        ));
    }
    let (owner, scope, workspace_id, channel_id) = match kind {
        KeyKind::Personal => {
            let person = caller_user.ok_or_else(|| {
                ApiError::validation(
                    "kind",
                    "only a person's own token can create personal tokens",
                )
            })?;
            (Some(person.clone()), requested_scope(req), None, None)
        }
        KeyKind::Api => (
            req.owner
                .as_ref()
                .map(|id| Owner::External { id: id.to_string() }),
            requested_scope(req),
            None,
            None,
        ),
        KeyKind::Worker | KeyKind::LegacyWorkspace => {
            let ws = req
                .workspace
                .clone()
                .ok_or_else(|| ApiError::validation("workspace", "is required for this kind"))?;
            if req.scope.is_some() {
                return Err(ApiError::validation(
                    "scope",
                    "worker and legacy keys are scoped to their workspace; omit scope",
                ));
            }
            let owner = if kind == KeyKind::Worker {
                Some(
                    caller_user
                        .ok_or_else(|| {
                            ApiError::validation(
                                "kind",
                                "worker keys belong to a person; use a personal token",
                            )
                        })?
                        .clone(),
                )
            } else if !settings.allow_legacy_tokens {
                return Err(ApiError::LegacyTokensDisabled);
            } else {
                None
            };
            let scope = Scope::Workspaces {
                workspaces: vec![ws.clone()],
            };
            (owner, scope, Some(ws), None)
        }
        KeyKind::Channel => {
            if req.channel.is_none() {
                return Err(ApiError::validation(
                    "channel",
                    "is required for channel tokens",
                ));
            }
            let channel = channel.ok_or(ApiError::ChannelNotFound)?;
            if req.scope.is_some() {
                return Err(ApiError::validation(
                    "scope",
                    "channel tokens are scoped to their channel's agent; omit scope",
                ));
            }
            let scope = Scope::Agent {
                agent: channel.agent_id.clone(),
            };
            (None, scope, None, Some(channel.id.clone()))
        }
        KeyKind::ServiceAccount => {
            return Err(ApiError::validation(
                "kind",
                "create service-account keys with POST /v1/service-accounts/{id}/keys",
            ))
        }
    };
    Ok(KeyShape {
        kind,
        owner,
        scope,
        workspace_id,
        channel_id,
    })
}

/// The key of `shape` that `req` asks `caller` to create (authorized), completed from
/// the organization's defaults, or why it may not be created.
pub fn plan(
    shape: KeyShape,
    req: &CreateKeyRequest,
    caller: &KeyRecord,
    settings: &OrgSettings,
    now: DateTime<Utc>,
) -> Result<KeyPlan> {
    let KeyShape {
        kind,
        owner,
        scope,
        workspace_id,
        channel_id,
    } = shape;
    let environment = match (kind, req.environment) {
        (KeyKind::Api, env) => env.unwrap_or_default(),
        (_, None | Some(Environment::Live)) => Environment::Live,
        (_, Some(Environment::Test)) => {
            return Err(ApiError::validation(
                "environment",
                "only api keys have a test environment",
            ))
        }
    };
    let permissions = match &req.permissions {
        Some(p) => p.parse()?,
        None => caller.permissions.clone(),
    };
    if !caller.permissions.covers(&permissions) {
        return Err(ApiError::CannotGrant(
            caller.permissions.missing_from(&permissions),
        ));
    }
    let ratelimit = req.ratelimit.or(settings.default_ratelimit);
    let quota = req.quota.or(settings.default_quota);
    check_limits(ratelimit.as_ref(), quota.as_ref())?;
    let limits_from = if req.ratelimit.is_some() || req.quota.is_some() {
        LimitsFrom::Request
    } else if ratelimit.is_some() || quota.is_some() {
        LimitsFrom::OrganizationDefaults
    } else {
        LimitsFrom::Nothing
    };
    let metadata = req.metadata.clone().map(serde_json::Value::Object);
    if metadata
        .as_ref()
        .is_some_and(|m| m.to_string().len() > MAX_METADATA_BYTES)
    {
        return Err(ApiError::validation(
            "metadata",
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    let expires_at = Expiry::parse(req.expires.as_deref().unwrap_or("never"))
        .and_then(|e| e.resolve(now))
        .map_err(|e| ApiError::validation("expires", e))?;
    let expires_at = bounded_expiry(caller.expires_at, expires_at, req.expires.is_some())?;
    Ok(KeyPlan {
        kind,
        environment,
        owner,
        scope,
        workspace_id,
        channel_id,
        permissions,
        ratelimit,
        quota,
        limits_from,
        metadata,
        expires_at,
        enabled: req.enabled.unwrap_or(true),
    })
}

fn requested_scope(req: &CreateKeyRequest) -> Scope {
    req.scope.clone().unwrap_or_default()
}

/// A key never outlives the key that makes it (whose holder receives its secret):
/// `limit` is the making key's expiry. An explicit expiry must end no later; without
/// one the new key inherits the limit. A leaked short-lived key cannot mint a lasting one.
pub fn bounded_expiry(
    limit: Option<DateTime<Utc>>,
    requested: Option<DateTime<Utc>>,
    explicit: bool,
) -> Result<Option<DateTime<Utc>>> {
    let Some(limit) = limit else {
        return Ok(requested);
    };
    match requested {
        Some(at) if at <= limit => Ok(Some(at)),
        _ if !explicit => Ok(Some(limit)),
        _ => Err(ApiError::validation(
            "expires",
            format!(
                "must be no later than {}, when the key making it expires: a key never outlives the key that made it",
                limit.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
    }
}

pub fn check_limits(ratelimit: Option<&RateLimit>, quota: Option<&Quota>) -> Result<()> {
    if let Some(r) = ratelimit {
        r.validate()
            .map_err(|e| ApiError::validation("ratelimit", e))?;
    }
    if let Some(q) = quota {
        q.validate().map_err(|e| ApiError::validation("quota", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
