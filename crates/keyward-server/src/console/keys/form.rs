//! The form a key is made or edited with, as it arrives and as it is shown again.
//!
//! The form only gathers what the person chose; it becomes the API's own request by
//! way of JSON and `extract::parse_json` (so names, expiries, scopes and limits are
//! checked by the same decoding as `POST /v1/keys`, with the same messages), and the
//! page calls the API's handler with it. Nothing here decides what is allowed.

use super::super::failure::Failure;
use crate::errors::ApiError;
use axum::http::StatusCode;
use keyward_api::{CreateKeyRequest, KeyView, UpdateKeyRequest};
use keyward_core::permission::{NAMED_ACTIONS, RESOURCES};
use keyward_core::{KeyKind, Scope};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Everything a key form may send (`axum_extra::extract::Form`: repeated fields become
/// lists). Kept as typed, so that a form sent back with a problem shows it again.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    pub name: String,
    pub kind: Option<String>,
    /// `never`, a preset (`30d`), or `custom` with `expires_on`.
    pub expires: Option<String>,
    pub expires_on: Option<String>,
    /// `all`, `read_only` or `restricted`.
    pub permissions: Option<String>,
    /// Restricted: `resource:read` / `resource:write` per resource (empty for none), and
    /// the named actions ticked.
    #[serde(default)]
    pub grant: Vec<String>,
    /// Restricted: further grants, comma-separated.
    pub other_grants: Option<String>,
    /// `organization`, `workspaces` or `agent`.
    pub scope: Option<String>,
    #[serde(default)]
    pub workspaces: Vec<String>,
    pub agent: Option<String>,
    /// The workspace of a worker or legacy key.
    pub workspace: Option<String>,
    pub channel: Option<String>,
    pub environment: Option<String>,
    /// An api key's customer id.
    pub customer: Option<String>,
    pub rate_limit: Option<String>,
    pub rate_period: Option<String>,
    pub quota_limit: Option<String>,
    pub quota_refill: Option<String>,
    /// Rotation: how long the old key keeps working.
    pub grace: Option<String>,
    pub back: Option<String>,
}

/// A form value that was filled in (trimmed), if any.
pub fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Which part of a form a problem belongs to, so its message stands next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Top,
    Name,
    Kind,
    Expires,
    Permissions,
    Scope,
    Workspace,
    Channel,
    Customer,
    Environment,
    RateLimit,
    Quota,
    Grace,
}

impl Part {
    /// The part of the form an API field is in (`ratelimit.period` → rate limit).
    pub fn of(field: &str) -> Part {
        let head = field.trim_start_matches('.');
        let head = head.split(['.', '[']).next().unwrap_or(head);
        match head {
            "name" => Part::Name,
            "kind" => Part::Kind,
            "expires" => Part::Expires,
            "permissions" | "scopes" => Part::Permissions,
            "scope" => Part::Scope,
            "workspace" => Part::Workspace,
            "channel" => Part::Channel,
            "owner" => Part::Customer,
            "environment" => Part::Environment,
            "ratelimit" => Part::RateLimit,
            "quota" => Part::Quota,
            "grace" => Part::Grace,
            _ => Part::Top,
        }
    }
}

/// What is wrong with a form as sent: shown next to its part, answered with `status`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub part: Part,
    pub message: String,
    pub status: StatusCode,
}

impl Problem {
    pub fn at(&self, part: Part) -> Option<&str> {
        (self.part == part).then_some(self.message.as_str())
    }
}

/// An error of the API as a problem with the form (the form is shown again), or a
/// failure of the request (the error page): not allowed, not found, and the like.
pub fn problem(e: ApiError) -> Result<Problem, Failure> {
    let status =
        StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let part = match &e {
        ApiError::Validation { field, .. } => Part::of(field),
        ApiError::ChannelNotFound => Part::Channel,
        ApiError::LegacyTokensDisabled => Part::Kind,
        ApiError::LimitReached { .. } | ApiError::InvalidJson(_) | ApiError::BadRequest(_) => {
            Part::Top
        }
        _ => return Err(Failure(e)),
    };
    let message = match &e {
        ApiError::Validation { message, .. } => capitalized(message),
        other => capitalized(&other.to_string()),
    };
    Ok(Problem {
        part,
        message,
        status,
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::validation(field, message)
}

/// The permission choice as a preset or a restricted set, read back from a key's grants.
pub struct Grants {
    pub preset: &'static str,
    pub grants: Vec<String>,
    pub others: Vec<String>,
}

impl Grants {
    /// `*:*` is All, `*:read` Read only; anything else is Restricted, split into what the
    /// picker shows (a level per resource, the named actions) and the other grants.
    pub fn of(list: &[String]) -> Grants {
        match list {
            [one] if one == "*:*" => {
                return Grants {
                    preset: "all",
                    grants: vec![],
                    others: vec![],
                }
            }
            [one] if one == "*:read" => {
                return Grants {
                    preset: "read_only",
                    grants: vec![],
                    others: vec![],
                }
            }
            _ => {}
        }
        let shown = |g: &String| {
            NAMED_ACTIONS.iter().any(|(n, _)| n == g)
                || g.split_once(':').is_some_and(|(r, a)| {
                    RESOURCES.iter().any(|(res, _)| *res == r) && (a == "read" || a == "write")
                })
        };
        let (grants, others) = list.iter().cloned().partition(shown);
        Grants {
            preset: "restricted",
            grants,
            others,
        }
    }
}

impl KeyForm {
    /// The form filled with a key's settings, for editing it.
    pub fn of_key(k: &KeyView) -> KeyForm {
        let grants = Grants::of(&k.permissions);
        let (scope, workspaces, agent) = match &k.scope {
            Scope::Organization => ("organization", vec![], None),
            Scope::Workspaces { workspaces } => ("workspaces", workspaces.clone(), None),
            Scope::Agent { agent } => ("agent", vec![], Some(agent.clone())),
        };
        KeyForm {
            name: k.name.clone(),
            permissions: Some(grants.preset.into()),
            grant: grants.grants,
            other_grants: (!grants.others.is_empty()).then(|| grants.others.join(", ")),
            scope: Some(scope.into()),
            workspaces,
            agent,
            rate_limit: k.ratelimit.map(|r| r.limit.to_string()),
            rate_period: k.ratelimit.map(|r| r.period_text()),
            quota_limit: k.quota.map(|q| q.limit.to_string()),
            quota_refill: k.quota.and_then(|q| q.refill).map(|r| {
                match r {
                    keyward_core::Refill::Daily => "daily",
                    keyward_core::Refill::Monthly => "monthly",
                }
                .to_owned()
            }),
            ..KeyForm::default()
        }
    }

    /// The kind chosen, or the only one offered.
    pub fn kind_or(&self, only: KeyKind) -> KeyKind {
        filled(&self.kind)
            .and_then(|k| serde_json::from_value(Value::String(k.to_owned())).ok())
            .unwrap_or(only)
    }

    /// The permissions as the API takes them.
    pub fn permissions_json(&self) -> Value {
        match filled(&self.permissions) {
            Some("read_only") => json!("read_only"),
            Some("restricted") => {
                let mut levels = Map::new();
                let mut actions = vec![];
                for g in self
                    .grant
                    .iter()
                    .map(|g| g.trim())
                    .filter(|g| !g.is_empty())
                {
                    match g.split_once(':') {
                        Some((r, a @ ("read" | "write")))
                            if RESOURCES.iter().any(|(res, _)| *res == r) =>
                        {
                            levels.insert(r.to_owned(), json!(a));
                        }
                        _ => actions.push(json!(g)),
                    }
                }
                for g in filled(&self.other_grants)
                    .unwrap_or_default()
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                {
                    actions.push(json!(g));
                }
                json!({ "restricted": levels, "actions": actions })
            }
            _ => json!("all"),
        }
    }

    /// The permissions as a list of grants (a service account's scopes).
    pub fn scopes_json(&self) -> Value {
        match self.permissions_json() {
            Value::String(p) if p == "read_only" => json!(["*:read"]),
            Value::String(_) => json!(["*:*"]),
            restricted => {
                let mut list: Vec<Value> = vec![];
                if let Some(levels) = restricted["restricted"].as_object() {
                    for (r, a) in levels {
                        list.push(json!(format!("{r}:{}", a.as_str().unwrap_or("read"))));
                    }
                }
                if let Some(actions) = restricted["actions"].as_array() {
                    list.extend(actions.iter().cloned());
                }
                Value::Array(list)
            }
        }
    }

    /// The expiry as the API takes it, if one was chosen.
    pub fn expires_json(&self) -> Result<Option<Value>, ApiError> {
        Ok(match filled(&self.expires) {
            None | Some("never") => None,
            Some("custom") => match filled(&self.expires_on) {
                Some(date) => Some(json!(date)),
                None => return Err(invalid("expires", "choose the date the key expires")),
            },
            Some(preset) => Some(json!(preset)),
        })
    }

    pub fn scope_json(&self) -> Value {
        match filled(&self.scope) {
            Some("workspaces") => json!({"type": "workspaces", "workspaces": self.workspaces}),
            Some("agent") => {
                json!({"type": "agent", "agent": filled(&self.agent).unwrap_or_default()})
            }
            _ => json!({"type": "organization"}),
        }
    }

    /// The rate limit typed in, `null` when left empty.
    pub fn ratelimit_json(&self) -> Result<Value, ApiError> {
        let Some(limit) = filled(&self.rate_limit) else {
            return Ok(Value::Null);
        };
        let limit: u32 = limit.parse().map_err(|_| {
            invalid(
                "ratelimit",
                "the rate limit must be a whole number of requests",
            )
        })?;
        let period = filled(&self.rate_period).unwrap_or("1m");
        Ok(json!({"limit": limit, "period": period}))
    }

    /// The quota typed in, `null` when left empty.
    pub fn quota_json(&self) -> Result<Value, ApiError> {
        let Some(limit) = filled(&self.quota_limit) else {
            return Ok(Value::Null);
        };
        let limit: i64 = limit
            .parse()
            .map_err(|_| invalid("quota", "the quota must be a whole number of credits"))?;
        Ok(match filled(&self.quota_refill) {
            Some(refill) => json!({"limit": limit, "refill": refill}),
            None => json!({"limit": limit}),
        })
    }

    /// `POST /v1/keys`'s request for a key of `kind`, decoded as the API decodes it.
    pub fn create_request(&self, kind: KeyKind) -> Result<CreateKeyRequest, ApiError> {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        body.insert("kind".into(), json!(kind));
        if let Some(expires) = self.expires_json()? {
            body.insert("expires".into(), expires);
        }
        body.insert("permissions".into(), self.permissions_json());
        match kind {
            KeyKind::Worker | KeyKind::LegacyWorkspace => {
                let workspace = filled(&self.workspace)
                    .ok_or_else(|| invalid("workspace", "choose the workspace"))?;
                body.insert("workspace".into(), json!(workspace));
            }
            KeyKind::Channel => {
                let channel = filled(&self.channel)
                    .ok_or_else(|| invalid("channel", "choose the channel"))?;
                body.insert("channel".into(), json!(channel));
            }
            _ => {
                body.insert("scope".into(), self.scope_json());
            }
        }
        if kind == KeyKind::Api {
            if let Some(env) = filled(&self.environment) {
                body.insert("environment".into(), json!(env));
            }
            if let Some(customer) = filled(&self.customer) {
                body.insert("owner".into(), json!(customer));
            }
        }
        for (field, value) in [
            ("ratelimit", self.ratelimit_json()?),
            ("quota", self.quota_json()?),
        ] {
            if !value.is_null() {
                body.insert(field.into(), value);
            }
        }
        decode(body)
    }

    /// `PATCH /v1/keys/{id}`'s request: only what differs from `current` (an unchanged
    /// limit is not sent again, so editing a name never touches limits someone else set).
    pub fn update_request(&self, current: &KeyView) -> Result<UpdateKeyRequest, ApiError> {
        let was = KeyForm::of_key(current);
        let mut body = Map::new();
        if self.name.trim() != current.name {
            body.insert("name".into(), json!(self.name));
        }
        if self.permissions_json() != was.permissions_json() {
            body.insert("permissions".into(), self.permissions_json());
        }
        if matches!(current.scope, Scope::Workspaces { .. })
            && current.workspace.is_none()
            && self.scope_json() != was.scope_json()
        {
            body.insert("scope".into(), self.scope_json());
        }
        let ratelimit = self.ratelimit_json()?;
        if ratelimit != was.ratelimit_json()? {
            body.insert("ratelimit".into(), ratelimit);
        }
        let quota = self.quota_json()?;
        if quota != was.quota_json()? {
            body.insert("quota".into(), quota);
        }
        decode(body)
    }
}

/// A request body decoded exactly as the API decodes JSON bodies.
pub fn decode<T: serde::de::DeserializeOwned>(body: Map<String, Value>) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(&Value::Object(body)).map_err(|_| ApiError::Internal)?;
    crate::extract::parse_json(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &str) -> KeyForm {
        serde_html_form::from_str(pairs).unwrap()
    }

    #[test]
    fn restricted_choices_become_levels_and_actions() {
        let f = form("permissions=restricted&grant=keys%3Awrite&grant=&grant=audit%3Aread&grant=skills%3Aexecute&other_grants=contacts%3Aread%2C+x%3Ay");
        assert_eq!(
            f.permissions_json(),
            json!({"restricted": {"audit": "read", "keys": "write"}, "actions": ["skills:execute", "contacts:read", "x:y"]})
        );
        assert_eq!(
            f.scopes_json(),
            json!([
                "audit:read",
                "keys:write",
                "skills:execute",
                "contacts:read",
                "x:y"
            ])
        );
        assert_eq!(
            form("permissions=read_only").scopes_json(),
            json!(["*:read"])
        );
        assert_eq!(form("").permissions_json(), json!("all"));
    }

    #[test]
    fn a_keys_grants_read_back_into_the_picker() {
        let g = Grants::of(&["keys:write".into(), "skills:execute".into(), "x:y".into()]);
        assert_eq!(g.preset, "restricted");
        assert_eq!(g.grants, ["keys:write", "skills:execute"]);
        assert_eq!(g.others, ["x:y"]);
        assert_eq!(Grants::of(&["*:*".into()]).preset, "all");
    }

    #[test]
    fn the_api_decodes_the_request_and_names_the_field() {
        let bad = form("name=&expires=30d").create_request(KeyKind::Personal);
        let Err(ApiError::Validation { field, .. }) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(Part::of(&field), Part::Name);
        let custom = form("name=x&expires=custom").create_request(KeyKind::Personal);
        assert!(matches!(custom, Err(ApiError::Validation { field, .. }) if field == "expires"));
        let ok = form("name=ci&expires=custom&expires_on=2031-01-01&scope=workspaces&workspaces=ws_a&workspaces=ws_b&rate_limit=100&rate_period=1h")
            .create_request(KeyKind::Personal)
            .unwrap();
        assert_eq!(ok.expires.as_deref(), Some("2031-01-01"));
        assert_eq!(ok.ratelimit.unwrap().period, 3600);
        assert_eq!(Part::of("ratelimit.period"), Part::RateLimit);
        assert_eq!(Part::of(".scope"), Part::Scope);
    }
}
