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
mod tests {
    use super::*;
    use keyward_core::{KeyHash, PlainKey};
    use keyward_store::NewKey;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    /// The calling key: a person's token with `permissions`, or an org key (no owner).
    fn caller(person: bool, permissions: &[&str]) -> KeyRecord {
        let kind = if person {
            KeyKind::Personal
        } else {
            KeyKind::Api
        };
        let plain = PlainKey::generate(kind, Environment::Live);
        let new = NewKey {
            owner: person.then(|| Owner::User {
                id: "usr_1".into(),
                name: "ada@company.com".into(),
            }),
            permissions: PermissionSet::parse_list(permissions).unwrap(),
            ..NewKey::for_plain(
                &plain,
                "org_1",
                "caller".to_owned(),
                now(),
                "ada".to_owned(),
            )
        };
        KeyRecord {
            id: new.id,
            org_id: new.org_id,
            org_name: "acme".into(),
            kind,
            environment: Environment::Live,
            name: new.name,
            prefix: new.prefix,
            hash: KeyHash::of(plain.expose_secret()),
            owner: new.owner,
            permissions: new.permissions,
            scope: Scope::Organization,
            metadata: None,
            created_at: now(),
            created_by: "ada".into(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_from: None,
            rotated_to: None,
            enabled: true,
            workspace_id: None,
            channel_id: None,
            ratelimit: None,
            quota: None,
            disabled_by: None,
            limits_by: None,
        }
    }

    /// Both steps, as the handler runs them with authorization between.
    fn plan(
        req: &CreateKeyRequest,
        caller: &KeyRecord,
        settings: &OrgSettings,
        channel: Option<&Channel>,
        now: DateTime<Utc>,
    ) -> Result<KeyPlan> {
        let shape = super::shape(req, caller, settings, channel)?;
        super::plan(shape, req, caller, settings, now)
    }

    fn req(body: serde_json::Value) -> CreateKeyRequest {
        serde_json::from_value(body).unwrap()
    }

    fn code(e: ApiError) -> String {
        format!("{e:?}")
    }

    const ALL: &[&str] = &["keys:read", "keys:write", "skills:execute"];

    #[test]
    fn a_person_gets_a_personal_token_with_their_own_permissions_by_default() {
        let p = plan(
            &req(json!({"name": "ci"})),
            &caller(true, ALL),
            &OrgSettings::default(),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(p.kind, KeyKind::Personal);
        assert_eq!(p.owner.as_ref().map(Owner::id), Some("usr_1"));
        assert_eq!(p.permissions.to_strings(), ALL);
        assert_eq!(
            (p.scope, p.expires_at, p.limits_from),
            (Scope::Organization, None, LimitsFrom::Nothing)
        );
        // An org key makes api keys, owned by a customer only if it says so.
        let p = plan(
            &req(json!({"name": "c", "owner": "cus_1"})),
            &caller(false, ALL),
            &OrgSettings::default(),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(p.kind, KeyKind::Api);
        assert_eq!(p.owner, Some(Owner::External { id: "cus_1".into() }));
        // A customer's key is authorized as belonging to nobody in the organization.
        let s = shape(
            &req(json!({"name": "c", "owner": "cus_1"})),
            &caller(false, ALL),
            &OrgSettings::default(),
            None,
        )
        .unwrap();
        assert_eq!(s.target_owner(), None);
    }

    #[test]
    fn a_key_cannot_grant_more_than_it_holds_nor_outlive_its_maker() {
        let mut c = caller(true, &["keys:read", "keys:write"]);
        let r = plan(
            &req(json!({"name": "x", "permissions": ["skills:execute"]})),
            &c,
            &OrgSettings::default(),
            None,
            now(),
        );
        assert!(code(r.unwrap_err()).contains("CannotGrant"));
        c.expires_at = Some(now() + chrono::Duration::days(7));
        let p = plan(
            &req(json!({"name": "x"})),
            &c,
            &OrgSettings::default(),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(
            p.expires_at, c.expires_at,
            "an unspecified expiry is capped"
        );
        let r = plan(
            &req(json!({"name": "x", "expires": "30d"})),
            &c,
            &OrgSettings::default(),
            None,
            now(),
        );
        assert!(code(r.unwrap_err()).contains("expires"));
        let p = plan(
            &req(json!({"name": "x", "expires": "2030-01-03T00:00:00Z"})),
            &c,
            &OrgSettings::default(),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(p.expires_at, Some(now() + chrono::Duration::days(2)));
    }

    #[test]
    fn kinds_take_only_their_own_fields() {
        let person = caller(true, ALL);
        let s = OrgSettings::default();
        #[rustfmt::skip]
        let refused = [
            (json!({"name": "x", "kind": "personal", "owner": "cus_1"}), "owner"),
            (json!({"name": "x", "workspace": "ws_1"}), "workspace"),
            (json!({"name": "x", "channel": "ch_1"}), "channel"),
            (json!({"name": "x", "kind": "worker"}), "workspace"),
            (json!({"name": "x", "kind": "worker", "workspace": "ws_1", "scope": {"type": "organization"}}), "scope"),
            (json!({"name": "x", "kind": "channel"}), "channel"),
            (json!({"name": "x", "kind": "service_account"}), "kind"),
            (json!({"name": "x", "environment": "test"}), "environment"),
            (json!({"name": "x", "kind": "legacy_workspace", "workspace": "ws_1"}), "LegacyTokensDisabled"),
            (json!({"name": "x", "kind": "channel", "channel": "ch_gone"}), "ChannelNotFound"),
        ];
        for (body, why) in refused {
            let e = plan(&req(body.clone()), &person, &s, None, now()).unwrap_err();
            assert!(code(e).contains(why), "{body}: not refused for {why}");
        }
        // Worker keys belong to a person: an org key cannot make one.
        let e = plan(
            &req(json!({"name": "x", "kind": "worker", "workspace": "ws_1"})),
            &caller(false, ALL),
            &s,
            None,
            now(),
        )
        .unwrap_err();
        assert!(code(e).contains("kind"));
        let p = plan(
            &req(json!({"name": "x", "kind": "worker", "workspace": "ws_1"})),
            &person,
            &s,
            None,
            now(),
        )
        .unwrap();
        assert_eq!(
            (p.workspace_id.as_deref(), p.owner.is_some()),
            (Some("ws_1"), true)
        );
        assert_eq!(
            p.scope,
            Scope::Workspaces {
                workspaces: vec!["ws_1".into()]
            }
        );
        let legacy = OrgSettings {
            allow_legacy_tokens: true,
            ..OrgSettings::default()
        };
        let p = plan(
            &req(json!({"name": "x", "kind": "legacy_workspace", "workspace": "ws_1"})),
            &person,
            &legacy,
            None,
            now(),
        )
        .unwrap();
        assert_eq!((p.kind, p.owner), (KeyKind::LegacyWorkspace, None));
    }

    #[test]
    fn a_channel_token_is_scoped_to_its_channels_agent() {
        let channel = Channel {
            id: "ch_1".into(),
            org_id: "org_1".into(),
            agent_id: "agt_1".into(),
            name: "wa".into(),
            hook_id: "hk_1".into(),
            enabled: true,
            created_at: now(),
            deleted: false,
        };
        let p = plan(
            &req(json!({"name": "x", "kind": "channel", "channel": "ch_1"})),
            &caller(true, ALL),
            &OrgSettings::default(),
            Some(&channel),
            now(),
        )
        .unwrap();
        assert_eq!(
            (p.scope, p.channel_id.as_deref(), p.owner),
            (
                Scope::Agent {
                    agent: "agt_1".into()
                },
                Some("ch_1"),
                None
            )
        );
    }

    #[test]
    fn limits_default_to_the_organizations_and_metadata_is_bounded() {
        let settings = OrgSettings {
            default_ratelimit: Some(
                serde_json::from_value(json!({"limit": 5, "period": "1m"})).unwrap(),
            ),
            ..OrgSettings::default()
        };
        let c = caller(true, ALL);
        let p = plan(&req(json!({"name": "x"})), &c, &settings, None, now()).unwrap();
        assert_eq!(
            (p.ratelimit.map(|r| r.limit), p.limits_from),
            (Some(5), LimitsFrom::OrganizationDefaults)
        );
        let p = plan(
            &req(json!({"name": "x", "ratelimit": {"limit": 9, "period": "1m"}})),
            &c,
            &settings,
            None,
            now(),
        )
        .unwrap();
        assert_eq!(
            (p.ratelimit.map(|r| r.limit), p.limits_from),
            (Some(9), LimitsFrom::Request)
        );
        let big = "x".repeat(MAX_METADATA_BYTES);
        let e = plan(
            &req(json!({"name": "x", "metadata": {"a": big}})),
            &c,
            &settings,
            None,
            now(),
        )
        .unwrap_err();
        assert!(code(e).contains("metadata"));
    }
}
