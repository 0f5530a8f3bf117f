//! One permission model for everything: a key holds a set of `resource:action` grants.
//!
//! - `*` stands for any resource or any action: `*:*` is the `all` preset, `*:read` the
//!   `read_only` preset. Restricted keys list grants (`keys:read`, `skills:execute`).
//! - `write` on a resource implies `read` on it; named actions (`verify`, `execute`)
//!   imply nothing else, so a read-only key cannot verify or execute.
//! - [`PermissionSet::covers`] decides whether a creator may hand a set on: a key can
//!   never grant more than the key that created it holds.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The resources there are grants for, with what they cover: those Keyward's own API
/// guards (`resource:read`, `resource:write`) and those the platforms in front of
/// Keyward ask verify about (integrations, skills). For pickers such as the console's
/// Restricted permissions; any other well-formed `resource:action` is valid too.
pub const RESOURCES: &[(&str, &str)] = &[
    ("keys", "API keys"),
    ("audit", "Audit log"),
    ("organizations", "Organization and its settings"),
    ("workspaces", "Workspaces"),
    ("agents", "Agents"),
    ("channels", "Channels"),
    ("members", "Members and invitations"),
    ("service_accounts", "Service accounts"),
    ("limits", "Owner rate limits"),
    ("integrations", "Integrations"),
    ("webhooks", "Webhook endpoints and deliveries"),
    ("workers", "Workers (machines running keyward worker)"),
    ("skills", "Skills"),
];

/// Named actions: grants that stand alone (a `write` does not include them).
pub const NAMED_ACTIONS: &[(&str, &str)] = &[
    ("keys:verify", "Verify keys (POST /v1/keys/verify)"),
    ("skills:execute", "Execute skills"),
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    resource: String,
    action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a permission: use resource:action with lowercase letters, digits, _ or -, or * (e.g. keys:read, skills:execute, *:read)")]
pub struct PermissionError(pub String);

fn valid_part(s: &str) -> bool {
    s == "*"
        || (!s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'))
}

impl Permission {
    /// Checks the shape of `resource:action` without allocating; returns the parts.
    pub fn split(raw: &str) -> Result<(&str, &str), PermissionError> {
        match raw.split_once(':') {
            Some((r, a)) if valid_part(r) && valid_part(a) => Ok((r, a)),
            _ => Err(PermissionError(raw.to_owned())),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, PermissionError> {
        let (resource, action) = raw
            .split_once(':')
            .ok_or_else(|| PermissionError(raw.to_owned()))?;
        if !valid_part(resource) || !valid_part(action) {
            return Err(PermissionError(raw.to_owned()));
        }
        Ok(Self {
            resource: resource.to_owned(),
            action: action.to_owned(),
        })
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    /// Does this one grant allow `action` on `resource`?
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        (self.resource == "*" || self.resource == resource)
            && (self.action == "*"
                || self.action == action
                || (self.action == "write" && action == "read"))
    }

    /// Does this grant allow everything `other` allows?
    fn covers(&self, other: &Permission) -> bool {
        let resource_ok = self.resource == "*" || self.resource == other.resource;
        let action_ok = self.action == "*"
            || self.action == other.action
            || (self.action == "write" && other.action == "read");
        resource_ok && action_ok
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

/// A resource's level in the `restricted` preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Access {
    None,
    Read,
    Write,
}

/// A sorted, de-duplicated set of grants. Serialized as a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct PermissionSet(Vec<Permission>);

/// Written as a list of `resource:action` strings, without building them first: this
/// is on the verify path.
impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        struct AsStr<'a>(&'a Permission);
        impl Serialize for AsStr<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self.0)
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for p in &self.0 {
            seq.serialize_element(&AsStr(p))?;
        }
        seq.end()
    }
}

impl PermissionSet {
    pub fn all() -> Self {
        Self(vec![Permission {
            resource: "*".into(),
            action: "*".into(),
        }])
    }

    pub fn read_only() -> Self {
        Self(vec![Permission {
            resource: "*".into(),
            action: "read".into(),
        }])
    }

    /// `all`, `read_only`, or nothing for any other name.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "all" => Some(Self::all()),
            "read_only" => Some(Self::read_only()),
            _ => None,
        }
    }

    /// The `restricted` preset: per resource `none`, `read` or `write`, plus named
    /// actions (`skills:execute`).
    pub fn restricted<'a>(
        levels: impl IntoIterator<Item = (&'a str, Access)>,
        actions: &[String],
    ) -> Result<Self, PermissionError> {
        let mut grants = vec![];
        for (resource, access) in levels {
            let action = match access {
                Access::None => continue,
                Access::Read => "read",
                Access::Write => "write",
            };
            grants.push(format!("{resource}:{action}"));
        }
        grants.extend(actions.iter().cloned());
        Self::parse_list(&grants)
    }

    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Self, PermissionError> {
        let mut grants = items
            .iter()
            .map(|s| Permission::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        grants.sort();
        grants.dedup();
        Ok(Self(grants))
    }

    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.0.iter().any(|g| g.allows(resource, action))
    }

    /// Whether `wanted` ("keys:read") is allowed; a malformed string is never allowed.
    pub fn allows_str(&self, wanted: &str) -> bool {
        wanted
            .split_once(':')
            .is_some_and(|(r, a)| self.allows(r, a))
    }

    pub fn covers(&self, other: &PermissionSet) -> bool {
        other.0.iter().all(|o| self.0.iter().any(|g| g.covers(o)))
    }

    /// The grants of `other` this set does not cover, for error messages.
    pub fn missing_from(&self, other: &PermissionSet) -> Vec<String> {
        other
            .0
            .iter()
            .filter(|o| !self.0.iter().any(|g| g.covers(o)))
            .map(ToString::to_string)
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<String>> for PermissionSet {
    type Error = PermissionError;
    fn try_from(value: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse_list(&value)
    }
}

impl From<PermissionSet> for Vec<String> {
    fn from(value: PermissionSet) -> Self {
        value.to_strings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> PermissionSet {
        PermissionSet::parse_list(items).unwrap()
    }

    #[test]
    fn the_catalog_names_valid_resources_and_actions() {
        for (resource, _) in RESOURCES {
            for action in ["read", "write"] {
                Permission::parse(&format!("{resource}:{action}")).unwrap();
            }
        }
        for (action, _) in NAMED_ACTIONS {
            let p = Permission::parse(action).unwrap();
            assert!(
                !["read", "write", "*"].contains(&p.action()),
                "{action} stands alone"
            );
        }
    }

    #[test]
    fn presets() {
        let all = PermissionSet::all();
        let ro = PermissionSet::read_only();
        assert!(all.allows("keys", "write") && all.allows("skills", "execute"));
        assert!(ro.allows("keys", "read") && ro.allows("audit", "read"));
        assert!(!ro.allows("keys", "write") && !ro.allows("keys", "verify"));
        assert_eq!(all.to_strings(), ["*:*"]);
        assert_eq!(PermissionSet::preset("read_only"), Some(ro));
        assert_eq!(PermissionSet::preset("restricted"), None);
    }

    #[test]
    fn write_implies_read_but_named_actions_stand_alone() {
        let s = set(&["keys:write", "skills:execute"]);
        assert!(s.allows("keys", "read") && s.allows("keys", "write"));
        assert!(!s.allows("keys", "verify"));
        assert!(
            s.allows_str("skills:execute")
                && !s.allows_str("skills:read")
                && !s.allows_str("bogus")
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(
            set(&["keys:read", "keys:read", "audit:read"]).to_strings(),
            ["audit:read", "keys:read"]
        );
        for bad in [
            "keys",
            "Keys:read",
            "keys:",
            ":read",
            "keys:read:x",
            "keys read",
            "1keys:read",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_creator_cannot_grant_more_than_it_holds() {
        let admin = PermissionSet::all();
        let reader = PermissionSet::read_only();
        let keys_writer = set(&["keys:write"]);
        assert!(admin.covers(&reader) && admin.covers(&keys_writer));
        assert!(!reader.covers(&keys_writer));
        assert!(keys_writer.covers(&set(&["keys:read"])));
        assert!(!keys_writer.covers(&set(&["keys:*"])));
        assert!(!keys_writer.covers(&PermissionSet::all()));
        assert!(reader.covers(&set(&["keys:read", "audit:read"])));
        assert_eq!(
            reader.missing_from(&set(&["keys:read", "keys:verify"])),
            ["keys:verify"]
        );
    }

    #[test]
    fn restricted_levels_become_grants() {
        let s = PermissionSet::restricted(
            [
                ("keys", Access::Write),
                ("audit", Access::Read),
                ("skills", Access::None),
            ],
            &["skills:execute".to_owned()],
        )
        .unwrap();
        assert_eq!(
            s.to_strings(),
            ["audit:read", "keys:write", "skills:execute"]
        );
        assert!(s.allows("keys", "read") && !s.allows("skills", "read"));
        assert!(PermissionSet::restricted([("Bad", Access::Read)], &[]).is_err());
    }

    #[test]
    fn serializes_as_strings() {
        let s = set(&["keys:read"]);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["keys:read"]"#);
        assert!(serde_json::from_str::<PermissionSet>(r#"["nope"]"#).is_err());
    }
}
